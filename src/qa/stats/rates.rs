//! Rates on a score set: the sorted `ScoreSet`, EER, the rule of 3 and FNMR at a target FMR,
//! and every rate at one threshold with its exact interval.

use serde::{Deserialize, Serialize};

use super::clopper_pearson;

/// Margin of the "reject everything" threshold above the highest score (and of "accept
/// everything" below the lowest), as in `eval`.
const EDGE_MARGIN: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// Score sets
// ---------------------------------------------------------------------------------------------

/// The scores of one evaluation, split by class and sorted ascending, with the failures to
/// acquire counted per class. Built once; every query below is a binary search, so a threshold
/// can be moved over millions of pairs at frame rate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoreSet {
    /// Genuine (same person) scores, ascending.
    pub genuine: Vec<f64>,
    /// Impostor (different people) scores, ascending.
    pub impostor: Vec<f64>,
    /// Index (into the caller's pair list) of each entry of `genuine` / `impostor`.
    pub genuine_pair: Vec<usize>,
    pub impostor_pair: Vec<usize>,
    /// Genuine / impostor pairs without a score (no face, unreadable image).
    pub genuine_fta: usize,
    pub impostor_fta: usize,
}

/// One pair as the statistics see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labelled {
    pub same: bool,
    /// `None` (or a non-finite value) = failure to acquire.
    pub score: Option<f64>,
}

impl ScoreSet {
    /// From pairs in the caller's order (the index of each is kept for listing pairs).
    pub fn new(pairs: impl IntoIterator<Item = Labelled>) -> Self {
        Self::from_indexed(pairs.into_iter().enumerate())
    }

    /// From pairs with the caller's own indices (e.g. a subset of a list).
    pub fn from_indexed(pairs: impl IntoIterator<Item = (usize, Labelled)>) -> Self {
        let mut g: Vec<(f64, usize)> = Vec::new();
        let mut i: Vec<(f64, usize)> = Vec::new();
        let mut s = ScoreSet::default();
        for (idx, p) in pairs {
            match (p.same, p.score.filter(|x| x.is_finite())) {
                (true, Some(x)) => g.push((x, idx)),
                (false, Some(x)) => i.push((x, idx)),
                (true, None) => s.genuine_fta += 1,
                (false, None) => s.impostor_fta += 1,
            }
        }
        g.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        i.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        (s.genuine, s.genuine_pair) = g.into_iter().unzip();
        (s.impostor, s.impostor_pair) = i.into_iter().unzip();
        s
    }

    /// From bare genuine and impostor score lists (tests, synthetic sets).
    pub fn from_scores(genuine: &[f64], impostor: &[f64]) -> Self {
        Self::new(
            genuine
                .iter()
                .map(|&x| Labelled {
                    same: true,
                    score: Some(x),
                })
                .chain(impostor.iter().map(|&x| Labelled {
                    same: false,
                    score: Some(x),
                })),
        )
    }

    pub fn genuine_count(&self) -> usize {
        self.genuine.len()
    }
    pub fn impostor_count(&self) -> usize {
        self.impostor.len()
    }
    /// All pairs, with and without a score.
    pub fn pairs(&self) -> usize {
        self.genuine.len() + self.impostor.len() + self.fta_pairs()
    }
    pub fn fta_pairs(&self) -> usize {
        self.genuine_fta + self.impostor_fta
    }

    /// Genuine pairs rejected at `t` (score < t).
    pub fn false_non_matches(&self, t: f64) -> usize {
        self.genuine.partition_point(|&s| s < t)
    }

    /// Impostor pairs accepted at `t` (score >= t).
    pub fn false_matches(&self, t: f64) -> usize {
        self.impostor.len() - self.impostor.partition_point(|&s| s < t)
    }

    pub fn fmr(&self, t: f64) -> Option<f64> {
        ratio(self.false_matches(t), self.impostor.len())
    }

    pub fn fnmr(&self, t: f64) -> Option<f64> {
        ratio(self.false_non_matches(t), self.genuine.len())
    }

    pub fn min_score(&self) -> Option<f64> {
        match (self.genuine.first(), self.impostor.first()) {
            (Some(a), Some(b)) => Some(a.min(*b)),
            (a, b) => a.or(b).copied(),
        }
    }

    pub fn max_score(&self) -> Option<f64> {
        match (self.genuine.last(), self.impostor.last()) {
            (Some(a), Some(b)) => Some(a.max(*b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// The `n` genuine (or impostor) scores closest to `t`, as (pair index, score), closest first.
    pub fn nearest(&self, t: f64, n: usize, genuine: bool) -> Vec<(usize, f64)> {
        let (scores, idx) = if genuine {
            (&self.genuine, &self.genuine_pair)
        } else {
            (&self.impostor, &self.impostor_pair)
        };
        let split = scores.partition_point(|&s| s < t);
        let (mut lo, mut hi) = (split, split); // candidates: scores[lo - 1] and scores[hi]
        let mut out = Vec::with_capacity(n.min(scores.len()));
        while out.len() < n && (lo > 0 || hi < scores.len()) {
            let take_hi = lo == 0
                || (hi < scores.len() && (scores[hi] - t).abs() <= (t - scores[lo - 1]).abs());
            if take_hi {
                out.push((idx[hi], scores[hi]));
                hi += 1;
            } else {
                lo -= 1;
                out.push((idx[lo], scores[lo]));
            }
        }
        out
    }

    /// The smallest score of either class strictly above `v`.
    fn next_score_above(&self, v: f64) -> Option<f64> {
        let g = self.genuine.get(self.genuine.partition_point(|&s| s <= v));
        let i = self
            .impostor
            .get(self.impostor.partition_point(|&s| s <= v));
        match (g, i) {
            (Some(a), Some(b)) => Some(a.min(*b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Distinct scores of both classes, ascending (the candidate thresholds).
    fn distinct_scores(&self) -> Vec<f64> {
        let mut all: Vec<f64> = Vec::with_capacity(self.genuine.len() + self.impostor.len());
        let (mut a, mut b) = (0, 0);
        while a < self.genuine.len() || b < self.impostor.len() {
            let take_g = b >= self.impostor.len()
                || (a < self.genuine.len() && self.genuine[a] <= self.impostor[b]);
            let v = if take_g {
                a += 1;
                self.genuine[a - 1]
            } else {
                b += 1;
                self.impostor[b - 1]
            };
            if all.last() != Some(&v) {
                all.push(v);
            }
        }
        all
    }

    /// (threshold, FMR, FNMR) at every distinct score (accept >= score) and at "reject all",
    /// by ascending threshold. Empty unless both classes have scores.
    pub fn sweep(&self) -> Vec<(f64, f64, f64)> {
        let (ng, ni) = (self.genuine.len(), self.impostor.len());
        if ng == 0 || ni == 0 {
            return Vec::new();
        }
        let scores = self.distinct_scores();
        let mut out = Vec::with_capacity(scores.len() + 1);
        let (mut g, mut i) = (0usize, 0usize); // genuine / impostor scores < t
        for &t in &scores {
            while g < ng && self.genuine[g] < t {
                g += 1;
            }
            while i < ni && self.impostor[i] < t {
                i += 1;
            }
            out.push((t, (ni - i) as f64 / ni as f64, g as f64 / ng as f64));
        }
        if let Some(&last) = scores.last() {
            out.push((above(last), 0.0, 1.0));
        }
        out
    }
}

/// `lo < hi` (false when either is NaN).
pub fn increasing(lo: f64, hi: f64) -> bool {
    lo < hi
}

fn ratio(k: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn above(v: f64) -> f64 {
    let t = v + EDGE_MARGIN;
    if t > v {
        t
    } else {
        v.next_up()
    }
}

fn below(v: f64) -> f64 {
    let t = v - EDGE_MARGIN;
    if t < v {
        t
    } else {
        v.next_down()
    }
}

// ---------------------------------------------------------------------------------------------
// EER
// ---------------------------------------------------------------------------------------------

/// The equal error rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EerResult {
    /// Where FMR and FNMR cross, linearly interpolated between the two adjacent operating points
    /// that bracket the crossing (exact when an operating point has FMR == FNMR).
    pub eer: f64,
    pub threshold: f64,
    /// FVC 2000's [EERlow, EERhigh]: the bracket the crossing lies in on this data.
    pub interval: [f64; 2],
}

/// EER over the pairs with a score; `None` unless both classes have at least one.
pub fn eer(s: &ScoreSet) -> Option<EerResult> {
    let pts = s.sweep();
    // d = FMR - FNMR falls from >= 0 (first point: FMR 1, FNMR 0) to < 0 (last: 0, 1).
    let k = pts.iter().position(|&(_, fmr, fnmr)| fnmr >= fmr)?;
    let (t1, fmr1, fnmr1) = pts[k];
    // The first point accepts everything (FMR 1, FNMR 0), so k >= 1.
    if fnmr1 == fmr1 || k == 0 {
        return Some(EerResult {
            eer: fmr1,
            threshold: t1,
            interval: [fmr1.min(fnmr1), fmr1.max(fnmr1)],
        });
    }
    let (t0, fmr0, fnmr0) = pts[k - 1];
    let d0 = fmr0 - fnmr0; // > 0
    let d1 = fmr1 - fnmr1; // < 0
    let alpha = d0 / (d0 - d1);
    let eer = fmr0 + alpha * (fmr1 - fmr0);
    // FVC: t1 = last point with FNMR <= FMR, t2 = first with FNMR >= FMR.
    let interval = if fnmr0 + fmr0 <= fnmr1 + fmr1 {
        [fnmr0, fmr0]
    } else {
        [fmr1, fnmr1]
    };
    Some(EerResult {
        eer,
        threshold: t0 + alpha * (t1 - t0),
        interval,
    })
}

// ---------------------------------------------------------------------------------------------
// Rule of 3 and FNMR at a target FMR
// ---------------------------------------------------------------------------------------------

/// Impostor pairs needed before an FMR of `fmr` can be claimed: with zero false matches in N
/// independent trials the 95 % upper bound on the rate is about 3 / N ("rule of 3"), so a
/// target below 3 / N is not supported by the data.
pub fn required_impostors(fmr: f64) -> u64 {
    if !increasing(0.0, fmr) {
        return u64::MAX;
    }
    // Tolerance so that 3 / 1e-3 (2999.9999999999995 in floating point) needs 3,000.
    let n = 3.0 / fmr;
    let r = n.round();
    if (n - r).abs() <= 1e-9 * r {
        r as u64
    } else {
        n.ceil() as u64
    }
}

/// FNMR at the lowest threshold whose FMR does not exceed a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtFmr {
    pub target: f64,
    /// `None` when not supported.
    pub threshold: Option<f64>,
    pub fnmr: Option<f64>,
    /// Impostor count >= 3 / target (rule of 3).
    pub supported: bool,
    /// Why not, in words, when not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The FMR achieved at `threshold` (<= target) and its false matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_matches: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fnmr_ci95: Option<[f64; 2]>,
    pub impostor: usize,
    pub required_impostors: u64,
}

/// The sentence the report and the screen show instead of a number.
pub const NOT_SUPPORTED: &str = "not supported by this data";

/// The lowest threshold whose FMR is <= `target` on `s`, without the rule-of-3 guard (`None`
/// without impostor or genuine scores). Any threshold in (that impostor score, next score] makes
/// the same decisions; the midpoint leaves the same margin to both.
pub fn threshold_at_fmr_unguarded(s: &ScoreSet, target: f64) -> Option<f64> {
    let ni = s.impostor.len();
    if ni == 0 || s.genuine.is_empty() || !(0.0..=1.0).contains(&target) {
        return None;
    }
    // False matches allowed.
    let k = ((target * ni as f64) + 1e-9).floor() as usize;
    if k >= ni {
        return s.min_score().map(below);
    }
    // Reject impostor[ni - k - 1] and everything below it.
    let v = s.impostor[ni - k - 1];
    Some(match s.next_score_above(v) {
        Some(next) => {
            let m = v + (next - v) / 2.0;
            if m > v && m <= next {
                m
            } else {
                next
            }
        }
        None => above(v),
    })
}

/// FNMR at FMR `target` with the rule-of-3 guard: never a number when the data cannot support it.
pub fn fnmr_at_fmr(s: &ScoreSet, target: f64) -> AtFmr {
    let ni = s.impostor.len();
    let required = required_impostors(target);
    let mut out = AtFmr {
        target,
        threshold: None,
        fnmr: None,
        supported: false,
        reason: None,
        fmr: None,
        false_matches: None,
        fnmr_ci95: None,
        impostor: ni,
        required_impostors: required,
    };
    if (ni as u64) < required {
        out.reason = Some(format!(
            "{NOT_SUPPORTED}: {ni} impostor pairs, at least {required} needed for FMR {} (rule of 3)",
            fmt_rate(target)
        ));
        return out;
    }
    if s.genuine.is_empty() {
        out.reason = Some(format!("{NOT_SUPPORTED}: no genuine pair has a score"));
        return out;
    }
    let Some(t) = threshold_at_fmr_unguarded(s, target) else {
        out.reason = Some(format!("{NOT_SUPPORTED}: no scores"));
        return out;
    };
    let fnm = s.false_non_matches(t);
    out.threshold = Some(t);
    out.fnmr = s.fnmr(t);
    out.fnmr_ci95 = clopper_pearson(fnm as u64, s.genuine.len() as u64);
    out.fmr = s.fmr(t);
    out.false_matches = Some(s.false_matches(t));
    out.supported = true;
    out
}

/// "0.1%" style for a rate, used in sentences.
pub fn fmt_rate(r: f64) -> String {
    if !increasing(0.0, r) {
        return "0%".into();
    }
    let pct = r * 100.0;
    let s = if pct >= 1.0 {
        format!("{pct:.0}")
    } else {
        let digits = ((-pct.log10()).ceil().max(1.0) as usize).min(8);
        format!("{pct:.digits$}")
    };
    format!("{s}%")
}

// ---------------------------------------------------------------------------------------------
// Rates at a threshold
// ---------------------------------------------------------------------------------------------

/// Every rate at one threshold, with counts and exact 95 % intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub threshold: f64,
    pub genuine: usize,
    pub impostor: usize,
    pub false_matches: usize,
    pub false_non_matches: usize,
    /// `None` without impostor (genuine) scores.
    pub fmr: Option<f64>,
    pub fmr_ci95: Option<[f64; 2]>,
    pub fnmr: Option<f64>,
    pub fnmr_ci95: Option<[f64; 2]>,
    /// Pairs without a score / all pairs.
    pub pairs: usize,
    pub fta_pairs: usize,
    pub fta: Option<f64>,
    pub fta_ci95: Option<[f64; 2]>,
    /// FMR * (1 - FTA); interval: the FMR interval scaled by (1 - FTA) (FTA taken as known).
    pub far: Option<f64>,
    pub far_ci95: Option<[f64; 2]>,
    /// FTA + FNMR * (1 - FTA); interval likewise from the FNMR interval.
    pub frr: Option<f64>,
    pub frr_ci95: Option<[f64; 2]>,
}

pub fn rates_at(s: &ScoreSet, t: f64) -> Rates {
    let fm = s.false_matches(t);
    let fnm = s.false_non_matches(t);
    let (ng, ni) = (s.genuine.len(), s.impostor.len());
    let pairs = s.pairs();
    let fta_n = s.fta_pairs();
    let fta = ratio(fta_n, pairs);
    let fmr = ratio(fm, ni);
    let fnmr = ratio(fnm, ng);
    let fmr_ci = clopper_pearson(fm as u64, ni as u64);
    let fnmr_ci = clopper_pearson(fnm as u64, ng as u64);
    let keep = fta.map(|f| 1.0 - f);
    let far = fmr.zip(keep).map(|(r, k)| r * k);
    let frr = fnmr.zip(fta).map(|(r, f)| f + r * (1.0 - f));
    Rates {
        threshold: t,
        genuine: ng,
        impostor: ni,
        false_matches: fm,
        false_non_matches: fnm,
        fmr,
        fmr_ci95: fmr_ci,
        fnmr,
        fnmr_ci95: fnmr_ci,
        pairs,
        fta_pairs: fta_n,
        fta,
        fta_ci95: clopper_pearson(fta_n as u64, pairs as u64),
        far,
        far_ci95: fmr_ci.zip(keep).map(|(c, k)| [c[0] * k, c[1] * k]),
        frr,
        frr_ci95: fnmr_ci
            .zip(fta)
            .map(|(c, f)| [f + c[0] * (1.0 - f), f + c[1] * (1.0 - f)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::stats::close;

    #[test]
    fn rates_at_threshold_with_known_counts() {
        // Genuine 0.5..0.9, impostor 0.1..0.6; one FTA in each class.
        let pairs = [
            (true, Some(0.5)),
            (true, Some(0.7)),
            (true, Some(0.8)),
            (true, Some(0.9)),
            (true, None),
            (false, Some(0.1)),
            (false, Some(0.2)),
            (false, Some(0.3)),
            (false, Some(0.6)),
            (false, None),
        ]
        .map(|(same, score)| Labelled { same, score });
        let s = ScoreSet::new(pairs);
        assert_eq!(
            (s.genuine_count(), s.impostor_count(), s.fta_pairs()),
            (4, 4, 2)
        );
        let r = rates_at(&s, 0.6);
        assert_eq!((r.false_matches, r.false_non_matches), (1, 1));
        assert_eq!((r.fmr, r.fnmr, r.fta), (Some(0.25), Some(0.25), Some(0.2)));
        assert!(close(r.far.unwrap(), 0.2, 1e-12));
        assert!(close(r.frr.unwrap(), 0.4, 1e-12));
        assert_eq!(r.fmr_ci95, clopper_pearson(1, 4));
        // The boundary: score == threshold is accepted.
        assert_eq!(s.false_matches(0.3), 2);
        assert_eq!(s.false_non_matches(0.5), 0);
        assert_eq!(s.false_non_matches(0.50001), 1);
    }

    #[test]
    fn eer_exact_and_interpolated() {
        // Separable: EER 0 between the classes.
        let s = ScoreSet::from_scores(&[0.8, 0.9], &[0.1, 0.2]);
        let e = eer(&s).unwrap();
        assert_eq!(e.eer, 0.0);
        assert!(e.threshold > 0.2 && e.threshold <= 0.8, "{e:?}");
        // One impostor above one genuine of four each: at t = 0.6 FMR = FNMR = 1/4.
        let s = ScoreSet::from_scores(&[0.5, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.6]);
        let e = eer(&s).unwrap();
        assert!(close(e.eer, 0.25, 1e-12), "{e:?}");
        // Interpolated: genuine [0.4, 0.6, 0.8], impostor [0.1, 0.5].
        // t=0.4: FMR 1/2, FNMR 0; t=0.5: FMR 1/2, FNMR 1/3; t=0.6: FMR 0, FNMR 1/3.
        // Crossing between t=0.5 (d=1/6) and t=0.6 (d=-1/3): alpha = 1/3, EER = 1/2 - 1/6 = 1/3.
        let s = ScoreSet::from_scores(&[0.4, 0.6, 0.8], &[0.1, 0.5]);
        let e = eer(&s).unwrap();
        assert!(close(e.eer, 1.0 / 3.0, 1e-12), "{e:?}");
        assert!(close(e.threshold, 0.5 + 0.1 / 3.0, 1e-12), "{e:?}");
        assert_eq!(e.interval, [0.0, 1.0 / 3.0]);
        assert_eq!(eer(&ScoreSet::from_scores(&[0.5], &[])), None);
    }

    #[test]
    fn rule_of_three_guard() {
        assert_eq!(required_impostors(1e-2), 300);
        assert_eq!(required_impostors(1e-3), 3_000);
        assert_eq!(required_impostors(1e-4), 30_000);
        let imp: Vec<f64> = (0..1500).map(|i| i as f64 / 3000.0).collect();
        let gen: Vec<f64> = (0..100).map(|i| 0.45 + i as f64 / 200.0).collect();
        let s = ScoreSet::from_scores(&gen, &imp);
        let a = fnmr_at_fmr(&s, 1e-3);
        assert!(!a.supported);
        assert_eq!((a.threshold, a.fnmr), (None, None));
        assert!(a.reason.unwrap().starts_with(NOT_SUPPORTED));
        // 1e-2 on 1,500 impostors: 15 false matches allowed; impostors above 0.4950 are the
        // top 15 (1485/3000 .. 1499/3000), the threshold sits between 1484/3000 and the next score.
        let a = fnmr_at_fmr(&s, 1e-2);
        assert!(a.supported);
        assert_eq!(a.false_matches, Some(15));
        let t = a.threshold.unwrap();
        assert!(t > 1484.0 / 3000.0 && t <= 1485.0 / 3000.0, "{t}");
        // Genuine below t: 0.45 + i/200 < 0.4948..: i = 0..=8 -> 9 of 100.
        assert_eq!(a.fnmr, Some(0.09));
    }

    #[test]
    fn threshold_at_fmr_handles_ties_and_zero() {
        // Ties at the cut: the two impostors at 0.5 are rejected together.
        let s = ScoreSet::from_scores(&[0.55, 0.9], &[0.1, 0.5, 0.5, 0.7]);
        let t = threshold_at_fmr_unguarded(&s, 0.25).unwrap();
        assert_eq!(s.false_matches(t), 1);
        assert!(t > 0.5 && t <= 0.55);
        // FMR 0: above the highest impostor.
        let t = threshold_at_fmr_unguarded(&s, 0.0).unwrap();
        assert_eq!(s.false_matches(t), 0);
        assert!(t > 0.7 && t <= 0.9);
    }

    #[test]
    fn nearest_pairs_to_a_threshold() {
        let s = ScoreSet::from_scores(&[0.1, 0.45, 0.52, 0.95], &[0.3]);
        let near = s.nearest(0.5, 3, true);
        assert_eq!(near, vec![(2, 0.52), (1, 0.45), (0, 0.1)]);
        assert_eq!(s.nearest(0.5, 5, false), vec![(4, 0.3)]);
        assert_eq!(s.nearest(2.0, 1, true), vec![(3, 0.95)]);
    }
}
