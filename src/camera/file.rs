//! A folder of images played as a camera at a fixed rate, in name order, looping (`--camera-file`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::{pace, CameraError, FrameSource};

/// Frames larger than this are refused: a folder of huge photos is not a camera.
const MAX_PIXELS: u64 = 4096 * 4096;

pub struct FileSource {
    dir: PathBuf,
    frames: Vec<RgbImage>,
    n: usize,
    fps: f64,
    interval: Duration,
    next: Instant,
}

impl FileSource {
    /// Decodes every image in `dir` up front (skipping files that are not images), so playback is
    /// as cheap as a real camera's.
    pub fn open(dir: &Path, fps: f64) -> Result<Self, CameraError> {
        let err = |reason: String| CameraError::Folder {
            path: dir.to_path_buf(),
            reason,
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_image_name(p))
            .collect();
        paths.sort();
        let frames: Vec<RgbImage> = paths
            .iter()
            .filter_map(|p| {
                let r = image::ImageReader::open(p)
                    .ok()?
                    .with_guessed_format()
                    .ok()?;
                let (w, h) = r.into_dimensions().ok()?;
                if u64::from(w) * u64::from(h) > MAX_PIXELS {
                    return None;
                }
                image::open(p).ok().map(|i| i.to_rgb8())
            })
            .collect();
        if frames.is_empty() {
            return Err(err("no readable images (png, jpg, webp, bmp)".into()));
        }
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            30.0
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            frames,
            n: 0,
            fps,
            interval: Duration::from_secs_f64(1.0 / fps),
            next: Instant::now(),
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

pub(crate) fn is_image_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg" | "webp" | "bmp"))
}

impl FrameSource for FileSource {
    fn describe(&self) -> String {
        format!(
            "file: {} frames from {} at {:.0} fps",
            self.frames.len(),
            self.dir.display(),
            self.fps
        )
    }

    fn next_frame(&mut self) -> Result<RgbImage, CameraError> {
        pace(&mut self.next, self.interval);
        let img = self.frames[self.n % self.frames.len()].clone();
        self.n = self.n.wrapping_add(1);
        Ok(img)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_images_in_name_order_and_skips_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, v) in [("b.png", 20u8), ("a.png", 10u8)] {
            RgbImage::from_pixel(8, 6, image::Rgb([v, v, v]))
                .save(dir.path().join(name))
                .expect("save");
        }
        std::fs::write(dir.path().join("notes.txt"), "hello").expect("write");
        std::fs::write(dir.path().join("broken.png"), "not a png").expect("write");
        let mut s = FileSource::open(dir.path(), 1000.0).expect("open");
        assert_eq!(s.len(), 2);
        assert_eq!(s.next_frame().expect("frame").get_pixel(0, 0).0[0], 10);
        assert_eq!(s.next_frame().expect("frame").get_pixel(0, 0).0[0], 20);
        assert_eq!(s.next_frame().expect("frame").get_pixel(0, 0).0[0], 10);
    }

    #[test]
    fn empty_folder_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            FileSource::open(dir.path(), 30.0),
            Err(CameraError::Folder { .. })
        ));
    }
}
