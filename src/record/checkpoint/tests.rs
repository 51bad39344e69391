use super::*;
use crate::record::testutil::{compare_record, lines, write_lines, write_log};
use crate::record::trust::verify_log_trusted;
use crate::record::{sign_record, AuditLog};
use serde_json::Value;

fn setup(n: usize) -> (tempfile::TempDir, PathBuf, StationKey) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("audit.jsonl");
    let key = StationKey::generate().expect("rng");
    let records = (0..n)
        .map(|i| compare_record(i, "2024-05-01T10:00:00.000Z", 0.9))
        .collect();
    write_log(&path, &key, records);
    (dir, path, key)
}

fn trust(key: &StationKey) -> TrustedKeys {
    let mut t = TrustedKeys::new();
    t.add(key.public_key_bytes());
    t
}

#[test]
fn checkpoint_text_is_a_c2sp_signed_note_and_round_trips() {
    let (_d, path, key) = setup(10);
    let out = default_checkpoint_path(&path);
    let cp = write_checkpoint(&path, &key, &out).expect("checkpoint");
    let text = std::fs::read_to_string(&out).expect("read");
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l.len(), 5, "{text}");
    assert!(
        l[0].starts_with("facestation/log/") && l[0].len() == 32,
        "{}",
        l[0]
    );
    assert_eq!(l[1], "10");
    assert_eq!(B64.decode(l[2]).expect("b64").len(), 32);
    assert_eq!(l[3], "");
    assert!(
        l[4].starts_with(&format!("\u{2014} facestation/{} ", key.key_id())),
        "{}",
        l[4]
    );
    assert_eq!(Checkpoint::read(&out).expect("parse"), cp);
    assert_eq!(cp.verify(&trust(&key)).expect("trusted"), key.key_id());
    let other = StationKey::generate().expect("rng");
    assert!(matches!(
        cp.verify(&trust(&other)),
        Err(RecordError::CheckpointUntrusted { .. })
    ));
    // The root is the log's Merkle root, and the origin is the log's.
    let report = verify_log_trusted(&path, &trust(&key), Some(&cp)).expect("verify");
    assert_eq!(report.root, cp.root);
    assert_eq!(report.origin, cp.origin);
    assert_eq!(report.checkpoint, Some((10, key.key_id())));

    // Any change to the signed text breaks the signature.
    for (from, to) in [
        ("\n10\n", "\n11\n"),
        ("facestation/log/", "facestation/loh/"),
    ] {
        let changed = Checkpoint::parse(&text.replacen(from, to, 1)).expect("parse");
        assert!(changed.verify(&trust(&key)).is_err(), "{from}");
    }
    for junk in ["", "a\n1\n", "a\nx\nAAAA\n\n\u{2014} k AAAA\n", "a\n01\n"] {
        assert!(
            matches!(Checkpoint::parse(junk), Err(RecordError::BadCheckpoint(_))),
            "{junk:?}"
        );
    }
}

#[test]
fn truncation_after_a_checkpoint_is_named() {
    let (_d, path, key) = setup(10);
    let cp = write_checkpoint(&path, &key, &default_checkpoint_path(&path)).expect("cp");
    let all = lines(&path);
    write_lines(&path, &all[..7]);
    // The chain alone cannot tell.
    crate::record::verify_log(&path).expect("a clean cut still chains");
    match verify_log_trusted(&path, &trust(&key), Some(&cp)) {
        Err(RecordError::CheckpointMismatch(m)) => assert_eq!(
            m,
            "log has 7 records, checkpoint covers 10: records 8-10 missing"
        ),
        other => panic!("expected CheckpointMismatch, got {other:?}"),
    }
    write_lines(&path, &all[..9]);
    match verify_log_trusted(&path, &trust(&key), Some(&cp)) {
        Err(RecordError::CheckpointMismatch(m)) => {
            assert!(m.ends_with(": record 10 missing"), "{m}")
        }
        other => panic!("expected CheckpointMismatch, got {other:?}"),
    }
}

#[test]
fn history_rewritten_with_the_real_key_changes_the_root() {
    let (_d, path, key) = setup(10);
    let cp = write_checkpoint(&path, &key, &default_checkpoint_path(&path)).expect("cp");
    // The key holder re-signs and re-chains from line 5: chain and
    // signatures are fine, the root at size 10 is not.
    crate::record::testutil::forge_from(&path, 5, &key, crate::record::testutil::flip_to_no_match);
    verify_log_trusted(&path, &trust(&key), None).expect("consistent rewrite");
    match verify_log_trusted(&path, &trust(&key), Some(&cp)) {
        Err(RecordError::CheckpointMismatch(m)) => {
            assert!(
                m.starts_with("root at size 10 differs: records were changed"),
                "{m}"
            )
        }
        other => panic!("expected CheckpointMismatch, got {other:?}"),
    }
}

#[test]
fn log_grown_after_a_checkpoint_still_matches_it() {
    let (_d, path, key) = setup(3);
    let empty = Checkpoint::sign(
        log_origin(None),
        0,
        crate::record::merkle::empty_root(),
        &key,
    );
    let cp = write_checkpoint(&path, &key, &default_checkpoint_path(&path)).expect("cp");
    let log = AuditLog::open(&path).expect("open");
    for i in 0..4 {
        log.append_signed(compare_record(i, "2024-05-02T00:00:00Z", 0.3), &key)
            .expect("append");
    }
    for c in [&empty, &cp] {
        let r = verify_log_trusted(&path, &trust(&key), Some(c)).expect("grown log");
        assert_eq!(r.log.records, 7);
    }
}

#[test]
fn inclusion_proofs_verify_and_changed_records_do_not() {
    let (_d, path, key) = setup(11);
    let cp_path = default_checkpoint_path(&path);
    let cp = write_checkpoint(&path, &key, &cp_path).expect("cp");
    for seq in 1..=11 {
        let proof = InclusionProof::build(&path, seq, Some(&cp)).expect("prove");
        assert_eq!(
            (proof.seq, proof.leaf_index, proof.tree_size),
            (seq, seq - 1, 11)
        );
        let back: InclusionProof =
            serde_json::from_str(&serde_json::to_string(&proof).expect("ser")).expect("de");
        let ok = back.check(&cp, &trust(&key)).expect("proof holds");
        assert_eq!(ok.seq, seq);
        assert_eq!(ok.checkpoint_key_id, key.key_id());
    }
    let proof = InclusionProof::build(&path, 4, Some(&cp)).expect("prove");
    // The record changed (and re-signed by the key holder, so its own
    // signature is fine).
    let mut r: Value = serde_json::from_str(&proof.record).expect("json");
    r["data"]["result"]["score"] = serde_json::json!(0.1);
    sign_record(&mut r, &key).expect("sign");
    let mut changed = proof.clone();
    changed.record = serde_json::to_string(&r).expect("ser");
    match changed.check(&cp, &trust(&key)) {
        Err(RecordError::BadProof(m)) => assert!(m.contains("record was changed"), "{m}"),
        other => panic!("expected BadProof, got {other:?}"),
    }
    // ...and with the leaf hash updated to match: the path fails.
    changed.leaf_hash = B64.encode(crate::record::merkle::leaf_hash(changed.record.as_bytes()));
    match changed.check(&cp, &trust(&key)) {
        Err(RecordError::BadProof(m)) => assert!(m.contains("audit path does not lead"), "{m}"),
        other => panic!("expected BadProof, got {other:?}"),
    }
    // A path entry swapped, a wrong index, another key's checkpoint.
    let mut p = proof.clone();
    p.audit_path.swap(0, 1);
    assert!(p.check(&cp, &trust(&key)).is_err());
    let other = StationKey::generate().expect("rng");
    assert!(matches!(
        proof.check(&cp, &trust(&other)),
        Err(RecordError::CheckpointUntrusted { .. })
    ));
    // A proof of the whole (grown) log does not fit the older checkpoint.
    let log = AuditLog::open(&path).expect("open");
    log.append_signed(compare_record(99, "2024-05-03T00:00:00Z", 0.9), &key)
        .expect("append");
    let newer = InclusionProof::build(&path, 4, None).expect("prove");
    assert_eq!(newer.tree_size, 12);
    assert!(matches!(
        newer.check(&cp, &trust(&key)),
        Err(RecordError::BadProof(_))
    ));
    // A record newer than the checkpoint cannot be proven against it.
    match InclusionProof::build(&path, 12, Some(&cp)) {
        Err(RecordError::BadProof(m)) => {
            assert!(m.contains("newer than the checkpoint"), "{m}")
        }
        other => panic!("expected BadProof, got {other:?}"),
    }
    assert!(InclusionProof::build(&path, 0, None).is_err());
    assert!(InclusionProof::build(&path, 13, None).is_err());
}
