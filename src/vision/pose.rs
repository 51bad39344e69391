//! Head pose (yaw, pitch, roll in degrees): Intel's head-pose-estimation-adas-0001 on the detector's
//! box, and a landmark estimate from YuNet's five points when the model is not loaded or fails.
//!
//! Model (MODELS.md): input `input` [N,3,60,60], BGR, raw 0..255, the YuNet box resized to 60x60
//! with no margin; outputs `fc_y`, `fc_p`, `fc_r` [N,1] in degrees (Intel: yaw +-90, pitch and roll
//! +-70, mean absolute error about 5 degrees).
//!
//! Signs follow the model's outputs as this station measured them on its own data
//! (`examples/quality_validation.rs`, docs/quality.md "Head pose"): the landmark estimate is fitted
//! to the model's yaw and pitch and shares its signs; its roll is the angle of the eye line.

use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::detect::{BoundingBox, Face};
use super::resample::{resize_to_bgr_planar, Region, Target};
use super::VisionError;

/// Side of the square input the model takes.
pub const POSE_INPUT: usize = 60;

/// Where a pose came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoseSource {
    /// head-pose-estimation-adas-0001.
    Model,
    /// The five detector landmarks (a fallback: coarser in yaw and pitch, exact enough in roll).
    Landmarks,
}

/// Head pose in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
    pub source: PoseSource,
}

/// Gains of the landmark estimate: degrees of the model's yaw per unit of the nose's offset from
/// the eye midpoint across the eye line (in inter-eye distances), and of its pitch per unit of the
/// nose's offset along the face's vertical from its frontal position (in eye-to-mouth distances).
/// Fitted by least squares to the model's outputs on the LFW images of folds 1-2
/// (docs/quality.md "Head pose"); the frontal nose position is that data's median.
pub const LANDMARK_YAW_GAIN: f32 = 89.0;
pub const LANDMARK_PITCH_GAIN: f32 = 159.0;
pub const LANDMARK_PITCH_FRONTAL: f32 = 0.57;
/// Sign of the eye-line angle that matches the model's roll.
pub const LANDMARK_ROLL_SIGN: f32 = 1.0;

/// Pose from the five landmarks. `None` when the eyes coincide (no eye line) or the mouth sits on
/// the eye line (no face height).
pub fn landmark_pose(face: &Face) -> Option<Pose> {
    let [le, re, nose, lm, rm] = face.landmarks;
    let (ex, ey) = ((le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0);
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let ied = (dx * dx + dy * dy).sqrt();
    if !ied.is_finite() || ied < 1e-3 {
        return None;
    }
    // Unit vectors along the eye line (u) and down the face (v, perpendicular, pointing to the mouth).
    let (ux, uy) = (dx / ied, dy / ied);
    let (vx, vy) = (-uy, ux);
    let (mx, my) = ((lm[0] + rm[0]) / 2.0, (lm[1] + rm[1]) / 2.0);
    let face_height = (mx - ex) * vx + (my - ey) * vy;
    if !face_height.is_finite() || face_height.abs() < 1e-3 {
        return None;
    }
    let (nx, ny) = (nose[0] - ex, nose[1] - ey);
    let across = (nx * ux + ny * uy) / ied;
    let down = (nx * vx + ny * vy) / face_height;
    let roll = dy.atan2(dx).to_degrees();
    Some(Pose {
        yaw: LANDMARK_YAW_GAIN * across,
        pitch: LANDMARK_PITCH_GAIN * (down - LANDMARK_PITCH_FRONTAL),
        roll: LANDMARK_ROLL_SIGN * roll,
        source: PoseSource::Landmarks,
    })
}

/// The head-pose model with its session and a reused input buffer.
pub struct HeadPoseModel {
    session: Session,
    input: Vec<f32>,
}

impl HeadPoseModel {
    pub fn new(session: Session) -> Self {
        Self {
            session,
            input: vec![0.0; 3 * POSE_INPUT * POSE_INPUT],
        }
    }

    /// Pose of the face in `bbox`: the part of the box inside the image, resized to 60x60.
    /// A box with no pixel inside the image is [`VisionError::DegenerateFace`].
    pub fn estimate(
        &mut self,
        img: &image::RgbImage,
        bbox: &BoundingBox,
    ) -> Result<Pose, VisionError> {
        let region =
            box_region(bbox, img.width(), img.height()).ok_or(VisionError::DegenerateFace)?;
        let target = Target {
            width: POSE_INPUT,
            height: POSE_INPUT,
            stride: POSE_INPUT,
            rows: POSE_INPUT,
        };
        resize_to_bgr_planar(img, region, target, &mut self.input);
        self.run()
    }

    /// Pose of the face in `bbox` seen in a crop turned by `degrees` about the box centre (the
    /// crop's x axis along the image direction at `degrees`, the eye line's convention): a face
    /// rolled by `degrees` looks upright in it, so the model's roll is the residual. The model
    /// underestimates large rolls (its training range), so the kiosk refines a tilt this way.
    pub fn estimate_turned(
        &mut self,
        img: &image::RgbImage,
        bbox: &BoundingBox,
        degrees: f32,
    ) -> Result<Pose, VisionError> {
        let (w, h) = (img.width() as f32, img.height() as f32);
        let finite = [bbox.x, bbox.y, bbox.width, bbox.height, degrees]
            .iter()
            .all(|v| v.is_finite());
        if !finite || w < 1.0 || h < 1.0 || bbox.width < 1.0 || bbox.height < 1.0 {
            return Err(VisionError::DegenerateFace);
        }
        let (cx, cy) = bbox.centre();
        let (s, c) = degrees.to_radians().sin_cos();
        let plane = POSE_INPUT * POSE_INPUT;
        let raw = img.as_raw();
        let at =
            |x: usize, y: usize, ch: usize| f32::from(raw[(y * img.width() as usize + x) * 3 + ch]);
        for v in 0..POSE_INPUT {
            for u in 0..POSE_INPUT {
                let du = ((u as f32 + 0.5) / POSE_INPUT as f32 - 0.5) * bbox.width;
                let dv = ((v as f32 + 0.5) / POSE_INPUT as f32 - 0.5) * bbox.height;
                // Bilinear, clamped to the edge.
                let x = (cx + c * du - s * dv).clamp(0.0, w - 1.0);
                let y = (cy + s * du + c * dv).clamp(0.0, h - 1.0);
                let (x0, y0) = (x as usize, y as usize); // clamped >= 0: truncation is the floor
                let (x1, y1) = (
                    (x0 + 1).min(img.width() as usize - 1),
                    (y0 + 1).min(img.height() as usize - 1),
                );
                let (fx, fy) = (x - x0 as f32, y - y0 as f32);
                for ch in 0..3 {
                    let top = at(x0, y0, ch) * (1.0 - fx) + at(x1, y0, ch) * fx;
                    let bot = at(x0, y1, ch) * (1.0 - fx) + at(x1, y1, ch) * fx;
                    // BGR planes.
                    self.input[(2 - ch) * plane + v * POSE_INPUT + u] = top * (1.0 - fy) + bot * fy;
                }
            }
        }
        self.run()
    }

    fn run(&mut self) -> Result<Pose, VisionError> {
        let tensor = TensorRef::from_array_view((
            [1usize, 3, POSE_INPUT, POSE_INPUT],
            self.input.as_slice(),
        ))?;
        let outputs = self.session.run(ort::inputs!["input" => tensor])?;
        let angle = |name: &str| -> Result<f32, VisionError> {
            let value = outputs
                .get(name)
                .ok_or_else(|| VisionError::UnexpectedOutput(format!("missing output {name}")))?;
            let (_, v) = value.try_extract_tensor::<f32>()?;
            match v.first() {
                Some(x) if x.is_finite() => Ok(*x),
                _ => Err(VisionError::UnexpectedOutput(format!(
                    "{name} is empty or not finite"
                ))),
            }
        };
        let yaw = angle("fc_y")?;
        let pitch = angle("fc_p")?;
        let roll = angle("fc_r")?;
        Ok(Pose {
            yaw,
            pitch,
            roll,
            source: PoseSource::Model,
        })
    }
}

/// The integer pixel rectangle of `bbox` clipped to a `w`x`h` image; `None` when nothing is left.
pub fn box_region(bbox: &BoundingBox, w: u32, h: u32) -> Option<Region> {
    let finite = [bbox.x, bbox.y, bbox.width, bbox.height]
        .iter()
        .all(|v| v.is_finite());
    if !finite || w == 0 || h == 0 {
        return None;
    }
    let x0 = bbox.x.floor().max(0.0);
    let y0 = bbox.y.floor().max(0.0);
    let x1 = (bbox.x + bbox.width).ceil().min(w as f32);
    let y1 = (bbox.y + bbox.height).ceil().min(h as f32);
    if x1 - x0 < 1.0 || y1 - y0 < 1.0 {
        return None;
    }
    Some(Region {
        left: x0 as usize,
        top: y0 as usize,
        width: (x1 - x0) as usize,
        height: (y1 - y0) as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(landmarks: [[f32; 2]; 5]) -> Face {
        Face {
            bbox: BoundingBox {
                x: 0.0,
                y: 0.0,
                width: 100.0,
                height: 100.0,
            },
            score: 0.9,
            landmarks,
        }
    }

    const FRONTAL: [[f32; 2]; 5] = [
        [35.0, 40.0],
        [65.0, 40.0],
        [50.0, 57.1],
        [38.0, 70.0],
        [62.0, 70.0],
    ];

    #[test]
    fn frontal_landmarks_give_a_near_zero_pose() {
        let p = landmark_pose(&face(FRONTAL)).expect("pose");
        assert!(
            p.yaw.abs() < 1.0 && p.pitch.abs() < 1.0 && p.roll.abs() < 1e-3,
            "{p:?}"
        );
        assert_eq!(p.source, PoseSource::Landmarks);
    }

    #[test]
    fn roll_follows_the_eye_line_and_yaw_the_nose() {
        // Rotate the frontal points by 20 degrees about (50, 55).
        let (s, c) = 20f32.to_radians().sin_cos();
        let rotated = FRONTAL.map(|[x, y]| {
            let (dx, dy) = (x - 50.0, y - 55.0);
            [50.0 + c * dx - s * dy, 55.0 + s * dx + c * dy]
        });
        let p = landmark_pose(&face(rotated)).expect("pose");
        assert!((p.roll.abs() - 20.0).abs() < 0.01, "{p:?}");
        assert!(p.yaw.abs() < 1.0, "{p:?}");
        let mut turned = FRONTAL;
        turned[2][0] += 6.0;
        let p = landmark_pose(&face(turned)).expect("pose");
        assert!(p.yaw.abs() > 15.0, "{p:?}");
    }

    #[test]
    fn degenerate_landmarks_give_no_pose() {
        assert!(landmark_pose(&face([[10.0, 10.0]; 5])).is_none());
        assert!(landmark_pose(&face([[f32::NAN, 0.0]; 5])).is_none());
    }

    #[test]
    fn box_region_clips_and_refuses_empty_boxes() {
        let b = |x, y, width, height| BoundingBox {
            x,
            y,
            width,
            height,
        };
        let r = box_region(&b(-10.0, -5.0, 50.0, 50.0), 100, 100).expect("region");
        assert_eq!((r.left, r.top, r.width, r.height), (0, 0, 40, 45));
        assert!(box_region(&b(120.0, 0.0, 50.0, 50.0), 100, 100).is_none());
        assert!(box_region(&b(10.0, 10.0, 0.0, 0.0), 100, 100).is_none());
        assert!(box_region(&b(f32::NAN, 10.0, 5.0, 5.0), 100, 100).is_none());
        assert!(box_region(&b(0.0, 0.0, 5.0, 5.0), 0, 0).is_none());
    }
}
