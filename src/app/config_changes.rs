//! Configuration records: a change of a setting that decides (search mode, compare threshold,
//! engine, liveness check and threshold) becomes a signed record with its values before and
//! after. Changes are compared against the values last recorded and recorded once the operator
//! lets go (no pointer down, nothing dragged): a slider drag is one record on release, not one
//! per frame.

use eframe::egui;
use serde_json::json;

use super::state::{AppliedThreshold, EngineChoice, Settings};
use super::worker::Job;
use super::StationApp;
use crate::api::SearchMode;
use crate::engine::score::{default_threshold, threshold_basis};
use crate::qa::ThresholdBasis;
use crate::record::build::ConfigChange;

/// The settings that decide, as last recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionSettings {
    pub mode: SearchMode,
    pub compare_threshold: f64,
    pub engine: EngineChoice,
    pub check_liveness: bool,
    pub liveness_threshold: f64,
}

pub fn engine_name(e: EngineChoice) -> &'static str {
    match e {
        EngineChoice::Local => "local",
        EngineChoice::Remote => "remote",
    }
}

impl DecisionSettings {
    pub fn of(s: &Settings) -> Self {
        Self {
            mode: s.mode,
            compare_threshold: s.compare_threshold,
            engine: s.engine,
            check_liveness: s.check_liveness,
            liveness_threshold: s.liveness_threshold,
        }
    }

    /// The records that take `self` to `now`. A mode change carries the new mode's threshold
    /// in its basis (the threshold follows the mode: no separate record).
    pub fn changes_to(&self, now: &Settings) -> Vec<ConfigChange> {
        let to = Self::of(now);
        let mut out = Vec::new();
        if to.mode != self.mode {
            out.push(ConfigChange {
                setting: "search_mode".into(),
                before: json!(self.mode.as_str()),
                after: json!(to.mode.as_str()),
                basis: Some(format!(
                    "compare threshold {:.4} for {}: {}",
                    to.compare_threshold,
                    to.mode.as_str(),
                    threshold_words(now)
                )),
            });
        } else if to.compare_threshold != self.compare_threshold {
            out.push(ConfigChange {
                setting: format!("compare_threshold.{}", to.mode.as_str()),
                before: json!(self.compare_threshold),
                after: json!(to.compare_threshold),
                basis: Some(threshold_words(now)),
            });
        }
        if to.engine != self.engine {
            out.push(ConfigChange {
                setting: "engine".into(),
                before: json!(engine_name(self.engine)),
                after: json!(engine_name(to.engine)),
                basis: (to.engine == EngineChoice::Remote)
                    .then(|| format!("remote service {}", now.remote_url.trim())),
            });
        }
        if to.check_liveness != self.check_liveness {
            out.push(ConfigChange {
                setting: "check_liveness".into(),
                before: json!(self.check_liveness),
                after: json!(to.check_liveness),
                basis: None,
            });
        }
        if to.liveness_threshold != self.liveness_threshold {
            out.push(ConfigChange {
                setting: "liveness_threshold".into(),
                before: json!(self.liveness_threshold),
                after: json!(to.liveness_threshold),
                basis: None,
            });
        }
        out
    }
}

/// What the current threshold rests on, in words.
fn threshold_words(s: &Settings) -> String {
    if let Some(basis) = s.current_basis() {
        basis.to_string()
    } else if s.compare_threshold == default_threshold(s.mode) {
        format!("the mode's default ({})", threshold_basis(s.mode))
    } else {
        "set by the operator".to_string()
    }
}

impl StationApp {
    /// Records the deciding settings that changed since the last record, once the operator has
    /// let go (no pointer held, nothing dragged): a slider drag is one record, on release.
    pub(super) fn record_config_changes(&mut self, ctx: &egui::Context) {
        if ctx.egui_is_using_pointer()
            || ctx.dragged_id().is_some()
            || ctx.input(|i| i.pointer.any_down())
        {
            return;
        }
        let changes = self.recorded.changes_to(&self.settings);
        if changes.is_empty() {
            return;
        }
        self.recorded = DecisionSettings::of(&self.settings);
        for change in changes {
            self.send_config(change);
        }
    }

    /// Appends a signed configuration record (on the inference thread, queued before any later
    /// local compare).
    fn send_config(&mut self, change: ConfigChange) {
        let operator = self.operator.name().map(str::to_string);
        let setting = change.setting.clone();
        if !self.worker.send(Job::RecordConfig { change, operator }) {
            self.notify_error(format!(
                "the {setting} change was not recorded: the engine has stopped"
            ));
        }
    }

    /// "Apply this threshold" in the QA workbench: the threshold of its mode becomes the chosen
    /// one, later (local) records state its basis, and the change is recorded.
    pub fn apply_threshold_basis(&mut self, b: &ThresholdBasis) {
        let mode = b.search_mode.unwrap_or(self.settings.mode);
        let summary = b.summary();
        let before = if mode == self.settings.mode {
            self.settings.compare_threshold
        } else {
            self.settings.start_threshold(mode)
        };
        self.settings.set_applied(AppliedThreshold {
            mode,
            threshold: b.threshold,
            basis: summary.clone(),
        });
        if mode == self.settings.mode {
            self.settings.compare_threshold = b.threshold;
            // Recorded below, with its basis (not again by `record_config_changes`).
            if self.recorded.mode == mode {
                self.recorded.compare_threshold = b.threshold;
            }
        }
        self.send_config(ConfigChange {
            setting: format!("compare_threshold.{}", mode.as_str()),
            before: json!(before),
            after: json!(b.threshold),
            basis: Some(summary),
        });
        self.notify_info(format!(
            "{} threshold set to {:.4} from the QA workbench",
            mode.as_str(),
            b.threshold
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_change_is_one_record_and_a_threshold_move_another() {
        let mut s = Settings::default();
        let recorded = DecisionSettings::of(&s);
        assert!(recorded.changes_to(&s).is_empty());
        s.mode = SearchMode::Accurate;
        s.compare_threshold = default_threshold(SearchMode::Accurate);
        let c = recorded.changes_to(&s);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].setting, "search_mode");
        assert_eq!(
            (c[0].before.as_str(), c[0].after.as_str()),
            (Some("FAST"), Some("ACCURATE"))
        );
        let recorded = DecisionSettings::of(&s);
        s.compare_threshold = 0.5;
        s.engine = EngineChoice::Remote;
        let c = recorded.changes_to(&s);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].setting, "compare_threshold.ACCURATE");
        assert_eq!(c[0].after, json!(0.5));
        assert_eq!(c[0].basis.as_deref(), Some("set by the operator"));
        assert_eq!(c[1].setting, "engine");
        s.set_applied(AppliedThreshold {
            mode: SearchMode::Accurate,
            threshold: 0.5,
            basis: "FMR 0.1% on pairs.csv".into(),
        });
        assert_eq!(
            recorded.changes_to(&s)[0].basis.as_deref(),
            Some("FMR 0.1% on pairs.csv")
        );
    }
}
