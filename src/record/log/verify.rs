//! Reading the log back: the line-by-line walk that checks JSON, chain and
//! `seq`, [`verify_log`], and [`read_recent`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::tail::{last_newline_before, tail_lines};
use super::{line_hashes, LogReport, GENESIS_SHA256};
use crate::record::fsutil::{open_read, sidecar};
use crate::record::merkle::Hash;
use crate::record::sign::verify_record;
use crate::record::{io_err, RecordError};

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
