//! Synthetic frames (a moving square on a gradient) for unit tests and benchmarks without a camera.

use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};

use super::{pace, CameraError, FrameSource};

pub struct SyntheticSource {
    width: u32,
    height: u32,
    n: u32,
    interval: Duration,
    next: Instant,
}

impl SyntheticSource {
    pub fn new(width: u32, height: u32, fps: f64) -> Self {
        Self {
            width: width.max(1),
            height: height.max(1),
            n: 0,
            interval: Duration::from_secs_f64(1.0 / fps.max(0.1)),
            next: Instant::now(),
        }
    }

    /// The frame number `n` (deterministic).
    pub fn frame(&self, n: u32) -> RgbImage {
        let side = (self.width.min(self.height) / 4).max(1);
        let x0 = (n * 4) % self.width.saturating_sub(side).max(1);
        let y0 = (self.height - side) / 2;
        RgbImage::from_fn(self.width, self.height, |x, y| {
            if x >= x0 && x < x0 + side && y >= y0 && y < y0 + side {
                Rgb([240, 200, 40])
            } else {
                Rgb([
                    (x * 255 / self.width) as u8,
                    (y * 255 / self.height) as u8,
                    96,
                ])
            }
        })
    }
}

impl FrameSource for SyntheticSource {
    fn describe(&self) -> String {
        format!("synthetic {}x{}", self.width, self.height)
    }

    fn next_frame(&mut self) -> Result<RgbImage, CameraError> {
        pace(&mut self.next, self.interval);
        let img = self.frame(self.n);
        self.n = self.n.wrapping_add(1);
        Ok(img)
    }
}
