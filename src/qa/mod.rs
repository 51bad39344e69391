//! The threshold-QA workbench: a QA person's own pairs (a CSV, a folder of identities, or the
//! station's audit log) scored with the production engine, and the evidence a threshold needs:
//! EER, FNMR at stated FMRs guarded by the rule of 3, rates at a threshold with exact 95 %
//! intervals, failures to acquire, per-group rates at one global threshold, the pairs nearest the
//! threshold, reviewer exclusions, plots, and a report signed by the station key.
//!
//! Layering: `qa` sits beside `eval` (it calls `eval::runner` and never changes it) and uses
//! `record` for the signature; `cli::qa` and the QA screen (`src/app/qa/`) use it.
//!
//! * [`stats`]: the statistics (pure, unit-tested on small sets with known answers).
//! * [`input`]: pairs CSV / folder / audit log, and their digests.
//! * [`exclusions`]: the `<input>.qa-exclusions.json` side file.
//! * [`scoring`]: `run_pairs` with progress (rate, ETA) and cancellation.
//! * [`report`]: the evaluation, report.json (signed), scores.csv, near_threshold.csv, verify,
//!   and the [`report::ThresholdBasis`] a chosen threshold carries into the station.
//! * [`plots`]: PNG histogram, DET and FMR/FNMR-vs-threshold plots (drawn with `image`).

pub mod exclusions;
mod font;
pub mod input;
pub mod plots;
pub mod report;
pub mod scoring;
pub mod stats;
pub mod synthetic;

/// The QA screen lives in `src/app/qa/` with the other GUI code. Until `src/app/mod.rs` declares
/// it (`pub mod qa;`), it is compiled from here; hooking it in = moving these two lines there.
#[path = "../app/qa/mod.rs"]
pub mod screen;

pub use exclusions::{Exclusion, ExclusionFile, ExclusionReason};
pub use input::{Dataset, ImpostorChoice, InputKind, QaPair};
pub use report::{threshold_basis, Evaluation, ThresholdBasis, ThresholdRule};
pub use scoring::{score_pairs, Cancelled, Progress};
pub use stats::ScoreSet;

/// ISO 8601 UTC with milliseconds ("2026-01-31T12:00:00.000Z"), the records' time format.
pub fn iso_millis(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[derive(Debug, thiserror::Error)]
pub enum QaError {
    /// The input could not be read or is malformed (names the file and line).
    #[error("{0}")]
    Input(String),
    /// An output file could not be written.
    #[error("{0}")]
    Output(String),
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    #[error("{0}")]
    Other(String),
}
