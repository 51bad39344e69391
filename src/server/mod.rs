//! `facestation serve`: a Verifik-compatible HTTP API on the local engine.
//!
//! `POST /v2/face-recognition/{compare, compare-live, liveness}` take Verifik's JSON and answer
//! with the station's signed record (the same artefact the CLI prints), after appending it to the
//! server's audit log; `GET /health` says what is loaded and how busy the workers are.
//!
//! Layers, outside in:
//! - [`conn`] accepts TCP connections and drives hyper's HTTP/1 state machine itself, with a timer:
//!   a cap on open connections (the oldest idle one makes room, else a new one is closed at once),
//!   header, keep-alive and body timeouts, a lingering close after a refusal (so that the client
//!   reads the answer instead of a reset), and a shutdown that waits only for decisions in
//!   progress.
//! - [`http`] is the axum router: authentication before any body is read, then admission (a
//!   worker-or-queue slot and a share of the in-flight body budget, or 503 at once), then the body
//!   with its limit and deadlines ([`extract::VerifikJson`]), then the engine pool.
//! - [`pool`] runs the engine on worker threads, each owning its verifier.
//!
//! [`start`] returns once the port is bound and every worker has loaded its models; the returned
//! [`RunningServer`] stops on [`RunningServer::shutdown`] or, when asked, on SIGINT/SIGTERM, and
//! finishes the decisions in flight before it returns. [`App`] is the same service without a
//! socket, for `Router::oneshot` tests.

mod conn;
mod extract;
mod http;
pub mod pool;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::api::BearerToken;
use crate::engine::{LocalVerifier, ModelRef, PipelineConfig, Verifier};
use crate::record::Recorder;
use crate::runtime::VerifiedModels;

pub use extract::{Admission, VerifikJson};
pub use pool::VerifierFactory;

/// Verifik's paths, served as they are.
pub const COMPARE_PATH: &str = "/v2/face-recognition/compare";
pub const COMPARE_LIVE_PATH: &str = "/v2/face-recognition/compare-live";
pub const LIVENESS_PATH: &str = "/v2/face-recognition/liveness";
/// Liveness of the server itself (no authentication, no secrets).
pub const HEALTH_PATH: &str = "/health";
/// Largest request body accepted (ten gallery images of a couple of MB each, base64-encoded).
pub const DEFAULT_BODY_LIMIT: usize = 25 * 1024 * 1024;
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// File descriptors kept free of connections (audit log, key, models, the runtime's own).
const FD_RESERVE: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("engine: {0}")]
    Engine(String),
    #[error("the HTTP runtime failed: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the server thread panicked")]
    Panicked,
}

/// How long the server waits for a client at each stage. A client that is slower is closed (or,
/// while it sends a body, answered 408 and closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From the moment a connection waits for a request until its headers are complete
    /// (slowloris: headers sent a byte at a time are cut off here).
    pub header_read: Duration,
    /// A connection with no request in progress and nothing sent is closed after this.
    pub keep_alive: Duration,
    /// The whole body of one request must arrive within this.
    pub body_read: Duration,
    /// The longest pause between two pieces of a body (a declared length that never arrives).
    pub body_idle: Duration,
    /// After a refusal that left the body unread: how long the server keeps reading and
    /// discarding it after its answer, so that the client reads the answer and not a reset.
    pub linger: Duration,
    /// At shutdown, how long a connection with no decision in progress (idle, or still sending
    /// headers or a body) may stay before it is closed.
    pub shutdown_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            body_read: Duration::from_secs(30),
            body_idle: Duration::from_secs(10),
            linger: Duration::from_secs(2),
            shutdown_idle: Duration::from_secs(1),
        }
    }
}

/// Everything `serve` needs.
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free one (tests).
    pub bind: String,
    /// `None`: no authentication (the CLI allows that on loopback addresses only).
    pub token: Option<BearerToken>,
    /// Engine worker threads, each with its own verifier.
    pub workers: usize,
    /// Requests that may wait for a worker; beyond that the server answers 503 at once.
    pub queue: usize,
    pub body_limit: usize,
    /// Bytes of request bodies the server holds at once, across all requests (`None`: four body
    /// limits). A request whose body does not fit is answered 503 before its body is read.
    pub body_budget: Option<usize>,
    /// Open connections at most (`None`: what the file-descriptor limit allows, less a reserve).
    pub max_connections: Option<usize>,
    pub timeouts: Timeouts,
    /// Signs every decision and appends it to the audit log before it is answered.
    pub recorder: Arc<Recorder>,
    pub factory: VerifierFactory,
    /// What `/health` lists as loaded (no paths).
    pub models: Vec<ModelRef>,
    /// Stop on SIGINT/SIGTERM (the CLI); tests stop the server with [`RunningServer::shutdown`].
    pub handle_signals: bool,
    /// How long a shutdown waits for decisions in flight before closing their connections.
    pub grace: Duration,
}

impl ServeConfig {
    /// A configuration with `factory` for the engines; adjust the public fields as needed.
    pub fn new(factory: VerifierFactory, recorder: Arc<Recorder>) -> Self {
        Self {
            bind: DEFAULT_BIND.into(),
            token: None,
            workers: default_workers(),
            queue: 32,
            body_limit: DEFAULT_BODY_LIMIT,
            body_budget: None,
            max_connections: None,
            timeouts: Timeouts::default(),
            recorder,
            factory,
            models: Vec::new(),
            handle_signals: false,
            grace: Duration::from_secs(30),
        }
    }

    /// A configuration with local engines from `models`.
    pub fn local(
        models: VerifiedModels,
        pipeline: PipelineConfig,
        recorder: Arc<Recorder>,
    ) -> Self {
        let listed = models
            .entries
            .iter()
            .map(|e| ModelRef {
                id: e.id.clone(),
                role: e.role.clone(),
                sha256: e.sha256.clone(),
            })
            .collect();
        let factory: VerifierFactory = Arc::new(move |_| {
            LocalVerifier::load(&models, pipeline.clone())
                .map(|v| Box::new(v) as Box<dyn Verifier>)
                .map_err(|e| e.to_string())
        });
        let mut config = Self::new(factory, recorder);
        config.models = listed;
        config
    }
}

/// One engine worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Raises the soft limit on open files to the hard limit (a server's connections are files).
/// Returns the limit before and after, or `None` where it cannot be read.
pub fn raise_fd_limit() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        let before = rlim(limit.rlim_cur);
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Some((before, rlim(limit.rlim_max)));
            }
        }
        Some((before, before))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `rlim_t` is `u64` on Linux, not everywhere.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)]
fn rlim(v: libc::rlim_t) -> u64 {
    v as u64
}

/// The current soft limit on open files.
fn fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct passed.
        (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
            .then_some(rlim(limit.rlim_cur))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Connections the file-descriptor limit leaves room for, after what is open now and a reserve.
pub fn default_max_connections() -> usize {
    let limit = fd_limit().unwrap_or(1024).min(1 << 20);
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(32);
    limit.saturating_sub(open + FD_RESERVE).max(16) as usize
}

/// The service without a socket: the router and the engine pool behind it. Dropping it stops the
/// pool. Tests drive [`App::router`] with `tower::ServiceExt::oneshot`.
pub struct App {
    router: axum::Router,
    table: Arc<conn::Table>,
    pool: Option<pool::Pool>,
    summary: Summary,
}

/// What the start-up line reports.
#[derive(Debug, Clone)]
struct Summary {
    workers: usize,
    queue: usize,
    auth: bool,
    body_limit: usize,
    body_budget: usize,
    max_connections: usize,
    engine: String,
}

impl App {
    /// Starts the engine workers (returns once each has its verifier) and builds the router.
    pub fn new(config: &ServeConfig) -> Result<Self, ServeError> {
        let workers = config.workers.max(1);
        let pool = pool::Pool::start(
            workers,
            config.queue,
            config.factory.clone(),
            config.recorder.clone(),
        )?;
        let max_connections = config
            .max_connections
            .unwrap_or_else(default_max_connections)
            .max(1);
        let table = Arc::new(conn::Table::new(max_connections));
        let body_budget = config
            .body_budget
            .unwrap_or(config.body_limit.saturating_mul(4))
            .max(config.body_limit);
        let state = http::AppState::new(http::Settings {
            token: config.token.clone(),
            body_limit: config.body_limit,
            body_budget,
            submitter: pool.submitter(),
            workers,
            queue: config.queue,
            timeouts: config.timeouts,
            engine: pool.engine().to_string(),
            models: config.models.clone(),
            connections: table.clone(),
        });
        let summary = Summary {
            workers,
            queue: config.queue,
            auth: config.token.is_some(),
            body_limit: config.body_limit,
            body_budget,
            max_connections,
            engine: pool.engine().to_string(),
        };
        Ok(Self {
            router: http::router(state),
            table,
            pool: Some(pool),
            summary,
        })
    }

    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    /// Lets the workers finish what is queued, then stops them.
    fn stop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.stop();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A server that is listening.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<Arc<tokio::sync::watch::Sender<bool>>>,
    thread: Option<JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URL for a [`crate::engine::RemoteVerifier`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes the decisions in flight, stops the workers.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            tx.send_replace(true);
        }
        self.join()
    }

    /// Waits until the server stops (after a signal, when it handles them).
    pub fn wait(mut self) -> Result<(), ServeError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), ServeError> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send_replace(true);
        }
        let _ = self.join();
    }
}

/// Loads the workers, binds, and serves on a background thread.
pub fn start(config: ServeConfig) -> Result<RunningServer, ServeError> {
    let bind_error = |source| ServeError::Bind {
        addr: config.bind.clone(),
        source,
    };
    let listener = TcpListener::bind(&config.bind).map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let mut app = App::new(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The HTTP side only parses and waits; the engine runs on the pool's threads.
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    // One sender for [`RunningServer::shutdown`], one for the signal handler.
    let shutdown_tx = Arc::new(shutdown_tx);
    let signal_tx = shutdown_tx.clone();
    let settings = conn::Settings {
        timeouts: config.timeouts,
        grace: config.grace,
        // Discarding is cheap (a 32 KiB buffer); time bounds the linger first.
        linger_bytes: (config.body_limit as u64).saturating_mul(4).max(64 << 20),
    };
    let handle_signals = config.handle_signals;
    let s = app.summary.clone();
    tracing::info!(
        "listening on http://{addr} ({} workers, queue {}, auth {}, engine {}); body limit {} MiB, \
         in-flight body budget {} MiB, at most {} connections; timeouts: headers {:?}, keep-alive \
         {:?}, body {:?} (idle {:?})",
        s.workers,
        s.queue,
        if s.auth { "on" } else { "OFF" },
        s.engine,
        s.body_limit >> 20,
        s.body_budget >> 20,
        s.max_connections,
        config.timeouts.header_read,
        config.timeouts.keep_alive,
        config.timeouts.body_read,
        config.timeouts.body_idle,
    );
    let thread = std::thread::Builder::new()
        .name("serve".into())
        .spawn(move || {
            let (router, table) = (app.router(), app.table.clone());
            let result = runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).map_err(ServeError::Runtime)?;
                let stop = shutdown_rx.clone();
                let signals = tokio::spawn(stop_on_signal(signal_tx, handle_signals));
                conn::serve(listener, router, table, settings, stop).await;
                signals.abort();
                Ok(())
            });
            // Every connection is closed now; let the workers finish what is queued.
            runtime.shutdown_timeout(Duration::from_secs(1));
            app.stop();
            tracing::info!("stopped");
            result
        })
        .map_err(ServeError::Runtime)?;
    Ok(RunningServer {
        addr,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}

/// Turns SIGINT/SIGTERM into the shutdown signal (when asked to), and keeps the sender alive.
async fn stop_on_signal(tx: Arc<tokio::sync::watch::Sender<bool>>, handle_signals: bool) {
    if !handle_signals {
        std::future::pending::<()>().await;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping on a signal; finishing the decisions in flight");
    tx.send_replace(true);
}
