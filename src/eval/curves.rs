//! ROC curve, rates at a threshold, TAR at a target FAR (threshold for a target FMR) and EER.

use serde::{Deserialize, Serialize};

use super::metrics::{accepts, ratio, sweep, Cut, Sweep};
use super::{EvalError, ScoredPair};

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

#[cfg(test)]
mod tests {
    use super::super::metrics::fixtures::*;
    use super::*;

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
}
