//! The map from dlib descriptor distance to a 0..1 similarity score, and the default thresholds.
//!
//! score = 1 / (1 + exp((d - 0.6) / 0.06)): a logistic centred on dlib's published decision
//! distance 0.6 (score 0.5 there), steep enough that the distances that matter (0.3..0.9) spread over
//! 0.99..0.01. It is strictly decreasing in d, so a threshold on the score is a threshold on the
//! distance and error rates do not change under the map.

use crate::api::SearchMode;

const CENTRE: f64 = 0.6;
const SPREAD: f64 = 0.06;

pub fn distance_to_score(distance: f64) -> f64 {
    1.0 / (1.0 + ((distance - CENTRE) / SPREAD).exp())
}

/// The inverse map, for reporting a score threshold as a distance.
pub fn score_to_distance(score: f64) -> f64 {
    let s = score.clamp(1e-12, 1.0 - 1e-12);
    CENTRE + SPREAD * ((1.0 - s) / s).ln()
}

/// Default compare threshold per mode: the score at a false-match rate of 0.1% on the 1,500
/// impostor pairs of LFW folds 1-5, measured with `facestation eval` (README, "Accuracy").
pub fn default_threshold(mode: SearchMode) -> f64 {
    match mode {
        // Measured FMR at these: 1 of 1,500 LFW impostor pairs (0.07%) in each mode.
        SearchMode::Fast => 0.62,
        SearchMode::Accurate => 0.68,
    }
}

pub fn threshold_basis(mode: SearchMode) -> String {
    format!(
        "FMR <= 0.1% on LFW folds 1-5 impostor pairs ({})",
        mode.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_is_monotonic_bounded_and_invertible() {
        let mut last = 1.0;
        for i in 0..200 {
            let d = i as f64 * 0.01;
            let s = distance_to_score(d);
            assert!(s > 0.0 && s < 1.0 && s < last, "d={d} s={s}");
            assert!((score_to_distance(s) - d).abs() < 1e-6);
            last = s;
        }
        assert!((distance_to_score(0.6) - 0.5).abs() < 1e-12);
    }
}
