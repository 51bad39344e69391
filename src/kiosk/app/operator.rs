//! The operator view behind Ctrl+Alt+O and the PIN: the PIN prompt and its lock-out, the view's
//! idle close, and what it shows (the last decision, recent records, the settings).

use std::time::{Duration, Instant};

use eframe::egui::{self, accesskit, Align, Color32, Key, Layout, RichText};
use serde_json::Value;
use zeroize::Zeroizing;

use super::theme::{big, button, centred, live_label};
use super::{KioskApp, Operator, SEE_STAFF_AMBER};
use crate::engine::verdict::Verdict;
use crate::kiosk::core::median;

/// Wrong PINs in a row before the PIN prompt locks for [`PIN_LOCK`].
const PIN_TRIES: u32 = 3;
const PIN_LOCK: Duration = Duration::from_secs(60);
/// The operator view closes itself after this long without a key.
pub(super) const OPERATOR_IDLE: Duration = Duration::from_secs(120);
pub(super) const OPERATOR_BG: Color32 = Color32::from_rgb(10, 20, 60);

impl KioskApp {
    pub(super) fn ask_operator(&mut self, now: Instant) {
        self.operator = if self.pin.is_none() {
            Operator::Refused {
                until: now + Duration::from_secs(8),
            }
        } else {
            Operator::Pin {
                typed: Zeroizing::new(String::new()),
                message: None,
            }
        };
    }

    pub(super) fn operator_key(&mut self, key: Key, now: Instant) {
        match &mut self.operator {
            Operator::Pin { typed, message } => match key {
                Key::Escape => self.operator = Operator::Closed,
                Key::Backspace => {
                    typed.pop();
                }
                Key::Enter => {
                    if let Some(until) = self.pin_locked_until.filter(|u| *u > now) {
                        *message = Some(format!(
                            "Too many wrong PINs: try again in {} s.",
                            until.duration_since(now).as_secs() + 1
                        ));
                        typed.clear();
                        return;
                    }
                    let ok = self.pin.as_ref().is_some_and(|pin| {
                        use subtle::ConstantTimeEq as _;
                        bool::from(pin.as_bytes().ct_eq(typed.as_bytes()))
                    });
                    if ok {
                        self.pin_failures = 0;
                        self.operator = Operator::Open { last_key: now };
                        self.core.refresh_recent();
                    } else {
                        self.pin_failures += 1;
                        typed.clear();
                        if self.pin_failures >= PIN_TRIES {
                            self.pin_failures = 0;
                            self.pin_locked_until = Some(now + PIN_LOCK);
                        }
                        *message = Some("Wrong PIN.".into());
                    }
                }
                _ => {}
            },
            Operator::Open { last_key } => {
                *last_key = now;
                if key == Key::Escape {
                    self.operator = Operator::Closed;
                }
            }
            Operator::Refused { .. } => {
                if key == Key::Escape {
                    self.operator = Operator::Closed;
                }
            }
            Operator::Closed => {}
        }
    }

    pub(super) fn expire_operator(&mut self, now: Instant) {
        match &self.operator {
            Operator::Open { last_key } if now.duration_since(*last_key) > OPERATOR_IDLE => {
                self.operator = Operator::Closed
            }
            Operator::Refused { until } if now >= *until => self.operator = Operator::Closed,
            _ => {}
        }
    }

    pub(super) fn pin_prompt(&mut self, ui: &mut egui::Ui) {
        let (n, message) = match &self.operator {
            Operator::Pin { typed, message } => (typed.chars().count(), message.clone()),
            _ => return,
        };
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(ui, big("Staff: type the PIN, then press Enter", 48.0));
            let dots = if n == 0 {
                " ".to_string()
            } else {
                "\u{25CF} ".repeat(n)
            };
            let r = ui.label(RichText::new(dots).size(56.0).monospace());
            r.widget_info(|| {
                egui::WidgetInfo::labeled(
                    accesskit::Role::PasswordInput,
                    true,
                    format!("PIN, {n} characters typed"),
                )
            });
            if let Some(m) = message {
                live_label(ui, big(&m, 32.0).color(SEE_STAFF_AMBER));
            }
            ui.label(big("Esc to go back", 28.0));
        });
    }

    pub(super) fn refused(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(
                ui,
                big(
                    "The operator view is off: this kiosk was started without --pin-file",
                    40.0,
                )
                .color(SEE_STAFF_AMBER),
            );
            ui.label(big("Esc to go back", 28.0));
        });
    }

    pub(super) fn operator_view(&mut self, ui: &mut egui::Ui) {
        let mut close = false;
        ui.horizontal(|ui| {
            ui.label(big("Operator view", 44.0));
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                close = button(ui, "Close operator view (Esc)");
            });
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.columns(2, |cols| {
                self.operator_decisions(&mut cols[0]);
                self.operator_settings(&mut cols[1]);
            });
        });
        if close {
            self.operator = Operator::Closed;
        }
    }

    fn operator_decisions(&self, ui: &mut egui::Ui) {
        let text = |ui: &mut egui::Ui, s: String| {
            ui.add(egui::Label::new(RichText::new(s).size(22.0)).wrap());
        };
        ui.label(big("Last decision", 30.0));
        match (&self.core.last_decision, &self.core.last_failure) {
            (_, Some(f)) => text(ui, format!("No verdict: {}", f.message)),
            (Some(d), None) => {
                text(
                    ui,
                    format!(
                        "{} for ID {} (attempt {})",
                        d.verdict.label(),
                        d.claimed_id,
                        d.attempt
                    ),
                );
                let reasons: Vec<&str> = d.reasons.iter().map(|r| r.words()).collect();
                let reasons = if reasons.is_empty() {
                    "none".to_string()
                } else {
                    reasons.join("; ")
                };
                text(ui, format!("Reasons: {reasons}"));
                text(
                    ui,
                    format!("Match score {:.3} (threshold {:.3})", d.score, d.threshold),
                );
                if let (Some(s), Some(v)) = (d.liveness_score, d.liveness_verdict) {
                    text(ui, format!("Liveness P(real) {s:.3}: {v}"));
                }
                text(ui, quality_line(&d.record));
                text(
                    ui,
                    format!(
                        "Record id {}, decided in {:.0} ms",
                        d.record_id.as_deref().unwrap_or("?"),
                        d.decide_ms
                    ),
                );
            }
            (None, None) => text(ui, "No decision yet.".into()),
        }
        ui.add_space(12.0);
        ui.label(big("Recent records", 30.0));
        match &self.core.recent {
            Ok(records) if records.is_empty() => text(ui, "The log is empty.".into()),
            Ok(records) => {
                for r in records.iter().rev() {
                    text(ui, record_line(r));
                }
            }
            Err(e) => text(ui, format!("The log cannot be read: {e}")),
        }
    }

    fn operator_settings(&self, ui: &mut egui::Ui) {
        let c = &self.core.kiosk.config;
        let core = &self.core;
        ui.label(big("Settings", 30.0));
        let lines = [
            format!("Kiosk ID: {}", core.kiosk_id.as_deref().unwrap_or("(none)")),
            format!("Enrolled folder: {}", core.enrolled_dir.display()),
            format!(
                "Audit log: {}",
                core.log_path
                    .as_ref()
                    .map_or("(not open)".to_string(), |p| p.display().to_string())
            ),
            format!("Station key: {}", core.key_id.as_deref().unwrap_or("(not open)")),
            format!("Models: {}", core.models.as_deref().unwrap_or("(loading)")),
            format!("Camera: {}", core.camera_description),
            format!("Gate: {}", core.gate_description),
            format!(
                "Capture after {} passing frames; {} s per person; more time up to {} x, asked for {} s; \
                 {} attempts per claim; {} NOT VERIFIED lock an ID for {} s",
                c.capture_frames,
                c.person_time.as_secs(),
                c.max_extensions,
                c.more_time_prompt.as_secs(),
                c.attempts_per_claim,
                c.retry_cap,
                c.cooldown.as_secs()
            ),
            format!(
                "Timings: check median {} over {} frames (gate {}); face in position to verdict median {} over {}",
                fmt_ms(median(&core.stats.check_ms)),
                core.stats.check_ms.len(),
                fmt_ms(median(&core.stats.gate_ms)),
                fmt_ms(median(&core.stats.position_to_verdict_ms)),
                core.stats.position_to_verdict_ms.len(),
            ),
        ];
        for l in lines {
            ui.add(egui::Label::new(RichText::new(l).size(20.0)).wrap());
        }
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1} ms"))
}

/// One line of the operator's record list.
pub fn record_line(r: &Value) -> String {
    let s = &r["station"];
    let d = &r["data"];
    let verdict = s["verdict"].as_str().and_then(Verdict::parse).map_or_else(
        || d["type"].as_str().unwrap_or("?").to_string(),
        |v| v.label().to_string(),
    );
    format!(
        "{}  {}  ID {}  attempt {}  kiosk {}",
        d["createdAt"].as_str().unwrap_or("?"),
        verdict,
        s["claimedId"].as_str().unwrap_or("-"),
        s["attempt"]
            .as_u64()
            .map_or("-".to_string(), |a| a.to_string()),
        s["kioskId"].as_str().unwrap_or("-"),
    )
}

/// The operator's one line on the capture quality a record holds (probe and enrolment images).
fn quality_line(record: &Value) -> String {
    let one = |q: &Value| -> String {
        if q.is_null() {
            return "not measured".into();
        }
        let margin = q["quality"]
            .as_f64()
            .map_or(String::new(), |m| format!(", worst margin {m:.2}"));
        let codes: Vec<&str> = q["actions"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if codes.is_empty() {
            format!("passed{margin}")
        } else {
            format!("{}{margin}", codes.join(", "))
        }
    };
    let station = &record["station"];
    let gallery: Vec<String> = station["gallery"]
        .as_array()
        .map(|g| g.iter().map(|g| one(&g["quality"])).collect())
        .unwrap_or_default();
    format!(
        "Quality: probe {}; enrolment {}",
        one(&station["quality"]["probe"]),
        if gallery.is_empty() {
            "-".to_string()
        } else {
            gallery.join(" | ")
        }
    )
}
