//! Shown instead of the station when the engine cannot start (models or ONNX Runtime missing).

use eframe::egui::{self, RichText};

use super::compare_panel::RED;
use super::worker::SetupProblem;

pub fn show(ui: &mut egui::Ui, problem: &SetupProblem) {
    ui.vertical_centered(|ui| {
        ui.add_space(60.0);
        ui.label(
            RichText::new("FaceStation cannot start")
                .size(28.0)
                .strong(),
        );
        ui.add_space(12.0);
        ui.label(RichText::new(&problem.what).size(20.0).color(RED));
        ui.add_space(12.0);
        ui.label(RichText::new("How to fix it").strong());
        ui.label(&problem.fix);
        ui.add_space(12.0);
        ui.label(RichText::new("Details").strong());
        ui.label(RichText::new(&problem.detail).monospace());
    });
}
