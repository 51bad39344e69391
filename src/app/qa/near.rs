//! The pairs nearest the threshold and marking them mislabelled or excluded.

use super::*;
use crate::qa::exclusions::Exclusion;

impl QaScreen {
    pub(super) fn near_ui(&mut self, ui: &mut egui::Ui) {
        let Some(v) = &self.primary else { return };
        if !v.eval.is_labelled() {
            return;
        }
        let t = self.threshold;
        ui.horizontal(|ui| {
            ui.label(RichText::new("Pairs nearest the threshold").strong());
            let l = ui.label("Note for a mark");
            ui.add(egui::TextEdit::singleline(&mut self.note).desired_width(260.0))
                .labelled_by(l.id);
            ui.label(
                RichText::new(format!("marks go to {}", v.eval.exclusions_file.display()))
                    .small()
                    .color(GREY),
            );
        });
        let mut action: Option<(usize, Option<ExclusionReason>)> = None;
        let e = &v.eval;
        ui.columns(2, |cols| {
            for (col, genuine) in cols.iter_mut().zip([true, false]) {
                let near = e.set.nearest(t, NEAR, genuine);
                col.label(
                    RichText::new(if genuine {
                        "genuine (same person)"
                    } else {
                        "impostor (different people)"
                    })
                    .color(if genuine { GREEN } else { RED }),
                );
                egui::ScrollArea::vertical()
                    .id_salt(if genuine {
                        "qa-near-genuine"
                    } else {
                        "qa-near-impostor"
                    })
                    .max_height(260.0)
                    .show(col, |ui| {
                        egui::Grid::new(if genuine { "qa-near-g" } else { "qa-near-i" })
                            .striped(true)
                            .num_columns(4)
                            .show(ui, |ui| {
                                for (i, score) in near {
                                    let p = &e.dataset.pairs[i];
                                    let correct = (score >= t) == genuine;
                                    ui.label(
                                        RichText::new(format!("{score:.4} ({:+.4})", score - t))
                                            .color(if correct {
                                                Color32::PLACEHOLDER
                                            } else {
                                                RED
                                            }),
                                    )
                                    .on_hover_text(
                                        if correct {
                                            "decided right"
                                        } else {
                                            "an error at this threshold"
                                        },
                                    );
                                    ui.label(RichText::new(short(&p.a)).small())
                                        .on_hover_text(&p.a);
                                    ui.label(RichText::new(short(&p.b)).small())
                                        .on_hover_text(&p.b);
                                    ui.horizontal(|ui| {
                                        if ui.small_button("mislabelled").clicked() {
                                            action = Some((i, Some(ExclusionReason::Mislabelled)));
                                        }
                                        if ui.small_button("exclude").clicked() {
                                            action = Some((i, Some(ExclusionReason::Excluded)));
                                        }
                                    });
                                    ui.end_row();
                                }
                            });
                    });
            }
        });
        let excluded: Vec<(usize, &Exclusion)> = e
            .excluded
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.as_ref().map(|x| (i, x)))
            .collect();
        if !excluded.is_empty() {
            ui.collapsing(format!("Excluded pairs ({})", excluded.len()), |ui| {
                egui::Grid::new("qa-excluded")
                    .striped(true)
                    .num_columns(4)
                    .show(ui, |ui| {
                        for (i, x) in excluded.iter().take(500) {
                            ui.label(x.reason.as_str());
                            ui.label(
                                RichText::new(format!("{} | {}", short(&x.a), short(&x.b))).small(),
                            );
                            ui.label(RichText::new(&x.note).small());
                            if ui.small_button("restore").clicked() {
                                action = Some((*i, None));
                            }
                            ui.end_row();
                        }
                    });
            });
        }
        if let Some((i, reason)) = action {
            self.mark(i, reason);
        }
    }

    /// Marks pair `i` (or clears its mark), writes the side file and recomputes the views.
    pub fn mark(&mut self, i: usize, reason: Option<ExclusionReason>) {
        let Some(v) = self.primary.take() else { return };
        let label = v.label;
        let mut eval = v.eval;
        let exclusion = reason.map(|r| Exclusion {
            a: eval.dataset.pairs[i].a.clone(),
            b: eval.dataset.pairs[i].b.clone(),
            reason: r,
            note: self.note.trim().to_string(),
            at: crate::qa::iso_millis(time::OffsetDateTime::now_utc()),
        });
        let result = eval.set_exclusion(i, exclusion);
        self.message = Some(match &result {
            Ok(()) => (
                false,
                match reason {
                    Some(r) => format!(
                        "pair marked {} in {}",
                        r.as_str(),
                        eval.exclusions_file.display()
                    ),
                    None => "pair restored".to_string(),
                },
            ),
            Err(e) => (true, format!("could not write the exclusions file: {e}")),
        });
        self.primary = Some(View::new(eval, label));
        if result.is_ok() {
            if let Some(s) = self.secondary.take() {
                let label = s.label;
                let mut eval = s.eval;
                if let Err(e) = eval.reload_exclusions() {
                    self.message = Some((true, e.to_string()));
                }
                self.secondary = Some(View::new(eval, label));
            }
        }
        self.comparison = None;
    }
}

/// The last two path components.
fn short(p: &str) -> String {
    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
