use super::tail::TAIL_CHUNK;
use super::*;
use serde_json::json;
use std::fs::OpenOptions;
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
        let c = std::ffi::CString::new(sidecar(&path2, ".lock").as_os_str().as_bytes()).expect("c");
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
