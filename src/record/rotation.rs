//! Station key rotation.
//!
//! A key change inside a log is accepted only through a rotation record:
//!
//! ```json
//! {"id": "k3x9a",
//!  "data": {"type": "key_rotation",
//!           "previousPublicKey": "<base64>", "previousKeyId": "<16 hex>",
//!           "newPublicKey": "<base64>", "newKeyId": "<16 hex>",
//!           "createdAt": "2024-05-01T10:00:00.000Z"},
//!  "rotationProof": {"algorithm": "Ed25519", "canonicalization": "RFC8785",
//!                    "covers": "record without signature and rotationProof",
//!                    "value": "<base64 signature by the NEW key>"},
//!  "prevRecordSha256": "...", "seq": 42,
//!  "signature": {... signed by the OLD key, over everything incl. rotationProof}}
//! ```
//!
//! The old key's signature says "my successor is this key"; the new key's
//! signature over the same content (its place in the log included) proves
//! that whoever announced it holds it. A verifier that trusts the old key
//! then trusts the new one from the next line on, and stops trusting the
//! old one: records signed by a retired key after its rotation fail.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};

use super::canonical::canonical_json;
use super::fsutil::{open_read, sidecar};
use super::keys::{key_id_of, StationKey};
use super::log::AuditLog;
use super::sign::{ALGORITHM, CANONICALIZATION};
use super::timeutil::{now_iso, short_id};
use super::{io_err, sync_parent_dir, RecordError};

/// `data.type` of a rotation record.
pub const ROTATION_TYPE: &str = "key_rotation";

const COVERS: &str = "record without signature and rotationProof";

/// What [`rotate_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationOutcome {
    pub old_key_id: String,
    pub new_key_id: String,
    /// Base64 public key to give to verifiers.
    pub new_public_key: String,
    /// `seq` of the rotation record.
    pub seq: u64,
    /// Where the old key was kept (`<key>.<old key id>.retired`, 0600).
    pub retired: PathBuf,
    /// `true` when an interrupted rotation (record written, key not yet
    /// replaced) was completed instead of starting a new one.
    pub resumed: bool,
}

/// `<key>.<keyid>.retired`.
pub fn retired_path(key_path: &Path, key_id: &str) -> PathBuf {
    sidecar(key_path, &format!(".{key_id}.retired"))
}

/// What the new key signs: the record minus `signature` and
/// `rotationProof`, canonicalized.
fn proof_message(record: &Value) -> Result<String, RecordError> {
    let mut content = record.clone();
    if let Some(obj) = content.as_object_mut() {
        obj.remove("signature");
        obj.remove("rotationProof");
    }
    canonical_json(&content)
}

fn rotation_record(old: &StationKey, new: &StationKey) -> Value {
    json!({
        "id": short_id(),
        "data": {
            "type": ROTATION_TYPE,
            "previousPublicKey": old.public_key_b64(),
            "previousKeyId": old.key_id(),
            "newPublicKey": new.public_key_b64(),
            "newKeyId": new.key_id(),
            "createdAt": now_iso(),
        },
        "signature": {"message": "Key rotation by FaceStation"},
    })
}

/// Adds the new key's `rotationProof` to a chained rotation record.
fn add_proof(record: &mut Value, new: &StationKey) -> Result<(), RecordError> {
    let message = proof_message(record)?;
    let value = B64.encode(new.sign(message.as_bytes()));
    let obj = record.as_object_mut().ok_or(RecordError::NotAnObject)?;
    obj.insert(
        "rotationProof".into(),
        json!({
            "algorithm": ALGORITHM,
            "canonicalization": CANONICALIZATION,
            "covers": COVERS,
            "value": value,
        }),
    );
    Ok(())
}

/// Checks a rotation record whose own signature by `signer` was already
/// verified; returns the new public key, or why the record is invalid.
pub(crate) fn check_rotation(record: &Value, signer: &[u8; 32]) -> Result<[u8; 32], String> {
    let data = record.get("data").ok_or("rotation record without data")?;
    let field = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("rotation record without data.{name}"))
    };
    let new: [u8; 32] = B64
        .decode(field("newPublicKey")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("rotation record's data.newPublicKey is not a 32-byte base64 key")?;
    let vk = VerifyingKey::from_bytes(&new)
        .map_err(|e| format!("rotation record's new key is not a valid Ed25519 key ({e})"))?;
    if field("newKeyId")? != key_id_of(&new) {
        return Err("rotation record's data.newKeyId does not match data.newPublicKey".into());
    }
    if field("previousKeyId")? != key_id_of(signer) {
        return Err("rotation record's data.previousKeyId is not the key that signed it".into());
    }
    if &new == signer {
        return Err("rotation record names the signing key as its own successor".into());
    }
    let proof = record
        .get("rotationProof")
        .ok_or("rotation record without rotationProof (the new key's signature)")?;
    if proof.get("algorithm").and_then(Value::as_str) != Some(ALGORITHM)
        || proof.get("canonicalization").and_then(Value::as_str) != Some(CANONICALIZATION)
    {
        return Err("rotationProof is not an Ed25519 / RFC8785 signature".into());
    }
    let sig: [u8; 64] = proof
        .get("value")
        .and_then(Value::as_str)
        .and_then(|v| B64.decode(v).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or("rotationProof.value is not a 64-byte base64 signature")?;
    let message = proof_message(record).map_err(|e| e.to_string())?;
    vk.verify_strict(message.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| {
            "rotationProof does not verify: the new key's holder did not sign this rotation"
                .to_owned()
        })?;
    Ok(new)
}

/// `seq` of a rotation record from `old` to `new` in the log, if any. Reads
/// without the readers' lock: the caller holds the writers' lock.
fn find_rotation(
    log_path: &Path,
    old: &StationKey,
    new: &StationKey,
) -> Result<Option<u64>, RecordError> {
    let file = match open_read(log_path) {
        Ok(f) => f,
        Err(RecordError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let new_id = new.key_id();
    let mut found = None;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.map_err(io_err(log_path))?;
        // Cheap filter before parsing: most lines are decisions.
        if !line
            .windows(ROTATION_TYPE.len())
            .any(|w| w == ROTATION_TYPE.as_bytes())
        {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        let is_it = v.pointer("/data/type").and_then(Value::as_str) == Some(ROTATION_TYPE)
            && v.pointer("/data/newKeyId").and_then(Value::as_str) == Some(&new_id)
            && check_rotation(&v, &old.public_key_bytes()).is_ok();
        if is_it {
            found = v.get("seq").and_then(Value::as_u64);
        }
    }
    Ok(found)
}

/// Keeps the old key as `<key>.<id>.retired` (a hard link: same 0600
/// file) and moves the staged new key over `key_path` (atomic rename).
fn install(key_path: &Path, old: &StationKey, next: &Path) -> Result<PathBuf, RecordError> {
    let retired = retired_path(key_path, &old.key_id());
    match std::fs::hard_link(key_path, &retired) {
        Ok(()) => {}
        // Left by an interrupted run: it is this key (its name says so).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(&retired)(e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&retired, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&retired))?;
    }
    std::fs::rename(next, key_path).map_err(io_err(key_path))?;
    sync_parent_dir(key_path);
    Ok(retired)
}

/// Rotates the station key at `key_path`, announcing it in `log`.
///
/// Order, so that a crash at any point leaves something `rotate_key` can
/// finish or redo: the new key is staged durably at `<key>.next`; the
/// rotation record (signed by the old key, with the new key's proof) is
/// appended; the old key is kept as `<key>.<old id>.retired`; the staged key
/// is renamed over `key_path`. Run again after a crash, it completes a
/// rotation whose record is in the log, or reuses the staged key.
///
/// Holds the log's writers' lock throughout. A station process that loaded
/// the old key keeps signing with it, and its records after the rotation
/// will fail verification: stop the station first.
pub fn rotate_key(key_path: &Path, log: &AuditLog) -> Result<RotationOutcome, RecordError> {
    let lock = log.lock_writers()?;
    let old = StationKey::load(key_path)?;
    let next_path = sidecar(key_path, ".next");
    let new = match StationKey::load(&next_path) {
        Ok(next) => next,
        Err(RecordError::KeyNotFound { .. }) => {
            let k = StationKey::generate()?;
            k.write_new(&next_path)?;
            k
        }
        Err(e) => return Err(e),
    };
    let outcome = |seq, retired, resumed| RotationOutcome {
        old_key_id: old.key_id(),
        new_key_id: new.key_id(),
        new_public_key: new.public_key_b64(),
        seq,
        retired,
        resumed,
    };
    if let Some(seq) = find_rotation(log.path(), &old, &new)? {
        let retired = install(key_path, &old, &next_path)?;
        return Ok(outcome(seq, retired, true));
    }
    let report = log.append_locked(&lock, rotation_record(&old, &new), &old, |r| {
        add_proof(r, &new)
    })?;
    let seq = report
        .record
        .get("seq")
        .and_then(Value::as_u64)
        .unwrap_or_default();
    let retired = install(key_path, &old, &next_path)?;
    Ok(outcome(seq, retired, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testutil::{compare_record, lines, write_lines};
    use crate::record::trust::{verify_log_trusted, TrustedKeys};
    use crate::record::{sign_record, verify_log};

    fn trust(keys: &[&StationKey]) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        for k in keys {
            t.add(k.public_key_bytes());
        }
        t
    }

    struct Station {
        _dir: tempfile::TempDir,
        key_path: PathBuf,
        log: AuditLog,
    }

    fn station() -> Station {
        let dir = tempfile::tempdir().expect("tmp");
        let key_path = dir.path().join("station-key.pem");
        let log = AuditLog::open(&dir.path().join("audit.jsonl")).expect("log");
        Station {
            _dir: dir,
            key_path,
            log,
        }
    }

    fn append(s: &Station, n: usize) {
        let key = StationKey::load_or_create(&s.key_path).expect("key");
        for i in 0..n {
            s.log
                .append_signed(compare_record(i, "2024-05-01T10:00:00.000Z", 0.9), &key)
                .expect("append");
        }
    }

    #[test]
    fn rotated_log_verifies_against_the_original_key_only() {
        let s = station();
        append(&s, 3);
        let original = StationKey::load(&s.key_path).expect("key");
        let out = rotate_key(&s.key_path, &s.log).expect("rotate");
        assert_eq!((out.seq, out.resumed), (4, false));
        assert_eq!(out.old_key_id, original.key_id());
        let new = StationKey::load(&s.key_path).expect("new key");
        assert_eq!(out.new_key_id, new.key_id());
        assert_ne!(new.key_id(), original.key_id());
        // The old key is kept, private.
        let retired = StationKey::load(&out.retired).expect("retired");
        assert_eq!(retired.key_id(), original.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out.retired)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!sidecar(&s.key_path, ".next").exists());
        append(&s, 2);

        let report = verify_log_trusted(s.log.path(), &trust(&[&original]), None)
            .expect("old and new records verify against the original key");
        assert_eq!(report.log.records, 6);
        assert_eq!(report.trusted_at_end, vec![new.key_id()]);
        assert_eq!(report.rotations.len(), 1);
        assert_eq!(report.rotations[0].line, 4);
        // Trusting only the new key does not vouch for what came before it.
        assert!(matches!(
            verify_log_trusted(s.log.path(), &trust(&[&new]), None),
            Err(RecordError::UntrustedKeyAt { line: 1, .. })
        ));
        // Records by the retired key after the rotation are refused.
        s.log
            .append_signed(compare_record(9, "2024-05-02T00:00:00Z", 0.9), &original)
            .expect("append");
        match verify_log_trusted(s.log.path(), &trust(&[&original]), None) {
            Err(RecordError::UntrustedKeyAt { line, key_id, .. }) => {
                assert_eq!((line, key_id), (7, original.key_id()))
            }
            other => panic!("expected UntrustedKeyAt, got {other:?}"),
        }
    }

    #[test]
    fn second_rotation_chains_on() {
        let s = station();
        append(&s, 1);
        let original = StationKey::load(&s.key_path).expect("key");
        rotate_key(&s.key_path, &s.log).expect("rotate");
        append(&s, 1);
        let second = rotate_key(&s.key_path, &s.log).expect("rotate again");
        assert_eq!(second.seq, 4);
        append(&s, 1);
        let report =
            verify_log_trusted(s.log.path(), &trust(&[&original]), None).expect("verifies");
        assert_eq!(report.rotations.len(), 2);
        assert_eq!(report.log.records, 5);
    }

    #[test]
    fn bad_rotation_records_are_refused() {
        let s = station();
        append(&s, 2);
        let original = StationKey::load(&s.key_path).expect("key");
        rotate_key(&s.key_path, &s.log).expect("rotate");
        let pristine = lines(s.log.path());
        let stranger = StationKey::generate().expect("rng");
        // Each edit is re-signed by the old key, so only the rotation rules
        // can catch it.
        type Edit = Box<dyn Fn(&mut Value)>;
        let edits: Vec<(&str, Edit)> = vec![
            (
                "rotationProof",
                Box::new(|r| {
                    r.as_object_mut().map(|o| o.remove("rotationProof"));
                }),
            ),
            (
                "the new key's holder did not sign",
                Box::new(move |r| {
                    r["data"]["newPublicKey"] = json!(stranger.public_key_b64());
                    r["data"]["newKeyId"] = json!(stranger.key_id());
                }),
            ),
            (
                "newKeyId does not match",
                Box::new(|r| r["data"]["newKeyId"] = json!("0000000000000000")),
            ),
            (
                "previousKeyId",
                Box::new(|r| r["data"]["previousKeyId"] = json!("0000000000000000")),
            ),
        ];
        for (want, edit) in edits {
            let mut ls = pristine.clone();
            let mut r: Value = serde_json::from_str(&ls[2]).expect("json");
            edit(&mut r);
            sign_record(&mut r, &original).expect("sign");
            ls[2] = serde_json::to_string(&r).expect("ser");
            write_lines(s.log.path(), &ls);
            match verify_log_trusted(s.log.path(), &trust(&[&original]), None) {
                Err(RecordError::BadLine { line: 3, reason }) => {
                    assert!(reason.contains(want), "{want}: {reason}")
                }
                other => panic!("{want}: expected BadLine 3, got {other:?}"),
            }
        }
        // Replaying the rotation proof at another place fails too: it covers
        // seq and prevRecordSha256.
        let mut ls = pristine.clone();
        let mut r: Value = serde_json::from_str(&ls[2]).expect("json");
        r["seq"] = json!(2);
        r["prevRecordSha256"] =
            serde_json::from_str::<Value>(&ls[1]).expect("json")["prevRecordSha256"].clone();
        sign_record(&mut r, &original).expect("sign");
        ls.remove(1);
        ls[1] = serde_json::to_string(&r).expect("ser");
        write_lines(s.log.path(), &ls);
        verify_log(s.log.path()).expect("chain fine");
        match verify_log_trusted(s.log.path(), &trust(&[&original]), None) {
            Err(RecordError::BadLine { line: 2, reason }) => {
                assert!(reason.contains("did not sign"), "{reason}")
            }
            other => panic!("expected BadLine 2, got {other:?}"),
        }
    }

    #[test]
    fn interrupted_rotation_is_completed_not_repeated() {
        let s = station();
        append(&s, 1);
        let original = StationKey::load(&s.key_path).expect("key");
        // Simulate a crash after the record was appended, before the key was
        // replaced: stage, append, stop.
        let next = StationKey::generate().expect("rng");
        next.write_new(&sidecar(&s.key_path, ".next"))
            .expect("stage");
        {
            let lock = s.log.lock_writers().expect("lock");
            s.log
                .append_locked(&lock, rotation_record(&original, &next), &original, |r| {
                    add_proof(r, &next)
                })
                .expect("append");
        }
        assert_eq!(
            StationKey::load(&s.key_path).expect("k").key_id(),
            original.key_id()
        );
        let out = rotate_key(&s.key_path, &s.log).expect("resume");
        assert!(out.resumed);
        assert_eq!(
            (out.seq, out.new_key_id.as_str()),
            (2, next.key_id().as_str())
        );
        assert_eq!(
            StationKey::load(&s.key_path).expect("k").key_id(),
            next.key_id()
        );
        assert_eq!(lines(s.log.path()).len(), 2, "no second rotation record");
        verify_log_trusted(s.log.path(), &trust(&[&original]), None).expect("verifies");
    }

    #[test]
    fn rotating_without_a_key_creates_nothing() {
        let s = station();
        assert!(matches!(
            rotate_key(&s.key_path, &s.log),
            Err(RecordError::KeyNotFound { .. })
        ));
        assert!(!s.key_path.exists());
        assert!(lines(s.log.path()).is_empty());
    }
}
