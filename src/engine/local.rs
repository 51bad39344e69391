//! The local pipeline on ONNX Runtime: decode -> detect -> choose face -> align -> embed -> score,
//! and liveness on the probe.
//!
//! The engine owns one or more recognisers (from the manifest). Each mode runs a [`Plan`]: one
//! recogniser with its views, a fusion of two, or a cascade (a fast recogniser first, a stronger
//! one only when the first's score is near the threshold). A descriptor carries its model's sha256
//! and descriptors of different models are never compared.

use std::time::Instant;

use image::RgbImage;

use super::parallel::run_jobs;
use super::score::{default_threshold, threshold_basis};
use super::{
    CompareOutcome, CompareQuality, Decision, EngineError, GalleryResult, ImageRole,
    LivenessOutcome, ModelRef, ScoreSource, Timings, Verifier,
};
use crate::api::{SearchMode, ValidRequest};
use crate::digest::sha256_hex;
use crate::runtime::{Metric, RuntimeError, VerifiedModels, RECOGNISER_ROLE};
use crate::vision::liveness::LivenessResult;
use crate::vision::quality::{QualityAssessor, QualityReport, QualityThresholds};
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

/// One image's decoded faces and their descriptors under a plan, filled on demand.
struct Described {
    faces: Vec<Face>,
    descs: Vec<FaceDescriptors>,
}

impl Pipeline {
    /// Fills stage `i` of the given faces (a cascade's second stage) if missing.
    fn fill_stage(
        &mut self,
        img: &RgbImage,
        d: &mut Described,
        which: &[usize],
        plan: &Plan,
        i: usize,
    ) -> Result<(), EngineError> {
        let missing: Vec<usize> = which
            .iter()
            .copied()
            .filter(|&k| d.descs[k][i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let faces: Vec<Face> = missing.iter().map(|&k| d.faces[k]).collect();
        let descs = self.describe_stage(img, &faces, &plan.stages[i].0)?;
        if descs.len() != faces.len() {
            return Err(VisionError::DegenerateFace.into());
        }
        for (k, e) in missing.into_iter().zip(descs) {
            d.descs[k][i] = Some(e);
        }
        Ok(())
    }
}

/// Scores one probe face against each face of a gallery image, running a cascade's later stage
/// for the faces (and the probe) that need it. Returns the best face's index and its score.
fn score_gallery(
    p: &mut Pipeline,
    plan: &Plan,
    probe_img: &RgbImage,
    probe: &mut Described,
    img: &RgbImage,
    gallery: &mut Described,
) -> Result<Option<(usize, PairScore)>, EngineError> {
    let mut best: Option<(usize, PairScore)> = None;
    for k in 0..gallery.faces.len() {
        let score = loop {
            match plan.score(&probe.descs[0], &gallery.descs[k]) {
                Ok(Scoring::Done(s)) => break s,
                Ok(Scoring::Needs(i)) => {
                    if probe.descs[0][i].is_some() && gallery.descs[k][i].is_some() {
                        return Err(VisionError::DegenerateFace.into());
                    }
                    p.fill_stage(probe_img, probe, &[0], plan, i)?;
                    p.fill_stage(img, gallery, &[k], plan, i)?;
                }
                Err(e) => return Err(VisionError::UnexpectedOutput(e.to_string()).into()),
            }
        };
        if best.as_ref().is_none_or(|(_, b)| score.score > b.score) {
            best = Some((k, score));
        }
    }
    Ok(best)
}

/// One image of a request, decoded, with every face the detector found.
struct Found {
    img: RgbImage,
    faces: Vec<Face>,
    decode_ms: f64,
    detect_ms: f64,
}

impl Pipeline {
    /// Decodes one image of a request and detects its faces.
    fn find(&mut self, bytes: &[u8], role: ImageRole) -> Result<Found, EngineError> {
        let t = Instant::now();
        let img = self.decode(bytes, role)?;
        let decode_ms = ms(t);
        let t = Instant::now();
        let faces = self.detect(&img)?;
        Ok(Found {
            img,
            faces,
            decode_ms,
            detect_ms: ms(t),
        })
    }
}

/// A job of a compare once its images are detected. `image` is 0 for the probe and i + 1 for
/// gallery image i.
enum Job<'a> {
    Liveness {
        img: &'a RgbImage,
        face: Face,
        min: f64,
    },
    /// Capture quality of `subject` (else of the largest face) among all the image's faces.
    Quality {
        image: usize,
        found: &'a Found,
        subject: Option<Face>,
    },
    /// One plan stage's descriptors of some faces of an image, for those faces' `slots`.
    Describe {
        image: usize,
        img: &'a RgbImage,
        faces: Vec<Face>,
        slots: Vec<usize>,
        stage: usize,
    },
}

/// What a job produced, with where it goes, and the milliseconds it took.
enum Output {
    Liveness(LivenessResult),
    Quality {
        image: usize,
        report: QualityReport,
    },
    Describe {
        image: usize,
        slots: Vec<usize>,
        stage: usize,
        descs: Vec<Embedding>,
    },
}

impl Job<'_> {
    fn run(&self, p: &mut Pipeline, plan: &Plan) -> Result<(Output, f64), EngineError> {
        let t = Instant::now();
        let out = match self {
            Job::Liveness { img, face, min } => Output::Liveness(p.liveness(img, face, *min)?),
            Job::Quality {
                image,
                found,
                subject,
            } => Output::Quality {
                image: *image,
                report: match subject {
                    Some(f) => p.quality.assess_subject(&found.img, &found.faces, Some(f)),
                    None => p.quality.assess(&found.img, &found.faces),
                },
            },
            Job::Describe {
                image,
                img,
                faces,
                slots,
                stage,
            } => Output::Describe {
                image: *image,
                slots: slots.clone(),
                stage: *stage,
                descs: p.describe_stage(img, faces, &plan.stages[*stage].0)?,
            },
        };
        Ok((out, ms(t)))
    }
}

/// Puts each job's output where it belongs and adds its time to its stage; the first failure
/// in job order is the compare's answer.
fn place(
    done: Vec<Result<(Output, f64), EngineError>>,
    described: &mut [Option<Described>],
    quality: &mut [Option<QualityReport>],
    liveness: &mut Option<LivenessResult>,
    timings: &mut Timings,
) -> Result<(), EngineError> {
    for result in done {
        match result? {
            (Output::Liveness(l), took) => {
                timings.liveness_ms += took;
                *liveness = Some(l);
            }
            (Output::Quality { image, report }, took) => {
                timings.quality_ms += took;
                if let Some(slot) = quality.get_mut(image) {
                    *slot = Some(report);
                }
            }
            (
                Output::Describe {
                    image,
                    slots,
                    stage,
                    descs,
                },
                took,
            ) => {
                timings.embed_ms += took;
                let set = described.get_mut(image).and_then(Option::as_mut);
                match set {
                    Some(set) if descs.len() == slots.len() => {
                        for (k, e) in slots.into_iter().zip(descs) {
                            if let Some(slot) = set.descs.get_mut(k).and_then(|d| d.get_mut(stage))
                            {
                                *slot = Some(e);
                            }
                        }
                    }
                    _ => return Err(VisionError::DegenerateFace.into()),
                }
            }
        }
    }
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The local engine: a [`Pipeline`] behind the [`Verifier`] trait, and `config.pipelines - 1`
/// more (their own sessions) that a compare's jobs run on side by side ([`run_jobs`]).
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
        let start = Instant::now();
        let mut timings = Timings::default();
        let mode = request.search_mode;
        let plan = self.pipeline.plan(mode).clone();
        let mut pipes: Vec<&mut Pipeline> = std::iter::once(&mut self.pipeline)
            .chain(self.helpers.iter_mut())
            .collect();

        // 1. Decode and detect every image, side by side.
        let inputs: Vec<(ImageRole, &[u8])> =
            std::iter::once((ImageRole::Probe, &request.probe[..]))
                .chain(
                    request
                        .gallery
                        .iter()
                        .enumerate()
                        .map(|(i, b)| (ImageRole::Gallery(i), &b[..])),
                )
                .collect();
        let mut found = run_jobs(&mut pipes, &inputs, |p, (role, bytes)| p.find(bytes, *role));
        for f in found.iter().flatten() {
            timings.decode_ms += f.decode_ms;
            timings.detect_ms += f.detect_ms;
        }
        let probe = found.remove(0)?;
        let policy = if request.largest_probe_face {
            FacePolicy::Largest
        } else {
            FacePolicy::RefuseSeveral
        };
        let (probe_face, _) = Pipeline::choose_face(
            &probe.faces,
            policy,
            ImageRole::Probe,
            probe.img.dimensions(),
        )?;
        // One bad gallery file does not abort the compare: it is named in the outcome.
        let mut unreadable: Vec<Option<String>> = Vec::with_capacity(found.len());
        let mut images: Vec<Option<Found>> = Vec::with_capacity(found.len());
        for f in found {
            match f {
                Ok(f) => {
                    unreadable.push(None);
                    images.push(Some(f));
                }
                Err(EngineError::Decode { source, .. }) => {
                    unreadable.push(Some(source.to_string()));
                    images.push(None);
                }
                Err(e) => return Err(e),
            }
        }

        // 2. Liveness, quality and the plan's eager descriptors of every image, side by side.
        // Image 0 is the probe (its one chosen face), image i + 1 gallery image i (all its faces).
        let all: Vec<Option<(&RgbImage, Vec<Face>)>> =
            std::iter::once(Some((&probe.img, vec![probe_face])))
                .chain(
                    images
                        .iter()
                        .map(|g| g.as_ref().map(|g| (&g.img, g.faces.clone()))),
                )
                .collect();
        let mut jobs = Vec::new();
        for stage in 0..plan.eager() {
            for (image, f) in all.iter().enumerate() {
                if let Some((img, faces)) = f.as_ref().filter(|(_, faces)| !faces.is_empty()) {
                    jobs.push(Job::Describe {
                        image,
                        img,
                        faces: faces.clone(),
                        slots: (0..faces.len()).collect(),
                        stage,
                    });
                }
            }
        }
        if let Some(min) = request.liveness_min_score {
            jobs.push(Job::Liveness {
                img: &probe.img,
                face: probe_face,
                min,
            });
        }
        jobs.push(Job::Quality {
            image: 0,
            found: &probe,
            subject: Some(probe_face),
        });
        for (i, g) in images.iter().enumerate() {
            // A gallery image with several faces is measured once its best match is known (4.).
            if let Some(g) = g.as_ref().filter(|g| g.faces.len() <= 1) {
                jobs.push(Job::Quality {
                    image: i + 1,
                    found: g,
                    subject: g.faces.first().copied(),
                });
            }
        }
        let mut described: Vec<Option<Described>> = all
            .iter()
            .map(|f| {
                f.as_ref().map(|(_, faces)| Described {
                    faces: faces.clone(),
                    descs: vec![vec![None; plan.stages.len()]; faces.len()],
                })
            })
            .collect();
        let mut quality: Vec<Option<QualityReport>> = vec![None; all.len()];
        let mut liveness = None;
        let done = run_jobs(&mut pipes, &jobs, |p, job| job.run(p, &plan));
        place(
            done,
            &mut described,
            &mut quality,
            &mut liveness,
            &mut timings,
        )?;

        // 3. A cascade's later stage, for the probe and the gallery faces whose first score needs
        // it, side by side.
        let mut needs: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
        if let Some(Some(p)) = described.first() {
            for (i, g) in described.iter().enumerate().skip(1) {
                for k in 0..g.as_ref().map_or(0, |g| g.faces.len()) {
                    let Some(g) = g else { break };
                    if let Ok(Scoring::Needs(stage)) = plan.score(&p.descs[0], &g.descs[k]) {
                        needs.entry((0, stage)).or_default();
                        needs.entry((i, stage)).or_default().push(k);
                    }
                }
            }
        }
        let jobs: Vec<Job> = needs
            .into_iter()
            .filter_map(|((image, stage), slots)| {
                let (img, faces) = all.get(image)?.as_ref()?;
                let slots = if image == 0 { vec![0] } else { slots };
                Some(Job::Describe {
                    image,
                    img,
                    faces: slots.iter().map(|&k| faces[k]).collect(),
                    slots,
                    stage,
                })
            })
            .collect();
        let done = run_jobs(&mut pipes, &jobs, |p, job| job.run(p, &plan));
        place(
            done,
            &mut described,
            &mut quality,
            &mut liveness,
            &mut timings,
        )?;

        // Scores (the best face of each gallery image; anything still missing is filled here).
        let threshold = request
            .compare_min_score
            .unwrap_or_else(|| default_threshold(mode));
        let mut probe_set = described
            .first_mut()
            .and_then(Option::take)
            .ok_or(EngineError::NoFace(ImageRole::Probe))?;
        let mut best_of: Vec<Option<(usize, PairScore)>> = Vec::with_capacity(images.len());
        let t = Instant::now();
        for (i, g) in images.iter().enumerate() {
            best_of.push(
                match (g, described.get_mut(i + 1).and_then(Option::as_mut)) {
                    (Some(g), Some(set)) => score_gallery(
                        &mut *pipes[0],
                        &plan,
                        &probe.img,
                        &mut probe_set,
                        &g.img,
                        set,
                    )?,
                    _ => None,
                },
            );
        }
        timings.embed_ms += ms(t);

        // 4. Quality of gallery images with several faces, of the face that matched best.
        let jobs: Vec<Job> = images
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let g = g.as_ref().filter(|g| g.faces.len() > 1)?;
                Some(Job::Quality {
                    image: i + 1,
                    found: g,
                    subject: best_of[i].as_ref().map(|(k, _)| g.faces[*k]),
                })
            })
            .collect();
        let done = run_jobs(&mut pipes, &jobs, |p, job| job.run(p, &plan));
        place(
            done,
            &mut described,
            &mut quality,
            &mut liveness,
            &mut timings,
        )?;

        let mut gallery = Vec::with_capacity(request.gallery.len());
        let mut gallery_quality = Vec::with_capacity(request.gallery.len());
        for (index, bytes) in request.gallery.iter().enumerate() {
            let faces_found = images[index].as_ref().map_or(0, |g| g.faces.len());
            let (face, score, distance, sources) = match &best_of[index] {
                Some((k, s)) => {
                    let last = s.used.last().copied();
                    let distance = last.map(|u| distance_of(plan.stages[u.stage].1.metric, u.raw));
                    (
                        images[index].as_ref().map(|g| g.faces[*k]),
                        Some(s.score),
                        distance,
                        pipes[0].sources(&plan, s),
                    )
                }
                None => (None, None, None, Vec::new()),
            };
            gallery_quality.push(quality[index + 1].take());
            gallery.push(GalleryResult {
                index,
                sha256: sha256_hex(bytes),
                faces_found,
                face,
                score,
                distance,
                passed: score.map(|s| s >= threshold),
                error: unreadable[index].take(),
                reported: true,
                recognisers: sources,
            });
        }
        let best = gallery
            .iter()
            .filter_map(|g| g.score)
            .max_by(|a, b| a.total_cmp(b));
        let decision = match best {
            None => Decision::NoFace,
            Some(s) if s >= threshold => Decision::Match,
            Some(_) => Decision::NoMatch,
        };
        let live_ok = liveness
            .as_ref()
            .is_none_or(|l: &LivenessResult| l.passed() == Some(true));
        let probe_quality = quality[0]
            .take()
            .ok_or_else(|| VisionError::UnexpectedOutput("probe quality not measured".into()))?;
        timings.total_ms = ms(start);
        Ok(CompareOutcome {
            engine: self.name(),
            search_mode: mode,
            score: best.unwrap_or(0.0),
            threshold,
            threshold_basis: if request.compare_min_score.is_some() {
                "compare_min_score from the request".into()
            } else {
                threshold_basis(mode)
            },
            decision,
            probe_sha256: sha256_hex(&request.probe),
            probe_face: Some(probe_face),
            probe_faces_found: probe.faces.len(),
            gallery,
            liveness,
            passed: decision == Decision::Match && live_ok,
            timings,
            models: self.pipeline.models().to_vec(),
            remote: None,
            quality: Some(CompareQuality {
                probe: probe_quality,
                gallery: gallery_quality,
            }),
        })
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
