//! What the station's inference thread needs from an engine, as a trait: detect faces on a frame,
//! decode an image with the engine's limits (analysis), and compare ([`Verifier`]). The real one
//! is the local pipeline; tests pass a fake (`app::testing::FakeEngine`) through
//! [`EngineFactory`], so GUI tests need no models and give the same faces and scores every run.

use std::path::PathBuf;
use std::sync::Arc;

use image::RgbImage;

use super::SetupProblem;
use crate::engine::{EngineError, ImageRole, LocalVerifier, ModelRef, PipelineConfig, Verifier};
use crate::paths::StationPaths;
use crate::runtime::{RuntimeError, VerifiedModels, ORT_VERSION};
use crate::vision::Face;

pub trait StationEngine: Verifier {
    /// Decodes image bytes with the engine's limits (the same the compare applies).
    fn decode(&self, bytes: &[u8], role: ImageRole) -> Result<RgbImage, EngineError>;
    /// Every face the detector finds (the several-faces rule is applied by the caller).
    fn detect(&mut self, image: &RgbImage) -> Result<Vec<Face>, EngineError>;
    /// The models behind the engine, for the status bar.
    fn models(&self) -> Vec<ModelRef>;
}

impl StationEngine for LocalVerifier {
    fn decode(&self, bytes: &[u8], role: ImageRole) -> Result<RgbImage, EngineError> {
        self.pipeline.decode(bytes, role)
    }

    fn detect(&mut self, image: &RgbImage) -> Result<Vec<Face>, EngineError> {
        self.pipeline.detect(image)
    }

    fn models(&self) -> Vec<ModelRef> {
        self.pipeline.models().to_vec()
    }
}

/// An engine ready to run, and where it came from (for the status bar).
pub struct LoadedEngine {
    pub engine: Box<dyn StationEngine>,
    pub models_dir: PathBuf,
    pub ort_path: String,
    pub ort_version: &'static str,
}

/// Creates the engine on the inference thread (sessions are made where they are used).
pub type EngineFactory =
    Arc<dyn Fn(&StationPaths) -> Result<LoadedEngine, SetupProblem> + Send + Sync>;

/// The real engine: verifies the models `paths` names and creates the ONNX Runtime sessions.
pub fn local_engine(paths: &StationPaths) -> Result<LoadedEngine, SetupProblem> {
    let models = VerifiedModels::locate(paths.models.as_deref()).map_err(|e| setup_problem(&e))?;
    let verifier =
        LocalVerifier::load(&models, PipelineConfig::default()).map_err(|e| setup_problem(&e))?;
    Ok(LoadedEngine {
        engine: Box::new(verifier),
        models_dir: models.dir.clone(),
        ort_path: crate::runtime::ort_library_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        ort_version: ORT_VERSION,
    })
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
