//! Compare controls (engine, mode, thresholds, Compare, Cross-check) and the verdict: the
//! headline is the station's verdict (VERIFIED / NOT VERIFIED / REVIEW) with its reasons in
//! words, then the per-image scores, liveness and timings; and the cross-check of both engines.
//! MATCH is never the headline: a match with a spoof is NOT VERIFIED.

use eframe::egui::{self, RichText, Stroke, Vec2};

use super::state::{CrossCheck, EngineChoice, LastResult, Settings};
use super::theme;
use super::worker::CompareDone;
use super::Command;
use crate::api::SearchMode;
use crate::engine::verdict::{Judgement, Reason, Verdict};
use crate::engine::{CompareOutcome, GalleryResult, Timings};
use crate::vision::liveness::{LivenessResult, LivenessVerdict};

/// Why each button is disabled, if it is.
pub struct Blockers {
    pub compare: Option<&'static str>,
    pub cross_check: Option<&'static str>,
    pub running: bool,
}

/// What the compare panel shows and edits.
pub struct CompareView<'a> {
    pub settings: &'a mut Settings,
    pub token: &'a mut String,
    pub reveal_token: &'a mut bool,
    pub blockers: Blockers,
    pub last: Option<&'a LastResult>,
    pub cross: Option<&'a CrossCheck>,
    /// The panel's width (points): rows are fitted to it, so that text never widens the panel.
    pub width: f32,
}

pub fn show(ui: &mut egui::Ui, v: &mut CompareView<'_>, out: &mut Vec<Command>) {
    ui.heading("Compare");
    engine_selector(ui, v, out);
    ui.horizontal(|ui| {
        ui.label("Mode");
        for mode in [SearchMode::Fast, SearchMode::Accurate] {
            let c = Command::SetMode(mode);
            if ui
                .selectable_label(v.settings.mode == mode, c.text())
                .on_hover_text(c.description())
                .clicked()
            {
                out.push(c);
            }
        }
        let _ = Command::ResetThresholds.button(ui, None, out);
    });
    ui.add(
        egui::Slider::new(&mut v.settings.compare_threshold, 0.0..=1.0)
            .text("compare threshold")
            // Calibrated scores crowd near 1 (FAST's default is 0.993): two decimals would hide it.
            .fixed_decimals(4)
            // `Always` rounds the stored value to the shown decimals on every frame (with two,
            // FAST's 0.993 became 0.99: an operator's threshold); a QA threshold has more.
            .clamping(egui::SliderClamping::Edits),
    );
    ui.horizontal(|ui| {
        ui.checkbox(&mut v.settings.check_liveness, "check liveness");
        ui.add_enabled(
            v.settings.check_liveness,
            egui::Slider::new(&mut v.settings.liveness_threshold, 0.0..=1.0)
                .text("liveness threshold")
                .clamping(egui::SliderClamping::Edits)
                .fixed_decimals(2),
        );
    });
    ui.horizontal_wrapped(|ui| {
        let big = egui::Button::new(RichText::new(Command::Compare.text()).size(18.0))
            .min_size(Vec2::new(140.0, 32.0));
        let _ = Command::Compare.button_with(ui, big, v.blockers.compare, out);
        let _ = Command::CrossCheck.button(ui, v.blockers.cross_check, out);
        if v.blockers.running {
            ui.spinner();
            ui.label("comparing…");
        } else if let Some(why) = v.blockers.compare {
            ui.weak(why);
        }
    });
    ui.add_space(8.0);
    if let Some(last) = v.last {
        result(ui, last, v.width);
    }
    if let Some(cross) = v.cross {
        ui.separator();
        cross_check(ui, cross);
    }
}

/// Local / Remote, and for Remote the service's URL and token (masked unless revealed).
fn engine_selector(ui: &mut egui::Ui, v: &mut CompareView<'_>, out: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label("Engine");
        for choice in [EngineChoice::Local, EngineChoice::Remote] {
            let c = Command::SetEngine(choice);
            if ui
                .selectable_label(v.settings.engine == choice, c.text())
                .on_hover_text(c.description())
                .clicked()
            {
                out.push(c);
            }
        }
    });
    if v.settings.engine != EngineChoice::Remote {
        return;
    }
    ui.horizontal(|ui| {
        let label = ui.label("remote URL");
        ui.add(
            egui::TextEdit::singleline(&mut v.settings.remote_url)
                .desired_width(260.0)
                .hint_text(crate::engine::remote::DEFAULT_BASE_URL),
        )
        .labelled_by(label.id);
    });
    ui.horizontal(|ui| {
        let label = ui.label("API token");
        ui.add(
            egui::TextEdit::singleline(v.token)
                .password(!*v.reveal_token)
                .desired_width(260.0)
                .hint_text("bearer token (kept in memory only)"),
        )
        .labelled_by(label.id);
        let (text, hover) = if *v.reveal_token {
            ("Hide", "Mask the token again")
        } else {
            ("Show", "Show the token's text (it is never stored)")
        };
        if ui.button(text).on_hover_text(hover).clicked() {
            *v.reveal_token = !*v.reveal_token;
        }
    });
}

/// The verdict as a filled headline, and its reasons in words under it.
pub fn headline(ui: &mut egui::Ui, j: &Judgement) {
    let colour = theme::verdict(ui.visuals(), j.verdict);
    egui::Frame::new()
        .fill(colour)
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(16, 8))
        .show(ui, |ui| {
            ui.label(
                RichText::new(j.verdict.label())
                    .size(34.0)
                    .strong()
                    .color(theme::ON_FILL),
            );
        });
    for r in &j.reasons {
        ui.label(RichText::new(r.words()).size(16.0).strong().color(colour));
    }
}

fn error_headline(ui: &mut egui::Ui, msg: &str) {
    egui::Frame::new()
        .fill(theme::fail(ui.visuals()))
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(16, 8))
        .show(ui, |ui| {
            ui.label(
                RichText::new("ERROR")
                    .size(34.0)
                    .strong()
                    .color(theme::ON_FILL),
            );
        });
    ui.add(egui::Label::new(msg).wrap());
}

fn result(ui: &mut egui::Ui, last: &LastResult, width: f32) {
    match last {
        LastResult::Failed(msg, kind) => match kind.and_then(|k| k.judgement()) {
            // The face rule refused the probe: a verdict, with the rule as its reason.
            Some(j) => {
                headline(ui, &j);
                ui.add(egui::Label::new(msg.as_str()).wrap());
            }
            None => error_headline(ui, msg),
        },
        LastResult::Done {
            done,
            gallery_names,
            shown_after_ms,
            ..
        } => outcome(ui, done, gallery_names, *shown_after_ms, width),
    }
}

fn outcome(
    ui: &mut egui::Ui,
    done: &CompareDone,
    names: &[String],
    shown_after_ms: f64,
    width: f32,
) {
    let o = &done.outcome;
    let verdict = done.judgement.verdict;
    headline(ui, &done.judgement);
    ui.add_space(4.0);
    ui.weak(format!("engine: {}", o.engine));
    ui.label(
        RichText::new(format!(
            "score {:.4} (threshold {:.4}, {})",
            o.score,
            o.threshold,
            o.search_mode.as_str()
        ))
        .size(16.0),
    );
    for g in &o.gallery {
        score_row(ui, &name_of(names, g.index), g, o.threshold, verdict, width);
    }
    liveness_line(ui, o.liveness.as_ref(), verdict);
    ui.label(timing_text(&o.timings, shown_after_ms));
}

fn name_of(names: &[String], index: usize) -> String {
    names
        .get(index)
        .cloned()
        .unwrap_or_else(|| format!("gallery[{index}]"))
}

/// What one gallery image got, in words: its score, or why it has none.
pub fn score_text(g: &GalleryResult) -> String {
    match (g.score, &g.error) {
        (Some(s), _) => format!("{s:.4}"),
        (None, Some(_)) => "unreadable".into(),
        (None, None) if !g.reported => "not reported by the service".into(),
        (None, None) => "no face".into(),
    }
}

/// `name` shortened in the middle to at most `max` characters ("a_very…name.jpg").
pub fn ellipsise(name: &str, max: usize) -> String {
    let n = name.chars().count();
    if n <= max || max < 5 {
        return name.to_string();
    }
    let keep = max - 1;
    let head: String = name.chars().take(keep / 2).collect();
    let tail: String = name.chars().skip(n - (keep - keep / 2)).collect();
    format!("{head}…{tail}")
}

/// A bar of the score with a tick at the threshold, then "name: score". The bar narrows and the
/// name is ellipsised (full name on hover) so that the score always stays on screen.
fn score_row(
    ui: &mut egui::Ui,
    name: &str,
    g: &GalleryResult,
    threshold: f64,
    verdict: Verdict,
    width: f32,
) {
    let text = score_text(g);
    ui.horizontal(|ui| {
        let bar_w = (width * 0.4).clamp(60.0, 220.0);
        let (rect, _) = ui.allocate_exact_size(Vec2::new(bar_w, 16.0), egui::Sense::hover());
        let visuals = ui.visuals().clone();
        let p = ui.painter();
        p.rect_filled(rect, 3.0, visuals.extreme_bg_color);
        if let Some(s) = g.score {
            let mut fill = rect;
            fill.set_width(rect.width() * s.clamp(0.0, 1.0) as f32);
            // Green only for a match on a VERIFIED screen; a match beside a spoof is neutral.
            let colour = if s < threshold {
                theme::fail(&visuals)
            } else {
                theme::passed_check(&visuals, Some(verdict))
            };
            p.rect_filled(fill, 3.0, colour);
        }
        let x = rect.min.x + rect.width() * threshold.clamp(0.0, 1.0) as f32;
        p.line_segment(
            [
                egui::pos2(x, rect.min.y - 2.0),
                egui::pos2(x, rect.max.y + 2.0),
            ],
            Stroke::new(2.0, visuals.strong_text_color()),
        );
        // About 7.5 px a character at the body size; the score's own text is never cut.
        let room = ((width - bar_w - 24.0).max(0.0) / 7.5) as usize;
        let max_name = room.saturating_sub(text.chars().count() + 2).max(8);
        let shown = ellipsise(name, max_name);
        let label = ui.add(egui::Label::new(format!("{shown}: {text}")).wrap());
        if shown != name {
            label.on_hover_text(name);
        } else if let Some(e) = &g.error {
            label.on_hover_text(e.as_str());
        }
    });
}

/// "P(real) 0.930 (pass > 0.60, context 2.7x)"; the context is left out when the engine did not
/// measure it (a remote service).
pub fn liveness_detail(l: &LivenessResult) -> String {
    if l.context > 0.0 {
        format!(
            "P(real) {:.3} (pass > {:.2}, context {:.1}x)",
            l.score, l.min_score, l.context
        )
    } else {
        format!("P(real) {:.3} (pass > {:.2})", l.score, l.min_score)
    }
}

fn liveness_line(ui: &mut egui::Ui, liveness: Option<&LivenessResult>, verdict: Verdict) {
    let Some(l) = liveness else {
        ui.label("liveness: not checked");
        return;
    };
    let colour = match l.verdict {
        LivenessVerdict::Live => theme::passed_check(ui.visuals(), Some(verdict)),
        LivenessVerdict::Spoof => theme::fail(ui.visuals()),
        LivenessVerdict::CannotJudge => theme::review(ui.visuals()),
    };
    ui.horizontal_wrapped(|ui| {
        ui.label("liveness:");
        ui.label(RichText::new(l.verdict.label()).color(colour).strong());
        ui.label(liveness_detail(l));
    });
}

/// The stage timings the engine measured, and click to result. A remote service reports no
/// stage times (all zero): then only the round trip is shown.
pub fn timing_text(t: &Timings, shown_after_ms: f64) -> String {
    let stages = t.decode_ms + t.detect_ms + t.embed_ms + t.liveness_ms;
    if stages > 0.0 {
        format!(
            "decode {:.1} ms · detect {:.1} ms · embed {:.1} ms · liveness {:.1} ms · engine {:.1} ms · click to result {:.0} ms",
            t.decode_ms, t.detect_ms, t.embed_ms, t.liveness_ms, t.total_ms, shown_after_ms
        )
    } else {
        format!(
            "service round trip {:.0} ms · click to result {:.0} ms",
            t.total_ms, shown_after_ms
        )
    }
}

/// The two engines' verdicts and what each reported per gallery image, side by side.
fn cross_check(ui: &mut egui::Ui, cross: &CrossCheck) {
    ui.label(RichText::new("Cross-check: local vs remote").strong());
    if cross.running() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("cross-checking…");
        });
    }
    let side = |r: &Option<Result<Box<CompareDone>, String>>| -> Result<(CompareOutcome, Judgement), String> {
        match r {
            None => Err("running…".to_string()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(d)) => Ok((d.outcome.clone(), d.judgement.clone())),
        }
    };
    let (local, remote) = (side(&cross.local), side(&cross.remote));
    let score = |o: &Result<(CompareOutcome, Judgement), String>, index: usize| match o {
        Ok((o, _)) => o
            .gallery
            .iter()
            .find(|g| g.index == index)
            .map_or_else(|| "—".to_string(), score_text),
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
                ui.label(ellipsise(&name_of(&cross.gallery_names, index), 28));
                ui.label(format!("local {}", score(&local, index)));
                ui.label(format!("remote {}", score(&remote, index)));
                ui.end_row();
            }
            ui.label("best score");
            for (which, o) in [("local", &local), ("remote", &remote)] {
                match o {
                    Ok((o, _)) => ui.label(format!("{which} best {:.4}", o.score)),
                    Err(_) => ui.label(format!("{which} —")),
                };
            }
            ui.end_row();
            ui.label("verdict");
            for (which, o) in [("local", &local), ("remote", &remote)] {
                match o {
                    Ok((_, j)) => {
                        let colour = theme::verdict(ui.visuals(), j.verdict);
                        ui.label(
                            RichText::new(format!("{which} {}", j.verdict.label()))
                                .color(colour)
                                .strong(),
                        )
                    }
                    Err(_) => ui.label(format!("{which} —")),
                };
            }
            ui.end_row();
        });
    for (which, o) in [("local", &local), ("remote", &remote)] {
        if let Ok((_, j)) = o {
            let words: Vec<&str> = j.reasons.iter().map(Reason::words).collect();
            if !words.is_empty() {
                ui.label(format!("{which}: {}", words.join("; ")));
            }
        }
        if let (Err(e), false) = (o, cross.running()) {
            ui.colored_label(theme::fail(ui.visuals()), format!("{which} engine: {e}"));
        }
    }
    if cross.disagree() {
        ui.colored_label(
            theme::review(ui.visuals()),
            "The engines disagree on the verdict.",
        );
    } else if !cross.running() && local.is_ok() && remote.is_ok() {
        // Agreement is not approval: drawn neutral, whatever the verdict.
        ui.label("The engines agree.");
    }
    ui.weak("A cross-check is not a decision: it is not signed or logged.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shortened_in_the_middle() {
        assert_eq!(ellipsise("short.png", 20), "short.png");
        let s = ellipsise("a_very_long_enrolment_photo_name.jpg", 16);
        assert_eq!(s.chars().count(), 16);
        assert!(s.starts_with("a_very_") && s.ends_with("me.jpg"), "{s}");
    }

    #[test]
    fn remote_timings_hide_the_stages_it_did_not_report() {
        let t = Timings {
            total_ms: 120.0,
            ..Timings::default()
        };
        assert_eq!(
            timing_text(&t, 130.0),
            "service round trip 120 ms · click to result 130 ms"
        );
        let l = LivenessResult {
            score: 0.9,
            verdict: LivenessVerdict::Live,
            context: 0.0,
            min_score: 0.6,
        };
        assert!(!liveness_detail(&l).contains("context"));
    }
}

/// The panel drawn alone (no station, no worker): it needs only what it shows.
#[cfg(test)]
mod panel_alone {
    use super::*;
    use crate::app::state::Settings;
    use crate::engine::verdict::{judge, ReviewBand};
    use crate::engine::{Decision, ModelRef};
    use egui_kittest::kittest::Queryable;

    fn outcome(score: f64, live: bool) -> CompareOutcome {
        CompareOutcome {
            engine: "local".into(),
            search_mode: SearchMode::Fast,
            score,
            threshold: 0.62,
            threshold_basis: "test".into(),
            decision: if score >= 0.62 {
                Decision::Match
            } else {
                Decision::NoMatch
            },
            probe_sha256: String::new(),
            probe_face: None,
            probe_faces_found: 1,
            gallery: vec![GalleryResult {
                index: 0,
                sha256: String::new(),
                faces_found: 1,
                face: None,
                score: Some(score),
                distance: None,
                passed: Some(score >= 0.62),
                error: None,
                reported: true,
                recognisers: Vec::new(),
            }],
            liveness: Some(LivenessResult {
                score: if live { 0.9 } else { 0.2 },
                verdict: if live {
                    LivenessVerdict::Live
                } else {
                    LivenessVerdict::Spoof
                },
                context: 2.5,
                min_score: 0.6,
            }),
            passed: false,
            timings: Timings::default(),
            models: Vec::<ModelRef>::new(),
            remote: None,
            quality: None,
        }
    }

    #[test]
    fn a_spoof_beside_a_match_draws_not_verified_and_never_match() {
        let o = outcome(0.93, false);
        let judgement = judge(&o, &ReviewBand::default_for(SearchMode::Fast));
        let last = LastResult::Done {
            done: Box::new(CompareDone {
                outcome: o,
                judgement,
                record: Err("not recorded".into()),
                signature_valid: false,
                click_to_result_ms: 0.0,
            }),
            gallery_ids: vec![1],
            gallery_names: vec!["id.png".into()],
            shown_after_ms: 0.0,
        };
        let mut settings = Settings::default();
        let (mut token, mut reveal) = (String::new(), false);
        let mut out = Vec::new();
        let mut h = egui_kittest::Harness::new_ui(|ui| {
            show(
                ui,
                &mut CompareView {
                    settings: &mut settings,
                    token: &mut token,
                    reveal_token: &mut reveal,
                    blockers: Blockers {
                        compare: None,
                        cross_check: None,
                        running: false,
                    },
                    last: Some(&last),
                    cross: None,
                    width: 600.0,
                },
                &mut out,
            )
        });
        h.run();
        h.get_by_label("NOT VERIFIED");
        h.get_by_label("SPOOF: liveness failed");
        assert!(h.query_by_label("MATCH").is_none());
        h.get_by_role_and_label(egui::accesskit::Role::Button, "Compare")
            .click();
        h.run();
        drop(h);
        assert!(out.contains(&Command::Compare));
    }
}
