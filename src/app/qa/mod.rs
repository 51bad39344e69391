//! The threshold-QA screen: a QA person's own pairs scored in the background (progress, cancel),
//! the genuine and impostor histograms with a draggable threshold, FMR(t)/FNMR(t), the DET curve
//! with the operating point, EER and FNMR at FMR 1e-2/1e-3/1e-4 with the rule-of-3 guard, every
//! rate at the threshold with exact 95 % intervals and counts, the pairs nearest the threshold
//! (mark one mislabelled or excluded: the side file is written and the rates follow), FAST vs
//! ACCURATE compared (overlaid DETs, McNemar), and "Apply this threshold", which produces the
//! [`ThresholdBasis`] the station records with a threshold change (see [`QaScreen::take_applied`]).
//!
//! Self-contained: the station embeds it with `QaScreen::new(paths)` and calls
//! [`QaScreen::ui`] inside any panel; it needs nothing else from the station.

mod job;
mod view;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Instant;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{
    Bar, BarChart, GridInput, GridMark, Legend, Line, MarkerShape, Plot, Points, VLine,
};

use job::Job;
pub use job::{ScoreRequest, SourceKind};
pub use view::View;

use crate::api::SearchMode;
use crate::paths::StationPaths;
use crate::qa::exclusions::{Exclusion, ExclusionReason};
use crate::qa::input::ImpostorChoice;
use crate::qa::stats::{self, normal_cdf, probit, McNemar, PairedDecision, FMR_TARGETS};
use crate::qa::{threshold_basis, Evaluation, ThresholdBasis, ThresholdRule};

const GREEN: Color32 = Color32::from_rgb(40, 150, 70);
const RED: Color32 = Color32::from_rgb(205, 50, 50);
const BLUE: Color32 = Color32::from_rgb(40, 90, 220);
const ORANGE: Color32 = Color32::from_rgb(230, 140, 20);
const GREY: Color32 = Color32::from_rgb(120, 120, 120);
/// UI times kept (the last N frames).
const FRAME_TIMES: usize = 2_000;
/// Pairs listed each side of the threshold.
const NEAR: usize = 20;

/// "1.234%" (or "n/a").
pub fn fmt_pct(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("{:.3}%", v * 100.0),
        None => "n/a".into(),
    }
}

/// "[0.002%, 0.371%]" (or "[n/a]").
pub fn fmt_ci(c: Option<[f64; 2]>) -> String {
    match c {
        Some([lo, hi]) => format!("[{}, {}]", fmt_pct(Some(lo)), fmt_pct(Some(hi))),
        None => "[n/a]".into(),
    }
}

/// The form of the input row.
#[derive(Debug, Clone)]
pub struct Form {
    pub kind: SourceKind,
    pub input: String,
    pub root: String,
    pub source_prefix: String,
    pub group_column: String,
    pub impostor_sample: String,
    pub seed: String,
    /// Exclusions file (empty: `<input>.qa-exclusions.json` beside the input).
    pub exclusions: String,
    pub mode: SearchMode,
    pub compare: bool,
    pub threads: usize,
    /// Descriptor cache folder (`None`: compute every descriptor); shared with `eval` and `qa`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Form {
    fn default() -> Self {
        Self {
            kind: SourceKind::PairsCsv,
            input: String::new(),
            root: String::new(),
            source_prefix: String::new(),
            group_column: String::new(),
            impostor_sample: String::new(),
            seed: "0".into(),
            exclusions: String::new(),
            mode: SearchMode::Fast,
            compare: false,
            threads: 1,
            cache_dir: crate::eval::cache::default_dir(),
        }
    }
}

impl Form {
    fn request(&self) -> Result<ScoreRequest, String> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let input = opt(&self.input).ok_or("choose an input first")?;
        let impostors = match opt(&self.impostor_sample) {
            Some(n) => ImpostorChoice::Sample {
                n: n.parse()
                    .map_err(|_| format!("impostor sample `{n}` is not a count"))?,
                seed: self
                    .seed
                    .trim()
                    .parse()
                    .map_err(|_| format!("seed `{}` is not a number", self.seed))?,
            },
            None => ImpostorChoice::All,
        };
        Ok(ScoreRequest {
            kind: self.kind,
            input: PathBuf::from(input),
            root: opt(&self.root).map(PathBuf::from),
            source_prefix: opt(&self.source_prefix),
            group_column: opt(&self.group_column),
            impostors,
            exclusions: opt(&self.exclusions).map(PathBuf::from),
            mode: self.mode,
            compare: self.compare && self.kind != SourceKind::AuditLog,
            threads: self.threads,
            cache_dir: self.cache_dir.clone(),
        })
    }
}

/// The QA screen.
pub struct QaScreen {
    paths: StationPaths,
    pub form: Form,
    job: Option<Job>,
    primary: Option<View>,
    secondary: Option<View>,
    threshold: f64,
    /// Index into `FMR_TARGETS` of the target shown and used by "Set to target".
    target: usize,
    /// The target the current threshold was set from (cleared when the threshold is moved).
    from_target: Option<f64>,
    note: String,
    applied: Option<ThresholdBasis>,
    last_applied: Option<ThresholdBasis>,
    message: Option<(bool, String)>,
    comparison: Option<(u64, f64, McNemar)>,
    hist_rect: Option<egui::Rect>,
    ui_ms: VecDeque<f64>,
}

impl QaScreen {
    pub fn new(paths: StationPaths) -> Self {
        Self {
            paths,
            form: Form::default(),
            job: None,
            primary: None,
            secondary: None,
            threshold: 0.5,
            target: 1,
            from_target: None,
            note: String::new(),
            applied: None,
            last_applied: None,
            message: None,
            comparison: None,
            hist_rect: None,
            ui_ms: VecDeque::new(),
        }
    }

    /// Shows an evaluation made elsewhere (a CLI run, tests, synthetic data), with an optional
    /// second configuration for the comparison. The threshold starts at the target FMR's when the
    /// data supports it, else at the production default.
    pub fn load(&mut self, primary: Evaluation, secondary: Option<Evaluation>) {
        let label = |e: &Evaluation| match e.search_mode {
            Some(m) => m.as_str().to_string(),
            None => e.dataset.name.clone(),
        };
        let (t, _) = primary.choose_threshold(ThresholdRule::AtFmr(FMR_TARGETS[self.target]));
        self.threshold = t;
        self.from_target = None;
        self.secondary = secondary.map(|e| {
            let l = label(&e);
            View::new(e, l)
        });
        let l = label(&primary);
        self.primary = Some(View::new(primary, l));
        self.comparison = None;
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn set_threshold(&mut self, t: f64) {
        if t.is_finite() {
            self.threshold = t;
            self.from_target = None;
        }
    }

    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.primary.as_ref().map(|v| &v.eval)
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some()
    }

    /// Asks the running job to stop (it ends before the next image).
    pub fn cancel(&mut self) {
        if let Some(j) = &self.job {
            j.cancel();
        }
    }

    /// The basis of the threshold the QA person applied, once (for the station's settings and
    /// its signed configuration record).
    pub fn take_applied(&mut self) -> Option<ThresholdBasis> {
        self.applied.take()
    }

    /// The last applied basis (stays shown on the screen).
    pub fn last_applied(&self) -> Option<&ThresholdBasis> {
        self.last_applied.as_ref()
    }

    /// Where the histogram was drawn last frame (tests drive drags through it).
    pub fn histogram_rect(&self) -> Option<egui::Rect> {
        self.hist_rect
    }

    /// Wall time of the last frames' `ui` calls, in milliseconds.
    pub fn ui_times_ms(&self) -> Vec<f64> {
        self.ui_ms.iter().copied().collect()
    }

    /// The message line (errors and confirmations).
    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|m| m.1.as_str())
    }

    /// Starts scoring what the form names, on a background thread.
    pub fn start(&mut self, ctx: &egui::Context) {
        if self.job.is_some() {
            return;
        }
        match self.form.request() {
            Ok(req) => {
                self.message = None;
                self.job = Some(Job::spawn(self.paths.clone(), req, ctx.clone()));
            }
            Err(e) => self.message = Some((true, e)),
        }
    }

    fn poll_job(&mut self) {
        let Some(job) = &mut self.job else { return };
        let Some(result) = job.poll() else { return };
        let secs = job.started.elapsed().as_secs_f64();
        self.job = None;
        match result {
            Ok((a, b)) => {
                let n = a.dataset.pairs.len();
                self.load(a, b);
                self.message = Some((false, format!("scored {n} pairs in {secs:.1} s")));
            }
            Err(e) => self.message = Some((true, e)),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let start = Instant::now();
        self.poll_job();
        egui::ScrollArea::vertical()
            .id_salt("qa-screen")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Threshold QA");
                self.input_ui(ui);
                self.job_ui(ui);
                if let Some((error, text)) = &self.message {
                    let colour = if *error { RED } else { GREEN };
                    ui.label(RichText::new(text).color(colour));
                }
                if self.primary.is_some() {
                    ui.separator();
                    self.results_ui(ui);
                }
            });
        if self.job.is_some() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
        if self.ui_ms.len() == FRAME_TIMES {
            self.ui_ms.pop_front();
        }
        self.ui_ms.push_back(start.elapsed().as_secs_f64() * 1000.0);
    }

    fn input_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.job.is_some();
        ui.add_enabled_ui(!busy, |ui| {
            ui.horizontal(|ui| {
                for k in [SourceKind::PairsCsv, SourceKind::Folder, SourceKind::AuditLog] {
                    ui.radio_value(&mut self.form.kind, k, k.label());
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("Input");
                ui.add(egui::TextEdit::singleline(&mut self.form.input).desired_width(420.0))
                    .labelled_by(l.id);
                if ui.button("Browse…").clicked() {
                    let picked = match self.form.kind {
                        SourceKind::Folder => rfd::FileDialog::new().pick_folder(),
                        _ => rfd::FileDialog::new().pick_file(),
                    };
                    if let Some(p) = picked {
                        self.form.input = p.display().to_string();
                    }
                }
            });
            ui.horizontal(|ui| match self.form.kind {
                SourceKind::PairsCsv => {
                    let l = ui.label("Root");
                    ui.add(egui::TextEdit::singleline(&mut self.form.root).desired_width(220.0))
                        .labelled_by(l.id)
                        .on_hover_text("folder the CSV's paths are relative to (default: the CSV's folder)");
                    let l = ui.label("Source starts with");
                    ui.add(egui::TextEdit::singleline(&mut self.form.source_prefix).desired_width(90.0))
                        .labelled_by(l.id);
                    let l = ui.label("Group column");
                    ui.add(egui::TextEdit::singleline(&mut self.form.group_column).desired_width(70.0))
                        .labelled_by(l.id)
                        .on_hover_text("default: `group`");
                }
                SourceKind::Folder => {
                    let l = ui.label("Impostor sample");
                    ui.add(egui::TextEdit::singleline(&mut self.form.impostor_sample).desired_width(80.0))
                        .labelled_by(l.id)
                        .on_hover_text("empty: every impostor pair");
                    let l = ui.label("Seed");
                    ui.add(egui::TextEdit::singleline(&mut self.form.seed).desired_width(60.0))
                        .labelled_by(l.id);
                }
                SourceKind::AuditLog => {
                    ui.label(
                        RichText::new("production scores carry no labels: distribution and share accepted only")
                            .color(GREY),
                    );
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("Exclusions file");
                ui.add(egui::TextEdit::singleline(&mut self.form.exclusions).desired_width(420.0))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "where marks are read and written (empty: <input>.qa-exclusions.json beside the input; \
                         give another path when the input's folder is read-only)",
                    );
            });
            ui.horizontal(|ui| {
                if self.form.kind != SourceKind::AuditLog {
                    ui.radio_value(&mut self.form.mode, SearchMode::Fast, "FAST");
                    ui.radio_value(&mut self.form.mode, SearchMode::Accurate, "ACCURATE");
                    ui.checkbox(&mut self.form.compare, "Compare FAST and ACCURATE");
                }
                if ui.button("Score").clicked() {
                    self.start(ui.ctx());
                }
            });
        });
    }

    fn job_ui(&mut self, ui: &mut egui::Ui) {
        let Some(job) = &self.job else { return };
        let mut cancel = false;
        ui.horizontal(|ui| {
            let (fraction, text) = match &job.progress {
                Some(p) => (p.fraction(), format!("{}: {p}", job.stage)),
                None => (0.0, format!("{}…", job.stage)),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(text)
                    .desired_width(560.0)
                    .animate(true),
            );
            let label = if job.cancelling() {
                "Cancelling…"
            } else {
                "Cancel"
            };
            cancel = ui.button(label).clicked();
        });
        if cancel {
            self.cancel();
        }
    }

    fn results_ui(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |cols| {
            let (left, right) = cols.split_at_mut(1);
            self.plots_ui(&mut left[0]);
            self.tables_ui(&mut right[0]);
        });
        ui.separator();
        self.near_ui(ui);
    }

    // ---------------------------------------------------------------------------------------
    // Plots
    // ---------------------------------------------------------------------------------------

    fn plots_ui(&mut self, ui: &mut egui::Ui) {
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

    // ---------------------------------------------------------------------------------------
    // Tables
    // ---------------------------------------------------------------------------------------

    fn tables_ui(&mut self, ui: &mut egui::Ui) {
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

    // ---------------------------------------------------------------------------------------
    // Pairs near the threshold
    // ---------------------------------------------------------------------------------------

    fn near_ui(&mut self, ui: &mut egui::Ui) {
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
