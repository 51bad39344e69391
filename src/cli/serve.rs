//! `facestation serve`: runs the Verifik-compatible HTTP API on the local engine until SIGINT/SIGTERM.
//!
//! Authentication: with `--token-file` every request needs `Authorization: Bearer <token>`.
//! Without it the server runs open, which is allowed on a loopback address only (a warning is
//! printed); any other address refuses to start without a token.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

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
    /// Request bodies held at once across all requests, in MiB (default: four body limits);
    /// beyond it a request is answered 503 before its body is read.
    #[arg(long)]
    pub body_budget_mb: Option<usize>,
    /// Open connections at most (default: what the open-file limit allows, less a reserve).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send its request headers (also bounds an idle connection).
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout_s: f64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 5.0)]
    pub keep_alive_s: f64,
    /// Seconds a client has to send a whole request body.
    #[arg(long, default_value_t = 30.0)]
    pub body_timeout_s: f64,
    /// Longest pause, in seconds, between two pieces of a request body.
    #[arg(long, default_value_t = 10.0)]
    pub body_idle_s: f64,
    /// Seconds a shutdown waits for the decisions in flight.
    #[arg(long, default_value_t = 30.0)]
    pub grace_s: f64,
}

fn seconds(flag: &str, s: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CliError::Usage(format!("--{flag} must be a positive number of seconds")))
}

/// Logs to stderr; `RUST_LOG` (e.g. `debug`, `facestation=debug`) chooses what, `info` by default.
/// Nothing logged carries a header, so the token never reaches the log.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
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
            tracing::warn!(
                "{} is readable by other users; run `chmod 600` on it",
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
    init_tracing();
    if let Some((before, after)) = server::raise_fd_limit() {
        if after > before {
            tracing::info!("open-file limit raised from {before} to {after}");
        }
    }
    let timeouts = server::Timeouts {
        header_read: seconds("header-timeout-s", args.header_timeout_s)?,
        keep_alive: seconds("keep-alive-s", args.keep_alive_s)?,
        body_read: seconds("body-timeout-s", args.body_timeout_s)?,
        body_idle: seconds("body-idle-s", args.body_idle_s)?,
        ..server::Timeouts::default()
    };
    let grace = seconds("grace-s", args.grace_s)?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    if token.is_none() {
        if !is_loopback(&args.bind)? {
            return Err(CliError::Usage(format!(
                "refusing to serve on {} without authentication: give --token-file (or bind to 127.0.0.1)",
                args.bind
            )));
        }
        tracing::warn!("no --token-file, so authentication is OFF (loopback only)");
    }
    let recorder = Arc::new(recorder(paths)?.with_checkpoint_on_close(true));
    let models = VerifiedModels::locate(paths.models.as_deref())?;
    let workers = args.workers.unwrap_or_else(server::default_workers).max(1);
    // Concurrent requests already keep the cores busy: each worker's engine gets its share.
    let pipeline = PipelineConfig {
        pipelines: (server::default_workers() / workers).max(1),
        ..PipelineConfig::default()
    };
    let mut config = ServeConfig::local(models, pipeline, recorder.clone());
    config.bind = args.bind;
    config.token = token;
    config.workers = workers;
    config.queue = args.queue;
    config.body_limit = args.body_limit_mb.saturating_mul(1024 * 1024);
    config.body_budget = args.body_budget_mb.map(|m| m.saturating_mul(1024 * 1024));
    config.max_connections = args.max_connections;
    config.timeouts = timeouts;
    config.grace = grace;
    config.handle_signals = true;
    tracing::info!("audit log {}", recorder.log_path().display());
    let running = server::start(config).map_err(CliError::Serve)?;
    running.wait().map_err(CliError::Serve)?;
    Ok(ExitCode::SUCCESS)
}
