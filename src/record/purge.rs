//! Retention: replacing old records by signed tombstones.
//!
//! A purged line keeps its place and its hashes but loses its content:
//!
//! ```json
//! {"id": "r0001", "seq": 7, "prevRecordSha256": "<as the original>",
//!  "purged": true,
//!  "purgedRecordSha256": "<SHA-256 of the original line>",
//!  "purgedLeafHash": "<RFC 6962 leaf hash of the original line>",
//!  "originalType": "compare", "originalTime": "2024-01-05T09:12:44.120Z",
//!  "originalKeyId": "<key that signed the original>",
//!  "purgedAt": "2024-05-01T10:00:00.000Z",
//!  "signature": {... by the station key at purge time}}
//! ```
//!
//! Verifiers use `purgedRecordSha256` as the line's hash for the next
//! line's `prevRecordSha256`, and `purgedLeafHash` as its Merkle leaf, so
//! the chain still verifies and checkpoints taken before the purge still
//! match. (Two fields because the chain hashes the line and the tree hashes
//! 0x00 || line; both are bound: the first by the next line, the second by
//! any earlier checkpoint.) Every purge also appends a signed record
//! `{"data": {"type": "purge", "purgedSeqs": [[from, to], ...], ...}}`, and
//! a verifier trusts a tombstone only when a later purge record lists it
//! and the tombstone's signer is trusted there.
//!
//! Key rotation and purge records are never purged: verification needs
//! them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::fsutil::{open_read, private_options, temp_sibling};
use super::keys::StationKey;
use super::log::{is_tombstone, sha256_hex, walk_file, AuditLog};
use super::merkle::leaf_hash;
use super::rotation::ROTATION_TYPE;
use super::sign::sign_record;
use super::timeutil::{iso_millis, parse_iso, short_id};
use super::{io_err, sync_parent_dir, RecordError};

/// `data.type` of a purge record.
pub const PURGE_TYPE: &str = "purge";

/// What [`purge_log`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeOutcome {
    /// Records replaced by tombstones now.
    pub purged: usize,
    /// Their seqs, as inclusive ranges.
    pub ranges: Vec<(u64, u64)>,
    /// Records older than this were purged.
    pub cutoff: String,
    /// `seq` of the purge record (None when nothing was purged).
    pub purge_seq: Option<u64>,
    /// Old enough records left alone because they are rotation or purge
    /// records, or have no readable time.
    pub kept: usize,
}

/// Seq ranges listed by a purge record, or why it has none.
pub(crate) fn purged_ranges(record: &Value) -> Result<Vec<(u64, u64)>, String> {
    let list = record
        .pointer("/data/purgedSeqs")
        .and_then(Value::as_array)
        .ok_or("purge record without data.purgedSeqs")?;
    list.iter()
        .map(|r| match r.as_array().map(Vec::as_slice) {
            Some([a, b]) => match (a.as_u64(), b.as_u64()) {
                (Some(a), Some(b)) if a <= b => Ok((a, b)),
                _ => Err("purge record range is not [from, to]".to_owned()),
            },
            _ => Err("purge record range is not [from, to]".to_owned()),
        })
        .collect()
}

fn to_ranges(seqs: &BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &s in seqs {
        match ranges.last_mut() {
            Some((_, to)) if *to + 1 == s => *to = s,
            _ => ranges.push((s, s)),
        }
    }
    ranges
}

/// The decision time of a record: `data.comparedAt`, else `data.createdAt`.
fn record_time(record: &Value) -> Option<&str> {
    record
        .pointer("/data/comparedAt")
        .or_else(|| record.pointer("/data/createdAt"))
        .and_then(Value::as_str)
}

fn tombstone(
    line: &[u8],
    record: &Value,
    key: &StationKey,
    now: &str,
) -> Result<Value, RecordError> {
    let mut t = json!({
        "seq": record.get("seq"),
        "prevRecordSha256": record.get("prevRecordSha256"),
        "purged": true,
        "purgedRecordSha256": sha256_hex(line),
        "purgedLeafHash": hex::encode(leaf_hash(line)),
        "originalTime": record_time(record),
        "originalKeyId": record.pointer("/signature/keyId"),
        "originalType": record.pointer("/data/type"),
        "purgedAt": now,
        "signature": {"message": "Purged by FaceStation"},
    });
    if let (Some(id), Some(obj)) = (record.get("id"), t.as_object_mut()) {
        obj.insert("id".into(), id.clone());
    }
    sign_record(&mut t, key)?;
    Ok(t)
}

/// Replaces every record decided more than `older_than_days` days ago by a
/// tombstone signed by `key` (see the module doc), and appends a purge
/// record listing them.
///
/// Holds the log's writers' lock throughout. Refuses a log that does not
/// verify (a tombstone must not vouch for a changed record). The purge
/// record is appended first and the file then rewritten atomically (temp
/// file + rename): a crash leaves the old content or the purged one, and
/// never a tombstone without its purge record; run it again to finish.
pub fn purge_log(
    log: &AuditLog,
    key: &StationKey,
    older_than_days: u64,
) -> Result<PurgeOutcome, RecordError> {
    purge_log_at(log, key, older_than_days, OffsetDateTime::now_utc())
}

pub(crate) fn purge_log_at(
    log: &AuditLog,
    key: &StationKey,
    older_than_days: u64,
    now: OffsetDateTime,
) -> Result<PurgeOutcome, RecordError> {
    let days = i64::try_from(older_than_days).unwrap_or(i64::MAX);
    let cutoff_t = now
        .checked_sub(Duration::days(days.min(1_000_000)))
        .unwrap_or(now);
    let cutoff = iso_millis(cutoff_t);
    let path = log.path();
    let lock = log.lock_writers()?;

    let mut chosen = BTreeSet::new();
    let mut kept = 0usize;
    walk_file(path, open_read(path)?, true, |line| {
        if is_tombstone(line.record) {
            return Ok(());
        }
        let old = record_time(line.record)
            .and_then(parse_iso)
            .map(|t| t < cutoff_t);
        let kind = line.record.pointer("/data/type").and_then(Value::as_str);
        let keep_always = matches!(kind, Some(ROTATION_TYPE) | Some(PURGE_TYPE));
        match old {
            Some(true) if !keep_always => {
                chosen.insert(line.n as u64);
            }
            Some(true) | None => kept += 1,
            Some(false) => {}
        }
        Ok(())
    })
    .map_err(|e| RecordError::CorruptLog {
        path: path.to_path_buf(),
        reason: format!("not purged, the log does not verify: {e}"),
    })?;
    let ranges = to_ranges(&chosen);
    if chosen.is_empty() {
        return Ok(PurgeOutcome {
            purged: 0,
            ranges,
            cutoff,
            purge_seq: None,
            kept,
        });
    }

    let now_s = iso_millis(now);
    let record = json!({
        "id": short_id(),
        "data": {
            "type": PURGE_TYPE,
            "purgedSeqs": ranges.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
            "count": chosen.len(),
            "olderThanDays": older_than_days,
            "cutoff": cutoff,
            "createdAt": now_s,
        },
        "signature": {"message": "Purge by FaceStation"},
    });
    let report = log.append_locked(&lock, record, key, |_| Ok(()))?;
    let purge_seq = report.record.get("seq").and_then(Value::as_u64);

    rewrite(path, &chosen, key, &now_s)?;
    Ok(PurgeOutcome {
        purged: chosen.len(),
        ranges,
        cutoff,
        purge_seq,
        kept,
    })
}

/// Copies the log to a temp file beside it with the `chosen` lines replaced
/// by tombstones, then renames it over the log.
fn rewrite(
    path: &Path,
    chosen: &BTreeSet<u64>,
    key: &StationKey,
    now: &str,
) -> Result<(), RecordError> {
    let tmp = temp_sibling(path)?;
    let result = (|| {
        let mut opts = private_options();
        opts.write(true).create_new(true);
        let file = opts.open(&tmp).map_err(io_err(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut reader = BufReader::with_capacity(1 << 20, open_read(path)?);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io_err(path))? == 0 {
                break;
            }
            n += 1;
            if chosen.contains(&n) {
                let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
                let record: Value = serde_json::from_slice(bytes)?;
                let t = tombstone(bytes, &record, key, now)?;
                serde_json::to_writer(&mut out, &t)?;
                out.write_all(b"\n").map_err(io_err(&tmp))?;
            } else {
                out.write_all(&line).map_err(io_err(&tmp))?;
            }
        }
        let file = out.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_parent_dir(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::checkpoint::{write_checkpoint, InclusionProof};
    use crate::record::rotation::rotate_key;
    use crate::record::testutil::{compare_record, lines};
    use crate::record::trust::{verify_log_trusted, TrustedKeys};
    use crate::record::verify_log;

    fn trust(key: &StationKey) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        t.add(key.public_key_bytes());
        t
    }

    /// 10 records: 1-6 from January, 7-10 from May; purge at May 10 with 30 days.
    fn setup() -> (tempfile::TempDir, AuditLog, StationKey, OffsetDateTime) {
        let dir = tempfile::tempdir().expect("tmp");
        let log = AuditLog::open(&dir.path().join("audit.jsonl")).expect("log");
        let key = StationKey::generate().expect("rng");
        for i in 0..10 {
            let t = if i < 6 {
                format!("2024-01-{:02}T09:00:00.000Z", i + 1)
            } else {
                format!("2024-05-0{}T09:00:00.000Z", i - 5)
            };
            log.append_signed(compare_record(i, &t, 0.9), &key)
                .expect("append");
        }
        (dir, log, key, time::macros::datetime!(2024-05-10 00:00 UTC))
    }

    #[test]
    fn purge_keeps_chain_and_old_checkpoints_and_removes_content() {
        let (dir, log, key, now) = setup();
        let path = log.path().to_path_buf();
        let before = lines(&path);
        let cp = write_checkpoint(&path, &key, &dir.path().join("cp")).expect("checkpoint");

        let out = purge_log_at(&log, &key, 30, now).expect("purge");
        assert_eq!(out.purged, 6);
        assert_eq!(out.ranges, vec![(1, 6)]);
        assert_eq!(out.purge_seq, Some(11));
        assert_eq!(out.cutoff, "2024-04-10T00:00:00.000Z");

        let after = lines(&path);
        assert_eq!(after.len(), 11);
        for (i, line) in after.iter().enumerate().take(6) {
            let t: Value = serde_json::from_str(line).expect("json");
            assert_eq!(t["purged"], true);
            assert_eq!(t["seq"], i as u64 + 1);
            assert_eq!(t["purgedRecordSha256"], sha256_hex(before[i].as_bytes()));
            assert_eq!(t["originalKeyId"], key.key_id().as_str());
            // No decision content left: no score, no image digests.
            for gone in [
                "score", "sha256:", "probe", "gallery", "0.9", "passed", "station",
            ] {
                assert!(
                    !line.contains(gone),
                    "line {}: {gone} left in {line}",
                    i + 1
                );
            }
        }
        assert_eq!(after[6..10], before[6..10]);
        let purge: Value = serde_json::from_str(&after[10]).expect("json");
        assert_eq!(purge["data"]["type"], "purge");
        assert_eq!(purge["data"]["purgedSeqs"], json!([[1, 6]]));

        verify_log(&path).expect("chain still verifies");
        let r = verify_log_trusted(&path, &trust(&key), Some(&cp))
            .expect("trusted, and the pre-purge checkpoint still matches");
        assert_eq!(r.log.records, 11);
        // A tombstone's inclusion proof still holds under the old checkpoint.
        let proof = InclusionProof::build(&path, 3, Some(&cp)).expect("prove");
        let ok = proof.check(&cp, &trust(&key)).expect("proof");
        assert!(ok.purged);

        // Nothing more to purge; a later purge of the rest chains on.
        let again = purge_log_at(&log, &key, 30, now).expect("purge again");
        assert_eq!((again.purged, again.purge_seq), (0, None));
        let later = purge_log_at(&log, &key, 1, now + Duration::days(30)).expect("purge rest");
        assert_eq!(later.ranges, vec![(7, 10)]);
        assert_eq!(later.kept, 1, "the first purge record is kept");
        verify_log_trusted(&path, &trust(&key), Some(&cp)).expect("still verifies");
    }

    #[test]
    fn tombstones_need_a_purge_record_and_a_trusted_signer() {
        let (_dir, log, key, now) = setup();
        let path = log.path().to_path_buf();
        purge_log_at(&log, &key, 30, now).expect("purge");
        let mut ls = lines(&path);
        // Without the purge record, the tombstones are not vouched for.
        let purge = ls.pop().expect("purge record");
        crate::record::testutil::write_lines(&path, &ls);
        match verify_log_trusted(&path, &trust(&key), None) {
            Err(RecordError::BadLine { line: 1, reason }) => {
                assert!(
                    reason.contains("not listed by a later purge record"),
                    "{reason}"
                )
            }
            other => panic!("expected BadLine 1, got {other:?}"),
        }
        // A tombstone by another key (chain intact) is refused at the purge record.
        let stranger = StationKey::generate().expect("rng");
        let mut t: Value = serde_json::from_str(&ls[1]).expect("json");
        sign_record(&mut t, &stranger).expect("sign");
        ls[1] = serde_json::to_string(&t).expect("ser");
        ls.push(purge);
        crate::record::testutil::write_lines(&path, &ls);
        verify_log(&path).expect("consistent");
        match verify_log_trusted(&path, &trust(&key), None) {
            Err(RecordError::UntrustedKeyAt { line, key_id, .. }) => {
                assert_eq!((line, key_id), (2, stranger.key_id()))
            }
            other => panic!("expected UntrustedKeyAt, got {other:?}"),
        }
    }

    #[test]
    fn purge_refuses_a_broken_log_and_keeps_rotations() {
        let (dir, log, key, now) = setup();
        let path = log.path().to_path_buf();
        let key_path = dir.path().join("k.pem");
        key.write_new(&key_path).expect("key file");
        // Make the rotation record old: rotate, then purge as if days later.
        rotate_key(&key_path, &log).expect("rotate");
        let new = StationKey::load(&key_path).expect("new");
        let later = OffsetDateTime::now_utc() + Duration::days(2);
        assert!(later > now);
        let out = purge_log_at(&log, &new, 1, later).expect("purge");
        assert_eq!(out.ranges, vec![(1, 10)]);
        assert_eq!(out.kept, 1, "the rotation record is kept");
        let r = verify_log_trusted(&path, &trust(&key), None).expect("verifies");
        assert_eq!(r.rotations.len(), 1);

        let mut ls = lines(&path);
        ls[11] = ls[11].replacen("purge", "purgx", 1);
        crate::record::testutil::write_lines(&path, &ls);
        let before = std::fs::read(&path).expect("read");
        assert!(matches!(
            purge_log_at(&log, &new, 1, later + Duration::days(2)),
            Err(RecordError::CorruptLog { .. })
        ));
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
