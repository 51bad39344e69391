//! The engine: one `Verifier` trait that every front end calls, a local implementation on ONNX
//! Runtime, and the types of what a comparison produces.

pub mod local;
pub mod parallel;
pub mod plan;
pub mod remote;
pub mod score;
pub mod verdict;

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, SearchMode, ValidRequest};
use crate::runtime::RuntimeError;
use crate::vision::liveness::LivenessResult;
use crate::vision::quality::QualityReport;
use crate::vision::{DecodeError, Face, VisionError};

pub use crate::api::BearerToken;
pub use local::{Combine, FacePolicy, LocalVerifier, Pipeline, PipelineConfig, Plan, Stage};
pub use remote::{RemoteConfig, RemoteError, RemoteVerifier};

/// Which image of a request a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRole {
    Probe,
    Gallery(usize),
    /// An image scored on its own (evaluation, analysis of a file), neither probe nor gallery.
    Image,
}

impl std::fmt::Display for ImageRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageRole::Probe => write!(f, "probe"),
            ImageRole::Gallery(i) => write!(f, "gallery[{i}]"),
            ImageRole::Image => write!(f, "image"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{role}: {source}")]
    Decode {
        role: ImageRole,
        #[source]
        source: DecodeError,
    },
    #[error("no face found in the {0}")]
    NoFace(ImageRole),
    #[error("several faces in the {role} ({count} found); use one face per probe, or choose the largest face")]
    SeveralFaces { role: ImageRole, count: usize },
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A remote engine's failure (network, HTTP status, malformed answer), already worded for an operator.
    #[error("remote engine: {0}")]
    Remote(#[from] remote::RemoteError),
}

/// The HTTP-style error for an engine failure (the server and `--json` output share it).
impl From<&EngineError> for ApiError {
    fn from(e: &EngineError) -> Self {
        use crate::vision::DecodeError as D;
        use EngineError as E;
        match e {
            E::Api(a) => a.clone(),
            E::Decode {
                source: D::TooManyBytes { .. } | D::TooManyPixels { .. } | D::DecoderLimit { .. },
                ..
            } => Self::new(413, "image_too_large", e.to_string()),
            E::Decode {
                source:
                    D::UnknownFormat | D::UnsupportedFormat { .. } | D::UnsupportedFeature { .. },
                ..
            } => Self::new(415, "unsupported_image", e.to_string()),
            E::Decode { .. } => Self::new(400, "invalid_image", e.to_string()),
            E::NoFace(_) => Self::new(422, "no_face", e.to_string()),
            E::SeveralFaces { .. } => Self::new(422, "several_faces", e.to_string()),
            E::Remote(r) => Self::new(502, "remote_error", r.to_string()),
            E::Vision(_) | E::Runtime(_) => Self::new(500, "engine_error", e.to_string()),
        }
    }
}

impl Decision {
    /// The words every front end shows for this decision.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Match => "MATCH",
            Decision::NoMatch => "NO MATCH",
            Decision::NoFace => "NO FACE (in the gallery)",
        }
    }
}

/// Per-stage times of one comparison, in milliseconds: each stage's wall time summed over its
/// jobs, which run side by side on several pipelines (`PipelineConfig::pipelines`), so the stages
/// can add up to more than `total_ms`, the compare's own wall time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub embed_ms: f64,
    pub liveness_ms: f64,
    /// Capture-quality measures of every image (head pose included).
    #[serde(default)]
    pub quality_ms: f64,
    pub total_ms: f64,
}

/// What the engine found in one gallery image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryResult {
    pub index: usize,
    pub sha256: String,
    /// Faces the detector found (before choosing one).
    pub faces_found: usize,
    /// The face that matched the probe best, when there is one.
    pub face: Option<Face>,
    /// Similarity 0..1 (higher = more similar); `None` when no face was found.
    pub score: Option<f64>,
    pub distance: Option<f64>,
    pub passed: Option<bool>,
    /// Why this image could not be used (unreadable, not an image, too large); the other
    /// gallery images are still compared.
    pub error: Option<String>,
    /// False when a remote service gave no per-image result for this image (it reports one
    /// score for the whole gallery): "not reported", not "no face".
    pub reported: bool,
    /// The recogniser(s) whose descriptors produced `score`, each with its sha256, the views it
    /// averaged and its raw metric value; empty when there is no score (or a remote engine
    /// did not say).
    #[serde(default)]
    pub recognisers: Vec<ScoreSource>,
}

/// One recogniser's part in a score: which model (id, sha256), which views, the raw metric value
/// and the calibration that turned it into a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreSource {
    pub id: String,
    pub sha256: String,
    /// "chip", "chip+mirror", ...
    pub views: String,
    /// "euclidean" (lower = more alike) or "cosine" (higher = more alike).
    pub metric: crate::runtime::Metric,
    pub raw: f64,
    /// The calibration of this model and views (`engine::score::Calibration`).
    pub calibration: score::Calibration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Match,
    NoMatch,
    /// No gallery image held a usable face.
    NoFace,
}

/// The engine's answer to one compare request (local or remote).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOutcome {
    /// "local" or "remote:<base url>".
    pub engine: String,
    pub search_mode: SearchMode,
    /// Best gallery score (Verifik's `result.score`); 0 when no gallery face was found.
    pub score: f64,
    pub threshold: f64,
    /// What the threshold means, e.g. "FMR 0.0099% [...] on 7,255,541 cross-identity LFW folds 1-5 impostor pairs (FAST ...)".
    pub threshold_basis: String,
    pub decision: Decision,
    pub probe_sha256: String,
    pub probe_face: Option<Face>,
    pub probe_faces_found: usize,
    pub gallery: Vec<GalleryResult>,
    pub liveness: Option<LivenessResult>,
    /// Match, and liveness passed when it was asked for.
    pub passed: bool,
    pub timings: Timings,
    pub models: Vec<ModelRef>,
    /// Fields the remote service returned that the station keeps (its `id` and `signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<serde_json::Value>,
    /// Capture quality of the probe and each gallery image, measured by the local engine on its
    /// own decode and detection (`None`: a remote engine, which reports none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<CompareQuality>,
}

/// The capture-quality measures of a compare's images (`vision::quality`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareQuality {
    /// Of the probe's chosen face.
    pub probe: QualityReport,
    /// In gallery order, of the face that was compared (else the largest); `None` for an image
    /// that could not be decoded.
    pub gallery: Vec<Option<QualityReport>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub id: String,
    pub role: String,
    pub sha256: String,
}

/// A liveness-only answer (the `liveness` command and endpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessOutcome {
    pub image_sha256: String,
    pub face: Face,
    pub faces_found: usize,
    pub liveness: LivenessResult,
    pub timings: Timings,
    pub models: Vec<ModelRef>,
}

/// Every front end (CLI, GUI, HTTP server) calls this; local and remote engines implement it.
pub trait Verifier: Send {
    fn compare(&mut self, request: &ValidRequest) -> Result<CompareOutcome, EngineError>;
    fn liveness(&mut self, image: &[u8], min_score: f64) -> Result<LivenessOutcome, EngineError>;
    /// A short name for status bars and records.
    fn name(&self) -> String;
}
