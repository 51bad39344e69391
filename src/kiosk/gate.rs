//! The quality gate: one camera frame and its detected faces in, one [`FrameCheck`] out (the most
//! actionable hint, or none, and a quality scalar that picks the best frame of a passing run).
//!
//! [`FrameGate`] is the seam; [`QualityGate`] is the kiosk's gate: the ISO/IEC 29794-5 style
//! measures of `vision::quality` (face size, liveness context, centring and crop, exposure,
//! uneven light, sharpness, head pose with the head-pose model) under the kiosk preset
//! ([`QualityThresholds::kiosk`]). Its action codes are the kiosk's hints, and its report of the
//! captured frame is what the record carries as the probe's quality.

use image::RgbImage;

use super::flow::FrameCheck;
use crate::runtime::VerifiedModels;
use crate::vision::quality::{QualityAssessor, QualityReport, QualityThresholds};
use crate::vision::Face;

/// Height / width of the guide oval (the golden ratio, as AWS Amplify's liveness oval).
pub const OVAL_RATIO: f32 = 1.618;

/// The guide oval in frame pixels: where the person should put their face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Oval {
    pub centre: (f32, f32),
    /// Half width and half height.
    pub radii: (f32, f32),
}

impl Oval {
    /// The central oval of a `w` x `h` frame: 3/4 of the frame's height, width = height / 1.618.
    pub fn guide(w: u32, h: u32) -> Self {
        let height = 0.75 * h as f32;
        let width = (height / OVAL_RATIO).min(0.9 * w as f32);
        Self {
            centre: (w as f32 / 2.0, h as f32 / 2.0),
            radii: (width / 2.0, height / 2.0),
        }
    }

    /// (dx/rx)^2 + (dy/ry)^2 of a point: <= 1 inside the oval.
    pub fn distance(&self, p: (f32, f32)) -> f32 {
        let dx = (p.0 - self.centre.0) / self.radii.0.max(1.0);
        let dy = (p.1 - self.centre.1) / self.radii.1.max(1.0);
        dx * dx + dy * dy
    }
}

/// Checks one frame. Implementations keep no image: they see the frame only during the call.
pub trait FrameGate: Send {
    /// Loads what the gate needs from the verified models (the worker calls this once, after
    /// the engine loaded). A failure leaves the gate working without it; the text says why.
    fn load(&mut self, _models: &VerifiedModels) -> Result<(), String> {
        Ok(())
    }

    /// The frame's check (`seq` is left 0: the caller fills it in).
    fn check(&mut self, frame: &RgbImage, faces: &[Face]) -> FrameCheck;

    /// The full quality report of the last checked frame, if the gate makes one (the record
    /// of a decision carries the captured frame's).
    fn last_report(&self) -> Option<&QualityReport> {
        None
    }

    /// The oval the screen draws as the guide.
    fn guide(&self, w: u32, h: u32) -> Oval {
        Oval::guide(w, h)
    }

    /// One line for the operator's settings view.
    fn describe(&self) -> String;
}

/// The kiosk's gate: every measure of `vision::quality` must pass; the first failing action is
/// the hint. Without the head-pose model (not loaded yet, or failed) the pose comes from the
/// landmarks.
pub struct QualityGate {
    assessor: QualityAssessor,
    last: Option<QualityReport>,
    pose_problem: Option<String>,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self::new(QualityThresholds::kiosk())
    }
}

impl QualityGate {
    pub fn new(thresholds: QualityThresholds) -> Self {
        Self {
            assessor: QualityAssessor::new(None, thresholds),
            last: None,
            pose_problem: None,
        }
    }

    pub fn thresholds(&self) -> &QualityThresholds {
        &self.assessor.thresholds
    }
}

impl FrameGate for QualityGate {
    fn load(&mut self, models: &VerifiedModels) -> Result<(), String> {
        match QualityAssessor::load(models, self.assessor.thresholds.clone()) {
            Ok(a) => {
                self.assessor = a;
                self.pose_problem = None;
                Ok(())
            }
            Err(e) => {
                let why = format!("head-pose model not loaded ({e}): landmark pose");
                self.pose_problem = Some(why.clone());
                Err(why)
            }
        }
    }

    fn check(&mut self, frame: &RgbImage, faces: &[Face]) -> FrameCheck {
        let report = self.assessor.assess(frame, faces);
        // The worst margin ranks the passing frames: the best shot is the one farthest from
        // failing any measure.
        let quality = match (report.passed, report.quality) {
            (true, Some(q)) => q.max(0.0) as f32,
            _ => 0.0,
        };
        let check = FrameCheck {
            seq: 0,
            hint: report.action,
            quality,
        };
        self.last = Some(report);
        check
    }

    fn last_report(&self) -> Option<&QualityReport> {
        self.last.as_ref()
    }

    fn describe(&self) -> String {
        let t = &self.assessor.thresholds;
        let pose = match (&self.pose_problem, self.assessor.has_pose_model()) {
            (Some(why), _) => why.clone(),
            (None, true) => "head-pose model".into(),
            (None, false) => "landmark pose".into(),
        };
        format!(
            "quality gate (kiosk preset; {pose}): eyes >= {:.0} px apart, liveness context >= {:.2}, \
             centre within {:.0}% of the width, face luma {:.0}..{:.0}, light balance >= {:.2}, \
             sharpness >= {:.2}, |yaw|, |pitch| <= {:.0}/{:.0}, |roll| <= {:.0} deg",
            t.min_inter_eye_distance,
            t.min_liveness_context,
            t.max_horizontal_offset * 100.0,
            t.min_luminance,
            t.max_luminance,
            t.min_illumination_uniformity,
            t.min_sharpness,
            t.max_yaw,
            t.max_pitch,
            t.max_roll
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kiosk::flow::Hint;
    use crate::vision::BoundingBox;

    /// A frontal face: eyes `ied` apart at (x, y) and (x + ied, y).
    fn face(x: f32, y: f32, ied: f32) -> Face {
        Face {
            bbox: BoundingBox {
                x: x - 0.5 * ied,
                y: y - 0.7 * ied,
                width: 2.0 * ied,
                height: 2.4 * ied,
            },
            score: 0.9,
            landmarks: [
                [x, y],
                [x + ied, y],
                [x + 0.5 * ied, y + 0.55 * ied],
                [x + 0.1 * ied, y + 1.05 * ied],
                [x + 0.9 * ied, y + 1.05 * ied],
            ],
        }
    }

    /// Fine texture of mid grey (sharp, evenly lit, not clipped).
    fn textured(level: i32) -> RgbImage {
        RgbImage::from_fn(640, 480, |x, y| {
            let v = (level + ((x * 7 + y * 13) % 50) as i32 - 25).clamp(0, 255) as u8;
            image::Rgb([v, v, v])
        })
    }

    fn hint(frame: &RgbImage, faces: &[Face]) -> Option<Hint> {
        QualityGate::default().check(frame, faces).hint
    }

    #[test]
    fn each_failed_measure_gives_its_hint_and_a_good_face_passes() {
        let img = textured(130);
        let good = face(290.0, 200.0, 60.0);
        assert_eq!(hint(&img, &[good]), None, "{:#?}", {
            let mut g = QualityGate::default();
            g.check(&img, &[good]);
            g.last_report().cloned()
        });
        assert_eq!(hint(&img, &[]), Some(Hint::NoFace));
        assert_eq!(
            hint(&img, &[face(200.0, 200.0, 60.0), face(380.0, 200.0, 55.0)]),
            Some(Hint::OnePersonOnly)
        );
        // A small face far behind does not count as a second person.
        assert_eq!(hint(&img, &[good, face(60.0, 60.0, 12.0)]), None);
        // 30 px between the eyes: enough for recognition, not for the kiosk's oval.
        assert_eq!(
            hint(&img, &[face(305.0, 220.0, 30.0)]),
            Some(Hint::MoveCloser)
        );
        assert_eq!(
            hint(&img, &[face(430.0, 200.0, 60.0)]),
            Some(Hint::CentreFace)
        );
        assert_eq!(hint(&textured(25), &[good]), Some(Hint::TooDark));
        assert_eq!(hint(&textured(235), &[good]), Some(Hint::TooBright));
        let flat = RgbImage::from_pixel(640, 480, image::Rgb([140, 120, 110]));
        assert!(matches!(
            hint(&flat, &[good]),
            Some(Hint::TooBlurry | Hint::HoldStill | Hint::TooDark | Hint::TooBright)
        ));
    }

    #[test]
    fn a_passing_frame_has_a_positive_quality_and_a_failing_one_none() {
        let img = textured(130);
        let mut g = QualityGate::default();
        let pass = g.check(&img, &[face(290.0, 200.0, 60.0)]);
        assert!(pass.hint.is_none() && pass.quality > 0.0 && pass.quality <= 1.0);
        assert!(g.last_report().is_some_and(|r| r.passed));
        let fail = g.check(&img, &[face(305.0, 220.0, 30.0)]);
        assert_eq!((fail.hint, fail.quality), (Some(Hint::MoveCloser), 0.0));
        assert!(g.describe().starts_with("quality gate"));
    }

    #[test]
    fn the_guide_oval_is_golden_and_central() {
        let o = Oval::guide(640, 480);
        assert!((o.radii.1 / o.radii.0 - OVAL_RATIO).abs() < 1e-3);
        assert_eq!(o.centre, (320.0, 240.0));
        assert!(o.distance((320.0, 240.0)) < 1e-6);
        assert!(o.distance((320.0 + o.radii.0, 240.0)) - 1.0 < 1e-4);
    }
}
