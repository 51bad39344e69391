//! Compare controls (engine, mode, thresholds, Compare, Cross-check) and the result: verdict,
//! per-image scores, liveness, timings; and the cross-check of the two engines side by side.

use eframe::egui::{self, Color32, RichText, Stroke, Vec2};

use super::state::{Command, CrossCheck, EngineChoice, EngineErrorKind, LastResult};
use super::StationApp;
use crate::api::SearchMode;
use crate::engine::Decision;

pub const GREEN: Color32 = Color32::from_rgb(40, 170, 80);
pub const RED: Color32 = Color32::from_rgb(200, 50, 50);
pub const AMBER: Color32 = Color32::from_rgb(210, 150, 30);

pub fn show(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.heading("Compare");
    engine_selector(app, ui);
    ui.horizontal(|ui| {
        ui.label("Mode");
        for mode in [SearchMode::Fast, SearchMode::Accurate] {
            if ui
                .selectable_label(app.settings.mode == mode, mode.as_str())
                .clicked()
            {
                app.push(Command::SetMode(mode));
            }
        }
        if ui.button("Default thresholds").clicked() {
            app.push(Command::ResetThresholds);
        }
    });
    ui.add(
        egui::Slider::new(&mut app.settings.compare_threshold, 0.0..=1.0)
            .text("compare threshold")
            .fixed_decimals(2),
    );
    ui.horizontal(|ui| {
        ui.checkbox(&mut app.settings.check_liveness, "check liveness");
        ui.add_enabled(
            app.settings.check_liveness,
            egui::Slider::new(&mut app.settings.liveness_threshold, 0.0..=1.0)
                .text("liveness threshold")
                .fixed_decimals(2),
        );
    });
    ui.horizontal(|ui| {
        let blocker = app.compare_blocker();
        let button = ui
            .add_enabled(
                blocker.is_none(),
                egui::Button::new(RichText::new("Compare").size(18.0))
                    .min_size(Vec2::new(140.0, 32.0)),
            )
            .on_hover_text("Enter");
        let button = match blocker {
            Some(why) => button.on_disabled_hover_text(why),
            None => button,
        };
        if button.clicked() {
            app.push(Command::Compare);
        }
        let cross = ui
            .add_enabled(blocker.is_none(), egui::Button::new("Cross-check"))
            .on_hover_text("The same probe and gallery through the local and the remote engine");
        if cross.clicked() {
            app.push(Command::CrossCheck);
        }
        if app.compare_running() || app.cross_check_running() {
            ui.spinner();
            ui.label("comparing…");
        } else if let Some(why) = blocker {
            ui.weak(why);
        }
    });
    ui.add_space(8.0);
    result(app, ui);
    if let Some(cross) = &app.cross {
        ui.separator();
        cross_check(app, cross, ui);
    }
}

/// Local / Remote, and for Remote the service's URL and token (the token field masks its text).
fn engine_selector(app: &mut StationApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label("Engine");
        for (choice, name) in [
            (EngineChoice::Local, "Local"),
            (EngineChoice::Remote, "Remote"),
        ] {
            if ui
                .selectable_label(app.settings.engine == choice, name)
                .clicked()
            {
                app.push(Command::SetEngine(choice));
            }
        }
    });
    if app.settings.engine == EngineChoice::Remote {
        ui.horizontal(|ui| {
            let label = ui.label("remote URL");
            ui.add(
                egui::TextEdit::singleline(&mut app.settings.remote_url)
                    .desired_width(260.0)
                    .hint_text(crate::engine::remote::DEFAULT_BASE_URL),
            )
            .labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            let label = ui.label("API token");
            ui.add(
                egui::TextEdit::singleline(&mut app.remote_token)
                    .password(true)
                    .desired_width(260.0)
                    .hint_text("bearer token (kept in memory only)"),
            )
            .labelled_by(label.id);
        });
    }
}

fn decision_text(d: Decision) -> &'static str {
    match d {
        Decision::Match => "MATCH",
        Decision::NoMatch => "NO MATCH",
        Decision::NoFace => "NO FACE",
    }
}

/// The two engines' scores per gallery image and their decisions, side by side.
fn cross_check(app: &StationApp, cross: &CrossCheck, ui: &mut egui::Ui) {
    ui.label(RichText::new("Cross-check: local vs remote").strong());
    if cross.running() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("cross-checking…");
        });
    }
    let side = |r: &Option<Result<Box<super::worker::CompareDone>, String>>| match r {
        None => Err("running…".to_string()),
        Some(Err(e)) => Err(e.clone()),
        Some(Ok(d)) => Ok(d.outcome.clone()),
    };
    let (local, remote) = (side(&cross.local), side(&cross.remote));
    let name = |index: usize| {
        cross
            .gallery_ids
            .get(index)
            .and_then(|id| app.gallery.iter().find(|it| it.id == *id))
            .map_or_else(|| format!("gallery[{index}]"), |it| it.name.clone())
    };
    let score = |o: &Result<crate::engine::CompareOutcome, String>, index: usize| match o {
        Ok(o) => match o
            .gallery
            .iter()
            .find(|g| g.index == index)
            .and_then(|g| g.score)
        {
            Some(s) => format!("{s:.3}"),
            None => "no face".to_string(),
        },
        Err(_) => "—".to_string(),
    };
    egui::Grid::new("cross-check")
        .striped(true)
        .num_columns(3)
        .show(ui, |ui| {
            ui.strong("gallery image");
            ui.strong("local");
            ui.strong("remote");
            ui.end_row();
            for index in 0..cross.gallery_ids.len() {
                ui.label(name(index));
                ui.label(format!("local {}", score(&local, index)));
                ui.label(format!("remote {}", score(&remote, index)));
                ui.end_row();
            }
            ui.label("decision");
            for (which, o) in [("local", &local), ("remote", &remote)] {
                match o {
                    Ok(o) => ui.label(format!("{which} {}", decision_text(o.decision))),
                    Err(_) => ui.label(format!("{which} —")),
                };
            }
            ui.end_row();
        });
    for (which, o) in [("local", &local), ("remote", &remote)] {
        if let (Err(e), false) = (o, cross.running()) {
            ui.colored_label(RED, format!("{which} engine: {e}"));
        }
    }
    if cross.disagree() {
        ui.colored_label(AMBER, "The engines disagree on the decision.");
    } else if !cross.running() && local.is_ok() && remote.is_ok() {
        ui.colored_label(GREEN, "The engines agree.");
    }
    ui.weak("A cross-check is not a decision: it is not signed or logged.");
}

fn verdict(ui: &mut egui::Ui, text: &str, colour: Color32, detail: &str) {
    egui::Frame::new()
        .fill(colour)
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(16, 8))
        .show(ui, |ui| {
            ui.label(
                RichText::new(text)
                    .size(34.0)
                    .strong()
                    .color(Color32::WHITE),
            );
        });
    if !detail.is_empty() {
        ui.label(detail);
    }
}

fn result(app: &mut StationApp, ui: &mut egui::Ui) {
    let Some(last) = &app.last else { return };
    match last {
        LastResult::Failed(msg, kind) => match kind {
            Some(EngineErrorKind::ProbeNoFace) => verdict(ui, "NO FACE", AMBER, msg),
            Some(EngineErrorKind::ProbeSeveralFaces) => verdict(ui, "SEVERAL FACES", AMBER, msg),
            _ => verdict(ui, "ERROR", RED, msg),
        },
        LastResult::Done {
            done,
            gallery_ids,
            shown_after_ms,
        } => {
            let o = &done.outcome;
            let (text, colour) = match o.decision {
                Decision::Match => ("MATCH", GREEN),
                Decision::NoMatch => ("NO MATCH", RED),
                Decision::NoFace => ("NO FACE", AMBER),
            };
            let detail = match o.decision {
                Decision::NoFace => "no gallery image holds a usable face".to_string(),
                _ => String::new(),
            };
            verdict(ui, text, colour, &detail);
            ui.weak(format!("engine: {}", o.engine));
            ui.label(
                RichText::new(format!(
                    "score {:.3} (threshold {:.2}, {})",
                    o.score,
                    o.threshold,
                    o.search_mode.as_str()
                ))
                .size(16.0),
            );
            for g in &o.gallery {
                let name = gallery_ids
                    .get(g.index)
                    .and_then(|id| app.gallery.iter().find(|it| it.id == *id))
                    .map_or_else(|| format!("gallery[{}]", g.index), |it| it.name.clone());
                score_bar(ui, &name, g.score, o.threshold);
            }
            match &o.liveness {
                None => {
                    ui.label("liveness: not checked");
                }
                Some(l) => {
                    let (v, c) = match l.passed() {
                        Some(true) => ("LIVE (pass)", GREEN),
                        Some(false) => ("SPOOF (fail)", RED),
                        None => ("cannot judge", AMBER),
                    };
                    ui.horizontal(|ui| {
                        ui.label("liveness:");
                        ui.label(RichText::new(v).color(c).strong());
                        ui.label(format!(
                            "P(real) {:.3} (pass > {:.2}, context {:.1}x)",
                            l.score, l.min_score, l.context
                        ));
                    });
                }
            }
            let t = &o.timings;
            ui.label(
                RichText::new(format!(
                    "decode {:.1} ms · detect {:.1} ms · embed {:.1} ms · liveness {:.1} ms · engine {:.1} ms · click to result {:.0} ms",
                    t.decode_ms, t.detect_ms, t.embed_ms, t.liveness_ms, t.total_ms, shown_after_ms
                ))
                .small(),
            );
            if o.passed {
                ui.colored_label(GREEN, "passed");
            } else {
                ui.colored_label(RED, "not passed");
            }
        }
    }
}

/// A bar of the score with a tick at the threshold.
fn score_bar(ui: &mut egui::Ui, name: &str, score: Option<f64>, threshold: f64) {
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(Vec2::new(220.0, 16.0), egui::Sense::hover());
        let p = ui.painter();
        p.rect_filled(rect, 3.0, ui.visuals().extreme_bg_color);
        if let Some(s) = score {
            let mut fill = rect;
            fill.set_width(rect.width() * s.clamp(0.0, 1.0) as f32);
            p.rect_filled(fill, 3.0, if s >= threshold { GREEN } else { RED });
        }
        let x = rect.min.x + rect.width() * threshold.clamp(0.0, 1.0) as f32;
        p.line_segment(
            [
                egui::pos2(x, rect.min.y - 2.0),
                egui::pos2(x, rect.max.y + 2.0),
            ],
            Stroke::new(2.0, ui.visuals().strong_text_color()),
        );
        match score {
            Some(s) => ui.label(format!("{name}: {s:.3}")),
            None => ui.label(format!("{name}: no face")),
        };
    });
}
