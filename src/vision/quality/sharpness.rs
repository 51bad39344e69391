//! Sharpness: directional re-blur sharpness on the eyes-to-mouth region at a fixed inter-eye
//! distance, the older Laplacian measures, and the luma resampling they share.

use super::exposure::luma;
use super::FaceStats;
use crate::vision::detect::{BoundingBox, Face};
use crate::vision::pose::box_region;
use crate::vision::resample::Region;

/// Side of the square the face box is resampled to before the Laplacian, so that sharpness does
/// not grow or shrink with the face's size in pixels.
pub const SHARPNESS_SIDE: usize = 64;

/// Resamples one line: area average when shrinking, linear interpolation when enlarging.
fn resample_line(src: &[f32], out: &mut [f32]) {
    let (n, m) = (src.len(), out.len());
    if n == 0 || m == 0 {
        return;
    }
    let r = n as f64 / m as f64;
    if r >= 1.0 {
        for (i, o) in out.iter_mut().enumerate() {
            let (a, b) = (i as f64 * r, (i + 1) as f64 * r);
            let (mut acc, mut k) = (0.0f64, a as usize); // a >= 0: truncation is the floor
            while (k as f64) < b && k < n {
                let lo = a.max(k as f64);
                let hi = b.min(k as f64 + 1.0);
                acc += f64::from(src[k]) * (hi - lo);
                k += 1;
            }
            *o = (acc / r) as f32;
        }
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            let f = ((i as f64 + 0.5) * r - 0.5).clamp(0.0, (n - 1) as f64);
            let k = f as usize;
            let k1 = (k + 1).min(n - 1);
            let wgt = (f - k as f64) as f32;
            *o = src[k] * (1.0 - wgt) + src[k1] * wgt;
        }
    }
}

/// The region's luma resampled to `pw` x `ph` (row-major).
pub(super) fn luma_patch(img: &image::RgbImage, r: Region, pw: usize, ph: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; pw * r.height];
    let mut line = vec![0.0f32; r.width];
    for y in 0..r.height {
        for (x, v) in line.iter_mut().enumerate() {
            *v = luma(img.get_pixel((r.left + x) as u32, (r.top + y) as u32).0);
        }
        resample_line(&line, &mut rows[y * pw..(y + 1) * pw]);
    }
    let mut patch = vec![0.0f32; pw * ph];
    let mut col = vec![0.0f32; r.height];
    let mut out = vec![0.0f32; ph];
    for x in 0..pw {
        for (y, v) in col.iter_mut().enumerate() {
            *v = rows[y * pw + x];
        }
        resample_line(&col, &mut out);
        for (y, v) in out.iter().enumerate() {
            patch[y * pw + x] = *v;
        }
    }
    patch
}

/// The eyes-to-mouth region the sharpness is measured on (skin and the features' edges, no hair
/// or background, which a moving face does not blur the same way): outer eyes +-0.4 IED,
/// 0.5 IED above the eyes to 0.35 IED below the mouth.
pub(super) fn sharpness_region(face: &Face, ied: f32, w: u32, h: u32) -> Option<Region> {
    let [le, re, _, lm, rm] = face.landmarks;
    let xs = [le[0], re[0], lm[0], rm[0]];
    let x0 = xs.iter().copied().fold(f32::INFINITY, f32::min) - 0.4 * ied;
    let x1 = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max) + 0.4 * ied;
    let y0 = le[1].min(re[1]) - 0.5 * ied;
    let y1 = lm[1].max(rm[1]) + 0.35 * ied;
    box_region(
        &BoundingBox {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        },
        w,
        h,
    )
}

/// Inter-eye distance (pixels) the sharpness region is resampled to, so that the measure is the
/// face's own detail and not its size in the frame (a 640x480 frame at arm's length has ~60 px,
/// LFW 24-62: shrinking averages, enlarging interpolates).
pub const SHARPNESS_IED: f32 = 32.0;

/// Directions the sharpness is measured along (22.5 degrees apart: a motion blur at any angle is
/// within 11.25 degrees of one of them).
pub const SHARPNESS_DIRECTIONS: usize = 8;

/// Bilinear sample of a `w` x `h` plane, clamped to its edge.
fn bilinear(p: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    // Clamped to >= 0, so truncation is the floor (without the libm call that baseline x86-64
    // makes of `floor`: this runs ~200,000 times per sharpness measure).
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = p[y0 * w + x0] * (1.0 - fx) + p[y0 * w + x1] * fx;
    let bot = p[y1 * w + x0] * (1.0 - fx) + p[y1 * w + x1] * fx;
    top * (1.0 - fy) + bot * fy
}

/// Per direction, the share of the luma variation (one-pixel steps along the direction) that a
/// re-blur (a 5-tap, 1 px spaced box along the same direction) removes: Crete-Roffet's
/// no-reference blur measure turned around. A sharp face loses much of its variation to the
/// re-blur, an already blurred one little, whatever its contrast. A motion blur leaves one
/// direction without detail and the one across it sharp; a defocus blur takes all of them.
pub(super) fn directional_sharpness(
    p: &[f32],
    w: usize,
    h: usize,
) -> Option<[f64; SHARPNESS_DIRECTIONS]> {
    const TAPS: i32 = 2;
    let m = (TAPS + 2) as usize;
    if w <= 2 * m + 2 || h <= 2 * m + 2 {
        return None;
    }
    let mut out = [0.0f64; SHARPNESS_DIRECTIONS];
    let mut blurred = vec![0.0f32; w * h];
    for (k, o) in out.iter_mut().enumerate() {
        let angle = std::f32::consts::PI * k as f32 / SHARPNESS_DIRECTIONS as f32;
        let (dy, dx) = angle.sin_cos();
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0f32;
                for t in -TAPS..=TAPS {
                    let t = t as f32;
                    acc += bilinear(p, w, h, x as f32 + t * dx, y as f32 + t * dy);
                }
                blurred[y * w + x] = acc / (2 * TAPS + 1) as f32;
            }
        }
        let (mut total, mut lost) = (0.0f64, 0.0f64);
        for y in m..h - m {
            for x in m..w - m {
                let (x2, y2) = (x as f32 + dx, y as f32 + dy);
                let d = f64::from((bilinear(p, w, h, x2, y2) - p[y * w + x]).abs());
                let db = f64::from((bilinear(&blurred, w, h, x2, y2) - blurred[y * w + x]).abs());
                total += d;
                lost += (d - db).max(0.0);
            }
        }
        *o = if total > 1e-6 { lost / total } else { 0.0 };
    }
    Some(out)
}

/// Variance of the 4-neighbour Laplacian over the patch's own variance (so that exposure and
/// contrast cancel), and the coherence of the gradient structure tensor (motion blur leaves
/// gradients across one direction only).
pub(super) fn laplacian_stats(img: &image::RgbImage, r: Region, s: &mut FaceStats) {
    let n = SHARPNESS_SIDE;
    let p = luma_patch(img, r, n, n);
    let (mut sum, mut sum2) = (0.0f64, 0.0f64);
    for v in &p {
        sum += f64::from(*v);
        sum2 += f64::from(*v) * f64::from(*v);
    }
    let count = (n * n) as f64;
    let var = (sum2 / count - (sum / count).powi(2)).max(0.0);
    let (mut ls, mut ls2, mut jxx, mut jyy, mut jxy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 1..n - 1 {
        for x in 1..n - 1 {
            let c = p[y * n + x];
            let (l, rr, u, d) = (
                p[y * n + x - 1],
                p[y * n + x + 1],
                p[(y - 1) * n + x],
                p[(y + 1) * n + x],
            );
            let lap = f64::from(l + rr + u + d - 4.0 * c);
            ls += lap;
            ls2 += lap * lap;
            let gx = f64::from(rr - l) / 2.0;
            let gy = f64::from(d - u) / 2.0;
            jxx += gx * gx;
            jyy += gy * gy;
            jxy += gx * gy;
        }
    }
    let m = ((n - 2) * (n - 2)) as f64;
    let lap_var = (ls2 / m - (ls / m).powi(2)).max(0.0);
    s.laplacian_variance = Some(lap_var);
    s.laplacian_sharpness = Some(if var > 1e-6 { lap_var / var } else { 0.0 });
    let trace = jxx + jyy;
    s.gradient_coherence = Some(if trace > 1e-9 {
        ((jxx - jyy).powi(2) + 4.0 * jxy * jxy).sqrt() / trace
    } else {
        0.0
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::quality::face_stats;
    use crate::vision::quality::tests::frontal;

    #[test]
    fn resampling_keeps_the_mean_and_interpolates_when_enlarging() {
        let src: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let mut out = vec![0.0; 4];
        resample_line(&src, &mut out);
        let mean = out.iter().sum::<f32>() / 4.0;
        assert!((mean - 4.5).abs() < 1e-4, "{out:?}");
        let mut big = vec![0.0; 20];
        resample_line(&src, &mut big);
        assert!(big.windows(2).all(|w| w[1] >= w[0]), "{big:?}");
        assert!(big[0] >= 0.0 && big[19] <= 9.0);
    }

    fn textured(w: u32, h: u32, period: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let v = if (x / period + y / period).is_multiple_of(2) {
                200
            } else {
                60
            };
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn sharpness_drops_with_blur_and_ignores_gain() {
        let sharp = textured(320, 240, 4);
        let face = frontal(130.0, 90.0, 60.0);
        let s = face_stats(&sharp, &face).sharpness.expect("sharpness");
        let blurred = image::imageops::blur(&sharp, 4.0);
        let b = face_stats(&blurred, &face).sharpness.expect("sharpness");
        assert!(b < 0.2 * s, "sharp {s} blurred {b}");
        let mut dim = sharp.clone();
        for p in dim.pixels_mut() {
            p.0 = p.0.map(|c| c / 2);
        }
        let d = face_stats(&dim, &face).sharpness.expect("sharpness");
        assert!(
            (d / s - 1.0).abs() < 0.05,
            "gain changed sharpness: {s} vs {d}"
        );
    }

    #[test]
    fn stripes_are_coherent_and_a_checkerboard_is_not() {
        let face = frontal(130.0, 90.0, 60.0);
        let stripes = image::RgbImage::from_fn(320, 240, |x, _| {
            let v = if (x / 3).is_multiple_of(2) { 200 } else { 60 };
            image::Rgb([v, v, v])
        });
        let c = face_stats(&stripes, &face)
            .gradient_coherence
            .expect("coherence");
        assert!(c > 0.9, "{c}");
        let check = face_stats(&textured(320, 240, 4), &face)
            .gradient_coherence
            .expect("coherence");
        assert!(check < 0.3, "{check}");
    }
}
