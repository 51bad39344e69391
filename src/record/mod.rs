//! Signed, hash-chained verification records.
//!
//! A record is a JSON object shaped like Verifik's compare response. The
//! station signs it with its own Ed25519 key (over RFC 8785 canonical JSON,
//! so it can be re-verified anywhere) and appends it to a JSON Lines audit
//! log in which every line carries the SHA-256 of the line before it, so
//! that editing, removing or reordering past lines is detectable.

pub mod build;
pub mod canonical;
pub mod checkpoint;
pub mod export;
mod fsutil;
pub mod history;
pub mod keys;
pub mod log;
pub mod merkle;
pub mod purge;
pub mod recorder;
pub mod rotation;
pub mod sign;
#[cfg(test)]
mod testutil;
mod timeutil;
pub mod trust;

use std::path::{Path, PathBuf};

pub use build::{
    build_config_record, build_liveness_record, build_record, ConfigChange, DecisionContext,
    FixedStamper, RecordOptions, Stamper, SystemStamper,
};
pub use canonical::canonical_json;
pub use keys::{default_key_path, StationKey};
pub use log::{default_log_path, read_recent, verify_log, AuditLog, LogReport};
pub use recorder::{resolve_paths, Recorder};
pub use sign::{sign_record, verify_record, verify_record_with_key};

pub use checkpoint::{default_checkpoint_path, write_checkpoint, Checkpoint, InclusionProof};
pub use export::{export_log, export_log_at, ExportFilter, ExportFormat, ExportStats};
pub use log::{AppendReport, Recovery, RecoveryKind};
pub use purge::{purge_log, PurgeOutcome};
pub use rotation::{rotate_key, RotationOutcome};
pub use trust::{verify_log_trusted, TrustReport, TrustedKeys};

/// Everything that can go wrong while keying, signing, verifying or logging.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("this platform has no {0} directory")]
    NoPlatformDir(&'static str),
    #[error("could not get randomness from the OS: {0}")]
    Rng(String),

    #[error("key file {path} is readable or writable by group/other (mode {mode:03o}); run `chmod 600` on it")]
    InsecureKeyPermissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is malformed: {reason}")]
    MalformedKey { path: PathBuf, reason: String },
    #[error("could not encode the station key: {0}")]
    KeyEncoding(String),

    #[error("number {0} cannot be canonicalized")]
    UnsupportedNumber(String),
    #[error("JSON serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record is not a JSON object")]
    NotAnObject,
    #[error("record field `signature` is not a JSON object")]
    SignatureNotObject,
    #[error("record has no `signature.{0}` string")]
    MissingSignatureField(&'static str),
    #[error("unsupported signature algorithm {0:?} (expected \"Ed25519\")")]
    UnsupportedAlgorithm(String),
    #[error("unsupported canonicalization {0:?} (expected \"RFC8785\")")]
    UnsupportedCanonicalization(String),
    #[error("`signature.{field}` is not valid base64: {source}")]
    BadBase64 {
        field: &'static str,
        #[source]
        source: base64::DecodeError,
    },
    #[error("bad public key: {0}")]
    BadKey(String),
    #[error("bad signature value: {0}")]
    BadSignatureEncoding(String),
    #[error("`signature.keyId` {found} does not match the embedded public key ({expected})")]
    KeyIdMismatch { found: String, expected: String },
    #[error("signature does not match the record contents")]
    SignatureMismatch,
    #[error("record is signed by key {found}, not the trusted key {expected}")]
    UntrustedKey { found: String, expected: String },

    #[error("audit log line {line}: {reason}")]
    BadLine { line: usize, reason: String },
    #[error("audit log {path} cannot be appended to: {reason}")]
    CorruptLog { path: PathBuf, reason: String },

    #[error(
        "{path} is {kind}, not a regular file; FaceStation only reads and writes regular files"
    )]
    NotRegularFile { path: PathBuf, kind: &'static str },
    #[error("no station key at {path}")]
    KeyNotFound { path: PathBuf },
    #[error("key file {path} holds a {name} key (algorithm OID {oid}); the station needs an Ed25519 key (OID 1.3.101.112)")]
    UnsupportedKeyAlgorithm {
        path: PathBuf,
        oid: String,
        name: &'static str,
    },
    #[error("audit log line {line}: signed by key {key_id}, which is not trusted (trusted: {trusted}); a key change is accepted only through a key_rotation record signed by a trusted key")]
    UntrustedKeyAt {
        line: usize,
        key_id: String,
        trusted: String,
    },
    #[error("no trusted key: {0}")]
    NoTrustedKey(String),
    #[error("checkpoint is malformed: {0}")]
    BadCheckpoint(String),
    #[error("checkpoint is not signed by a trusted key (signed by: {found}; trusted: {trusted})")]
    CheckpointUntrusted { found: String, trusted: String },
    #[error("the log does not match the checkpoint: {0}")]
    CheckpointMismatch(String),
    #[error("inclusion proof does not hold: {0}")]
    BadProof(String),
}

/// Wraps an `io::Error` with the path it concerns, for actionable messages.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` and missing parents; new directories are private (0700 on
/// unix) because they hold the station key and the audit log.
pub(crate) fn create_private_dir_all(dir: &Path) -> Result<(), RecordError> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_err(dir))
}

/// Makes a newly created directory entry durable (unix only; elsewhere the
/// OS offers no portable way and this is a no-op).
pub(crate) fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        if let Some(parent) = path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(d) = std::fs::File::open(parent) {
                // Best effort: the data itself is already fsynced.
                let _ = d.sync_all();
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
    }
}
