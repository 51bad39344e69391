//! The inference worker: one thread owns the `LocalVerifier` (ONNX Runtime sessions take `&mut`),
//! the station key and the audit log, and takes jobs from a channel. Every answer goes back on a
//! second channel followed by a wake-up (`request_repaint`), so the UI thread never waits.
//!
//! Remote comparisons run on a second thread ("remote"): a slow or dead network must not hold up
//! preview detection on the inference thread. Both threads share the station key and audit log
//! (`AuditLog` serialises appends itself), so remote decisions are signed and logged like local ones.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use eframe::egui::ColorImage;
use image::RgbImage;
use serde_json::Value;

use crate::api::{BearerToken, SearchMode, ValidRequest};
use crate::engine::verdict::{judge, Judgement, ReviewBand};
use crate::engine::{
    CompareOutcome, EngineError, FacePolicy, ImageRole, LocalVerifier, ModelRef, Pipeline,
    PipelineConfig, RemoteConfig, RemoteVerifier, Verifier,
};
use crate::paths::StationPaths;
use crate::record::{verify_record, Recorder, Stamper};
use crate::runtime::{RuntimeError, VerifiedModels, ORT_VERSION};
use crate::station::{decide, DecideError, DecideOptions};
use crate::vision::quality::{hints, QualityHint};
use crate::vision::Face;

/// How many audit-log records the record panel lists.
pub const RECENT_RECORDS: usize = 20;

/// Where the worker finds its models, key and log, and (for tests and reproducible
/// screenshots) the clock and ids of its records.
#[derive(Clone, Default)]
pub struct WorkerConfig {
    pub paths: StationPaths,
    pub stamper: Option<Arc<dyn Stamper>>,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("paths", &self.paths)
            .field("stamper", &self.stamper.as_ref().map(|_| "custom"))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Probe(u64),
    Gallery(u64),
}

pub enum Job {
    /// Preview detection on one camera frame (the UI sends one at a time: frames are dropped, never queued).
    Detect { seq: u64, image: Arc<RgbImage> },
    /// Decode + detect for a probe or gallery image, with a display copy at most `display_side` wide.
    Analyse {
        target: Target,
        input: Input,
        display_side: u32,
        redact: bool,
    },
    /// One comparison on the local engine (the request is built here: encoding a camera frame is work).
    Compare(Box<CompareJob>),
    /// Re-read the recent records of the audit log.
    RefreshRecent,
}

#[derive(Clone)]
pub struct CompareJob {
    pub probe: Input,
    pub gallery: Vec<Arc<Vec<u8>>>,
    pub mode: SearchMode,
    /// `None`: the engine's default threshold for the mode (and its stated basis).
    pub compare_min_score: Option<f64>,
    pub liveness_min_score: Option<f64>,
    /// When the operator asked (for the click-to-result latency).
    pub clicked: Instant,
    /// What the answer is for: a decision (signed and logged) or one side of a cross-check.
    pub purpose: Purpose,
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

/// Where a remote comparison goes. The token lives in memory only (`BearerToken` redacts itself).
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    pub base_url: String,
    pub token: BearerToken,
}

/// The models the station runs, for the status bar.
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

/// Why the engine could not start, worded for the operator, with the fix.
#[derive(Debug, Clone)]
pub struct SetupProblem {
    pub what: String,
    pub detail: String,
    pub fix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    Ok,
    NoFace,
    SeveralFaces,
    Unreadable,
}

impl Badge {
    pub fn label(&self) -> &'static str {
        match self {
            Badge::Ok => "ok",
            Badge::NoFace => "no face",
            Badge::SeveralFaces => "several faces",
            Badge::Unreadable => "unreadable",
        }
    }
}

/// A decoded image with its faces (coordinates in the full image) and a display copy.
pub struct Analysis {
    pub image: Arc<RgbImage>,
    pub faces: Vec<Face>,
    pub hints: Vec<QualityHint>,
    pub badge: Badge,
    pub display: ColorImage,
    /// display pixels per image pixel
    pub display_scale: f32,
    pub ms: f64,
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
}

pub enum Event {
    Recorder(RecorderInfo),
    Ready(Box<EngineInfo>),
    SetupFailed(SetupProblem),
    Detected {
        seq: u64,
        faces: Vec<Face>,
        hints: Vec<QualityHint>,
        ms: f64,
    },
    Analysed {
        target: Target,
        result: Result<Box<Analysis>, String>,
    },
    Compared {
        purpose: Purpose,
        result: Result<Box<CompareDone>, CompareError>,
    },
    Recent(Result<Vec<Value>, String>),
}

/// The UI's end of the worker.
pub struct WorkerHandle {
    jobs: Sender<Job>,
    remote: Sender<(Box<CompareJob>, RemoteTarget)>,
    pub events: Receiver<Event>,
}

impl WorkerHandle {
    /// Starts the worker; it loads the models first (reported as `Ready` or `SetupFailed`).
    pub fn spawn(config: WorkerConfig, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (jobs, job_rx) = channel();
        let (ev_tx, events) = channel();
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let (remote_jobs, remote_rx) = channel();
        let (recorder, info) = open_recorder(&config);
        let _ = ev_tx.send(Event::Recorder(info));
        let _ = ev_tx.send(Event::Recent(recent(recorder.as_deref())));
        let (remote_ev, remote_wake, remote_recorder) =
            (ev_tx.clone(), wake.clone(), recorder.clone());
        // If this thread cannot start, remote jobs fail at `send` (their receiver is gone).
        let _ = std::thread::Builder::new()
            .name("remote".into())
            .spawn(move || run_remote(remote_recorder, remote_rx, remote_ev, remote_wake));
        let spawned = std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || run(config, job_rx, ev_tx, wake, recorder));
        if let Err(e) = spawned {
            let (tx, rx) = channel();
            let _ = tx.send(Event::SetupFailed(SetupProblem {
                what: "The inference thread could not start".into(),
                detail: e.to_string(),
                fix: "Restart the station.".into(),
            }));
            return Self {
                jobs,
                remote: remote_jobs,
                events: rx,
            };
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
    pub fn compare_remote(&self, job: CompareJob, target: RemoteTarget) -> bool {
        self.remote.send((Box::new(job), target)).is_ok()
    }
}

fn setup_problem(e: &RuntimeError) -> SetupProblem {
    let (what, fix) = match e {
        RuntimeError::OrtLibraryMissing { .. } | RuntimeError::OrtLoad { .. } => (
            "ONNX Runtime is missing",
            format!(
                "Run scripts/setup.sh in the checkout (it fetches ONNX Runtime {ORT_VERSION} into .cache/ort/), \
                 or set ORT_DYLIB_PATH to a libonnxruntime.so, then restart the station."
            ),
        ),
        RuntimeError::ModelsFolderMissing { .. } | RuntimeError::ModelFiles { .. } => (
            "The model files are missing or wrong",
            "Start the station with --models DIR (a folder holding the files of models/manifest.toml) \
             or set FACESTATION_MODELS; scripts/setup.sh prepares the development layout (../shared/models)."
                .to_string(),
        ),
        _ => (
            "The engine could not start",
            "Check the models folder (--models DIR) and the ONNX Runtime library (scripts/setup.sh).".into(),
        ),
    };
    SetupProblem {
        what: what.into(),
        detail: e.to_string(),
        fix,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

type SharedRecorder = Option<Arc<Recorder>>;

fn run(
    config: WorkerConfig,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: Arc<dyn Fn() + Send + Sync>,
    recorder: SharedRecorder,
) {
    let send = |e: Event| {
        let ok = events.send(e).is_ok();
        wake();
        ok
    };
    let t = Instant::now();
    let loaded = VerifiedModels::locate(config.paths.models.as_deref()).and_then(|models| {
        let v = LocalVerifier::load(&models, PipelineConfig::default())?;
        Ok((models, v))
    });
    let (models, mut verifier) = match loaded {
        Ok(v) => v,
        Err(e) => {
            send(Event::SetupFailed(setup_problem(&e)));
            return;
        }
    };
    let recorder = recorder.as_deref();
    let info = EngineInfo {
        models: verifier.pipeline.models().to_vec(),
        models_dir: models.dir.clone(),
        ort_version: ORT_VERSION,
        ort_path: crate::runtime::ort_library_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        load_ms: ms(t),
    };
    if !send(Event::Ready(Box::new(info))) {
        return;
    }
    // Ends when the UI drops its sender.
    while let Ok(job) = jobs.recv() {
        let event = match job {
            Job::Detect { seq, image } => {
                let t = Instant::now();
                match verifier.pipeline.detect(&image) {
                    Ok(faces) => Event::Detected {
                        seq,
                        hints: hints(&image, &counted_faces(&faces)),
                        faces,
                        ms: ms(t),
                    },
                    Err(_) => Event::Detected {
                        seq,
                        faces: Vec::new(),
                        hints: Vec::new(),
                        ms: ms(t),
                    },
                }
            }
            Job::Analyse {
                target,
                input,
                display_side,
                redact,
            } => Event::Analysed {
                target,
                result: analyse(&mut verifier.pipeline, input, display_side, redact).map(Box::new),
            },
            Job::Compare(job) => Event::Compared {
                purpose: job.purpose,
                result: compare(&mut verifier, *job, recorder),
            },
            Job::RefreshRecent => Event::Recent(recent(recorder)),
        };
        let was_compare = matches!(
            event,
            Event::Compared {
                purpose: Purpose::Decision,
                result: Ok(_)
            }
        );
        if !send(event) {
            return;
        }
        if was_compare {
            send(Event::Recent(recent(recorder)));
        }
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

fn recent(recorder: Option<&Recorder>) -> Result<Vec<Value>, String> {
    match recorder {
        Some(r) => r.recent(RECENT_RECORDS).map_err(|e| e.to_string()),
        None => Ok(Vec::new()),
    }
}

/// The faces that count under the engine's several-faces rule (small background faces do not).
fn counted_faces(faces: &[Face]) -> Vec<Face> {
    let Some(largest) = faces
        .iter()
        .map(|f| f.bbox.width)
        .max_by(|a, b| a.total_cmp(b))
    else {
        return Vec::new();
    };
    faces
        .iter()
        .filter(|f| f.bbox.width >= largest * crate::engine::local::SEVERAL_FACES_MIN_RELATIVE_SIZE)
        .copied()
        .collect()
}

fn analyse(
    p: &mut Pipeline,
    input: Input,
    display_side: u32,
    redact: bool,
) -> Result<Analysis, String> {
    let t = Instant::now();
    let image = match input {
        Input::Frame(img) => img,
        Input::Bytes(bytes) => {
            Arc::new(p.decode(&bytes, ImageRole::Probe).map_err(|e| match e {
                EngineError::Decode { source, .. } => source.to_string(),
                other => other.to_string(),
            })?)
        }
    };
    let faces = p.detect(&image).map_err(|e| e.to_string())?;
    let counted = counted_faces(&faces);
    let badge = match Pipeline::choose_face(
        &faces,
        FacePolicy::RefuseSeveral,
        ImageRole::Probe,
        image.dimensions(),
    ) {
        Ok(_) => Badge::Ok,
        Err(EngineError::SeveralFaces { .. }) => Badge::SeveralFaces,
        Err(_) => Badge::NoFace,
    };
    let (display, display_scale) = display_copy(&image, display_side, redact);
    Ok(Analysis {
        hints: hints(&image, &counted),
        image,
        faces,
        badge,
        display,
        display_scale,
        ms: ms(t),
    })
}

/// A copy at most `side` pixels on its longer side; pixelated when `redact` is set (a privacy
/// screen, also used for the committed screenshots: the test photos must not be published).
pub fn display_copy(img: &RgbImage, side: u32, redact: bool) -> (ColorImage, f32) {
    let (w, h) = img.dimensions();
    let scale = (side as f32 / w.max(h).max(1) as f32).min(1.0);
    let (dw, dh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let mut small = if scale < 1.0 {
        image::imageops::resize(img, dw, dh, image::imageops::FilterType::Triangle)
    } else {
        img.clone()
    };
    if redact {
        small = pixelate(&small);
    }
    let (sw, sh) = small.dimensions();
    (
        ColorImage::from_rgb([sw as usize, sh as usize], small.as_raw()),
        sw as f32 / w.max(1) as f32,
    )
}

/// Blocks of about 1/20 of the width.
pub fn pixelate(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let block = (w / 20).max(2);
    let tiny = image::imageops::resize(
        img,
        (w / block).max(1),
        (h / block).max(1),
        image::imageops::FilterType::Triangle,
    );
    image::imageops::resize(&tiny, w, h, image::imageops::FilterType::Nearest)
}

/// A camera frame as PNG (fast compression: this is on the click-to-result path).
fn encode_png(img: &RgbImage) -> Result<Vec<u8>, CompareError> {
    use image::ImageEncoder as _;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    )
    .write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| CompareError::Encode(e.to_string()))?;
    Ok(out)
}

/// The remote thread: runs remote comparisons one at a time. Ends when the UI drops its sender.
fn run_remote(
    recorder: SharedRecorder,
    jobs: Receiver<(Box<CompareJob>, RemoteTarget)>,
    events: Sender<Event>,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    while let Ok((job, target)) = jobs.recv() {
        let purpose = job.purpose;
        let result = RemoteVerifier::new(
            RemoteConfig {
                base_url: target.base_url,
                ..RemoteConfig::default()
            },
            target.token,
        )
        .map_err(|e| CompareError::Engine(e.into()))
        .and_then(|mut v| compare(&mut v, *job, recorder.as_deref()));
        let ok = events.send(Event::Compared { purpose, result }).is_ok();
        wake();
        if !ok {
            return;
        }
        if purpose == Purpose::Decision {
            let _ = events.send(Event::Recent(recent(recorder.as_deref())));
            wake();
        }
    }
}

/// One comparison on either engine. A decision goes through `station::decide` (signed and
/// appended to the audit log; the record's `station.engine` names the engine: "local" or
/// "remote:<url>"); a cross-check side only compares.
fn compare(
    v: &mut dyn Verifier,
    job: CompareJob,
    recorder: Option<&Recorder>,
) -> Result<Box<CompareDone>, CompareError> {
    let probe = match &job.probe {
        Input::Bytes(b) => b.to_vec(),
        Input::Frame(img) => encode_png(img)?,
    };
    let gallery = job.gallery.iter().map(|b| b.to_vec()).collect();
    let mut request =
        ValidRequest::from_bytes(probe, gallery, job.mode).map_err(EngineError::from)?;
    request.compare_min_score = job.compare_min_score;
    request.liveness_min_score = job.liveness_min_score;
    let clicked = job.clicked;
    if job.purpose != Purpose::Decision {
        let outcome = v.compare(&request)?;
        let judgement = judge(&outcome, &ReviewBand::default_for(outcome.search_mode));
        return Ok(Box::new(CompareDone {
            outcome,
            judgement,
            record: Err("a cross-check is not a decision: not recorded".to_string()),
            signature_valid: false,
            click_to_result_ms: ms(clicked),
        }));
    }
    let recorder = recorder.ok_or_else(|| {
        CompareError::NotRecorded(
            "records are off: the station key or audit log could not be opened".into(),
        )
    })?;
    let decided = decide(v, &request, recorder, DecideOptions::default()).map_err(|e| match e {
        DecideError::Engine(e) => CompareError::Engine(e),
        DecideError::Record(e) => CompareError::NotRecorded(e.to_string()),
    })?;
    let signature_valid = verify_record(&decided.record).is_ok();
    Ok(Box::new(CompareDone {
        outcome: decided.outcome,
        judgement: decided.judgement,
        record: Ok(decided.record),
        signature_valid,
        click_to_result_ms: ms(clicked),
    }))
}
