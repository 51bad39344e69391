//! From a recogniser's raw similarity to the 0..1 `score`, and the default thresholds.
//!
//! Each recogniser (with its views) has its own [`Calibration`]: a logistic on its metric,
//! `score = 1 / (1 + exp(-s (x - centre) / spread))` with `s = +1` for cosine similarity and
//! `s = -1` for Euclidean distance, fitted on LFW folds 1-5 (`facestation eval --fit-calibration`)
//! so that the score is 0.5 at the equal-error point and rises monotonically with similarity. So
//! one threshold per mode means the same whatever model produced the score, and a threshold on
//! the score is a threshold on the raw metric: error rates do not change under the map.
//!
//! The defaults and the review band were chosen on all cross-identity pairs of the dev LFW images
//! (docs/recognition.md, "Operating points").

use serde::{Deserialize, Serialize};

use crate::api::SearchMode;
use crate::runtime::Metric;

/// A monotone logistic map from a raw metric value to a score in (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub metric: Metric,
    /// The raw value where the score is 0.5.
    pub centre: f64,
    /// Raw units per unit of logit (> 0).
    pub spread: f64,
}

impl Calibration {
    /// The logit (log-odds) of "same person".
    pub fn logit(&self, raw: f64) -> f64 {
        let z = (raw - self.centre) / self.spread;
        match self.metric {
            Metric::Cosine => z,
            Metric::Euclidean => -z,
        }
    }

    pub fn score(&self, raw: f64) -> f64 {
        sigmoid(self.logit(raw))
    }

    /// The raw value that maps to `score` (for stating a threshold in the model's own units).
    pub fn raw_at(&self, score: f64) -> f64 {
        let l = logit(score);
        match self.metric {
            Metric::Cosine => self.centre + self.spread * l,
            Metric::Euclidean => self.centre - self.spread * l,
        }
    }

    /// "logistic on cosine, 0.5 at 0.2731, spread 0.0302".
    pub fn describe(&self) -> String {
        let m = match self.metric {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean distance",
        };
        format!(
            "logistic on {m}, 0.5 at {:.4}, spread {:.4}",
            self.centre, self.spread
        )
    }
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub fn logit(score: f64) -> f64 {
    let s = score.clamp(1e-12, 1.0 - 1e-12);
    (s / (1.0 - s)).ln()
}

/// The first release's map (dlib fp32 descriptors, before calibration): 0.5 at dlib's published
/// 0.6, spread 0.06. Records written then carry scores on this map.
pub const LEGACY_DLIB: Calibration = Calibration {
    metric: Metric::Euclidean,
    centre: 0.6,
    spread: 0.06,
};

pub fn distance_to_score(distance: f64) -> f64 {
    LEGACY_DLIB.score(distance)
}

/// The inverse of [`distance_to_score`].
pub fn score_to_distance(score: f64) -> f64 {
    LEGACY_DLIB.raw_at(score)
}

/// Calibrations of the recognisers and views the modes use, fitted on LFW folds 1-5
/// (`facestation eval --candidates ... --fit-calibration`: centre = the EER point, spread from a
/// logistic regression of same/different on the raw value).
pub mod fitted {
    use super::Calibration;
    use crate::runtime::Metric;

    /// dlib ResNet int8, chip alone (EER 1.33% on LFW folds 1-5).
    pub const DLIB_INT8: Calibration = Calibration {
        metric: Metric::Euclidean,
        centre: 0.629_10,
        spread: 0.021_124,
    };
    /// dlib ResNet int8, chip + mirror (EER 0.80%).
    pub const DLIB_INT8_FLIP: Calibration = Calibration {
        metric: Metric::Euclidean,
        centre: 0.612_10,
        spread: 0.020_332,
    };
    /// Intel reid-0095, chip alone (EER 0.73%).
    pub const REID: Calibration = Calibration {
        metric: Metric::Cosine,
        centre: 0.242_54,
        spread: 0.032_296,
    };
    /// Intel reid-0095, chip + mirror (EER 0.80%).
    pub const REID_FLIP: Calibration = Calibration {
        metric: Metric::Cosine,
        centre: 0.247_61,
        spread: 0.033_456,
    };
}

/// Impostor comparisons the defaults rest on: every pair of images of different people among the
/// 3,811 images of LFW folds 1-5 (2,086 people), `facestation eval --all-impostors`.
pub const DEV_IMPOSTOR_PAIRS: u64 = 7_255_541;

/// Names the scale the scores of both modes are on (models, calibrations, plans). A threshold
/// saved on another scale means something else: front ends that persist thresholds store this
/// beside them and drop thresholds saved under another (the first release's 0.62 on the dlib
/// distance map would be near the EER here, an FMR of about 1%).
pub const SCORE_SCALE: &str =
    "2026-12: FAST cascade(dlib-int8>>reid@0.2..0.999), ACCURATE fuse(reid,dlib-int8+flip), calibrated on LFW folds 1-5";

/// Default compare threshold per mode: the score where the false-match rate on all cross-identity
/// pairs of the LFW folds 1-5 images is 0.01% (docs/recognition.md, "Operating points"). At 0.1%
/// the dlib-based configurations matched 4-5 of 1,600 webcam-frame-vs-photo impostor pairs (and
/// the station's own webcam frame against Obama); at 0.01% none.
pub fn default_threshold(mode: SearchMode) -> f64 {
    match mode {
        // 716 false matches: FMR 0.0099%; FNMR 5.51% on the 4,414 same-identity pairs.
        SearchMode::Fast => 0.993,
        // 724 false matches: FMR 0.0100%; FNMR 4.76%.
        SearchMode::Accurate => 0.9922,
    }
}

/// What the default threshold rests on, for the record's `thresholdBasis`.
pub fn threshold_basis(mode: SearchMode) -> String {
    match mode {
        SearchMode::Fast => "FMR 0.0099% [0.0092%, 0.0106%] (716 false matches, Clopper-Pearson 95%) \
            on 7,255,541 cross-identity LFW folds 1-5 impostor pairs (FAST: int8 dlib, fused with \
            reid-0095 when int8 scores 0.2-0.999)"
            .into(),
        SearchMode::Accurate => "FMR 0.0100% [0.0093%, 0.0107%] (724 false matches, Clopper-Pearson \
            95%) on 7,255,541 cross-identity LFW folds 1-5 impostor pairs (ACCURATE: reid-0095 fused \
            with int8 dlib + mirror)"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_map_is_monotonic_bounded_and_invertible() {
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

    #[test]
    fn cosine_calibration_rises_with_similarity_and_inverts() {
        let c = Calibration {
            metric: Metric::Cosine,
            centre: 0.3,
            spread: 0.05,
        };
        assert!((c.score(0.3) - 0.5).abs() < 1e-12);
        let mut last = 0.0;
        for i in -100..=100 {
            let x = f64::from(i) / 100.0;
            let s = c.score(x);
            assert!(s >= last && (0.0..=1.0).contains(&s));
            if s > 1e-9 && s < 1.0 - 1e-9 {
                assert!((c.raw_at(s) - x).abs() < 1e-6, "{x}");
            }
            last = s;
        }
    }
}
