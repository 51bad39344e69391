//! Bilinear resampling of an RGB region into the planar BGR float tensors YuNet and MiniFASNet take.

/// A source rectangle in pixels (left, top, width, height), inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

/// A destination: `width`x`height` pixels written at the top-left of planes `stride`x`rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub rows: usize,
}

/// Resizes `region` of `img` to the target size (pixel centres as OpenCV's INTER_LINEAR) and writes
/// it as three planes B, G, R of raw 0..255 values into `out` (3 * stride * rows long). Pixels of
/// the planes outside the target size are left as they are (the caller zero-pads).
pub fn resize_to_bgr_planar(
    img: &image::RgbImage,
    region: Region,
    target: Target,
    out: &mut [f32],
) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = target.stride * target.rows;
    if w == 0
        || h == 0
        || out.len() < 3 * plane
        || target.width > target.stride
        || target.height > target.rows
    {
        return;
    }
    let raw = img.as_raw();
    if region.width == target.width
        && region.height == target.height
        && region.left + region.width <= w
        && region.top + region.height <= h
    {
        // Same size: a plain copy (the common case for webcam frames and LFW images).
        for y in 0..target.height {
            let row = &raw[((region.top + y) * w + region.left) * 3..][..target.width * 3];
            let o = y * target.stride;
            for (x, px) in row.chunks_exact(3).enumerate() {
                out[o + x] = f32::from(px[2]);
                out[plane + o + x] = f32::from(px[1]);
                out[2 * plane + o + x] = f32::from(px[0]);
            }
        }
        return;
    }
    let (rw, rh) = (region.width.max(1), region.height.max(1));
    let (sx, sy) = (
        rw as f32 / target.width as f32,
        rh as f32 / target.height as f32,
    );
    let at = |x: usize, y: usize, c: usize| {
        let (px, py) = ((region.left + x).min(w - 1), (region.top + y).min(h - 1));
        f32::from(raw[(py * w + px) * 3 + c])
    };
    for y in 0..target.height {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (rh - 1) as f32);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(rh - 1);
        let wy = fy - y0 as f32;
        for x in 0..target.width {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (rw - 1) as f32);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(rw - 1);
            let wx = fx - x0 as f32;
            let o = y * target.stride + x;
            for c in 0..3 {
                let top = at(x0, y0, c) * (1.0 - wx) + at(x1, y0, c) * wx;
                let bottom = at(x0, y1, c) * (1.0 - wx) + at(x1, y1, c) * wx;
                // BGR order: RGB channel c goes to plane 2 - c.
                out[(2 - c) * plane + o] = top * (1.0 - wy) + bottom * wy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_copies_pixels_exactly_in_bgr_order() {
        let img =
            image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([x as u8 * 10, y as u8 * 10, 7]));
        let target = Target {
            width: 4,
            height: 3,
            stride: 8,
            rows: 4,
        };
        let mut out = vec![-1.0f32; 3 * 8 * 4];
        resize_to_bgr_planar(
            &img,
            Region {
                left: 0,
                top: 0,
                width: 4,
                height: 3,
            },
            target,
            &mut out,
        );
        let plane = 32;
        assert_eq!(
            (out[8 + 3], out[plane + 8 + 3], out[2 * plane + 8 + 3]),
            (7.0, 10.0, 30.0)
        );
        assert_eq!(out[4], -1.0, "padding is left to the caller");
    }

    #[test]
    fn halving_averages_neighbours() {
        let img = image::RgbImage::from_fn(4, 4, |x, _| {
            image::Rgb([if x % 2 == 0 { 0 } else { 100 }, 0, 0])
        });
        let mut out = vec![0.0f32; 3 * 4];
        let t = Target {
            width: 2,
            height: 2,
            stride: 2,
            rows: 2,
        };
        resize_to_bgr_planar(
            &img,
            Region {
                left: 0,
                top: 0,
                width: 4,
                height: 4,
            },
            t,
            &mut out,
        );
        assert!((out[2 * 4] - 50.0).abs() < 1e-4, "{}", out[8]);
    }
}
