//! The GUI preview's short hints (kept as they were).

use serde::{Deserialize, Serialize};

use crate::vision::detect::Face;

/// Faces narrower than this (pixels) are too small for a trustworthy descriptor (the chip is 150 px).
pub const MIN_FACE_SIDE: f32 = 48.0;
/// Mean luma of the face region below this is "too dark" (0..255).
pub const MIN_FACE_LUMA: f32 = 50.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityHint {
    NoFace,
    SeveralFaces,
    FaceTooSmall,
    TooDark,
}

impl QualityHint {
    pub fn message(&self) -> &'static str {
        match self {
            QualityHint::NoFace => "no face",
            QualityHint::SeveralFaces => "several faces",
            QualityHint::FaceTooSmall => "face too small",
            QualityHint::TooDark => "too dark",
        }
    }
}

/// Mean luma (BT.601) inside the face box.
pub fn face_luma(img: &image::RgbImage, face: &Face) -> f32 {
    let (w, h) = img.dimensions();
    let x0 = face.bbox.x.max(0.0) as u32;
    let y0 = face.bbox.y.max(0.0) as u32;
    let x1 = ((face.bbox.x + face.bbox.width).max(0.0) as u32).min(w);
    let y1 = ((face.bbox.y + face.bbox.height).max(0.0) as u32).min(h);
    let (mut sum, mut n) = (0.0f64, 0u64);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            sum += 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// Hints for a frame, given the faces that count (see the engine's multi-face rule).
pub fn hints(img: &image::RgbImage, faces: &[Face]) -> Vec<QualityHint> {
    match faces {
        [] => vec![QualityHint::NoFace],
        [face] => {
            let mut out = Vec::new();
            if face.bbox.width.min(face.bbox.height) < MIN_FACE_SIDE {
                out.push(QualityHint::FaceTooSmall);
            }
            if face_luma(img, face) < MIN_FACE_LUMA {
                out.push(QualityHint::TooDark);
            }
            out
        }
        _ => vec![QualityHint::SeveralFaces],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::BoundingBox;

    fn face(side: f32) -> Face {
        Face {
            bbox: BoundingBox {
                x: 0.0,
                y: 0.0,
                width: side,
                height: side,
            },
            score: 0.9,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn hints_cover_none_several_small_and_dark() {
        let bright = image::RgbImage::from_pixel(200, 200, image::Rgb([200, 180, 160]));
        let dark = image::RgbImage::from_pixel(200, 200, image::Rgb([10, 10, 10]));
        assert_eq!(hints(&bright, &[]), vec![QualityHint::NoFace]);
        assert_eq!(
            hints(&bright, &[face(100.0), face(100.0)]),
            vec![QualityHint::SeveralFaces]
        );
        assert_eq!(
            hints(&bright, &[face(20.0)]),
            vec![QualityHint::FaceTooSmall]
        );
        assert_eq!(hints(&dark, &[face(100.0)]), vec![QualityHint::TooDark]);
        assert!(hints(&bright, &[face(100.0)]).is_empty());
    }
}
