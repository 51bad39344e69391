//! `facestation serve`: runs the Verifik-compatible HTTP API on the local engine until SIGINT/SIGTERM.
//!
//! Authentication: with `--token-file` every request needs `Authorization: Bearer <token>`.
//! Without it the server runs open, which is allowed on a loopback address only (a warning is
//! printed); any other address refuses to start without a token.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{recorder, CliError};
use crate::api::BearerToken;
use crate::engine::PipelineConfig;
use crate::paths::StationPaths;
use crate::runtime::VerifiedModels;
use crate::server::{self, ServeConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = server::DEFAULT_BIND)]
    pub bind: String,
    /// File holding the bearer token clients must send (first line; keep it chmod 600).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Engine worker threads (each loads its own copy of the models). Default: one per core.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker; beyond that the server answers 503 at once.
    #[arg(long, default_value_t = 32)]
    pub queue: usize,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 25)]
    pub body_limit_mb: usize,
}

fn read_token(path: &Path) -> Result<BearerToken, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::io(format!(
        "reading the token file {}",
        path.display()
    )))?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "facestation serve: warning: {} is readable by other users; run `chmod 600` on it",
                path.display()
            );
        }
    }
    let first = text.lines().next().unwrap_or("");
    BearerToken::new(first)
        .map_err(|e| CliError::Usage(format!("token file {}: {e}", path.display())))
}

fn is_loopback(bind: &str) -> Result<bool, CliError> {
    let addrs: Vec<_> = bind
        .to_socket_addrs()
        .map_err(|e| CliError::Usage(format!("--bind {bind}: {e}")))?
        .collect();
    Ok(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
}

pub fn run(paths: &StationPaths, args: ServeArgs) -> Result<ExitCode, CliError> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    if token.is_none() {
        if !is_loopback(&args.bind)? {
            return Err(CliError::Usage(format!(
                "refusing to serve on {} without authentication: give --token-file (or bind to 127.0.0.1)",
                args.bind
            )));
        }
        eprintln!(
            "facestation serve: warning: no --token-file, so authentication is OFF (loopback only)"
        );
    }
    let recorder = Arc::new(recorder(paths)?.with_checkpoint_on_close(true));
    let models = VerifiedModels::locate(paths.models.as_deref())?;
    let mut config = ServeConfig::local(models, PipelineConfig::default(), recorder.clone());
    config.bind = args.bind;
    config.token = token;
    config.workers = args.workers.unwrap_or_else(server::default_workers).max(1);
    config.queue = args.queue;
    config.body_limit = args.body_limit_mb.saturating_mul(1024 * 1024);
    config.handle_signals = true;
    let (workers, auth) = (config.workers, config.token.is_some());
    let running = server::start(config).map_err(CliError::Serve)?;
    eprintln!(
        "facestation serve: listening on {} ({workers} workers, auth {}); audit log {}",
        running.base_url(),
        if auth { "on" } else { "OFF" },
        recorder.log_path().display()
    );
    running.wait().map_err(CliError::Serve)?;
    eprintln!("facestation serve: stopped");
    Ok(ExitCode::SUCCESS)
}
