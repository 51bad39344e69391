//! Scores a list of pairs with the local pipeline: each distinct image is processed once
//! (decode, detect, the face nearest the centre, align, embed) and pairs are scored from the
//! cached descriptors. Used by `facestation eval` and the accuracy tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{PairRow, ScoredPair};
use crate::api::SearchMode;
use crate::engine::score::distance_to_score;
use crate::engine::{EngineError, FacePolicy, ImageRole, Pipeline};
use crate::vision::Descriptor;

/// What one image gave, with its stage times.
#[derive(Debug, Clone, Default)]
pub struct ImageOutcome {
    pub descriptor: Option<Descriptor>,
    pub faces: usize,
    /// Why the image could not be read or decoded.
    pub error: Option<String>,
    pub decode_ms: f64,
    pub detect_ms: f64,
    /// Alignment and embedding of the chosen face.
    pub embed_ms: f64,
}

/// One scored pair with its distance and face counts (for `--scores`).
#[derive(Debug, Clone)]
pub struct PairDetail {
    pub pair: ScoredPair,
    pub distance: Option<f64>,
    pub faces_a: usize,
    pub faces_b: usize,
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

/// Runs every image of `rows` (paths relative to `root`) through the pipeline in `mode`.
/// `progress(done, total)` is called before each image.
pub fn run_pairs(
    pipeline: &mut Pipeline,
    rows: Vec<PairRow>,
    root: &Path,
    mode: SearchMode,
    mut progress: impl FnMut(usize, usize),
) -> PairRun {
    let mut images: BTreeMap<String, ImageOutcome> = BTreeMap::new();
    for r in &rows {
        images.entry(r.a.clone()).or_default();
        images.entry(r.b.clone()).or_default();
    }
    let total = images.len();
    for (i, (path, out)) in images.iter_mut().enumerate() {
        progress(i, total);
        match std::fs::read(root.join(path)) {
            Ok(bytes) => {
                if let Err(e) = process(pipeline, &bytes, mode, out) {
                    out.error = Some(e.to_string());
                }
            }
            Err(e) => out.error = Some(format!("cannot read: {e}")),
        }
    }
    let pairs = rows
        .into_iter()
        .map(|r| {
            let (a, b) = (&images[&r.a], &images[&r.b]);
            let distance = match (&a.descriptor, &b.descriptor) {
                (Some(x), Some(y)) => Some(f64::from(x.distance(y))),
                _ => None,
            };
            let (faces_a, faces_b) = (a.faces, b.faces);
            PairDetail {
                pair: r.with_score(distance.map(distance_to_score)),
                distance,
                faces_a,
                faces_b,
            }
        })
        .collect();
    PairRun { images, pairs }
}

fn process(
    p: &mut Pipeline,
    bytes: &[u8],
    mode: SearchMode,
    out: &mut ImageOutcome,
) -> Result<(), EngineError> {
    let t = Instant::now();
    let img = p.decode(bytes, ImageRole::Image)?;
    out.decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let faces = p.detect(&img)?;
    out.detect_ms = t.elapsed().as_secs_f64() * 1000.0;
    out.faces = faces.len();
    let t = Instant::now();
    if let Ok((face, _)) = Pipeline::choose_face(
        &faces,
        FacePolicy::Centre,
        ImageRole::Image,
        img.dimensions(),
    ) {
        out.descriptor = p.describe(&img, &[face], mode)?.pop();
    }
    out.embed_ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok(())
}
