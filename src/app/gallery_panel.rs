//! The gallery: thumbnails with the detected face and a status badge; add, remove, clear.

use eframe::egui::{self, Color32, RichText, Vec2};

use super::probe_panel::draw_faces;
use super::state::Command;
use super::worker::Badge;
use super::StationApp;

pub fn show(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.heading("Gallery");
        if ui
            .add_enabled(!app.dialog_open, egui::Button::new("Add images…"))
            .on_hover_text("Ctrl+O; or drop image files on the window")
            .clicked()
        {
            app.push(Command::OpenGalleryDialog);
        }
        if ui
            .add_enabled(!app.gallery.is_empty(), egui::Button::new("Clear all"))
            .clicked()
        {
            app.push(Command::ClearGallery);
        }
    });
    if app.gallery.is_empty() {
        ui.label(
            "No gallery images: add ID or enrolment photos (Ctrl+O, drag and drop, or --gallery).",
        );
        return;
    }
    let mut remove = None;
    ui.horizontal_wrapped(|ui| {
        for item in &app.gallery {
            ui.group(|ui| {
                ui.set_width(170.0);
                ui.vertical(|ui| {
                    match &item.analysis {
                        None => {
                            ui.add_sized(Vec2::new(160.0, 120.0), egui::Spinner::new());
                        }
                        Some(Ok(v)) => {
                            let size = v.texture.size_vec2();
                            let shown = size * (160.0 / size.x.max(size.y));
                            let rect = ui.add(egui::Image::new((v.texture.id(), shown))).rect;
                            draw_faces(ui, rect, size.x / v.scale, &v.faces);
                        }
                        Some(Err(e)) => {
                            ui.add_sized(
                                Vec2::new(160.0, 60.0),
                                egui::Label::new(RichText::new(e).small()).wrap(),
                            );
                        }
                    }
                    ui.label(RichText::new(&item.name).small());
                    ui.horizontal(|ui| {
                        if let Some(b) = item.badge() {
                            badge(ui, b);
                        }
                        if ui.small_button("Remove").clicked() {
                            remove = Some(item.id);
                        }
                    });
                });
            });
        }
    });
    if let Some(id) = remove {
        app.push(Command::RemoveGallery(id));
    }
}

pub fn badge(ui: &mut egui::Ui, b: Badge) {
    let colour = match b {
        Badge::Ok => Color32::from_rgb(60, 160, 90),
        Badge::NoFace | Badge::SeveralFaces => Color32::from_rgb(200, 140, 40),
        Badge::Unreadable => Color32::from_rgb(190, 60, 60),
    };
    egui::Frame::new()
        .fill(colour)
        .corner_radius(4.0)
        .inner_margin(egui::Margin::symmetric(5, 1))
        .show(ui, |ui| {
            ui.label(RichText::new(b.label()).color(Color32::WHITE).small());
        });
}

/// Shown while files are dragged over the window.
pub fn drop_overlay(ctx: &egui::Context) {
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop"),
    ));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0.0, Color32::from_black_alpha(160));
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        "Drop images to add them to the gallery",
        egui::FontId::proportional(24.0),
        Color32::WHITE,
    );
}
