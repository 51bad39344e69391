//! The inference thread: creates the engine, then serves preview detection, image analysis and
//! local compares, one job at a time. When the engine cannot start it reports why and keeps
//! serving what needs no models (decoding images for remote mode, the recent records).

use std::sync::mpsc::{Receiver, Sender};

use image::RgbImage;

use super::analysis::{analyse, counted_faces};
use super::engine::{local_engine, LoadedEngine, StationEngine};
use super::{
    recent, send, CompareDone, CompareError, CompareJob, EngineInfo, Event, Input, Job, Purpose,
    SharedRecorder, Wake, WorkerConfig,
};
use crate::api::ValidRequest;
use crate::app::clock::{ms_since, Clock};
use crate::engine::verdict::{judge, ReviewBand};
use crate::engine::{EngineError, Verifier};
use crate::record::{verify_record, Recorder};
use crate::station::{decide, DecideError, DecideOptions};
use crate::vision::quality::hints;

pub(super) fn run(
    config: WorkerConfig,
    jobs: Receiver<Job>,
    events: Sender<Event>,
    wake: Wake,
    recorder: SharedRecorder,
) {
    let clock = config.clock();
    let t = clock.now();
    let loaded = match &config.engine {
        Some(factory) => factory(&config.paths),
        None => local_engine(&config.paths),
    };
    let mut engine: Option<Box<dyn StationEngine>> = match loaded {
        Ok(LoadedEngine {
            engine,
            models_dir,
            ort_path,
            ort_version,
        }) => {
            let info = EngineInfo {
                models: engine.models(),
                models_dir,
                ort_version,
                ort_path,
                load_ms: ms_since(clock.as_ref(), t),
            };
            if !send(&events, &wake, Event::Ready(Box::new(info))) {
                return;
            }
            Some(engine)
        }
        Err(problem) => {
            let why = problem.what.clone();
            if !send(&events, &wake, Event::SetupFailed(problem)) {
                return;
            }
            // Keep serving: remote mode needs decoded images and the recorder, not the models.
            serve(
                &jobs,
                &events,
                &wake,
                recorder.as_deref(),
                clock.as_ref(),
                None,
                &why,
            );
            return;
        }
    };
    serve(
        &jobs,
        &events,
        &wake,
        recorder.as_deref(),
        clock.as_ref(),
        engine.as_deref_mut(),
        "",
    );
}

/// The job loop; ends when the UI drops its sender.
fn serve(
    jobs: &Receiver<Job>,
    events: &Sender<Event>,
    wake: &Wake,
    recorder: Option<&Recorder>,
    clock: &dyn Clock,
    mut engine: Option<&mut (dyn StationEngine + 'static)>,
    no_engine_why: &str,
) {
    while let Ok(job) = jobs.recv() {
        let event = match job {
            Job::Detect { seq, image } => detect(engine.as_deref_mut(), seq, &image, clock),
            Job::Analyse {
                target,
                input,
                display_side,
                redact,
            } => Event::Analysed {
                target,
                result: analyse(engine.as_deref_mut(), input, display_side, redact, clock)
                    .map(Box::new),
            },
            Job::Compare(job) => Event::Compared {
                purpose: job.purpose,
                result: match engine.as_deref_mut() {
                    Some(e) => compare(e, *job, recorder, clock),
                    None => Err(CompareError::NoLocalEngine(no_engine_why.to_string())),
                },
            },
            Job::RefreshRecent => Event::Recent(recent(recorder)),
            Job::RecordConfig { change, operator } => Event::ConfigRecorded(match recorder {
                Some(r) => r
                    .record_config(&change, operator.as_deref())
                    .map_err(|e| format!("the {} change was not recorded: {e}", change.setting)),
                None => Err(format!(
                    "the {} change was not recorded: the station key or audit log could not be opened",
                    change.setting
                )),
            }),
        };
        let decided = matches!(
            event,
            Event::Compared {
                purpose: Purpose::Decision,
                result: Ok(_)
            } | Event::ConfigRecorded(Ok(_))
        );
        if !send(events, wake, event) {
            return;
        }
        if decided {
            send(events, wake, Event::Recent(recent(recorder)));
        }
    }
}

fn detect(
    engine: Option<&mut (dyn StationEngine + 'static)>,
    seq: u64,
    image: &RgbImage,
    clock: &dyn Clock,
) -> Event {
    let t = clock.now();
    // A failed preview detection only means no boxes on this frame.
    let faces = engine
        .and_then(|e| e.detect(image).ok())
        .unwrap_or_default();
    Event::Detected {
        seq,
        hints: hints(image, &counted_faces(&faces)),
        faces,
        ms: ms_since(clock, t),
    }
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

/// One comparison on either engine. A decision goes through `station::decide` (signed and
/// appended to the audit log; the record's `station.engine` names the engine: "local" or
/// "remote:<url>"); a cross-check side only compares.
pub(super) fn compare(
    v: &mut dyn Verifier,
    job: CompareJob,
    recorder: Option<&Recorder>,
    clock: &dyn Clock,
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
            click_to_result_ms: ms_since(clock, clicked),
        }));
    }
    let recorder = recorder.ok_or_else(|| {
        CompareError::NotRecorded(
            "records are off: the station key or audit log could not be opened".into(),
        )
    })?;
    let options = DecideOptions {
        context: job.context.clone(),
        threshold_basis: job.threshold_basis.clone(),
        ..DecideOptions::default()
    };
    let decided = decide(v, &request, recorder, options).map_err(|e| match e {
        DecideError::Engine(e) => CompareError::Engine(e),
        DecideError::Record(e) => CompareError::NotRecorded(e.to_string()),
    })?;
    let signature_valid = verify_record(&decided.record).is_ok();
    Ok(Box::new(CompareDone {
        outcome: decided.outcome,
        judgement: decided.judgement,
        record: Ok(decided.record),
        signature_valid,
        click_to_result_ms: ms_since(clock, clicked),
    }))
}
