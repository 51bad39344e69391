//! YuNet face detection (dynamic input size): anchor decoding and NMS in plain Rust.

use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::resample::{resize_to_bgr_planar, Region, Target};
use super::VisionError;

/// A face box in image pixels (top-left corner, width, height).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoundingBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.width).min(other.x + other.width);
        let y2 = (self.y + self.height).min(other.y + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }
}

/// A detected face: box, detector confidence, and five landmarks in the order
/// image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    pub score: f32,
    pub landmarks: [[f32; 2]; 5],
}

/// Detection settings (MODELS.md: real faces score 0.92-0.95; 0.6 is a sane threshold).
#[derive(Debug, Clone, Copy)]
pub struct DetectorConfig {
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// Images larger than this (longest side) are downscaled before detection.
    pub max_side: u32,
    pub max_faces: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            max_side: 640,
            max_faces: 50,
        }
    }
}

pub struct Detector {
    session: Session,
    config: DetectorConfig,
    /// Reused between calls: the padded BGR NCHW input.
    input: Vec<f32>,
}

const STRIDES: [usize; 3] = [8, 16, 32];

impl Detector {
    pub fn new(session: Session, config: DetectorConfig) -> Self {
        Self {
            session,
            config,
            input: Vec::new(),
        }
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Detects faces in an RGB image; boxes and landmarks come back in the image's own pixels.
    pub fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Face>, VisionError> {
        let (w, h) = img.dimensions();
        let longest = w.max(h).max(1);
        let scale = if longest > self.config.max_side {
            self.config.max_side as f32 / longest as f32
        } else {
            1.0
        };
        let nw = ((w as f32 * scale).round() as usize).max(1);
        let nh = ((h as f32 * scale).round() as usize).max(1);
        let pw = nw.div_ceil(32) * 32;
        let ph = nh.div_ceil(32) * 32;
        fill_bgr_planar(img, nw, nh, pw, ph, &mut self.input);
        let tensor = TensorRef::from_array_view(([1usize, 3, ph, pw], self.input.as_slice()))?;
        let outputs = self.session.run(ort::inputs!["input" => tensor])?;
        let mut candidates = Vec::new();
        for stride in STRIDES {
            let get = |name: String| -> Result<&[f32], VisionError> {
                let value = outputs.get(&name).ok_or_else(|| {
                    VisionError::UnexpectedOutput(format!("missing output {name}"))
                })?;
                Ok(value.try_extract_tensor::<f32>()?.1)
            };
            let cls = get(format!("cls_{stride}"))?;
            let obj = get(format!("obj_{stride}"))?;
            let bbox = get(format!("bbox_{stride}"))?;
            let kps = get(format!("kps_{stride}"))?;
            let cols = pw / stride;
            let anchors = (ph / stride) * cols;
            if cls.len() < anchors
                || obj.len() < anchors
                || bbox.len() < anchors * 4
                || kps.len() < anchors * 10
            {
                return Err(VisionError::UnexpectedOutput(format!(
                    "stride {stride}: outputs shorter than {anchors} anchors"
                )));
            }
            decode_stride(
                stride,
                cols,
                DecodeInputs {
                    cls,
                    obj,
                    bbox,
                    kps,
                },
                self.config.score_threshold,
                &mut candidates,
            );
        }
        let mut faces = nms(candidates, self.config.nms_iou);
        faces.truncate(self.config.max_faces);
        let inv = 1.0 / scale;
        for f in &mut faces {
            f.bbox.x *= inv;
            f.bbox.y *= inv;
            f.bbox.width *= inv;
            f.bbox.height *= inv;
            for p in &mut f.landmarks {
                p[0] *= inv;
                p[1] *= inv;
            }
        }
        Ok(faces)
    }
}

struct DecodeInputs<'a> {
    cls: &'a [f32],
    obj: &'a [f32],
    bbox: &'a [f32],
    kps: &'a [f32],
}

/// Decodes one stride's anchors (MODELS.md): score = sqrt(cls*obj), centre = (col+b0, row+b1)*s,
/// size = exp(b2..3)*s, landmark k = (col+kps[2k], row+kps[2k+1])*s.
fn decode_stride(
    stride: usize,
    cols: usize,
    o: DecodeInputs<'_>,
    threshold: f32,
    out: &mut Vec<Face>,
) {
    let s = stride as f32;
    let anchors = o.cls.len().min(o.obj.len());
    for i in 0..anchors {
        let score = (o.cls[i].clamp(0.0, 1.0) * o.obj[i].clamp(0.0, 1.0)).sqrt();
        if score < threshold {
            continue;
        }
        let row = (i / cols) as f32;
        let col = (i % cols) as f32;
        let b = &o.bbox[i * 4..i * 4 + 4];
        let cx = (col + b[0]) * s;
        let cy = (row + b[1]) * s;
        let bw = b[2].exp() * s;
        let bh = b[3].exp() * s;
        let k = &o.kps[i * 10..i * 10 + 10];
        let mut landmarks = [[0.0f32; 2]; 5];
        for (j, p) in landmarks.iter_mut().enumerate() {
            *p = [(col + k[2 * j]) * s, (row + k[2 * j + 1]) * s];
        }
        out.push(Face {
            bbox: BoundingBox {
                x: cx - bw / 2.0,
                y: cy - bh / 2.0,
                width: bw,
                height: bh,
            },
            score,
            landmarks,
        });
    }
}

/// Greedy non-maximum suppression: highest score first, drop boxes overlapping a kept one above `iou`.
pub fn nms(mut faces: Vec<Face>, iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= iou) {
            kept.push(f);
        }
    }
    kept
}

/// Writes the image, bilinearly resized to `nw`x`nh`, into a zero `pw`x`ph` BGR planar canvas
/// (pasted top-left, padded right and bottom, as YuNet's multiple-of-32 input needs).
fn fill_bgr_planar(
    img: &image::RgbImage,
    nw: usize,
    nh: usize,
    pw: usize,
    ph: usize,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(3 * pw * ph, 0.0);
    let region = Region {
        left: 0,
        top: 0,
        width: img.width() as usize,
        height: img.height() as usize,
    };
    let target = Target {
        width: nw,
        height: nh,
        stride: pw,
        rows: ph,
    };
    resize_to_bgr_planar(img, region, target, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32, score: f32) -> Face {
        Face {
            bbox: BoundingBox {
                x,
                y,
                width: size,
                height: size,
            },
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = face(0.0, 0.0, 10.0, 1.0).bbox;
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&face(20.0, 20.0, 10.0, 1.0).bbox), 0.0);
        let half = face(5.0, 0.0, 10.0, 1.0).bbox; // overlap 50, union 150
        assert!((a.iou(&half) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_all_separate_ones() {
        let faces = vec![
            face(0.0, 0.0, 10.0, 0.7),
            face(1.0, 1.0, 10.0, 0.9),
            face(50.0, 50.0, 10.0, 0.8),
        ];
        let kept = nms(faces, 0.3);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].score, 0.8);
    }

    #[test]
    fn decode_applies_the_anchor_formula() {
        // One 2-column grid at stride 8; anchor 3 = row 1, col 1.
        let cls = [0.0, 0.0, 0.0, 0.81];
        let obj = [0.0, 0.0, 0.0, 1.0];
        let mut bbox = [0.0f32; 16];
        bbox[12..16].copy_from_slice(&[0.5, 0.5, 0.0, 0.0]);
        let mut kps = [0.0f32; 40];
        kps[30] = 0.25;
        let mut out = Vec::new();
        decode_stride(
            8,
            2,
            DecodeInputs {
                cls: &cls,
                obj: &obj,
                bbox: &bbox,
                kps: &kps,
            },
            0.6,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let f = out[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        assert_eq!(
            f.bbox,
            BoundingBox {
                x: 8.0,
                y: 8.0,
                width: 8.0,
                height: 8.0
            }
        );
        assert_eq!(f.landmarks[0], [10.0, 8.0]);
    }

    #[test]
    fn canvas_is_bgr_and_padded_with_zeros() {
        let img = image::RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]));
        let mut buf = Vec::new();
        fill_bgr_planar(&img, 3, 2, 32, 32, &mut buf);
        let plane = 32 * 32;
        assert_eq!(buf.len(), 3 * plane);
        assert_eq!((buf[0], buf[plane], buf[2 * plane]), (30.0, 20.0, 10.0));
        assert_eq!(buf[3], 0.0);
        assert_eq!(buf[2 * 32], 0.0);
    }
}
