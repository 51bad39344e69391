//! The local pipeline on ONNX Runtime: decode -> detect -> choose face -> align -> embed -> score,
//! and liveness on the probe.
//!
//! The engine owns one or more recognisers (from the manifest). Each mode runs a [`Plan`]: one
//! recogniser with its views, a fusion of two, or a cascade (a fast recogniser first, a stronger
//! one only when the first's score is near the threshold). A descriptor carries its model's sha256
//! and descriptors of different models are never compared.

use std::time::Instant;

use image::RgbImage;

mod compare;

use super::{
    CompareOutcome, EngineError, ImageRole, LivenessOutcome, ModelRef, ScoreSource, Timings,
    Verifier,
};
use crate::api::{SearchMode, ValidRequest};
use crate::digest::sha256_hex;
use crate::runtime::{Metric, RuntimeError, VerifiedModels, RECOGNISER_ROLE};
use crate::vision::liveness::LivenessResult;
use crate::vision::quality::{QualityAssessor, QualityThresholds};
use crate::vision::recognise::{Embedding, Recogniser};
use crate::vision::{
    decode_image, DecodeLimits, Detector, DetectorConfig, Face, LivenessModels, VisionError,
};

pub use super::plan::{
    accurate_plan, fast_plan, Combine, FaceDescriptors, PairScore, Plan, Scoring, Stage,
    StageScore, DLIB_INT8, FAST_CASCADE_BAND, REID,
};
pub use crate::vision::recognise::ChipView;

/// Which face of an image counts when the detector finds several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FacePolicy {
    /// Several faces are an error (the probe's default: who is being verified must be unambiguous).
    RefuseSeveral,
    /// The largest face.
    Largest,
    /// The face nearest the image centre (benchmark images such as LFW are centred on the subject).
    Centre,
}

/// A face counts as "another face" for [`FacePolicy::RefuseSeveral`] when its box is at least this
/// fraction of the largest face's width: small faces far in the background do not block a selfie.
pub const SEVERAL_FACES_MIN_RELATIVE_SIZE: f32 = 1.0 / 3.0;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub detector: DetectorConfig,
    pub limits: DecodeLimits,
    /// ONNX Runtime intra-op threads of each recogniser session.
    pub embed_threads: usize,
    pub detect_threads: usize,
    pub fast: Plan,
    pub accurate: Plan,
    /// Recognisers to load besides the modes' (ids or aliases; `eval` candidates).
    pub extra_recognisers: Vec<String>,
    /// Pipelines (each with its own sessions) a compare runs its images on, side by side; 1 for
    /// a tool that drives [`LocalVerifier::pipeline`] itself or runs several engines already.
    pub pipelines: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            detector: DetectorConfig::default(),
            limits: DecodeLimits::default(),
            embed_threads: 1,
            detect_threads: 1,
            fast: fast_plan(),
            accurate: accurate_plan(),
            extra_recognisers: Vec::new(),
            pipelines: super::parallel::default_pipelines(),
        }
    }
}

impl PipelineConfig {
    pub fn plan(&self, mode: SearchMode) -> &Plan {
        match mode {
            SearchMode::Fast => &self.fast,
            SearchMode::Accurate => &self.accurate,
        }
    }
}

pub struct Pipeline {
    detector: Detector,
    recognisers: Vec<Recogniser>,
    liveness: LivenessModels,
    /// Capture quality of each compared image, on the decode and detection already done.
    quality: QualityAssessor,
    models: Vec<ModelRef>,
    config: PipelineConfig,
}

impl Pipeline {
    /// Creates the detector, liveness and recogniser sessions from a verified models folder:
    /// the recognisers the two modes use and `config.extra_recognisers`.
    pub fn load(models: &VerifiedModels, config: PipelineConfig) -> Result<Self, RuntimeError> {
        let detector_entry = models.entry("detector")?;
        let detector = Detector::new(
            models.session_for(detector_entry, config.detect_threads)?,
            config.detector,
        );
        let mut wanted: Vec<String> = Vec::new();
        for plan in [&config.fast, &config.accurate] {
            for (stage, _) in &plan.stages {
                wanted.push(stage.recogniser.clone());
            }
        }
        wanted.extend(config.extra_recognisers.iter().cloned());
        let mut used = vec![detector_entry.clone()];
        let mut recognisers: Vec<Recogniser> = Vec::new();
        for name in &wanted {
            let entry = models.recogniser(name)?;
            if recognisers.iter().any(|r| *r.tag().id == *entry.id) {
                continue;
            }
            let session = models.session_for(entry, config.embed_threads)?;
            let r = Recogniser::new(session, entry).map_err(|e| RuntimeError::Session {
                file: entry.file.clone(),
                reason: e.to_string(),
            })?;
            used.push(entry.clone());
            recognisers.push(r);
        }
        let (v2, v1se) = (models.entry("liveness_v2")?, models.entry("liveness_v1se")?);
        let liveness =
            LivenessModels::new(models.session_for(v2, 1)?, models.session_for(v1se, 1)?);
        used.push(v2.clone());
        used.push(v1se.clone());
        let quality = QualityAssessor::load(models, QualityThresholds::default())?;
        used.push(models.entry("head_pose")?.clone());
        let refs = used
            .iter()
            .map(|e| ModelRef {
                id: e.id.clone(),
                role: e.role.clone(),
                sha256: e.sha256.clone(),
            })
            .collect();
        let mut config = config;
        // Plans name recognisers by id from here on (an alias on a command line is resolved once).
        for plan in [&mut config.fast, &mut config.accurate] {
            for (stage, _) in plan.stages.iter_mut() {
                stage.recogniser = models.recogniser(&stage.recogniser)?.id.clone();
            }
        }
        debug_assert!(
            used.iter().filter(|e| e.role == RECOGNISER_ROLE).count() == recognisers.len()
        );
        Ok(Self {
            detector,
            recognisers,
            liveness,
            quality,
            models: refs,
            config,
        })
    }

    /// The models this engine loaded (detector, recognisers, liveness), with their sha256.
    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn plan(&self, mode: SearchMode) -> &Plan {
        self.config.plan(mode)
    }

    /// The loaded recogniser with this id or alias.
    pub fn recogniser(&self, name: &str) -> Option<&Recogniser> {
        self.recognisers
            .iter()
            .find(|r| *r.tag().id == *name || r.spec().alias == name)
    }

    fn recogniser_mut(&mut self, name: &str) -> Result<&mut Recogniser, VisionError> {
        self.recognisers
            .iter_mut()
            .find(|r| *r.tag().id == *name || r.spec().alias == name)
            .ok_or_else(|| {
                VisionError::UnexpectedOutput(format!("recogniser {name} is not loaded"))
            })
    }

    pub fn decode(&self, bytes: &[u8], role: ImageRole) -> Result<RgbImage, EngineError> {
        decode_image(bytes, &self.config.limits)
            .map_err(|source| EngineError::Decode { role, source })
    }

    pub fn detect(&mut self, img: &RgbImage) -> Result<Vec<Face>, EngineError> {
        Ok(self.detector.detect(img)?)
    }

    /// Applies `policy` to the detector's faces. Returns the chosen face and how many faces counted.
    pub fn choose_face(
        faces: &[Face],
        policy: FacePolicy,
        role: ImageRole,
        size: (u32, u32),
    ) -> Result<(Face, usize), EngineError> {
        let largest = faces
            .iter()
            .copied()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
            .ok_or(EngineError::NoFace(role))?;
        let counted = faces
            .iter()
            .filter(|f| f.bbox.width >= largest.bbox.width * SEVERAL_FACES_MIN_RELATIVE_SIZE)
            .count();
        match policy {
            FacePolicy::RefuseSeveral if counted > 1 => Err(EngineError::SeveralFaces {
                role,
                count: counted,
            }),
            FacePolicy::RefuseSeveral | FacePolicy::Largest => Ok((largest, counted)),
            FacePolicy::Centre => {
                let (cx, cy) = (size.0 as f32 / 2.0, size.1 as f32 / 2.0);
                let d = |f: &Face| {
                    let (x, y) = f.bbox.centre();
                    (x - cx).powi(2) + (y - cy).powi(2)
                };
                let best = faces
                    .iter()
                    .copied()
                    .min_by(|a, b| d(a).total_cmp(&d(b)))
                    .ok_or(EngineError::NoFace(role))?;
                Ok((best, counted))
            }
        }
    }

    /// Descriptors of several faces of one image for one stage (recogniser and views), in one batch.
    pub fn describe_stage(
        &mut self,
        img: &RgbImage,
        faces: &[Face],
        stage: &Stage,
    ) -> Result<Vec<Embedding>, EngineError> {
        let r = self.recogniser_mut(&stage.recogniser)?;
        Ok(r.describe(img, faces, stage.views)?)
    }

    /// The eager stages of `mode`'s plan for each face (see [`Plan::eager`]).
    pub fn describe(
        &mut self,
        img: &RgbImage,
        faces: &[Face],
        mode: SearchMode,
    ) -> Result<Vec<FaceDescriptors>, EngineError> {
        let plan = self.plan(mode).clone();
        let mut out: Vec<FaceDescriptors> = vec![vec![None; plan.stages.len()]; faces.len()];
        for i in 0..plan.eager() {
            let descs = self.describe_stage(img, faces, &plan.stages[i].0)?;
            if descs.len() != faces.len() {
                return Err(VisionError::DegenerateFace.into());
            }
            for (slot, d) in out.iter_mut().zip(descs) {
                slot[i] = Some(d);
            }
        }
        Ok(out)
    }

    pub fn liveness(
        &mut self,
        img: &RgbImage,
        face: &Face,
        min_score: f64,
    ) -> Result<LivenessResult, EngineError> {
        Ok(self.liveness.judge(img, &face.bbox, min_score)?)
    }

    /// What the record says about a score's stages.
    pub fn sources(&self, plan: &Plan, s: &PairScore) -> Vec<ScoreSource> {
        s.used
            .iter()
            .map(|u| {
                let (stage, calibration) = &plan.stages[u.stage];
                let sha256 = self
                    .recogniser(&stage.recogniser)
                    .map(|r| r.tag().sha256.to_string())
                    .unwrap_or_default();
                ScoreSource {
                    id: stage.recogniser.clone(),
                    sha256,
                    views: stage.views.as_str().to_string(),
                    metric: calibration.metric,
                    raw: u.raw,
                    calibration: *calibration,
                }
            })
            .collect()
    }
}

/// The distance-like value of a raw metric (lower = more alike): Euclidean distance, or
/// 1 - cosine. Records keep it as `distance`.
pub fn distance_of(metric: Metric, raw: f64) -> f64 {
    match metric {
        Metric::Euclidean => raw,
        Metric::Cosine => 1.0 - raw,
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The local engine: a [`Pipeline`] behind the [`Verifier`] trait, and `config.pipelines - 1`
/// more (their own sessions) that a compare's jobs run on side by side
/// ([`super::parallel::run_jobs`]).
pub struct LocalVerifier {
    /// The first pipeline: evaluation and benchmarks drive it directly, one image at a time.
    pub pipeline: Pipeline,
    helpers: Vec<Pipeline>,
}

impl LocalVerifier {
    pub fn new(pipeline: Pipeline) -> Self {
        Self {
            pipeline,
            helpers: Vec::new(),
        }
    }

    /// Loads `config.pipelines` pipelines, in parallel (loading is mostly session creation).
    pub fn load(models: &VerifiedModels, config: PipelineConfig) -> Result<Self, RuntimeError> {
        let extra = config.pipelines.max(1) - 1;
        let (first, helpers) = std::thread::scope(|s| {
            let loading: Vec<_> = (0..extra)
                .map(|_| s.spawn(|| Pipeline::load(models, config.clone())))
                .collect();
            let first = Pipeline::load(models, config.clone());
            let helpers: Vec<_> = loading
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect();
            (first, helpers)
        });
        Ok(Self {
            pipeline: first?,
            helpers: helpers.into_iter().collect::<Result<_, _>>()?,
        })
    }

    /// How many pipelines a compare runs on.
    pub fn pipelines(&self) -> usize {
        1 + self.helpers.len()
    }
}

impl Verifier for LocalVerifier {
    fn name(&self) -> String {
        "local".into()
    }

    fn compare(&mut self, request: &ValidRequest) -> Result<CompareOutcome, EngineError> {
        compare::compare(self, request)
    }

    fn liveness(&mut self, image: &[u8], min_score: f64) -> Result<LivenessOutcome, EngineError> {
        let start = Instant::now();
        let mut timings = Timings::default();
        let p = &mut self.pipeline;
        let t = Instant::now();
        let img = p.decode(image, ImageRole::Probe)?;
        timings.decode_ms = ms(t);
        let t = Instant::now();
        let faces = p.detect(&img)?;
        timings.detect_ms = ms(t);
        let (face, _) = Pipeline::choose_face(
            &faces,
            FacePolicy::RefuseSeveral,
            ImageRole::Probe,
            img.dimensions(),
        )?;
        let t = Instant::now();
        let liveness = p.liveness(&img, &face, min_score)?;
        timings.liveness_ms = ms(t);
        timings.total_ms = ms(start);
        Ok(LivenessOutcome {
            image_sha256: sha256_hex(image),
            face,
            faces_found: faces.len(),
            liveness,
            timings,
            models: p.models().to_vec(),
        })
    }
}
