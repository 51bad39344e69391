//! `facestation key ...`: the station's signing key (show it to verifiers, create it, rotate it).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey;
use serde_json::json;

use super::record::{key_path, station_key};
use super::CliError;
use crate::record::{default_log_path, rotate_key, AuditLog, RecordError, StationKey};

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Prints the station's public key (base64) and key id: give them to whoever verifies its
    /// logs (`record verify --trust`). Never creates a key.
    Show {
        /// As a JSON object (publicKey, keyId, algorithm, path).
        #[arg(long, conflicts_with = "pem")]
        json: bool,
        /// As a PEM public key.
        #[arg(long)]
        pem: bool,
    },
    /// Creates the station key if there is none (as the first run would), then prints it like
    /// `show`.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// Replaces the station key with a new one: appends to the audit log (--log) a key_rotation
    /// record signed by the old key and the new one, keeps the old key as
    /// <KEY>.<keyid>.retired, then installs the new key. Logs keep verifying against the
    /// original key. Stop the station (window, serve) first: a running station keeps signing
    /// with the key it loaded, and its later records would fail verification.
    Rotate {
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `key` command with the global `--key` and `--log`.
pub fn run(
    key: Option<&Path>,
    log: Option<&Path>,
    command: KeyCommand,
) -> Result<ExitCode, CliError> {
    match command {
        KeyCommand::Show { json, pem } => {
            let path = key_path(key)?;
            let k = station_key(key)?;
            if pem {
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&k.public_key_bytes())
                    .map_err(|e| RecordError::BadKey(e.to_string()))?;
                let pem = vk
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|e| RecordError::KeyEncoding(e.to_string()))?;
                print!("{pem}");
            } else {
                print_key(&k, &path, json);
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Init { json } => {
            let path = key_path(key)?;
            let existed = path.exists();
            let k = StationKey::load_or_create(&path)?;
            if !existed && !json {
                eprintln!("created the station key {}", path.display());
            }
            print_key(&k, &path, json);
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Rotate { json } => rotate(key, log, json),
    }
}

fn print_key(k: &StationKey, path: &Path, as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({
                "publicKey": k.public_key_b64(),
                "keyId": k.key_id(),
                "algorithm": "Ed25519",
                "path": path.display().to_string(),
            })
        );
    } else {
        println!("public key: {}", k.public_key_b64());
        println!("key id:     {}", k.key_id());
        println!("key file:   {}", path.display());
    }
}

fn rotate(key: Option<&Path>, log: Option<&Path>, as_json: bool) -> Result<ExitCode, CliError> {
    let path = key_path(key)?;
    // Fail before touching the log if there is nothing to rotate.
    station_key(key)?;
    let log_path: PathBuf = match log {
        Some(l) => l.to_path_buf(),
        None => default_log_path()?,
    };
    let log = AuditLog::open(&log_path)?;
    let out = rotate_key(&path, &log)?;
    if as_json {
        println!(
            "{}",
            json!({
                "previousKeyId": out.old_key_id,
                "newKeyId": out.new_key_id,
                "newPublicKey": out.new_public_key,
                "seq": out.seq,
                "log": log_path.display().to_string(),
                "retired": out.retired.display().to_string(),
                "resumed": out.resumed,
            })
        );
    } else {
        if out.resumed {
            println!("completed an interrupted rotation");
        }
        println!(
            "rotated the station key {} -> {} (key_rotation record {} in {})",
            out.old_key_id,
            out.new_key_id,
            out.seq,
            log_path.display()
        );
        println!("old key kept as {}", out.retired.display());
        println!("new public key: {}", out.new_public_key);
        println!(
            "logs still verify against the old key through the rotation record; give the new \
             public key to verifiers of logs that start after it"
        );
    }
    Ok(ExitCode::SUCCESS)
}
