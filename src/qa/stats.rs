//! Threshold-QA statistics on sorted score sets: EER, FNMR at a target FMR with the rule-of-3
//! guard, rates at a threshold with exact (Clopper-Pearson) 95 % intervals, FTA/FAR/FRR as
//! bob.measure defines them, and McNemar's paired test. Pure code, no I/O.
//!
//! Conventions (the same as `crate::eval`): scores are similarities, a pair is accepted iff
//! `score >= threshold`. Unlike `eval`, pairs without a score are *failures to acquire* (FTA) and
//! are kept apart: FMR and FNMR are over the pairs that have a score, and
//!
//! * FTA = pairs without a score / all pairs (both classes pooled, as bob.measure's `get_fta`),
//! * FAR = FMR * (1 - FTA),
//! * FRR = FTA + FNMR * (1 - FTA).
//!
//! The special functions (log-gamma, the regularised incomplete beta, its inverse, the normal
//! quantile) are implemented here so that every interval is reproducible without a numerics
//! crate; the unit tests pin them to SciPy's values.

use serde::{Deserialize, Serialize};

/// Two-sided confidence level of every interval here.
pub const CONFIDENCE: f64 = 0.95;

/// The target FMRs every report lists.
pub const FMR_TARGETS: [f64; 3] = [1e-2, 1e-3, 1e-4];

/// Margin of the "reject everything" threshold above the highest score (and of "accept
/// everything" below the lowest), as in `eval`.
const EDGE_MARGIN: f64 = 1e-6;

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

pub use crate::eval::binomial::{beta_inc, beta_quantile, ln_gamma};

/// Exact (Clopper-Pearson) two-sided `CONFIDENCE` interval of a proportion `k / n`, the
/// interval bob.measure's `confidence_for_indicator_variable` gives. `None` when `n == 0`.
pub fn clopper_pearson(k: u64, n: u64) -> Option<[f64; 2]> {
    // One implementation for the station: eval's, at the same 95% level.
    debug_assert!((CONFIDENCE - 0.95).abs() < 1e-12);
    (n > 0 && k <= n).then(|| {
        let r = crate::eval::binomial::clopper_pearson(k, n);
        [r.low, r.high]
    })
}

/// P(X <= k) for X ~ Binomial(n, 1/2).
fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if k >= n {
        1.0
    } else {
        // P(X <= k) = I_{1-p}(n - k, k + 1).
        beta_inc((n - k) as f64, (k + 1) as f64, 0.5)
    }
}

/// erfc(x) via the regularised upper incomplete gamma Q(1/2, x^2) for x >= 0.
pub fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    gamma_q(0.5, x * x)
}

/// Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut del, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// The standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal quantile Φ⁻¹(p) (probit), for DET axes: Acklam's rational approximation
/// refined by one Halley step (relative error ~1e-15). ±infinity at 0 and 1.
pub fn probit(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let x = if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (-p).ln_1p()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step on Φ(x) - p.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

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

// ---------------------------------------------------------------------------------------------
// McNemar
// ---------------------------------------------------------------------------------------------

/// McNemar's test of two configurations' decisions on the same pairs. Only discordant pairs
/// count: `b` = A right and B wrong, `c` = A wrong and B right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    pub pairs: usize,
    pub both_right: usize,
    pub both_wrong: usize,
    pub a_right_b_wrong: usize,
    pub a_wrong_b_right: usize,
    /// Exact two-sided p-value: 2 * P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), capped at 1.
    pub exact_p: f64,
    /// (|b - c| - 1)^2 / (b + c) with continuity correction, and its chi-square (1 dof) p-value.
    pub chi2: f64,
    pub chi2_p: f64,
}

/// One pair's outcome under two configurations: its label and each configuration's decision
/// (accepted or not; a failure to acquire is a rejection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDecision {
    pub same: bool,
    pub a_accepts: bool,
    pub b_accepts: bool,
}

pub fn mcnemar(decisions: impl IntoIterator<Item = PairedDecision>) -> McNemar {
    let mut m = McNemar {
        pairs: 0,
        both_right: 0,
        both_wrong: 0,
        a_right_b_wrong: 0,
        a_wrong_b_right: 0,
        exact_p: 1.0,
        chi2: 0.0,
        chi2_p: 1.0,
    };
    for d in decisions {
        m.pairs += 1;
        match (d.a_accepts == d.same, d.b_accepts == d.same) {
            (true, true) => m.both_right += 1,
            (false, false) => m.both_wrong += 1,
            (true, false) => m.a_right_b_wrong += 1,
            (false, true) => m.a_wrong_b_right += 1,
        }
    }
    let (b, c) = (m.a_right_b_wrong as u64, m.a_wrong_b_right as u64);
    let n = b + c;
    if n > 0 {
        m.exact_p = (2.0 * binomial_half_cdf(b.min(c), n)).min(1.0);
        let diff = (b.abs_diff(c) as f64 - 1.0).max(0.0);
        m.chi2 = diff * diff / n as f64;
        m.chi2_p = erfc((m.chi2 / 2.0).sqrt());
    }
    m
}

// ---------------------------------------------------------------------------------------------
// Curves for plots
// ---------------------------------------------------------------------------------------------

/// DET points (FMR, FNMR), thinned so that consecutive points differ by at least `step` on
/// probit axes (the shape is kept, the low-FMR tail included); points with a zero rate are kept
/// for the caller to clamp.
pub fn det_points(s: &ScoreSet, step: f64) -> Vec<(f64, f64, f64)> {
    let pts = s.sweep();
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let clamp = |r: f64| probit(r.clamp(1e-9, 1.0 - 1e-9));
    for (i, &(t, fmr, fnmr)) in pts.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&(_, f0, n0)) => {
                i + 1 == pts.len()
                    || (clamp(fmr) - clamp(f0)).abs() >= step
                    || (clamp(fnmr) - clamp(n0)).abs() >= step
            }
        };
        if keep {
            out.push((t, fmr, fnmr));
        }
    }
    out
}

/// Histogram of `scores` over `bins` equal bins spanning [lo, hi], as fractions of `scores.len()`.
pub fn histogram(scores: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let mut h = vec![0.0; bins.max(1)];
    if scores.is_empty() || !increasing(lo, hi) {
        return h;
    }
    let w = (hi - lo) / h.len() as f64;
    let last = h.len() - 1;
    for &s in scores {
        let b = (((s - lo) / w).floor().max(0.0) as usize).min(last);
        h[b] += 1.0;
    }
    let n = scores.len() as f64;
    for x in &mut h {
        *x /= n;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn special_functions_match_scipy() {
        assert!(close(ln_gamma(0.5), 0.5723649429247, 1e-12));
        assert!(close(ln_gamma(10.3), 13.482036786138359, 1e-13));
        assert!(close(ln_gamma(12345.6), 103959.18506616844, 1e-13));
        assert!(close(beta_inc(2.5, 3.5, 0.3), 0.29675298929566646, 1e-12));
        assert!(close(beta_inc(50.0, 70.0, 0.4), 0.3591346088344945, 1e-10));
        assert!(close(beta_inc(1e4, 2e4, 0.34), 0.9927137480100278, 1e-9));
        assert!(close(probit(0.001), -3.090232306167813, 1e-12));
        assert!(close(probit(0.3), -0.5244005127080409, 1e-12));
        assert!(close(probit(1e-6), -4.753424308822899, 1e-12));
        assert!(close(normal_cdf(-1.5), 0.06680720126885807, 1e-12));
    }

    /// scipy.stats.beta.ppf(0.025, k, n-k+1) and beta.ppf(0.975, k+1, n-k).
    #[test]
    fn clopper_pearson_matches_scipy() {
        let cases: [(u64, u64, f64, f64); 10] = [
            (0, 10, 0.0, 0.3084971078187607),
            (1, 10, 0.0025285785444617848, 0.4450161170281954),
            (5, 10, 0.18708602844739855, 0.8129139715526015),
            (10, 10, 0.6915028921812392, 1.0),
            (3, 1500, 0.00041263814290064927, 0.005833621858616864),
            (1, 1500, 1.687839621446107e-05, 0.0037087735206347097),
            (0, 1500, 0.0, 0.002456231484198528),
            (45, 1500, 0.021964578541777455, 0.039938005279664256),
            (2, 100000, 2.422101962703155e-06, 7.22449893650479e-05),
            (5000, 100000, 0.048657255207270746, 0.05136892088058044),
        ];
        for (k, n, lo, hi) in cases {
            let [l, h] = clopper_pearson(k, n).expect("n > 0");
            assert!(
                close(l, lo, 1e-9) || (lo == 0.0 && l == 0.0),
                "{k}/{n} lo {l} vs {lo}"
            );
            assert!(close(h, hi, 1e-9), "{k}/{n} hi {h} vs {hi}");
        }
        assert_eq!(clopper_pearson(0, 0), None);
    }

    /// scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue and chi2.sf.
    #[test]
    fn mcnemar_matches_scipy() {
        let cases = [
            (10, 2, 0.03857421875, 4.083333333333333, 0.04330814281079206),
            // b == c: the corrected statistic is clamped at 0 (SciPy's formula without the clamp: 0.1).
            (5, 5, 1.0, 0.0, 1.0),
            (0, 7, 0.015625, 5.142857142857143, 0.02334220201289086),
            (
                30,
                12,
                0.007915897334896727,
                6.880952380952381,
                0.008711912962379598,
            ),
            (1, 0, 1.0, 0.0, 1.0),
        ];
        for (b, c, p, x, px) in cases {
            let d = std::iter::repeat_n(
                PairedDecision {
                    same: true,
                    a_accepts: true,
                    b_accepts: false,
                },
                b,
            )
            .chain(std::iter::repeat_n(
                PairedDecision {
                    same: false,
                    a_accepts: true,
                    b_accepts: false,
                },
                c,
            ))
            .chain(std::iter::repeat_n(
                PairedDecision {
                    same: true,
                    a_accepts: true,
                    b_accepts: true,
                },
                20,
            ));
            let m = mcnemar(d);
            assert_eq!((m.a_right_b_wrong, m.a_wrong_b_right), (b, c));
            assert_eq!(m.both_right, 20);
            assert!(close(m.exact_p, p, 1e-9), "{b},{c}: {} vs {p}", m.exact_p);
            assert!(close(m.chi2, x, 1e-12) || x == 0.0 && m.chi2 == 0.0);
            assert!(close(m.chi2_p, px, 1e-9), "{b},{c}: {} vs {px}", m.chi2_p);
        }
    }

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

    #[test]
    fn histogram_and_det() {
        let h = histogram(&[0.0, 0.1, 0.5, 1.0], 0.0, 1.0, 4);
        assert_eq!(h, vec![0.5, 0.0, 0.5 * 0.5, 0.25]);
        let s = ScoreSet::from_scores(&[0.5, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.6]);
        let d = det_points(&s, 0.0);
        assert_eq!(d.len(), s.sweep().len());
        assert_eq!(d.first().map(|p| (p.1, p.2)), Some((1.0, 0.0)));
        assert_eq!(d.last().map(|p| (p.1, p.2)), Some((0.0, 1.0)));
        assert_eq!(fmt_rate(1e-3), "0.1%");
        assert_eq!(fmt_rate(1e-4), "0.01%");
        assert_eq!(fmt_rate(1e-2), "1%");
        assert_eq!(fmt_rate(0.0), "0%");
    }
}
