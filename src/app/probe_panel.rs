//! The probe: live camera preview with the detected face, capture/retake, or a probe file.

use eframe::egui::{self, Pos2, Rect, RichText, Stroke, Vec2};

use super::state::{Probe, ProbeOrigin};
use super::theme;
use super::worker::Badge;
use super::{CameraKind, Command, Preview};
use crate::camera::{CameraInfo, CameraState};
use crate::vision::quality::QualityHint;
use crate::vision::Face;

const RESOLUTIONS: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];

/// What the probe panel shows.
pub struct ProbePanel<'a> {
    pub probe: Option<&'a Probe>,
    pub preview: &'a Preview,
    pub camera: CameraState,
    pub camera_kind: &'a CameraKind,
    pub cameras: &'a [CameraInfo],
    pub resolution: (u32, u32),
    /// Local face detection is available (the models loaded).
    pub detection: bool,
    /// A probe-file dialog is open.
    pub dialog_busy: bool,
}

pub fn show(ui: &mut egui::Ui, v: &ProbePanel<'_>, out: &mut Vec<Command>) {
    ui.heading("Probe");
    camera_controls(ui, v, out);
    ui.add_space(4.0);
    let running = matches!(v.camera, CameraState::Running(_));
    if let Some(probe) = v.probe {
        frozen(ui, probe, v, out);
        if let (Some(tex), true) = (&v.preview.texture, running) {
            // The camera keeps running behind a frozen probe (a small inset, a few times a second).
            let size = Vec2::new(v.preview.size[0] as f32, v.preview.size[1] as f32);
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
    match (&v.preview.texture, &v.camera) {
        (Some(tex), CameraState::Running(_)) => {
            let size = Vec2::new(v.preview.size[0] as f32, v.preview.size[1] as f32);
            let rect = image_fit(ui, tex, size);
            // Boxes are drawn only when they belong to (nearly) the frame shown: at most 3
            // frames or a quarter second older (a slow window skips frames of a fast camera).
            let fresh = v
                .preview
                .faces_seq
                .zip(v.preview.shown_seq)
                .is_some_and(|(f, s)| s.saturating_sub(f) <= 3)
                || v.preview
                    .faces_at
                    .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250));
            if fresh {
                draw_faces(ui, rect, size.x, &v.preview.faces);
                hints_line(ui, &v.preview.hints);
            } else if !v.detection {
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
            ui.colored_label(theme::review(ui.visuals()), format!("No camera: {why}."));
            ui.label("Use a probe file instead (or start with --camera-file DIR or --probe FILE).");
        }
        (_, _) => {
            ui.label("camera stopped");
        }
    }
    ui.horizontal(|ui| {
        let can = v.preview.texture.is_some() && running;
        let _ = Command::Capture.button(ui, (!can).then_some("no camera picture"), out);
        file_button(ui, v.dialog_busy, out);
    });
}

fn frozen(ui: &mut egui::Ui, probe: &Probe, v: &ProbePanel<'_>, out: &mut Vec<Command>) {
    let origin = match &probe.origin {
        // (The frame's number is left out: it says nothing to the operator.)
        ProbeOrigin::Camera { .. } => "camera frame".to_string(),
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
            ui.colored_label(theme::fail(ui.visuals()), format!("unreadable probe: {e}"));
        }
        Some(Ok(view)) => {
            let size = view.texture.size_vec2();
            let rect = image_fit(ui, &view.texture, size);
            draw_faces(ui, rect, size.x / view.scale, &view.faces);
            ui.add(egui::Label::new(format!("Probe captured: {origin}")).truncate());
            badge_line(ui, view.badge, &view.hints);
        }
    }
    ui.horizontal(|ui| {
        let _ = Command::Retake.button(ui, None, out);
        file_button(ui, v.dialog_busy, out);
    });
}

fn file_button(ui: &mut egui::Ui, busy: bool, out: &mut Vec<Command>) {
    let _ = Command::OpenProbeDialog.button(ui, busy.then_some("a file dialog is open"), out);
}

fn camera_controls(ui: &mut egui::Ui, v: &ProbePanel<'_>, out: &mut Vec<Command>) {
    ui.horizontal(|ui| match v.camera_kind {
        CameraKind::File(dir) => {
            ui.add(egui::Label::new(format!("Camera: image folder {}", dir.display())).truncate());
        }
        CameraKind::None(_) => {
            ui.label("Camera: none");
        }
        CameraKind::Webcam(current) => {
            let current = *current;
            let name = v
                .cameras
                .iter()
                .find(|c| c.index == current)
                .map_or_else(|| format!("camera {current}"), |c| c.name.clone());
            egui::ComboBox::from_label("Camera")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for c in v.cameras {
                        if ui.selectable_label(c.index == current, &c.name).clicked() {
                            out.push(Command::SelectCamera(c.index));
                        }
                    }
                });
            let (w, h) = v.resolution;
            egui::ComboBox::from_label("Resolution")
                .selected_text(format!("{w}x{h}"))
                .show_ui(ui, |ui| {
                    for (rw, rh) in RESOLUTIONS {
                        if ui
                            .selectable_label((rw, rh) == (w, h), format!("{rw}x{rh}"))
                            .clicked()
                        {
                            out.push(Command::SetResolution(rw, rh));
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
            Stroke::new(2.0, theme::FACE_BOX),
            egui::StrokeKind::Outside,
        );
        for [x, y] in f.landmarks {
            painter.circle_filled(to(x, y), 2.5, theme::LANDMARK);
        }
    }
}

fn hints_line(ui: &mut egui::Ui, hints: &[QualityHint]) {
    if hints.is_empty() {
        ui.colored_label(theme::hint(ui.visuals(), true), "face ok");
    } else {
        let text: Vec<&str> = hints.iter().map(|h| h.message()).collect();
        ui.colored_label(theme::hint(ui.visuals(), false), text.join(", "));
    }
}

fn badge_line(ui: &mut egui::Ui, badge: Badge, hints: &[QualityHint]) {
    let colour = theme::hint(ui.visuals(), badge == Badge::Ok);
    let mut text = badge.label().to_string();
    for h in hints {
        if !matches!(h, QualityHint::NoFace | QualityHint::SeveralFaces) {
            text.push_str(", ");
            text.push_str(h.message());
        }
    }
    ui.label(RichText::new(text).color(colour));
}
