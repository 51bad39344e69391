//! Verifying a log against trusted keys.
//!
//! [`verify_log`](super::verify_log) proves that a log is intact and that
//! each record was signed by the key embedded in it, which anyone can do
//! with a fresh key after rewriting the whole log. [`verify_log_trusted`]
//! also requires every record to be signed by a key the verifier trusts:
//! the station's own key by default, plus keys given explicitly. A record by
//! any other key fails, naming its line and key id.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use super::checkpoint::{log_origin, Checkpoint};
use super::fsutil::open_read;
use super::keys::{key_id_of, StationKey};
use super::log::{is_tombstone, walk_log, LogReport};
use super::merkle::{empty_root, CompactTree, Hash};
use super::purge::{purged_ranges, PURGE_TYPE};
use super::rotation::{check_rotation, ROTATION_TYPE};
use super::sign::{verify_record, verify_record_with_key};
use super::{io_err, RecordError};

/// A set of trusted Ed25519 public keys (raw 32 bytes), in the order added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<[u8; 32]>,
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `public_key`; `false` if it was already there.
    pub fn add(&mut self, public_key: [u8; 32]) -> bool {
        if self.contains(&public_key) {
            return false;
        }
        self.keys.push(public_key);
        true
    }

    /// Removes `public_key` (after it was rotated away).
    pub fn remove(&mut self, public_key: &[u8; 32]) {
        self.keys.retain(|k| k != public_key);
    }

    pub fn contains(&self, public_key: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| k == public_key)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys.iter()
    }

    /// Key ids, for messages.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(key_id_of).collect()
    }

    /// "id1, id2" or "none", for messages.
    pub(crate) fn describe(&self) -> String {
        if self.keys.is_empty() {
            "none".into()
        } else {
            self.key_ids().join(", ")
        }
    }

    /// Adds a key given by an operator: the base64 public key as printed by
    /// `facestation key show`, or a file holding it (or a PEM public key,
    /// or `key show` / `key show --json` output). A key id alone is refused: it is a
    /// fingerprint, not something a signature can be checked against.
    pub fn add_arg(&mut self, arg: &str) -> Result<(), RecordError> {
        self.add(parse_trust_arg(arg)?);
        Ok(())
    }

    /// The station's own key at `key_path`, and the keys it retired
    /// (`<key>.<keyid>.retired` beside it, left by `key rotate`), so that a
    /// log signed before a rotation still verifies on the station. Never
    /// creates a key: [`RecordError::KeyNotFound`] if there is none.
    pub fn add_station(&mut self, key_path: &Path) -> Result<(), RecordError> {
        let key = StationKey::load(key_path)?;
        self.add(key.public_key_bytes());
        for retired in retired_keys(key_path)? {
            self.add(StationKey::load(&retired)?.public_key_bytes());
        }
        Ok(())
    }
}

/// `<key>.<16 hex>.retired` files beside `key_path`, sorted by name.
pub(crate) fn retired_keys(key_path: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let (Some(dir), Some(name)) = (key_path.parent(), key_path.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let is_retired = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".retired"))
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_retired {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Largest file accepted as a trusted key (a PEM public key is ~110 bytes).
const MAX_TRUST_FILE_BYTES: u64 = 16 * 1024;

/// Parses one `--trust` value: see [`TrustedKeys::add_arg`].
pub fn parse_trust_arg(arg: &str) -> Result<[u8; 32], RecordError> {
    let arg = arg.trim();
    if let Some(key) = parse_public_key_text(arg) {
        return Ok(key);
    }
    let path = Path::new(arg);
    if path.exists() {
        let file = open_read(path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_TRUST_FILE_BYTES),
            &mut text,
        )
        .map_err(io_err(path))?;
        return parse_public_key_text(&text).ok_or_else(|| {
            RecordError::BadKey(format!(
                "{} holds no Ed25519 public key (expected the base64 key printed by \
                 `facestation key show`, a PEM PUBLIC KEY, or `key show --json` output)",
                path.display()
            ))
        });
    }
    if arg.len() == 16 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RecordError::BadKey(format!(
            "{arg} looks like a key id; a key id is not enough to check signatures: \
             give the public key (base64) that `facestation key show` prints"
        )));
    }
    Err(RecordError::BadKey(format!(
        "{arg:?} is neither a base64 Ed25519 public key (44 characters, as printed by \
         `facestation key show`) nor a file"
    )))
}

/// A public key in any of the accepted text forms, or `None`.
fn parse_public_key_text(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if let Ok(bytes) = B64.decode(text) {
        let key: [u8; 32] = bytes.as_slice().try_into().ok()?;
        return VerifyingKey::from_bytes(&key).ok().map(|_| key);
    }
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return VerifyingKey::from_public_key_pem(text)
            .ok()
            .map(|k| k.to_bytes());
    }
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).ok()?;
        return parse_public_key_text(v.get("publicKey")?.as_str()?);
    }
    // `facestation key show` output saved to a file.
    text.lines()
        .find_map(|l| l.trim().strip_prefix("public key:"))
        // Strictly shorter each time, so this recursion ends.
        .and_then(parse_public_key_text)
}

/// Result of a successful [`verify_log_trusted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustReport {
    /// What [`verify_log`](super::verify_log) would report.
    pub log: LogReport,
    /// Key ids trusted after the last line.
    pub trusted_at_end: Vec<String>,
    /// Key rotations followed, in log order.
    pub rotations: Vec<RotationSeen>,
    /// Purged records (tombstones).
    pub tombstones: usize,
    /// RFC 6962 root of all lines (what a checkpoint now would sign).
    pub root: Hash,
    /// The log's checkpoint origin line.
    pub origin: String,
    /// The checkpoint checked, if one was given: its size and the trusted
    /// key id that signed it.
    pub checkpoint: Option<(u64, String)>,
}

/// A key rotation record that [`verify_log_trusted`] followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSeen {
    pub line: usize,
    pub from_key_id: String,
    pub to_key_id: String,
}

/// The public key a record claims to be signed by.
fn signer(record: &Value) -> Result<[u8; 32], String> {
    let b64 = record
        .pointer("/signature/publicKey")
        .and_then(Value::as_str)
        .ok_or("record has no `signature.publicKey`")?;
    let bytes = B64
        .decode(b64)
        .map_err(|e| format!("`signature.publicKey` is not base64 ({e})"))?;
    bytes.as_slice().try_into().map_err(|_| {
        format!(
            "`signature.publicKey` is {} bytes, expected 32",
            bytes.len()
        )
    })
}

/// Checks `path` like [`verify_log`](super::verify_log), and also that every
/// record is signed by a key in `trusted`; with `checkpoint`, also that the
/// checkpoint is signed by a trusted key and that the log still holds the
/// lines it covers, unchanged.
///
/// Key rotations are followed from the trusted keys: a valid rotation record
/// (see `rotation`) signed by a trusted key makes its new key trusted from
/// the next line on and the old one untrusted. So a log whose records span
/// rotations verifies against the original key alone, while trusting only a
/// later key fails at the first record before it: the trust anchor is
/// always the key that signed the beginning of what is checked.
///
/// A tombstone (a purged record, see `purge`) is signed when the purge
/// runs, possibly by a key that came later: it is accepted when a later
/// purge record lists its seq and its signer is trusted at that record.
pub fn verify_log_trusted(
    path: &Path,
    trusted: &TrustedKeys,
    checkpoint: Option<&Checkpoint>,
) -> Result<TrustReport, RecordError> {
    if trusted.is_empty() {
        return Err(RecordError::NoTrustedKey(
            "give at least one public key to verify the log against".into(),
        ));
    }
    let mut current = trusted.clone();
    // Every key trusted at some point, for the checkpoint's signature (a
    // checkpoint may predate a rotation).
    let mut ever = trusted.clone();
    let mut rotations = Vec::new();
    // Tombstones waiting for their purge record: (line, seq, signer).
    let mut pending: Vec<(usize, u64, [u8; 32])> = Vec::new();
    let mut tombstones = 0usize;
    let mut tree = CompactTree::new();
    let mut first_leaf = None;
    let cp_size = checkpoint.map(|c| c.size);
    let mut root_at_cp = (cp_size == Some(0)).then(empty_root);
    let log = walk_log(path, false, |line| {
        let bad = |reason: String| RecordError::BadLine {
            line: line.n,
            reason,
        };
        let key =
            signer(line.record).map_err(|r| bad(format!("signature does not verify ({r})")))?;
        let mut push_leaf = |leaf| {
            if first_leaf.is_none() {
                first_leaf = Some(leaf);
            }
            tree.push(leaf);
            if Some(tree.size()) == cp_size {
                root_at_cp = Some(tree.root());
            }
        };
        if is_tombstone(line.record) {
            verify_record(line.record)
                .map_err(|e| bad(format!("signature does not verify ({e})")))?;
            let seq = line.n as u64;
            pending.push((line.n, seq, key));
            tombstones += 1;
            push_leaf(line.leaf);
            return Ok(());
        }
        if !current.contains(&key) {
            return Err(RecordError::UntrustedKeyAt {
                line: line.n,
                key_id: key_id_of(&key),
                trusted: current.describe(),
            });
        }
        verify_record_with_key(line.record, &B64.encode(key))
            .map_err(|e| bad(format!("signature does not verify ({e})")))?;
        if line.record.pointer("/data/type").and_then(Value::as_str) == Some(ROTATION_TYPE) {
            let new = check_rotation(line.record, &key).map_err(bad)?;
            current.remove(&key);
            current.add(new);
            ever.add(new);
            rotations.push(RotationSeen {
                line: line.n,
                from_key_id: key_id_of(&key),
                to_key_id: key_id_of(&new),
            });
        }
        if line.record.pointer("/data/type").and_then(Value::as_str) == Some(PURGE_TYPE) {
            let ranges = purged_ranges(line.record).map_err(bad)?;
            let listed = |seq: u64| ranges.iter().any(|&(a, b)| (a..=b).contains(&seq));
            for &(at, _, by) in pending.iter().filter(|(_, seq, _)| listed(*seq)) {
                if !current.contains(&by) {
                    return Err(RecordError::UntrustedKeyAt {
                        line: at,
                        key_id: key_id_of(&by),
                        trusted: current.describe(),
                    });
                }
            }
            pending.retain(|(_, seq, _)| !listed(*seq));
        }
        push_leaf(line.leaf);
        Ok(())
    })?;
    if let Some(&(line, _, _)) = pending.first() {
        return Err(RecordError::BadLine {
            line,
            reason: "purged record (tombstone) not listed by a later purge record".into(),
        });
    }
    let origin = log_origin(first_leaf.as_ref());
    let checkpoint = match checkpoint {
        None => None,
        Some(cp) => {
            let key_id = cp.verify(&ever)?;
            cp.check_log(log.records as u64, root_at_cp, &origin)?;
            Some((cp.size, key_id))
        }
    };
    Ok(TrustReport {
        log,
        trusted_at_end: current.key_ids(),
        rotations,
        tombstones,
        root: tree.root(),
        origin,
        checkpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testutil::{compare_record, flip_to_no_match, forge_from, write_log};

    fn ten(dir: &Path, key: &StationKey) -> PathBuf {
        let path = dir.join("audit.jsonl");
        let records = (0..10)
            .map(|i| compare_record(i, "2024-05-01T10:00:00.000Z", 0.9))
            .collect();
        write_log(&path, key, records);
        path
    }

    fn only(key: &StationKey) -> TrustedKeys {
        let mut t = TrustedKeys::new();
        t.add(key.public_key_bytes());
        t
    }

    #[test]
    fn forged_tail_fails_at_its_first_line_naming_the_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let station = StationKey::generate().expect("rng");
        let forger = StationKey::generate().expect("rng");
        let path = ten(dir.path(), &station);
        let report = verify_log_trusted(&path, &only(&station), None).expect("pristine");
        assert_eq!(report.log.records, 10);

        forge_from(&path, 5, &forger, flip_to_no_match);
        // On its own the forged log is perfectly consistent...
        crate::record::verify_log(&path).expect("self-consistent forgery");
        // ...but not signed by the station.
        match verify_log_trusted(&path, &only(&station), None) {
            Err(e @ RecordError::UntrustedKeyAt { .. }) => {
                let RecordError::UntrustedKeyAt {
                    line, ref key_id, ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(line, 5);
                assert_eq!(key_id, &forger.key_id());
                assert!(e.to_string().contains(&station.key_id()), "{e}");
            }
            other => panic!("expected UntrustedKeyAt, got {other:?}"),
        }
        // Trusting the forger (and the station for lines 1-4) lets it pass.
        let mut both = only(&station);
        both.add(forger.public_key_bytes());
        verify_log_trusted(&path, &both, None).expect("trusted forger");
        // The forger alone fails at line 1.
        assert!(matches!(
            verify_log_trusted(&path, &only(&forger), None),
            Err(RecordError::UntrustedKeyAt { line: 1, .. })
        ));
    }

    #[test]
    fn tampered_line_is_a_bad_signature_not_an_untrusted_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let station = StationKey::generate().expect("rng");
        let path = ten(dir.path(), &station);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replacen("0.9", "0.1", 1)).expect("write");
        match verify_log_trusted(&path, &only(&station), None) {
            Err(RecordError::BadLine { line: 1, reason }) => {
                assert!(reason.starts_with("signature does not verify"), "{reason}")
            }
            other => panic!("expected BadLine 1, got {other:?}"),
        }
    }

    #[test]
    fn no_trusted_key_is_an_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let station = StationKey::generate().expect("rng");
        let path = ten(dir.path(), &station);
        assert!(matches!(
            verify_log_trusted(&path, &TrustedKeys::new(), None),
            Err(RecordError::NoTrustedKey(_))
        ));
    }

    #[test]
    fn trust_args_in_every_accepted_form() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StationKey::generate().expect("rng");
        let want = key.public_key_bytes();
        assert_eq!(parse_trust_arg(&key.public_key_b64()).expect("b64"), want);
        assert_eq!(
            parse_trust_arg(&format!("  {}\n", key.public_key_b64())).expect("spaces"),
            want
        );
        let b64_file = dir.path().join("station.pub");
        std::fs::write(&b64_file, format!("{}\n", key.public_key_b64())).expect("write");
        assert_eq!(
            parse_trust_arg(&b64_file.display().to_string()).expect("file"),
            want
        );
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let pem = VerifyingKey::from_bytes(&want)
            .expect("vk")
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .expect("pem");
        let pem_file = dir.path().join("station.pem");
        std::fs::write(&pem_file, pem).expect("write");
        assert_eq!(
            parse_trust_arg(&pem_file.display().to_string()).expect("pem"),
            want
        );
        let json_file = dir.path().join("station.json");
        std::fs::write(
            &json_file,
            serde_json::json!({"publicKey": key.public_key_b64(), "keyId": key.key_id()})
                .to_string(),
        )
        .expect("write");
        assert_eq!(
            parse_trust_arg(&json_file.display().to_string()).expect("json"),
            want
        );

        match parse_trust_arg(&key.key_id()) {
            Err(RecordError::BadKey(m)) => assert!(m.contains("key id is not enough"), "{m}"),
            other => panic!("expected BadKey, got {other:?}"),
        }
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "hello").expect("write");
        for arg in [
            "nope".to_owned(),
            junk.display().to_string(),
            B64.encode([7u8; 31]),
        ] {
            assert!(
                matches!(parse_trust_arg(&arg), Err(RecordError::BadKey(_))),
                "{arg}"
            );
        }
    }

    #[test]
    fn station_trust_includes_retired_keys_and_never_creates() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("station-key.pem");
        let mut t = TrustedKeys::new();
        assert!(matches!(
            t.add_station(&path),
            Err(RecordError::KeyNotFound { .. })
        ));
        assert!(!path.exists());
        let current = StationKey::load_or_create(&path).expect("create");
        let old = StationKey::generate().expect("rng");
        old.write_new(
            &dir.path()
                .join(format!("station-key.pem.{}.retired", old.key_id())),
        )
        .expect("retired");
        // Not ours: another file's retired key, and a name that is no key id.
        let other = StationKey::generate().expect("rng");
        other
            .write_new(
                &dir.path()
                    .join(format!("other.pem.{}.retired", other.key_id())),
            )
            .expect("write");
        other
            .write_new(&dir.path().join("station-key.pem.backup.retired"))
            .expect("write");
        t.add_station(&path).expect("station");
        assert_eq!(t.key_ids(), vec![current.key_id(), old.key_id()]);
    }
}
