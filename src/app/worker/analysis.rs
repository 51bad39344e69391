//! Analysis of a probe or gallery image on the inference thread: decode (the engine's limits),
//! detect, the badge the gallery and probe panels show, and a display copy.

use std::sync::Arc;
use std::time::Instant;

use eframe::egui::ColorImage;
use image::RgbImage;

use super::engine::StationEngine;
use super::{AnalysisError, Input};
use crate::app::clock::{ms_since, Clock};
use crate::app::image::display_copy;
use crate::engine::local::SEVERAL_FACES_MIN_RELATIVE_SIZE;
use crate::engine::{EngineError, FacePolicy, ImageRole, Pipeline};
use crate::vision::quality::{hints, QualityHint};
use crate::vision::{decode_image, DecodeLimits, Face};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    Ok,
    NoFace,
    SeveralFaces,
    Unreadable,
    /// Decoded, but no local engine looked for faces (remote mode without local models).
    NotChecked,
}

impl Badge {
    pub fn label(&self) -> &'static str {
        match self {
            Badge::Ok => "ok",
            Badge::NoFace => "no face",
            Badge::SeveralFaces => "several faces",
            Badge::Unreadable => "unreadable",
            Badge::NotChecked => "faces not checked",
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

/// The faces that count under the engine's several-faces rule (small background faces do not).
pub fn counted_faces(faces: &[Face]) -> Vec<Face> {
    let Some(largest) = faces
        .iter()
        .map(|f| f.bbox.width)
        .max_by(|a, b| a.total_cmp(b))
    else {
        return Vec::new();
    };
    faces
        .iter()
        .filter(|f| f.bbox.width >= largest * SEVERAL_FACES_MIN_RELATIVE_SIZE)
        .copied()
        .collect()
}

fn decode_error(e: EngineError) -> AnalysisError {
    AnalysisError(match e {
        EngineError::Decode { source, .. } => source.to_string(),
        other => other.to_string(),
    })
}

/// Decodes and (with an engine) detects; without an engine the image is only decoded, with the
/// default limits, so that remote mode can still show and send it.
pub fn analyse(
    engine: Option<&mut (dyn StationEngine + 'static)>,
    input: Input,
    display_side: u32,
    redact: bool,
    clock: &dyn Clock,
) -> Result<Analysis, AnalysisError> {
    let t: Instant = clock.now();
    let image = match (&input, &engine) {
        (Input::Frame(img), _) => img.clone(),
        (Input::Bytes(bytes), Some(e)) => {
            Arc::new(e.decode(bytes, ImageRole::Image).map_err(decode_error)?)
        }
        (Input::Bytes(bytes), None) => Arc::new(
            decode_image(bytes, &DecodeLimits::default())
                .map_err(|e| AnalysisError(e.to_string()))?,
        ),
    };
    let (faces, badge) = match engine {
        Some(e) => {
            let faces = e.detect(&image).map_err(|e| AnalysisError(e.to_string()))?;
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
            (faces, badge)
        }
        None => (Vec::new(), Badge::NotChecked),
    };
    let hints = if badge == Badge::NotChecked {
        Vec::new()
    } else {
        hints(&image, &counted_faces(&faces))
    };
    let (display, display_scale) = display_copy(&image, display_side, redact);
    Ok(Analysis {
        hints,
        image,
        faces,
        badge,
        display,
        display_scale,
        ms: ms_since(clock, t),
    })
}
