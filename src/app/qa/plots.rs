//! The plots panel: score histograms with the draggable threshold, FMR(t)/FNMR(t), the DET curve.

use super::*;
use egui_plot::{
    Bar, BarChart, GridInput, GridMark, Legend, Line, MarkerShape, Plot, Points, VLine,
};

use crate::qa::stats::{normal_cdf, probit};

impl QaScreen {
    pub(super) fn plots_ui(&mut self, ui: &mut egui::Ui) {
        let Some(v) = &self.primary else { return };
        let t = self.threshold;
        let labelled = v.eval.is_labelled();
        let w = (v.hi - v.lo) / view::BINS as f64;
        let bars = |h: &[f64]| -> Vec<Bar> {
            h.iter()
                .enumerate()
                .filter(|(_, y)| **y > 0.0)
                .map(|(i, y)| Bar::new(v.lo + (i as f64 + 0.5) * w, *y).width(w))
                .collect()
        };
        let mut new_t: Option<f64> = None;
        ui.label(RichText::new("Score distributions: drag to move the threshold").strong());
        let resp = Plot::new("qa-histogram")
            .height(210.0)
            .legend(Legend::default())
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .x_axis_label("score")
            .y_axis_label("share of class")
            .show(ui, |pui| {
                if labelled {
                    pui.bar_chart(
                        BarChart::new(
                            format!("genuine ({})", v.eval.set.genuine_count()),
                            bars(&v.hist_genuine),
                        )
                        .color(GREEN),
                    );
                    pui.bar_chart(
                        BarChart::new(
                            format!("impostor ({})", v.eval.set.impostor_count()),
                            bars(&v.hist_impostor),
                        )
                        .color(RED),
                    );
                } else {
                    pui.bar_chart(
                        BarChart::new(
                            format!("production ({})", v.eval.unlabelled.len()),
                            bars(&v.hist_unlabelled),
                        )
                        .color(GREY),
                    );
                }
                pui.vline(VLine::new("threshold", t).color(BLUE).width(2.5));
                let r = pui.response();
                if r.dragged() || r.clicked() || r.is_pointer_button_down_on() {
                    new_t = pui.pointer_coordinate().map(|p| p.x);
                }
            });
        self.hist_rect = Some(resp.response.rect);

        if labelled {
            let floor = v.log_floor;
            ui.label(RichText::new("FMR(t) and FNMR(t), log scale").strong());
            Plot::new("qa-rates")
                .height(170.0)
                .legend(Legend::default())
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .allow_double_click_reset(false)
                .include_y(floor)
                .include_y(0.0)
                .x_axis_label("threshold")
                .y_axis_formatter(|m, _| fmt_rate_tick(10f64.powf(m.value)))
                .y_grid_spacer(decade_marks)
                .show(ui, |pui| {
                    pui.line(Line::new("FMR", v.fmr_curve.clone()).color(RED).width(1.5));
                    pui.line(
                        Line::new("FNMR", v.fnmr_curve.clone())
                            .color(GREEN)
                            .width(1.5),
                    );
                    pui.vline(VLine::new("threshold", t).color(BLUE).width(2.0));
                    let r = pui.response();
                    if r.dragged() || r.clicked() {
                        new_t = pui.pointer_coordinate().map(|p| p.x);
                    }
                });

            ui.label(
                RichText::new("DET: FNMR against FMR (normal deviate axes); click to pick a point")
                    .strong(),
            );
            let (fx, fy) = v.det_floor;
            let second = self.secondary.as_ref();
            let t2 = self.comparison.as_ref().map(|c| c.1);
            let mut det_pick = None;
            Plot::new("qa-det")
                .height(260.0)
                .legend(Legend::default())
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .allow_double_click_reset(false)
                .include_x(probit(fx))
                .include_x(probit(view::DET_MAX))
                .include_y(probit(fy))
                .include_y(probit(view::DET_MAX))
                .x_axis_label("FMR")
                .y_axis_label("FNMR")
                .x_axis_formatter(|m, _| fmt_rate_tick(normal_cdf(m.value)))
                .y_axis_formatter(|m, _| fmt_rate_tick(normal_cdf(m.value)))
                .x_grid_spacer(probit_marks)
                .y_grid_spacer(probit_marks)
                .label_formatter(|h| {
                    let p = match h {
                        egui_plot::HoverPosition::NearDataPoint { position, .. } => position,
                        egui_plot::HoverPosition::Elsewhere { position } => position,
                    };
                    Some(format!(
                        "FMR {}\nFNMR {}",
                        fmt_pct(Some(normal_cdf(p.x))),
                        fmt_pct(Some(normal_cdf(p.y)))
                    ))
                })
                .show(ui, |pui| {
                    if let Some(s) = second {
                        pui.line(
                            Line::new(s.label.clone(), s.det.clone())
                                .color(ORANGE)
                                .width(1.5),
                        );
                        if let Some(p) = t2.and_then(|t2| s.det_point(t2)) {
                            pui.points(
                                Points::new(format!("{} operating point", s.label), vec![p])
                                    .color(ORANGE)
                                    .radius(5.0)
                                    .shape(MarkerShape::Diamond)
                                    .filled(true),
                            );
                        }
                    }
                    pui.line(
                        Line::new(v.label.clone(), v.det.clone())
                            .color(BLUE)
                            .width(1.8),
                    );
                    if let Some(p) = v.det_point(t) {
                        pui.points(
                            Points::new("operating point", vec![p])
                                .color(BLUE)
                                .radius(5.0)
                                .filled(true),
                        );
                    }
                    if pui.response().clicked() {
                        det_pick = pui.pointer_coordinate().map(|p| [p.x, p.y]);
                    }
                });
            if let Some(p) = det_pick {
                new_t = v.threshold_near_det(p);
            }
        }
        if let Some(t) = new_t {
            let margin = (v.hi - v.lo) * 0.02;
            self.set_threshold(t.clamp(v.lo - margin, v.hi + margin));
        }
    }
}

fn fmt_rate_tick(r: f64) -> String {
    stats::fmt_rate(r)
}

/// Grid marks at round rates on a probit axis.
fn probit_marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 0.8]
        .iter()
        .map(|r| probit(*r))
        .filter(|x| *x >= lo && *x <= hi)
        .map(|value| GridMark {
            value,
            step_size: 1.0,
        })
        .collect()
}

/// Grid marks at whole decades on a log10 axis.
fn decade_marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    (lo.ceil() as i32..=hi.floor() as i32)
        .map(|e| GridMark {
            value: f64::from(e),
            step_size: 1.0,
        })
        .collect()
}
