//! Answers from the worker threads and the camera list, applied to the station's state (polled
//! in `logic`, before anything is drawn).

use eframe::egui::{self, TextureOptions};

use super::state::{EngineErrorKind, EngineState, GalleryView, LastResult, ProbeView, ShownRecord};
use super::worker::{
    Analysis, AnalysisError, CompareDone, CompareError, Event, ImageSlot, Purpose,
};
use super::{clock, StationApp};

impl StationApp {
    pub(super) fn drain_events(&mut self, ctx: &egui::Context) {
        while let Ok(ev) = self.worker.events.try_recv() {
            match ev {
                Event::Recorder(info) => self.recorder = Some(info),
                Event::Ready(info) => self.engine = EngineState::Ready(info),
                Event::SetupFailed(p) => self.engine = EngineState::Failed(p),
                Event::Detected {
                    seq,
                    faces,
                    hints,
                    ms,
                } => {
                    self.preview.detect_in_flight = false;
                    self.preview.faces = faces;
                    self.preview.hints = hints;
                    self.preview.faces_seq = Some(seq);
                    self.preview.faces_at = Some(std::time::Instant::now());
                    self.preview.last_detect_ms = ms;
                    self.preview.detections += 1;
                }
                Event::Analysed { target, result } => self.on_analysed(ctx, target, result),
                Event::Compared { purpose, result } => self.on_compared(purpose, result),
                Event::Recent(r) => {
                    match r {
                        Ok(v) => {
                            self.recent = v;
                            self.recent_error = None;
                        }
                        Err(e) => self.recent_error = Some(e.to_string()),
                    }
                    // A record was appended (or the list re-read): the history reads the new lines.
                    if let Some(h) = &mut self.history {
                        h.refresh();
                    }
                }
                Event::ConfigRecorded(Ok(_)) => {}
                Event::ConfigRecorded(Err(why)) => self.notify_error(why),
            }
        }
        if let Some(rx) = &self.cameras_rx {
            if let Ok(r) = rx.try_recv() {
                self.cameras = r.unwrap_or_default();
                self.cameras_rx = None;
            }
        }
    }

    fn on_compared(&mut self, purpose: Purpose, result: Result<Box<CompareDone>, CompareError>) {
        match purpose {
            Purpose::CrossLocal | Purpose::CrossRemote => {
                if let Some(cross) = &mut self.cross {
                    let r = Some(result.map_err(|e| e.to_string()));
                    if purpose == Purpose::CrossLocal {
                        cross.local = r;
                    } else {
                        cross.remote = r;
                    }
                }
            }
            Purpose::Decision => {
                let shown_after_ms = self
                    .compare_started
                    .take()
                    .map_or(0.0, |t| clock::ms_since(self.clock.as_ref(), t));
                let (gallery_ids, gallery_names) = std::mem::take(&mut self.compare_gallery)
                    .into_iter()
                    .unzip();
                self.last = Some(match result {
                    Ok(done) => {
                        self.shown_record = done
                            .record
                            .as_ref()
                            .ok()
                            .map(|r| ShownRecord::new(r.clone(), false));
                        LastResult::Done {
                            done,
                            gallery_ids,
                            gallery_names,
                            shown_after_ms,
                        }
                    }
                    Err(e) => LastResult::Failed(e.to_string(), Some(EngineErrorKind::of(&e))),
                });
            }
        }
    }

    fn on_analysed(
        &mut self,
        ctx: &egui::Context,
        target: ImageSlot,
        result: Result<Box<Analysis>, AnalysisError>,
    ) {
        match target {
            ImageSlot::Probe(id) => {
                let Some(probe) = self.probe.as_mut().filter(|p| p.id == id) else {
                    return; // retaken meanwhile
                };
                probe.analysis = Some(
                    result
                        .map(|a| {
                            let tex = ctx.load_texture(
                                format!("probe-{id}"),
                                a.display.clone(),
                                TextureOptions::LINEAR,
                            );
                            probe.image = Some(a.image.clone());
                            ProbeView::from_analysis(&a, tex)
                        })
                        .map_err(|e| e.to_string()),
                );
            }
            ImageSlot::Gallery(id) => {
                let Some(item) = self.gallery.iter_mut().find(|g| g.id == id) else {
                    return; // removed meanwhile
                };
                item.analysis = Some(
                    result
                        .map(|a| GalleryView {
                            badge: a.badge,
                            faces: a.faces.clone(),
                            texture: ctx.load_texture(
                                format!("gallery-{id}"),
                                a.display.clone(),
                                TextureOptions::LINEAR,
                            ),
                            scale: a.display_scale,
                        })
                        .map_err(|e| e.to_string()),
                );
            }
        }
    }
}
