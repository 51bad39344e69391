//! The history screen: every record of the audit log in a table (egui_extras, only the visible
//! rows are laid out, so 100,000 rows scroll as fast as 10), text search and filters (date
//! range, verdict, operator, score range), the summary of what is shown with a daily breakdown,
//! export of the shown rows (CSV, JSON Lines), and the opened record: the record panel's summary
//! in words, "signature valid / key trusted", and the raw JSON.
//!
//! Colours follow `theme`: VERIFIED green, NOT VERIFIED red, REVIEW amber; nothing else green.

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::history::{Filtered, History, OpenedRecord};
use super::record_panel;
use super::theme;
use super::Command;
use crate::engine::verdict::Verdict;
use crate::record::history::{HistoryFilter, HistoryRow, Summary};
use crate::record::ExportFormat;

/// The filter as typed (dates and scores are text until they parse).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryForm {
    pub text: String,
    pub since: String,
    pub until: String,
    pub verdict: Option<String>,
    pub operator: Option<String>,
    pub min_score: String,
    pub max_score: String,
}

impl HistoryForm {
    /// The filter, or what does not parse (worded for the operator).
    pub fn filter(&self) -> Result<HistoryFilter, String> {
        let date = |s: &str, what: &str| -> Result<Option<time::Date>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            crate::record::ExportFilter::date(s)
                .map(Some)
                .map_err(|_| format!("{what}: a date as YYYY-MM-DD"))
        };
        let score = |s: &str, what: &str| -> Result<Option<f64>, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{what}: a number such as 0.5"))
        };
        Ok(HistoryFilter {
            text: self.text.clone(),
            since: date(&self.since, "from")?,
            until: date(&self.until, "to")?,
            verdict: self.verdict.clone(),
            operator: self.operator.clone(),
            min_score: score(&self.min_score, "score from")?,
            max_score: score(&self.max_score, "score to")?,
        })
    }
}

const VERDICTS: [(&str, Verdict); 3] = [
    ("verified", Verdict::Verified),
    ("not_verified", Verdict::NotVerified),
    ("review", Verdict::Review),
];

fn verdict_of(code: &str) -> Option<Verdict> {
    VERDICTS.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// Row height of the table (one line of body text and a little air).
const ROW_HEIGHT: f32 = 22.0;

pub fn show(
    ui: &mut egui::Ui,
    history: &mut History,
    form: &mut HistoryForm,
    export_busy: bool,
    out: &mut Vec<Command>,
) {
    if let Some(e) = &history.error {
        ui.colored_label(theme::fail(ui.visuals()), e);
    }
    if history.loading() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("reading {}…", history.log_path().display()));
        });
        return;
    }
    let Some(shown) = history.shown.clone() else {
        return;
    };
    filters(ui, history, form, &shown);
    summary_line(ui, &shown, history);
    ui.horizontal(|ui| {
        let busy = export_busy.then_some("an export is in progress");
        let _ = Command::ExportHistory(ExportFormat::Csv).button(ui, busy, out);
        let _ = Command::ExportHistory(ExportFormat::Jsonl).button(ui, busy, out);
    });
    egui::CollapsingHeader::new("Daily summary")
        .id_salt("history-daily")
        .default_open(false)
        .show(ui, |ui| daily(ui, &shown));
    ui.separator();
    let detail_w = (ui.available_width() * 0.34).clamp(300.0, 480.0);
    egui::Panel::right("history-record")
        .resizable(false)
        .exact_size(detail_w)
        .show(ui, |ui| opened(ui, history));
    egui::CentralPanel::default().show(ui, |ui| table(ui, history, &shown));
}

fn filters(ui: &mut egui::Ui, history: &mut History, form: &mut HistoryForm, shown: &Filtered) {
    ui.horizontal_wrapped(|ui| {
        let l = ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut form.text)
                .desired_width(180.0)
                .hint_text("name, file, reason, id…"),
        )
        .labelled_by(l.id);
        let l = ui.label("from");
        ui.add(
            egui::TextEdit::singleline(&mut form.since)
                .desired_width(90.0)
                .hint_text("YYYY-MM-DD"),
        )
        .labelled_by(l.id);
        let l = ui.label("to");
        ui.add(
            egui::TextEdit::singleline(&mut form.until)
                .desired_width(90.0)
                .hint_text("YYYY-MM-DD"),
        )
        .labelled_by(l.id);
        let verdict_text = form
            .verdict
            .as_deref()
            .and_then(verdict_of)
            .map_or("any", |v| v.label());
        let l = ui.label("verdict");
        egui::ComboBox::from_id_salt("history-verdict")
            .selected_text(verdict_text)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut form.verdict, None, "any");
                for (code, v) in VERDICTS {
                    ui.selectable_value(&mut form.verdict, Some(code.to_string()), v.label());
                }
            })
            .response
            .labelled_by(l.id);
        let l = ui.label("operator");
        egui::ComboBox::from_id_salt("history-operator")
            .selected_text(form.operator.as_deref().unwrap_or("any"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut form.operator, None, "any");
                for op in shown.operators.iter() {
                    ui.selectable_value(&mut form.operator, Some(op.clone()), op);
                }
            })
            .response
            .labelled_by(l.id);
        let l = ui.label("score");
        ui.add(
            egui::TextEdit::singleline(&mut form.min_score)
                .desired_width(50.0)
                .hint_text("min"),
        )
        .labelled_by(l.id);
        ui.label("–");
        ui.add(
            egui::TextEdit::singleline(&mut form.max_score)
                .desired_width(50.0)
                .hint_text("max"),
        );
        if ui.button("Clear").clicked() {
            *form = HistoryForm::default();
        }
    });
    match form.filter() {
        Ok(f) => history.want(f),
        Err(why) => {
            ui.colored_label(theme::fail(ui.visuals()), why);
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

fn score(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

fn summary_line(ui: &mut egui::Ui, shown: &Filtered, history: &History) {
    let s = &shown.total;
    ui.horizontal_wrapped(|ui| {
        ui.label(
            RichText::new(format!(
                "{} of {} records",
                shown.rows.len(),
                shown.index.rows().len()
            ))
            .strong(),
        );
        ui.label(format!("{} decisions:", s.decisions));
        ui.label(
            RichText::new(format!("{} verified", s.verified)).color(theme::pass(ui.visuals())),
        );
        ui.label(
            RichText::new(format!("{} not verified", s.not_verified))
                .color(theme::fail(ui.visuals())),
        );
        ui.label(RichText::new(format!("{} review", s.review)).color(theme::review(ui.visuals())));
        ui.label(format!(
            "pass rate {}, liveness failures {}, median score {}",
            pct(s.pass_rate),
            s.liveness_failures,
            score(s.median_score)
        ));
        if history.filtering() {
            ui.spinner();
        }
    });
}

fn by_operator(s: &Summary) -> String {
    s.by_operator
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn daily(ui: &mut egui::Ui, shown: &Filtered) {
    TableBuilder::new(ui)
        .id_salt("history-daily-table")
        .striped(true)
        .max_scroll_height(220.0)
        .column(Column::auto().at_least(90.0))
        .columns(Column::auto().at_least(60.0), 6)
        .column(Column::remainder())
        .header(ROW_HEIGHT, |mut h| {
            for t in [
                "day",
                "decisions",
                "verified",
                "not verified",
                "review",
                "pass rate",
                "liveness failures / median",
                "by operator",
            ] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, shown.daily.len(), |mut row| {
                let (day, s) = &shown.daily[row.index()];
                row.col(|ui| {
                    ui.label(day.to_string());
                });
                row.col(|ui| {
                    ui.label(s.decisions.to_string());
                });
                row.col(|ui| {
                    ui.colored_label(theme::pass(ui.visuals()), s.verified.to_string());
                });
                row.col(|ui| {
                    ui.colored_label(theme::fail(ui.visuals()), s.not_verified.to_string());
                });
                row.col(|ui| {
                    ui.colored_label(theme::review(ui.visuals()), s.review.to_string());
                });
                row.col(|ui| {
                    ui.label(pct(s.pass_rate));
                });
                row.col(|ui| {
                    ui.label(format!(
                        "{} / {}",
                        s.liveness_failures,
                        score(s.median_score)
                    ));
                });
                row.col(|ui| {
                    ui.label(by_operator(s));
                });
            });
        });
}

/// "VERIFIED" in its colour, or the kind of a record that decides nothing.
fn verdict_cell(ui: &mut egui::Ui, r: &HistoryRow) {
    match verdict_of(&r.verdict) {
        Some(v) => {
            ui.label(
                RichText::new(v.label())
                    .strong()
                    .color(theme::verdict(ui.visuals(), v)),
            );
        }
        None => {
            ui.weak(&r.kind);
        }
    }
}

fn time_text(r: &HistoryRow) -> String {
    r.time.map_or_else(
        || "–".into(),
        |t| {
            format!(
                "{}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        },
    )
}

fn table(ui: &mut egui::Ui, history: &mut History, shown: &Filtered) {
    if shown.rows.is_empty() {
        ui.weak(if shown.index.rows().is_empty() {
            "the audit log is empty: each decision is listed here"
        } else {
            "no record matches the filter"
        });
        return;
    }
    let mut clicked = None;
    let selected = history.selected;
    // A selectable label takes the click for text selection: the row must get it.
    ui.style_mut().interaction.selectable_labels = false;
    TableBuilder::new(ui)
        .id_salt("history-table")
        .striped(true)
        .sense(egui::Sense::click())
        .auto_shrink([false, false])
        .column(Column::exact(150.0))
        .column(Column::exact(110.0))
        .column(Column::initial(150.0).clip(true))
        .column(Column::exact(55.0))
        .column(Column::initial(150.0).clip(true))
        .column(Column::exact(80.0))
        .column(Column::initial(90.0).clip(true))
        .column(Column::remainder().clip(true))
        .header(ROW_HEIGHT, |mut h| {
            for t in [
                "time (UTC)",
                "verdict",
                "reasons",
                "score",
                "gallery",
                "liveness",
                "operator",
                "engine",
            ] {
                h.col(|ui| {
                    ui.strong(t);
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, shown.rows.len(), |mut row| {
                let i = shown.rows[row.index()];
                let r = &shown.index.rows()[i];
                row.set_selected(selected == Some(i));
                row.col(|ui| {
                    ui.label(time_text(r));
                });
                row.col(|ui| verdict_cell(ui, r));
                row.col(|ui| {
                    // "no_match" as "no match": the codes, readable.
                    ui.label(r.reasons.join(", ").replace('_', " "));
                });
                row.col(|ui| {
                    ui.label(score(r.best_score));
                });
                row.col(|ui| {
                    ui.label(r.gallery_names.join(", "));
                });
                row.col(|ui| {
                    ui.label(r.liveness.as_deref().unwrap_or("–"));
                });
                row.col(|ui| {
                    ui.label(r.operator.as_deref().unwrap_or("–"));
                });
                row.col(|ui| {
                    ui.label(r.engine.as_deref().unwrap_or("–"));
                });
                if row.response().clicked() {
                    clicked = Some(i);
                }
            });
        });
    if let Some(i) = clicked {
        history.open(i);
    }
}

fn opened(ui: &mut egui::Ui, history: &History) {
    ui.heading("Record");
    if history.opening() {
        ui.spinner();
    }
    match &history.opened {
        None => {
            ui.weak("click a row to open its record");
        }
        Some(Err(e)) => {
            ui.colored_label(theme::fail(ui.visuals()), e);
        }
        Some(Ok(o)) => {
            egui::ScrollArea::vertical()
                .id_salt("history-record-scroll")
                .auto_shrink([false, false])
                .show(ui, |ui| opened_record(ui, o));
        }
    }
}

fn opened_record(ui: &mut egui::Ui, o: &OpenedRecord) {
    if o.shown
        .record
        .pointer("/data/type")
        .and_then(|t| t.as_str())
        == Some("configuration")
    {
        configuration(ui, &o.shown);
    } else {
        // File names from the record itself (`station.galleryNames`), where it has them.
        let names: Vec<String> = o
            .shown
            .record
            .pointer("/station/galleryNames")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        record_panel::summary(ui, &o.shown, &names);
    }
    // Neither line is green: they are about the file, not the person.
    match &o.key_trusted {
        Ok(words) => ui.label(RichText::new(words).strong()),
        Err(why) => ui.label(RichText::new(why).strong().color(theme::fail(ui.visuals()))),
    };
    egui::CollapsingHeader::new("Record (JSON)")
        .id_salt("history-record-json")
        .default_open(true)
        .show(ui, |ui| {
            let mut text = o.shown.pretty.as_str();
            ui.add(
                egui::TextEdit::multiline(&mut text)
                    .code_editor()
                    .desired_width(f32::INFINITY),
            );
        });
}

fn configuration(ui: &mut egui::Ui, shown: &super::state::ShownRecord) {
    let r = &shown.record;
    let s = |p: &str| {
        r.pointer(p).filter(|v| !v.is_null()).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    ui.label(RichText::new("configuration change").size(18.0).strong());
    ui.label(format!(
        "{}: {} → {}",
        s("/station/setting").unwrap_or_default(),
        s("/station/before").unwrap_or_default(),
        s("/station/after").unwrap_or_default()
    ));
    if let Some(b) = s("/station/basis") {
        ui.add(egui::Label::new(format!("basis: {b}")).wrap());
    }
    if let Some(op) = s("/station/operator") {
        ui.label(format!("operator: {op}"));
    }
    if let Some(t) = s("/data/createdAt") {
        ui.label(format!("time: {t}"));
    }
    match &shown.signature {
        Ok(()) => ui.label(RichText::new("signature valid").strong()),
        Err(e) => ui.label(
            RichText::new(format!("signature INVALID: {e}"))
                .color(theme::fail(ui.visuals()))
                .strong(),
        ),
    };
}
