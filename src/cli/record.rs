//! `facestation record ...`: verifying, checkpointing, proving, exporting and purging audit logs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::CliError;
use crate::record::{default_key_path, verify_log_trusted, RecordError, TrustedKeys};

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Checks every signature, the hash chain and that every record is signed by a trusted key
    /// (the station's own key, its retired keys and --trust keys; key changes only through
    /// `key rotate` records); names the first bad line.
    Verify {
        log: PathBuf,
        /// Also trust this public key: the base64 key printed by `facestation key show`, or a
        /// file holding it (or a PEM public key). Repeatable.
        #[arg(long = "trust", value_name = "PUBKEY_OR_FILE")]
        trust: Vec<String>,
    },
}

/// Runs one `record` command. `key` is the global `--key` (the station key; default location
/// when absent).
pub fn run(key: Option<&Path>, command: RecordCommand) -> Result<ExitCode, CliError> {
    match command {
        RecordCommand::Verify { log, trust } => verify(key, &log, &trust),
    }
}

fn key_path(key: Option<&Path>) -> Result<PathBuf, CliError> {
    Ok(match key {
        Some(k) => k.to_path_buf(),
        None => default_key_path()?,
    })
}

/// The keys a log is checked against: every `--trust` key, plus the station's own key and its
/// retired keys if the station has a key. Never creates a key.
pub(crate) fn trusted_keys(key: Option<&Path>, trust: &[String]) -> Result<TrustedKeys, CliError> {
    let mut keys = TrustedKeys::new();
    for t in trust {
        keys.add_arg(t)
            .map_err(|e| CliError::Usage(format!("--trust {t}: {e}")))?;
    }
    let path = key_path(key)?;
    match keys.add_station(&path) {
        Ok(()) => {}
        Err(RecordError::KeyNotFound { .. }) if !keys.is_empty() => {}
        Err(RecordError::KeyNotFound { path }) => {
            return Err(CliError::Usage(format!(
                "no station key at {} and no --trust given: nothing to verify the log against \
                 (pass --key for the station's key, or --trust with the public key printed by \
                 `facestation key show` on the station)",
                path.display()
            )))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(keys)
}

pub fn verify(key: Option<&Path>, log: &Path, trust: &[String]) -> Result<ExitCode, CliError> {
    let trusted = trusted_keys(key, trust)?;
    let report = verify_log_trusted(log, &trusted)?;
    println!(
        "{}: {} records, every signature valid and by a trusted key, chain intact (keys: {}; last line sha256 {})",
        log.display(),
        report.log.records,
        report.log.key_ids.join(", "),
        report.log.last_sha256
    );
    Ok(ExitCode::SUCCESS)
}
