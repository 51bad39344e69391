//! Passive liveness: the MiniFASNet V2 (crop x2.7) + V1SE (crop x4.0) ensemble from Silent-Face.
//!
//! Each model sees the face box scaled around its centre, the scale capped so the box fits the
//! image, shifted back inside, resized to 80x80 (BGR, raw 0..255). The two softmaxes are averaged;
//! class 1 is "real". The models were trained on full frames: when the frame leaves too little
//! context around the face (a tight crop, a face filling the camera) they cannot tell a screen from
//! skin, so the station answers "cannot judge" instead of a verdict (rule: [`MIN_CONTEXT`]).

use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::detect::BoundingBox;
use super::resample::{resize_to_bgr_planar, Region, Target};
use super::VisionError;

const INPUT: usize = 80;
const V2_SCALE: f32 = 2.7;
const V1SE_SCALE: f32 = 4.0;

/// The smallest context the V2 crop may have, as a multiple of the face box that fits in the frame.
/// Measured on `shared/data/liveness`: the 43 full frames give 1.91-2.70 (capped at 2.7), the 738 face
/// crops in which a face is found give 0.63-1.37.
pub const MIN_CONTEXT: f32 = 1.7;

/// Default pass mark for P(real), as Verifik's `liveness_min_score` default (0.6); passing is strict (>).
pub const DEFAULT_LIVENESS_MIN_SCORE: f64 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessVerdict {
    Live,
    Spoof,
    CannotJudge,
}

impl LivenessVerdict {
    /// The words every front end shows for this verdict.
    pub fn label(&self) -> &'static str {
        match self {
            LivenessVerdict::Live => "LIVE",
            LivenessVerdict::Spoof => "SPOOF",
            LivenessVerdict::CannotJudge => "CANNOT JUDGE",
        }
    }
}

/// The liveness answer for one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessResult {
    /// Averaged P(real) of the two models; present even when the verdict is "cannot judge", for QA.
    pub score: f64,
    pub verdict: LivenessVerdict,
    /// The context scale the V2 crop got (see [`MIN_CONTEXT`]).
    pub context: f32,
    pub min_score: f64,
}

impl LivenessResult {
    pub fn passed(&self) -> Option<bool> {
        match self.verdict {
            LivenessVerdict::Live => Some(true),
            LivenessVerdict::Spoof => Some(false),
            LivenessVerdict::CannotJudge => None,
        }
    }
}

pub struct LivenessModels {
    v2: Session,
    v1se: Session,
    input: Vec<f32>,
}

impl LivenessModels {
    pub fn new(v2: Session, v1se: Session) -> Self {
        Self {
            v2,
            v1se,
            input: vec![0.0; 3 * INPUT * INPUT],
        }
    }

    /// Scores the face `bbox` of `img` and decides against `min_score` (pass iff score > min_score).
    pub fn judge(
        &mut self,
        img: &image::RgbImage,
        bbox: &BoundingBox,
        min_score: f64,
    ) -> Result<LivenessResult, VisionError> {
        let (w, h) = img.dimensions();
        let xywh = integer_box(bbox);
        let context = effective_scale(xywh, w, h, V2_SCALE);
        let mut real = 0.0f64;
        for (session, scale) in [(&mut self.v2, V2_SCALE), (&mut self.v1se, V1SE_SCALE)] {
            let crop = crop_box(xywh, w, h, scale);
            resize_crop_bgr(img, crop, &mut self.input);
            let tensor =
                TensorRef::from_array_view(([1usize, 3, INPUT, INPUT], self.input.as_slice()))?;
            let outputs = session.run(ort::inputs!["input" => tensor])?;
            let value = outputs
                .get("logits")
                .ok_or_else(|| VisionError::UnexpectedOutput("missing output logits".into()))?;
            let (_, logits) = value.try_extract_tensor::<f32>()?;
            if logits.len() != 3 {
                return Err(VisionError::UnexpectedOutput(format!(
                    "liveness logits have {} values, expected 3",
                    logits.len()
                )));
            }
            real += f64::from(softmax3(logits)[1]);
        }
        let score = real / 2.0;
        let verdict = if context < MIN_CONTEXT {
            LivenessVerdict::CannotJudge
        } else if score > min_score {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::Spoof
        };
        Ok(LivenessResult {
            score,
            verdict,
            context,
            min_score,
        })
    }
}

fn softmax3(z: &[f32]) -> [f32; 3] {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = [(z[0] - m).exp(), (z[1] - m).exp(), (z[2] - m).exp()];
    let s = e[0] + e[1] + e[2];
    [e[0] / s, e[1] / s, e[2] / s]
}

/// Silent-Face's integer box: (x, y, x2 - x + 1, y2 - y + 1).
fn integer_box(b: &BoundingBox) -> [f32; 4] {
    let x = b.x.trunc();
    let y = b.y.trunc();
    let x2 = (b.x + b.width).trunc();
    let y2 = (b.y + b.height).trunc();
    [x, y, (x2 - x + 1.0).max(1.0), (y2 - y + 1.0).max(1.0)]
}

/// The scale the crop really gets once capped to fit the image.
pub fn effective_scale(xywh: [f32; 4], w: u32, h: u32, scale: f32) -> f32 {
    let [_, _, bw, bh] = xywh;
    ((h as f32 - 1.0) / bh)
        .min((w as f32 - 1.0) / bw)
        .min(scale)
}

/// Silent-Face's CropImage rule: returns (left, top, right, bottom), inclusive pixel bounds.
pub fn crop_box(xywh: [f32; 4], w: u32, h: u32, scale: f32) -> [f32; 4] {
    let [x, y, bw, bh] = xywh;
    let (wf, hf) = (w as f32, h as f32);
    let s = effective_scale(xywh, w, h, scale);
    let (nw, nh) = (bw * s, bh * s);
    let (cx, cy) = (x + bw / 2.0, y + bh / 2.0);
    let (mut l, mut t, mut r, mut b) = (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        r -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if r > wf - 1.0 {
        l -= r - wf + 1.0;
        r = wf - 1.0;
    }
    if b > hf - 1.0 {
        t -= b - hf + 1.0;
        b = hf - 1.0;
    }
    [l.max(0.0).trunc(), t.max(0.0).trunc(), r.trunc(), b.trunc()]
}

/// Resizes the inclusive crop to 80x80 (bilinear, pixel centres as OpenCV), planar BGR.
fn resize_crop_bgr(img: &image::RgbImage, crop: [f32; 4], out: &mut [f32]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let [l, t, r, b] = crop;
    let (left, top) = (
        (l as usize).min(w.saturating_sub(1)),
        (t as usize).min(h.saturating_sub(1)),
    );
    let region = Region {
        left,
        top,
        width: ((r as usize).min(w.saturating_sub(1)) + 1)
            .saturating_sub(left)
            .max(1),
        height: ((b as usize).min(h.saturating_sub(1)) + 1)
            .saturating_sub(top)
            .max(1),
    };
    let target = Target {
        width: INPUT,
        height: INPUT,
        stride: INPUT,
        rows: INPUT,
    };
    resize_to_bgr_planar(img, region, target, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_scaled_capped_and_shifted_inside() {
        // 100x100 face in a 640x480 frame, centred: 2.7x box = 270 px, fits.
        let c = crop_box([270.0, 190.0, 100.0, 100.0], 640, 480, 2.7);
        assert_eq!(c, [185.0, 105.0, 455.0, 375.0]);
        // 4.0x would be 400 px: fits vertically (479/100 = 4.79), so 400 px, shifted inside.
        let c = crop_box([0.0, 0.0, 100.0, 100.0], 640, 480, 4.0);
        assert_eq!(c, [0.0, 0.0, 400.0, 400.0]);
        // A face filling a tight crop: the scale is capped to what fits.
        assert!(effective_scale([5.0, 5.0, 110.0, 110.0], 120, 120, 2.7) < 1.1);
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax3(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}
