//! Luminance, exposure and illumination uniformity, measured on the inner face in the face's own
//! frame.

use super::FaceStats;
use crate::vision::detect::{BoundingBox, Face};
use crate::vision::pose::box_region;
use crate::vision::resample::Region;

/// BT.601 luma of an RGB pixel.
pub(super) fn luma(p: [u8; 3]) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

/// A rectangle in the face's own frame (`u` along the face's horizontal, `v` down the face, both
/// unit vectors in image coordinates, measured from `origin`), with the pixels of the image
/// that may lie in it (its bounding box, clipped to the image).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct FaceRect {
    origin: [f32; 2],
    u: (f32, f32),
    v: (f32, f32),
    /// `[u0, u1, v0, v1]`.
    extent: [f32; 4],
    bounds: Region,
}

impl FaceRect {
    /// `extent` in the frame at `origin` turned by `axis`; `None` when no pixel of the image is in it.
    fn new(origin: [f32; 2], axis: (f32, f32), extent: [f32; 4], w: u32, h: u32) -> Option<Self> {
        let u = axis;
        let v = (-axis.1, axis.0);
        let [u0, u1, v0, v1] = extent;
        if !(u1 > u0 && v1 > v0) {
            return None;
        }
        let corners = [(u0, v0), (u1, v0), (u0, v1), (u1, v1)]
            .map(|(a, b)| (origin[0] + a * u.0 + b * v.0, origin[1] + a * u.1 + b * v.1));
        let x0 = corners.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
        let x1 = corners
            .iter()
            .map(|c| c.0)
            .fold(f32::NEG_INFINITY, f32::max);
        let y0 = corners.iter().map(|c| c.1).fold(f32::INFINITY, f32::min);
        let y1 = corners
            .iter()
            .map(|c| c.1)
            .fold(f32::NEG_INFINITY, f32::max);
        let bounds = box_region(
            &BoundingBox {
                x: x0,
                y: y0,
                width: x1 - x0,
                height: y1 - y0,
            },
            w,
            h,
        )?;
        Some(Self {
            origin,
            u,
            v,
            extent,
            bounds,
        })
    }

    /// Whether the centre of pixel `(x, y)` is inside.
    fn contains(&self, x: usize, y: usize) -> bool {
        let (dx, dy) = (
            x as f32 + 0.5 - self.origin[0],
            y as f32 + 0.5 - self.origin[1],
        );
        let a = dx * self.u.0 + dy * self.u.1;
        let b = dx * self.v.0 + dy * self.v.1;
        let [u0, u1, v0, v1] = self.extent;
        (u0..=u1).contains(&a) && (v0..=v1).contains(&b)
    }
}

/// The inner face (mostly skin: brows to below the mouth, outer eye corners) in the face's own
/// frame (`axis` = its horizontal), clipped to the image: from the landmarks, or the middle of
/// the box when the eyes collapse to a point. Outer eyes +-0.25 IED, 0.4 IED above the eyes to
/// 0.25 IED below the mouth, along and across `axis`: an upright face's rectangle is the same
/// as an axis-aligned one, a tilted face's does not take the background beside its cheek.
pub(super) fn inner_face(
    face: &Face,
    ied: f32,
    axis: (f32, f32),
    w: u32,
    h: u32,
) -> Option<FaceRect> {
    let [le, re, _, lm, rm] = face.landmarks;
    if ied > 1e-3 {
        let origin = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
        let (u, v) = (axis, (-axis.1, axis.0));
        let at = |p: [f32; 2]| {
            let (dx, dy) = (p[0] - origin[0], p[1] - origin[1]);
            (dx * u.0 + dy * u.1, dx * v.0 + dy * v.1)
        };
        let pts = [le, re, lm, rm].map(at);
        let u0 = pts.iter().map(|p| p.0).fold(f32::INFINITY, f32::min) - 0.25 * ied;
        let u1 = pts.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max) + 0.25 * ied;
        let v0 = pts[0].1.min(pts[1].1) - 0.4 * ied;
        let v1 = pts[2].1.max(pts[3].1) + 0.25 * ied;
        FaceRect::new(origin, axis, [u0, u1, v0, v1], w, h)
    } else {
        let b = face.bbox;
        let (cx, cy) = b.centre();
        let (hw, hh) = (0.3 * b.width, 0.3 * b.height);
        FaceRect::new([cx, cy], (1.0, 0.0), [-hw, hw, -hh, hh], w, h)
    }
}

/// Luminance mean, clipped shadows and highlights, histogram entropy and the halves' balance.
pub(super) fn exposure(
    img: &image::RgbImage,
    rect: &FaceRect,
    nose: [f32; 2],
    axis: (f32, f32),
    s: &mut FaceStats,
) {
    let r = rect.bounds;
    let mut hist = [0u32; 256];
    let (mut sum_l, mut n_l, mut sum_r, mut n_r) = (0.0f64, 0u32, 0.0f64, 0u32);
    let mut half_hist = [[0u32; 32]; 2];
    for y in r.top..r.top + r.height {
        for x in r.left..r.left + r.width {
            if !rect.contains(x, y) {
                continue;
            }
            let v = luma(img.get_pixel(x as u32, y as u32).0);
            let bin = (v.round() as usize).min(255);
            hist[bin] += 1;
            let side = (x as f32 + 0.5 - nose[0]) * axis.0 + (y as f32 + 0.5 - nose[1]) * axis.1;
            if side < 0.0 {
                sum_l += f64::from(v);
                n_l += 1;
                half_hist[0][bin / 8] += 1;
            } else {
                sum_r += f64::from(v);
                n_r += 1;
                half_hist[1][bin / 8] += 1;
            }
        }
    }
    let n: u32 = hist.iter().sum();
    if n == 0 {
        return;
    }
    let nf = f64::from(n);
    let mean = (sum_l + sum_r) / nf;
    s.luminance_mean = Some(mean);
    s.under_exposure = Some(f64::from(hist[..=25].iter().sum::<u32>()) / nf);
    s.over_exposure = Some(f64::from(hist[247..].iter().sum::<u32>()) / nf);
    s.dynamic_range = Some(
        -hist
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / nf;
                p * p.log2()
            })
            .sum::<f64>(),
    );
    // Each half needs a few pixels: a face seen edge-on has no second half to compare (1/8 of
    // the region's pixels, as 1/8 of an axis-aligned rectangle's width was).
    let min_half = (n / 8).max(2);
    if n_l >= min_half && n_r >= min_half {
        let (ml, mr) = (sum_l / f64::from(n_l), sum_r / f64::from(n_r));
        let hi = ml.max(mr);
        s.illumination_uniformity = Some(if hi <= 0.0 { 1.0 } else { ml.min(mr) / hi });
        let inter: f64 = (0..32)
            .map(|b| {
                (f64::from(half_hist[0][b]) / f64::from(n_l))
                    .min(f64::from(half_hist[1][b]) / f64::from(n_r))
            })
            .sum();
        s.illumination_histogram = Some(inter);
    }
}

#[cfg(test)]
mod tests {
    use crate::vision::quality::face_stats;
    use crate::vision::quality::tests::frontal;

    #[test]
    fn exposure_and_halves_are_measured_on_the_inner_face() {
        let face = frontal(130.0, 90.0, 60.0);
        // Left of the nose (x < 160) dark, right bright.
        let img = image::RgbImage::from_fn(320, 240, |x, _| {
            let v = if x < 160 { 20 } else { 250 };
            image::Rgb([v, v, v])
        });
        let s = face_stats(&img, &face);
        assert!(s.illumination_uniformity.expect("uniformity") < 0.1);
        assert!(s.under_exposure.expect("under") > 0.3 && s.over_exposure.expect("over") > 0.3);
        let even = image::RgbImage::from_pixel(320, 240, image::Rgb([120, 120, 120]));
        let s = face_stats(&even, &face);
        assert!((s.illumination_uniformity.expect("uniformity") - 1.0).abs() < 1e-9);
        assert!((s.luminance_mean.expect("mean") - 120.0).abs() < 0.5);
        assert_eq!(s.dynamic_range, Some(0.0));
        assert!((s.inter_eye_distance.expect("ied") - 60.0).abs() < 1e-6);
    }
}
