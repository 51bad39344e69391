//! The quality gate: one camera frame and its detected faces in, one [`FrameCheck`] out (the most
//! actionable hint, or none, and a quality scalar that picks the best frame of a passing run).
//!
//! [`FrameGate`] is the seam: [`BasicGate`] is built from what the engine already measures (the
//! several-faces rule, face size, the liveness context rule, centring in the guide oval, face
//! luma). A fuller ISO/IEC 29794-5 style gate (head pose, sharpness, exposure, with action codes)
//! can replace it without touching the worker or the screens.

use image::RgbImage;

use super::flow::{FrameCheck, Hint};
use crate::engine::local::SEVERAL_FACES_MIN_RELATIVE_SIZE;
use crate::vision::liveness::{effective_scale, MIN_CONTEXT};
use crate::vision::quality::{face_luma, MIN_FACE_LUMA};
use crate::vision::Face;

/// Height / width of the guide oval (the golden ratio, as AWS Amplify's liveness oval).
pub const OVAL_RATIO: f32 = 1.618;

/// The scale the liveness model's crop asks for (MiniFASNet V2: 2.7 x the face box).
const LIVENESS_V2_SCALE: f32 = 2.7;

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
    /// The frame's check (`seq` is left 0: the caller fills it in).
    fn check(&mut self, frame: &RgbImage, faces: &[Face]) -> FrameCheck;

    /// The oval the screen draws as the guide; the gate's centring rule refers to it.
    fn guide(&self, w: u32, h: u32) -> Oval {
        Oval::guide(w, h)
    }

    /// One line for the operator's settings view.
    fn describe(&self) -> String;
}

/// The first gate's limits. Defaults fit a 640x480 kiosk camera at arm's length.
#[derive(Debug, Clone, PartialEq)]
pub struct GateConfig {
    /// Face box narrower than this fraction of the frame's width: "move closer".
    pub min_face_width: f32,
    /// Eye centres closer than this (pixels): "move closer" (the descriptor needs detail).
    pub min_eye_distance: f32,
    /// Liveness crop context below this: "step back" (the engine's [`MIN_CONTEXT`], plus a
    /// margin so that the captured frame is judged, not answered with "cannot judge").
    pub min_context: f32,
    /// The face centre must lie inside the guide oval shrunk by this factor.
    pub centre_tolerance: f32,
    /// Mean face luma (0..255) outside this range: "too dark" / "too bright".
    pub min_luma: f32,
    pub max_luma: f32,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            min_face_width: 0.2,
            min_eye_distance: 30.0,
            min_context: MIN_CONTEXT + 0.1,
            centre_tolerance: 0.5,
            min_luma: MIN_FACE_LUMA,
            max_luma: 215.0,
        }
    }
}

/// The gate made of the measures the engine already has.
#[derive(Debug, Clone, Default)]
pub struct BasicGate {
    pub config: GateConfig,
}

impl BasicGate {
    pub fn new(config: GateConfig) -> Self {
        Self { config }
    }
}

/// The faces that count under the engine's several-faces rule (a face at least 1/3 the width of
/// the largest): small faces far behind the person do not block the kiosk.
pub fn counted_faces(faces: &[Face]) -> Vec<&Face> {
    let largest = faces.iter().map(|f| f.bbox.width).fold(0.0f32, f32::max);
    faces
        .iter()
        .filter(|f| f.bbox.width >= largest * SEVERAL_FACES_MIN_RELATIVE_SIZE)
        .collect()
}

fn eye_distance(face: &Face) -> f32 {
    let [a, b] = [face.landmarks[0], face.landmarks[1]];
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The context the liveness crop would get for this face (the engine's rule on the integer box).
pub fn liveness_context(face: &Face, w: u32, h: u32) -> f32 {
    let b = &face.bbox;
    let (x, y) = (b.x.trunc(), b.y.trunc());
    let bw = ((b.x + b.width).trunc() - x + 1.0).max(1.0);
    let bh = ((b.y + b.height).trunc() - y + 1.0).max(1.0);
    effective_scale([x, y, bw, bh], w, h, LIVENESS_V2_SCALE)
}

impl FrameGate for BasicGate {
    fn check(&mut self, frame: &RgbImage, faces: &[Face]) -> FrameCheck {
        let c = &self.config;
        let (w, h) = frame.dimensions();
        let verdict = |hint: Option<Hint>, quality: f32| FrameCheck {
            seq: 0,
            hint,
            quality,
        };
        let counted = counted_faces(faces);
        let face = match counted.as_slice() {
            [] => return verdict(Some(Hint::NoFace), 0.0),
            [one] => *one,
            _ => return verdict(Some(Hint::OnePersonOnly), 0.0),
        };
        let b = &face.bbox;
        if b.width < c.min_face_width * w as f32 || eye_distance(face) < c.min_eye_distance {
            return verdict(Some(Hint::MoveCloser), 0.0);
        }
        if liveness_context(face, w, h) < c.min_context {
            return verdict(Some(Hint::StepBack), 0.0);
        }
        let oval = self.guide(w, h);
        let inner = Oval {
            centre: oval.centre,
            radii: (
                oval.radii.0 * c.centre_tolerance,
                oval.radii.1 * c.centre_tolerance,
            ),
        };
        let off = inner.distance(b.centre());
        let cut = b.x < 0.0 || b.y < 0.0 || b.x + b.width > w as f32 || b.y + b.height > h as f32;
        if off > 1.0 || cut {
            return verdict(Some(Hint::CentreFace), 0.0);
        }
        let luma = face_luma(frame, face);
        if luma < c.min_luma {
            return verdict(Some(Hint::TooDark), 0.0);
        }
        if luma > c.max_luma {
            return verdict(Some(Hint::TooBright), 0.0);
        }
        // Best: a face as wide as the oval's inner 3/4, on its centre, confidently detected.
        let ideal = 1.5 * oval.radii.0;
        let size = (1.0 - (b.width / ideal - 1.0).abs()).clamp(0.05, 1.0);
        let centring = (1.0 - off.sqrt()).clamp(0.05, 1.0);
        verdict(None, size * centring * face.score.clamp(0.0, 1.0))
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "basic gate: face >= {:.0}% of the width and eyes >= {:.0} px apart, liveness context >= {:.2}, \
             centre within {:.0}% of the oval, face luma {:.0}..{:.0}",
            c.min_face_width * 100.0,
            c.min_eye_distance,
            c.min_context,
            c.centre_tolerance * 100.0,
            c.min_luma,
            c.max_luma
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::BoundingBox;

    /// A face box centred at (cx, cy), `side` wide and 1.2 x as tall, eyes 40% of the width apart.
    fn face(cx: f32, cy: f32, side: f32) -> Face {
        let (x, y) = (cx - side / 2.0, cy - 0.6 * side);
        let eye_y = y + 0.4 * side;
        Face {
            bbox: BoundingBox {
                x,
                y,
                width: side,
                height: 1.2 * side,
            },
            score: 0.9,
            landmarks: [
                [cx - 0.2 * side, eye_y],
                [cx + 0.2 * side, eye_y],
                [cx, eye_y + 0.2 * side],
                [cx - 0.15 * side, eye_y + 0.4 * side],
                [cx + 0.15 * side, eye_y + 0.4 * side],
            ],
        }
    }

    fn hint(frame: &RgbImage, faces: &[Face]) -> Option<Hint> {
        BasicGate::default().check(frame, faces).hint
    }

    #[test]
    fn each_failed_measure_gives_its_hint_and_a_good_face_passes() {
        let grey = RgbImage::from_pixel(640, 480, image::Rgb([140, 120, 110]));
        assert_eq!(hint(&grey, &[]), Some(Hint::NoFace));
        assert_eq!(
            hint(
                &grey,
                &[face(250.0, 240.0, 160.0), face(420.0, 240.0, 150.0)]
            ),
            Some(Hint::OnePersonOnly)
        );
        // A small face far behind does not count as a second person.
        let good = face(320.0, 240.0, 170.0);
        assert_eq!(hint(&grey, &[good, face(100.0, 100.0, 40.0)]), None);
        assert_eq!(
            hint(&grey, &[face(320.0, 240.0, 80.0)]),
            Some(Hint::MoveCloser)
        );
        // 300 px wide, 360 tall: 479/360 < 1.8, the liveness crop would lack context.
        assert_eq!(
            hint(&grey, &[face(320.0, 240.0, 300.0)]),
            Some(Hint::StepBack)
        );
        assert_eq!(
            hint(&grey, &[face(520.0, 240.0, 170.0)]),
            Some(Hint::CentreFace)
        );
        assert_eq!(
            hint(&grey, &[face(320.0, 110.0, 170.0)]),
            Some(Hint::CentreFace)
        );
        let dark = RgbImage::from_pixel(640, 480, image::Rgb([20, 20, 20]));
        assert_eq!(hint(&dark, &[good]), Some(Hint::TooDark));
        let white = RgbImage::from_pixel(640, 480, image::Rgb([250, 250, 250]));
        assert_eq!(hint(&white, &[good]), Some(Hint::TooBright));
        assert_eq!(hint(&grey, &[good]), None);
    }

    #[test]
    fn quality_prefers_a_centred_face_of_the_right_size() {
        let grey = RgbImage::from_pixel(640, 480, image::Rgb([140, 120, 110]));
        let mut g = BasicGate::default();
        let centred = g.check(&grey, &[face(320.0, 240.0, 170.0)]).quality;
        let aside = g.check(&grey, &[face(350.0, 260.0, 170.0)]).quality;
        let small = g.check(&grey, &[face(320.0, 240.0, 135.0)]).quality;
        assert!(
            centred > aside && centred > small,
            "{centred} {aside} {small}"
        );
        assert!(centred > 0.0 && centred <= 1.0);
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
