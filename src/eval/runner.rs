//! Scores a list of pairs with the local pipeline: each distinct image is processed once
//! (decode, detect, the face nearest the centre, then align + embed for every stage asked for)
//! and pairs are scored from those descriptors under a [`Plan`]. Used by `facestation eval` and
//! the accuracy tests. With a cache folder, descriptors already computed for an image (same
//! bytes, same models and settings) are read instead of computed: see [`super::cache`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cache::{CachedImage, StageCache, StageKey};
use super::{thread_cpu_ms, PairRow, ScoredPair};
use crate::api::SearchMode;
use crate::digest::sha256_hex;
use crate::engine::local::{distance_of, Scoring};
use crate::engine::{EngineError, FacePolicy, ImageRole, Pipeline, Plan, Stage};
use crate::vision::recognise::{Embedding, ModelTag};

/// What one image gave, with its stage times.
#[derive(Debug, Clone, Default)]
pub struct ImageOutcome {
    /// sha256 of the file (`None` when it could not be read).
    pub sha256: Option<String>,
    pub faces: usize,
    /// Why the image could not be read or decoded.
    pub error: Option<String>,
    /// The chosen face's descriptor for each stage of the run (`None`: no face).
    pub embeddings: Vec<Option<Embedding>>,
    pub decode_ms: f64,
    pub detect_ms: f64,
    /// Alignment and embedding of the chosen face, per stage.
    pub stage_ms: Vec<f64>,
    /// The same as CPU time of the thread (ONNX Runtime runs one intra-op thread here, on it).
    pub detect_cpu_ms: f64,
    pub stage_cpu_ms: Vec<f64>,
    /// Every stage came from the cache (the times are those measured when it was computed).
    pub cached: bool,
}

impl ImageOutcome {
    /// Whether the chosen face has descriptors (a face was found).
    pub fn has_face(&self) -> bool {
        self.embeddings.first().is_some_and(Option::is_some)
    }
}

/// One scored pair with its distance and face counts (for `--scores`).
#[derive(Debug, Clone)]
pub struct PairDetail {
    pub pair: ScoredPair,
    /// The deciding stage's distance-like value (Euclidean distance or 1 - cosine).
    pub distance: Option<f64>,
    pub faces_a: usize,
    pub faces_b: usize,
    /// How many stages the score used (a cascade's second stage counts).
    pub stages_used: usize,
}

/// Descriptor-cache use in a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CacheStats {
    pub dir: Option<PathBuf>,
    /// Image x stage lookups answered from the cache / computed.
    pub hits: usize,
    pub misses: usize,
    pub files: Vec<PathBuf>,
}

/// Every image of a pair list through the pipeline, for a set of stages.
pub struct ImageRun {
    pub stages: Vec<Stage>,
    pub images: BTreeMap<String, ImageOutcome>,
    pub cache: CacheStats,
}

pub struct PairRun {
    pub images: BTreeMap<String, ImageOutcome>,
    pub pairs: Vec<PairDetail>,
}

impl PairRun {
    pub fn scored(&self) -> Vec<ScoredPair> {
        self.pairs.iter().map(|p| p.pair.clone()).collect()
    }
}

/// The detector settings and face policy the descriptors depend on, for the cache key.
fn settings(p: &Pipeline) -> String {
    let d = &p.config().detector;
    format!(
        "yunet score {} nms {} max_side {} max_faces {}; face nearest the centre",
        d.score_threshold, d.nms_iou, d.max_side, d.max_faces
    )
}

/// Runs every image (paths relative to `root`) through detection and each stage. With
/// `cache_dir`, reads and fills the descriptor cache. `progress(done, total)` is called before
/// each image.
pub fn run_images(
    pipeline: &mut Pipeline,
    paths: impl IntoIterator<Item = String>,
    root: &Path,
    stages: &[Stage],
    cache_dir: Option<&Path>,
    mut progress: impl FnMut(usize, usize),
) -> std::io::Result<ImageRun> {
    let mut images: BTreeMap<String, ImageOutcome> = BTreeMap::new();
    for p in paths {
        images.entry(p).or_default();
    }
    let detector_sha = pipeline
        .models()
        .iter()
        .find(|m| m.role == "detector")
        .map(|m| m.sha256.clone())
        .unwrap_or_default();
    let settings = settings(pipeline);
    let mut tags: Vec<ModelTag> = Vec::with_capacity(stages.len());
    for s in stages {
        let r = pipeline.recogniser(&s.recogniser).ok_or_else(|| {
            std::io::Error::other(format!("recogniser {} is not loaded", s.recogniser))
        })?;
        tags.push(r.tag().clone());
    }
    let metrics: Vec<_> = stages
        .iter()
        .map(|s| pipeline.recogniser(&s.recogniser).map(|r| r.spec().metric))
        .collect();
    let mut caches: Vec<Option<StageCache>> = Vec::with_capacity(stages.len());
    let mut stats = CacheStats {
        dir: cache_dir.map(Path::to_path_buf),
        ..CacheStats::default()
    };
    for (s, tag) in stages.iter().zip(&tags) {
        caches.push(match cache_dir {
            Some(dir) => {
                let key = StageKey {
                    recogniser_sha256: &tag.sha256,
                    views: s.views.as_str(),
                    detector_sha256: &detector_sha,
                    settings: &settings,
                };
                let c = StageCache::open(dir, &key)?;
                stats.files.push(c.path().to_path_buf());
                Some(c)
            }
            None => None,
        });
    }
    let total = images.len();
    for (i, (path, out)) in images.iter_mut().enumerate() {
        progress(i, total);
        out.embeddings = vec![None; stages.len()];
        out.stage_ms = vec![0.0; stages.len()];
        out.stage_cpu_ms = vec![0.0; stages.len()];
        let bytes = match std::fs::read(root.join(path)) {
            Ok(b) => b,
            Err(e) => {
                out.error = Some(format!("cannot read: {e}"));
                continue;
            }
        };
        let sha = sha256_hex(&bytes);
        // Stages the cache answers.
        let mut missing = Vec::new();
        for (k, c) in caches.iter().enumerate() {
            match c.as_ref().and_then(|c| c.get(&sha)) {
                Some(e) => {
                    stats.hits += 1;
                    out.faces = e.faces;
                    out.decode_ms = e.decode_ms;
                    out.detect_ms = e.detect_ms;
                    out.stage_ms[k] = e.embed_ms;
                    out.detect_cpu_ms = e.detect_cpu_ms;
                    out.stage_cpu_ms[k] = e.embed_cpu_ms;
                    out.embeddings[k] =
                        e.values
                            .clone()
                            .zip(metrics[k])
                            .map(|(values, metric)| Embedding {
                                model: tags[k].clone(),
                                metric,
                                values,
                                raw_norm: e.raw_norm,
                            });
                }
                None => missing.push(k),
            }
        }
        out.cached = missing.is_empty();
        out.sha256 = Some(sha.clone());
        if missing.is_empty() {
            continue;
        }
        stats.misses += missing.len();
        if let Err(e) = process(pipeline, &bytes, stages, &missing, out) {
            out.error = Some(e.to_string());
            continue;
        }
        for &k in &missing {
            if let Some(c) = caches[k].as_mut() {
                let e = out.embeddings[k].as_ref();
                c.put(CachedImage {
                    image: sha.clone(),
                    faces: out.faces,
                    values: e.map(|e| e.values.clone()),
                    raw_norm: e.map_or(0.0, |e| e.raw_norm),
                    decode_ms: out.decode_ms,
                    detect_ms: out.detect_ms,
                    embed_ms: out.stage_ms[k],
                    detect_cpu_ms: out.detect_cpu_ms,
                    embed_cpu_ms: out.stage_cpu_ms[k],
                })?;
            }
        }
    }
    for c in caches.iter_mut().flatten() {
        c.flush()?;
    }
    Ok(ImageRun {
        stages: stages.to_vec(),
        images,
        cache: stats,
    })
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn process(
    p: &mut Pipeline,
    bytes: &[u8],
    stages: &[Stage],
    which: &[usize],
    out: &mut ImageOutcome,
) -> Result<(), EngineError> {
    let t = Instant::now();
    let img = p.decode(bytes, ImageRole::Image)?;
    out.decode_ms = ms(t);
    let (t, c) = (Instant::now(), thread_cpu_ms());
    let faces = p.detect(&img)?;
    out.detect_ms = ms(t);
    out.detect_cpu_ms = thread_cpu_ms() - c;
    out.faces = faces.len();
    let chosen = Pipeline::choose_face(
        &faces,
        FacePolicy::Centre,
        ImageRole::Image,
        img.dimensions(),
    )
    .ok()
    .map(|(f, _)| f);
    for &k in which {
        let (t, c) = (Instant::now(), thread_cpu_ms());
        if let Some(face) = chosen {
            out.embeddings[k] = p.describe_stage(&img, &[face], &stages[k])?.pop();
        }
        out.stage_ms[k] = ms(t);
        out.stage_cpu_ms[k] = thread_cpu_ms() - c;
    }
    Ok(())
}

/// Where each stage of `plan` sits in the run's stages.
pub fn stage_slots(run_stages: &[Stage], plan: &Plan) -> Option<Vec<usize>> {
    plan.stages
        .iter()
        .map(|(s, _)| run_stages.iter().position(|r| r == s))
        .collect()
}

/// The plan's descriptors of one image (one slot per plan stage).
pub fn plan_descriptors(out: &ImageOutcome, slots: &[usize]) -> Vec<Option<Embedding>> {
    slots
        .iter()
        .map(|&k| out.embeddings.get(k).cloned().flatten())
        .collect()
}

/// Scores `rows` under `plan` from a run that computed every stage of the plan. A pair with an
/// image without a face (or unreadable) has no score.
pub fn score_pairs(
    run: &ImageRun,
    rows: &[PairRow],
    plan: &Plan,
) -> Result<Vec<PairDetail>, String> {
    let slots = stage_slots(&run.stages, plan)
        .ok_or_else(|| format!("the run did not compute every stage of {}", plan.name))?;
    let empty = ImageOutcome::default();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let a = run.images.get(&r.a).unwrap_or(&empty);
        let b = run.images.get(&r.b).unwrap_or(&empty);
        let (da, db) = (plan_descriptors(a, &slots), plan_descriptors(b, &slots));
        let scored = if da[0].is_some() && db[0].is_some() {
            match plan.score(&da, &db).map_err(|e| e.to_string())? {
                Scoring::Done(s) => Some(s),
                Scoring::Needs(_) => None,
            }
        } else {
            None
        };
        let distance = scored.as_ref().and_then(|s| {
            s.used
                .last()
                .map(|u| distance_of(plan.stages[u.stage].1.metric, u.raw))
        });
        out.push(PairDetail {
            pair: r.clone().with_score(scored.as_ref().map(|s| s.score)),
            distance,
            faces_a: a.faces,
            faces_b: b.faces,
            stages_used: scored.map_or(0, |s| s.used.len()),
        });
    }
    Ok(out)
}

/// Runs every image of `rows` through the pipeline and scores the pairs under `mode`'s plan
/// (every stage of the plan is computed for every image, so a cascade's second stage too).
pub fn run_pairs(
    pipeline: &mut Pipeline,
    rows: Vec<PairRow>,
    root: &Path,
    mode: SearchMode,
    progress: impl FnMut(usize, usize),
) -> PairRun {
    let plan = pipeline.plan(mode).clone();
    let stages: Vec<Stage> = plan.stages.iter().map(|(s, _)| s.clone()).collect();
    let paths: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.a.clone(), r.b.clone()])
        .collect();
    let run = match run_images(pipeline, paths, root, &stages, None, progress) {
        Ok(run) => run,
        // Without a cache there is no I/O besides reading images, whose errors are per image.
        Err(e) => unreachable!("no cache, no I/O error: {e}"),
    };
    let pairs = score_pairs(&run, &rows, &plan).unwrap_or_default();
    PairRun {
        images: run.images,
        pairs,
    }
}
