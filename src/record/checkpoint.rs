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
use sha2::{Digest, Sha256};

use super::fsutil::{open_read, replace_atomically, sidecar};
use super::keys::{key_id_of, StationKey};
use super::log::walk_log;
use super::merkle::{CompactTree, Hash};
use super::trust::TrustedKeys;
use super::{io_err, RecordError};

mod proof;
#[cfg(test)]
mod tests;

pub use proof::{InclusionProof, ProofCheck, PROOF_FORMAT};

/// Checkpoints are a few hundred bytes; anything far larger is not one.
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

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
