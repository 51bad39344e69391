//! Inclusion proofs: the RFC 6962 audit path that shows one record is in
//! the tree a checkpoint signs, built from the log and checked without it.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{log_origin, Checkpoint};
use crate::record::log::{is_tombstone, line_hashes, walk_log};
use crate::record::merkle::{inclusion_proof, verify_inclusion, Hash};
use crate::record::sign::verify_record;
use crate::record::trust::TrustedKeys;
use crate::record::RecordError;

/// Value of an inclusion proof's `format`.
pub const PROOF_FORMAT: &str = "facestation-inclusion-proof/1";

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
                    .map(|s| crate::record::merkle::root_of(&l.leaves[..s]));
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
            root_hash: B64.encode(crate::record::merkle::root_of(leaves)),
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
