//! Face recognisers: a network from the manifest with its input spec (chip size, channel order,
//! template, metric, normalisation), the views of a face it averages, and the descriptors it
//! produces. A descriptor carries the sha256 of the model that made it, and comparing two
//! descriptors of different models is an error, never a number.

use std::sync::Arc;

use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::align::{mirror_chip_sized, warp_chip_sized, Similarity};
use super::detect::Face;
use super::VisionError;
use crate::runtime::{Metric, ModelEntry, Normalise, RecogniserSpec};

/// One aligned view of a face: a jitter in chip space and an optional mirror.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipView {
    pub jitter: Similarity,
    pub mirror: bool,
}

impl ChipView {
    pub fn plain() -> Self {
        Self {
            jitter: Similarity::identity(),
            mirror: false,
        }
    }

    pub fn mirrored() -> Self {
        Self {
            jitter: Similarity::identity(),
            mirror: true,
        }
    }
}

/// Which views of a face a recogniser averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Views {
    /// The chip alone.
    Plain,
    /// The chip and its mirror (one batch of 2).
    Flip,
    /// The chip and the chip rotated by +-5 degrees, each with its mirror (6 views).
    Rotations,
}

impl Views {
    pub fn as_str(&self) -> &'static str {
        match self {
            Views::Plain => "chip",
            Views::Flip => "chip+mirror",
            Views::Rotations => "chip+mirror+rot5",
        }
    }

    /// The suffix in candidate names (`reid+flip`).
    pub fn suffix(&self) -> &'static str {
        match self {
            Views::Plain => "",
            Views::Flip => "+flip",
            Views::Rotations => "+rot",
        }
    }

    pub fn views(&self, size: usize) -> Vec<ChipView> {
        let mut v = vec![ChipView::plain()];
        if matches!(self, Views::Flip | Views::Rotations) {
            v.push(ChipView::mirrored());
        }
        if *self == Views::Rotations {
            for degrees in [5.0, -5.0] {
                let jitter = Similarity::jitter_about(size, degrees, 1.0, 0.0, 0.0);
                v.push(ChipView {
                    jitter,
                    mirror: false,
                });
                v.push(ChipView {
                    jitter,
                    mirror: true,
                });
            }
        }
        v
    }
}

/// Which model made a descriptor: its manifest id and sha256 (shared, cheap to clone).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelTag {
    pub id: Arc<str>,
    pub sha256: Arc<str>,
}

/// A face descriptor of one recogniser, already averaged over its views (and normalised when the
/// model's metric is cosine).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub model: ModelTag,
    pub metric: Metric,
    pub values: Vec<f32>,
    /// Mean L2 norm of the raw network outputs over the views (a free quality signal for reid).
    pub raw_norm: f32,
}

/// Two descriptors of different models were compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("descriptors of different models cannot be compared ({a} vs {b})")]
pub struct ModelMismatch {
    pub a: String,
    pub b: String,
}

impl Embedding {
    /// The metric's raw value: Euclidean distance (lower = more alike) or cosine similarity
    /// (higher = more alike). Refuses descriptors of different models.
    pub fn compare(&self, other: &Embedding) -> Result<f64, ModelMismatch> {
        if self.model.sha256 != other.model.sha256
            || self.metric != other.metric
            || self.values.len() != other.values.len()
        {
            return Err(ModelMismatch {
                a: format!("{} {}", self.model.id, short(&self.model.sha256)),
                b: format!("{} {}", other.model.id, short(&other.model.sha256)),
            });
        }
        Ok(raw_compare(self.metric, &self.values, &other.values))
    }
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

/// The metric on two vectors of one model (no model check: for callers that checked already,
/// such as the all-impostor sweep over one model's descriptors).
pub fn raw_compare(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    match metric {
        Metric::Euclidean => f64::from(
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                .sqrt(),
        ),
        Metric::Cosine => f64::from(a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()),
    }
}

/// Averages the raw outputs of several views of one face as the spec says.
pub fn combine_views(
    spec: &RecogniserSpec,
    model: &ModelTag,
    outputs: &[&[f32]],
) -> Option<Embedding> {
    let first = outputs.first()?;
    let mut sum = vec![0.0f32; first.len()];
    let mut norms = 0.0f32;
    for o in outputs {
        let n = norm(o);
        norms += n;
        let scale = match spec.normalise {
            Normalise::None => 1.0,
            Normalise::L2 if n > 0.0 => 1.0 / n,
            Normalise::L2 => 0.0,
        };
        for (s, v) in sum.iter_mut().zip(o.iter()) {
            *s += v * scale;
        }
    }
    let k = outputs.len() as f32;
    match spec.normalise {
        Normalise::None => sum.iter_mut().for_each(|s| *s /= k),
        Normalise::L2 => {
            let n = norm(&sum);
            if n > 0.0 {
                sum.iter_mut().for_each(|s| *s /= n);
            }
        }
    }
    Some(Embedding {
        model: model.clone(),
        metric: spec.metric,
        values: sum,
        raw_norm: norms / k,
    })
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// One recogniser: its session, spec and identity.
pub struct Recogniser {
    session: Session,
    spec: RecogniserSpec,
    tag: ModelTag,
    chips: Vec<f32>,
    /// Times of the last [`Recogniser::describe`]: warping the chips, running the network (ms).
    pub last_warp_ms: f64,
    pub last_run_ms: f64,
}

impl Recogniser {
    /// `entry` must be a recogniser entry (its spec is required).
    pub fn new(session: Session, entry: &ModelEntry) -> Result<Self, VisionError> {
        let spec = entry.recogniser.clone().ok_or_else(|| {
            VisionError::UnexpectedOutput(format!("{} has no recogniser spec", entry.id))
        })?;
        Ok(Self {
            session,
            spec,
            tag: ModelTag {
                id: entry.id.as_str().into(),
                sha256: entry.sha256.to_ascii_lowercase().into(),
            },
            chips: Vec::new(),
            last_warp_ms: 0.0,
            last_run_ms: 0.0,
        })
    }

    pub fn spec(&self) -> &RecogniserSpec {
        &self.spec
    }

    pub fn tag(&self) -> &ModelTag {
        &self.tag
    }

    /// The image-to-chip similarity for a face's five landmarks.
    pub fn alignment(&self, face: &Face) -> Result<Similarity, VisionError> {
        Similarity::estimate(&face.landmarks, &self.spec.template)
            .ok_or(VisionError::DegenerateFace)
    }

    /// Descriptors of several faces of one image, each averaged over `views`, in one batch.
    pub fn describe(
        &mut self,
        img: &image::RgbImage,
        faces: &[Face],
        views: Views,
    ) -> Result<Vec<Embedding>, VisionError> {
        let size = self.spec.size;
        let views = views.views(size);
        let per_chip = 3 * size * size;
        let n = faces.len() * views.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let mut chips = std::mem::take(&mut self.chips);
        chips.clear();
        chips.resize(n * per_chip, 0.0);
        let mut k = 0;
        for face in faces {
            let m = self.alignment(face)?;
            for (i, v) in views.iter().enumerate() {
                let (done, rest) = chips.split_at_mut(k * per_chip);
                let chip = &mut rest[..per_chip];
                // A mirrored view of a view already warped is a copy, not a second warp.
                let twin = views[..i]
                    .iter()
                    .position(|p| p.jitter == v.jitter && p.mirror != v.mirror);
                match twin {
                    Some(j) => {
                        let start = (k - i + j) * per_chip;
                        mirror_chip_sized(&done[start..start + per_chip], size, chip);
                    }
                    None => {
                        if !warp_chip_sized(
                            img,
                            &v.jitter.after(&m),
                            v.mirror,
                            size,
                            self.spec.channels,
                            chip,
                        ) {
                            self.chips = chips;
                            return Err(VisionError::DegenerateFace);
                        }
                    }
                }
                k += 1;
            }
        }
        let warped = std::time::Instant::now();
        self.last_warp_ms = (warped - started).as_secs_f64() * 1000.0;
        let out = self.run(&chips, n);
        self.last_run_ms = warped.elapsed().as_secs_f64() * 1000.0;
        self.chips = chips;
        let out = out?;
        let dim = self.spec.dim;
        Ok(out
            .chunks_exact(views.len() * dim)
            .filter_map(|face| {
                let parts: Vec<&[f32]> = face.chunks_exact(dim).collect();
                combine_views(&self.spec, &self.tag, &parts)
            })
            .collect())
    }

    /// Runs `n` planar chips through the network; returns `n * dim` raw outputs.
    pub fn run(&mut self, chips: &[f32], n: usize) -> Result<Vec<f32>, VisionError> {
        let size = self.spec.size;
        let per_chip = 3 * size * size;
        if n == 0 || chips.len() != n * per_chip {
            return Err(VisionError::UnexpectedOutput(format!(
                "{} input holds {} values, expected {n} chips of {per_chip}",
                self.tag.id,
                chips.len(),
            )));
        }
        let tensor = TensorRef::from_array_view(([n, 3, size, size], chips))?;
        let outputs = self
            .session
            .run(ort::inputs![self.spec.input_name.as_str() => tensor])?;
        let value = outputs.get(&self.spec.output_name).ok_or_else(|| {
            VisionError::UnexpectedOutput(format!(
                "{}: missing output {}",
                self.tag.id, self.spec.output_name
            ))
        })?;
        let (_, data) = value.try_extract_tensor::<f32>()?;
        if data.len() != n * self.spec.dim {
            return Err(VisionError::UnexpectedOutput(format!(
                "{}: output has {} values, expected {}",
                self.tag.id,
                data.len(),
                n * self.spec.dim
            )));
        }
        Ok(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ChannelOrder;

    fn spec(metric: Metric, normalise: Normalise) -> RecogniserSpec {
        RecogniserSpec {
            alias: "t".into(),
            size: 32,
            channels: ChannelOrder::Rgb,
            input_name: "input".into(),
            output_name: "out".into(),
            dim: 2,
            metric,
            normalise,
            template: [[1.0, 1.0]; 5],
        }
    }

    fn tag(sha: &str) -> ModelTag {
        ModelTag {
            id: "m".into(),
            sha256: sha.into(),
        }
    }

    #[test]
    fn euclidean_views_are_averaged_raw() {
        let s = spec(Metric::Euclidean, Normalise::None);
        let e = combine_views(&s, &tag("a"), &[&[0.0, 3.0], &[4.0, 0.0]]).expect("one");
        assert_eq!(e.values, vec![2.0, 1.5]);
        assert!((e.raw_norm - 3.5).abs() < 1e-6);
        let f = combine_views(&s, &tag("a"), &[&[2.0, 1.5]]).expect("one");
        assert_eq!(e.compare(&f), Ok(0.0));
        assert!(combine_views(&s, &tag("a"), &[]).is_none());
    }

    #[test]
    fn cosine_views_are_normalised_then_averaged_then_normalised() {
        let s = spec(Metric::Cosine, Normalise::L2);
        let e = combine_views(&s, &tag("a"), &[&[10.0, 0.0], &[0.0, 1.0]]).expect("one");
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((e.values[0] - h).abs() < 1e-6 && (e.values[1] - h).abs() < 1e-6);
        let x = combine_views(&s, &tag("a"), &[&[3.0, 0.0]]).expect("one");
        let c = e.compare(&x).expect("same model");
        assert!((c - f64::from(h)).abs() < 1e-6);
    }

    #[test]
    fn descriptors_of_different_models_are_never_compared() {
        let s = spec(Metric::Euclidean, Normalise::None);
        let a = combine_views(&s, &tag("aaaa"), &[&[1.0, 0.0]]).expect("one");
        let b = combine_views(&s, &tag("bbbb"), &[&[1.0, 0.0]]).expect("one");
        let err = a.compare(&b).expect_err("different models");
        assert!(err.to_string().contains("different models"), "{err}");
        let mut c = a.clone();
        c.metric = Metric::Cosine;
        assert!(a.compare(&c).is_err());
    }

    #[test]
    fn view_sets() {
        assert_eq!(Views::Plain.views(150).len(), 1);
        assert_eq!(
            Views::Flip.views(150),
            vec![ChipView::plain(), ChipView::mirrored()]
        );
        let r = Views::Rotations.views(128);
        assert_eq!(r.len(), 6);
        let (x, y) = r[2].jitter.apply(63.5, 63.5);
        assert!((x - 63.5).abs() < 1e-9 && (y - 63.5).abs() < 1e-9);
    }
}
