//! The raw values of one face ([`FaceStats`], [`face_stats`]): the geometric measures (size,
//! liveness context, centring, crop margins) here, the light and sharpness from their modules.

use serde::{Deserialize, Serialize};

use super::exposure::{exposure, inner_face};
use super::sharpness::{
    directional_sharpness, laplacian_stats, luma_patch, sharpness_region, SHARPNESS_IED,
};
use crate::vision::detect::{BoundingBox, Face};
use crate::vision::liveness::effective_scale;
use crate::vision::pose::box_region;

#[cfg(doc)]
use super::assess;

/// Raw values of one face, before any threshold (for studies and for [`assess`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct FaceStats {
    pub inter_eye_distance: Option<f64>,
    pub liveness_context: Option<f64>,
    pub horizontal_offset: Option<f64>,
    pub leftward_crop: Option<f64>,
    pub rightward_crop: Option<f64>,
    pub margin_above: Option<f64>,
    pub margin_below: Option<f64>,
    pub luminance_mean: Option<f64>,
    pub under_exposure: Option<f64>,
    pub over_exposure: Option<f64>,
    pub dynamic_range: Option<f64>,
    pub illumination_uniformity: Option<f64>,
    /// Histogram intersection of the two halves (OFIQ IlluminationUniformity, 32 bins), for study.
    pub illumination_histogram: Option<f64>,
    /// The smallest of the four directional sharpness values of the eyes-to-mouth region at
    /// 32 px between the eyes (see `directional_sharpness`), 0..1.
    pub sharpness: Option<f64>,
    /// The largest of the four.
    pub sharpness_max: Option<f64>,
    /// Smallest / largest: low when the blur has one direction (motion).
    pub sharpness_anisotropy: Option<f64>,
    /// The first sharpness measure (variance of the Laplacian of the face box at 64x64 over the
    /// patch's variance), kept for study and the before/after table.
    pub laplacian_sharpness: Option<f64>,
    /// Variance of the Laplacian of the 64x64 patch, unnormalised (for study).
    pub laplacian_variance: Option<f64>,
    /// Gradient coherence of the 64x64 patch, 0 (isotropic) .. 1 (one direction).
    pub gradient_coherence: Option<f64>,
}

fn finite_face(face: &Face) -> bool {
    let b = &face.bbox;
    [b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite())
        && face.landmarks.iter().flatten().all(|v| v.is_finite())
}

/// The raw values of every measure of `face` in `img` (no thresholds). The luminance, exposure and
/// uniformity are measured on the inner face in the face's own frame (its horizontal along the
/// eye line), so that a tilted face's region holds the same skin an upright one's does and not
/// the background beside a tilted cheek. Never panics: what cannot be measured (non-finite or
/// collapsed landmarks, a box with no pixel in the frame) is `None`.
pub fn face_stats(img: &image::RgbImage, face: &Face) -> FaceStats {
    face_stats_rolled(img, face, None)
}

/// [`face_stats`] with the face's frame turned by `roll` degrees instead of the eye line's angle
/// (the eye line's convention: the face's horizontal points along `(cos, sin)` in image
/// coordinates, y down; `Some(0.0)`: an axis-aligned inner face). For studies: the report uses
/// the eye line, the frame of the landmarks that place the region (turning it by the head-pose
/// model's roll instead gave the same validation numbers: docs/quality.md).
pub fn face_stats_rolled(img: &image::RgbImage, face: &Face, roll: Option<f32>) -> FaceStats {
    let mut s = FaceStats::default();
    let (w, h) = img.dimensions();
    if !finite_face(face) || w == 0 || h == 0 {
        return s;
    }
    let [le, re, _nose, lm, rm] = face.landmarks;
    let ied = f64::from(((re[0] - le[0]).powi(2) + (re[1] - le[1]).powi(2)).sqrt());
    let eye_mid = (
        f64::from(le[0] + re[0]) / 2.0,
        f64::from(le[1] + re[1]) / 2.0,
    );
    let mouth_mid = (
        f64::from(lm[0] + rm[0]) / 2.0,
        f64::from(lm[1] + rm[1]) / 2.0,
    );
    let t = ((mouth_mid.0 - eye_mid.0).powi(2) + (mouth_mid.1 - eye_mid.1).powi(2)).sqrt();
    let ied_ok = ied > 1e-3;
    s.inter_eye_distance = Some(ied);
    s.liveness_context = Some(f64::from(effective_scale(
        liveness_box(&face.bbox),
        w,
        h,
        2.7,
    )));
    let (cx, _) = face.bbox.centre();
    s.horizontal_offset = Some(f64::from((cx - w as f32 / 2.0).abs() / w as f32));
    if ied_ok {
        s.leftward_crop = Some(f64::from(le[0]) / ied);
        s.rightward_crop = Some((f64::from(w) - f64::from(re[0])) / ied);
    }
    if t > 1e-3 {
        s.margin_above = Some(eye_mid.1 / t);
        s.margin_below = Some((f64::from(h) - eye_mid.1) / t);
    }
    // The face's horizontal: turned by the roll given, else along the eye line.
    let axis = match roll.filter(|r| r.is_finite()) {
        Some(r) => {
            let (sn, cs) = r.to_radians().sin_cos();
            (cs, sn)
        }
        None if ied_ok => ((re[0] - le[0]) / ied as f32, (re[1] - le[1]) / ied as f32),
        None => (1.0, 0.0),
    };
    if let Some(core) = inner_face(face, ied as f32, axis, w, h) {
        // The halves are split across the face's horizontal through the nose (a tilted face's
        // halves are not left and right of a vertical line).
        exposure(img, &core, face.landmarks[2], axis, &mut s);
    }
    if let Some(region) = box_region(&face.bbox, w, h) {
        laplacian_stats(img, region, &mut s);
    }
    if let Some(r) = ied_ok
        .then(|| sharpness_region(face, ied as f32, w, h))
        .flatten()
    {
        let k = SHARPNESS_IED / ied as f32;
        let size = |n: usize| ((n as f32 * k).round() as usize).clamp(8, 256);
        let (pw, ph) = (size(r.width), size(r.height));
        if let Some(d) = directional_sharpness(&luma_patch(img, r, pw, ph), pw, ph) {
            let lo = d.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = d.iter().copied().fold(0.0f64, f64::max);
            s.sharpness = Some(lo);
            s.sharpness_max = Some(hi);
            s.sharpness_anisotropy = Some(if hi > 1e-9 { lo / hi } else { 1.0 });
        }
    }
    s
}

/// Silent-Face's integer box, as `liveness` computes it before `effective_scale`.
fn liveness_box(b: &BoundingBox) -> [f32; 4] {
    let x = b.x.trunc();
    let y = b.y.trunc();
    let x2 = (b.x + b.width).trunc();
    let y2 = (b.y + b.height).trunc();
    [x, y, (x2 - x + 1.0).max(1.0), (y2 - y + 1.0).max(1.0)]
}
