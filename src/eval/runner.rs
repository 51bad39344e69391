//! Scores a list of pairs with the local pipeline: each distinct image is processed once
//! (decode, detect, the face nearest the centre, then align + embed for every stage asked for)
//! and pairs are scored from those descriptors under a [`Plan`]. Used by `facestation eval` and
//! the accuracy tests. With a cache folder, descriptors already computed for an image (same
//! bytes, same models and settings) are read instead of computed: see [`super::cache`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cache::{CachedImage, StageCache, StageKey};
use super::{thread_cpu_ms, PairRow, ScoredPair};
use crate::api::SearchMode;
use crate::digest::sha256_hex;
use crate::engine::local::{distance_of, Scoring};
use crate::engine::{EngineError, FacePolicy, ImageRole, Pipeline, Plan, Stage};
use crate::vision::recognise::{Embedding, ModelTag};
use crate::vision::Face;

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
    /// The face whose descriptors these are (the one nearest the centre).
    pub face: Option<Face>,
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
    progress: impl FnMut(usize, usize),
) -> std::io::Result<ImageRun> {
    run_images_with(pipeline, paths, root, stages, cache_dir, None, progress)
}

/// [`run_images`], skipping detection for the images whose face is already known.
fn run_images_with(
    pipeline: &mut Pipeline,
    paths: impl IntoIterator<Item = String>,
    root: &Path,
    stages: &[Stage],
    cache_dir: Option<&Path>,
    known: Option<&BTreeMap<String, ImageOutcome>>,
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
                    out.face = out.face.or(e.face);
                    // An entry of a later stage computed on a known face did not detect (0).
                    out.decode_ms = out.decode_ms.max(e.decode_ms);
                    out.detect_ms = out.detect_ms.max(e.detect_ms);
                    out.stage_ms[k] = e.embed_ms;
                    out.detect_cpu_ms = out.detect_cpu_ms.max(e.detect_cpu_ms);
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
        let face = known.and_then(|k| k.get(path)).map(|o| (o.faces, o.face));
        if let Err(e) = process(pipeline, &bytes, stages, &missing, face, out) {
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
                    face: out.face,
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
    known: Option<(usize, Option<Face>)>,
    out: &mut ImageOutcome,
) -> Result<(), EngineError> {
    let (t, c) = (Instant::now(), thread_cpu_ms());
    let img = p.decode(bytes, ImageRole::Image)?;
    out.decode_ms = ms(t);
    let decode_cpu = thread_cpu_ms() - c;
    let chosen = match known {
        // The face was found in an earlier pass: no detection; decoding again is an extra cost,
        // counted in the (first) stage's time below.
        Some((faces, face)) => {
            out.faces = faces;
            out.detect_ms = 0.0;
            out.detect_cpu_ms = 0.0;
            face
        }
        None => {
            let (t, c) = (Instant::now(), thread_cpu_ms());
            let faces = p.detect(&img)?;
            out.detect_ms = ms(t);
            out.detect_cpu_ms = thread_cpu_ms() - c;
            out.faces = faces.len();
            Pipeline::choose_face(
                &faces,
                FacePolicy::Centre,
                ImageRole::Image,
                img.dimensions(),
            )
            .ok()
            .map(|(f, _)| f)
        }
    };
    out.face = chosen;
    let extra = if known.is_some() {
        (out.decode_ms, decode_cpu)
    } else {
        (0.0, 0.0)
    };
    for (i, &k) in which.iter().enumerate() {
        let (t, c) = (Instant::now(), thread_cpu_ms());
        if let Some(face) = chosen {
            out.embeddings[k] = p.describe_stage(&img, &[face], &stages[k])?.pop();
        }
        out.stage_ms[k] = ms(t);
        out.stage_cpu_ms[k] = thread_cpu_ms() - c;
        if i == 0 {
            out.stage_ms[k] += extra.0;
            out.stage_cpu_ms[k] += extra.1;
        }
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

/// Runs the images of `rows` through `plan` as the engine would: the eager stages for every
/// image, a cascade's later stage only for the images of the pairs whose first-stage score falls
/// in the band (decoded again, not detected again; that decode is counted in the stage's time).
/// The run's stages are the plan's, in order.
pub fn run_plan(
    pipeline: &mut Pipeline,
    rows: &[PairRow],
    root: &Path,
    plan: &Plan,
    cache_dir: Option<&Path>,
    progress: impl FnMut(usize, usize),
) -> std::io::Result<ImageRun> {
    let all: Vec<Stage> = plan.stages.iter().map(|(s, _)| s.clone()).collect();
    let eager = plan.eager();
    let paths: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.a.clone(), r.b.clone()])
        .collect();
    let mut run = run_images(pipeline, paths, root, &all[..eager], cache_dir, progress)?;
    if eager == all.len() {
        return Ok(run);
    }
    for o in run.images.values_mut() {
        o.embeddings.resize(all.len(), None);
        o.stage_ms.resize(all.len(), 0.0);
        o.stage_cpu_ms.resize(all.len(), 0.0);
    }
    let mut need: BTreeSet<String> = BTreeSet::new();
    for r in rows {
        let first = |p: &str| run.images.get(p).and_then(|o| o.embeddings[0].as_ref());
        if let (Some(a), Some(b)) = (first(&r.a), first(&r.b)) {
            let raw = a.compare(b).map_err(std::io::Error::other)?;
            if plan.needs_second(raw) {
                need.insert(r.a.clone());
                need.insert(r.b.clone());
            }
        }
    }
    let later = run_images_with(
        pipeline,
        need,
        root,
        &all[eager..],
        cache_dir,
        Some(&run.images),
        |_, _| {},
    )?;
    for (path, o) in later.images {
        let Some(out) = run.images.get_mut(&path) else {
            continue;
        };
        for (i, e) in o.embeddings.into_iter().enumerate() {
            out.embeddings[eager + i] = e;
            // Includes the extra decode (see `process`).
            out.stage_ms[eager + i] = o.stage_ms[i];
            out.stage_cpu_ms[eager + i] = o.stage_cpu_ms[i];
        }
        out.cached &= o.cached;
    }
    run.stages = all;
    run.cache.hits += later.cache.hits;
    run.cache.misses += later.cache.misses;
    run.cache.files.extend(later.cache.files);
    Ok(run)
}

/// Runs every image of `rows` through the pipeline and scores the pairs under `mode`'s plan
/// (a cascade's second stage only where a pair needs it, as in the engine).
pub fn run_pairs(
    pipeline: &mut Pipeline,
    rows: Vec<PairRow>,
    root: &Path,
    mode: SearchMode,
    progress: impl FnMut(usize, usize),
) -> PairRun {
    let plan = pipeline.plan(mode).clone();
    let run = match run_plan(pipeline, &rows, root, &plan, None, progress) {
        Ok(run) => run,
        // Without a cache the only errors are per image, kept in the outcomes; a mode's
        // recognisers are always loaded.
        Err(e) => unreachable!("no cache, no run error: {e}"),
    };
    let pairs = score_pairs(&run, &rows, &plan).unwrap_or_default();
    PairRun {
        images: run.images,
        pairs,
    }
}
