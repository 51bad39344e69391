//! The one decision path every front end calls (CLI, GUI, `serve`): run the verifier, build the
//! record, sign it and append it to the audit log, and return the outcome with its record. A
//! decision is only ever reported once its record is durable.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::api::ValidRequest;
use crate::engine::verdict::{judge, Judgement, ReviewBand, Verdict};
use crate::engine::{
    CompareOutcome, EngineError, LivenessOutcome, LocalVerifier, PipelineConfig, Verifier,
};
use crate::paths::StationPaths;
use crate::record::{DecisionContext, RecordError, Recorder};
use crate::runtime::{RuntimeError, VerifiedModels};
use crate::vision::quality::{QualityAssessor, QualityReport, QualityThresholds};
use crate::vision::{decode_image, BoundingBox, DecodeLimits, Detector, DetectorConfig, Face};

/// How a decision is made and recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecideOptions {
    /// Who operated the station, and for a kiosk the claimed identity and attempt.
    pub context: DecisionContext,
    /// Embed the images (base64) in the record instead of their SHA-256 digests.
    pub embed_images: bool,
    /// `None`: the mode's default band (`ReviewBand::default_for`).
    pub review_band: Option<ReviewBand>,
    /// How the images' capture quality (`station.quality` of the record) is found.
    pub quality: QualityInputs,
    /// What the request's threshold rests on when the front end chose it on data (the QA
    /// workbench's operating point); `None`: what the engine says.
    pub threshold_basis: Option<String>,
}

/// What `decide` is given for the capture quality it records. The local engine measures every
/// image on its own decode and detection; for a remote engine `decide` measures them with the
/// station's detector and head-pose model when the models are here, else the record says `null`
/// and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityInputs {
    /// The probe's report, already measured on exactly the probe's pixels (the kiosk's gate on
    /// the captured frame): the probe is not measured again.
    pub probe: Option<QualityReport>,
    /// Where the models are (`None`: `runtime::models_dir`'s usual places).
    pub models: Option<PathBuf>,
}

/// A compare decision, the station's verdict on it, and its signed record as appended to the log.
/// `outcome.passed` is true exactly when the verdict is VERIFIED.
#[derive(Debug, Clone)]
pub struct Decided {
    pub outcome: CompareOutcome,
    pub judgement: Judgement,
    pub record: Value,
}

/// A liveness decision and its signed record.
#[derive(Debug, Clone)]
pub struct LivenessDecided {
    pub outcome: LivenessOutcome,
    pub record: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The decision was made but could not be recorded: it must not be reported as made.
    #[error("the decision could not be recorded: {0}")]
    Record(#[from] RecordError),
}

/// Compares, records and returns the decision.
pub fn decide(
    verifier: &mut dyn Verifier,
    request: &ValidRequest,
    recorder: &Recorder,
    options: DecideOptions,
) -> Result<Decided, DecideError> {
    let started = recorder.now();
    let mut outcome = verifier.compare(request)?;
    if let Some(basis) = options.threshold_basis {
        outcome.threshold_basis = basis;
    }
    let band = options
        .review_band
        .unwrap_or_else(|| ReviewBand::default_for(outcome.search_mode));
    let judgement = judge(&outcome, &band);
    outcome.passed = judgement.verdict == Verdict::Verified;
    let images = options
        .embed_images
        .then(|| (request.probe.clone(), request.gallery.clone()));
    let mut context = options.context;
    context.quality = Some(record_quality(request, &outcome, options.quality));
    let record = recorder.record_compare(&outcome, &judgement, &band, images, started, &context)?;
    Ok(Decided {
        outcome,
        judgement,
        record,
    })
}

/// Judges liveness of one image, records and returns the decision.
pub fn decide_liveness(
    verifier: &mut dyn Verifier,
    image: &[u8],
    min_score: f64,
    recorder: &Recorder,
) -> Result<LivenessDecided, DecideError> {
    let outcome = verifier.liveness(image, min_score)?;
    let record = recorder.record_liveness(&outcome)?;
    Ok(LivenessDecided { outcome, record })
}

/// Verifies the models `paths` names and creates the local engine.
pub fn local_verifier(
    paths: &StationPaths,
    config: PipelineConfig,
) -> Result<LocalVerifier, RuntimeError> {
    let models = verified_models(paths.models.as_deref())?;
    LocalVerifier::load(&models, config)
}

/// The models folder (`runtime::models_dir`), its checksums verified once per process: hashing
/// every file takes ~0.1-0.2 s, and the engine, the quality meter and the kiosk's gate all load
/// sessions from it. A folder that fails is checked again on the next call.
pub fn verified_models(explicit: Option<&Path>) -> Result<VerifiedModels, RuntimeError> {
    static VERIFIED: Mutex<Vec<VerifiedModels>> = Mutex::new(Vec::new());
    let dir = crate::runtime::models_dir(explicit)?;
    let cached = VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|m| m.dir == dir)
        .cloned();
    if let Some(m) = cached {
        return Ok(m);
    }
    let m = VerifiedModels::verify(&dir)?;
    VERIFIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(m.clone());
    Ok(m)
}

/// The detector and head-pose model `decide` measures capture quality with (its own sessions:
/// the engine's are behind `dyn Verifier`, and a remote engine has none).
pub struct QualityMeter {
    detector: Detector,
    assessor: QualityAssessor,
}

impl QualityMeter {
    pub fn load(models: &VerifiedModels) -> Result<Self, RuntimeError> {
        Ok(Self {
            detector: Detector::new(models.session("detector", 1)?, DetectorConfig::default()),
            assessor: QualityAssessor::load(models, QualityThresholds::default())?,
        })
    }

    /// Decodes, detects and assesses one image. `subject`: the face the engine compared (the
    /// detected face overlapping it most is assessed), else the largest.
    pub fn measure(
        &mut self,
        bytes: &[u8],
        subject: Option<&Face>,
    ) -> Result<QualityReport, String> {
        let img = decode_image(bytes, &DecodeLimits::default()).map_err(|e| e.to_string())?;
        let faces = self.detector.detect(&img).map_err(|e| e.to_string())?;
        let chosen = subject.and_then(|s| {
            faces
                .iter()
                .copied()
                .map(|f| (iou(&f.bbox, &s.bbox), f))
                .filter(|(o, _)| *o > 0.3)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, f)| f)
        });
        Ok(match chosen {
            Some(f) => self.assessor.assess_subject(&img, &faces, Some(&f)),
            None => self.assessor.assess(&img, &faces),
        })
    }
}

fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.width).min(b.x + b.width);
    let y1 = (a.y + a.height).min(b.y + b.height);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.area() + b.area() - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// A meter (or why it could not load) and the models folder it was loaded for.
type LoadedMeter = (Option<PathBuf>, Result<QualityMeter, String>);

thread_local! {
    /// One meter per thread that decides (server pool threads, the GUI's and kiosk's workers),
    /// loaded at its first decision; a load failure is kept too, so it is not retried (and the
    /// models re-hashed) on every decision.
    static METER: RefCell<Option<LoadedMeter>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's meter for `models`, loading it first if needed.
fn with_meter<T>(
    models: Option<&Path>,
    f: impl FnOnce(&mut QualityMeter) -> T,
) -> Result<T, String> {
    METER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot
            .as_ref()
            .is_none_or(|(dir, _)| dir.as_deref() != models)
        {
            let loaded = verified_models(models)
                .and_then(|m| QualityMeter::load(&m))
                .map_err(|e| format!("no quality measures: {e}"));
            *slot = Some((models.map(Path::to_path_buf), loaded));
        }
        match slot.as_mut() {
            Some((_, Ok(meter))) => Ok(f(meter)),
            Some((_, Err(why))) => Err(why.clone()),
            None => Err("no quality meter".into()),
        }
    })
}

/// Loads this thread's quality meter now (a long-lived front end calls this at start, so that
/// its first decision does not pay for it). The error says why records will hold `null`.
pub fn warm_quality_meter(models: Option<&Path>) -> Result<(), String> {
    with_meter(models, |_| ())
}

/// `station.quality` of a compare record: the probe's report (or `null` and why) and each gallery
/// image's, in gallery order.
fn record_quality(
    request: &ValidRequest,
    outcome: &CompareOutcome,
    inputs: QualityInputs,
) -> Value {
    let QualityInputs { probe, models } = inputs;
    let report = |r: Result<QualityReport, String>| match r {
        Ok(r) => json!({ "report": r, "note": Value::Null }),
        Err(why) => json!({ "report": Value::Null, "note": why }),
    };
    // The local engine measured every image on its own decode and detection: use that (a second
    // decode and detection here would cost about as much as the compare's own).
    if let Some(q) = &outcome.quality {
        let (probe, source) = match probe {
            Some(r) => (report(Ok(r)), "kiosk gate (the captured frame)"),
            None => (report(Ok(q.probe.clone())), "engine"),
        };
        let gallery: Vec<Value> = q
            .gallery
            .iter()
            .map(|g| {
                report(
                    g.clone()
                        .ok_or_else(|| "the image could not be decoded".to_string()),
                )
            })
            .collect();
        return json!({
            "probe": probe["report"],
            "probeNote": probe["note"],
            "probeMeasuredBy": source,
            "gallery": gallery,
        });
    }
    let (probe, source) = match probe {
        Some(r) => (report(Ok(r)), "kiosk gate (the captured frame)"),
        None => (
            report(
                with_meter(models.as_deref(), |m| {
                    m.measure(&request.probe, outcome.probe_face.as_ref())
                })
                .and_then(|r| r),
            ),
            "station",
        ),
    };
    let gallery: Vec<Value> = request
        .gallery
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let face = outcome
                .gallery
                .iter()
                .find(|g| g.index == i)
                .and_then(|g| g.face.as_ref());
            report(with_meter(models.as_deref(), |m| m.measure(bytes, face)).and_then(|r| r))
        })
        .collect();
    json!({
        "probe": probe["report"],
        "probeNote": probe["note"],
        "probeMeasuredBy": source,
        "gallery": gallery,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_that_cannot_load_says_why_and_is_not_retried_for_the_same_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        let bogus = dir.path().join("no-models");
        let first = with_meter(Some(&bogus), |_| ()).expect_err("no models there");
        assert!(first.starts_with("no quality measures"), "{first}");
        // The failure is kept: the same folder answers the same note without a second load.
        std::fs::create_dir(&bogus).expect("mkdir");
        assert_eq!(with_meter(Some(&bogus), |_| ()).expect_err("kept"), first);
        assert!(warm_quality_meter(Some(&bogus)).is_err());
    }

    #[test]
    fn boxes_overlap_by_intersection_over_union() {
        let b = |x, y, width, height| BoundingBox {
            x,
            y,
            width,
            height,
        };
        assert!((iou(&b(0.0, 0.0, 10.0, 10.0), &b(0.0, 0.0, 10.0, 10.0)) - 1.0).abs() < 1e-6);
        assert!((iou(&b(0.0, 0.0, 10.0, 10.0), &b(5.0, 0.0, 10.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&b(0.0, 0.0, 1.0, 1.0), &b(5.0, 5.0, 1.0, 1.0)), 0.0);
        assert_eq!(iou(&b(0.0, 0.0, 0.0, 0.0), &b(0.0, 0.0, 0.0, 0.0)), 0.0);
    }
}
