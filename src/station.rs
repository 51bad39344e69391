//! The one decision path every front end calls (CLI, GUI, `serve`): run the verifier, build the
//! record, sign it and append it to the audit log, and return the outcome with its record. A
//! decision is only ever reported once its record is durable.

use serde_json::Value;

use crate::api::ValidRequest;
use crate::engine::verdict::{judge, Judgement, ReviewBand, Verdict};
use crate::engine::{
    CompareOutcome, EngineError, LivenessOutcome, LocalVerifier, PipelineConfig, Verifier,
};
use crate::paths::StationPaths;
use crate::record::{DecisionContext, RecordError, Recorder};
use crate::runtime::{RuntimeError, VerifiedModels};

/// How a decision is made and recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecideOptions {
    /// Who operated the station, and for a kiosk the claimed identity and attempt.
    pub context: DecisionContext,
    /// Embed the images (base64) in the record instead of their SHA-256 digests.
    pub embed_images: bool,
    /// `None`: the mode's default band (`ReviewBand::default_for`).
    pub review_band: Option<ReviewBand>,
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
    let band = options
        .review_band
        .unwrap_or_else(|| ReviewBand::default_for(outcome.search_mode));
    let judgement = judge(&outcome, &band);
    outcome.passed = judgement.verdict == Verdict::Verified;
    let images = options
        .embed_images
        .then(|| (request.probe.clone(), request.gallery.clone()));
    let record = recorder.record_compare(
        &outcome,
        &judgement,
        &band,
        images,
        started,
        &options.context,
    )?;
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
    let models = VerifiedModels::locate(paths.models.as_deref())?;
    LocalVerifier::load(&models, config)
}
