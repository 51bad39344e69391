//! All cross-identity comparisons of a set of images (every pair of images of different people,
//! identity = the image's folder), to rest a false-match rate on millions of impostor
//! comparisons instead of a pair list's 1,500; and all same-identity comparisons for the
//! false non-match rate at the same threshold. The comparisons share images, so they are not
//! independent: the binomial interval is a lower bound on the real uncertainty.

use serde::Serialize;

use super::binomial::{clopper_pearson, RateInterval};
use crate::engine::Plan;
use crate::runtime::Metric;
use crate::vision::recognise::{raw_compare, Embedding};

/// One image's identity and its descriptors for each stage of the plan.
pub struct Subject<'a> {
    pub identity: &'a str,
    pub descriptors: Vec<Option<&'a Embedding>>,
}

/// The scores of all pairs, impostor and genuine, sorted descending.
#[derive(Debug, Clone, Default)]
pub struct AllPairs {
    pub impostor: Vec<f64>,
    pub genuine: Vec<f64>,
    /// Images with a descriptor.
    pub images: usize,
    pub identities: usize,
    /// Pairs for which a cascade ran its second stage.
    pub second_stage_pairs: u64,
}

/// The identity of an LFW-style path: its parent folder (`.../Name/Name_0001.jpg` -> `Name`).
pub fn identity_of(path: &str) -> &str {
    let mut parts = path.rsplit('/');
    parts.next();
    parts.next().unwrap_or(path)
}

/// Scores every pair of `subjects` under `plan`. Every descriptor of one stage must come from
/// one model (checked once, up front).
pub fn all_pairs(plan: &Plan, subjects: &[Subject]) -> Result<AllPairs, String> {
    let stages = plan.stages.len();
    let usable: Vec<&Subject> = subjects
        .iter()
        .filter(|s| s.descriptors.len() == stages && s.descriptors.iter().all(Option::is_some))
        .collect();
    let mut metric: Vec<Metric> = Vec::with_capacity(stages);
    for i in 0..stages {
        let mut shas = usable.iter().filter_map(|s| s.descriptors[i]);
        if let Some(first) = shas.next() {
            if let Some(other) = shas.find(|e| e.model.sha256 != first.model.sha256) {
                return Err(format!(
                    "stage {i} mixes descriptors of {} and {}",
                    first.model.id, other.model.id
                ));
            }
            metric.push(first.metric);
        } else {
            metric.push(plan.stages[i].1.metric);
        }
    }
    let mut out = AllPairs {
        images: usable.len(),
        ..AllPairs::default()
    };
    let mut ids: Vec<&str> = usable.iter().map(|s| s.identity).collect();
    ids.sort_unstable();
    ids.dedup();
    out.identities = ids.len();
    let n = usable.len();
    let values = |s: &Subject, i: usize| -> Vec<f32> {
        s.descriptors[i]
            .map(|e| e.values.clone())
            .unwrap_or_default()
    };
    // Flat, contiguous descriptors per stage (the sweep is millions of dot products).
    let flat: Vec<Vec<Vec<f32>>> = (0..stages)
        .map(|i| usable.iter().map(|s| values(s, i)).collect())
        .collect();
    out.impostor.reserve(n * n.saturating_sub(1) / 2);
    for a in 0..n {
        for b in a + 1..n {
            let first = raw_compare(metric[0], &flat[0][a], &flat[0][b]);
            let second = if stages > 1 && plan.needs_second(first) {
                out.second_stage_pairs += 1;
                Some(raw_compare(metric[1], &flat[1][a], &flat[1][b]))
            } else {
                None
            };
            let Some(score) = plan.score_known(first, second) else {
                continue;
            };
            if usable[a].identity == usable[b].identity {
                out.genuine.push(score);
            } else {
                out.impostor.push(score);
            }
        }
    }
    out.impostor.sort_unstable_by(|x, y| y.total_cmp(x));
    out.genuine.sort_unstable_by(|x, y| y.total_cmp(x));
    Ok(out)
}

/// Number of scores `>= threshold` in a descending list.
pub fn count_at_or_above(desc: &[f64], threshold: f64) -> usize {
    desc.partition_point(|&s| s >= threshold)
}

/// The lowest threshold whose false-match rate on the (descending) impostor scores is at most
/// `fmr`: the midpoint between the k-th and (k+1)-th highest impostor score (k = floor(fmr n)),
/// nudged up when ties would let more than k through. `None` when there are no impostors.
pub fn threshold_for_fmr(desc: &[f64], fmr: f64) -> Option<f64> {
    let n = desc.len();
    if n == 0 {
        return None;
    }
    let k = ((fmr * n as f64).floor() as usize).min(n);
    if k == n {
        return Some(desc[n - 1].next_down());
    }
    // Accept at most k: the threshold must lie above desc[k].
    let above = desc[k];
    let t = if k == 0 {
        above + 1e-6
    } else {
        let m = above + (desc[k - 1] - above) / 2.0;
        if m > above {
            m
        } else {
            above.next_up()
        }
    };
    Some(t)
}

/// Rates at one threshold on all pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AllPairsPoint {
    pub threshold: f64,
    pub fmr: RateInterval,
    pub false_non_matches: u64,
    pub genuine: u64,
    pub fnmr: f64,
}

pub fn point(all: &AllPairs, threshold: f64) -> AllPairsPoint {
    let fm = count_at_or_above(&all.impostor, threshold) as u64;
    let accepted = count_at_or_above(&all.genuine, threshold) as u64;
    let genuine = all.genuine.len() as u64;
    AllPairsPoint {
        threshold,
        fmr: clopper_pearson(fm, all.impostor.len() as u64),
        false_non_matches: genuine - accepted,
        genuine,
        fnmr: if genuine == 0 {
            0.0
        } else {
            (genuine - accepted) as f64 / genuine as f64
        },
    }
}

/// An edge of the review band and whether the data could resolve it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BandEdge {
    /// The FMR the lower edge was asked for (for the upper edge: the FMR found there).
    pub target_fmr: f64,
    pub at: AllPairsPoint,
    /// False when fewer than one impostor comparison would be allowed at the target: the edge
    /// is then just above the highest impostor score ("the data runs out").
    pub resolved: bool,
}

/// The review band's rule, one for both modes (docs/recognition.md, "Review band"):
/// - below the threshold, down to the score where the FMR is `lower_factor` times the
///   threshold's: people a laxer threshold would accept go to a human, not away;
/// - above it, up to the score below which `upper_genuine_share` of the genuine pairs lie
///   between the threshold and the edge: borderline passes go to a human too, at a staff cost
///   the desk can carry (the genuine scores crowd just above the threshold, so an FMR rule
///   there, e.g. FMR / 10, would send a third of FAST's genuine pairs to review).
pub fn review_band(
    all: &AllPairs,
    threshold: f64,
    lower_factor: f64,
    upper_genuine_share: f64,
) -> Option<(BandEdge, BandEdge)> {
    let at = point(all, threshold);
    let n = all.impostor.len() as f64;
    let base = at.fmr.rate.max(1.0 / n.max(1.0));
    let lo_target = (base * lower_factor).min(1.0);
    let lo = threshold_for_fmr(&all.impostor, lo_target)?;
    // Genuine scores at or above the threshold, ascending; the edge is the first one past the
    // allowed count, so [threshold, edge) holds at most that many.
    let mut above: Vec<f64> = all
        .genuine
        .iter()
        .copied()
        .filter(|&g| g >= threshold)
        .collect();
    above.sort_unstable_by(f64::total_cmp);
    let allowed = (upper_genuine_share * all.genuine.len() as f64).floor() as usize;
    let hi = above.get(allowed).copied().unwrap_or(1.0);
    let hi_point = point(all, hi);
    Some((
        BandEdge {
            target_fmr: lo_target,
            at: point(all, lo),
            resolved: lo_target * n >= 1.0,
        },
        BandEdge {
            target_fmr: hi_point.fmr.rate,
            at: hi_point,
            resolved: hi_point.fmr.k > 0,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_folder() {
        assert_eq!(
            identity_of("faces/lfw/images_deepfunneled/Abel_Pacheco/Abel_Pacheco_0001.jpg"),
            "Abel_Pacheco"
        );
        assert_eq!(identity_of("x.jpg"), "x.jpg");
    }

    #[test]
    fn threshold_for_fmr_never_exceeds_the_target() {
        let desc = [0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        for (fmr, want) in [(0.0, 0), (0.1, 1), (0.15, 1), (0.2, 1), (0.3, 3), (1.0, 10)] {
            let t = threshold_for_fmr(&desc, fmr).expect("some");
            let k = count_at_or_above(&desc, t);
            assert!(k as f64 <= fmr * 10.0 + 1e-9, "fmr {fmr}: {k} accepted");
            assert_eq!(k, want, "fmr {fmr}");
        }
        assert_eq!(threshold_for_fmr(&[], 0.1), None);
    }

    #[test]
    fn band_edges_move_by_the_factor() {
        let all = AllPairs {
            impostor: (0..10_000).rev().map(|i| f64::from(i) / 10_000.0).collect(),
            genuine: vec![0.9999, 0.5],
            images: 0,
            identities: 0,
            second_stage_pairs: 0,
        };
        let t = threshold_for_fmr(&all.impostor, 1e-2).expect("t");
        let p = point(&all, t);
        assert_eq!(p.fmr.k, 100);
        assert_eq!((p.false_non_matches, p.genuine), (1, 2));
        let (lo, hi) = review_band(&all, t, 10.0, 0.0).expect("band");
        assert_eq!(lo.at.fmr.k, 1000);
        // No genuine pair may fall between the threshold and the upper edge: the edge is the
        // lowest genuine score above the threshold.
        assert_eq!(hi.at.threshold, 0.9999);
        assert_eq!(hi.at.fmr.k, 1);
        assert!(lo.resolved && hi.resolved);
    }

    #[test]
    fn the_upper_edge_holds_the_allowed_share_of_genuine_pairs() {
        let all = AllPairs {
            impostor: (0..1_000).rev().map(|i| f64::from(i) / 1_000.0).collect(),
            // 10 genuine pairs, 8 above the threshold 0.5.
            genuine: vec![0.99, 0.95, 0.9, 0.8, 0.7, 0.65, 0.6, 0.55, 0.3, 0.2],
            images: 0,
            identities: 0,
            second_stage_pairs: 0,
        };
        let (_, hi) = review_band(&all, 0.5, 10.0, 0.2).expect("band");
        // 20% of 10 = 2 genuine pairs (0.55, 0.6) in [0.5, edge): the edge is 0.65.
        assert_eq!(hi.at.threshold, 0.65);
        let inside = all
            .genuine
            .iter()
            .filter(|&&g| (0.5..0.65).contains(&g))
            .count();
        assert_eq!(inside, 2);
        // Every genuine pair allowed: the edge is the top.
        let (_, hi) = review_band(&all, 0.5, 10.0, 1.0).expect("band");
        assert_eq!(hi.at.threshold, 1.0);
    }
}
