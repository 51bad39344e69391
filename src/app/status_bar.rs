//! The status bar: engine state, models and hashes, ONNX Runtime, camera, record log.

use eframe::egui::{self, RichText};

use super::state::EngineState;
use super::worker::RecorderInfo;
use super::StationApp;
use crate::camera::CameraState;

pub fn show(app: &mut StationApp, ui: &mut egui::Ui) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            match &app.engine {
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
                    ui.label(RichText::new(models.join(" · ")).small());
                    ui.separator();
                    ui.label(format!("ONNX Runtime {}", info.ort_version))
                        .on_hover_text(&info.ort_path);
                    ui.separator();
                }
                EngineState::Failed(p) => {
                    ui.label(&p.what);
                }
            }
            ui.separator();
            match &app.recorder {
                Some(RecorderInfo {
                    log_path: Some(p), ..
                }) => {
                    ui.label(format!("log {}", p.display()));
                }
                Some(RecorderInfo {
                    problem: Some(e), ..
                }) => {
                    ui.colored_label(super::compare_panel::RED, format!("records off: {e}"));
                }
                _ => {}
            }
            ui.separator();
            let cam = match app.camera_state() {
                CameraState::Opening => "camera: opening".to_string(),
                CameraState::Running(d) => format!("camera: {d}"),
                CameraState::Failed(e) => format!("camera: {e}"),
                CameraState::Stopped => "camera: stopped".to_string(),
            };
            ui.label(cam);
            ui.separator();
            ui.label(format!(
                "detect {:.0} ms · UI p95 {:.1} ms",
                app.preview.last_detect_ms,
                app.frame_time_percentile(95.0)
            ));
            if let Some(m) = &app.message {
                ui.separator();
                ui.label(m);
            }
        });
    });
}
