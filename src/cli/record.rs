//! `facestation record ...`: verifying, checkpointing, proving, exporting and purging audit logs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::Subcommand;

use super::CliError;
use crate::record::{
    default_checkpoint_path, default_key_path, export_log, purge_log, verify_log_trusted,
    write_checkpoint, AuditLog, Checkpoint, ExportFilter, ExportFormat, InclusionProof,
    RecordError, StationKey, TrustedKeys,
};

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
        /// Also check against a signed checkpoint: fails if the log is shorter than it or its
        /// Merkle root at the checkpoint's size differs.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Writes a checkpoint (RFC 6962 Merkle root of the log, signed by the station key, C2SP
    /// tlog-checkpoint text) to keep elsewhere: it makes truncation and rewriting detectable.
    Checkpoint {
        log: PathBuf,
        /// Where to write it (default: <LOG>.checkpoint).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Prints an inclusion proof (JSON) of one record: checkable with `check-proof` and the
    /// checkpoint, without the log.
    Prove {
        log: PathBuf,
        /// The record's seq (its line number).
        #[arg(long)]
        seq: u64,
        /// Prove against this checkpoint's tree (default: the whole log as it is now).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Checks an inclusion proof against a signed checkpoint, without the log.
    CheckProof {
        /// The proof printed by `record prove` ("-" for standard input).
        proof: PathBuf,
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// Trust this public key for the checkpoint's signature (as for `verify`). Repeatable.
        #[arg(long = "trust", value_name = "PUBKEY_OR_FILE")]
        trust: Vec<String>,
    },
    /// Exports the records as a table: seq, time, type, verdict, reasons, score, threshold,
    /// search_mode, engine, operator, gallery_count, key_id, record_id. Reads, does not verify.
    Export {
        log: PathBuf,
        /// First day included, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE", value_parser = ExportFilter::date)]
        since: Option<time::Date>,
        /// Last day included, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE", value_parser = ExportFilter::date)]
        until: Option<time::Date>,
        /// Only records with this verdict (verified, not_verified, or the station's own).
        #[arg(long, value_name = "V")]
        verdict: Option<String>,
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Retention: replaces records decided more than DAYS days ago by signed tombstones (no
    /// scores, no image digests) that keep the hash chain, the Merkle tree and older checkpoints
    /// verifiable, and appends a signed purge record listing them. Signed with the station key.
    Purge {
        log: PathBuf,
        #[arg(long, value_name = "DAYS")]
        older_than: u64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Runs one `record` command. `key` is the global `--key` (the station key; default location
/// when absent).
pub fn run(key: Option<&Path>, command: RecordCommand) -> Result<ExitCode, CliError> {
    match command {
        RecordCommand::Verify {
            log,
            trust,
            checkpoint,
        } => verify(key, &log, &trust, checkpoint.as_deref()),
        RecordCommand::Checkpoint { log, out } => checkpoint(key, &log, out),
        RecordCommand::Prove {
            log,
            seq,
            checkpoint,
        } => prove(&log, seq, checkpoint.as_deref()),
        RecordCommand::CheckProof {
            proof,
            checkpoint,
            trust,
        } => check_proof(key, &proof, &checkpoint, &trust),
        RecordCommand::Export {
            log,
            since,
            until,
            verdict,
            format,
            out,
        } => export(
            &log,
            &ExportFilter {
                since,
                until,
                verdict,
            },
            format,
            out.as_deref(),
        ),
        RecordCommand::Purge { log, older_than } => purge(key, &log, older_than),
    }
}

pub(crate) fn key_path(key: Option<&Path>) -> Result<PathBuf, CliError> {
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

/// The station's key for signing; never created here (a checkpoint or tombstone by a key nobody
/// knows would be worthless).
pub(crate) fn station_key(key: Option<&Path>) -> Result<StationKey, CliError> {
    let path = key_path(key)?;
    StationKey::load(&path).map_err(|e| match e {
        RecordError::KeyNotFound { path } => CliError::Usage(format!(
            "no station key at {}: pass --key, or run `facestation key init` to create one",
            path.display()
        )),
        other => other.into(),
    })
}

pub fn verify(
    key: Option<&Path>,
    log: &Path,
    trust: &[String],
    checkpoint: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let trusted = trusted_keys(key, trust)?;
    let cp = checkpoint.map(Checkpoint::read).transpose()?;
    let report = verify_log_trusted(log, &trusted, cp.as_ref())?;
    println!(
        "{}: {} records, every signature valid and by a trusted key, chain intact (keys: {}; last line sha256 {})",
        log.display(),
        report.log.records,
        report.log.key_ids.join(", "),
        report.log.last_sha256
    );
    for r in &report.rotations {
        println!(
            "key rotation at line {}: {} -> {}",
            r.line, r.from_key_id, r.to_key_id
        );
    }
    if report.tombstones > 0 {
        println!(
            "{} purged records (tombstones), each listed by a purge record",
            report.tombstones
        );
    }
    println!(
        "merkle root at size {}: {}",
        report.log.records,
        base64::engine::general_purpose::STANDARD.encode(report.root)
    );
    if let (Some(path), Some((size, key_id))) = (checkpoint, &report.checkpoint) {
        println!(
            "checkpoint {}: covers {size} records, root matches, signed by trusted key {key_id}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn checkpoint(key: Option<&Path>, log: &Path, out: Option<PathBuf>) -> Result<ExitCode, CliError> {
    let key = station_key(key)?;
    let out = out.unwrap_or_else(|| default_checkpoint_path(log));
    let cp = write_checkpoint(log, &key, &out)?;
    println!(
        "{}: checkpoint of {} records (root {}), signed by key {}",
        out.display(),
        cp.size,
        base64::engine::general_purpose::STANDARD.encode(cp.root),
        key.key_id()
    );
    Ok(ExitCode::SUCCESS)
}

fn prove(log: &Path, seq: u64, checkpoint: Option<&Path>) -> Result<ExitCode, CliError> {
    let cp = checkpoint.map(Checkpoint::read).transpose()?;
    let proof = InclusionProof::build(log, seq, cp.as_ref())?;
    let text = serde_json::to_string_pretty(&proof).map_err(RecordError::from)?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn check_proof(
    key: Option<&Path>,
    proof: &Path,
    checkpoint: &Path,
    trust: &[String],
) -> Result<ExitCode, CliError> {
    let trusted = trusted_keys(key, trust)?;
    let bytes = super::read_input(proof)?;
    let proof: InclusionProof = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Usage(format!(
            "{} is not an inclusion proof: {e}",
            proof.display()
        ))
    })?;
    let cp = Checkpoint::read(checkpoint)?;
    let ok = proof.check(&cp, &trusted)?;
    println!(
        "record {}{} ({}signed by key {}) is in the log: leaf {} of {}, under the checkpoint {} signed by trusted key {}",
        ok.seq,
        if ok.purged { " (purged: its content was removed)" } else { "" },
        ok.record_id.map(|id| format!("id {id}, ")).unwrap_or_default(),
        ok.record_key_id,
        ok.seq - 1,
        ok.tree_size,
        checkpoint.display(),
        ok.checkpoint_key_id
    );
    Ok(ExitCode::SUCCESS)
}

fn export(
    log: &Path,
    filter: &ExportFilter,
    format: Format,
    out: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let format = match format {
        Format::Csv => ExportFormat::Csv,
        Format::Jsonl => ExportFormat::Jsonl,
    };
    let stats = match out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(CliError::io(format!("creating {}", path.display())))?;
            export_log(log, filter, format, file)?
        }
        None => export_log(log, filter, format, std::io::stdout().lock())?,
    };
    if stats.no_time > 0 {
        eprintln!(
            "note: {} records without a readable time were left out by the date filter",
            stats.no_time
        );
    }
    if let Some(path) = out {
        eprintln!(
            "{}: {} of {} records exported",
            path.display(),
            stats.written,
            stats.read
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn purge(key: Option<&Path>, log: &Path, older_than: u64) -> Result<ExitCode, CliError> {
    let key = station_key(key)?;
    if !log.exists() {
        return Err(CliError::Usage(format!(
            "no audit log at {}",
            log.display()
        )));
    }
    let handle = AuditLog::open(log)?;
    let out = purge_log(&handle, &key, older_than)?;
    if out.purged == 0 {
        println!(
            "{}: nothing to purge (no record decided before {})",
            log.display(),
            out.cutoff
        );
    } else {
        let ranges: Vec<String> = out
            .ranges
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        println!(
            "{}: purged {} records decided before {} (seq {}); purge record {}",
            log.display(),
            out.purged,
            out.cutoff,
            ranges.join(", "),
            out.purge_seq.unwrap_or_default()
        );
    }
    if out.kept > 0 {
        println!(
            "kept {} old records: key rotations, purges, or records without a readable time",
            out.kept
        );
    }
    Ok(ExitCode::SUCCESS)
}
