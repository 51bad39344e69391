//! The [`ThresholdBasis`] a chosen threshold carries into the station's configuration.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Evaluation;
use crate::api::SearchMode;
use crate::qa::stats::{self, rates_at};

// ---------------------------------------------------------------------------------------------
// Threshold basis
// ---------------------------------------------------------------------------------------------

/// The evidence a threshold was chosen on, for the station's settings and its signed
/// configuration record ("Apply this threshold" in the QA screen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdBasis {
    pub threshold: f64,
    pub search_mode: Option<SearchMode>,
    /// Dataset name (file or folder) and digest (see the report's `dataset_sha256_of`).
    pub dataset: String,
    pub dataset_sha256: String,
    /// FMR at the threshold with its exact 95 % interval, and the counts behind it.
    pub fmr: f64,
    pub fmr_ci95: [f64; 2],
    pub false_matches: usize,
    pub impostor_pairs: usize,
    pub fnmr: Option<f64>,
    pub fnmr_ci95: Option<[f64; 2]>,
    pub genuine_pairs: usize,
    pub fta: Option<f64>,
    /// The FMR target the threshold was picked for, if one was.
    pub fmr_target: Option<f64>,
    /// Whether the impostor count supports that target (rule of 3).
    pub fmr_target_supported: Option<bool>,
    /// Pairs left out by the exclusions file.
    pub excluded_pairs: usize,
    /// When it was chosen (ISO 8601, UTC).
    pub date: String,
}

impl ThresholdBasis {
    /// One line, in the style of the station's `threshold_basis` strings.
    pub fn summary(&self) -> String {
        let pct = |x: f64| format!("{:.3}%", x * 100.0);
        let mut s = format!(
            "FMR {} (95% CI {}-{}; {} of {} impostor pairs) at {:.4} on {} sha256:{}",
            pct(self.fmr),
            pct(self.fmr_ci95[0]),
            pct(self.fmr_ci95[1]),
            self.false_matches,
            self.impostor_pairs,
            self.threshold,
            self.dataset,
            &self.dataset_sha256[..self.dataset_sha256.len().min(12)],
        );
        if let Some(m) = self.search_mode {
            s.push_str(&format!(" ({})", m.as_str()));
        }
        if let Some(f) = self.fnmr {
            s.push_str(&format!(
                ", FNMR {} of {} genuine",
                pct(f),
                self.genuine_pairs
            ));
        }
        if let (Some(t), Some(false)) = (self.fmr_target, self.fmr_target_supported) {
            s.push_str(&format!(
                "; target FMR {} not supported by this data (rule of 3)",
                stats::fmt_rate(t)
            ));
        }
        if self.excluded_pairs > 0 {
            s.push_str(&format!(", {} pairs excluded", self.excluded_pairs));
        }
        s.push_str(&format!(", {}", self.date));
        s
    }
}

/// The basis of `threshold` on an evaluation; `None` without impostor scores (no FMR to state).
pub fn threshold_basis(
    e: &Evaluation,
    threshold: f64,
    fmr_target: Option<f64>,
    now: OffsetDateTime,
) -> Option<ThresholdBasis> {
    let r = rates_at(&e.set, threshold);
    Some(ThresholdBasis {
        threshold,
        search_mode: e.search_mode,
        dataset: e.dataset.name.clone(),
        dataset_sha256: e.dataset.sha256.clone(),
        fmr: r.fmr?,
        fmr_ci95: r.fmr_ci95?,
        false_matches: r.false_matches,
        impostor_pairs: r.impostor,
        fnmr: r.fnmr,
        fnmr_ci95: r.fnmr_ci95,
        genuine_pairs: r.genuine,
        fta: r.fta,
        fmr_target,
        fmr_target_supported: fmr_target
            .map(|t| e.set.impostor_count() as u64 >= stats::required_impostors(t)),
        excluded_pairs: e.excluded_count(),
        date: crate::qa::iso_millis(now),
    })
}
