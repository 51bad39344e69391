//! Threshold sweeps and the verification metrics built on them: the decision rule, the candidate
//! thresholds, accuracy and the best threshold; k-fold, curves and per-source tables are siblings.

use serde::{Deserialize, Serialize};

use super::{EvalError, ScoredPair};

pub use super::curves::{
    eer, rates_at, roc, tar_at_far, threshold_at_fmr, Eer, OperatingPoint, RocPoint,
};
pub use super::folds::{kfold, kfold_correct, FoldResult, KFoldReport, FOLD_PREFIX};
pub use super::sources::{per_source, SourceResult};

/// Distance of the "accept everything" / "reject everything" candidate
/// thresholds from the lowest / highest score. Small enough to stay outside
/// any realistic gap between scores in `[0, 1]`, large enough to print
/// readably.
const EDGE_MARGIN: f64 = 1e-6;

/// A threshold together with the accuracy it gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    pub threshold: f64,
    pub accuracy: f64,
}

/// The score used for decisions: `None` and non-finite scores never match.
pub(super) fn usable(score: Option<f64>) -> Option<f64> {
    score.filter(|s| s.is_finite())
}

/// The single decision rule every metric uses.
pub(super) fn accepts(score: Option<f64>, threshold: f64) -> bool {
    usable(score).is_some_and(|s| s >= threshold)
}

/// A candidate threshold and what it accepts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub(super) threshold: f64,
    pub(super) genuine_accepted: usize,
    pub(super) impostor_accepted: usize,
}

/// All distinct decisions on a pair set, by ascending threshold.
#[derive(Debug)]
pub(super) struct Sweep {
    pub(super) cuts: Vec<Cut>,
    /// All genuine / impostor pairs, including those without a score.
    pub(super) genuine: usize,
    pub(super) impostor: usize,
}

impl Sweep {
    fn total(&self) -> usize {
        self.genuine + self.impostor
    }

    fn correct(&self, cut: &Cut) -> usize {
        cut.genuine_accepted + (self.impostor - cut.impostor_accepted)
    }

    pub(super) fn require_both_classes(&self) -> Result<(), EvalError> {
        if self.genuine == 0 {
            return Err(EvalError::NoGenuinePairs);
        }
        if self.impostor == 0 {
            return Err(EvalError::NoImpostorPairs);
        }
        Ok(())
    }

    pub(super) fn point(&self, cut: &Cut) -> RocPoint {
        RocPoint {
            threshold: cut.threshold,
            far: ratio(cut.impostor_accepted, self.impostor),
            tar: ratio(cut.genuine_accepted, self.genuine),
        }
    }
}

/// `num / den`, or 0 when `den == 0` (callers check classes first when a
/// zero denominator would make the rate meaningless).
pub(super) fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Midpoint of `lo < hi` that is guaranteed to accept `hi` and reject `lo`
/// even when the two are adjacent floats.
fn midpoint(lo: f64, hi: f64) -> f64 {
    let m = lo + (hi - lo) / 2.0;
    if m > lo && m <= hi {
        m
    } else {
        hi
    }
}

fn below(lowest: f64) -> f64 {
    let t = lowest - EDGE_MARGIN;
    if t < lowest {
        t
    } else {
        lowest.next_down()
    }
}

fn above(highest: f64) -> f64 {
    let t = highest + EDGE_MARGIN;
    if t > highest {
        t
    } else {
        highest.next_up()
    }
}

pub(super) fn sweep<'a>(
    pairs: impl IntoIterator<Item = &'a ScoredPair>,
) -> Result<Sweep, EvalError> {
    let mut genuine = 0;
    let mut impostor = 0;
    let mut scored: Vec<(f64, bool)> = Vec::new();
    for p in pairs {
        if p.same {
            genuine += 1;
        } else {
            impostor += 1;
        }
        if let Some(s) = usable(p.score) {
            scored.push((s, p.same));
        }
    }
    if genuine + impostor == 0 {
        return Err(EvalError::NoPairs);
    }
    scored.sort_by(|x, y| x.0.total_cmp(&y.0));
    // (score, genuine count, impostor count) per distinct score.
    let mut groups: Vec<(f64, usize, usize)> = Vec::new();
    for (s, same) in scored {
        match groups.last_mut() {
            Some(g) if g.0 == s => {
                if same {
                    g.1 += 1
                } else {
                    g.2 += 1
                }
            }
            _ => groups.push((s, usize::from(same), usize::from(!same))),
        }
    }
    let (Some(first), Some(last)) = (groups.first(), groups.last()) else {
        return Err(EvalError::NoScoredPairs);
    };
    let mut genuine_accepted: usize = groups.iter().map(|g| g.1).sum();
    let mut impostor_accepted: usize = groups.iter().map(|g| g.2).sum();
    let mut cuts = Vec::with_capacity(groups.len() + 1);
    cuts.push(Cut {
        threshold: below(first.0),
        genuine_accepted,
        impostor_accepted,
    });
    for w in groups.windows(2) {
        let (prev, next) = (w[0], w[1]);
        genuine_accepted -= prev.1;
        impostor_accepted -= prev.2;
        cuts.push(Cut {
            threshold: midpoint(prev.0, next.0),
            genuine_accepted,
            impostor_accepted,
        });
    }
    cuts.push(Cut {
        threshold: above(last.0),
        genuine_accepted: 0,
        impostor_accepted: 0,
    });
    Ok(Sweep {
        cuts,
        genuine,
        impostor,
    })
}

/// Fraction of pairs decided correctly at `threshold`.
pub fn accuracy_at(pairs: &[ScoredPair], threshold: f64) -> Result<f64, EvalError> {
    accuracy_in(pairs, threshold)
}

pub(super) fn accuracy_in<'a>(
    pairs: impl IntoIterator<Item = &'a ScoredPair>,
    threshold: f64,
) -> Result<f64, EvalError> {
    if threshold.is_nan() {
        return Err(EvalError::InvalidThreshold);
    }
    let (mut n, mut correct) = (0usize, 0usize);
    for p in pairs {
        n += 1;
        if accepts(p.score, threshold) == p.same {
            correct += 1;
        }
    }
    if n == 0 {
        return Err(EvalError::NoPairs);
    }
    Ok(ratio(correct, n))
}

/// Threshold with the highest accuracy among the candidate thresholds
/// (midpoints between consecutive distinct scores, plus just below the
/// minimum and just above the maximum).
///
/// Ties: consecutive candidates with the best accuracy form a plateau; if
/// there are several plateaus the widest (in threshold) wins, then the
/// lowest. Within it, the candidate closest to the plateau's middle is
/// returned (the lower one on an exact tie), so the threshold sits as far as
/// the data allows from the decisions that would lower accuracy.
pub fn best_threshold(pairs: &[ScoredPair]) -> Result<ThresholdChoice, EvalError> {
    best_in(pairs)
}

pub(super) fn best_in<'a>(
    pairs: impl IntoIterator<Item = &'a ScoredPair>,
) -> Result<ThresholdChoice, EvalError> {
    let sw = sweep(pairs)?;
    let correct: Vec<usize> = sw.cuts.iter().map(|c| sw.correct(c)).collect();
    let best = correct.iter().copied().max().unwrap_or(0);
    let t = |i: usize| sw.cuts[i].threshold;

    let mut plateau: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < correct.len() {
        if correct[i] != best {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < correct.len() && correct[j + 1] == best {
            j += 1;
        }
        let wider = match plateau {
            None => true,
            Some((pi, pj)) => t(j) - t(i) > t(pj) - t(pi),
        };
        if wider {
            plateau = Some((i, j));
        }
        i = j + 1;
    }
    let (i, j) = plateau.ok_or(EvalError::NoScoredPairs)?;
    let middle = t(i) + (t(j) - t(i)) / 2.0;
    let mut pick = i;
    for k in i..=j {
        if (t(k) - middle).abs() < (t(pick) - middle).abs() {
            pick = k;
        }
    }
    Ok(ThresholdChoice {
        threshold: t(pick),
        accuracy: ratio(best, sw.total()),
    })
}

/// Pair builders and a tiny generator shared by the metric modules' tests.
#[cfg(test)]
pub(super) mod fixtures {
    use super::ScoredPair;

    pub const EPS: f64 = 1e-9;

    pub fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    #[track_caller]
    pub fn assert_close(a: f64, b: f64) {
        assert!(close(a, b), "{a} != {b}");
    }

    pub fn p(score: Option<f64>, same: bool, source: &str) -> ScoredPair {
        ScoredPair {
            a: "a.jpg".into(),
            b: "b.jpg".into(),
            same,
            source: source.into(),
            score,
        }
    }

    pub fn set(genuine: &[f64], impostor: &[f64]) -> Vec<ScoredPair> {
        genuine
            .iter()
            .map(|&s| p(Some(s), true, "x"))
            .chain(impostor.iter().map(|&s| p(Some(s), false, "x")))
            .collect()
    }

    /// Tiny deterministic generator so property tests need no extra crate.
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub fn score(&mut self) -> Option<f64> {
            match self.next() % 12 {
                0 => None,
                // Coarse grid so ties between classes are common.
                _ => Some((self.next() % 21) as f64 / 20.0),
            }
        }
    }

    pub fn random_pairs(rng: &mut Lcg, n: usize) -> Vec<ScoredPair> {
        (0..n)
            .map(|_| {
                let same = rng.next().is_multiple_of(2);
                let source = format!("lfw_fold{}", rng.next() % 3 + 1);
                p(rng.score(), same, &source)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn accuracy_hand_computed() {
        // g: .9 .8 .4   i: .5 .3 .1
        let pairs = set(&[0.9, 0.8, 0.4], &[0.5, 0.3, 0.1]);
        assert_close(accuracy_at(&pairs, 0.35).unwrap(), 5.0 / 6.0);
        assert_close(accuracy_at(&pairs, 0.45).unwrap(), 4.0 / 6.0);
        // Boundary: score == threshold is accepted.
        assert_close(accuracy_at(&pairs, 0.4).unwrap(), 5.0 / 6.0);
        assert_close(accuracy_at(&pairs, 0.0).unwrap(), 0.5);
        assert_close(accuracy_at(&pairs, 2.0).unwrap(), 0.5);
    }

    #[test]
    fn best_threshold_hand_computed() {
        // Sorted: .1i .2i .3i | .6g .7g .9g: only the gap midpoint .45 is 6/6.
        let pairs = set(&[0.9, 0.7, 0.6], &[0.3, 0.2, 0.1]);
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.threshold, 0.45);
        assert_close(c.accuracy, 1.0);

        // g: .9 .8 .4  i: .5 .3 .1. Candidates and correct counts:
        // below:3 .2:4 .35:5 .45:4 .65:5 .85:4 above:3. Two single-point
        // plateaus of equal width -> the lower one.
        let pairs = set(&[0.9, 0.8, 0.4], &[0.5, 0.3, 0.1]);
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.threshold, 0.35);
        assert_close(c.accuracy, 5.0 / 6.0);
    }

    #[test]
    fn best_threshold_picks_middle_of_plateau() {
        // g: .9 .6 .4  i: .6 .4 .1 -> ties at .4 and .6 cancel out.
        // below:3 .25:4 .5:4 .75:4 above:3 -> plateau .25..=.75, middle .5.
        let pairs = set(&[0.9, 0.6, 0.4], &[0.6, 0.4, 0.1]);
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.threshold, 0.5);
        assert_close(c.accuracy, 4.0 / 6.0);
    }

    #[test]
    fn best_threshold_prefers_widest_plateau() {
        // g: .9 .8  i: .85 .1 : below:2 .475:3 .825:2 .875:3 above:2.
        // Plateaus {.475} and {.875}, both width 0 -> lower. Add a tie at .5
        // to widen the first: g .5 and i .5 cancel -> {.3,.65} is wider.
        let pairs = set(&[0.9, 0.8, 0.5], &[0.85, 0.1, 0.5]);
        // below:3 .3:4 .65:4 .825:3 .875:4 above:3
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.accuracy, 4.0 / 6.0);
        // Plateau .3..=.65 beats the single point .875.
        assert!(c.threshold < 0.7, "{}", c.threshold);
    }

    #[test]
    fn one_class_edges() {
        // All genuine: accept everything -> threshold just below the minimum.
        let c = best_threshold(&set(&[0.7, 0.2], &[])).unwrap();
        assert!(c.threshold < 0.2 && c.threshold > 0.19);
        assert_close(c.accuracy, 1.0);
        // All impostor: reject everything -> just above the maximum.
        let c = best_threshold(&set(&[], &[0.7, 0.2])).unwrap();
        assert!(c.threshold > 0.7 && c.threshold < 0.71);
        assert_close(c.accuracy, 1.0);
    }

    #[test]
    fn none_scores_are_rejections() {
        let mut pairs = set(&[0.9], &[0.1]);
        pairs.push(p(None, true, "x")); // false non-match at any threshold
        pairs.push(p(None, false, "x")); // correct reject at any threshold
        pairs.push(p(Some(f64::NAN), false, "x")); // treated like None
        assert_close(accuracy_at(&pairs, 0.5).unwrap(), 4.0 / 5.0);
        // Accept all scored: .1 impostor becomes a false match; None pairs unchanged.
        assert_close(accuracy_at(&pairs, -10.0).unwrap(), 3.0 / 5.0);
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.threshold, 0.5);
        assert_close(c.accuracy, 0.8);
        let r = rates_at(&pairs, 0.0).unwrap();
        assert_close(r.tar, 0.5);
        assert_close(r.far, 1.0 / 3.0);
        let curve = roc(&pairs).unwrap();
        let last = curve.last().unwrap();
        assert_close(last.tar, 0.5);
        assert_close(last.far, 1.0 / 3.0);
        let src = per_source(&pairs, 0.5);
        assert_eq!(src.len(), 1);
        assert_eq!(src[0].no_face_pairs, 3);
        assert_eq!(src[0].false_non_matches, 1);
        assert_eq!(src[0].false_matches, 0);
    }

    #[test]
    fn empty_and_degenerate_inputs_are_errors() {
        let empty: Vec<ScoredPair> = vec![];
        assert_eq!(accuracy_at(&empty, 0.5), Err(EvalError::NoPairs));
        assert_eq!(best_threshold(&empty), Err(EvalError::NoPairs));
        assert_eq!(roc(&empty), Err(EvalError::NoPairs));
        assert_eq!(eer(&empty), Err(EvalError::NoPairs));
        assert_eq!(tar_at_far(&empty, 0.1), Err(EvalError::NoPairs));
        assert_eq!(threshold_at_fmr(&empty, 0.1), Err(EvalError::NoPairs));
        assert_eq!(rates_at(&empty, 0.5), Err(EvalError::NoPairs));
        assert_eq!(kfold(&empty), Err(EvalError::TooFewFolds { found: 0 }));
        assert!(per_source(&empty, 0.5).is_empty());

        let no_face = vec![p(None, true, "x"), p(None, false, "x")];
        assert_eq!(best_threshold(&no_face), Err(EvalError::NoScoredPairs));
        assert_eq!(eer(&no_face), Err(EvalError::NoScoredPairs));
        assert_close(accuracy_at(&no_face, 0.5).unwrap(), 0.5);

        let genuine_only = set(&[0.5], &[]);
        assert_eq!(roc(&genuine_only), Err(EvalError::NoImpostorPairs));
        assert_eq!(eer(&genuine_only), Err(EvalError::NoImpostorPairs));
        assert_eq!(
            tar_at_far(&genuine_only, 0.1),
            Err(EvalError::NoImpostorPairs)
        );
        assert_eq!(
            threshold_at_fmr(&genuine_only, 0.1),
            Err(EvalError::NoImpostorPairs)
        );
        let impostor_only = set(&[], &[0.5]);
        assert_eq!(roc(&impostor_only), Err(EvalError::NoGenuinePairs));
        assert_eq!(
            tar_at_far(&impostor_only, 0.1),
            Err(EvalError::NoGenuinePairs)
        );
        assert!(threshold_at_fmr(&impostor_only, 0.0).unwrap() > 0.5);

        let pairs = set(&[0.9], &[0.1]);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                tar_at_far(&pairs, bad),
                Err(EvalError::InvalidTarget(_))
            ));
            assert!(matches!(
                threshold_at_fmr(&pairs, bad),
                Err(EvalError::InvalidTarget(_))
            ));
        }
        assert_eq!(
            accuracy_at(&pairs, f64::NAN),
            Err(EvalError::InvalidThreshold)
        );

        let one_fold: Vec<_> = set(&[0.9], &[0.1])
            .into_iter()
            .map(|mut q| {
                q.source = "lfw_fold1".into();
                q
            })
            .collect();
        assert_eq!(kfold(&one_fold), Err(EvalError::TooFewFolds { found: 1 }));
    }

    #[test]
    fn sweep_matches_brute_force() {
        let mut rng = Lcg(7);
        for n in [1, 2, 5, 30, 200] {
            let pairs = random_pairs(&mut rng, n);
            let Ok(sw) = sweep(&pairs) else { continue };
            let mut prev = f64::NEG_INFINITY;
            for c in &sw.cuts {
                assert!(c.threshold > prev, "thresholds strictly ascending");
                prev = c.threshold;
                let ga = pairs
                    .iter()
                    .filter(|q| q.same && accepts(q.score, c.threshold))
                    .count();
                let ia = pairs
                    .iter()
                    .filter(|q| !q.same && accepts(q.score, c.threshold))
                    .count();
                assert_eq!((ga, ia), (c.genuine_accepted, c.impostor_accepted));
            }
            // best_threshold really is the best over a fine grid.
            let best = best_threshold(&pairs).unwrap();
            assert_close(accuracy_at(&pairs, best.threshold).unwrap(), best.accuracy);
            for step in -10..=120 {
                let acc = accuracy_at(&pairs, step as f64 / 100.0).unwrap();
                assert!(acc <= best.accuracy + EPS);
            }
        }
    }

    #[test]
    fn adjacent_float_scores_are_separated() {
        let lo = 0.5f64;
        let hi = lo.next_up();
        let pairs = set(&[hi], &[lo]);
        let c = best_threshold(&pairs).unwrap();
        assert_close(c.accuracy, 1.0);
        assert_close(accuracy_at(&pairs, c.threshold).unwrap(), 1.0);
    }
}
