//! The tables: rates at the threshold, operating points, applying it, unlabelled data, comparison.

use super::*;
use crate::qa::stats::PairedDecision;
use crate::qa::threshold_basis;

impl QaScreen {
    pub(super) fn tables_ui(&mut self, ui: &mut egui::Ui) {
        let Some(v) = &self.primary else { return };
        let (lo, hi) = (v.lo, v.hi);
        let labelled = v.eval.is_labelled();
        ui.label(
            RichText::new(format!(
                "{} — {} pairs ({} genuine, {} impostor, {} without a score, {} excluded); {}",
                v.eval.dataset.name,
                v.eval.set.pairs(),
                v.eval.set.genuine_count(),
                v.eval.set.impostor_count(),
                v.eval.set.fta_pairs(),
                v.eval.excluded_count(),
                v.label
            ))
            .strong(),
        );
        let mut t = self.threshold;
        let margin = (hi - lo) * 0.02;
        let slider = ui.add(
            egui::Slider::new(&mut t, (lo - margin)..=(hi + margin))
                .text("Threshold")
                .fixed_decimals(4)
                .step_by(0.0),
        );
        if slider.changed() {
            self.set_threshold(t);
        }
        let t = self.threshold;
        if !labelled {
            self.unlabelled_ui(ui, t);
            return;
        }

        // Rates at the threshold.
        let Some(v) = self.primary.as_mut() else {
            return;
        };
        let r = v.rates(t).clone();
        ui.label(RichText::new(format!("At threshold {t:.4}")).strong());
        egui::Grid::new("qa-at-threshold")
            .striped(true)
            .num_columns(3)
            .show(ui, |ui| {
                let row = |ui: &mut egui::Ui, name: &str, value: String, explain: &str| {
                    ui.label(RichText::new(name).strong())
                        .on_hover_text(explain);
                    ui.label(value);
                    ui.label(RichText::new(explain).small().color(GREY));
                    ui.end_row();
                };
                row(
                    ui,
                    "FMR",
                    format!(
                        "{} {} ({} of {})",
                        fmt_pct(r.fmr),
                        fmt_ci(r.fmr_ci95),
                        r.false_matches,
                        r.impostor
                    ),
                    "impostor pairs accepted / impostor pairs with a score",
                );
                row(
                    ui,
                    "FNMR",
                    format!(
                        "{} {} ({} of {})",
                        fmt_pct(r.fnmr),
                        fmt_ci(r.fnmr_ci95),
                        r.false_non_matches,
                        r.genuine
                    ),
                    "genuine pairs rejected / genuine pairs with a score",
                );
                row(
                    ui,
                    "FTA",
                    format!(
                        "{} {} ({} of {})",
                        fmt_pct(r.fta),
                        fmt_ci(r.fta_ci95),
                        r.fta_pairs,
                        r.pairs
                    ),
                    "pairs without a score (no face, unreadable) / all pairs",
                );
                row(
                    ui,
                    "FAR",
                    format!("{} {}", fmt_pct(r.far), fmt_ci(r.far_ci95)),
                    "FMR × (1 − FTA)",
                );
                row(
                    ui,
                    "FRR",
                    format!("{} {}", fmt_pct(r.frr), fmt_ci(r.frr_ci95)),
                    "FTA + FNMR × (1 − FTA)",
                );
            });
        ui.label(RichText::new("intervals: exact (Clopper-Pearson) 95 %; pairs that share people are not independent, so they are optimistic").small().color(GREY));

        // EER and FNMR at FMR.
        ui.add_space(6.0);
        ui.label(RichText::new("Operating points on this data").strong());
        let mut set_to = None;
        egui::Grid::new("qa-operating-points")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                ui.label(RichText::new("point").strong());
                ui.label(RichText::new("FNMR").strong());
                ui.label(RichText::new("threshold").strong());
                ui.label("");
                ui.end_row();
                if let Some(e) = &v.eer {
                    ui.label("EER");
                    ui.label(format!(
                        "{} (FVC interval {}–{})",
                        fmt_pct(Some(e.eer)),
                        fmt_pct(Some(e.interval[0])),
                        fmt_pct(Some(e.interval[1]))
                    ));
                    ui.label(format!("{:.4}", e.threshold));
                    if ui.small_button("use").clicked() {
                        set_to = Some((e.threshold, None));
                    }
                    ui.end_row();
                }
                for a in &v.at_fmr {
                    ui.label(format!("FNMR @ FMR {}", stats::fmt_rate(a.target)));
                    match (a.supported, a.fnmr, a.threshold) {
                        (true, Some(f), Some(th)) => {
                            ui.label(format!("{} {}", fmt_pct(Some(f)), fmt_ci(a.fnmr_ci95)));
                            ui.label(format!("{th:.4}"));
                            if ui.small_button("use").clicked() {
                                set_to = Some((th, Some(a.target)));
                            }
                        }
                        _ => {
                            ui.label(RichText::new(stats::NOT_SUPPORTED).color(RED).strong())
                                .on_hover_text(a.reason.clone().unwrap_or_default());
                            ui.label(
                                RichText::new(format!(
                                    "{} impostor pairs < {} (rule of 3)",
                                    a.impostor, a.required_impostors
                                ))
                                .small()
                                .color(GREY),
                            );
                            ui.label("");
                        }
                    }
                    ui.end_row();
                }
            });

        // Target FMR and the guard.
        ui.horizontal(|ui| {
            let target = FMR_TARGETS[self.target];
            egui::ComboBox::from_label("Target FMR")
                .selected_text(stats::fmt_rate(target))
                .show_ui(ui, |ui| {
                    for (i, t) in FMR_TARGETS.iter().enumerate() {
                        ui.selectable_value(&mut self.target, i, stats::fmt_rate(*t));
                    }
                });
            let a = &v.at_fmr[self.target];
            match a.threshold.filter(|_| a.supported) {
                Some(th) => {
                    if ui.button(format!("Set threshold to {th:.4}")).clicked() {
                        set_to = Some((th, Some(a.target)));
                    }
                }
                None => {
                    ui.label(
                        RichText::new(format!(
                            "FMR {}: {} ({} impostor pairs; {} needed)",
                            stats::fmt_rate(a.target),
                            stats::NOT_SUPPORTED,
                            a.impostor,
                            a.required_impostors
                        ))
                        .color(RED),
                    );
                }
            }
        });
        if let Some((th, target)) = set_to {
            self.threshold = th;
            self.from_target = target;
        }

        // Apply.
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let basis = self.primary.as_ref().and_then(|v| {
                threshold_basis(
                    &v.eval,
                    self.threshold,
                    self.from_target,
                    time::OffsetDateTime::now_utc(),
                )
            });
            let apply = ui.add_enabled(basis.is_some(), egui::Button::new("Apply this threshold"));
            if apply.clicked() {
                self.applied = basis.clone();
                self.last_applied = basis;
            }
        });
        if let Some(b) = &self.last_applied {
            ui.label(
                RichText::new(format!("Applied: {}", b.summary()))
                    .small()
                    .color(GREEN),
            );
        }

        self.compare_ui(ui);
    }

    fn unlabelled_ui(&mut self, ui: &mut egui::Ui, t: f64) {
        let Some(v) = &self.primary else { return };
        let e = &v.eval;
        let n = e.unlabelled.len();
        let accepted = n - e.unlabelled.partition_point(|&x| x < t);
        let share = (n > 0).then(|| accepted as f64 / n as f64);
        egui::Grid::new("qa-unlabelled")
            .striped(true)
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("production scores");
                ui.label(format!("{n} ({} without a score)", e.unlabelled_fta));
                ui.end_row();
                ui.label("accepted at this threshold");
                ui.label(format!(
                    "{} {} ({accepted} of {n})",
                    fmt_pct(share),
                    fmt_ci(stats::clopper_pearson(accepted as u64, n as u64))
                ));
                ui.end_row();
                ui.label("rejected lines");
                ui.label(format!(
                    "{} (signature or JSON invalid)",
                    e.dataset.rejected_lines.len()
                ));
                ui.end_row();
            });
        ui.label(
            RichText::new(
                "Production decisions have no ground truth: this is not an FMR or an FNMR.",
            )
            .color(GREY),
        );
    }

    fn compare_ui(&mut self, ui: &mut egui::Ui) {
        let (Some(a), Some(b)) = (&self.primary, &self.secondary) else {
            return;
        };
        let t = self.threshold;
        let key = t.to_bits();
        if self.comparison.as_ref().map(|c| c.0) != Some(key) {
            // B at the threshold that gives it the same FMR as A (or as close below as its data allows).
            let fmr = a.eval.set.fmr(t).unwrap_or(0.0);
            let t2 = stats::threshold_at_fmr_unguarded(&b.eval.set, fmr).unwrap_or(t);
            let decisions = a
                .eval
                .dataset
                .pairs
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    p.same.is_some()
                        && a.eval.excluded[*i].is_none()
                        && b.eval.excluded[*i].is_none()
                })
                .map(|(i, p)| PairedDecision {
                    same: p.same == Some(true),
                    a_accepts: a.eval.scores[i].score.is_some_and(|s| s >= t),
                    b_accepts: b.eval.scores[i].score.is_some_and(|s| s >= t2),
                });
            self.comparison = Some((key, t2, stats::mcnemar(decisions)));
        }
        let Some((_, t2, m)) = &self.comparison else {
            return;
        };
        let (sa, sb) = (&a.eval.set, &b.eval.set);
        ui.add_space(6.0);
        ui.label(RichText::new(format!("Compare {} and {}", a.label, b.label)).strong());
        egui::Grid::new("qa-compare")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                for (label, set, th) in [(&a.label, sa, t), (&b.label, sb, *t2)] {
                    ui.label(label.as_str());
                    ui.label(format!("threshold {th:.4}"));
                    ui.label(format!("FMR {}", fmt_pct(set.fmr(th))));
                    ui.label(format!("FNMR {}", fmt_pct(set.fnmr(th))));
                    ui.end_row();
                }
            });
        ui.label(
            RichText::new(format!(
                "{} is taken at the lowest threshold whose FMR does not exceed {}'s at {t:.4}",
                b.label, a.label
            ))
            .small()
            .color(GREY),
        );
        ui.label(format!(
            "McNemar on {} paired decisions: {} right only with {}, {} right only with {}; exact p = {:.4} (χ² {:.2}, p {:.4})",
            m.pairs, m.a_right_b_wrong, a.label, m.a_wrong_b_right, b.label, m.exact_p, m.chi2, m.chi2_p
        ));
        let verdict = if m.exact_p < 0.05 {
            format!(
                "the difference is significant at 5 %: {} is better here",
                if m.a_right_b_wrong > m.a_wrong_b_right {
                    &a.label
                } else {
                    &b.label
                }
            )
        } else {
            "no significant difference at 5 % on these pairs".to_string()
        };
        ui.label(RichText::new(verdict).strong());
    }
}
