//! Signed checkpoints of the audit log, and inclusion proofs against them.
//!
//! The hash chain shows edits but not that the newest lines were cut off.
//! A checkpoint is a signed statement "the first `size` lines of this log
//! have Merkle root `root`" (see `merkle`); copied somewhere else, it makes
//! truncation and rewriting of those lines detectable, and lets one record
//! be shown to be in the log (an inclusion proof) without the rest.
//!
//! Format: a C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint) in a C2SP
//! signed note (c2sp.org/signed-note), so existing tooling can read it:
//!
//! ```text
//! facestation/log/3f2a9c1e0b7d4a55        origin: identifies the log
//! 10                                      tree size (records covered)
//! 6nHrqB...base64 root hash...=           RFC 6962 root at that size
//!                                         (blank line)
//! — facestation/9b1c0a7d3e5f2a41 AbCd...  signature line
//! ```
//!
//! The origin is `facestation/log/` + the first 16 hex digits of the first
//! line's leaf hash (stable for a log's life, rotations and purges
//! included). The signature line is an em dash, the key name
//! `facestation/<key id>`, and base64 of the 4-byte C2SP key hash
//! (SHA-256(name || 0x0A || 0x01 || public key)[..4]) followed by the
//! Ed25519 signature of the text above the blank line.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fsutil::{open_read, replace_atomically, sidecar};
use super::keys::{key_id_of, StationKey};
use super::log::{is_tombstone, line_hashes, walk_log};
use super::merkle::{inclusion_proof, verify_inclusion, CompactTree, Hash};
use super::sign::verify_record;
use super::trust::TrustedKeys;
use super::{io_err, RecordError};

/// Checkpoints are a few hundred bytes; anything far larger is not one.
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

/// Value of an inclusion proof's `format`.
pub const PROOF_FORMAT: &str = "facestation-inclusion-proof/1";

/// `<log>.checkpoint`, where `record checkpoint` writes by default.
pub fn default_checkpoint_path(log: &Path) -> PathBuf {
    sidecar(log, ".checkpoint")
}

/// The origin line of a log whose first line has leaf hash `first_leaf`.
pub fn log_origin(first_leaf: Option<&Hash>) -> String {
    match first_leaf {
        Some(l) => format!("facestation/log/{}", hex::encode(&l[..8])),
        None => "facestation/log/empty".into(),
    }
}

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name: `facestation/<key id>` for the station's keys.
    pub name: String,
    /// C2SP key hash (first 4 bytes of SHA-256(name || "\n" || 0x01 || key)).
    pub key_hash: [u8; 4],
    pub signature: [u8; 64],
}

/// A parsed checkpoint (signatures not yet checked: see
/// [`Checkpoint::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    /// Number of log lines covered.
    pub size: u64,
    /// RFC 6962 root of those lines.
    pub root: Hash,
    /// Extension lines after the root (none written by the station).
    pub extensions: Vec<String>,
    pub signatures: Vec<NoteSignature>,
}

fn note_key_name(key_id: &str) -> String {
    format!("facestation/{key_id}")
}

fn note_key_hash(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n\x01");
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn bad(reason: impl Into<String>) -> RecordError {
    RecordError::BadCheckpoint(reason.into())
}

impl Checkpoint {
    /// The signed text: origin, size, root and extension lines.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// A checkpoint of (`origin`, `size`, `root`) signed by `key`.
    pub fn sign(origin: String, size: u64, root: Hash, key: &StationKey) -> Self {
        let mut cp = Self {
            origin,
            size,
            root,
            extensions: Vec::new(),
            signatures: Vec::new(),
        };
        let name = note_key_name(&key.key_id());
        let signature = key.sign(cp.body().as_bytes());
        cp.signatures.push(NoteSignature {
            key_hash: note_key_hash(&name, &key.public_key_bytes()),
            name,
            signature,
        });
        cp
    }

    /// The note as written to a file.
    pub fn to_text(&self) -> String {
        let mut s = self.body();
        s.push('\n');
        for sig in &self.signatures {
            let mut blob = sig.key_hash.to_vec();
            blob.extend_from_slice(&sig.signature);
            s.push_str(&format!("\u{2014} {} {}\n", sig.name, B64.encode(blob)));
        }
        s
    }

    /// Parses a checkpoint note.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let (body, sigs) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line between the checkpoint and its signatures"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("no origin line"))?
            .to_owned();
        let size_line = lines.next().ok_or_else(|| bad("no tree size line"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(bad(format!(
                "tree size {size_line:?} is not a decimal number"
            )));
        }
        let size: u64 = size_line
            .parse()
            .map_err(|_| bad(format!("tree size {size_line:?} is too large")))?;
        let root_line = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(format!("root hash {root_line:?} is not 32 bytes of base64")))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        let mut signatures = Vec::new();
        for line in sigs.split_terminator('\n') {
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(|| {
                bad(format!(
                    "signature line {line:?} does not start with \"— \""
                ))
            })?;
            let (name, blob) = rest
                .split_once(' ')
                .ok_or_else(|| bad(format!("signature line {line:?} has no signature")))?;
            let blob = B64
                .decode(blob)
                .map_err(|_| bad(format!("signature of {name} is not base64")))?;
            if blob.len() != 4 + 64 {
                // Another kind of signature (a witness's, say): keep going.
                continue;
            }
            let mut key_hash = [0u8; 4];
            key_hash.copy_from_slice(&blob[..4]);
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&blob[4..]);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_hash,
                signature,
            });
        }
        if signatures.is_empty() {
            return Err(bad("no Ed25519 signature line"));
        }
        Ok(Self {
            origin,
            size,
            root,
            extensions,
            signatures,
        })
    }

    /// Reads and parses the checkpoint file at `path`.
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        let file = open_read(path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_CHECKPOINT_BYTES),
            &mut text,
        )
        .map_err(io_err(path))?;
        Self::parse(&text).map_err(|e| match e {
            RecordError::BadCheckpoint(r) => bad(format!("{}: {r}", path.display())),
            other => other,
        })
    }

    /// The id of the trusted key whose signature on this checkpoint is valid.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<String, RecordError> {
        let body = self.body();
        for key in trusted.iter() {
            let id = key_id_of(key);
            let name = note_key_name(&id);
            let Ok(vk) = VerifyingKey::from_bytes(key) else {
                continue;
            };
            for sig in &self.signatures {
                if sig.name == name
                    && sig.key_hash == note_key_hash(&name, key)
                    && vk
                        .verify_strict(body.as_bytes(), &Signature::from_bytes(&sig.signature))
                        .is_ok()
                {
                    return Ok(id);
                }
            }
        }
        Err(RecordError::CheckpointUntrusted {
            found: self
                .signatures
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            trusted: trusted.describe(),
        })
    }

    /// Checks a log of `records` lines whose root at `self.size` is
    /// `root_at_size` (None if the log is shorter) and whose origin is
    /// `origin`.
    pub(crate) fn check_log(
        &self,
        records: u64,
        root_at_size: Option<Hash>,
        origin: &str,
    ) -> Result<(), RecordError> {
        let Some(root) = root_at_size.filter(|_| records >= self.size) else {
            let missing = if records + 1 == self.size {
                format!("record {} missing", self.size)
            } else {
                format!("records {}-{} missing", records + 1, self.size)
            };
            return Err(RecordError::CheckpointMismatch(format!(
                "log has {records} records, checkpoint covers {}: {missing}",
                self.size
            )));
        };
        if root != self.root {
            let hint = if self.size > 0 && self.origin != origin {
                format!(
                    "; the checkpoint's origin {} is not this log's ({origin}): another log's \
                     checkpoint, or the first record was changed",
                    self.origin
                )
            } else {
                String::new()
            };
            return Err(RecordError::CheckpointMismatch(format!(
                "root at size {} differs: records were changed (checkpoint {}, log {}){hint}",
                self.size,
                B64.encode(self.root),
                B64.encode(root)
            )));
        }
        Ok(())
    }
}

/// Leaves of a log, its origin, and the lines asked for.
struct Leaves {
    leaves: Vec<Hash>,
    origin: String,
    kept: Option<Vec<u8>>,
}

/// Reads `log` (checking the chain, and signatures if `signatures`) into
/// its leaf hashes, keeping line `keep` (1-based) if asked.
fn read_leaves(log: &Path, signatures: bool, keep: Option<usize>) -> Result<Leaves, RecordError> {
    let mut leaves = Vec::new();
    let mut kept = None;
    walk_log(log, signatures, |line| {
        leaves.push(line.leaf);
        if Some(line.n) == keep {
            kept = Some(line.bytes.to_vec());
        }
        Ok(())
    })?;
    Ok(Leaves {
        origin: log_origin(leaves.first()),
        leaves,
        kept,
    })
}

/// Writes a checkpoint of the whole log at `log_path`, signed by `key`, to
/// `out` (atomically; e.g. [`default_checkpoint_path`]) and returns it.
///
/// For the station to call every N records and on close. Checks the hash
/// chain while reading (a checkpoint must not vouch for a broken log), not
/// the signatures: that is `verify`'s job and costs ~10x more. Reads the
/// log under the readers' lock, so the size is of a consistent state.
pub fn write_checkpoint(
    log_path: &Path,
    key: &StationKey,
    out: &Path,
) -> Result<Checkpoint, RecordError> {
    let mut tree = CompactTree::new();
    let mut first = None;
    walk_log(log_path, false, |line| {
        if first.is_none() {
            first = Some(line.leaf);
        }
        tree.push(line.leaf);
        Ok(())
    })?;
    let cp = Checkpoint::sign(log_origin(first.as_ref()), tree.size(), tree.root(), key);
    replace_atomically(out, cp.to_text().as_bytes())?;
    Ok(cp)
}

/// Proof that one record is in the log: RFC 6962 audit path from the
/// record's leaf to the root at `treeSize`. Hashes are base64, as in the
/// checkpoint; `record` is the exact log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InclusionProof {
    pub format: String,
    pub origin: String,
    pub seq: u64,
    /// 0-based (= seq - 1).
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub root_hash: String,
    pub audit_path: Vec<String>,
    pub record: String,
}

/// The record and its leaf (a tombstone's leaf is the original line's).
fn leaf_of_record(line: &[u8]) -> Result<(Value, Hash), RecordError> {
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| RecordError::BadProof(format!("the record is not JSON ({e})")))?;
    let (_, leaf) = line_hashes(line, &v).map_err(RecordError::BadProof)?;
    Ok((v, leaf))
}

impl InclusionProof {
    /// Proof for record `seq` of `log`, in the tree of `checkpoint`'s size
    /// (checked against its root) or else of the whole log. Verifies the
    /// log's chain and signatures on the way.
    pub fn build(
        log: &Path,
        seq: u64,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<Self, RecordError> {
        let keep = usize::try_from(seq).ok().filter(|&s| s > 0);
        let l = read_leaves(log, true, keep)?;
        let records = l.leaves.len() as u64;
        let size = match checkpoint {
            Some(cp) => {
                let root = usize::try_from(cp.size)
                    .ok()
                    .filter(|&s| s <= l.leaves.len())
                    .map(|s| super::merkle::root_of(&l.leaves[..s]));
                cp.check_log(records, root, &l.origin)?;
                cp.size
            }
            None => records,
        };
        let (Some(line), true) = (l.kept, seq <= size) else {
            return Err(RecordError::BadProof(format!(
                "record {seq} is not in the tree of size {size}{}",
                if checkpoint.is_some() && seq <= records {
                    ": it is newer than the checkpoint; write a new checkpoint first"
                } else {
                    ""
                }
            )));
        };
        let leaves = &l.leaves[..size as usize];
        let index = (seq - 1) as usize;
        let path = inclusion_proof(leaves, index)
            .ok_or_else(|| RecordError::BadProof(format!("record {seq} is out of range")))?;
        let record = String::from_utf8(line)
            .map_err(|_| RecordError::BadProof(format!("record {seq} is not UTF-8")))?;
        Ok(Self {
            format: PROOF_FORMAT.into(),
            origin: l.origin,
            seq,
            leaf_index: seq - 1,
            tree_size: size,
            leaf_hash: B64.encode(leaves[index]),
            root_hash: B64.encode(super::merkle::root_of(leaves)),
            audit_path: path.iter().map(|h| B64.encode(h)).collect(),
            record,
        })
    }

    /// Checks the proof against `checkpoint`, whose signature must be by a
    /// key in `trusted`, without the log. Returns what was proven.
    pub fn check(
        &self,
        checkpoint: &Checkpoint,
        trusted: &TrustedKeys,
    ) -> Result<ProofCheck, RecordError> {
        let bad = |r: String| RecordError::BadProof(r);
        let checkpoint_key_id = checkpoint.verify(trusted)?;
        if self.format != PROOF_FORMAT {
            return Err(bad(format!("unknown proof format {:?}", self.format)));
        }
        if self.tree_size != checkpoint.size {
            return Err(bad(format!(
                "the proof is for tree size {}, the checkpoint covers {}: make the proof \
                 against this checkpoint (`record prove --checkpoint`)",
                self.tree_size, checkpoint.size
            )));
        }
        if self.origin != checkpoint.origin {
            return Err(bad(format!(
                "the proof is for log {}, the checkpoint for {}",
                self.origin, checkpoint.origin
            )));
        }
        let (record, leaf) = leaf_of_record(self.record.as_bytes())?;
        if B64.encode(leaf) != self.leaf_hash {
            return Err(bad(
                "the record does not match the proof's leaf hash: the record was changed".into(),
            ));
        }
        if record.get("seq").and_then(Value::as_u64) != Some(self.seq)
            || self.leaf_index.checked_add(1) != Some(self.seq)
        {
            return Err(bad(format!(
                "the record's seq, the proof's seq {} and leaf index {} disagree",
                self.seq, self.leaf_index
            )));
        }
        verify_record(&record)
            .map_err(|e| bad(format!("the record's signature does not verify ({e})")))?;
        let path: Vec<Hash> = self
            .audit_path
            .iter()
            .map(|h| B64.decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("an audit path entry is not 32 bytes of base64".into()))?;
        if !verify_inclusion(
            &leaf,
            self.leaf_index,
            self.tree_size,
            &path,
            &checkpoint.root,
        ) {
            return Err(bad(
                "the audit path does not lead from this record to the checkpoint's root: the \
                 record or the proof was changed"
                    .into(),
            ));
        }
        Ok(ProofCheck {
            purged: is_tombstone(&record),
            seq: self.seq,
            tree_size: self.tree_size,
            record_id: record.get("id").and_then(Value::as_str).map(str::to_owned),
            record_key_id: record
                .pointer("/signature/keyId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            checkpoint_key_id,
        })
    }
}

/// What a successful [`InclusionProof::check`] proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofCheck {
    /// The record was purged: its place in the log is proven, its content
    /// is gone.
    pub purged: bool,
    pub seq: u64,
    pub tree_size: u64,
    pub record_id: Option<String>,
    /// Key id the record itself is signed with.
    pub record_key_id: String,
    /// Trusted key id that signed the checkpoint.
    pub checkpoint_key_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testutil::{compare_record, lines, write_lines, write_log};
    use crate::record::trust::verify_log_trusted;
    use crate::record::{sign_record, AuditLog};

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
        crate::record::testutil::forge_from(
            &path,
            5,
            &key,
            crate::record::testutil::flip_to_no_match,
        );
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
}
