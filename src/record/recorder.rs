//! The station key and the audit log as one thing: every decision of every front end is built,
//! signed and appended through a [`Recorder`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;

use super::build::{
    build_config_record, build_liveness_record, build_record, ConfigChange, DecisionContext,
    RecordOptions, Stamper, SystemStamper,
};
use super::{default_key_path, default_log_path, read_recent, AuditLog, RecordError, StationKey};
use crate::engine::verdict::{Judgement, ReviewBand};
use crate::engine::{CompareOutcome, LivenessOutcome};
use crate::paths::StationPaths;

pub struct Recorder {
    key: StationKey,
    log: AuditLog,
    stamper: Arc<dyn Stamper>,
    /// A signed checkpoint (tree size + Merkle root) is written to `<log>.checkpoint` every this
    /// many records and when the recorder closes, so a copy kept elsewhere proves truncation.
    checkpoint_every: u64,
    /// Long-lived front ends (the station, `serve`) also checkpoint when they close; a one-shot
    /// CLI run does not (it would re-hash the whole log on every command).
    checkpoint_on_close: bool,
    checkpoint_problem: std::sync::Mutex<Option<String>>,
}

/// Records between two automatic checkpoints. A checkpoint re-hashes the whole log (about
/// 50 ms for 10,000 records), so not after every record.
pub const CHECKPOINT_EVERY: u64 = 100;

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("key_id", &self.key.key_id())
            .field("log", &self.log.path())
            .finish()
    }
}

/// The key and log files `paths` names, with the defaults filled in.
pub fn resolve_paths(paths: &StationPaths) -> Result<(PathBuf, PathBuf), RecordError> {
    let key = match &paths.key {
        Some(p) => p.clone(),
        None => default_key_path()?,
    };
    let log = match &paths.log {
        Some(p) => p.clone(),
        None => default_log_path()?,
    };
    Ok((key, log))
}

impl Recorder {
    /// Opens (or creates) the station key and the audit log named by `paths`.
    pub fn open(paths: &StationPaths) -> Result<Self, RecordError> {
        let (key_path, log_path) = resolve_paths(paths)?;
        let key = StationKey::load_or_create(&key_path)?;
        let log = AuditLog::open(&log_path)?;
        Ok(Self::new(key, log))
    }

    pub fn new(key: StationKey, log: AuditLog) -> Self {
        Self {
            key,
            log,
            stamper: Arc::new(SystemStamper),
            checkpoint_every: CHECKPOINT_EVERY,
            checkpoint_on_close: false,
            checkpoint_problem: std::sync::Mutex::new(None),
        }
    }

    /// Replaces the clock and id source (tests, reproducible screenshots).
    pub fn with_stamper(mut self, stamper: Arc<dyn Stamper>) -> Self {
        self.stamper = stamper;
        self
    }

    /// Sets how many records pass between automatic checkpoints (0: only on close).
    pub fn with_checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoint_every = n;
        self
    }

    /// Also writes a checkpoint when the recorder is dropped.
    pub fn with_checkpoint_on_close(mut self, on: bool) -> Self {
        self.checkpoint_on_close = on;
        self
    }

    /// Writes a signed checkpoint of the log now (`record checkpoint` does the same).
    pub fn checkpoint(&self) -> Result<super::Checkpoint, RecordError> {
        super::write_checkpoint(
            self.log.path(),
            &self.key,
            &super::default_checkpoint_path(self.log.path()),
        )
    }

    /// Why the last automatic checkpoint failed, if it did (the records themselves are durable).
    pub fn checkpoint_problem(&self) -> Option<String> {
        self.checkpoint_problem
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn after_append(&self, record: &Value) {
        let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
        if self.checkpoint_every > 0 && seq.is_multiple_of(self.checkpoint_every) {
            let problem = self.checkpoint().err().map(|e| e.to_string());
            if let Ok(mut p) = self.checkpoint_problem.lock() {
                *p = problem;
            }
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.stamper.now()
    }

    pub fn key(&self) -> &StationKey {
        &self.key
    }

    pub fn key_id(&self) -> String {
        self.key.key_id()
    }

    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    pub fn log_path(&self) -> &Path {
        self.log.path()
    }

    /// Builds the record of a compare decision, signs it and appends it to the log; returns the
    /// signed record as written. `images` are embedded only when given (`--embed-images`).
    pub fn record_compare(
        &self,
        outcome: &CompareOutcome,
        judgement: &Judgement,
        band: &ReviewBand,
        images: Option<(Vec<u8>, Vec<Vec<u8>>)>,
        compared_at: OffsetDateTime,
        context: &DecisionContext,
    ) -> Result<Value, RecordError> {
        let options = RecordOptions {
            embed_images: images.is_some(),
            images,
            client: self.key.key_id(),
            compared_at: Some(compared_at),
            context: context.clone(),
        };
        let record = build_record(outcome, judgement, band, &options, self.stamper.as_ref());
        let signed = self.log.append_signed(record, &self.key)?;
        self.after_append(&signed);
        Ok(signed)
    }

    /// The same for a liveness-only decision.
    pub fn record_liveness(&self, outcome: &LivenessOutcome) -> Result<Value, RecordError> {
        let record = build_liveness_record(outcome, &self.key.key_id(), self.stamper.as_ref());
        let signed = self.log.append_signed(record, &self.key)?;
        self.after_append(&signed);
        Ok(signed)
    }

    /// Records a change of a decision-relevant setting (signed, appended like a decision).
    pub fn record_config(
        &self,
        change: &ConfigChange,
        operator: Option<&str>,
    ) -> Result<Value, RecordError> {
        let record =
            build_config_record(change, operator, &self.key.key_id(), self.stamper.as_ref());
        let signed = self.log.append_signed(record, &self.key)?;
        self.after_append(&signed);
        Ok(signed)
    }

    /// The newest `n` records of the log, oldest first.
    pub fn recent(&self, n: usize) -> Result<Vec<Value>, RecordError> {
        read_recent(self.log.path(), n)
    }
}

/// Closing writes a final checkpoint, so the last records are covered too.
impl Drop for Recorder {
    fn drop(&mut self) {
        let empty = std::fs::metadata(self.log.path()).map_or(true, |m| m.len() == 0);
        if self.checkpoint_on_close && !empty {
            let _ = self.checkpoint();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{verify_log, verify_record, FixedStamper};

    #[test]
    fn a_configuration_change_is_a_signed_record_with_before_and_after() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = StationPaths {
            models: None,
            log: Some(dir.path().join("audit.jsonl")),
            key: Some(dir.path().join("key.pem")),
        };
        let at = time::macros::datetime!(2026-12-01 09:00 UTC);
        let recorder = Recorder::open(&paths)
            .expect("recorder")
            .with_stamper(Arc::new(FixedStamper::new(at)))
            .with_checkpoint_on_close(true);
        let change = ConfigChange {
            setting: "compare_threshold.FAST".into(),
            before: serde_json::json!(0.62),
            after: serde_json::json!(0.65),
            basis: Some("FMR 0.01% on a desk's own pairs".into()),
        };
        let r = recorder
            .record_config(&change, Some("Ana B"))
            .expect("recorded");
        verify_record(&r).expect("signed");
        assert_eq!(r["data"]["type"], "configuration");
        assert_eq!(r["station"]["before"], 0.62);
        assert_eq!(r["station"]["after"], 0.65);
        assert_eq!(r["station"]["operator"], "Ana B");
        assert_eq!(r["data"]["createdAt"], "2026-12-01T09:00:00.000Z");
        assert_eq!(verify_log(recorder.log_path()).expect("chain").records, 1);
    }
}
