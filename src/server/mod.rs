//! `facestation serve`: a Verifik-compatible HTTP API on the local engine.
//!
//! `POST /v2/face-recognition/{compare, compare-live, liveness}` take Verifik's JSON and answer
//! with the station's signed record (the same artefact the CLI prints), after appending it to the
//! server's audit log. The HTTP side (axum on a small tokio runtime) only parses, authenticates
//! and queues; the engine work runs on [`pool`]'s worker threads, each owning its own verifier.
//!
//! [`start`] returns once the port is bound and every worker has loaded its models; the returned
//! [`RunningServer`] stops on [`RunningServer::shutdown`] or, when asked, on SIGINT/SIGTERM, and
//! finishes the requests in flight before it returns.

mod http;
pub mod pool;

use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::api::BearerToken;
use crate::engine::{LocalVerifier, PipelineConfig, Verifier};
use crate::record::Recorder;
use crate::runtime::VerifiedModels;

pub use pool::VerifierFactory;

/// Verifik's paths, served as they are.
pub const COMPARE_PATH: &str = "/v2/face-recognition/compare";
pub const COMPARE_LIVE_PATH: &str = "/v2/face-recognition/compare-live";
pub const LIVENESS_PATH: &str = "/v2/face-recognition/liveness";
/// Largest request body accepted (ten gallery images of a couple of MB each, base64-encoded).
pub const DEFAULT_BODY_LIMIT: usize = 25 * 1024 * 1024;
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

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
    /// Signs every decision and appends it to the audit log before it is answered.
    pub recorder: Arc<Recorder>,
    pub factory: VerifierFactory,
    /// Stop on SIGINT/SIGTERM (the CLI); tests stop the server with [`RunningServer::shutdown`].
    pub handle_signals: bool,
    /// How long a shutdown waits for requests in flight before closing their connections.
    pub grace: Duration,
}

impl ServeConfig {
    /// A configuration with local engines from `models`; adjust the public fields as needed.
    pub fn local(
        models: VerifiedModels,
        pipeline: PipelineConfig,
        recorder: Arc<Recorder>,
    ) -> Self {
        let factory: VerifierFactory = Arc::new(move |_| {
            LocalVerifier::load(&models, pipeline.clone())
                .map(|v| Box::new(v) as Box<dyn Verifier>)
                .map_err(|e| e.to_string())
        });
        Self {
            bind: DEFAULT_BIND.into(),
            token: None,
            workers: default_workers(),
            queue: 32,
            body_limit: DEFAULT_BODY_LIMIT,
            recorder,
            factory,
            handle_signals: false,
            grace: Duration::from_secs(30),
        }
    }
}

/// One engine worker per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A server that is listening.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
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

    /// Stops accepting, finishes the requests in flight, stops the workers.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
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
            let _ = tx.send(());
        }
        let _ = self.join();
    }
}

/// Loads the workers, binds, and serves on a background thread.
pub fn start(config: ServeConfig) -> Result<RunningServer, ServeError> {
    let listener = TcpListener::bind(&config.bind).map_err(|source| ServeError::Bind {
        addr: config.bind.clone(),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.bind.clone(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
    let pool = pool::Pool::start(
        config.workers,
        config.queue,
        config.factory.clone(),
        config.recorder.clone(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // The HTTP side only parses and waits; the engine runs on the pool's threads.
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel();
    let state = Arc::new(http::AppState {
        token: config.token,
        body_limit: config.body_limit,
        submitter: pool.submitter(),
        workers: config.workers.max(1),
        queue: config.queue,
    });
    let app = http::router(state, config.body_limit);
    let (handle_signals, grace) = (config.handle_signals, config.grace);
    let thread = std::thread::Builder::new()
        .name("serve".into())
        .spawn(move || {
            let result = runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).map_err(ServeError::Runtime)?;
                serve(listener, app, shutdown_rx, handle_signals, grace).await
            });
            // Every connection is closed now; let the workers finish what is queued.
            runtime.shutdown_timeout(Duration::from_secs(1));
            pool.stop();
            result
        })
        .map_err(ServeError::Runtime)?;
    Ok(RunningServer {
        addr,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown_rx: tokio::sync::oneshot::Receiver<()>,
    handle_signals: bool,
    grace: Duration,
) -> Result<(), ServeError> {
    let stop = Arc::new(tokio::sync::Notify::new());
    let notified = stop.clone();
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { notified.notified().await })
            .into_future(),
    );
    tokio::select! {
        r = &mut server => return finished(r),
        _ = shutdown_requested(shutdown_rx, handle_signals) => {}
    }
    // `notify_one` keeps a permit, so the server sees it even if it is not waiting yet.
    stop.notify_one();
    match tokio::time::timeout(grace, &mut server).await {
        Ok(r) => finished(r),
        Err(_) => {
            eprintln!(
                "facestation serve: requests still open after {} s; closing them",
                grace.as_secs()
            );
            server.abort();
            Ok(())
        }
    }
}

fn finished(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), ServeError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServeError::Runtime(e)),
        Err(_) => Err(ServeError::Panicked),
    }
}

async fn shutdown_requested(rx: tokio::sync::oneshot::Receiver<()>, handle_signals: bool) {
    if !handle_signals {
        let _ = rx.await;
        return;
    }
    let signal = async {
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
        eprintln!("facestation serve: stopping; finishing the requests in flight");
    };
    tokio::select! {
        _ = rx => {}
        _ = signal => {}
    }
}
