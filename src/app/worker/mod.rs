//! The station's worker threads. The inference thread ("inference") owns the engine (ONNX Runtime
//! sessions take `&mut`) and takes jobs from a channel: preview detection, image analysis, local
//! compares. Remote compares run on their own thread ("remote"): a slow or dead network must not
//! hold up preview detection. Both share the [`Recorder`] (station key and audit log, opened at
//! start-up whether or not the models load), so remote decisions are signed and logged like local
//! ones. Every answer goes back on one event channel followed by a wake-up (`request_repaint`), so
//! the UI thread never waits.
//!
//! The engine comes from [`WorkerConfig::engine`], a factory: the real one loads the models
//! ([`engine::local_engine`]); tests pass a fake with fixed faces and scores.

mod analysis;
pub mod engine;
mod inference;
mod remote;

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use serde_json::Value;

use super::clock::{self, SharedClock};
use crate::api::{BearerToken, SearchMode};
use crate::engine::verdict::Judgement;
use crate::engine::{CompareOutcome, EngineError, ModelRef};
use crate::paths::StationPaths;
use crate::record::build::{ConfigChange, DecisionContext};
use crate::record::{Recorder, Stamper};
use crate::vision::quality::QualityHint;
use crate::vision::Face;

pub use analysis::{counted_faces, Analysis, Badge};
pub use engine::{EngineFactory, LoadedEngine, StationEngine};

/// How many audit-log records the record panel lists.
pub const RECENT_RECORDS: usize = 20;

/// Where the worker finds its models, key and log; which engine it runs; and (for tests and
/// reproducible screenshots) the clock and the ids of its records.
#[derive(Clone, Default)]
pub struct WorkerConfig {
    pub paths: StationPaths,
    /// Record times and ids (`record::FixedStamper` in tests); `None`: the system's.
    pub stamper: Option<Arc<dyn Stamper>>,
    /// Creates the engine on the inference thread; `None`: the local models ([`engine::local_engine`]).
    pub engine: Option<EngineFactory>,
    /// The clock of every time shown on screen; `None`: the system clock.
    pub clock: Option<SharedClock>,
}

impl WorkerConfig {
    pub fn clock(&self) -> SharedClock {
        self.clock.clone().unwrap_or_else(clock::system)
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("paths", &self.paths)
            .field("stamper", &self.stamper.as_ref().map(|_| "custom"))
            .field("engine", &self.engine.as_ref().map(|_| "custom"))
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// What an image to analyse is.
#[derive(Clone)]
pub enum Input {
    /// File bytes (decoded with the engine's limits).
    Bytes(Arc<Vec<u8>>),
    /// A camera frame.
    Frame(Arc<RgbImage>),
}

/// Which image an analysis is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSlot {
    Probe(u64),
    Gallery(u64),
}

/// Jobs for the inference thread. (Remote compares have their own thread and method:
/// [`WorkerHandle::compare_remote`].)
pub enum Job {
    /// Preview detection on one camera frame (the UI sends one at a time: frames are dropped,
    /// never queued).
    Detect { seq: u64, image: Arc<RgbImage> },
    /// Decode + detect for a probe or gallery image, with a display copy at most `display_side` wide.
    Analyse {
        target: ImageSlot,
        input: Input,
        display_side: u32,
        redact: bool,
    },
    /// One comparison on the local engine (the request is built there: encoding a frame is work).
    Compare(Box<CompareJob>),
    /// Re-read the recent records of the audit log.
    RefreshRecent,
    /// Append a signed configuration record (a threshold, mode or engine change). Queued with
    /// the compares, so a change recorded before a local decision is logged before it.
    RecordConfig {
        change: ConfigChange,
        operator: Option<String>,
    },
}

#[derive(Clone)]
pub struct CompareJob {
    pub probe: Input,
    pub gallery: Vec<Arc<Vec<u8>>>,
    pub mode: SearchMode,
    /// `None`: the engine's default threshold for the mode (and its stated basis).
    pub compare_min_score: Option<f64>,
    pub liveness_min_score: Option<f64>,
    /// When the operator asked (for the click-to-result latency), on the worker's clock.
    pub clicked: Instant,
    /// What the answer is for: a decision (signed and logged) or one side of a cross-check.
    pub purpose: Purpose,
    /// Who is on shift and the gallery's file names, written into the record.
    pub context: DecisionContext,
    /// What the threshold rests on when the station set it from the QA workbench (`None`: the
    /// engine states its own basis).
    pub threshold_basis: Option<String>,
}

/// Why a comparison runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The station's decision: signed and appended to the audit log.
    Decision,
    /// One side of a cross-check of the two engines: shown only, not a decision, so not logged.
    CrossLocal,
    CrossRemote,
}

/// The remote service a comparison goes to. The token lives in memory only (`BearerToken`
/// redacts itself).
#[derive(Debug, Clone)]
pub struct RemoteService {
    pub base_url: String,
    pub token: BearerToken,
}

/// The engine the station runs, for the status bar.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    pub models: Vec<ModelRef>,
    pub models_dir: PathBuf,
    pub ort_version: &'static str,
    pub ort_path: String,
    pub load_ms: f64,
}

/// The station key and audit log, opened at start-up independently of the models (so remote
/// mode works without local models).
#[derive(Debug, Clone)]
pub struct RecorderInfo {
    pub log_path: Option<PathBuf>,
    pub key_id: Option<String>,
    /// Why records cannot be signed or logged, when they cannot.
    pub problem: Option<String>,
}

/// Why the local engine could not start, worded for the operator, with the fix.
#[derive(Debug, Clone)]
pub struct SetupProblem {
    pub what: String,
    pub detail: String,
    pub fix: String,
}

pub struct CompareDone {
    pub outcome: CompareOutcome,
    /// The station's verdict (for a cross-check side: what it would have been, with the
    /// mode's default review band).
    pub judgement: Judgement,
    /// The signed record, or why there is none.
    pub record: Result<Value, String>,
    /// `record::verify_record` on the signed record.
    pub signature_valid: bool,
    /// From the click to the worker's answer (the UI adds at most one frame).
    pub click_to_result_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("could not encode the camera frame: {0}")]
    Encode(String),
    /// No decision without a record: the key or log could not be opened, or the append failed.
    #[error("not decided: {0}")]
    NotRecorded(String),
    /// A local compare was asked for, but the local engine did not start.
    #[error("the local engine is not running: {0}")]
    NoLocalEngine(String),
}

/// Why an image could not be analysed (worded for the operator).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AnalysisError(pub String);

/// Why the audit log could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecentError(pub String);

pub enum Event {
    Recorder(RecorderInfo),
    Ready(Box<EngineInfo>),
    /// The local engine did not start; the station keeps running (remote mode, records).
    SetupFailed(SetupProblem),
    Detected {
        seq: u64,
        faces: Vec<Face>,
        hints: Vec<QualityHint>,
        ms: f64,
    },
    Analysed {
        target: ImageSlot,
        result: Result<Box<Analysis>, AnalysisError>,
    },
    Compared {
        purpose: Purpose,
        result: Result<Box<CompareDone>, CompareError>,
    },
    Recent(Result<Vec<Value>, RecentError>),
    /// A configuration record was appended (the signed record), or why not.
    ConfigRecorded(Result<Value, String>),
}

type Wake = Arc<dyn Fn() + Send + Sync>;
type SharedRecorder = Option<Arc<Recorder>>;

/// The UI's end of the worker.
pub struct WorkerHandle {
    jobs: Sender<Job>,
    remote: Sender<(Box<CompareJob>, RemoteService)>,
    pub events: Receiver<Event>,
}

impl WorkerHandle {
    /// Opens the recorder, then starts the remote thread and the inference thread (which creates
    /// the engine first, reported as `Ready` or `SetupFailed`).
    pub fn spawn(config: WorkerConfig, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (jobs, job_rx) = channel();
        let (ev_tx, events) = channel();
        let wake: Wake = Arc::new(wake);
        let (remote_jobs, remote_rx) = channel();
        let (recorder, info) = open_recorder(&config);
        let _ = ev_tx.send(Event::Recorder(info));
        let _ = ev_tx.send(Event::Recent(recent(recorder.as_deref())));
        let (remote_ev, remote_wake, remote_recorder, remote_clock) = (
            ev_tx.clone(),
            wake.clone(),
            recorder.clone(),
            config.clock(),
        );
        // If this thread cannot start, remote jobs fail at `send` (their receiver is gone).
        let _ = std::thread::Builder::new()
            .name("remote".into())
            .spawn(move || {
                remote::run(
                    remote_recorder,
                    remote_rx,
                    remote_ev,
                    remote_wake,
                    remote_clock,
                )
            });
        let failed_tx = ev_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || inference::run(config, job_rx, ev_tx, wake, recorder));
        if let Err(e) = spawned {
            let _ = failed_tx.send(Event::SetupFailed(SetupProblem {
                what: "The inference thread could not start".into(),
                detail: e.to_string(),
                fix: "Restart the station.".into(),
            }));
        }
        Self {
            jobs,
            remote: remote_jobs,
            events,
        }
    }

    /// Queues a job for the inference thread; false if the thread is gone.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// Queues a remote comparison straight on the remote thread, so that a busy local engine
    /// never delays it; false if the thread is gone.
    pub fn compare_remote(&self, job: CompareJob, service: RemoteService) -> bool {
        self.remote.send((Box::new(job), service)).is_ok()
    }
}

fn open_recorder(config: &WorkerConfig) -> (SharedRecorder, RecorderInfo) {
    match Recorder::open(&config.paths).map(|r| r.with_checkpoint_on_close(true)) {
        Ok(r) => {
            let r = match &config.stamper {
                Some(s) => r.with_stamper(s.clone()),
                None => r,
            };
            let info = RecorderInfo {
                log_path: Some(r.log_path().to_path_buf()),
                key_id: Some(r.key_id()),
                problem: None,
            };
            (Some(Arc::new(r)), info)
        }
        Err(e) => (
            None,
            RecorderInfo {
                log_path: None,
                key_id: None,
                problem: Some(e.to_string()),
            },
        ),
    }
}

fn recent(recorder: Option<&Recorder>) -> Result<Vec<Value>, RecentError> {
    match recorder {
        Some(r) => r
            .recent(RECENT_RECORDS)
            .map_err(|e| RecentError(e.to_string())),
        None => Ok(Vec::new()),
    }
}

/// Sends an event and wakes the UI; false once the UI has gone.
fn send(events: &Sender<Event>, wake: &Wake, e: Event) -> bool {
    let ok = events.send(e).is_ok();
    wake();
    ok
}
