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

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::fsutil::{map_open_err, open_read, open_regular, private_options, sidecar};
use super::keys::StationKey;
use super::merkle::{leaf_hash, Hash};
use super::sign::{sign_record, verify_record};
use super::{create_private_dir_all, io_err, sync_parent_dir, RecordError};

/// `prevRecordSha256` of the first record.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Tail reads go backwards in chunks of this size, so appends cost the same
/// however long the log grows.
const TAIL_CHUNK: u64 = 64 * 1024;

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

    /// `seq` of the last line in `[0, end)` if it is a record, else 0 (only
    /// used to describe a recovery).
    fn seq_before(&self, file: &File, end: u64) -> Result<u64, RecordError> {
        let last = tail_lines(file, end, 1).map_err(io_err(&self.path))?.pop();
        Ok(last.and_then(|l| chain_tail(&l).ok()).map_or(0, |t| t.1))
    }

    /// Moves bytes `[start, len)` of the log to `<log>.torn`, followed by a
    /// newline separator, then truncates the log to `start`. The copy is
    /// synced before truncating, so the bytes are never lost.
    fn move_aside(
        &self,
        file: &File,
        start: u64,
        len: u64,
        kind: RecoveryKind,
        after_seq: u64,
    ) -> Result<Recovery, RecordError> {
        let path = self.path.as_path();
        let torn = self.torn_path.as_path();
        self.rotate_torn()?;
        let mut opts = private_options();
        opts.append(true).create(true);
        let mut out = open_regular(torn, &opts).map_err(map_open_err(torn))?;
        let mut reader = file;
        reader.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        let copied =
            std::io::copy(&mut reader.take(len - start), &mut out).map_err(io_err(torn))?;
        if copied != len - start {
            return Err(RecordError::CorruptLog {
                path: path.to_path_buf(),
                reason: "log shrank while moving its damaged tail aside".into(),
            });
        }
        // A piece that already ends in a newline (a whole bad line) gets
        // none more: pieces stay separated by exactly one newline.
        if kind == RecoveryKind::TornTail {
            out.write_all(b"\n").map_err(io_err(torn))?;
        }
        out.sync_data().map_err(io_err(torn))?;
        // Separate write handle: append-only handles cannot truncate on
        // every platform.
        let mut w = OpenOptions::new();
        w.write(true);
        let w = open_regular(path, &w).map_err(map_open_err(path))?;
        w.set_len(start)
            .and_then(|()| w.sync_all())
            .map_err(io_err(path))?;
        let bytes = match kind {
            RecoveryKind::TornTail => len - start,
            // Without its newline, as for a torn tail.
            RecoveryKind::InvalidLastLine { .. } => len - start - 1,
        };
        Ok(Recovery {
            kind,
            log: path.to_path_buf(),
            after_seq,
            bytes,
            moved_to: torn.to_path_buf(),
        })
    }

    /// Rotates `<log>.torn` once it reached [`TORN_FILE_CAP`]: `.torn.2` ->
    /// `.torn.3` (dropping the old `.torn.3`), ..., `.torn` -> `.torn.1`.
    fn rotate_torn(&self) -> Result<(), RecordError> {
        let torn = self.torn_path.as_path();
        match std::fs::metadata(torn) {
            Ok(m) if m.len() < TORN_FILE_CAP => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(torn)(e)),
        }
        let numbered = |i: usize| sidecar(torn, &format!(".{i}"));
        for i in (1..TORN_FILES).rev() {
            let from = if i == 1 {
                torn.to_path_buf()
            } else {
                numbered(i - 1)
            };
            match std::fs::rename(&from, numbered(i)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&from)(e)),
            }
        }
        sync_parent_dir(torn);
        Ok(())
    }
}

fn read_exact_at(mut file: &File, pos: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(pos))?;
    file.read_exact(buf)
}

fn read_byte_at(file: &File, pos: u64) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    read_exact_at(file, pos, &mut b)?;
    Ok(b[0])
}

/// Position of the last `\n` in `[0, end)`, scanning backwards.
fn last_newline_before(file: &File, end: u64) -> std::io::Result<Option<u64>> {
    let mut pos = end;
    let mut buf = vec![0u8; TAIL_CHUNK.min(end) as usize];
    while pos > 0 {
        let chunk = TAIL_CHUNK.min(pos);
        pos -= chunk;
        let buf = &mut buf[..chunk as usize];
        read_exact_at(file, pos, buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(pos + i as u64));
        }
    }
    Ok(None)
}

/// Up to `n` last lines of `[0, end)` (oldest first, without `\n`), reading
/// only as much of the tail as needed. `[0, end)` must be empty or end with
/// a newline.
///
/// Costs O(length of those lines): a backward scan finds where they start,
/// then they are read once (a 32 MiB last line is read twice, not copied
/// chunk by chunk into an ever-growing buffer).
fn tail_lines(file: &File, end: u64, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    // The n lines start after the n-th newline before the final one.
    let mut start = 0u64;
    let mut found = 0usize;
    let mut pos = end - 1;
    let mut buf = vec![0u8; TAIL_CHUNK.min(pos) as usize];
    'scan: while pos > 0 {
        let chunk = TAIL_CHUNK.min(pos);
        let from = pos - chunk;
        let mut window = &mut buf[..chunk as usize];
        read_exact_at(file, from, window)?;
        while let Some(i) = window.iter().rposition(|&b| b == b'\n') {
            found += 1;
            if found == n {
                start = from + i as u64 + 1;
                break 'scan;
            }
            window = &mut window[..i];
        }
        pos = from;
    }
    let mut body = vec![0u8; (end - 1 - start) as usize];
    read_exact_at(file, start, &mut body)?;
    Ok(body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect())
}

/// Holds a shared OS lock on `<log>.lock` if that file exists, so readers do
/// not see a half-written line; without it (log never opened for writing
/// here) reading proceeds unlocked.
pub(crate) fn shared_read_lock(path: &Path) -> Option<File> {
    let f = open_read(&sidecar(path, ".lock")).ok()?;
    f.lock_shared().ok()?;
    Some(f)
}

/// One line as seen by [`walk_log`], after its JSON, chain and `seq` were
/// checked.
pub(crate) struct Walked<'a> {
    /// 1-based line number (= `seq`).
    pub n: usize,
    /// The line without its newline.
    pub bytes: &'a [u8],
    pub record: &'a Value,
    /// RFC 6962 leaf hash of the line (of the original line for a tombstone).
    pub leaf: Hash,
}

/// Reads `path` line by line, checking JSON, the hash chain and `seq`
/// continuity (and, if `embedded_signatures`, each signature against its own
/// embedded key), and hands each line to `on_line`. Takes the readers' lock.
pub(crate) fn walk_log(
    path: &Path,
    embedded_signatures: bool,
    on_line: impl FnMut(&Walked<'_>) -> Result<(), RecordError>,
) -> Result<LogReport, RecordError> {
    let file = open_read(path)?;
    let _lock = shared_read_lock(path);
    walk_file(path, file, embedded_signatures, on_line)
}

/// [`walk_log`] without the lock, for callers that hold the writers' lock.
pub(crate) fn walk_file(
    path: &Path,
    file: File,
    embedded_signatures: bool,
    mut on_line: impl FnMut(&Walked<'_>) -> Result<(), RecordError>,
) -> Result<LogReport, RecordError> {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut report = LogReport {
        records: 0,
        key_ids: Vec::new(),
        last_sha256: GENESIS_SHA256.to_owned(),
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io_err(path))?;
        if read == 0 {
            return Ok(report);
        }
        let n = report.records + 1;
        let bad = |reason: String| RecordError::BadLine { line: n, reason };
        let Some(bytes) = line.strip_suffix(b"\n") else {
            return Err(bad("torn last line (no newline)".into()));
        };
        let record: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON ({e})")))?;
        if !record.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        if embedded_signatures {
            verify_record(&record).map_err(|e| bad(format!("signature does not verify ({e})")))?;
        }
        let prev = record
            .get("prevRecordSha256")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing prevRecordSha256".into()))?;
        if prev != report.last_sha256 {
            return Err(bad(if n == 1 {
                "chain broken: first record's prevRecordSha256 is not 64 zeros".into()
            } else {
                format!(
                    "chain broken: prevRecordSha256 does not match line {}",
                    n - 1
                )
            }));
        }
        match record.get("seq").and_then(Value::as_u64) {
            Some(seq) if seq == n as u64 => {}
            Some(seq) => return Err(bad(format!("seq is {seq}, expected {n}"))),
            None => return Err(bad("missing or non-integer seq".into())),
        }
        let (chain, leaf) = line_hashes(bytes, &record).map_err(bad)?;
        on_line(&Walked {
            n,
            bytes,
            record: &record,
            leaf,
        })?;
        if let Some(id) = record
            .get("signature")
            .and_then(|s| s.get("keyId"))
            .and_then(Value::as_str)
        {
            if !report.key_ids.iter().any(|k| k == id) {
                report.key_ids.push(id.to_owned());
            }
        }
        report.last_sha256 = chain;
        report.records = n;
    }
}

/// Checks every line: JSON, signature, hash chain and `seq` continuity.
/// Returns [`RecordError::BadLine`] for the first failing line (1-based).
///
/// Each signature is checked against the key embedded in it: this proves
/// integrity, not who signed. `trust::verify_log_trusted` also pins the keys.
pub fn verify_log(path: &Path) -> Result<LogReport, RecordError> {
    walk_log(path, true, |_| Ok(()))
}

/// The last `n` complete records, oldest first (a line still being written
/// is skipped). A missing log yields an empty list. Does not verify
/// signatures: use [`verify_log`] for that.
pub fn read_recent(path: &Path, n: usize) -> Result<Vec<Value>, RecordError> {
    let file = match open_read(path) {
        Ok(f) => f,
        Err(RecordError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let _lock = shared_read_lock(path);
    let len = file.metadata().map_err(io_err(path))?.len();
    let end = last_newline_before(&file, len)
        .map_err(io_err(path))?
        .map_or(0, |p| p + 1);
    let lines = tail_lines(&file, end, n).map_err(io_err(path))?;
    let count = lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_slice(l).map_err(|e| RecordError::CorruptLog {
                path: path.to_path_buf(),
                reason: format!("line {} from the end is not JSON ({e})", count - i),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn record(i: usize) -> Value {
        json!({
            "id": format!("cmp-{i}"),
            "data": {
                "comparison_result": if i.is_multiple_of(2) { "match" } else { "no_match" },
                "score": 0.5 + (i as f64) / 100.0,
                "threshold": 0.85,
                "subject": "Zoë Ñúñez \"quoted\"\n",
            },
            "signature": {
                "message": "Certified by Verifik.co",
                "dateTime": "September 29, 2023 6:57 PM"
            },
            "mode": "local"
        })
    }

    fn new_log() -> (tempfile::TempDir, PathBuf, AuditLog, StationKey) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        let key = StationKey::generate().expect("rng");
        (dir, path, log, key)
    }

    fn bad_line(r: Result<LogReport, RecordError>) -> (usize, String) {
        match r {
            Err(RecordError::BadLine { line, reason }) => (line, reason),
            other => panic!("expected BadLine, got {other:?}"),
        }
    }

    #[test]
    fn audit_log_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<AuditLog>();
    }

    #[test]
    fn append_five_and_verify() {
        let (_d, path, log, key) = new_log();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let empty = verify_log(&path).expect("empty ok");
        assert_eq!(empty.records, 0);
        assert_eq!(empty.last_sha256, GENESIS_SHA256);

        let mut written = Vec::new();
        for i in 0..5 {
            written.push(log.append_signed(record(i), &key).expect("append"));
        }
        assert_eq!(written[0]["seq"], 1);
        assert_eq!(written[0]["prevRecordSha256"], GENESIS_SHA256);
        assert_eq!(written[4]["seq"], 5);

        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(text.ends_with('\n'));
        for (i, l) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(l).expect("json");
            assert_eq!(v, written[i], "returned record is what was written");
            if i > 0 {
                assert_eq!(v["prevRecordSha256"], sha256_hex(lines[i - 1].as_bytes()));
            }
        }
        let report = verify_log(&path).expect("verifies");
        assert_eq!(report.records, 5);
        assert_eq!(report.key_ids, vec![key.key_id()]);
        assert_eq!(report.last_sha256, sha256_hex(lines[4].as_bytes()));

        // Key rotation keeps the chain valid and shows both ids.
        let key2 = StationKey::generate().expect("rng");
        log.append_signed(record(5), &key2).expect("append");
        let report = verify_log(&path).expect("verifies");
        assert_eq!(report.key_ids, vec![key.key_id(), key2.key_id()]);
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let (_d, path, log, key) = new_log();
        for i in 0..5 {
            log.append_signed(record(i), &key).expect("append");
        }
        let original = std::fs::read(&path).expect("read");
        verify_log(&path).expect("pristine log verifies");
        let probe = path.with_file_name("probe.jsonl");
        let mut checked = 0usize;
        for pos in 0..original.len() {
            let b = original[pos];
            let mut variants = vec![b ^ 0x01];
            for c in [b'x', b' ', b'0'] {
                variants.push(if c == b { c + 1 } else { c });
            }
            for v in variants {
                let mut bytes = original.clone();
                bytes[pos] = v;
                std::fs::write(&probe, &bytes).expect("write");
                assert!(
                    verify_log(&probe).is_err(),
                    "byte {pos} ({:?} -> {:?}) not detected",
                    b as char,
                    v as char
                );
                checked += 1;
            }
        }
        assert_eq!(checked, original.len() * 4);
    }

    #[test]
    fn deleted_or_reordered_lines_are_named() {
        let (_d, path, log, key) = new_log();
        for i in 0..5 {
            log.append_signed(record(i), &key).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        let write = |ls: &[&str]| {
            let mut s = ls.join("\n");
            s.push('\n');
            std::fs::write(&path, s).expect("write");
        };

        write(&[lines[0], lines[1], lines[3], lines[4]]);
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!(line, 3);
        assert_eq!(
            reason,
            "chain broken: prevRecordSha256 does not match line 2"
        );

        write(&[lines[1], lines[2], lines[3], lines[4]]);
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!(line, 1);
        assert!(reason.starts_with("chain broken"), "{reason}");

        write(&[lines[0], lines[2], lines[1], lines[3], lines[4]]);
        assert_eq!(bad_line(verify_log(&path)).0, 2);

        write(&[lines[0], lines[1], "not json", lines[3], lines[4]]);
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!(line, 3);
        assert!(reason.starts_with("not JSON"), "{reason}");

        write(&[lines[0], "", lines[1]]);
        assert_eq!(bad_line(verify_log(&path)).0, 2);
    }

    #[test]
    fn validly_signed_but_misnumbered_record_is_caught() {
        let (_d, path, log, key) = new_log();
        let first = log.append_signed(record(0), &key).expect("append");
        let first_line = serde_json::to_string(&first).expect("ser");
        // Forged by the key holder: right chain link, skipped seq.
        let mut r = record(1);
        r["prevRecordSha256"] = json!(sha256_hex(first_line.as_bytes()));
        r["seq"] = json!(3);
        sign_record(&mut r, &key).expect("sign");
        let text = format!(
            "{first_line}\n{}\n",
            serde_json::to_string(&r).expect("ser")
        );
        std::fs::write(&path, text).expect("write");
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!((line, reason.as_str()), (2, "seq is 3, expected 2"));

        std::fs::write(&path, format!("{first_line}\n[1]\n")).expect("write");
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!((line, reason.as_str()), (2, "not a JSON object"));

        let mut unsigned = first.clone();
        unsigned["data"]["score"] = json!(0.99);
        std::fs::write(
            &path,
            format!("{}\n", serde_json::to_string(&unsigned).expect("ser")),
        )
        .expect("write");
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!(line, 1);
        assert!(reason.starts_with("signature does not verify"), "{reason}");
    }

    #[test]
    fn torn_tail_is_moved_aside_and_log_stays_valid() {
        let (_d, path, log, key) = new_log();
        log.append_signed(record(0), &key).expect("append");
        log.append_signed(record(1), &key).expect("append");
        let partial = br#"{"data":{"comparison_result":"ma"#;
        {
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            f.write_all(partial).expect("write");
        }
        let (line, reason) = bad_line(verify_log(&path));
        assert_eq!((line, reason.as_str()), (3, "torn last line (no newline)"));
        // Readers skip the incomplete line.
        assert_eq!(read_recent(&path, 10).expect("recent").len(), 2);

        let r = log.append_signed(record(2), &key).expect("append");
        assert_eq!(r["seq"], 3);
        let report = verify_log(&path).expect("verifies after recovery");
        assert_eq!(report.records, 3);
        let torn = std::fs::read(sidecar(&path, ".torn")).expect("torn file");
        let mut want = partial.to_vec();
        want.push(b'\n');
        assert_eq!(torn, want);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(sidecar(&path, ".torn")).expect("meta");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn torn_first_line_recovers_to_seq_one() {
        let (_d, path, log, key) = new_log();
        std::fs::write(&path, b"{\"half").expect("write");
        let r = log.append_signed(record(0), &key).expect("append");
        assert_eq!(r["seq"], 1);
        assert_eq!(r["prevRecordSha256"], GENESIS_SHA256);
        assert_eq!(verify_log(&path).expect("ok").records, 1);
        assert_eq!(
            std::fs::read(sidecar(&path, ".torn")).expect("torn"),
            b"{\"half\n"
        );
    }

    #[test]
    fn lone_garbage_line_is_moved_aside_and_reported() {
        let (_d, path, log, key) = new_log();
        std::fs::write(&path, b"garbage\n").expect("write");
        assert!(matches!(
            log.append_signed(json!([1]), &key),
            Err(RecordError::NotAnObject)
        ));
        assert_eq!(std::fs::read(&path).expect("read"), b"garbage\n");
        let report = log.append(record(0), &key).expect("append");
        assert_eq!(report.record["seq"], 1);
        assert_eq!(report.recovered.len(), 1);
        let r = &report.recovered[0];
        assert!(
            matches!(&r.kind, RecoveryKind::InvalidLastLine { reason } if reason.starts_with("not JSON")),
            "{r:?}"
        );
        assert_eq!((r.after_seq, r.bytes), (0, 7));
        assert!(r.to_string().contains("not a valid record"), "{r}");
        assert_eq!(
            std::fs::read(sidecar(&path, ".torn")).expect("torn"),
            b"garbage\n"
        );
        assert_eq!(verify_log(&path).expect("ok").records, 1);
    }

    #[test]
    fn invalid_full_last_line_no_longer_blocks_appends() {
        let (_d, path, log, key) = new_log();
        log.append_signed(record(0), &key).expect("append");
        log.append_signed(record(1), &key).expect("append");
        // Complete lines that are no records: JSON without seq, a record
        // missing its signature, binary junk.
        for (i, bad) in [
            &b"{\"data\":1}\n"[..],
            b"{\"seq\":3,\"prevRecordSha256\":\"x\"}\n",
            b"\x00\x00\x00\n",
        ]
        .iter()
        .enumerate()
        {
            {
                let mut f = OpenOptions::new().append(true).open(&path).expect("open");
                f.write_all(bad).expect("write");
            }
            assert!(verify_log(&path).is_err());
            // append_signed keeps the note for the caller.
            let r = log.append_signed(record(2 + i), &key).expect("append");
            assert_eq!(r["seq"], 3 + i as u64);
            let notes = log.take_recoveries();
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert_eq!(notes[0].after_seq, 2 + i as u64);
            assert_eq!(notes[0].bytes, bad.len() as u64 - 1);
            assert!(log.take_recoveries().is_empty());
            assert_eq!(verify_log(&path).expect("ok").records, 3 + i);
        }
        let torn = std::fs::read(sidecar(&path, ".torn")).expect("torn");
        assert_eq!(
            torn,
            b"{\"data\":1}\n{\"seq\":3,\"prevRecordSha256\":\"x\"}\n\x00\x00\x00\n"
        );
    }

    #[test]
    fn torn_tail_then_bad_line_both_recovered_in_one_append() {
        let (_d, path, log, key) = new_log();
        log.append_signed(record(0), &key).expect("append");
        {
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            f.write_all(b"nope\n{\"half").expect("write");
        }
        let report = log.append(record(1), &key).expect("append");
        let kinds: Vec<bool> = report
            .recovered
            .iter()
            .map(|r| r.kind == RecoveryKind::TornTail)
            .collect();
        assert_eq!(kinds, vec![true, false]);
        assert_eq!(report.record["seq"], 2);
        assert_eq!(verify_log(&path).expect("ok").records, 2);
    }

    #[test]
    fn two_bad_last_lines_are_not_touched() {
        let (_d, path, log, key) = new_log();
        log.append_signed(record(0), &key).expect("append");
        {
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            f.write_all(b"one\ntwo\n").expect("write");
        }
        let before = std::fs::read(&path).expect("read");
        match log.append_signed(record(1), &key) {
            Err(RecordError::CorruptLog { reason, .. }) => {
                assert!(reason.contains("last two lines"), "{reason}")
            }
            other => panic!("expected CorruptLog, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).expect("read"), before);
        assert!(!sidecar(&path, ".torn").exists());
    }

    #[test]
    fn torn_pieces_are_bounded_to_four_files_newest_kept() {
        let (_d, path, log, key) = new_log();
        let piece = "x".repeat(TORN_FILE_CAP as usize / 2 + 1);
        for i in 0..12 {
            {
                let mut f = OpenOptions::new().append(true).open(&path).expect("open");
                write!(f, "{i:02}{piece}").expect("write");
            }
            log.append_signed(record(i), &key).expect("append");
        }
        let torn = sidecar(&path, ".torn");
        let files: Vec<PathBuf> = std::iter::once(torn.clone())
            .chain((1..TORN_FILES).map(|i| sidecar(&torn, &format!(".{i}"))))
            .collect();
        let mut total = 0;
        for f in &files {
            let len = std::fs::metadata(f).expect("kept").len();
            assert!(
                len <= TORN_FILE_CAP + piece.len() as u64 + 3,
                "{}",
                f.display()
            );
            total += len;
        }
        assert!(!sidecar(&torn, &format!(".{TORN_FILES}")).exists());
        assert!(total <= TORN_FILES as u64 * (TORN_FILE_CAP + piece.len() as u64 + 3));
        // Newest piece in .torn, oldest kept ones dropped.
        let newest = std::fs::read_to_string(&torn).expect("read");
        assert!(newest.ends_with(&format!("11{piece}\n")));
        let oldest = std::fs::read_to_string(&files[TORN_FILES - 1]).expect("read");
        assert!(
            !oldest.starts_with("00"),
            "oldest pieces must have been dropped"
        );
        assert_eq!(verify_log(&path).expect("ok").records, 12);
    }

    /// The tail of a log is found in O(line length): appending after a
    /// 32 MiB last line used to take 10-33 s under the writers' lock.
    #[test]
    fn append_after_32_mib_last_line_is_fast() {
        let (_d, path, log, key) = new_log();
        let mut big = record(0);
        big["blob"] = json!("b".repeat(32 * 1024 * 1024));
        big["prevRecordSha256"] = json!(GENESIS_SHA256);
        big["seq"] = json!(1);
        sign_record(&mut big, &key).expect("sign");
        let mut line = serde_json::to_vec(&big).expect("ser");
        line.push(b'\n');
        std::fs::write(&path, &line).expect("write");

        let t = std::time::Instant::now();
        let r = log.append_signed(record(1), &key).expect("append");
        let took = t.elapsed();
        eprintln!("append after a 32 MiB line: {took:?}");
        assert_eq!(r["seq"], 2);
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
        let t = std::time::Instant::now();
        let recent = read_recent(&path, 2).expect("recent");
        assert_eq!(recent.len(), 2);
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[cfg(unix)]
    #[test]
    fn fifo_log_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        {
            use std::os::unix::ffi::OsStrExt;
            let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("c");
            // SAFETY: valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        for r in [
            AuditLog::open(&path).map(|_| ()),
            verify_log(&path).map(|_| ()),
            read_recent(&path, 3).map(|_| ()),
        ] {
            match r {
                Err(RecordError::NotRegularFile { kind, .. }) => {
                    assert_eq!(kind, "a FIFO (named pipe)")
                }
                other => panic!("expected NotRegularFile, got {other:?}"),
            }
        }
        // The log is fine but its lock file is a FIFO.
        let path2 = dir.path().join("b.jsonl");
        {
            use std::os::unix::ffi::OsStrExt;
            let c =
                std::ffi::CString::new(sidecar(&path2, ".lock").as_os_str().as_bytes()).expect("c");
            // SAFETY: valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        }
        assert!(matches!(
            AuditLog::open(&path2),
            Err(RecordError::NotRegularFile { .. })
        ));
    }

    #[test]
    fn long_lines_cross_tail_chunks() {
        let (_d, path, log, key) = new_log();
        for i in 0..4 {
            let mut r = record(i);
            r["blob"] = json!("b".repeat(3 * TAIL_CHUNK as usize + i * 7));
            log.append_signed(r, &key).expect("append");
        }
        log.append_signed(record(9), &key).expect("append");
        assert_eq!(verify_log(&path).expect("ok").records, 5);
        let recent = read_recent(&path, 3).expect("recent");
        let seqs: Vec<u64> = recent.iter().filter_map(|r| r["seq"].as_u64()).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
    }

    #[test]
    fn read_recent_returns_last_n_oldest_first() {
        let (dir, path, log, key) = new_log();
        assert!(read_recent(&dir.path().join("none.jsonl"), 5)
            .expect("missing ok")
            .is_empty());
        assert!(read_recent(&path, 5).expect("empty ok").is_empty());
        for i in 0..5 {
            log.append_signed(record(i), &key).expect("append");
        }
        let seqs = |n| -> Vec<u64> {
            read_recent(&path, n)
                .expect("recent")
                .iter()
                .filter_map(|r| r["seq"].as_u64())
                .collect()
        };
        assert_eq!(seqs(0), Vec::<u64>::new());
        assert_eq!(seqs(1), vec![5]);
        assert_eq!(seqs(3), vec![3, 4, 5]);
        assert_eq!(seqs(5), vec![1, 2, 3, 4, 5]);
        assert_eq!(seqs(50), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn concurrent_appends_from_8_threads() {
        let (_d, path, log, key) = new_log();
        // Two handles on one file: threads share a handle's mutex, and the
        // handles contend through the OS lock as separate processes would.
        let logs = [
            Arc::new(log),
            Arc::new(AuditLog::open(&path).expect("second handle")),
        ];
        let key = Arc::new(key);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&logs[t % 2]);
                let key = Arc::clone(&key);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let mut r = record(i);
                        r["thread"] = json!(t);
                        log.append_signed(r, &key).expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 200);
        let report = verify_log(&path).expect("valid chain");
        assert_eq!(report.records, 200);
    }

    #[test]
    fn default_path_ends_in_facestation() {
        if let Ok(p) = default_log_path() {
            assert!(p.ends_with("facestation/audit.jsonl"));
        }
    }
}
