//! One serialisable report gathering every metric for a scored pair set.

use serde::{Deserialize, Serialize};

use super::metrics::{
    accuracy_at, best_threshold, eer, kfold, per_source, rates_at, roc, tar_at_far, Eer,
    KFoldReport, OperatingPoint, RocPoint, SourceResult, ThresholdChoice,
};
use super::{EvalError, ScoredPair, TimingStats};

/// What to include in a [`Summary`].
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOptions {
    /// Threshold for the "at threshold" numbers and the per-source table,
    /// e.g. the product's configured one. `None` = use the best threshold.
    pub threshold: Option<f64>,
    /// FAR targets for the TAR@FAR table.
    pub far_targets: Vec<f64>,
    /// Include the full ROC (one point per distinct score: can be large).
    pub include_roc: bool,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            threshold: None,
            far_targets: vec![1e-1, 1e-2, 1e-3],
            include_roc: false,
        }
    }
}

/// TAR at one FAR target (the target is kept so the table reads alone).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FarTargetPoint {
    pub far_target: f64,
    pub threshold: f64,
    pub far: f64,
    pub tar: f64,
}

/// Everything a JSON evaluation report needs. Metrics that are undefined on
/// the data (e.g. k-fold without `lfw_fold*` sources, EER without impostors)
/// are `null` and the reason is listed in `notes`, so one degenerate metric
/// never hides the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub pairs: usize,
    pub genuine: usize,
    pub impostor: usize,
    pub no_face_pairs: usize,
    pub best: Option<ThresholdChoice>,
    /// Threshold used for `accuracy`, `at_threshold` and `per_source`.
    pub threshold: Option<f64>,
    /// `"configured"` or `"best"`: where `threshold` came from.
    pub threshold_origin: String,
    pub accuracy: Option<f64>,
    pub at_threshold: Option<OperatingPoint>,
    pub eer: Option<Eer>,
    pub tar_at_far: Vec<FarTargetPoint>,
    pub kfold: Option<KFoldReport>,
    pub per_source: Vec<SourceResult>,
    pub roc: Option<Vec<RocPoint>>,
    /// Filled by the caller, which owns the clock.
    pub timing: Option<TimingStats>,
    pub notes: Vec<String>,
}

impl Summary {
    /// Compute every metric; never fails (failures become `notes`).
    pub fn build(pairs: &[ScoredPair], options: &SummaryOptions) -> Summary {
        let mut notes = Vec::new();
        let best = note(&mut notes, "best threshold", best_threshold(pairs));
        let (threshold, origin) = match options.threshold {
            Some(t) => (Some(t), "configured"),
            None => (best.map(|b| b.threshold), "best"),
        };
        let (accuracy, at_threshold) = match threshold {
            Some(t) => (
                note(&mut notes, "accuracy", accuracy_at(pairs, t)),
                note(&mut notes, "rates at threshold", rates_at(pairs, t)),
            ),
            None => (None, None),
        };
        let eer = note(&mut notes, "eer", eer(pairs));
        let tar_at_far = options
            .far_targets
            .iter()
            .filter_map(|&target| {
                note(
                    &mut notes,
                    &format!("tar@far={target}"),
                    tar_at_far(pairs, target),
                )
                .map(|op| FarTargetPoint {
                    far_target: target,
                    threshold: op.threshold,
                    far: op.far,
                    tar: op.tar,
                })
            })
            .collect();
        let kfold = note(&mut notes, "kfold", kfold(pairs));
        let roc = if options.include_roc {
            note(&mut notes, "roc", roc(pairs))
        } else {
            None
        };
        Summary {
            pairs: pairs.len(),
            genuine: pairs.iter().filter(|p| p.same).count(),
            impostor: pairs.iter().filter(|p| !p.same).count(),
            no_face_pairs: pairs
                .iter()
                .filter(|p| !p.score.is_some_and(f64::is_finite))
                .count(),
            best,
            threshold,
            threshold_origin: origin.to_string(),
            accuracy,
            at_threshold,
            eer,
            tar_at_far,
            kfold,
            per_source: threshold.map_or_else(Vec::new, |t| per_source(pairs, t)),
            roc,
            timing: None,
            notes,
        }
    }

    /// Pretty JSON for the report file.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

/// Keep a metric's value, or record why it is missing.
fn note<T>(notes: &mut Vec<String>, what: &str, r: Result<T, EvalError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{what}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(score: Option<f64>, same: bool, source: &str) -> ScoredPair {
        ScoredPair {
            a: "a".into(),
            b: "b".into(),
            same,
            source: source.into(),
            score,
        }
    }

    fn folds() -> Vec<ScoredPair> {
        let mut v = Vec::new();
        for f in ["lfw_fold1", "lfw_fold2"] {
            v.push(p(Some(0.9), true, f));
            v.push(p(Some(0.8), true, f));
            v.push(p(Some(0.2), false, f));
            v.push(p(None, false, f));
        }
        v
    }

    #[test]
    fn full_summary_serialises() {
        let opts = SummaryOptions {
            include_roc: true,
            ..SummaryOptions::default()
        };
        let mut s = Summary::build(&folds(), &opts);
        s.timing = TimingStats::from_millis(&[10.0, 20.0]);
        assert_eq!(
            (s.pairs, s.genuine, s.impostor, s.no_face_pairs),
            (8, 4, 4, 2)
        );
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        assert_eq!(s.threshold_origin, "best");
        assert_eq!(s.threshold, s.best.map(|b| b.threshold));
        assert_eq!(s.accuracy, Some(1.0));
        assert_eq!(s.tar_at_far.len(), 3);
        assert!(s.tar_at_far.iter().all(|t| t.tar == 1.0 && t.far == 0.0));
        assert_eq!(s.kfold.as_ref().map(|k| k.folds.len()), Some(2));
        assert_eq!(s.per_source.len(), 2);
        assert!(s.roc.as_ref().is_some_and(|r| r.len() == 4));

        let json = s.to_json_pretty().expect("serialise");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid json");
        assert_eq!(value["kfold"]["mean_accuracy"], 1.0);
        assert_eq!(value["timing"]["median_ms"], 15.0);
        let back: Summary = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, s);
    }

    #[test]
    fn degenerate_summary_reports_notes() {
        let s = Summary::build(&[], &SummaryOptions::default());
        assert_eq!(s.pairs, 0);
        assert!(s.best.is_none() && s.eer.is_none() && s.kfold.is_none());
        assert!(s.tar_at_far.is_empty() && s.per_source.is_empty());
        assert!(s.notes.iter().any(|n| n.starts_with("kfold:")));
        assert!(s.to_json_pretty().is_ok());

        // Configured threshold, no folds, impostors only.
        let opts = SummaryOptions {
            threshold: Some(0.5),
            ..SummaryOptions::default()
        };
        let s = Summary::build(&[p(Some(0.7), false, "selfies")], &opts);
        assert_eq!(s.threshold_origin, "configured");
        assert_eq!(s.accuracy, Some(0.0));
        assert!(s.at_threshold.is_none() && s.eer.is_none());
        assert_eq!(s.per_source[0].false_matches, 1);
        assert!(s.notes.iter().any(|n| n.contains("genuine")));
    }
}
