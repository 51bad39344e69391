//! A bounded pool of engine workers. ONNX sessions need `&mut`, so each worker thread owns its own
//! verifier and takes jobs from one bounded queue; when the queue is full the caller is told at
//! once (the server answers 503) instead of piling up requests without limit.
//!
//! Each worker decides through `station::decide`, which signs the record and appends it to the
//! audit log before the worker answers, so a decision is only ever returned once it is durable.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::ServeError;
use crate::api::{ApiError, ValidRequest};
use crate::engine::Verifier;
use crate::record::Recorder;
use crate::station::{decide, decide_liveness, DecideError, DecideOptions};

/// Creates the verifier of worker `i` (called on that worker's thread).
pub type VerifierFactory =
    Arc<dyn Fn(usize) -> Result<Box<dyn Verifier>, String> + Send + Sync + 'static>;

/// What a worker is asked to do.
#[derive(Debug)]
pub enum Task {
    Compare { request: ValidRequest },
    Liveness { image: Vec<u8>, min_score: f64 },
}

/// The answer: the signed record as written to the log, or a Verifik-style error.
pub type Reply = Result<Value, ApiError>;

type Message = (Task, oneshot::Sender<Reply>);

/// How often an idle worker looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// Every worker is busy and the queue is full.
    Full,
    /// The pool is stopping.
    Closed,
}

pub struct Pool {
    tx: SyncSender<Message>,
    workers: Vec<JoinHandle<()>>,
    /// Jobs a worker is running now.
    busy: Arc<AtomicUsize>,
    /// The first worker's verifier name ("local", "remote:...").
    engine: String,
    /// Set by [`Pool::stop`]: workers leave once the queue is empty. A flag rather than closing
    /// the channel, because HTTP handlers may still hold senders while the server winds down.
    stopping: Arc<AtomicBool>,
}

impl Pool {
    /// Starts `workers` threads with a queue of `queue` waiting jobs; returns once every worker
    /// has created its verifier (or the first failure). The channel holds `workers + queue` jobs:
    /// the HTTP side admits no more than that (a job whose worker has answered but whose handler
    /// has not yet let go of its slot must not make the next one look like an overflow).
    pub fn start(
        workers: usize,
        queue: usize,
        factory: VerifierFactory,
        recorder: Arc<Recorder>,
    ) -> Result<Self, ServeError> {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Message>(queue.saturating_add(workers));
        let rx = Arc::new(Mutex::new(rx));
        let stopping = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<String, String>>();
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let (rx, factory, recorder, ready, stop_flag, worker_busy) = (
                rx.clone(),
                factory.clone(),
                recorder.clone(),
                ready_tx.clone(),
                stopping.clone(),
                busy.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("engine-{i}"))
                .spawn(move || match factory(i) {
                    Ok(verifier) => {
                        let _ = ready.send(Ok(verifier.name()));
                        drop(ready);
                        work(verifier, &rx, &recorder, &stop_flag, &worker_busy);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    let pool = Self {
                        tx,
                        workers: handles,
                        busy,
                        engine: String::new(),
                        stopping,
                    };
                    pool.stop();
                    return Err(ServeError::Engine(format!("cannot start a worker: {e}")));
                }
            }
        }
        drop(ready_tx);
        let mut pool = Self {
            tx,
            workers: handles,
            busy,
            engine: String::new(),
            stopping,
        };
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(name)) => {
                    if pool.engine.is_empty() {
                        pool.engine = name;
                    }
                }
                Ok(Err(e)) => {
                    pool.stop();
                    return Err(ServeError::Engine(e));
                }
                Err(_) => {
                    pool.stop();
                    return Err(ServeError::Engine(
                        "an engine worker died while starting".into(),
                    ));
                }
            }
        }
        Ok(pool)
    }

    /// A cheap handle for submitting jobs (one per HTTP handler state).
    pub fn submitter(&self) -> Submitter {
        Submitter {
            tx: self.tx.clone(),
            busy: self.busy.clone(),
        }
    }

    /// The verifier's name ("local", "remote:<url>").
    pub fn engine(&self) -> &str {
        &self.engine
    }

    /// Lets the workers finish the jobs already queued, then stops and joins them.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.tx);
        for h in self.workers {
            let _ = h.join();
        }
    }
}

#[derive(Clone)]
pub struct Submitter {
    tx: SyncSender<Message>,
    busy: Arc<AtomicUsize>,
}

impl Submitter {
    /// Queues a job without waiting; the reply arrives on the returned channel.
    pub fn try_submit(&self, task: Task) -> Result<oneshot::Receiver<Reply>, SubmitError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        match self.tx.try_send((task, reply_tx)) {
            Ok(()) => Ok(reply_rx),
            Err(TrySendError::Full(_)) => Err(SubmitError::Full),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Closed),
        }
    }

    /// Workers running a job now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

fn work(
    mut verifier: Box<dyn Verifier>,
    rx: &Mutex<Receiver<Message>>,
    recorder: &Recorder,
    stopping: &AtomicBool,
    busy: &AtomicUsize,
) {
    loop {
        // Hold the lock only while taking a message, never while working.
        let message = {
            let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
            guard.recv_timeout(IDLE_POLL)
        };
        match message {
            Ok((task, reply)) => {
                busy.fetch_add(1, Ordering::SeqCst);
                // An engine panic answers 500 and leaves the worker serving the next job.
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run(verifier.as_mut(), task, recorder)
                }))
                .unwrap_or_else(|_| {
                    Err(ApiError::new(
                        500,
                        "engine_error",
                        "the engine failed on this request",
                    ))
                });
                busy.fetch_sub(1, Ordering::SeqCst);
                // The client may have gone; the record is in the log either way.
                let _ = reply.send(answer);
            }
            Err(RecvTimeoutError::Timeout) if !stopping.load(Ordering::SeqCst) => {}
            Err(_) => return,
        }
    }
}

fn run(verifier: &mut dyn Verifier, task: Task, recorder: &Recorder) -> Reply {
    let decided = match task {
        Task::Compare { request } => {
            decide(verifier, &request, recorder, DecideOptions::default()).map(|d| d.record)
        }
        Task::Liveness { image, min_score } => {
            decide_liveness(verifier, &image, min_score, recorder).map(|d| d.record)
        }
    };
    decided.map_err(|e| match e {
        DecideError::Engine(e) => ApiError::from(&e),
        // No answer without a durable record: a log failure is the server's error, not a decision.
        DecideError::Record(e) => ApiError::new(
            500,
            "audit_log_error",
            format!("the decision could not be recorded: {e}"),
        ),
    })
}
