//! The camera and the live preview: one texture updated in place with the newest frame, and
//! preview detection on it, one frame at a time (older frames are dropped, never queued).
//!
//! Idle cost: the UI redraws only when something changed. While the probe is frozen the camera
//! may wake the UI only a few times a second (the small live inset), and there is no preview
//! detection; while no face is in view, detection runs a few times a second; as soon as a face
//! is seen it runs on every frame again.

use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "webcam")]
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, TextureOptions};

use super::image::frame_pixels;
use super::worker::Job;
use super::{CameraKind, StationApp};
use crate::camera::{CameraError, CameraThread, FileSource, FrameSource};

/// The slow rate: redraws of the live inset behind a frozen probe, and detections while no face
/// is in view (about 4 a second).
pub const IDLE_INTERVAL: Duration = Duration::from_millis(250);

/// How often the camera thread may wake the UI (0: every frame), shared with its waker.
#[derive(Clone, Default)]
pub struct Pace(Arc<AtomicU64>);

impl Pace {
    fn set(&self, every: Duration) {
        self.0.store(
            every.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The wake-up for the camera thread: a repaint now, or at most one per interval (egui
    /// keeps the earliest repaint asked for, so frames in between cost nothing).
    fn waker(&self, ctx: &egui::Context) -> impl Fn() + Send + 'static {
        let (ctx, every) = (ctx.clone(), self.0.clone());
        move || match every.load(Ordering::Relaxed) {
            0 => ctx.request_repaint(),
            ms => ctx.request_repaint_after(Duration::from_millis(ms)),
        }
    }
}

impl StationApp {
    pub(super) fn start_camera(&mut self) {
        self.camera = None;
        let wake = self.camera_pace.waker(&self.ctx);
        if let Some(dir) = self.options.camera_file.clone() {
            let fps = if self.options.camera_fps > 0.0 {
                self.options.camera_fps
            } else {
                30.0
            };
            let d = dir.clone();
            self.camera = Some(CameraThread::spawn(
                move || Ok(Box::new(FileSource::open(&d, fps)?) as Box<dyn FrameSource>),
                wake,
            ));
            self.camera_kind = CameraKind::File(dir);
            return;
        }
        if self.options.no_webcam {
            self.camera_kind = CameraKind::None("camera off".into());
            return;
        }
        self.start_webcam(wake);
    }

    #[cfg(feature = "webcam")]
    fn start_webcam(&mut self, wake: impl Fn() + Send + 'static) {
        // Listing V4L2 devices is I/O: off the UI thread like everything else.
        let (tx, rx) = channel();
        let waker = self.ctx.clone();
        let _ = std::thread::Builder::new()
            .name("camera-list".into())
            .spawn(move || {
                let _ = tx.send(crate::camera::list_cameras());
                waker.request_repaint();
            });
        self.cameras_rx = Some(rx);
        let index = self.settings.camera_index;
        let (w, h) = self.settings.camera_resolution;
        self.camera = Some(CameraThread::spawn(
            move || {
                let cams = crate::camera::list_cameras()?;
                if cams.is_empty() {
                    return Err(CameraError::NoCamera);
                }
                let src = crate::camera::WebcamSource::open(index, w, h)?;
                Ok(Box::new(src) as Box<dyn FrameSource>)
            },
            wake,
        ));
        self.camera_kind = CameraKind::Webcam(index);
    }

    #[cfg(not(feature = "webcam"))]
    fn start_webcam(&mut self, _wake: impl Fn() + Send + 'static) {
        self.camera_kind = CameraKind::None(CameraError::NotBuilt.to_string());
    }

    /// Shows the newest camera frame and asks for detection on it when one is due.
    pub(super) fn update_preview(&mut self, ctx: &egui::Context) {
        let frozen = self.probe.is_some();
        self.camera_pace.set(if frozen {
            IDLE_INTERVAL
        } else {
            Duration::ZERO
        });
        let Some(frame) = self.camera.as_ref().and_then(|c| c.slot.latest()) else {
            return;
        };
        if self.preview.shown_seq == Some(frame.seq) {
            return;
        }
        let image = frame_pixels(&frame.image, self.options.redact);
        match &mut self.preview.texture {
            Some(t) => t.set(image, TextureOptions::LINEAR),
            None => {
                self.preview.texture =
                    Some(ctx.load_texture("preview", image, TextureOptions::LINEAR))
            }
        }
        let (w, h) = frame.image.dimensions();
        self.preview.size = [w as usize, h as usize];
        self.preview.shown_seq = Some(frame.seq);
        self.preview.frames_shown += 1;
        // No face seen on the last detection: look again only a few times a second.
        let no_face = self.preview.faces_seq.is_some() && self.preview.faces.is_empty();
        let due = !no_face
            || self
                .preview
                .last_detect_sent
                .is_none_or(|t| t.elapsed() >= IDLE_INTERVAL);
        if !frozen
            && due
            && self.is_ready()
            && !self.preview.detect_in_flight
            && !self.compare_running()
            && self.worker.send(Job::Detect {
                seq: frame.seq,
                image: frame.image.clone(),
            })
        {
            self.preview.detect_in_flight = true;
            self.preview.last_detect_sent = Some(Instant::now());
        } else if !frozen && no_face && !due {
            // The next look is due even if no frame wakes us then.
            ctx.request_repaint_after(IDLE_INTERVAL);
        }
    }
}
