//! Display copies of photos: scaled down for the screen, pixelated under `--redact` (a privacy
//! screen, also used for the committed screenshots: the test photos must not be published).

use eframe::egui::ColorImage;
use image::RgbImage;

/// A copy at most `side` pixels on its longer side, and its scale (display pixels per image pixel).
pub fn display_copy(img: &RgbImage, side: u32, redact: bool) -> (ColorImage, f32) {
    let (w, h) = img.dimensions();
    let scale = (side as f32 / w.max(h).max(1) as f32).min(1.0);
    let (dw, dh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let mut small = if scale < 1.0 {
        image::imageops::resize(img, dw, dh, image::imageops::FilterType::Triangle)
    } else {
        img.clone()
    };
    if redact {
        small = pixelate(&small);
    }
    let (sw, sh) = small.dimensions();
    (
        ColorImage::from_rgb([sw as usize, sh as usize], small.as_raw()),
        sw as f32 / w.max(1) as f32,
    )
}

/// Blocks of about 1/20 of the width.
pub fn pixelate(img: &RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let block = (w / 20).max(2);
    let tiny = image::imageops::resize(
        img,
        (w / block).max(1),
        (h / block).max(1),
        image::imageops::FilterType::Triangle,
    );
    image::imageops::resize(&tiny, w, h, image::imageops::FilterType::Nearest)
}

/// A camera frame as egui pixels (pixelated under `redact`).
pub fn frame_pixels(img: &RgbImage, redact: bool) -> ColorImage {
    let (w, h) = img.dimensions();
    if redact {
        ColorImage::from_rgb([w as usize, h as usize], pixelate(img).as_raw())
    } else {
        ColorImage::from_rgb([w as usize, h as usize], img.as_raw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_copy_fits_the_side_and_keeps_the_aspect() {
        let img = RgbImage::from_pixel(400, 200, image::Rgb([10, 20, 30]));
        let (c, scale) = display_copy(&img, 100, false);
        assert_eq!(c.size, [100, 50]);
        assert!((scale - 0.25).abs() < 1e-6);
        // Never scaled up.
        let (c, scale) = display_copy(&img, 1000, true);
        assert_eq!(c.size, [400, 200]);
        assert!((scale - 1.0).abs() < 1e-6);
    }
}
