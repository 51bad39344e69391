//! The signed record of the last decision (or one opened from the audit log) and recent records.

use eframe::egui::{self, RichText};
use serde_json::Value;

use super::compare_panel::{GREEN, RED};
use super::state::Command;
use super::StationApp;

pub fn show(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.heading("Signed record");
    let mut wanted = None;
    match &app.shown_record {
        None => {
            ui.label("No record yet: each comparison is signed and appended to the audit log.");
            if let Some(super::state::LastResult::Done { done, .. }) = &app.last {
                if let Err(e) = &done.record {
                    ui.colored_label(RED, e);
                }
            }
        }
        Some(r) => {
            ui.horizontal(|ui| {
                match &r.signature {
                    Ok(()) => ui.label(RichText::new("signature valid").color(GREEN).strong()),
                    Err(e) => ui
                        .label(RichText::new("signature INVALID").color(RED).strong())
                        .on_hover_text(e),
                };
                if r.from_log {
                    ui.weak("(from the audit log)");
                }
            });
            ui.horizontal(|ui| {
                if ui.button("Copy").clicked() {
                    wanted = Some(Command::CopyRecord);
                }
                if ui.button("Save…").clicked() {
                    wanted = Some(Command::SaveRecord);
                }
            });
            let mut text = r.pretty.as_str();
            egui::ScrollArea::vertical()
                .id_salt("record-json")
                .max_height((ui.available_height() - 220.0).max(120.0))
                .show(ui, |ui| {
                    ui.add(
                        egui::TextEdit::multiline(&mut text)
                            .code_editor()
                            .desired_width(f32::INFINITY),
                    );
                });
        }
    }
    if let Some(c) = wanted {
        app.push(c);
    }
    ui.separator();
    ui.heading("Recent records");
    if let Some(e) = &app.recent_error {
        ui.colored_label(RED, e);
    }
    if app.recent.is_empty() {
        ui.weak("none yet");
    }
    let mut open = None;
    egui::ScrollArea::vertical()
        .id_salt("recent")
        .show(ui, |ui| {
            // Newest first.
            for (i, r) in app.recent.iter().enumerate().rev() {
                if ui.selectable_label(false, summary(r)).clicked() {
                    open = Some(i);
                }
            }
        });
    if let Some(i) = open {
        app.push(Command::OpenRecent(i));
    }
}

/// "2025-…Z match 0.930" from a record, tolerant of missing fields.
fn summary(r: &Value) -> String {
    let data = r.get("data");
    let decision = r
        .pointer("/station/decision")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let score = r
        .pointer("/data/result/score")
        .and_then(Value::as_f64)
        .map_or_else(String::new, |s| format!(" {s:.3}"));
    let when = data
        .and_then(|d| d.get("comparedAt"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let id = r.get("id").and_then(Value::as_str).unwrap_or("");
    format!("{when} {decision}{score} [{id}]")
}
