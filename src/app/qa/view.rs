//! One configuration's results prepared for drawing: everything that depends on the whole score
//! set (histograms, the DET curve, FMR(t)/FNMR(t), EER, FNMR at the target FMRs) is computed once
//! when scores arrive; per frame only binary searches on the sorted scores run (rates at the
//! threshold, the pairs nearest it), so dragging stays smooth over millions of pairs.

use crate::qa::stats::{self, probit, AtFmr, EerResult, Rates};
use crate::qa::Evaluation;

pub const BINS: usize = 60;
/// Highest rate the DET axes show.
pub const DET_MAX: f64 = 0.5;
/// Most points a curve is drawn with.
const CURVE_POINTS: usize = 2_000;

pub struct View {
    pub eval: Evaluation,
    /// "FAST", "ACCURATE", or the input's name for an audit log.
    pub label: String,
    /// Score range shown (histogram, slider).
    pub lo: f64,
    pub hi: f64,
    pub hist_genuine: Vec<f64>,
    pub hist_impostor: Vec<f64>,
    pub hist_unlabelled: Vec<f64>,
    /// DET points on probit axes, with the threshold of each.
    pub det: Vec<[f64; 2]>,
    pub det_t: Vec<f64>,
    /// Axis floors of the DET (rates), from the class sizes.
    pub det_floor: (f64, f64),
    /// (threshold, log10 rate) for FMR(t) and FNMR(t).
    pub fmr_curve: Vec<[f64; 2]>,
    pub fnmr_curve: Vec<[f64; 2]>,
    pub log_floor: f64,
    pub eer: Option<EerResult>,
    pub at_fmr: Vec<AtFmr>,
    cached: Option<(u64, Rates)>,
}

/// Smallest decade below 0.5 / n (where a DET or log axis should start).
pub fn rate_floor(n: usize) -> f64 {
    let x = if n == 0 { 1e-3 } else { 0.5 / n as f64 };
    10f64.powf(x.log10().floor()).max(1e-7)
}

impl View {
    pub fn new(eval: Evaluation, label: String) -> Self {
        let s = &eval.set;
        let mut lo = s.min_score().unwrap_or(0.0);
        let mut hi = s.max_score().unwrap_or(1.0);
        if let (Some(a), Some(b)) = (eval.unlabelled.first(), eval.unlabelled.last()) {
            lo = lo.min(*a);
            hi = hi.max(*b);
        }
        if !stats::increasing(lo, hi) {
            lo -= 0.5;
            hi += 0.5;
        }
        let hist_genuine = stats::histogram(&s.genuine, lo, hi, BINS);
        let hist_impostor = stats::histogram(&s.impostor, lo, hi, BINS);
        let hist_unlabelled = stats::histogram(&eval.unlabelled, lo, hi, BINS);
        let det_floor = (
            rate_floor(s.impostor_count()),
            rate_floor(s.genuine_count()),
        );
        let mut det = Vec::new();
        let mut det_t = Vec::new();
        // The DET shows rates from the floors to 50 %; points beyond are clamped onto the edge
        // (and repeated edge points dropped) so the axes stay fixed.
        for (t, fmr, fnmr) in stats::det_points(s, 0.004) {
            let p = [
                probit(fmr.clamp(det_floor.0, DET_MAX)),
                probit(fnmr.clamp(det_floor.1, DET_MAX)),
            ];
            if det.last() != Some(&p) {
                det.push(p);
                det_t.push(t);
            }
        }
        let n = s.genuine_count().min(s.impostor_count());
        let log_floor = rate_floor(n).log10();
        let (mut fmr_curve, mut fnmr_curve) = (Vec::new(), Vec::new());
        let sweep = s.sweep();
        let dt = (hi - lo) / CURVE_POINTS as f64;
        let ly = |r: f64| r.max(10f64.powf(log_floor - 0.3)).log10();
        let mut last: Option<(f64, f64, f64)> = None;
        for (i, &(t, fmr, fnmr)) in sweep.iter().enumerate() {
            let (a, b) = (ly(fmr), ly(fnmr));
            let keep = match last {
                None => true,
                Some((t0, a0, b0)) => {
                    i + 1 == sweep.len()
                        || t - t0 >= dt
                        || (a - a0).abs() >= 0.02
                        || (b - b0).abs() >= 0.02
                }
            };
            if keep {
                fmr_curve.push([t, a]);
                fnmr_curve.push([t, b]);
                last = Some((t, a, b));
            }
        }
        let eer = stats::eer(s);
        let at_fmr = stats::FMR_TARGETS
            .iter()
            .map(|&t| stats::fnmr_at_fmr(s, t))
            .collect();
        View {
            eval,
            label,
            lo,
            hi,
            hist_genuine,
            hist_impostor,
            hist_unlabelled,
            det,
            det_t,
            det_floor,
            fmr_curve,
            fnmr_curve,
            log_floor,
            eer,
            at_fmr,
            cached: None,
        }
    }

    /// Rates at `t` (exact intervals), computed once per threshold value.
    pub fn rates(&mut self, t: f64) -> &Rates {
        let key = t.to_bits();
        if self.cached.as_ref().map(|c| c.0) != Some(key) {
            self.cached = Some((key, stats::rates_at(&self.eval.set, t)));
        }
        &self.cached.as_ref().expect("just set").1
    }

    /// The DET point of `t` on probit axes.
    pub fn det_point(&self, t: f64) -> Option<[f64; 2]> {
        let s = &self.eval.set;
        let (fmr, fnmr) = (s.fmr(t)?, s.fnmr(t)?);
        Some([
            probit(fmr.clamp(self.det_floor.0, DET_MAX)),
            probit(fnmr.clamp(self.det_floor.1, DET_MAX)),
        ])
    }

    /// The threshold of the DET point nearest to `p` (probit axes).
    pub fn threshold_near_det(&self, p: [f64; 2]) -> Option<f64> {
        self.det
            .iter()
            .zip(&self.det_t)
            .min_by(|a, b| {
                let d = |q: &[f64; 2]| (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2);
                d(a.0).total_cmp(&d(b.0))
            })
            .map(|(_, t)| *t)
    }
}
