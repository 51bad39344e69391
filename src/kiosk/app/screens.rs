//! The screens the person sees, one per step of the flow, and the bars around them.

use eframe::egui::{self, accesskit, Align, Color32, Layout, RichText, Stroke, Vec2};

use super::theme::{answer_advice, answer_colours, big, button, centred, live_label, secs_left};
use super::{KioskApp, OVAL_GUIDING, OVAL_HOLDING, PROGRESS_FILL, SEE_STAFF_AMBER};
use crate::kiosk::flow::{Answer, Hint, Input, Screen};

impl KioskApp {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("kiosk-top")
            .frame(egui::Frame::new().fill(Color32::BLACK).inner_margin(16.0))
            .show_separator_line(false)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(big("Face check", 36.0));
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if button(ui, "Call staff (F1)") {
                            self.core.key(Input::CallStaff);
                        }
                    });
                });
                if self.core.staff_banner() {
                    live_label(
                        ui,
                        big(
                            "Staff have been called. Someone will come to help you.",
                            32.0,
                        )
                        .color(SEE_STAFF_AMBER),
                    );
                }
            });
    }

    pub(super) fn bottom_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("kiosk-keys")
            .frame(egui::Frame::new().fill(Color32::BLACK).inner_margin(12.0))
            .show_separator_line(false)
            .show(ui, |ui| {
                ui.label(
                    RichText::new(
                        "Keys: Enter to go on, Esc to cancel, Tab to move, F1 to call staff",
                    )
                    .size(24.0),
                );
            });
    }

    pub(super) fn out_of_service(&mut self, ui: &mut egui::Ui, why: &str) {
        centred(ui, |ui| {
            ui.add_space(80.0);
            live_label(
                ui,
                big("This kiosk is out of service", 64.0).color(SEE_STAFF_AMBER),
            );
            ui.label(big("Please see staff.", 40.0));
            ui.add_space(40.0);
            // For staff: what broke (no personal data in it).
            ui.label(RichText::new(format!("Staff: {why}")).size(24.0));
        });
    }

    pub(super) fn welcome(&mut self, ui: &mut egui::Ui, typed: &str, message: Option<&str>) {
        centred(ui, |ui| {
            ui.add_space(60.0);
            ui.label(big("Welcome", 72.0));
            live_label(ui, big("Type or scan your ID, then press Enter", 40.0));
            ui.add_space(24.0);
            let shown = if typed.is_empty() { " " } else { typed };
            let r = ui.add(
                egui::Label::new(RichText::new(shown).size(56.0).monospace().strong())
                    .selectable(false),
            );
            // The field's accessible name and value (a screen reader reads what was typed).
            r.widget_info(|| {
                let mut info =
                    egui::WidgetInfo::labeled(accesskit::Role::TextInput, true, "Your ID");
                info.current_text_value = Some(typed.to_string());
                info
            });
            ui.painter().rect_stroke(
                r.rect.expand(12.0),
                6.0,
                Stroke::new(3.0, Color32::WHITE),
                egui::StrokeKind::Outside,
            );
            ui.add_space(24.0);
            if let Some(m) = message {
                live_label(ui, big(m, 32.0).color(SEE_STAFF_AMBER));
            }
            ui.add_space(24.0);
            if button(ui, "Continue (Enter)") {
                self.core.key(Input::Enter);
            }
        });
    }

    pub(super) fn live(&mut self, ui: &mut egui::Ui) {
        let now = self.core.now();
        let Screen::Live { hint, streak, .. } = &self.core.kiosk.screen else {
            return;
        };
        let (hint, streak) = (*hint, *streak);
        let needed = self.core.kiosk.config.capture_frames.max(1);
        let left = self.core.kiosk.time_left(now).unwrap_or_default();
        let words = hint.map_or(Hint::NoFace.message(), |h| h.message());
        centred(ui, |ui| {
            live_label(ui, big(words, 64.0));
            let avail = ui.available_size();
            let h = (avail.y - 150.0).max(120.0);
            let size = Vec2::new((h * 4.0 / 3.0).min(avail.x), h);
            let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
            resp.widget_info(|| {
                egui::WidgetInfo::labeled(
                    accesskit::Role::Image,
                    true,
                    "Camera view with an oval to put your face in",
                )
            });
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, Color32::from_gray(20));
            if let (Some(t), Some(_)) = (&self.texture, self.shown_seq) {
                // Mirrored, as a mirror: moving left moves the face left on screen.
                let uv = egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0));
                painter.image(t.id(), rect, uv, Color32::WHITE);
            }
            let oval = self
                .core
                .guide
                .unwrap_or_else(|| crate::kiosk::gate::Oval::guide(640, 480));
            let (fw, fh) = (oval.centre.0 * 2.0, oval.centre.1 * 2.0);
            let sx = rect.width() / fw.max(1.0);
            let sy = rect.height() / fh.max(1.0);
            let colour = if streak > 0 {
                OVAL_HOLDING
            } else {
                OVAL_GUIDING
            };
            painter.add(egui::Shape::ellipse_stroke(
                rect.center(),
                Vec2::new(oval.radii.0 * sx, oval.radii.1 * sy),
                Stroke::new(6.0, colour),
            ));
            ui.add_space(8.0);
            let progress = streak as f32 / needed as f32;
            let bar_text = if streak > 0 {
                format!("Hold still: {streak} of {needed}")
            } else {
                "Waiting for your face in the oval".to_string()
            };
            ui.add(
                egui::ProgressBar::new(progress)
                    .desired_width(size.x)
                    .desired_height(36.0)
                    .fill(PROGRESS_FILL)
                    .text(RichText::new(bar_text).size(26.0).color(Color32::WHITE)),
            );
            ui.horizontal(|ui| {
                ui.label(big(&format!("Time left: {} s", secs_left(left)), 32.0));
                ui.add_space(40.0);
                if button(ui, "Cancel (Esc)") {
                    self.core.key(Input::Escape);
                }
            });
        });
    }

    pub(super) fn more_time(&mut self, ui: &mut egui::Ui) {
        let left = self
            .core
            .kiosk
            .time_left(self.core.now())
            .unwrap_or_default();
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(ui, big("Do you need more time?", 64.0));
            ui.label(big(
                &format!("Press Enter for more time. {} s left.", secs_left(left)),
                36.0,
            ));
            ui.add_space(30.0);
            ui.horizontal(|ui| {
                if button(ui, "Yes, more time (Enter)") {
                    self.core.key(Input::Enter);
                }
                if button(ui, "No, stop (Esc)") {
                    self.core.key(Input::Escape);
                }
            });
        });
    }

    pub(super) fn deciding(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(120.0).color(Color32::WHITE));
            live_label(ui, big("Checking, please wait", 56.0));
        });
    }

    pub(super) fn answer(&mut self, ui: &mut egui::Ui, a: Answer) {
        // The panel behind is filled with the answer's colour (see `ui`).
        let ink = answer_colours(a).1;
        let rect = ui.max_rect();
        centred(ui, |ui| {
            ui.add_space(rect.height() * 0.25);
            live_label(ui, big(a.words(), 120.0).color(ink));
            ui.label(big(answer_advice(a), 40.0).color(ink));
        });
    }

    pub(super) fn erased(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            live_label(ui, big("Your images have been erased", 64.0));
            ui.label(big(
                "No pictures are kept, only a record of the check.",
                36.0,
            ));
        });
    }

    pub(super) fn looking(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(80.0).color(Color32::WHITE));
            live_label(ui, big("Looking up your ID", 56.0));
        });
    }

    pub(super) fn starting(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(80.0).color(Color32::WHITE));
            live_label(ui, big("Starting, please wait", 56.0));
        });
    }
}
