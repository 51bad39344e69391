//! When the local engine cannot start (models or ONNX Runtime missing): a banner above the
//! station with what is missing and how to fix it. The station stays usable: Remote mode and the
//! records need no local models.

use eframe::egui::{self, RichText};

use super::theme;
use super::worker::SetupProblem;

pub fn banner(ui: &mut egui::Ui, problem: &SetupProblem) {
    ui.add_space(4.0);
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new("The local engine cannot start")
                .size(18.0)
                .strong(),
        );
        ui.label(
            RichText::new(&problem.what)
                .size(18.0)
                .color(theme::fail(ui.visuals())),
        );
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("How to fix it:").strong());
        ui.label(&problem.fix);
    });
    ui.label("Remote mode works meanwhile: choose Engine: Remote under Compare.");
    egui::CollapsingHeader::new("Details")
        .id_salt("setup-details")
        .show(ui, |ui| {
            ui.label(RichText::new(&problem.detail).monospace());
        });
    ui.add_space(4.0);
}
