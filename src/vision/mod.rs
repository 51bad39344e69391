//! Everything that looks at pixels: decode, detect, align, recognise, liveness, quality.

pub mod align;
pub mod decode;
pub mod detect;
pub mod liveness;
pub mod pose;
pub mod quality;
pub mod recognise;
pub mod resample;

pub use decode::{decode_image, DecodeError, DecodeLimits};
pub use detect::{BoundingBox, Detector, DetectorConfig, Face};
pub use liveness::{LivenessModels, LivenessVerdict};
pub use recognise::{Embedding, ModelMismatch, Recogniser, Views};

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("unexpected model output: {0}")]
    UnexpectedOutput(String),
    #[error("face geometry is degenerate (landmarks collapse to a point)")]
    DegenerateFace,
}

impl From<ort::Error> for VisionError {
    fn from(e: ort::Error) -> Self {
        VisionError::Inference(e.to_string())
    }
}
