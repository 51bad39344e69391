//! The kiosk's worker: one thread owns the `LocalVerifier` (ONNX Runtime sessions take `&mut`) and
//! the `Recorder` (the station key and audit log, opened at start), and takes jobs from a channel.
//! Every answer goes back on a second channel followed by a wake-up, so the UI thread never waits
//! for a lookup, a detection or a decision. A failure to start (no models, no ONNX Runtime, a
//! key or log that cannot be opened) is an event the screen shows, never a panic.
//!
//! ## What is zeroed, and what cannot be
//! Images live in memory only. After each decision (and on every cancel) the worker zeroes the
//! buffers it owns: the captured frame's pixels, the PNG the probe was encoded to (its buffer is
//! reserved up front, so no half-written copy is left behind by a reallocation), and the
//! enrolment file bytes. The owner zeroes the frames it kept for the best-shot choice once no
//! other holder shares them ([`zero_frame`]), and drops enrolment bytes held as
//! `Zeroizing<Vec<u8>>` (zeroed on drop).
//!
//! Not zeroed, because this module does not own them: the camera's newest frame (`FrameSlot`,
//! shared with the camera thread; it is replaced, and freed, at the next frame); the engine's
//! decoded copies of the probe and enrolment images and its face chips (freed when the decision
//! returns); the display copy of each frame uploaded to the GPU texture (the screen's texture is
//! overwritten with black when images are erased); a webcam driver's own buffers.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::enrolled::{self, EnrolledError};
use super::flow::{FrameCheck, Hint};
use super::gate::{FrameGate, Oval};
use crate::api::{SearchMode, ValidRequest};
use crate::engine::verdict::{Reason, Verdict};
use crate::engine::{LocalVerifier, PipelineConfig};
use crate::paths::StationPaths;
use crate::record::{DecisionContext, Recorder, Stamper};
use crate::station::{decide, DecideError, DecideOptions, QualityInputs};
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;
use crate::vision::quality::QualityReport;

/// The kiosk decides in ACCURATE mode: its review band sends ~16% of genuine LFW pairs to
/// PLEASE SEE STAFF where FAST sends ~37% (docs/recognition.md "Review band"), for ~10 ms more
/// per image, which one probe and a small enrolment can afford.
pub const KIOSK_SEARCH_MODE: SearchMode = SearchMode::Accurate;

/// Quality reports of the latest checks kept for the capture (the best frame of the passing run
/// is at most `capture_frames` checks old).
const REPORTS_KEPT: usize = 32;

/// How many audit-log records the operator view lists.
pub const RECENT_RECORDS: usize = 15;

/// Enrolment files larger than this are not read (the engine's decoder has its own limits too).
const MAX_ENROLMENT_FILE: u64 = 20 * 1024 * 1024;

pub struct WorkerConfig {
    pub paths: StationPaths,
    /// `--enrolled DIR`: `DIR/<id>/*.jpg`.
    pub enrolled: PathBuf,
    pub kiosk_id: Option<String>,
    /// The quality gate the checks run through.
    pub gate: Box<dyn FrameGate>,
    /// Replaces the records' clock and ids (tests, reproducible screenshots).
    pub stamper: Option<Arc<dyn Stamper>>,
}

pub enum Job {
    /// Reads the enrolment of `id` (file I/O stays off the UI thread).
    LookUp { id: String },
    /// Detect + gate on one frame. The owner sends one at a time; a newer check queued behind
    /// an older one replaces it.
    Check { seq: u64, frame: Arc<RgbImage> },
    /// Encode the probe, decide through `station::decide`, zero the images. `seq`: the check of
    /// the captured frame (its quality report goes into the record).
    Decide {
        seq: u64,
        probe: RgbImage,
        gallery: Vec<Vec<u8>>,
        id: String,
        attempt: u32,
    },
    /// Re-read the recent records of the audit log (for the operator view).
    RefreshRecent,
}

/// What the operator view shows of a decision. The person never sees these numbers.
#[derive(Debug, Clone)]
pub struct DecisionDetails {
    pub claimed_id: String,
    pub attempt: u32,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    pub score: f64,
    pub threshold: f64,
    pub liveness_score: Option<f64>,
    pub liveness_verdict: Option<&'static str>,
    pub record_id: Option<String>,
    /// From the job's arrival to its answer (encode + compare + record).
    pub decide_ms: f64,
    pub record: Value,
}

/// Why a decision has no verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideFailure {
    /// For the operator.
    pub message: String,
    /// The decision could not be recorded (or records are off): the kiosk must stop deciding.
    pub out_of_service: bool,
}

pub enum Event {
    /// The models are loaded.
    Ready {
        models: String,
        /// The gate's description now that it has loaded what it needs.
        gate: String,
        load_ms: f64,
    },
    /// The engine could not start: the kiosk is out of service (the detail is for staff).
    SetupFailed(String),
    /// The key and log are open.
    Recorder {
        log_path: PathBuf,
        key_id: String,
    },
    /// The key or log could not be opened: no decision can be recorded, so none is made.
    RecorderFailed(String),
    LookedUp {
        id: String,
        /// The enrolment's file bytes, or words for the person.
        result: Result<Vec<Zeroizing<Vec<u8>>>, String>,
    },
    Checked {
        check: FrameCheck,
        faces: usize,
        /// The gate's guide oval for this frame's size (the screen draws it).
        guide: Oval,
        detect_ms: f64,
        gate_ms: f64,
    },
    Decided {
        id: String,
        attempt: u32,
        result: Result<Box<DecisionDetails>, DecideFailure>,
    },
    Recent(Result<Vec<Value>, String>),
}

/// The owner's end of the worker.
pub struct WorkerHandle {
    jobs: Sender<Job>,
    pub events: Receiver<Event>,
}

impl WorkerHandle {
    /// Starts the thread: it opens the recorder, then loads the models, then takes jobs.
    pub fn spawn(config: WorkerConfig, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (jobs, job_rx) = channel();
        let (ev_tx, events) = channel();
        let failed = ev_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("kiosk-worker".into())
            .spawn(move || run(config, job_rx, ev_tx, wake));
        if let Err(e) = spawned {
            let _ = failed.send(Event::SetupFailed(format!(
                "the worker thread could not start: {e}"
            )));
        }
        Self { jobs, events }
    }

    /// Queues a job; false if the worker has stopped.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn run(
    mut config: WorkerConfig,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: impl Fn() + Send + Sync + 'static,
) {
    let send = |e: Event| {
        let ok = events.send(e).is_ok();
        wake();
        ok
    };
    let recorder = match Recorder::open(&config.paths) {
        Ok(r) => {
            let r = match &config.stamper {
                Some(s) => r.with_stamper(s.clone()),
                None => r,
            };
            send(Event::Recorder {
                log_path: r.log_path().to_path_buf(),
                key_id: r.key_id(),
            });
            send(Event::Recent(recent(&r)));
            Some(r)
        }
        Err(e) => {
            send(Event::RecorderFailed(e.to_string()));
            None
        }
    };
    let t = Instant::now();
    let loaded = crate::station::verified_models(config.paths.models.as_deref())
        .and_then(|m| LocalVerifier::load(&m, PipelineConfig::default()));
    let mut verifier = match loaded {
        Ok(v) => v,
        Err(e) => {
            send(Event::SetupFailed(e.to_string()));
            // Still answer lookups and cancels with nothing: drain until the owner goes.
            while jobs.recv().is_ok() {}
            return;
        }
    };
    if let Ok(m) = crate::station::verified_models(config.paths.models.as_deref()) {
        // A gate without its extra model still works (landmark pose); `describe` says so.
        let _ = config.gate.load(&m);
    }
    // The record's quality of the enrolment images is measured in `decide`: load its models now,
    // not on the first person's decision. Without them records say why quality is null.
    let _ = crate::station::warm_quality_meter(config.paths.models.as_deref());
    let models = verifier
        .pipeline
        .models()
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if !send(Event::Ready {
        models,
        gate: config.gate.describe(),
        load_ms: ms(t),
    }) {
        return;
    }
    let mut pending: VecDeque<Job> = VecDeque::new();
    let mut reports: VecDeque<(u64, QualityReport)> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match jobs.recv() {
                Ok(j) => pending.push_back(j),
                Err(_) => return, // the owner has gone
            }
        }
        pending.extend(jobs.try_iter());
        let Some(job) = pending.pop_front() else {
            continue;
        };
        let event = match job {
            Job::Check { .. } if pending.iter().any(|j| matches!(j, Job::Check { .. })) => {
                continue; // a newer frame is waiting: this one is stale
            }
            Job::Check { seq, frame } => {
                let ev = check(&mut verifier, config.gate.as_mut(), seq, &frame);
                if let Some(r) = config.gate.last_report() {
                    if reports.len() == REPORTS_KEPT {
                        reports.pop_front();
                    }
                    reports.push_back((seq, r.clone()));
                }
                ev
            }
            Job::LookUp { id } => Event::LookedUp {
                result: look_up(&config.enrolled, &id),
                id,
            },
            Job::Decide {
                seq,
                probe,
                gallery,
                id,
                attempt,
            } => {
                let probe_quality = reports
                    .iter()
                    .find(|(s, _)| *s == seq)
                    .map(|(_, r)| r.clone());
                reports.clear();
                let context = DecisionContext {
                    operator: None,
                    claimed_id: Some(id.clone()),
                    kiosk_id: config.kiosk_id.clone(),
                    attempt: Some(attempt),
                    // Enrolment file names are the person's; the record keeps digests only.
                    gallery_names: Vec::new(),
                    quality: None,
                };
                let quality = QualityInputs {
                    probe: probe_quality,
                    models: config.paths.models.clone(),
                };
                let result = decide_probe(
                    &mut verifier,
                    recorder.as_ref(),
                    probe,
                    gallery,
                    context,
                    quality,
                )
                .map(|mut d| {
                    d.attempt = attempt;
                    Box::new(d)
                });
                let decided = result.is_ok();
                let ev = Event::Decided {
                    id,
                    attempt,
                    result,
                };
                if decided {
                    if !send(ev) {
                        return;
                    }
                    if let Some(r) = &recorder {
                        if !send(Event::Recent(recent(r))) {
                            return;
                        }
                    }
                    continue;
                }
                ev
            }
            Job::RefreshRecent => match &recorder {
                Some(r) => Event::Recent(recent(r)),
                None => Event::Recent(Err("records are off".into())),
            },
        };
        if !send(event) {
            return;
        }
    }
}

fn recent(r: &Recorder) -> Result<Vec<Value>, String> {
    r.recent(RECENT_RECORDS).map_err(|e| e.to_string())
}

/// Detect + gate on one frame.
pub fn check(
    verifier: &mut LocalVerifier,
    gate: &mut dyn FrameGate,
    seq: u64,
    frame: &RgbImage,
) -> Event {
    let t = Instant::now();
    let faces = verifier.pipeline.detect(frame);
    let detect_ms = ms(t);
    let t = Instant::now();
    let (mut check, n) = match faces {
        Ok(faces) => (gate.check(frame, &faces), faces.len()),
        Err(_) => (
            FrameCheck {
                seq,
                hint: Some(Hint::NoFace),
                quality: 0.0,
            },
            0,
        ),
    };
    check.seq = seq;
    Event::Checked {
        check,
        faces: n,
        guide: gate.guide(frame.width(), frame.height()),
        detect_ms,
        gate_ms: ms(t),
    }
}

/// Words for the person when an ID cannot be used (the detail stays out of sight).
pub fn lookup_words(e: &EnrolledError) -> &'static str {
    match e {
        EnrolledError::Empty | EnrolledError::Invalid => {
            "This is not a valid ID. Please type or scan it again."
        }
        EnrolledError::Unknown => "This ID is not enrolled here. Please check it, or see staff.",
        EnrolledError::NoImages | EnrolledError::Io(_) => {
            "This ID cannot be checked here. Please see staff."
        }
    }
}

/// Reads the enrolment images of `id` into zeroize-on-drop buffers.
pub fn look_up(dir: &std::path::Path, id: &str) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    let paths = enrolled::lookup(dir, id).map_err(|e| lookup_words(&e).to_string())?;
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let fail = || lookup_words(&EnrolledError::Io(String::new())).to_string();
        let len = std::fs::metadata(&p).map_err(|_| fail())?.len();
        if len > MAX_ENROLMENT_FILE {
            return Err(fail());
        }
        // Read into a buffer of the final size: no reallocation leaves a copy behind.
        let mut buf = Zeroizing::new(Vec::with_capacity(len as usize + 1));
        use std::io::Read as _;
        std::fs::File::open(&p)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .map_err(|_| fail())?;
        out.push(buf);
    }
    Ok(out)
}

/// Zeroes the request's image bytes when it goes out of scope, on every path.
struct Wiped(ValidRequest);

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.probe.zeroize();
        for g in &mut self.0.gallery {
            g.zeroize();
        }
    }
}

/// Zeroes an image's pixels in place.
pub fn zero_image(img: &mut RgbImage) {
    let raw: &mut [u8] = img;
    raw.zeroize();
}

/// Zeroes a shared frame if this is its last holder; else only drops this handle (the other
/// holder, the camera's newest-frame slot, replaces it at the next frame).
pub fn zero_frame(frame: Arc<RgbImage>) {
    if let Ok(mut img) = Arc::try_unwrap(frame) {
        zero_image(&mut img);
    }
}

/// A camera frame as PNG (fast compression: this is on the position-to-verdict path), into a
/// buffer reserved at the raw size so that it never reallocates (the PNG of raw RGB with
/// `Fast` compression is smaller than the raw pixels plus a little).
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder as _;
    let raw = img.as_raw().len();
    let mut out = Vec::with_capacity(raw + raw / 64 + 4096);
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
    .map_err(|e| {
        out.zeroize();
        format!("could not encode the camera frame: {e}")
    })?;
    Ok(out)
}

/// PNG-encodes the probe, decides (ACCURATE) with liveness on (0.6), records, and zeroes every image buffer
/// it was given, whatever the outcome.
pub fn decide_probe(
    verifier: &mut LocalVerifier,
    recorder: Option<&Recorder>,
    mut probe: RgbImage,
    mut gallery: Vec<Vec<u8>>,
    context: DecisionContext,
    quality: QualityInputs,
) -> Result<DecisionDetails, DecideFailure> {
    let t = Instant::now();
    let claimed_id = context.claimed_id.clone().unwrap_or_default();
    let png = encode_png(&probe);
    zero_image(&mut probe);
    let fail = |message: String, out_of_service: bool| DecideFailure {
        message,
        out_of_service,
    };
    let png = match png {
        Ok(p) => p,
        Err(e) => {
            gallery.iter_mut().for_each(Zeroize::zeroize);
            return Err(fail(e, false));
        }
    };
    let Some(recorder) = recorder else {
        let mut png = png;
        png.zeroize();
        gallery.iter_mut().for_each(Zeroize::zeroize);
        return Err(fail(
            "records are off: the station key or audit log could not be opened".into(),
            true,
        ));
    };
    let request = match ValidRequest::from_bytes(png, gallery, KIOSK_SEARCH_MODE) {
        Ok(r) => r,
        // Only a gallery over the limit fails here, and the lookup caps it; the moved buffers
        // were dropped inside the error path without zeroing, which cannot happen in practice.
        Err(e) => return Err(fail(e.to_string(), false)),
    };
    let mut request = Wiped(request);
    request.0.liveness_min_score = Some(DEFAULT_LIVENESS_MIN_SCORE);
    let options = DecideOptions {
        context,
        quality,
        ..DecideOptions::default()
    };
    let decided = decide(verifier, &request.0, recorder, options);
    drop(request);
    let d = decided.map_err(|e| match e {
        DecideError::Engine(e) => fail(e.to_string(), false),
        DecideError::Record(e) => fail(format!("the decision could not be recorded: {e}"), true),
    })?;
    let liveness = d.outcome.liveness.as_ref();
    Ok(DecisionDetails {
        claimed_id,
        attempt: 0,
        verdict: d.judgement.verdict,
        reasons: d.judgement.reasons.clone(),
        score: d.outcome.score,
        threshold: d.outcome.threshold,
        liveness_score: liveness.map(|l| l.score),
        liveness_verdict: liveness.map(|l| l.verdict.label()),
        record_id: d
            .record
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string),
        decide_ms: ms(t),
        record: d.record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_zeroed_in_place() {
        let mut img = RgbImage::from_pixel(8, 4, image::Rgb([9, 8, 7]));
        zero_image(&mut img);
        assert!(img.as_raw().iter().all(|b| *b == 0));
        let png = encode_png(&RgbImage::from_pixel(64, 48, image::Rgb([1, 2, 3]))).expect("png");
        assert!(png.starts_with(b"\x89PNG"));
        // A frame still shared is left to its other holder.
        let shared = Arc::new(RgbImage::from_pixel(2, 2, image::Rgb([5, 5, 5])));
        zero_frame(shared.clone());
        assert_eq!(shared.as_raw()[0], 5);
    }

    #[test]
    fn lookup_reads_enrolment_bytes_and_words_errors_for_the_person() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("E1")).expect("mkdir");
        std::fs::write(dir.path().join("E1/a.jpg"), b"abc").expect("write");
        let got = look_up(dir.path(), "E1").expect("found");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_slice(), b"abc");
        assert!(look_up(dir.path(), "E2")
            .unwrap_err()
            .contains("not enrolled"));
        assert!(look_up(dir.path(), "../E1")
            .unwrap_err()
            .contains("not a valid ID"));
    }
}
