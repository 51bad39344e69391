//! Threshold sweeps and the verification metrics built on them.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{EvalError, ScoredPair};

/// Sources whose name starts with this are LFW-style folds used by [`kfold`].
pub const FOLD_PREFIX: &str = "lfw_fold";

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

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub threshold: f64,
    /// Impostor pairs accepted / impostor pairs.
    pub far: f64,
    /// Genuine pairs accepted / genuine pairs.
    pub tar: f64,
}

/// Rates at one threshold (same fields as a ROC point, named for reports).
pub type OperatingPoint = RocPoint;

/// Equal error rate and the (interpolated) threshold where it occurs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eer {
    pub eer: f64,
    pub threshold: f64,
}

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

/// The score used for decisions: `None` and non-finite scores never match.
fn usable(score: Option<f64>) -> Option<f64> {
    score.filter(|s| s.is_finite())
}

/// The single decision rule every metric uses.
fn accepts(score: Option<f64>, threshold: f64) -> bool {
    usable(score).is_some_and(|s| s >= threshold)
}

/// A candidate threshold and what it accepts.
#[derive(Debug, Clone, Copy)]
struct Cut {
    threshold: f64,
    genuine_accepted: usize,
    impostor_accepted: usize,
}

/// All distinct decisions on a pair set, by ascending threshold.
#[derive(Debug)]
struct Sweep {
    cuts: Vec<Cut>,
    /// All genuine / impostor pairs, including those without a score.
    genuine: usize,
    impostor: usize,
}

impl Sweep {
    fn total(&self) -> usize {
        self.genuine + self.impostor
    }

    fn correct(&self, cut: &Cut) -> usize {
        cut.genuine_accepted + (self.impostor - cut.impostor_accepted)
    }

    fn require_both_classes(&self) -> Result<(), EvalError> {
        if self.genuine == 0 {
            return Err(EvalError::NoGenuinePairs);
        }
        if self.impostor == 0 {
            return Err(EvalError::NoImpostorPairs);
        }
        Ok(())
    }

    fn point(&self, cut: &Cut) -> RocPoint {
        RocPoint {
            threshold: cut.threshold,
            far: ratio(cut.impostor_accepted, self.impostor),
            tar: ratio(cut.genuine_accepted, self.genuine),
        }
    }
}

/// `num / den`, or 0 when `den == 0` (callers check classes first when a
/// zero denominator would make the rate meaningless).
fn ratio(num: usize, den: usize) -> f64 {
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

fn sweep<'a>(pairs: impl IntoIterator<Item = &'a ScoredPair>) -> Result<Sweep, EvalError> {
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

fn accuracy_in<'a>(
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

fn best_in<'a>(
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

/// Order strings with embedded numbers numerically (`lfw_fold2` before
/// `lfw_fold10`), falling back to plain byte order so the order is total.
fn natural_cmp(a: &str, b: &str) -> Ordering {
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
/// fold the threshold is chosen by [`best_threshold`] on all *other* folds
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

/// ROC curve over all candidate thresholds, ordered by descending threshold
/// (FAR and TAR non-decreasing, from "reject all" to "accept all"). With
/// no-face pairs the curve ends below TAR = 1 / FAR = 1, as it should.
pub fn roc(pairs: &[ScoredPair]) -> Result<Vec<RocPoint>, EvalError> {
    let sw = sweep(pairs)?;
    sw.require_both_classes()?;
    Ok(sw.cuts.iter().rev().map(|c| sw.point(c)).collect())
}

/// FAR and TAR at a given threshold (e.g. the product's configured one).
pub fn rates_at(pairs: &[ScoredPair], threshold: f64) -> Result<OperatingPoint, EvalError> {
    if threshold.is_nan() {
        return Err(EvalError::InvalidThreshold);
    }
    let mut sw = Sweep {
        cuts: Vec::new(),
        genuine: 0,
        impostor: 0,
    };
    let mut cut = Cut {
        threshold,
        genuine_accepted: 0,
        impostor_accepted: 0,
    };
    for p in pairs {
        let acc = usize::from(accepts(p.score, threshold));
        if p.same {
            sw.genuine += 1;
            cut.genuine_accepted += acc;
        } else {
            sw.impostor += 1;
            cut.impostor_accepted += acc;
        }
    }
    if pairs.is_empty() {
        return Err(EvalError::NoPairs);
    }
    sw.require_both_classes()?;
    Ok(sw.point(&cut))
}

fn check_rate(rate: f64) -> Result<(), EvalError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(EvalError::InvalidTarget(rate))
    }
}

/// Lowest candidate threshold whose FAR is `<= far_target`.
fn lowest_cut_within(sw: &Sweep, far_target: f64) -> Result<Cut, EvalError> {
    if sw.impostor == 0 {
        return Err(EvalError::NoImpostorPairs);
    }
    // FAR is non-increasing in the threshold, so the first cut (ascending)
    // within the target is the lowest threshold and has the highest TAR.
    // The last cut accepts nothing (FAR 0), so one is always found.
    sw.cuts
        .iter()
        .find(|c| ratio(c.impostor_accepted, sw.impostor) <= far_target)
        .copied()
        .ok_or(EvalError::NoScoredPairs)
}

/// TAR at the lowest candidate threshold whose FAR is `<= far_target`: the
/// reported FAR never exceeds the target (no interpolation across it), so
/// the number is achievable with the returned threshold on this data.
pub fn tar_at_far(pairs: &[ScoredPair], far_target: f64) -> Result<OperatingPoint, EvalError> {
    check_rate(far_target)?;
    let sw = sweep(pairs)?;
    sw.require_both_classes()?;
    let cut = lowest_cut_within(&sw, far_target)?;
    Ok(sw.point(&cut))
}

/// Threshold for a target false match rate (= FAR), chosen as in
/// [`tar_at_far`]. Only impostor pairs are needed, so a product default can
/// be calibrated from impostor data alone.
pub fn threshold_at_fmr(pairs: &[ScoredPair], fmr: f64) -> Result<f64, EvalError> {
    check_rate(fmr)?;
    let sw = sweep(pairs)?;
    Ok(lowest_cut_within(&sw, fmr)?.threshold)
}

/// Equal error rate: where FAR and FRR (= 1 - TAR) cross.
///
/// Along ascending thresholds FAR falls and FRR rises. If some candidate has
/// FAR == FRR exactly, that is the EER (threshold: middle of such candidates).
/// Otherwise FAR and FRR are linearly interpolated between the two adjacent
/// candidates that bracket the crossing, and the EER and threshold are taken
/// at the interpolated crossing (the usual convention; it lies between two
/// achievable operating points). If the curves never cross (many genuine
/// pairs without a face make FRR > FAR everywhere), the candidate minimising
/// |FAR - FRR| is used and the EER is (FAR + FRR) / 2 there.
pub fn eer(pairs: &[ScoredPair]) -> Result<Eer, EvalError> {
    let sw = sweep(pairs)?;
    sw.require_both_classes()?;
    let (ng, ni) = (sw.genuine as i128, sw.impostor as i128);
    // Sign-exact FAR - FRR scaled by ng * ni, so equality is not a float test.
    let diff: Vec<i128> = sw
        .cuts
        .iter()
        .map(|c| c.impostor_accepted as i128 * ng - (ng - c.genuine_accepted as i128) * ni)
        .collect();
    let far = |i: usize| ratio(sw.cuts[i].impostor_accepted, sw.impostor);
    let frr = |i: usize| 1.0 - ratio(sw.cuts[i].genuine_accepted, sw.genuine);
    let t = |i: usize| sw.cuts[i].threshold;

    let zeros: Vec<usize> = (0..diff.len()).filter(|&i| diff[i] == 0).collect();
    if let (Some(&first), Some(&last)) = (zeros.first(), zeros.last()) {
        return Ok(Eer {
            eer: far(first),
            threshold: t(first) + (t(last) - t(first)) / 2.0,
        });
    }
    if let Some(k) = (0..diff.len().saturating_sub(1)).find(|&k| diff[k] > 0 && diff[k + 1] < 0) {
        let (d0, d1) = (diff[k] as f64, diff[k + 1] as f64);
        let alpha = d0 / (d0 - d1);
        return Ok(Eer {
            eer: far(k) + alpha * (far(k + 1) - far(k)),
            threshold: t(k) + alpha * (t(k + 1) - t(k)),
        });
    }
    let k = (0..diff.len())
        .min_by_key(|&i| diff[i].unsigned_abs())
        .ok_or(EvalError::NoScoredPairs)?;
    Ok(Eer {
        eer: (far(k) + frr(k)) / 2.0,
        threshold: t(k),
    })
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
    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    #[track_caller]
    fn assert_close(a: f64, b: f64) {
        assert!(close(a, b), "{a} != {b}");
    }

    fn p(score: Option<f64>, same: bool, source: &str) -> ScoredPair {
        ScoredPair {
            a: "a.jpg".into(),
            b: "b.jpg".into(),
            same,
            source: source.into(),
            score,
        }
    }

    fn set(genuine: &[f64], impostor: &[f64]) -> Vec<ScoredPair> {
        genuine
            .iter()
            .map(|&s| p(Some(s), true, "x"))
            .chain(impostor.iter().map(|&s| p(Some(s), false, "x")))
            .collect()
    }

    /// Tiny deterministic generator so property tests need no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn score(&mut self) -> Option<f64> {
            match self.next() % 12 {
                0 => None,
                // Coarse grid so ties between classes are common.
                _ => Some((self.next() % 21) as f64 / 20.0),
            }
        }
    }

    fn random_pairs(rng: &mut Lcg, n: usize) -> Vec<ScoredPair> {
        (0..n)
            .map(|_| {
                let same = rng.next().is_multiple_of(2);
                let source = format!("lfw_fold{}", rng.next() % 3 + 1);
                p(rng.score(), same, &source)
            })
            .collect()
    }

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

    #[test]
    fn roc_hand_computed() {
        // g: .9 .6  i: .7 .1
        let pairs = set(&[0.9, 0.6], &[0.7, 0.1]);
        let r = roc(&pairs).unwrap();
        let got: Vec<(f64, f64)> = r.iter().map(|q| (q.far, q.tar)).collect();
        assert_eq!(
            got,
            [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
        assert_close(r[1].threshold, 0.8);
        assert_close(r[2].threshold, 0.65);
        assert_close(r[3].threshold, 0.35);
        assert!(r.windows(2).all(|w| w[0].threshold > w[1].threshold));
    }

    #[test]
    fn tar_at_far_hand_computed() {
        // 4 impostors .1 .2 .3 .65, 4 genuines .6 .7 .8 .9.
        let pairs = set(&[0.6, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.65]);
        let op = tar_at_far(&pairs, 0.0).unwrap();
        assert_close(op.threshold, 0.675);
        assert_close(op.far, 0.0);
        assert_close(op.tar, 0.75);
        let op = tar_at_far(&pairs, 0.25).unwrap();
        assert_close(op.threshold, 0.45);
        assert_close(op.far, 0.25);
        assert_close(op.tar, 1.0);
        // 0.2 < 0.25: must not round up to the .25 point.
        let op = tar_at_far(&pairs, 0.2).unwrap();
        assert_close(op.threshold, 0.675);
        assert_close(op.far, 0.0);
        assert_close(threshold_at_fmr(&pairs, 0.2).unwrap(), 0.675);
        let op = tar_at_far(&pairs, 1.0).unwrap();
        assert!(op.threshold < 0.1);
        assert_close(op.far, 1.0);
    }

    #[test]
    fn tar_at_far_never_exceeds_target() {
        let mut rng = Lcg(42);
        for _ in 0..40 {
            let pairs = random_pairs(&mut rng, 60);
            for target in [0.0, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.99, 1.0] {
                let Ok(op) = tar_at_far(&pairs, target) else {
                    continue;
                };
                assert!(op.far <= target, "far {} > target {target}", op.far);
                let check = rates_at(&pairs, op.threshold).unwrap();
                assert_eq!((check.far, check.tar), (op.far, op.tar));
                // Lowest such threshold: every lower ROC point exceeds target.
                for q in roc(&pairs).unwrap() {
                    if q.threshold < op.threshold {
                        assert!(q.far > target);
                    }
                }
            }
        }
    }

    #[test]
    fn eer_exact_symmetric() {
        // At .625 one impostor (.65) is accepted and one genuine (.6) is
        // rejected: FAR = FRR = 1/4.
        let pairs = set(&[0.6, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.65]);
        let e = eer(&pairs).unwrap();
        assert_close(e.eer, 0.25);
        assert_close(e.threshold, 0.625);
        // Perfectly separable: EER 0 at the middle of the zero-error range.
        let e = eer(&set(&[0.8, 0.9], &[0.1, 0.2])).unwrap();
        assert_close(e.eer, 0.0);
        assert_close(e.threshold, 0.5);
    }

    #[test]
    fn eer_interpolated() {
        // g: .6 .8 .9  i: .1 .7. At .65: FAR 1/2, FRR 1/3 (d = 1/6);
        // at .75: FAR 0, FRR 1/3 (d = -1/3). alpha = 1/3 -> EER 1/3 at .68333.
        let pairs = set(&[0.6, 0.8, 0.9], &[0.1, 0.7]);
        let e = eer(&pairs).unwrap();
        assert_close(e.eer, 1.0 / 3.0);
        assert_close(e.threshold, 0.65 + 0.1 / 3.0);
    }

    #[test]
    fn eer_without_crossing_uses_closest_point() {
        // 3 of 4 genuines and 3 of 4 impostors have no face: FRR >= 3/4 and
        // FAR <= 1/4 everywhere, so the curves never cross.
        let mut pairs = set(&[0.9], &[0.1]);
        pairs.extend((0..3).map(|_| p(None, true, "x")));
        pairs.extend((0..3).map(|_| p(None, false, "x")));
        // Accept-all: FAR 1/4, FRR 3/4 (closest); never crosses.
        let e = eer(&pairs).unwrap();
        assert_close(e.eer, 0.5);
        assert!(e.threshold < 0.1);
    }

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
