//! The local pipeline on ONNX Runtime: decode -> detect -> choose face -> align -> embed -> score,
//! and liveness on the probe.

use std::time::Instant;

use image::RgbImage;

use super::score::{default_threshold, distance_to_score, threshold_basis};
use super::{
    CompareOutcome, Decision, EngineError, GalleryResult, ImageRole, LivenessOutcome, ModelRef,
    Timings, Verifier,
};
use crate::api::{SearchMode, ValidRequest};
use crate::digest::sha256_hex;
use crate::runtime::{RuntimeError, VerifiedModels};
use crate::vision::align::{mirror_chip, warp_chip, Similarity, CHIP_SIZE, TEMPLATE_FITTED};
use crate::vision::liveness::LivenessResult;
use crate::vision::{
    decode_image, DecodeLimits, Descriptor, Detector, DetectorConfig, Embedder, Face,
    LivenessModels, VisionError,
};

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

/// One aligned view of a face fed to the embedder: a jitter in chip space and an optional mirror.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipView {
    pub jitter: Similarity,
    pub mirror: bool,
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub detector: DetectorConfig,
    pub limits: DecodeLimits,
    pub template: [[f32; 2]; 5],
    pub embed_threads: usize,
    pub detect_threads: usize,
    /// Views averaged per face in each mode.
    pub fast_views: Vec<ChipView>,
    pub accurate_views: Vec<ChipView>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            detector: DetectorConfig::default(),
            limits: DecodeLimits::default(),
            template: TEMPLATE_FITTED,
            embed_threads: 1,
            detect_threads: 1,
            fast_views: fast_views(),
            accurate_views: accurate_views(),
        }
    }
}

/// FAST: the chip and its mirror, averaged (one batch of 2). Flip test-time augmentation took LFW
/// folds 1-5 from 98.67% (plain chip) to 99.13% for about 3.5 ms a face (README "Accuracy").
pub fn fast_views() -> Vec<ChipView> {
    let id = Similarity::identity();
    vec![
        ChipView {
            jitter: id,
            mirror: false,
        },
        ChipView {
            jitter: id,
            mirror: true,
        },
    ]
}

/// ACCURATE: FAST's two views plus the chip rotated by +-5 degrees about its centre, each mirrored
/// (6 views). Chosen among scale, shift and rotation jitters on LFW folds 1-5 (README "Accuracy").
pub fn accurate_views() -> Vec<ChipView> {
    let mut views = fast_views();
    for degrees in [5.0, -5.0] {
        let jitter = Similarity::chip_jitter(degrees, 1.0, 0.0, 0.0);
        views.push(ChipView {
            jitter,
            mirror: false,
        });
        views.push(ChipView {
            jitter,
            mirror: true,
        });
    }
    views
}

pub struct Pipeline {
    detector: Detector,
    embedder: Embedder,
    liveness: LivenessModels,
    models: Vec<ModelRef>,
    config: PipelineConfig,
    chips: Vec<f32>,
}

impl Pipeline {
    /// Creates the four ONNX Runtime sessions from a verified models folder.
    pub fn load(models: &VerifiedModels, config: PipelineConfig) -> Result<Self, RuntimeError> {
        let detector = Detector::new(
            models.session("detector", config.detect_threads)?,
            config.detector,
        );
        let embedder = Embedder::new(models.session("embedder", config.embed_threads)?);
        let liveness = LivenessModels::new(
            models.session("liveness_v2", 1)?,
            models.session("liveness_v1se", 1)?,
        );
        let refs = models
            .entries
            .iter()
            .map(|e| ModelRef {
                id: e.id.clone(),
                role: e.role.clone(),
                sha256: e.sha256.clone(),
            })
            .collect();
        Ok(Self {
            detector,
            embedder,
            liveness,
            models: refs,
            config,
            chips: Vec::new(),
        })
    }

    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
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

    /// The image-to-chip similarity for a face's five landmarks.
    pub fn alignment(&self, face: &Face) -> Result<Similarity, VisionError> {
        Similarity::estimate(&face.landmarks, &self.config.template)
            .ok_or(VisionError::DegenerateFace)
    }

    /// Descriptors of several faces of one image, each the mean over the mode's views, in one batch.
    pub fn describe(
        &mut self,
        img: &RgbImage,
        faces: &[Face],
        mode: SearchMode,
    ) -> Result<Vec<Descriptor>, EngineError> {
        let views: Vec<ChipView> = match mode {
            SearchMode::Fast => self.config.fast_views.clone(),
            SearchMode::Accurate => self.config.accurate_views.clone(),
        };
        let per_chip = 3 * CHIP_SIZE * CHIP_SIZE;
        let n = faces.len() * views.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        self.chips.clear();
        self.chips.resize(n * per_chip, 0.0);
        let mut k = 0;
        for face in faces {
            let m = self.alignment(face)?;
            for (i, v) in views.iter().enumerate() {
                let (done, rest) = self.chips.split_at_mut(k * per_chip);
                let chip = &mut rest[..per_chip];
                // A mirrored view of a view already warped is a copy, not a second warp.
                let twin = views[..i]
                    .iter()
                    .position(|p| p.jitter == v.jitter && p.mirror != v.mirror);
                match twin {
                    Some(j) => {
                        let start = (k - i + j) * per_chip;
                        mirror_chip(&done[start..start + per_chip], chip);
                    }
                    None => {
                        if !warp_chip(img, &v.jitter.after(&m), v.mirror, chip) {
                            return Err(VisionError::DegenerateFace.into());
                        }
                    }
                }
                k += 1;
            }
        }
        let all = self.embedder.embed(&self.chips, n)?;
        Ok(all
            .chunks(views.len())
            .filter_map(Descriptor::mean)
            .collect())
    }

    pub fn liveness(
        &mut self,
        img: &RgbImage,
        face: &Face,
        min_score: f64,
    ) -> Result<LivenessResult, EngineError> {
        Ok(self.liveness.judge(img, &face.bbox, min_score)?)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The local engine: a [`Pipeline`] behind the [`Verifier`] trait.
pub struct LocalVerifier {
    pub pipeline: Pipeline,
}

impl LocalVerifier {
    pub fn new(pipeline: Pipeline) -> Self {
        Self { pipeline }
    }

    pub fn load(models: &VerifiedModels, config: PipelineConfig) -> Result<Self, RuntimeError> {
        Ok(Self::new(Pipeline::load(models, config)?))
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
        let p = &mut self.pipeline;

        let t = Instant::now();
        let probe = p.decode(&request.probe, ImageRole::Probe)?;
        timings.decode_ms += ms(t);
        let t = Instant::now();
        let faces = p.detect(&probe)?;
        timings.detect_ms += ms(t);
        let policy = if request.largest_probe_face {
            FacePolicy::Largest
        } else {
            FacePolicy::RefuseSeveral
        };
        let (probe_face, _) =
            Pipeline::choose_face(&faces, policy, ImageRole::Probe, probe.dimensions())?;
        let liveness = match request.liveness_min_score {
            Some(min) => {
                let t = Instant::now();
                let l = p.liveness(&probe, &probe_face, min)?;
                timings.liveness_ms += ms(t);
                Some(l)
            }
            None => None,
        };
        let t = Instant::now();
        let probe_desc = p
            .describe(&probe, &[probe_face], mode)?
            .pop()
            .ok_or(VisionError::DegenerateFace)?;
        timings.embed_ms += ms(t);

        let threshold = request
            .compare_min_score
            .unwrap_or_else(|| default_threshold(mode));
        let mut gallery = Vec::with_capacity(request.gallery.len());
        for (index, bytes) in request.gallery.iter().enumerate() {
            let role = ImageRole::Gallery(index);
            let t = Instant::now();
            let decoded = p.decode(bytes, role);
            timings.decode_ms += ms(t);
            let img = match decoded {
                Ok(img) => img,
                // One bad gallery file does not abort the compare: it is named in the outcome.
                Err(EngineError::Decode { source, .. }) => {
                    gallery.push(GalleryResult {
                        index,
                        sha256: sha256_hex(bytes),
                        faces_found: 0,
                        face: None,
                        score: None,
                        distance: None,
                        passed: None,
                        error: Some(source.to_string()),
                        reported: true,
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let t = Instant::now();
            let faces = p.detect(&img)?;
            timings.detect_ms += ms(t);
            let t = Instant::now();
            let descs = p.describe(&img, &faces, mode)?;
            timings.embed_ms += ms(t);
            // The gallery face that matches best is the one compared (an ID card may show two faces).
            let best = faces
                .iter()
                .zip(&descs)
                .map(|(f, d)| (f, f64::from(probe_desc.distance(d))))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let (face, distance) = match best {
                Some((f, d)) => (Some(*f), Some(d)),
                None => (None, None),
            };
            let score = distance.map(distance_to_score);
            gallery.push(GalleryResult {
                index,
                sha256: sha256_hex(bytes),
                faces_found: faces.len(),
                face,
                score,
                distance,
                passed: score.map(|s| s >= threshold),
                error: None,
                reported: true,
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
        let live_ok = liveness.as_ref().is_none_or(|l| l.passed() == Some(true));
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
            probe_faces_found: faces.len(),
            gallery,
            liveness,
            passed: decision == Decision::Match && live_ok,
            timings,
            models: self.pipeline.models().to_vec(),
            remote: None,
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
