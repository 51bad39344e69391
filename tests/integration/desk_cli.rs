//! The access-control desk end to end through the `facestation` binary: trusted keys, key
//! rotation, signed checkpoints and inclusion proofs, export and purge. No models needed: logs
//! are written through the library with a key in a temp folder, as the station would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use facestation::record::{sign_record, AuditLog, StationKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tmp"),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("station-key.pem")
    }

    fn key(&self) -> StationKey {
        StationKey::load_or_create(&self.key_path()).expect("key")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `facestation --log <log> --key <key> ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with_key(&self.key_path(), args)
    }

    fn run_with_key(&self, key: &Path, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_facestation"))
            .arg("--log")
            .arg(self.log())
            .arg("--key")
            .arg(key)
            .args(args)
            .output()
            .expect("run facestation");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "panic: {stderr}");
        out
    }

    /// Appends `n` compare records (even ones match) through the library, as the station does.
    fn append(&self, n: usize, time: &str) {
        let log = AuditLog::open(&self.log()).expect("log");
        let key = self.key();
        for i in 0..n {
            log.append_signed(compare(i, time, i % 2 == 0), &key)
                .expect("append");
        }
    }

    fn log_str(&self) -> String {
        self.log().display().to_string()
    }
}

fn compare(i: usize, time: &str, passed: bool) -> Value {
    let score = if passed { 0.93 } else { 0.41 };
    json!({
        "id": format!("c{i:04}"),
        "data": {
            "type": "compare",
            "probe": [format!("sha256:{}", hex::encode(Sha256::digest(format!("p{i}"))))],
            "gallery": [format!("sha256:{}", hex::encode(Sha256::digest(format!("g{i}"))))],
            "result": {"score": score, "compare_min_score": 0.85, "passed": passed},
            "createdAt": time,
            "comparedAt": time,
            "search_mode": "FAST",
        },
        "signature": {"message": "Certified by FaceStation", "dateTime": "x"},
        "station": {
            "engine": "local",
            "decision": if passed { "match" } else { "no_match" },
            "passed": passed,
            "threshold": 0.85,
        },
    })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The forgery trusted keys exist for: line `from` is edited from match to no-match, then it and
/// every later line are re-signed with `forger` AND re-chained, so that the log is consistent on
/// its own (and `verify_log`, which only checks embedded keys, accepts it).
fn forge_from(log: &Path, from: usize, forger: &StationKey) {
    let text = std::fs::read_to_string(log).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut prev = if from == 1 {
        "0".repeat(64)
    } else {
        sha256_hex(lines[from - 2].as_bytes())
    };
    for (i, line) in lines.iter_mut().enumerate().skip(from - 1) {
        let mut r: Value = serde_json::from_str(line).expect("json");
        if i == from - 1 {
            assert_eq!(
                r["station"]["decision"], "match",
                "line {from} must be a match"
            );
            r["station"]["decision"] = json!("no_match");
            r["station"]["passed"] = json!(false);
            r["data"]["result"]["passed"] = json!(false);
            r["data"]["result"]["score"] = json!(0.12);
        }
        r["prevRecordSha256"] = json!(prev);
        sign_record(&mut r, forger).expect("sign");
        *line = serde_json::to_string(&r).expect("ser");
        prev = sha256_hex(line.as_bytes());
    }
    std::fs::write(log, lines.join("\n") + "\n").expect("write");
}

#[test]
fn forged_and_rechained_tail_is_caught_unless_the_forger_is_trusted() {
    let desk = Desk::new();
    desk.append(10, "2024-05-01T10:00:00.000Z");
    let verify = ["record", "verify", &desk.log_str()];
    assert!(ok(&desk.run(&verify)).contains("10 records"));

    let forger = StationKey::generate().expect("rng");
    forge_from(&desk.log(), 5, &forger);
    facestation::record::verify_log(&desk.log()).expect("consistent on its own");

    let out = desk.run(&verify);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains(&forger.key_id()), "{err}");

    let forger_b64 = forger.public_key_b64();
    let trusted = desk.run(&["record", "verify", &desk.log_str(), "--trust", &forger_b64]);
    assert!(ok(&trusted).contains("10 records"));
    // A key id is not a key.
    let by_id = desk.run(&[
        "record",
        "verify",
        &desk.log_str(),
        "--trust",
        &forger.key_id(),
    ]);
    assert_eq!(by_id.status.code(), Some(2), "{}", stderr(&by_id));
    assert!(stderr(&by_id).contains("key id"), "{}", stderr(&by_id));
}

#[test]
fn verify_without_any_key_fails_clearly_and_creates_none() {
    let desk = Desk::new();
    desk.append(2, "2024-05-01T10:00:00.000Z");
    let missing = desk.path("no-such-key.pem");
    let out = desk.run_with_key(&missing, &["record", "verify", &desk.log_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no station key"), "{}", stderr(&out));
    assert!(!missing.exists(), "verifying must not create a key");
    // With the station's public key given explicitly it verifies.
    let b64 = desk.key().public_key_b64();
    let out = desk.run_with_key(
        &missing,
        &["record", "verify", &desk.log_str(), "--trust", &b64],
    );
    assert!(ok(&out).contains("2 records"));
    assert!(!missing.exists());
}

#[test]
fn checkpoint_catches_truncation_and_proofs_check_without_the_log() {
    let desk = Desk::new();
    desk.append(10, "2024-05-01T10:00:00.000Z");
    let log = desk.log_str();
    let cp = desk.path("copied-elsewhere.checkpoint");
    let cp_s = cp.display().to_string();
    assert!(ok(&desk.run(&["record", "checkpoint", &log, "--out", &cp_s])).contains("10 records"));
    ok(&desk.run(&["record", "checkpoint", &log]));
    assert!(desk.path("audit.jsonl.checkpoint").exists());
    let text = std::fs::read_to_string(&cp).expect("checkpoint");
    assert_eq!(text.lines().nth(1), Some("10"), "{text}");

    let verified = ok(&desk.run(&["record", "verify", &log, "--checkpoint", &cp_s]));
    assert!(verified.contains("root matches"), "{verified}");

    let proof = ok(&desk.run(&["record", "prove", &log, "--seq", "4", "--checkpoint", &cp_s]));
    let p: Value = serde_json::from_str(&proof).expect("proof is JSON");
    assert_eq!(
        (p["leafIndex"].as_u64(), p["treeSize"].as_u64()),
        (Some(3), Some(10))
    );
    assert!(p["auditPath"].as_array().is_some_and(|a| a.len() == 4));
    let line4 = std::fs::read_to_string(desk.log())
        .expect("log")
        .lines()
        .nth(3)
        .map(str::to_owned);
    assert_eq!(p["record"].as_str(), line4.as_deref());
    let proof_file = desk.path("proof.json");
    std::fs::write(&proof_file, &proof).expect("write");
    let proof_s = proof_file.display().to_string();

    // Checked without the log.
    let saved = std::fs::read(desk.log()).expect("log");
    std::fs::remove_file(desk.log()).expect("rm");
    let checked = ok(&desk.run(&["record", "check-proof", &proof_s, "--checkpoint", &cp_s]));
    assert!(checked.contains("record 4"), "{checked}");
    // A changed record's proof does not hold.
    let mut changed = p.clone();
    let mut r: Value = serde_json::from_str(p["record"].as_str().expect("str")).expect("json");
    r["data"]["result"]["score"] = json!(0.11);
    changed["record"] = json!(serde_json::to_string(&r).expect("ser"));
    std::fs::write(&proof_file, changed.to_string()).expect("write");
    let out = desk.run(&["record", "check-proof", &proof_s, "--checkpoint", &cp_s]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("inclusion proof does not hold"),
        "{}",
        stderr(&out)
    );
    // Nor against a checkpoint by a key that is not trusted.
    std::fs::write(&proof_file, &proof).expect("write");
    let stranger = StationKey::generate().expect("rng").public_key_b64();
    let out = desk.run_with_key(
        &desk.path("none.pem"),
        &[
            "record",
            "check-proof",
            &proof_s,
            "--checkpoint",
            &cp_s,
            "--trust",
            &stranger,
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("not signed by a trusted key"),
        "{}",
        stderr(&out)
    );

    // Truncated after the checkpoint: the chain cannot tell, the checkpoint does.
    let kept: Vec<&[u8]> = saved.split_inclusive(|&b| b == b'\n').take(7).collect();
    std::fs::write(desk.log(), kept.concat()).expect("truncate");
    ok(&desk.run(&["record", "verify", &log]));
    let out = desk.run(&["record", "verify", &log, "--checkpoint", &cp_s]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("log has 7 records, checkpoint covers 10: records 8-10 missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn key_show_init_and_rotation_keep_old_records_verifiable() {
    let desk = Desk::new();
    let log = desk.log_str();
    // Nothing to show before the station has a key; init creates it.
    let out = desk.run(&["key", "show"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("key init"), "{}", stderr(&out));
    let init: Value =
        serde_json::from_str(&ok(&desk.run(&["key", "init", "--json"]))).expect("json");
    let original = desk.key();
    assert_eq!(init["publicKey"], original.public_key_b64().as_str());
    let shown = ok(&desk.run(&["key", "show"]));
    assert!(
        shown.contains(&format!("public key: {}", original.public_key_b64())),
        "{shown}"
    );
    assert!(shown.contains(&original.key_id()), "{shown}");
    let pem = ok(&desk.run(&["key", "show", "--pem"]));
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    // What `key show` prints can be handed over as a file.
    let pub_file = desk.path("station.pub");
    std::fs::write(&pub_file, &shown).expect("write");

    desk.append(3, "2024-05-01T10:00:00.000Z");
    let rotated: Value =
        serde_json::from_str(&ok(&desk.run(&["key", "rotate", "--json"]))).expect("json");
    assert_eq!(rotated["seq"], 4);
    assert_eq!(rotated["previousKeyId"], original.key_id().as_str());
    let new = desk.key();
    assert_eq!(rotated["newKeyId"], new.key_id().as_str());
    let retired = desk.path(&format!("station-key.pem.{}.retired", original.key_id()));
    assert!(retired.exists());
    desk.append(2, "2024-05-02T10:00:00.000Z");

    // On the station (current + retired key) and elsewhere with the original key only.
    assert!(ok(&desk.run(&["record", "verify", &log])).contains("6 records"));
    let elsewhere = desk.path("verifier-has-no-key.pem");
    let pub_s = pub_file.display().to_string();
    let out = desk.run_with_key(&elsewhere, &["record", "verify", &log, "--trust", &pub_s]);
    assert!(ok(&out).contains("6 records"));
    // Trusting only the new key fails at the first record before the rotation.
    let new_b64 = new.public_key_b64();
    let out = desk.run_with_key(&elsewhere, &["record", "verify", &log, "--trust", &new_b64]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&original.key_id()),
        "{}",
        stderr(&out)
    );
}

/// Separate processes creating the key at once (the unit test races 16 threads for 200 rounds
/// on the same code path): every process gets the same, complete key.
#[test]
fn racing_processes_create_one_key() {
    for round in 0..10 {
        let desk = Desk::new();
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_facestation"))
                    .arg("--key")
                    .arg(desk.key_path())
                    .args(["key", "init", "--json"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let keys: Vec<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().expect("wait");
                let v: Value = serde_json::from_str(&ok(&out)).expect("json");
                v["publicKey"].as_str().expect("key").to_owned()
            })
            .collect();
        assert!(
            keys.iter().all(|k| *k == keys[0]),
            "round {round}: {keys:?}"
        );
        assert_eq!(keys[0], desk.key().public_key_b64());
    }
}

#[test]
fn export_streams_csv_and_jsonl_with_filters() {
    let desk = Desk::new();
    desk.append(4, "2024-05-01T10:00:00.000Z");
    desk.append(2, "2024-05-03T10:00:00.000Z");
    let log = desk.log_str();
    let csv = ok(&desk.run(&["record", "export", &log, "--format", "csv"]));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 7, "{csv}");
    assert_eq!(
        rows[0],
        "seq,time,type,verdict,reasons,score,threshold,search_mode,engine,operator,gallery_count,key_id,record_id"
    );
    let kid = desk.key().key_id();
    assert_eq!(
        rows[1],
        format!("1,2024-05-01T10:00:00.000Z,compare,verified,,0.93,0.85,FAST,local,,1,{kid},c0000")
    );
    assert!(rows[2].contains(",not_verified,,0.41,"), "{}", rows[2]);

    let out = desk.path("may3.jsonl");
    let out_s = out.display().to_string();
    let o = desk.run(&[
        "record",
        "export",
        &log,
        "--format",
        "jsonl",
        "--since",
        "2024-05-02",
        "--until",
        "2024-05-03",
        "--verdict",
        "verified",
        "--out",
        &out_s,
    ]);
    ok(&o);
    let text = std::fs::read_to_string(&out).expect("out");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    assert_eq!(seqs, vec![5]);
    let bad = desk.run(&["record", "export", &log, "--since", "May 2"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn purge_removes_old_content_and_keeps_verify_and_old_checkpoints_passing() {
    let desk = Desk::new();
    desk.append(4, "2020-01-01T08:00:00.000Z");
    desk.append(3, "2999-01-01T08:00:00.000Z");
    let log = desk.log_str();
    let cp = desk.path("before-purge.checkpoint");
    let cp_s = cp.display().to_string();
    ok(&desk.run(&["record", "checkpoint", &log, "--out", &cp_s]));
    let before: Vec<String> = std::fs::read_to_string(desk.log())
        .expect("log")
        .lines()
        .map(str::to_owned)
        .collect();

    let out = ok(&desk.run(&["record", "purge", &log, "--older-than", "30"]));
    assert!(out.contains("purged 4 records"), "{out}");
    assert!(out.contains("seq 1-4"), "{out}");
    let after: Vec<String> = std::fs::read_to_string(desk.log())
        .expect("log")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(after.len(), 8);
    for line in &after[..4] {
        for gone in ["score", "sha256:", "gallery", "probe", "0.93", "0.41"] {
            assert!(!line.contains(gone), "{gone} left in {line}");
        }
        assert!(line.contains("\"purged\":true"), "{line}");
    }
    assert_eq!(after[4..7], before[4..7]);

    let verified = ok(&desk.run(&["record", "verify", &log, "--checkpoint", &cp_s]));
    assert!(verified.contains("8 records"), "{verified}");
    assert!(verified.contains("root matches"), "{verified}");
    // Export shows the tombstones as purged.
    let csv = ok(&desk.run(&["record", "export", &log]));
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("1,2020-01-01T08:00:00.000Z,purged,")),
        "{csv}"
    );
    // Idempotent.
    let again = ok(&desk.run(&["record", "purge", &log, "--older-than", "30"]));
    assert!(again.contains("nothing to purge"), "{again}");
}
