//! Append-only, hash-chained JSON Lines audit log.
//!
//! Each line is one signed record carrying `seq` and `prevRecordSha256` (the
//! SHA-256 of the previous line's exact bytes), so edits, deletions and
//! reordering of past lines are detected by [`verify_log`]. Appends take an
//! in-process mutex plus an OS file lock on `<log>.lock`, so several threads
//! and processes can share one log. A crash can tear only the line being
//! written; the next append moves such a torn tail to `<log>.torn`.
//!
//! What the chain cannot show on its own: that trailing lines were cut off.
//! Keep `LogReport::last_sha256`/`records` somewhere else if that matters.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::keys::StationKey;
use super::sign::{sign_record, verify_record};
use super::{create_private_dir_all, io_err, sync_parent_dir, RecordError};

/// `prevRecordSha256` of the first record.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Tail reads go backwards in chunks of this size, so appends cost the same
/// however long the log grows.
const TAIL_CHUNK: u64 = 8 * 1024;

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
    /// SHA-256 of the last line (64 zeros for an empty log): the value the
    /// next record will chain to; store it elsewhere to detect truncation.
    pub last_sha256: String,
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
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Options that create files as 0600 on unix: the log reveals who was
/// verified when.
fn private_options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Releases the OS lock even on early return.
struct OsLockGuard<'a>(&'a File);

impl Drop for OsLockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl AuditLog {
    /// Opens (creating if needed, mode 0600) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        if let Some(parent) = path.parent() {
            create_private_dir_all(parent)?;
        }
        match private_options().append(true).create_new(true).open(path) {
            Ok(f) => {
                f.sync_all().map_err(io_err(path))?;
                sync_parent_dir(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let lock_path = sidecar(path, ".lock");
        let lock_file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        Ok(Self {
            path: path.to_path_buf(),
            torn_path: sidecar(path, ".torn"),
            lock_file: Mutex::new(lock_file),
        })
    }

    /// Path of the log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Chains (`seq`, `prevRecordSha256`), signs and durably appends
    /// `record`; returns the record exactly as written.
    pub fn append_signed(&self, mut record: Value, key: &StationKey) -> Result<Value, RecordError> {
        if !record.is_object() {
            return Err(RecordError::NotAnObject);
        }
        // A poisoned mutex only means another thread panicked while holding
        // it; all state is on disk and re-read below, so carry on.
        let lock_file = self.lock_file.lock().unwrap_or_else(|p| p.into_inner());
        lock_file.lock().map_err(io_err(&self.path))?;
        let _os_lock = OsLockGuard(&lock_file);

        let path = self.path.as_path();
        let file = private_options()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err(path))?;
        let mut len = file.metadata().map_err(io_err(path))?.len();
        if len > 0 && read_byte_at(&file, len - 1).map_err(io_err(path))? != b'\n' {
            len = self.recover_torn_tail(&file, len)?;
        }

        let (prev_sha, prev_seq) = match tail_lines(&file, len, 1).map_err(io_err(path))?.pop() {
            None => (GENESIS_SHA256.to_owned(), 0u64),
            Some(last) => {
                let seq = serde_json::from_slice::<Value>(&last)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(Value::as_u64))
                    .ok_or_else(|| RecordError::CorruptLog {
                        path: path.to_path_buf(),
                        reason: "last line is not a record with a numeric `seq`; run verify_log"
                            .into(),
                    })?;
                (sha256_hex(&last), seq)
            }
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
        sign_record(&mut record, key)?;
        let mut line = serde_json::to_string(&record)?;
        line.push('\n');
        // One write on an O_APPEND handle: even a non-cooperating writer
        // cannot interleave inside our line.
        (&file)
            .write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(io_err(path))?;
        Ok(record)
    }

    /// Moves bytes after the last newline (a write torn by a crash) to
    /// `<log>.torn`, followed by a newline separator, then truncates the log.
    /// The copy is synced before truncating, so the bytes are never lost.
    fn recover_torn_tail(&self, file: &File, len: u64) -> Result<u64, RecordError> {
        let path = self.path.as_path();
        let start = last_newline_before(file, len)
            .map_err(io_err(path))?
            .map_or(0, |p| p + 1);
        let torn = self.torn_path.as_path();
        let mut out = private_options()
            .append(true)
            .create(true)
            .open(torn)
            .map_err(io_err(torn))?;
        let mut reader = file;
        reader.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
        let copied =
            std::io::copy(&mut reader.take(len - start), &mut out).map_err(io_err(torn))?;
        if copied != len - start {
            return Err(RecordError::CorruptLog {
                path: path.to_path_buf(),
                reason: "log shrank while recovering a torn tail".into(),
            });
        }
        out.write_all(b"\n")
            .and_then(|()| out.sync_data())
            .map_err(io_err(torn))?;
        // Separate write handle: append-only handles cannot truncate on
        // every platform.
        let w = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        w.set_len(start)
            .and_then(|()| w.sync_all())
            .map_err(io_err(path))?;
        Ok(start)
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
    let mut buf = Vec::new();
    while pos > 0 {
        let chunk = TAIL_CHUNK.min(pos);
        pos -= chunk;
        buf.resize(chunk as usize, 0);
        read_exact_at(file, pos, &mut buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(pos + i as u64));
        }
    }
    Ok(None)
}

/// Up to `n` last lines of `[0, end)` (oldest first, without `\n`), reading
/// only as much of the tail as needed. `[0, end)` must be empty or end with
/// a newline.
fn tail_lines(file: &File, end: u64, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut newlines = 0usize;
    let mut pos = end;
    // n complete lines need n+1 newlines (or the file start) to be bounded.
    while pos > 0 && newlines <= n {
        let chunk = TAIL_CHUNK.min(pos);
        pos -= chunk;
        let mut tmp = vec![0u8; chunk as usize];
        read_exact_at(file, pos, &mut tmp)?;
        newlines += tmp.iter().filter(|&&b| b == b'\n').count();
        tmp.extend_from_slice(&buf);
        buf = tmp;
    }
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let mut parts: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    if pos > 0 && !parts.is_empty() {
        // Starts mid-line (or exactly at a line we do not need).
        parts.remove(0);
    }
    let first = parts.len().saturating_sub(n);
    Ok(parts[first..].iter().map(|p| p.to_vec()).collect())
}

/// Holds a shared OS lock on `<log>.lock` if that file exists, so readers do
/// not see a half-written line; without it (log never opened for writing
/// here) reading proceeds unlocked.
fn shared_read_lock(path: &Path) -> Option<File> {
    let f = File::open(sidecar(path, ".lock")).ok()?;
    f.lock_shared().ok()?;
    Some(f)
}

/// Checks every line: JSON, signature, hash chain and `seq` continuity.
/// Returns [`RecordError::BadLine`] for the first failing line (1-based).
pub fn verify_log(path: &Path) -> Result<LogReport, RecordError> {
    let file = File::open(path).map_err(io_err(path))?;
    let _lock = shared_read_lock(path);
    let mut reader = BufReader::new(file);
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
        verify_record(&record).map_err(|e| bad(format!("signature does not verify ({e})")))?;
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
        if let Some(id) = record
            .get("signature")
            .and_then(|s| s.get("keyId"))
            .and_then(Value::as_str)
        {
            if !report.key_ids.iter().any(|k| k == id) {
                report.key_ids.push(id.to_owned());
            }
        }
        report.last_sha256 = sha256_hex(bytes);
        report.records = n;
    }
}

/// The last `n` complete records, oldest first (a line still being written
/// is skipped). A missing log yields an empty list. Does not verify
/// signatures: use [`verify_log`] for that.
pub fn read_recent(path: &Path, n: usize) -> Result<Vec<Value>, RecordError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
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
    fn append_refuses_to_chain_onto_garbage() {
        let (_d, path, log, key) = new_log();
        std::fs::write(&path, b"garbage\n").expect("write");
        assert!(matches!(
            log.append_signed(record(0), &key),
            Err(RecordError::CorruptLog { .. })
        ));
        assert!(matches!(
            log.append_signed(json!([1]), &key),
            Err(RecordError::NotAnObject)
        ));
        assert_eq!(std::fs::read(&path).expect("read"), b"garbage\n");
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
