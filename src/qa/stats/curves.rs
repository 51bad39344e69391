//! The curves the plots draw: thinned DET points and score histograms.

use super::{increasing, probit, ScoreSet};

// ---------------------------------------------------------------------------------------------
// Curves for plots
// ---------------------------------------------------------------------------------------------

/// DET points (FMR, FNMR), thinned so that consecutive points differ by at least `step` on
/// probit axes (the shape is kept, the low-FMR tail included); points with a zero rate are kept
/// for the caller to clamp.
pub fn det_points(s: &ScoreSet, step: f64) -> Vec<(f64, f64, f64)> {
    let pts = s.sweep();
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let clamp = |r: f64| probit(r.clamp(1e-9, 1.0 - 1e-9));
    for (i, &(t, fmr, fnmr)) in pts.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&(_, f0, n0)) => {
                i + 1 == pts.len()
                    || (clamp(fmr) - clamp(f0)).abs() >= step
                    || (clamp(fnmr) - clamp(n0)).abs() >= step
            }
        };
        if keep {
            out.push((t, fmr, fnmr));
        }
    }
    out
}

/// Histogram of `scores` over `bins` equal bins spanning [lo, hi], as fractions of `scores.len()`.
pub fn histogram(scores: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins.max(1)];
    if scores.is_empty() || !increasing(lo, hi) {
        return h;
    }
    let w = (hi - lo) / h.len() as f64;
    let last = h.len() - 1;
    for &s in scores {
        let b = (((s - lo) / w).floor().max(0.0) as usize).min(last);
        h[b] += 1.0;
    }
    let n = scores.len() as f64;
    for x in &mut h {
        *x /= n;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::stats::fmt_rate;

    #[test]
    fn histogram_and_det() {
        let h = histogram(&[0.0, 0.1, 0.5, 1.0], 0.0, 1.0, 4);
        assert_eq!(h, vec![0.5, 0.0, 0.5 * 0.5, 0.25]);
        let s = ScoreSet::from_scores(&[0.5, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.6]);
        let d = det_points(&s, 0.0);
        assert_eq!(d.len(), s.sweep().len());
        assert_eq!(d.first().map(|p| (p.1, p.2)), Some((1.0, 0.0)));
        assert_eq!(d.last().map(|p| (p.1, p.2)), Some((0.0, 1.0)));
        assert_eq!(fmt_rate(1e-3), "0.1%");
        assert_eq!(fmt_rate(1e-4), "0.01%");
        assert_eq!(fmt_rate(1e-2), "1%");
        assert_eq!(fmt_rate(0.0), "0%");
    }
}
