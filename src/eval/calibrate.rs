//! Fitting a recogniser's [`Calibration`] on labelled pairs: the centre (score 0.5) at the
//! equal-error point of the raw metric, the spread from a one-variable logistic regression of
//! same/different on the raw value. The map is monotone, so it never changes an error rate.

use serde::{Deserialize, Serialize};

use super::{eer, EvalError, ScoredPair};
use crate::engine::score::Calibration;
use crate::runtime::Metric;

/// A fitted calibration and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationFit {
    pub calibration: Calibration,
    /// Equal error rate of the raw metric on the pairs.
    pub eer: f64,
    pub pairs: usize,
}

/// Fits on `(raw, same)` samples of one recogniser and views.
pub fn fit(metric: Metric, samples: &[(f64, bool)]) -> Result<CalibrationFit, EvalError> {
    if samples.is_empty() {
        return Err(EvalError::NoPairs);
    }
    if !samples.iter().any(|s| s.1) {
        return Err(EvalError::NoGenuinePairs);
    }
    if samples.iter().all(|s| s.1) {
        return Err(EvalError::NoImpostorPairs);
    }
    // Similarity: higher = more alike, whatever the metric.
    let sign = match metric {
        Metric::Cosine => 1.0,
        Metric::Euclidean => -1.0,
    };
    let pairs: Vec<ScoredPair> = samples
        .iter()
        .map(|&(raw, same)| ScoredPair {
            a: String::new(),
            b: String::new(),
            same,
            source: String::new(),
            score: Some(sign * raw),
        })
        .collect();
    let e = eer(&pairs)?;
    let centre = sign * e.threshold;
    // Logistic regression on the centred similarity: p = sigmoid(a + b x), Newton's method
    // with a tiny ridge so that separable data still gives a finite slope.
    let xs: Vec<(f64, f64)> = samples
        .iter()
        .map(|&(raw, same)| (sign * raw - e.threshold, f64::from(u8::from(same))))
        .collect();
    let (mut a, mut b) = (0.0f64, 1.0f64);
    let ridge = 1e-6;
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, ridge, 0.0, ridge);
        for &(x, y) in &xs {
            let p = 1.0 / (1.0 + (-(a + b * x)).exp());
            let w = p * (1.0 - p);
            ga += y - p;
            gb += (y - p) * x;
            haa += w;
            hab += w * x;
            hbb += w * x * x;
        }
        gb -= ridge * b;
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-300 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a += da;
        b += db;
        if da.abs() < 1e-12 && db.abs() < 1e-12 {
            break;
        }
    }
    if !(b.is_finite() && b > 0.0) {
        return Err(EvalError::NoScoredPairs);
    }
    Ok(CalibrationFit {
        calibration: Calibration {
            metric,
            centre,
            spread: 1.0 / b,
        },
        eer: e.eer,
        pairs: samples.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_logistic_and_centres_at_the_eer() {
        // Deterministic samples from two overlapping uniform ranges on cosine.
        let mut s = Vec::new();
        for i in 0..1000 {
            let u = f64::from(i) / 1000.0;
            s.push((0.2 + 0.5 * u, true)); // genuine 0.2..0.7
            s.push((-0.2 + 0.5 * u, false)); // impostor -0.2..0.3
        }
        let f = fit(Metric::Cosine, &s).expect("fit");
        // Overlap 0.2..0.3: EER at 0.25 where 10% of each side is wrong.
        assert!((f.calibration.centre - 0.25).abs() < 2e-3, "{f:?}");
        assert!((f.eer - 0.1).abs() < 2e-3, "{f:?}");
        assert!(f.calibration.spread > 0.0 && f.calibration.spread < 0.1);
        assert!((f.calibration.score(0.25) - 0.5).abs() < 0.01);
        // The same data as a distance (negated) gives the mirror image.
        let d: Vec<(f64, bool)> = s.iter().map(|&(x, y)| (1.0 - x, y)).collect();
        let g = fit(Metric::Euclidean, &d).expect("fit");
        assert!((g.calibration.centre - 0.75).abs() < 2e-3, "{g:?}");
        assert!((g.calibration.spread - f.calibration.spread).abs() < 1e-6);
        assert!(g.calibration.score(0.5) > 0.99);
    }

    #[test]
    fn one_class_is_an_error() {
        assert_eq!(fit(Metric::Cosine, &[]), Err(EvalError::NoPairs));
        assert_eq!(
            fit(Metric::Cosine, &[(0.1, false)]),
            Err(EvalError::NoGenuinePairs)
        );
        assert_eq!(
            fit(Metric::Cosine, &[(0.1, true)]),
            Err(EvalError::NoImpostorPairs)
        );
    }
}
