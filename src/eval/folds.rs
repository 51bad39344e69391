//! The LFW k-fold protocol: each fold scored at a threshold chosen on the other folds.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::metrics::{accepts, accuracy_in, best_in};
use super::{EvalError, ScoredPair};

/// Sources whose name starts with this are LFW-style folds used by [`kfold`].
pub const FOLD_PREFIX: &str = "lfw_fold";

/// Result on one held-out fold: the threshold was chosen on the other folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    pub source: String,
    pub threshold: f64,
    pub accuracy: f64,
    /// Number of pairs in the held-out fold.
    pub pairs: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KFoldReport {
    pub folds: Vec<FoldResult>,
    pub mean_accuracy: f64,
    /// Population standard deviation over folds (divide by k), as LFW reports.
    pub std_accuracy: f64,
}

/// Order strings with embedded numbers numerically (`lfw_fold2` before
/// `lfw_fold10`), falling back to plain byte order so the order is total.
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, dx), (true, dy)) => {
                let (dx, dy) = (dx.trim_start_matches('0'), dy.trim_start_matches('0'));
                dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy))
            }
            ((_, sx), (_, sy)) => sx.cmp(sy),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// LFW-protocol k-fold: folds are the distinct sources starting with
/// [`FOLD_PREFIX`] (in natural order, so `lfw_fold10` comes last). For each
/// fold the threshold is chosen by [`best_threshold`](super::best_threshold) on all *other* folds
/// and accuracy is measured on the held-out fold, so no fold's accuracy is
/// measured at a threshold tuned on itself. Pairs from other sources are
/// ignored.
pub fn kfold(pairs: &[ScoredPair]) -> Result<KFoldReport, EvalError> {
    let mut sources: Vec<&str> = pairs
        .iter()
        .map(|p| p.source.as_str())
        .filter(|s| s.starts_with(FOLD_PREFIX))
        .collect();
    sources.sort_by(|a, b| natural_cmp(a, b));
    sources.dedup();
    if sources.len() < 2 {
        return Err(EvalError::TooFewFolds {
            found: sources.len(),
        });
    }
    let mut folds = Vec::with_capacity(sources.len());
    for &fold in &sources {
        let train = pairs
            .iter()
            .filter(|p| p.source != fold && sources.contains(&p.source.as_str()));
        let choice = best_in(train)?;
        let test: Vec<&ScoredPair> = pairs.iter().filter(|p| p.source == fold).collect();
        folds.push(FoldResult {
            source: fold.to_string(),
            threshold: choice.threshold,
            accuracy: accuracy_in(test.iter().copied(), choice.threshold)?,
            pairs: test.len(),
        });
    }
    let k = folds.len() as f64;
    let mean = folds.iter().map(|f| f.accuracy).sum::<f64>() / k;
    let var = folds
        .iter()
        .map(|f| (f.accuracy - mean).powi(2))
        .sum::<f64>()
        / k;
    Ok(KFoldReport {
        folds,
        mean_accuracy: mean,
        std_accuracy: var.sqrt(),
    })
}

/// Whether each pair was decided correctly under the k-fold protocol (at its fold's threshold,
/// chosen on the other folds), in input order; `None` for pairs outside the folds. The paired
/// decisions two systems make this way are what a McNemar test compares.
pub fn kfold_correct(pairs: &[ScoredPair]) -> Result<Vec<Option<bool>>, EvalError> {
    let report = kfold(pairs)?;
    Ok(pairs
        .iter()
        .map(|p| {
            report
                .folds
                .iter()
                .find(|f| f.source == p.source)
                .map(|f| accepts(p.score, f.threshold) == p.same)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::metrics::fixtures::*;
    use super::*;

    #[test]
    fn kfold_uses_other_folds_threshold() {
        // Folds 1 and 2 separate at ~.5; fold 3 is shifted so its own best
        // threshold would be ~.8, but it is evaluated at the threshold learnt
        // on folds 1+2 and so loses its two high impostors.
        let mut pairs = Vec::new();
        for f in ["lfw_fold1", "lfw_fold2"] {
            for s in [0.6, 0.7, 0.9] {
                pairs.push(p(Some(s), true, f));
            }
            for s in [0.1, 0.2, 0.4] {
                pairs.push(p(Some(s), false, f));
            }
        }
        for s in [0.85, 0.9, 0.95] {
            pairs.push(p(Some(s), true, "lfw_fold3"));
        }
        for s in [0.6, 0.7, 0.1] {
            pairs.push(p(Some(s), false, "lfw_fold3"));
        }
        // Not a fold: ignored by k-fold (would otherwise shift thresholds).
        pairs.push(p(Some(0.0), true, "selfies"));

        let r = kfold(&pairs).unwrap();
        let names: Vec<_> = r.folds.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(names, ["lfw_fold1", "lfw_fold2", "lfw_fold3"]);
        assert!(r.folds.iter().all(|f| f.pairs == 6));

        // Fold 3 held out: train on folds 1+2 -> gap .4|.6 -> threshold .5.
        assert_close(r.folds[2].threshold, 0.5);
        assert_close(r.folds[2].accuracy, 4.0 / 6.0);
        // Fold 1 held out: train on fold 2 + fold 3. Sorted:
        // .1 .1 .2 .4 (i) | .6i .6g | .7i .7g | .85g .9g .9g .95g
        // The .6 and .7 ties cancel, so .5, .65 and .775 all reach 10/12;
        // plateau .5..=.775, middle .6375 -> .65 is closest.
        assert_close(r.folds[0].threshold, 0.65);
        // Fold 1 at .65: g .7 .9 accepted, .6 rejected; all impostors rejected.
        assert_close(r.folds[0].accuracy, 5.0 / 6.0);
        assert_close(r.folds[1].threshold, 0.65);
        assert_close(r.folds[1].accuracy, 5.0 / 6.0);

        let mean = (5.0 / 6.0 + 5.0 / 6.0 + 4.0 / 6.0) / 3.0;
        assert_close(r.mean_accuracy, mean);
        let var = (2.0 * (5.0f64 / 6.0 - mean).powi(2) + (4.0f64 / 6.0 - mean).powi(2)) / 3.0;
        assert_close(r.std_accuracy, var.sqrt());
    }

    #[test]
    fn kfold_natural_order_and_identical_folds() {
        let mut pairs = Vec::new();
        for f in ["lfw_fold10", "lfw_fold2", "lfw_fold1"] {
            pairs.push(p(Some(0.9), true, f));
            pairs.push(p(Some(0.1), false, f));
        }
        let r = kfold(&pairs).unwrap();
        let names: Vec<_> = r.folds.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(names, ["lfw_fold1", "lfw_fold2", "lfw_fold10"]);
        assert_close(r.mean_accuracy, 1.0);
        assert_close(r.std_accuracy, 0.0);
        assert!(r.folds.iter().all(|f| close(f.threshold, 0.5)));
    }

    #[test]
    fn natural_cmp_orders_numbers() {
        let mut v = vec!["b", "a10", "a2", "a02", "a1", "a", "a1x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "a1", "a1x", "a02", "a2", "a10", "b"]);
    }
}
