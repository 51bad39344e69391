//! Per-source breakdown (one row per dataset subset) at a fixed threshold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::folds::natural_cmp;
use super::metrics::{accepts, ratio, usable};
use super::ScoredPair;

/// Breakdown for one source (dataset subset) at a fixed threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceResult {
    pub source: String,
    pub pairs: usize,
    pub genuine: usize,
    pub impostor: usize,
    pub accuracy: f64,
    /// Pairs with no score (no face found); counted as rejections.
    pub no_face_pairs: usize,
    /// Impostor pairs accepted.
    pub false_matches: usize,
    /// Genuine pairs rejected (including genuine pairs with no face).
    pub false_non_matches: usize,
}

/// Per-source breakdown at a fixed threshold, in natural source order.
/// Empty input gives an empty list (every listed source has >= 1 pair, so
/// each accuracy is defined).
pub fn per_source(pairs: &[ScoredPair], threshold: f64) -> Vec<SourceResult> {
    let mut by_source: BTreeMap<&str, SourceResult> = BTreeMap::new();
    for p in pairs {
        let r = by_source
            .entry(p.source.as_str())
            .or_insert_with(|| SourceResult {
                source: p.source.clone(),
                pairs: 0,
                genuine: 0,
                impostor: 0,
                accuracy: 0.0,
                no_face_pairs: 0,
                false_matches: 0,
                false_non_matches: 0,
            });
        r.pairs += 1;
        if usable(p.score).is_none() {
            r.no_face_pairs += 1;
        }
        let accepted = accepts(p.score, threshold);
        if p.same {
            r.genuine += 1;
            r.false_non_matches += usize::from(!accepted);
        } else {
            r.impostor += 1;
            r.false_matches += usize::from(accepted);
        }
    }
    let mut out: Vec<SourceResult> = by_source
        .into_values()
        .map(|mut r| {
            r.accuracy = ratio(r.pairs - r.false_matches - r.false_non_matches, r.pairs);
            r
        })
        .collect();
    out.sort_by(|a, b| natural_cmp(&a.source, &b.source));
    out
}

#[cfg(test)]
mod tests {
    use super::super::metrics::fixtures::*;
    use super::*;

    #[test]
    fn per_source_hand_computed() {
        let pairs = vec![
            p(Some(0.9), true, "lfw_fold10"),
            p(Some(0.2), true, "lfw_fold10"),
            p(Some(0.1), false, "lfw_fold2"),
            p(Some(0.7), false, "selfies"),
            p(None, true, "selfies"),
            p(Some(0.8), true, "selfies"),
        ];
        let r = per_source(&pairs, 0.5);
        let names: Vec<_> = r.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(names, ["lfw_fold2", "lfw_fold10", "selfies"]);
        assert_eq!((r[0].pairs, r[0].genuine, r[0].impostor), (1, 0, 1));
        assert_close(r[0].accuracy, 1.0);
        assert_eq!(r[1].false_non_matches, 1);
        assert_close(r[1].accuracy, 0.5);
        let s = &r[2];
        assert_eq!(
            (s.pairs, s.genuine, s.impostor, s.no_face_pairs),
            (3, 2, 1, 1)
        );
        assert_eq!((s.false_matches, s.false_non_matches), (1, 1));
        assert_close(s.accuracy, 1.0 / 3.0);
    }
}
