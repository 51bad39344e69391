//! The signed record of the last decision (or one opened from the audit log): a summary in
//! words (verdict, reasons, scores with file names, liveness, operator, time, key id, signature)
//! above the raw JSON; and the recent records, listed by their verdicts.

use eframe::egui::{self, RichText};
use serde_json::Value;

use super::state::{LastResult, ShownRecord};
use super::theme;
use super::Command;
use crate::engine::verdict::{Reason, Verdict};
use crate::vision::liveness::{LivenessResult, LivenessVerdict};

/// What the record panel shows.
pub struct RecordView<'a> {
    pub shown: Option<&'a ShownRecord>,
    pub last: Option<&'a LastResult>,
    pub recent: &'a [Value],
    pub recent_error: Option<&'a str>,
    /// A save dialog or write is under way.
    pub save_busy: bool,
}

pub fn show(ui: &mut egui::Ui, v: &RecordView<'_>, out: &mut Vec<Command>) {
    ui.heading("Signed record");
    match v.shown {
        None => {
            ui.label("No record yet: each comparison is signed and appended to the audit log.");
            if let Some(LastResult::Done { done, .. }) = v.last {
                if let Err(e) = &done.record {
                    ui.colored_label(theme::fail(ui.visuals()), e);
                }
            }
        }
        Some(r) => {
            // File names: the decision just made's, else the record's own `galleryNames`
            // (records before it keep only digests).
            let logged: Vec<String> = r
                .record
                .pointer("/station/galleryNames")
                .and_then(|n| serde_json::from_value(n.clone()).ok())
                .unwrap_or_default();
            let names: &[String] = match (r.from_log, v.last) {
                (false, Some(LastResult::Done { gallery_names, .. })) => gallery_names,
                _ => &logged,
            };
            summary(ui, r, names);
            ui.horizontal(|ui| {
                let _ = Command::CopyRecord.button(ui, None, out);
                let _ = Command::SaveRecord.button(
                    ui,
                    v.save_busy.then_some("a save is in progress"),
                    out,
                );
            });
            egui::CollapsingHeader::new("Record (JSON)")
                .id_salt("record-json-header")
                .default_open(false)
                .show(ui, |ui| {
                    let mut text = r.pretty.as_str();
                    egui::ScrollArea::vertical()
                        .id_salt("record-json")
                        .max_height((ui.available_height() - 200.0).max(160.0))
                        .show(ui, |ui| {
                            ui.add(
                                egui::TextEdit::multiline(&mut text)
                                    .code_editor()
                                    .desired_width(f32::INFINITY),
                            );
                        });
                });
        }
    }
    ui.separator();
    ui.heading("Recent records");
    if let Some(e) = v.recent_error {
        ui.colored_label(theme::fail(ui.visuals()), e);
    }
    if v.recent.is_empty() {
        ui.weak("none yet");
    }
    egui::ScrollArea::vertical()
        .id_salt("recent")
        .show(ui, |ui| {
            // Newest first.
            for (i, r) in v.recent.iter().enumerate().rev() {
                let line = recent_line(r);
                let colour = match line.verdict {
                    Some(Verdict::Verified) => theme::pass(ui.visuals()),
                    Some(other) => theme::verdict(ui.visuals(), other),
                    None => ui.visuals().text_color(),
                };
                let text = RichText::new(&line.text).color(colour);
                if ui
                    .add(egui::Button::selectable(false, text).truncate())
                    .on_hover_text(&line.text)
                    .clicked()
                {
                    out.push(Command::OpenRecent(i));
                }
            }
        });
}

fn str_at<'a>(r: &'a Value, pointer: &str) -> Option<&'a str> {
    r.pointer(pointer).and_then(Value::as_str)
}

fn verdict_of(r: &Value) -> Option<Verdict> {
    str_at(r, "/station/verdict").and_then(Verdict::parse)
}

fn reasons_of(r: &Value) -> Vec<Reason> {
    r.pointer("/station/reasons")
        .and_then(|v| serde_json::from_value::<Vec<Reason>>(v.clone()).ok())
        .unwrap_or_default()
}

fn liveness_of(r: &Value) -> Option<LivenessResult> {
    r.pointer("/station/liveness")
        .filter(|l| !l.is_null())
        .and_then(|l| serde_json::from_value(l.clone()).ok())
}

/// One line of the recent list: its verdict (for the colour) and its words.
pub struct RecentLine {
    pub verdict: Option<Verdict>,
    pub text: String,
}

/// "2025-…Z NOT VERIFIED spoof 0.717 [t0001]" for a compare; "… LIVE 0.930 [t0002]" for a
/// liveness-only record (judged by its liveness verdict); tolerant of missing fields.
pub fn recent_line(r: &Value) -> RecentLine {
    let id = r.get("id").and_then(Value::as_str).unwrap_or("");
    let when = str_at(r, "/data/comparedAt")
        .or_else(|| str_at(r, "/data/createdAt"))
        .unwrap_or("");
    if str_at(r, "/data/type") == Some("liveness") {
        let (word, verdict) = match liveness_of(r).map(|l| l.verdict) {
            Some(LivenessVerdict::Live) => ("LIVE", Some(Verdict::Verified)),
            Some(LivenessVerdict::Spoof) => ("SPOOF", Some(Verdict::NotVerified)),
            Some(LivenessVerdict::CannotJudge) => ("CANNOT JUDGE", Some(Verdict::Review)),
            None => ("liveness ?", None),
        };
        let score = r
            .pointer("/data/liveness_score")
            .and_then(Value::as_f64)
            .map_or_else(String::new, |s| format!(" {s:.3}"));
        return RecentLine {
            verdict,
            text: format!("{when} {word}{score} [{id}]"),
        };
    }
    let verdict = verdict_of(r);
    let label = verdict.map_or("no verdict", |v| v.label());
    let reasons: Vec<&str> = reasons_of(r).iter().map(Reason::as_str).collect();
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" {}", reasons.join(","))
    };
    let score = r
        .pointer("/data/result/score")
        .and_then(Value::as_f64)
        .map_or_else(String::new, |s| format!(" {s:.4}"));
    RecentLine {
        verdict,
        text: format!("{when} {label}{reasons}{score} [{id}]"),
    }
}

/// The record in words, above its JSON.
pub(super) fn summary(ui: &mut egui::Ui, r: &ShownRecord, names: &[String]) {
    let rec = &r.record;
    let visuals = ui.visuals().clone();
    let is_liveness = str_at(rec, "/data/type") == Some("liveness");
    if is_liveness {
        let line = recent_line(rec);
        let colour = line
            .verdict
            .map_or(visuals.text_color(), |v| theme::verdict(&visuals, v));
        ui.label(RichText::new("liveness record").strong());
        ui.label(RichText::new(line.text).color(colour));
    } else {
        match verdict_of(rec) {
            Some(v) => {
                ui.label(
                    RichText::new(v.label())
                        .size(20.0)
                        .strong()
                        .color(theme::verdict(&visuals, v)),
                );
            }
            None => {
                ui.label("no verdict in this record");
            }
        }
        for reason in reasons_of(rec) {
            ui.label(reason.words());
        }
    }
    // One wrapped line per fact: the panel has a fixed width and nothing may leave it.
    let line = |ui: &mut egui::Ui, key: &str, value: &str| {
        ui.add(egui::Label::new(format!("{key}: {value}")).wrap());
    };
    if let Some(gallery) = rec.pointer("/station/gallery").and_then(Value::as_array) {
        for g in gallery {
            let index = g.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            let name = names.get(index).cloned().unwrap_or_else(|| {
                let sha = g.get("sha256").and_then(Value::as_str).unwrap_or("");
                format!("gallery[{index}] {}", &sha[..sha.len().min(8)])
            });
            let score = match (
                g.get("score").and_then(Value::as_f64),
                g.get("error").and_then(Value::as_str),
                g.get("reported").and_then(Value::as_bool),
            ) {
                (Some(s), _, _) => format!("{s:.4}"),
                (None, Some(_), _) => "unreadable".into(),
                (None, None, Some(false)) => "not reported by the service".into(),
                (None, None, _) => "no face".into(),
            };
            let shown = super::compare_panel::ellipsise(&name, 28);
            ui.add(egui::Label::new(format!("{shown}: {score}")).wrap())
                .on_hover_text(&name);
        }
    }
    if !is_liveness {
        if let Some(l) = liveness_of(rec) {
            let detail = super::compare_panel::liveness_detail(&l);
            line(ui, "liveness", &format!("{} {detail}", l.verdict.label()));
        }
    }
    if let Some(op) = str_at(rec, "/station/operator") {
        line(ui, "operator", op);
    }
    if let Some(when) = str_at(rec, "/data/comparedAt").or_else(|| str_at(rec, "/data/createdAt")) {
        line(ui, "time", when);
    }
    if let Some(engine) = str_at(rec, "/station/engine") {
        line(ui, "engine", engine);
    }
    if let Some(key) = str_at(rec, "/signature/keyId") {
        line(ui, "key id", key);
    }
    ui.horizontal(|ui| {
        // The signature's state is about the file, not the person: never drawn green.
        match &r.signature {
            Ok(()) => ui.label(RichText::new("signature valid").strong()),
            Err(e) => ui
                .label(
                    RichText::new("signature INVALID")
                        .color(theme::fail(&visuals))
                        .strong(),
                )
                .on_hover_text(e),
        };
        if r.from_log {
            ui.weak("(from the audit log)");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recent_lines_name_the_verdict_and_reasons() {
        let r = json!({
            "id": "t0001",
            "data": {"type": "compare-live", "comparedAt": "2025-01-02T03:04:05.006Z",
                     "result": {"score": 0.7171}},
            "station": {"verdict": "not_verified", "reasons": ["spoof"]},
        });
        let line = recent_line(&r);
        assert_eq!(line.verdict, Some(Verdict::NotVerified));
        assert_eq!(
            line.text,
            "2025-01-02T03:04:05.006Z NOT VERIFIED spoof 0.7171 [t0001]"
        );
        let l = json!({
            "id": "t0002",
            "data": {"type": "liveness", "createdAt": "2025-01-02T03:04:05.006Z",
                     "liveness_score": 0.93},
            "station": {"liveness": {"score": 0.93, "verdict": "live", "context": 2.7, "min_score": 0.6}},
        });
        assert_eq!(
            recent_line(&l).text,
            "2025-01-02T03:04:05.006Z LIVE 0.930 [t0002]"
        );
    }
}
