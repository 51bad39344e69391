//! Face-verification evaluation: pure metric code (no I/O), and `runner`, which scores a pairs list
//! with the local pipeline.
//!
//! Conventions used throughout (so every number in a report means the same):
//! - Scores are similarities: higher = more alike, nominally in `[0, 1]`.
//! - A pair is predicted "same" iff `score >= threshold`.
//! - A pair whose score is `None` (no face found) — or, defensively, a
//!   non-finite score — is always predicted "different": a false non-match
//!   when genuine, a correct rejection when impostor. Such pairs still count
//!   in every denominator, so missed detections cost accuracy and TAR.
//! - Candidate thresholds are the midpoints between consecutive distinct
//!   scores plus one just below the minimum and one just above the maximum;
//!   every distinct decision on the data is reachable by exactly one of them,
//!   and a midpoint leaves the same margin to the scores on both sides.
//!
//! Functions that can be undefined on their input (empty, one class only,
//! no folds) return [`EvalError`] instead of panicking or producing NaN.

pub mod binomial;
pub mod cache;
pub mod calibrate;
pub mod candidates;
mod curves;
mod folds;
pub mod impostors;
mod metrics;
mod pairs;
pub mod runner;
mod sources;
mod stats;
mod summary;

pub use metrics::{
    accuracy_at, best_threshold, eer, kfold, kfold_correct, per_source, rates_at, roc, tar_at_far,
    threshold_at_fmr, Eer, FoldResult, KFoldReport, OperatingPoint, RocPoint, SourceResult,
    ThresholdChoice, FOLD_PREFIX,
};
pub use pairs::{read_pairs_csv, PairRow, ScoredPair};
pub use stats::{median, percentile, thread_cpu_ms, TimingStats};
pub use summary::{FarTargetPoint, Summary, SummaryOptions};

/// Why a metric could not be computed. Every variant is reachable from user
/// input (a CSV, a scoring run), so callers should report it, not unwrap it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("no pairs to evaluate")]
    NoPairs,
    #[error("no genuine (same-person) pairs: rates over genuines are undefined")]
    NoGenuinePairs,
    #[error("no impostor (different-person) pairs: rates over impostors are undefined")]
    NoImpostorPairs,
    #[error("no pair has a score (no face found in any pair): no threshold can be chosen")]
    NoScoredPairs,
    #[error("k-fold needs at least 2 sources starting with \"{FOLD_PREFIX}\", found {found}")]
    TooFewFolds { found: usize },
    #[error("target rate must be a number in [0, 1], got {0}")]
    InvalidTarget(f64),
    #[error("threshold must not be NaN")]
    InvalidThreshold,
    #[error("pairs CSV line {line}: {message}")]
    Csv { line: usize, message: String },
}
