//! The gallery: thumbnails with the detected face and a status badge, wrapping into rows and
//! scrolling when there are more than fit; add (always available), remove, clear.

use eframe::egui::{self, RichText, Vec2};

use super::probe_panel::draw_faces;
use super::state::GalleryItem;
use super::theme;
use super::worker::Badge;
use super::Command;

/// A thumbnail's side and a card's width (points).
const THUMB: f32 = 120.0;
const CARD: f32 = 128.0;
/// The gallery takes at most this share of the window's height (and two rows) before it
/// scrolls, so that the verdict stays in view.
const MAX_HEIGHT: f32 = 330.0;
const MAX_SHARE: f32 = 0.3;

/// `width`: the panel's width, which the cards are laid out in rows to fit.
pub fn show(
    ui: &mut egui::Ui,
    gallery: &[GalleryItem],
    dialog_busy: bool,
    width: f32,
    out: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Gallery");
        let _ = Command::OpenGalleryDialog.button(
            ui,
            dialog_busy.then_some("the gallery dialog is open"),
            out,
        );
        let _ = Command::ClearGallery.button(
            ui,
            gallery.is_empty().then_some("the gallery is empty"),
            out,
        );
        if !gallery.is_empty() {
            ui.weak(format!("{} images", gallery.len()));
        }
    });
    if gallery.is_empty() {
        ui.label(
            "No gallery images: add ID or enrolment photos (Add images…, drag and drop, or --gallery).",
        );
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("gallery")
        .max_height((ui.ctx().content_rect().height() * MAX_SHARE).clamp(170.0, MAX_HEIGHT))
        .auto_shrink([false, true])
        .show(ui, |ui| {
            // Rows of as many cards as fit (egui's wrapping layout does not wrap groups).
            let step = CARD + 2.0 * ui.spacing().item_spacing.x + 12.0;
            let per_row = ((width / step).floor() as usize).max(1);
            for row in gallery.chunks(per_row) {
                ui.horizontal(|ui| {
                    for item in row {
                        card(ui, item, out);
                    }
                });
            }
        });
}

fn card(ui: &mut egui::Ui, item: &GalleryItem, out: &mut Vec<Command>) {
    ui.group(|ui| {
        ui.set_width(CARD);
        ui.vertical(|ui| {
            match &item.analysis {
                None => {
                    ui.add_sized(Vec2::new(THUMB, THUMB * 0.75), egui::Spinner::new());
                }
                Some(Ok(v)) => {
                    let size = v.texture.size_vec2();
                    let shown = size * (THUMB / size.x.max(size.y));
                    let rect = ui.add(egui::Image::new((v.texture.id(), shown))).rect;
                    draw_faces(ui, rect, size.x / v.scale, &v.faces);
                }
                Some(Err(e)) => {
                    ui.add_sized(
                        Vec2::new(THUMB, 60.0),
                        egui::Label::new(RichText::new(e).small()).wrap(),
                    );
                }
            }
            // One line, ellipsised; the full name on hover.
            ui.add(egui::Label::new(item.name.as_str()).truncate())
                .on_hover_text(item.name.as_str());
            ui.horizontal(|ui| {
                if let Some(b) = item.badge() {
                    badge(ui, b);
                }
                let _ = Command::RemoveGallery(item.id).button_with(
                    ui,
                    egui::Button::new(Command::RemoveGallery(item.id).text()).small(),
                    None,
                    out,
                );
            });
        });
    });
}

pub fn badge(ui: &mut egui::Ui, b: Badge) {
    egui::Frame::new()
        .fill(theme::badge(ui.visuals(), b))
        .corner_radius(4.0)
        .inner_margin(egui::Margin::symmetric(5, 1))
        .show(ui, |ui| {
            ui.label(RichText::new(b.label()).color(theme::ON_FILL).small());
        });
}

/// Shown while files are dragged over the window.
pub fn drop_overlay(ctx: &egui::Context) {
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-overlay"),
    ));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0.0, theme::veil());
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        "Drop images to add them to the gallery",
        egui::FontId::proportional(24.0),
        theme::ON_FILL,
    );
}
