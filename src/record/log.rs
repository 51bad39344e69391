//! Append-only, hash-chained JSON Lines audit log.
//!
//! Each line is one signed record carrying `seq` and `prevRecordSha256` (the
//! SHA-256 of the previous line's exact bytes), so edits, deletions and
//! reordering of past lines are detected by [`verify_log`]. Appends take an
//! in-process mutex plus an OS file lock on `<log>.lock`, so several threads
//! and processes can share one log. A crash can tear only the line being
//! written; the next append moves such a torn tail, or a complete last line
//! that is not a record, to `<log>.torn` and says so in its
//! [`AppendReport`].
//!
//! A purged record (see `purge`) is replaced by a signed tombstone that
//! carries `purgedRecordSha256` (SHA-256 of the original line) and
//! `purgedLeafHash` (its RFC 6962 leaf hash): the next line's
//! `prevRecordSha256` and the Merkle tree keep using the original's hashes.
//!
//! What the chain cannot show on its own: that trailing lines were cut off.
//! Signed checkpoints (`checkpoint`: a Merkle tree head of the lines) kept
//! elsewhere cover that.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::fsutil::{map_open_err, open_read, open_regular, private_options, sidecar};
use super::keys::StationKey;
use super::merkle::{leaf_hash, Hash};
use super::sign::sign_record;
use super::{create_private_dir_all, io_err, sync_parent_dir, RecordError};

mod recovery;
mod tail;
#[cfg(test)]
mod tests;
mod verify;

use tail::{last_newline_before, read_byte_at, tail_lines};
pub use verify::{read_recent, verify_log};
pub(crate) use verify::{shared_read_lock, walk_file, walk_log};

/// `prevRecordSha256` of the first record.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Bound on what recoveries keep: at most this many files, `<log>.torn`
/// (newest pieces) then `<log>.torn.1` .. `<log>.torn.3` (oldest); each
/// recovery appends its piece to `<log>.torn`, which is first rotated once it
/// holds [`TORN_FILE_CAP`] bytes, dropping `.torn.3`. So at most
/// 4 × (1 MiB + one piece) are kept, and always the newest pieces.
pub const TORN_FILES: usize = 4;
/// Size from which `<log>.torn` is rotated before taking another piece.
pub const TORN_FILE_CAP: u64 = 1024 * 1024;

/// `<data dir>/facestation/audit.jsonl` (e.g. `~/.local/share/...` on Linux).
pub fn default_log_path() -> Result<PathBuf, RecordError> {
    let base = dirs::data_dir().ok_or(RecordError::NoPlatformDir("data"))?;
    Ok(base.join("facestation").join("audit.jsonl"))
}

/// Result of a successful [`verify_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Number of records (lines).
    pub records: usize,
    /// Distinct `signature.keyId`s, in order of first appearance.
    pub key_ids: Vec<String>,
    /// SHA-256 of the last line (of the original line if it is a purge
    /// tombstone; 64 zeros for an empty log): the value the next record will
    /// chain to.
    pub last_sha256: String,
}

/// Why an append moved bytes out of the log before writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryKind {
    /// The last write was cut short (no final newline), e.g. by a crash.
    TornTail,
    /// The last line was complete but is not a record.
    InvalidLastLine { reason: String },
}

/// One repair done by an append: what was moved where. Show it to the
/// operator; the bytes are kept in `moved_to` (see [`TORN_FILES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub kind: RecoveryKind,
    /// The log that was repaired.
    pub log: PathBuf,
    /// `seq` of the last good record before the moved bytes (0: none).
    pub after_seq: u64,
    /// How many bytes were moved (without the separator newline).
    pub bytes: u64,
    /// The file that received them.
    pub moved_to: PathBuf,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match &self.kind {
            RecoveryKind::TornTail => "the last write was torn (no final newline)".to_owned(),
            RecoveryKind::InvalidLastLine { reason } => {
                format!("the last line was not a valid record ({reason})")
            }
        };
        write!(
            f,
            "audit log {}: {why}; moved its {} bytes (after record {}) to {}",
            self.log.display(),
            self.bytes,
            self.after_seq,
            self.moved_to.display()
        )
    }
}

/// What [`AuditLog::append`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendReport {
    /// The record exactly as written.
    pub record: Value,
    /// Repairs made before writing (empty almost always).
    pub recovered: Vec<Recovery>,
}

/// Handle to an audit log file. Cheap to share: `Arc<AuditLog>` across threads.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    torn_path: PathBuf,
    /// Handle of `<log>.lock`, doubling as the in-process mutex. The lock
    /// lives on a side file so that no platform's mandatory byte-range
    /// locking can get in the way of reading/truncating the log itself.
    lock_file: Mutex<File>,
    /// Repairs made by [`AuditLog::append_signed`], whose return type has no
    /// room for them; see [`AuditLog::take_recoveries`].
    recoveries: Mutex<Vec<Recovery>>,
}

pub(crate) use crate::digest::sha256_hex;

/// `true` when `record` is a purge tombstone (`"purged": true`).
pub(crate) fn is_tombstone(record: &Value) -> bool {
    record.get("purged").and_then(Value::as_bool) == Some(true)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The hash the next line chains to and the Merkle leaf of a line: its own
/// for a record, the original line's for a tombstone.
pub(crate) fn line_hashes(bytes: &[u8], record: &Value) -> Result<(String, Hash), String> {
    if !is_tombstone(record) {
        return Ok((sha256_hex(bytes), leaf_hash(bytes)));
    }
    let field = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| is_hex64(s))
            .ok_or_else(|| format!("tombstone without a 64-hex `{name}`"))
    };
    let chain = field("purgedRecordSha256")?.to_owned();
    let mut leaf = [0u8; 32];
    hex::decode_to_slice(field("purgedLeafHash")?, &mut leaf)
        .map_err(|_| "tombstone `purgedLeafHash` is not hex".to_owned())?;
    Ok((chain, leaf))
}

/// The chain hash and `seq` of a complete last line, or why it is not a
/// record one can chain onto (structure only: signatures are for
/// [`verify_log`]).
fn chain_tail(line: &[u8]) -> Result<(String, u64), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let seq = v
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("no numeric `seq`")?;
    if v.get("prevRecordSha256").and_then(Value::as_str).is_none() {
        return Err("no `prevRecordSha256`".into());
    }
    if v.pointer("/signature/value")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err("no `signature.value`".into());
    }
    let (hash, _) = line_hashes(line, &v)?;
    Ok((hash, seq))
}

/// Holds the writers' lock of one log: the handle's mutex plus the exclusive
/// OS lock on `<log>.lock`, both released on drop.
pub(crate) struct WriteLock<'a> {
    file: MutexGuard<'a, File>,
}

impl Drop for WriteLock<'_> {
    fn drop(&mut self) {
        // Unlock before the mutex guard (a field) is dropped after this.
        let _ = self.file.unlock();
    }
}

impl AuditLog {
    /// Opens (creating if needed, mode 0600) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        if let Some(parent) = path.parent() {
            create_private_dir_all(parent)?;
        }
        let mut create = private_options();
        create.append(true).create_new(true);
        match open_regular(path, &create) {
            Ok(f) => {
                f.sync_all().map_err(io_err(path))?;
                sync_parent_dir(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Refuse a FIFO or device now rather than at the first append.
                open_read(path)?;
            }
            Err(e) => return Err(map_open_err(path)(e)),
        }
        let lock_path = sidecar(path, ".lock");
        let mut opts = private_options();
        opts.read(true).write(true).create(true).truncate(false);
        let lock_file = open_regular(&lock_path, &opts).map_err(map_open_err(&lock_path))?;
        Ok(Self {
            path: path.to_path_buf(),
            torn_path: sidecar(path, ".torn"),
            lock_file: Mutex::new(lock_file),
            recoveries: Mutex::new(Vec::new()),
        })
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chains (`seq`, `prevRecordSha256`), signs and durably appends
    /// `record`; returns the record exactly as written. Repairs made on the
    /// way are kept for [`AuditLog::take_recoveries`]; use
    /// [`AuditLog::append`] to get them directly.
    pub fn append_signed(&self, record: Value, key: &StationKey) -> Result<Value, RecordError> {
        let report = self.append(record, key)?;
        if !report.recovered.is_empty() {
            self.recoveries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(report.recovered);
        }
        Ok(report.record)
    }

    /// Like [`AuditLog::append_signed`], and tells what had to be repaired.
    pub fn append(&self, record: Value, key: &StationKey) -> Result<AppendReport, RecordError> {
        self.append_with(record, key, |_| Ok(()))
    }

    /// Like [`AuditLog::append`], with `finalize` called on the chained
    /// record (`seq` and `prevRecordSha256` set) just before it is signed:
    /// for content that must cover the record's place in the log.
    pub fn append_with(
        &self,
        record: Value,
        key: &StationKey,
        finalize: impl FnOnce(&mut Value) -> Result<(), RecordError>,
    ) -> Result<AppendReport, RecordError> {
        let lock = self.lock_writers()?;
        self.append_locked(&lock, record, key, finalize)
    }

    /// Repairs made by [`AuditLog::append_signed`] since the last call.
    pub fn take_recoveries(&self) -> Vec<Recovery> {
        std::mem::take(&mut *self.recoveries.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Takes the writers' lock (in-process, then OS-wide).
    pub(crate) fn lock_writers(&self) -> Result<WriteLock<'_>, RecordError> {
        // A poisoned mutex only means another thread panicked while holding
        // it; all state is on disk and re-read, so carry on.
        let file = self.lock_file.lock().unwrap_or_else(|p| p.into_inner());
        file.lock().map_err(io_err(&sidecar(&self.path, ".lock")))?;
        Ok(WriteLock { file })
    }

    /// The append itself; the caller holds the writers' lock.
    pub(crate) fn append_locked(
        &self,
        _lock: &WriteLock<'_>,
        mut record: Value,
        key: &StationKey,
        finalize: impl FnOnce(&mut Value) -> Result<(), RecordError>,
    ) -> Result<AppendReport, RecordError> {
        if !record.is_object() {
            return Err(RecordError::NotAnObject);
        }
        let path = self.path.as_path();
        let mut opts = private_options();
        opts.read(true).append(true).create(true);
        let file = open_regular(path, &opts).map_err(map_open_err(path))?;
        let mut len = file.metadata().map_err(io_err(path))?.len();
        let mut recovered = Vec::new();
        if len > 0 && read_byte_at(&file, len - 1).map_err(io_err(path))? != b'\n' {
            let start = last_newline_before(&file, len)
                .map_err(io_err(path))?
                .map_or(0, |p| p + 1);
            let after_seq = self.seq_before(&file, start)?;
            recovered.push(self.move_aside(
                &file,
                start,
                len,
                RecoveryKind::TornTail,
                after_seq,
            )?);
            len = start;
        }

        let (prev_sha, prev_seq) = match tail_lines(&file, len, 1).map_err(io_err(path))?.pop() {
            None => (GENESIS_SHA256.to_owned(), 0u64),
            Some(last) => match chain_tail(&last) {
                Ok(tail) => tail,
                Err(reason) => {
                    // A complete line that is no record (a crash that kept
                    // the newline, a hand edit) would block every later
                    // append: move it aside too. Only one line, and only if
                    // the line before is a record (or there is none), so that
                    // a --log pointed at some other file is never eaten.
                    let start = last_newline_before(&file, len - 1)
                        .map_err(io_err(path))?
                        .map_or(0, |p| p + 1);
                    let before = match tail_lines(&file, start, 1).map_err(io_err(path))?.pop() {
                        None => (GENESIS_SHA256.to_owned(), 0),
                        Some(b) => chain_tail(&b).map_err(|r2| RecordError::CorruptLog {
                            path: path.to_path_buf(),
                            reason: format!(
                                "the last two lines are not records ({reason}; {r2}); nothing \
                                 was changed: is this an audit log? check it with \
                                 `facestation record verify`"
                            ),
                        })?,
                    };
                    let kind = RecoveryKind::InvalidLastLine { reason };
                    recovered.push(self.move_aside(&file, start, len, kind, before.1)?);
                    before
                }
            },
        };
        let seq = prev_seq
            .checked_add(1)
            .ok_or_else(|| RecordError::CorruptLog {
                path: path.to_path_buf(),
                reason: "seq overflow".into(),
            })?;

        if let Some(obj) = record.as_object_mut() {
            obj.insert("prevRecordSha256".into(), prev_sha.into());
            obj.insert("seq".into(), seq.into());
        }
        finalize(&mut record)?;
        sign_record(&mut record, key)?;
        let mut line = serde_json::to_string(&record)?;
        line.push('\n');
        // One write on an O_APPEND handle: even a non-cooperating writer
        // cannot interleave inside our line.
        (&file)
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(io_err(path))?;
        Ok(AppendReport { record, recovered })
    }
}
