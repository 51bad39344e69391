//! The kiosk's look: large type, high contrast, a thick focus ring, the answers' words and colours,
//! and the few widgets every screen uses.

use std::time::Duration;

use eframe::egui::{self, accesskit, Align, Color32, Layout, RichText, Stroke, Vec2};

use super::{FOCUS, NOT_VERIFIED_RED, SEE_STAFF_AMBER, VERIFIED_GREEN};
use crate::kiosk::flow::Answer;

/// The words on every answer screen under the headline.
pub fn answer_advice(a: Answer) -> &'static str {
    match a {
        Answer::Verified => "Thank you. You may go ahead.",
        Answer::NotVerified => "Your face did not match this ID. Please try again, or see staff.",
        Answer::SeeStaff => "A member of staff will help you.",
    }
}

/// The fill and the type colour of an answer.
pub fn answer_colours(a: Answer) -> (Color32, Color32) {
    match a {
        Answer::Verified => (VERIFIED_GREEN, Color32::BLACK),
        Answer::NotVerified => (NOT_VERIFIED_RED, Color32::WHITE),
        Answer::SeeStaff => (SEE_STAFF_AMBER, Color32::BLACK),
    }
}

/// Large type, high contrast, a thick yellow focus ring.
pub(super) fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::ThemePreference::Dark);
    ctx.all_styles_mut(|s| {
        use egui::{FontFamily, FontId, TextStyle};
        s.text_styles = [
            (
                TextStyle::Heading,
                FontId::new(64.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(32.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(32.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Small,
                FontId::new(24.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(24.0, FontFamily::Monospace),
            ),
        ]
        .into();
        s.spacing.button_padding = Vec2::new(24.0, 12.0);
        s.spacing.item_spacing = Vec2::new(16.0, 16.0);
        let v = &mut s.visuals;
        v.panel_fill = Color32::BLACK;
        v.window_fill = Color32::BLACK;
        v.override_text_color = Some(Color32::WHITE);
        v.widgets.inactive.weak_bg_fill = Color32::from_gray(40);
        v.widgets.inactive.bg_stroke = Stroke::new(2.0, Color32::WHITE);
        v.widgets.hovered.bg_stroke = Stroke::new(3.0, Color32::WHITE);
        v.widgets.active.bg_stroke = Stroke::new(4.0, FOCUS);
        v.selection.stroke = Stroke::new(4.0, FOCUS);
    });
}

pub(super) fn big(text: &str, size: f32) -> RichText {
    RichText::new(text).size(size).strong()
}

pub(super) fn button(ui: &mut egui::Ui, text: &str) -> bool {
    ui.add(egui::Button::new(big(text, 32.0)).min_size(Vec2::new(220.0, 64.0)))
        .clicked()
}

/// A label that screen readers announce when it changes (an ARIA live region).
pub(super) fn live_label(ui: &mut egui::Ui, text: RichText) {
    let r = ui.label(text);
    ui.ctx().accesskit_node_builder(r.id, |node| {
        node.set_live(accesskit::Live::Polite);
    });
}

pub(super) fn centred(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui)) {
    ui.with_layout(Layout::top_down(Align::Center), add);
}

pub(super) fn secs_left(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
