//! The probe: live camera preview with the detected face, capture/retake, or a probe file.

use eframe::egui::{self, Color32, Pos2, Rect, RichText, Stroke, Vec2};

use super::state::{Command, ProbeOrigin};
use super::worker::Badge;
use super::{CameraKind, StationApp};
use crate::camera::CameraState;
use crate::vision::quality::QualityHint;
use crate::vision::Face;

const RESOLUTIONS: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];

pub fn show(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.heading("Probe");
    camera_controls(app, ui);
    ui.add_space(4.0);
    let state = app.camera_state();
    if let Some(probe) = &app.probe {
        let origin = match &probe.origin {
            ProbeOrigin::Camera { seq } => format!("camera frame #{seq}"),
            ProbeOrigin::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        match &probe.analysis {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("finding the face…");
                });
            }
            Some(Err(e)) => {
                ui.colored_label(Color32::LIGHT_RED, format!("unreadable probe: {e}"));
            }
            Some(Ok(view)) => {
                let size = view.texture.size_vec2();
                let rect = image_fit(ui, &view.texture, size);
                draw_faces(ui, rect, size.x / view.scale, &view.faces);
                ui.label(format!("Probe captured: {origin}"));
                badge_line(ui, view.badge, &view.hints);
            }
        }
        ui.horizontal(|ui| {
            if ui
                .button("Retake")
                .on_hover_text("Space: back to the live camera")
                .clicked()
            {
                app.push(Command::Retake);
            }
            file_button(app, ui);
        });
        if let (Some(tex), CameraState::Running(_)) = (&app.preview.texture, &state) {
            // The camera keeps running behind a frozen probe.
            let size = Vec2::new(app.preview.size[0] as f32, app.preview.size[1] as f32);
            ui.horizontal(|ui| {
                ui.add(egui::Image::new((
                    tex.id(),
                    size * (120.0 / size.x.max(1.0)),
                )));
                ui.weak("live");
            });
        }
        return;
    }
    match (&app.preview.texture, &state) {
        (Some(tex), CameraState::Running(_)) => {
            let tex = tex.clone();
            let size = Vec2::new(app.preview.size[0] as f32, app.preview.size[1] as f32);
            let rect = image_fit(ui, &tex, size);
            // Boxes are drawn only when they belong to (nearly) the frame shown.
            let fresh = app
                .preview
                .faces_seq
                .zip(app.preview.shown_seq)
                .is_some_and(|(f, s)| s.saturating_sub(f) <= 3);
            if fresh {
                draw_faces(ui, rect, size.x, &app.preview.faces);
                hints_line(ui, &app.preview.hints);
            } else if !app.is_ready() {
                ui.label("face detection starts when the models are loaded");
            } else {
                ui.label(" ");
            }
        }
        (_, CameraState::Opening) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("opening the camera…");
            });
        }
        (_, CameraState::Failed(why)) => {
            ui.colored_label(
                Color32::from_rgb(230, 170, 60),
                format!("No camera: {why}."),
            );
            ui.label("Use a probe file instead (or start with --camera-file DIR).");
        }
        (_, _) => {
            ui.label("camera stopped");
        }
    }
    ui.horizontal(|ui| {
        let can = app.preview.texture.is_some() && matches!(state, CameraState::Running(_));
        if ui
            .add_enabled(can, egui::Button::new("Capture"))
            .on_hover_text("Space: freeze this frame as the probe")
            .clicked()
        {
            app.push(Command::Capture);
        }
        file_button(app, ui);
    });
}

fn file_button(app: &mut StationApp, ui: &mut egui::Ui) {
    if ui
        .add_enabled(!app.dialog_open, egui::Button::new("Probe from file…"))
        .clicked()
    {
        app.push(Command::OpenProbeDialog);
    }
}

fn camera_controls(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| match app.camera_kind.clone() {
        CameraKind::File(dir) => {
            ui.add(egui::Label::new(format!("Camera: image folder {}", dir.display())).wrap());
        }
        CameraKind::None(_) => {
            ui.label("Camera: none");
        }
        CameraKind::Webcam(current) => {
            let name = app
                .cameras
                .iter()
                .find(|c| c.index == current)
                .map_or_else(|| format!("camera {current}"), |c| c.name.clone());
            egui::ComboBox::from_label("Camera")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for c in app.cameras.clone() {
                        if ui.selectable_label(c.index == current, &c.name).clicked() {
                            app.push(Command::SelectCamera(c.index));
                        }
                    }
                });
            let (w, h) = app.settings.camera_resolution;
            egui::ComboBox::from_label("Resolution")
                .selected_text(format!("{w}x{h}"))
                .show_ui(ui, |ui| {
                    for (rw, rh) in RESOLUTIONS {
                        if ui
                            .selectable_label((rw, rh) == (w, h), format!("{rw}x{rh}"))
                            .clicked()
                        {
                            app.push(Command::SetResolution(rw, rh));
                        }
                    }
                });
        }
    });
}

/// Draws a texture scaled to the available width (keeping its aspect) and returns where.
pub fn image_fit(ui: &mut egui::Ui, tex: &egui::TextureHandle, size: Vec2) -> Rect {
    let avail = ui.available_width().max(64.0);
    let max_h = (ui.available_height() - 90.0).max(120.0);
    let scale = (avail / size.x).min(max_h / size.y);
    let shown = size * scale;
    ui.add(egui::Image::new((tex.id(), shown))).rect
}

/// Face boxes and landmarks; `image_width` is the width of the image the faces' coordinates are in.
pub fn draw_faces(ui: &egui::Ui, rect: Rect, image_width: f32, faces: &[Face]) {
    let s = rect.width() / image_width.max(1.0);
    let painter = ui.painter_at(rect);
    let to = |x: f32, y: f32| Pos2::new(rect.min.x + x * s, rect.min.y + y * s);
    for f in faces {
        let b = f.bbox;
        painter.rect_stroke(
            Rect::from_min_max(to(b.x, b.y), to(b.x + b.width, b.y + b.height)),
            2.0,
            Stroke::new(2.0, Color32::from_rgb(80, 220, 120)),
            egui::StrokeKind::Outside,
        );
        for [x, y] in f.landmarks {
            painter.circle_filled(to(x, y), 2.5, Color32::from_rgb(255, 210, 60));
        }
    }
}

fn hints_line(ui: &mut egui::Ui, hints: &[QualityHint]) {
    if hints.is_empty() {
        ui.colored_label(Color32::from_rgb(80, 200, 120), "face ok");
    } else {
        let text: Vec<&str> = hints.iter().map(|h| h.message()).collect();
        ui.colored_label(Color32::from_rgb(230, 170, 60), text.join(", "));
    }
}

fn badge_line(ui: &mut egui::Ui, badge: Badge, hints: &[QualityHint]) {
    let colour = if badge == Badge::Ok {
        Color32::from_rgb(80, 200, 120)
    } else {
        Color32::from_rgb(230, 170, 60)
    };
    let mut text = badge.label().to_string();
    for h in hints {
        if !matches!(h, QualityHint::NoFace | QualityHint::SeveralFaces) {
            text.push_str(", ");
            text.push_str(h.message());
        }
    }
    ui.label(RichText::new(text).color(colour));
}
