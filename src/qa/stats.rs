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

mod curves;
mod distributions;
mod paired;
mod rates;

pub use curves::{det_points, histogram};
pub use distributions::{
    beta_inc, beta_quantile, clopper_pearson, erfc, ln_gamma, normal_cdf, probit,
};
pub use paired::{mcnemar, McNemar, PairedDecision};
pub use rates::{
    eer, fmt_rate, fnmr_at_fmr, increasing, rates_at, required_impostors,
    threshold_at_fmr_unguarded, AtFmr, EerResult, Labelled, Rates, ScoreSet, NOT_SUPPORTED,
};

/// Two-sided confidence level of every interval here.
pub const CONFIDENCE: f64 = 0.95;

/// The target FMRs every report lists.
pub const FMR_TARGETS: [f64; 3] = [1e-2, 1e-3, 1e-4];

#[cfg(test)]
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}
