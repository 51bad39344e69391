//! 5-point similarity alignment onto a recogniser's square chip (dlib 150 px, Intel reid 128 px),
//! bilinear, black border, planar RGB or BGR.

use crate::runtime::ChannelOrder;

/// Side of the chip the dlib ResNet takes.
pub const CHIP_SIZE: usize = 150;

/// dlib's mean face (68-point model: eye centres, nose tip, mouth corners) at padding 0.25 and 150 px,
/// as MODELS.md gives it. YuNet's points do not sit exactly where these features are.
pub const TEMPLATE_DLIB_MEAN: [[f32; 2]; 5] = [
    [47.57, 46.60],
    [100.48, 46.60],
    [74.01, 76.56],
    [50.41, 103.02],
    [97.61, 103.02],
];

/// A template fitted to dlib's own 150 px / 0.25-padding chips from YuNet's points (MODELS.md,
/// fitted on LFW images that are in no pair). Measured better on LFW: see README "Accuracy".
pub const TEMPLATE_FITTED: [[f32; 2]; 5] = [
    [46.625, 44.550],
    [103.060, 45.224],
    [74.250, 77.475],
    [51.025, 102.107],
    [99.057, 102.530],
];

/// A 2-D similarity transform: (x, y) -> (a x - b y + tx, b x + a y + ty).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    pub fn identity() -> Self {
        Self {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        }
    }

    /// Least-squares similarity (Umeyama without reflection, closed form in 2-D) mapping `src` onto `dst`.
    /// Returns `None` when the source points are degenerate (all at one place).
    pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Self> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[[f32; 2]]| {
            let (sx, sy) = p[..n].iter().fold((0.0f64, 0.0f64), |(x, y), q| {
                (x + f64::from(q[0]), y + f64::from(q[1]))
            });
            (sx / n as f64, sy / n as f64)
        };
        let (msx, msy) = mean(src);
        let (mdx, mdy) = mean(dst);
        let (mut dot, mut cross, mut var) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let (x, y) = (f64::from(src[i][0]) - msx, f64::from(src[i][1]) - msy);
            let (u, v) = (f64::from(dst[i][0]) - mdx, f64::from(dst[i][1]) - mdy);
            dot += x * u + y * v;
            cross += x * v - y * u;
            var += x * x + y * y;
        }
        if var < 1e-9 {
            return None;
        }
        let a = dot / var;
        let b = cross / var;
        Some(Self {
            a,
            b,
            tx: mdx - (a * msx - b * msy),
            ty: mdy - (b * msx + a * msy),
        })
    }

    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a * x - self.b * y + self.tx,
            self.b * x + self.a * y + self.ty,
        )
    }

    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    pub fn inverse(&self) -> Option<Self> {
        let d = self.a * self.a + self.b * self.b;
        if d < 1e-12 {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Self {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }

    /// `self` after `first`: x -> self(first(x)).
    pub fn after(&self, first: &Similarity) -> Self {
        let (tx, ty) = self.apply(first.tx, first.ty);
        Self {
            a: self.a * first.a - self.b * first.b,
            b: self.b * first.a + self.a * first.b,
            tx,
            ty,
        }
    }

    /// Rotation by `degrees` and scaling by `scale` about the centre of a dlib chip, then a shift
    /// in chip pixels.
    pub fn chip_jitter(degrees: f64, scale: f64, dx: f64, dy: f64) -> Self {
        Self::jitter_about(CHIP_SIZE, degrees, scale, dx, dy)
    }

    /// The same about the centre of a `size` x `size` chip.
    pub fn jitter_about(size: usize, degrees: f64, scale: f64, dx: f64, dy: f64) -> Self {
        let c = (size as f64 - 1.0) / 2.0;
        let (s, co) = degrees.to_radians().sin_cos();
        let (a, b) = (scale * co, scale * s);
        Self {
            a,
            b,
            tx: c - (a * c - b * c) + dx,
            ty: c - (b * c + a * c) + dy,
        }
    }
}

/// Writes one dlib chip (RGB, planar 3 x 150 x 150, raw 0..255) into `out`.
/// `image_to_chip` maps image pixels to chip pixels; `mirror` flips the chip left-right
/// (x' = 149 - x), folded into the same sampling pass.
pub fn warp_chip(
    img: &image::RgbImage,
    image_to_chip: &Similarity,
    mirror: bool,
    out: &mut [f32],
) -> bool {
    warp_chip_sized(
        img,
        image_to_chip,
        mirror,
        CHIP_SIZE,
        ChannelOrder::Rgb,
        out,
    )
}

/// Writes one `size` x `size` chip, planar in `order`, raw 0..255, into `out` (3 * size * size).
/// `mirror` flips the chip left-right (x' = size - 1 - x) in the same sampling pass.
pub fn warp_chip_sized(
    img: &image::RgbImage,
    image_to_chip: &Similarity,
    mirror: bool,
    size: usize,
    order: ChannelOrder,
    out: &mut [f32],
) -> bool {
    let Some(inv) = image_to_chip.inverse() else {
        return false;
    };
    let plane = size * size;
    if size == 0 || out.len() < 3 * plane {
        return false;
    }
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let row = w as usize * 3;
    // One output slice per RGB channel, so the inner loop writes without recomputing offsets.
    let (first, rest) = out[..3 * plane].split_at_mut(plane);
    let (second, third) = rest.split_at_mut(plane);
    let [r_out, g_out, b_out] = match order {
        ChannelOrder::Rgb => [first, second, third],
        ChannelOrder::Bgr => [third, second, first],
    };
    let (dx, dy) = if mirror {
        (-inv.a, -inv.b)
    } else {
        (inv.a, inv.b)
    };
    let u0 = if mirror { size - 1 } else { 0 };
    for v in 0..size {
        // The source point moves by (dx, dy) per chip pixel along a row.
        let (sx0, sy0) = inv.apply(u0 as f64, v as f64);
        let line = v * size..(v + 1) * size;
        let (r_row, g_row, b_row) = (
            &mut r_out[line.clone()],
            &mut g_out[line.clone()],
            &mut b_out[line],
        );
        for u in 0..size {
            let sx = sx0 + dx * u as f64;
            let sy = sy0 + dy * u as f64;
            let (x0, y0) = (floor_i64(sx), floor_i64(sy));
            let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
            let weights = [
                (1.0 - fx) * (1.0 - fy),
                fx * (1.0 - fy),
                (1.0 - fx) * fy,
                fx * fy,
            ];
            let acc = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                // Inside: the 2x2 neighbourhood as two 6-byte slices (the common case).
                let p = y0 as usize * row + x0 as usize * 3;
                let top = &raw[p..p + 6];
                let bottom = &raw[p + row..p + row + 6];
                let tap = |c: usize| {
                    f32::from(top[c]) * weights[0]
                        + f32::from(top[c + 3]) * weights[1]
                        + f32::from(bottom[c]) * weights[2]
                        + f32::from(bottom[c + 3]) * weights[3]
                };
                [tap(0), tap(1), tap(2)]
            } else {
                // At the border: taps outside the image are black.
                let mut acc = [0.0f32; 3];
                let taps = [(x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)];
                for ((x, y), wt) in taps.into_iter().zip(weights) {
                    if x >= 0 && y >= 0 && x < w && y < h {
                        let p = y as usize * row + x as usize * 3;
                        for (c, a) in acc.iter_mut().enumerate() {
                            *a += f32::from(raw[p + c]) * wt;
                        }
                    }
                }
                acc
            };
            r_row[u] = acc[0];
            g_row[u] = acc[1];
            b_row[u] = acc[2];
        }
    }
    true
}

/// `x.floor() as i64` without the libm call that baseline x86-64 makes of `floor` (the warp's
/// inner loop runs it twice per chip pixel); exact for every value a chip's sample can take.
#[inline]
fn floor_i64(x: f64) -> i64 {
    let t = x as i64; // truncates toward zero (saturating; NaN gives 0)
    t - i64::from((t as f64) > x)
}

/// Writes the left-right mirror of a planar dlib chip (x' = 149 - x): the same as warping with
/// `mirror`, without sampling the image again.
pub fn mirror_chip(chip: &[f32], out: &mut [f32]) {
    mirror_chip_sized(chip, CHIP_SIZE, out)
}

/// The same for a chip `size` pixels wide.
pub fn mirror_chip_sized(chip: &[f32], size: usize, out: &mut [f32]) {
    for (src, dst) in chip.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirroring_a_chip_equals_warping_mirrored() {
        let img = image::RgbImage::from_fn(200, 200, |x, y| {
            image::Rgb([(x * y % 251) as u8, (x + 2 * y) as u8, 9])
        });
        let m = Similarity {
            a: 0.9,
            b: 0.1,
            tx: -5.0,
            ty: 3.0,
        };
        let size = 3 * CHIP_SIZE * CHIP_SIZE;
        let (mut plain, mut warped, mut copied) =
            (vec![0.0; size], vec![0.0; size], vec![0.0; size]);
        assert!(warp_chip(&img, &m, false, &mut plain));
        assert!(warp_chip(&img, &m, true, &mut warped));
        mirror_chip(&plain, &mut copied);
        let worst = warped
            .iter()
            .zip(&copied)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{worst}");
    }

    #[test]
    fn bgr_chips_swap_planes_and_sized_mirror_matches() {
        let img = image::RgbImage::from_fn(160, 160, |x, y| {
            image::Rgb([(x % 200) as u8, (y % 200) as u8, ((x + y) % 97) as u8])
        });
        let m = Similarity {
            a: 0.7,
            b: -0.05,
            tx: 6.0,
            ty: 2.0,
        };
        let n = 128;
        let size = 3 * n * n;
        let (mut rgb, mut bgr, mut mir, mut copied) = (
            vec![0.0; size],
            vec![0.0; size],
            vec![0.0; size],
            vec![0.0; size],
        );
        assert!(warp_chip_sized(
            &img,
            &m,
            false,
            n,
            ChannelOrder::Rgb,
            &mut rgb
        ));
        assert!(warp_chip_sized(
            &img,
            &m,
            false,
            n,
            ChannelOrder::Bgr,
            &mut bgr
        ));
        assert!(warp_chip_sized(
            &img,
            &m,
            true,
            n,
            ChannelOrder::Bgr,
            &mut mir
        ));
        let plane = n * n;
        assert_eq!(rgb[..plane], bgr[2 * plane..]);
        assert_eq!(rgb[plane..2 * plane], bgr[plane..2 * plane]);
        mirror_chip_sized(&bgr, n, &mut copied);
        let worst = mir
            .iter()
            .zip(&copied)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-3, "{worst}");
    }

    #[test]
    fn estimate_recovers_a_known_similarity() {
        let truth = Similarity {
            a: 1.2 * 0.3f64.cos(),
            b: 1.2 * 0.3f64.sin(),
            tx: 5.0,
            ty: -7.0,
        };
        let src = [
            [10.0f32, 20.0],
            [40.0, 22.0],
            [25.0, 40.0],
            [12.0, 60.0],
            [38.0, 61.0],
        ];
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let (x, y) = truth.apply(f64::from(p[0]), f64::from(p[1]));
                [x as f32, y as f32]
            })
            .collect();
        let m = Similarity::estimate(&src, &dst).expect("estimate");
        assert!((m.a - truth.a).abs() < 1e-4 && (m.b - truth.b).abs() < 1e-4);
        assert!((m.tx - truth.tx).abs() < 1e-3 && (m.ty - truth.ty).abs() < 1e-3);
    }

    #[test]
    fn integer_floor_equals_floor() {
        for x in [
            -3.5, -3.0, -2.999, -0.5, -0.0, 0.0, 0.25, 1.0, 1.999_999, 149.5, 4095.75,
        ] {
            assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn degenerate_points_give_none() {
        let p = [[3.0f32, 3.0]; 5];
        assert!(Similarity::estimate(&p, &TEMPLATE_FITTED).is_none());
    }

    #[test]
    fn inverse_and_composition_round_trip() {
        let m = Similarity {
            a: 0.8,
            b: 0.4,
            tx: 3.0,
            ty: 9.0,
        };
        let inv = m.inverse().expect("inverse");
        let id = inv.after(&m);
        let (x, y) = id.apply(17.0, -4.0);
        assert!((x - 17.0).abs() < 1e-9 && (y + 4.0).abs() < 1e-9);
    }

    #[test]
    fn jitter_with_no_change_is_identity_and_keeps_the_centre_fixed() {
        assert_eq!(
            Similarity::chip_jitter(0.0, 1.0, 0.0, 0.0).apply(3.0, 4.0),
            (3.0, 4.0)
        );
        let j = Similarity::chip_jitter(10.0, 1.1, 0.0, 0.0);
        let (x, y) = j.apply(74.5, 74.5);
        assert!((x - 74.5).abs() < 1e-9 && (y - 74.5).abs() < 1e-9);
    }

    #[test]
    fn warp_samples_bilinearly_mirrors_and_fills_black_outside() {
        // Image: red channel = x coordinate.
        let img = image::RgbImage::from_fn(300, 300, |x, _| image::Rgb([x as u8, 0, 0]));
        let shift = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -10.5,
            ty: 0.0,
        };
        let mut chip = vec![0.0f32; 3 * CHIP_SIZE * CHIP_SIZE];
        assert!(warp_chip(&img, &shift, false, &mut chip));
        assert!((chip[0] - 10.5).abs() < 1e-4, "{}", chip[0]);
        assert!(warp_chip(&img, &shift, true, &mut chip));
        assert!((chip[0] - (149.0 + 10.5)).abs() < 1e-3, "{}", chip[0]);
        let away = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 1000.0,
            ty: 0.0,
        };
        assert!(warp_chip(&img, &away, false, &mut chip));
        assert!(chip.iter().all(|&v| v == 0.0));
    }
}
