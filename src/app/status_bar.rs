//! The status bar: engine state, models and hashes, ONNX Runtime, camera, record log, timings,
//! background tasks in progress and the last notice (a saved record, or why something failed).

use eframe::egui::{self, RichText};

use super::state::EngineState;
use super::theme;
use super::worker::RecorderInfo;
use super::{Command, Notice, StationApp};
use crate::camera::CameraState;

/// What the status bar shows.
pub struct StatusView<'a> {
    pub engine: &'a EngineState,
    pub recorder: Option<&'a RecorderInfo>,
    pub camera: CameraState,
    pub detect_ms: f64,
    pub ui_p95_ms: f64,
    pub tasks: Vec<&'static str>,
    pub notice: Option<&'a Notice>,
}

impl StationApp {
    pub(super) fn status_view(&self) -> StatusView<'_> {
        StatusView {
            engine: &self.engine,
            recorder: self.recorder.as_ref(),
            camera: self.camera_state(),
            detect_ms: self.preview.last_detect_ms,
            ui_p95_ms: self.frame_time_percentile(95.0),
            tasks: self.tasks.background.running().collect(),
            notice: self.notice.as_ref(),
        }
    }

    pub(super) fn probe_view(&self) -> super::probe_panel::ProbePanel<'_> {
        super::probe_panel::ProbePanel {
            probe: self.probe.as_ref(),
            preview: &self.preview,
            camera: self.camera_state(),
            camera_kind: &self.camera_kind,
            cameras: &self.cameras,
            resolution: self.settings.camera_resolution,
            detection: self.is_ready(),
            dialog_busy: self.tasks.busy(super::tasks::DialogKind::Probe),
        }
    }
}

pub fn show(ui: &mut egui::Ui, v: &StatusView<'_>, _out: &mut [Command]) {
    egui::Panel::bottom("status").show(ui, |ui| {
        if let Some(n) = v.notice {
            // The notice gets its own line: a failed save must not hide among the counters.
            let text = RichText::new(&n.text).strong();
            if n.error {
                ui.label(text.color(theme::fail(ui.visuals())));
            } else {
                ui.label(text);
            }
        }
        ui.horizontal_wrapped(|ui| {
            for t in &v.tasks {
                ui.spinner();
                ui.label(format!("{t}…"));
                ui.separator();
            }
            match v.engine {
                EngineState::Loading => {
                    ui.spinner();
                    ui.label("loading models…");
                }
                EngineState::Ready(info) => {
                    let models: Vec<String> = info
                        .models
                        .iter()
                        .map(|m| format!("{} {}", m.id, &m.sha256[..m.sha256.len().min(8)]))
                        .collect();
                    ui.label(format!("models ready ({:.0} ms)", info.load_ms))
                        .on_hover_text(format!(
                            "{}\n{}",
                            info.models_dir.display(),
                            info.models
                                .iter()
                                .map(|m| format!("{} ({}) sha256 {}", m.id, m.role, m.sha256))
                                .collect::<Vec<_>>()
                                .join("\n")
                        ));
                    ui.separator();
                    ui.label(models.join(" · "));
                    ui.separator();
                    ui.label(format!("ONNX Runtime {}", info.ort_version))
                        .on_hover_text(&info.ort_path);
                }
                EngineState::Failed(p) => {
                    ui.colored_label(
                        theme::fail(ui.visuals()),
                        format!("local engine off: {}", p.what),
                    );
                }
            }
            ui.separator();
            match v.recorder {
                Some(RecorderInfo {
                    log_path: Some(p), ..
                }) => {
                    ui.label(format!("log {}", p.display()));
                }
                Some(RecorderInfo {
                    problem: Some(e), ..
                }) => {
                    ui.colored_label(theme::fail(ui.visuals()), format!("records off: {e}"));
                }
                _ => {}
            }
            ui.separator();
            let cam = match &v.camera {
                CameraState::Opening => "camera: opening".to_string(),
                CameraState::Running(d) => format!("camera: {d}"),
                CameraState::Failed(e) => format!("camera: {e}"),
                CameraState::Stopped => "camera: stopped".to_string(),
            };
            ui.label(cam);
            ui.separator();
            ui.label(format!(
                "detect {:.0} ms · UI p95 {:.1} ms",
                v.detect_ms, v.ui_p95_ms
            ));
        });
    });
}
