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

mod form;
mod job;
mod near;
mod plots;
mod tables;
mod view;

use std::collections::VecDeque;
use std::time::Instant;

use eframe::egui::{self, Color32, RichText};

pub use form::Form;
use job::Job;
pub use job::{ScoreRequest, SourceKind};
pub use view::View;

use crate::paths::StationPaths;
use crate::qa::exclusions::ExclusionReason;
use crate::qa::stats::{self, McNemar, FMR_TARGETS};
use crate::qa::{Evaluation, ThresholdBasis, ThresholdRule};

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

    fn results_ui(&mut self, ui: &mut egui::Ui) {
        ui.columns(2, |cols| {
            let (left, right) = cols.split_at_mut(1);
            self.plots_ui(&mut left[0]);
            self.tables_ui(&mut right[0]);
        });
        ui.separator();
        self.near_ui(ui);
    }
}
