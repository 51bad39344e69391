//! The report: the actions a kiosk asks for, the measures and their ranges, and the order the
//! failing actions are shown in.

use serde::{Deserialize, Serialize};

use crate::vision::detect::BoundingBox;
use crate::vision::pose::Pose;

#[cfg(doc)]
use super::{QualityThresholds, ROLL_REFINE_AGREED};

/// What the person is asked to do. The declaration order is the order hints are shown in (most
/// actionable first): who is there, distance, position, light and blur (which spoil every later
/// estimate), then the head (roll before yaw and pitch: a tilted head also spoils their estimates).
/// One exception: a strong tilt comes before the hints it spoils (see
/// [`QualityThresholds::tilt_first_roll`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoFace,
    OnePersonOnly,
    /// The face leaves too little frame around it for liveness (it would answer "cannot judge").
    StepBack,
    MoveCloser,
    CentreFace,
    /// Before too dark / too bright: a face half in shadow also lowers the mean, and turning to
    /// the light is what fixes both.
    FaceTheLight,
    TooDark,
    TooBright,
    /// Blur with a direction (motion). Before the head: blur also spoils the pose estimates.
    HoldStill,
    /// Blur without one (focus, a dirty lens).
    TooBlurry,
    HeadTilted,
    LookStraight,
}

impl Action {
    /// The code as it is serialised (`move_closer`).
    pub fn code(&self) -> &'static str {
        match self {
            Action::NoFace => "no_face",
            Action::OnePersonOnly => "one_person_only",
            Action::StepBack => "step_back",
            Action::MoveCloser => "move_closer",
            Action::CentreFace => "centre_face",
            Action::TooDark => "too_dark",
            Action::TooBright => "too_bright",
            Action::FaceTheLight => "face_the_light",
            Action::HeadTilted => "head_tilted",
            Action::LookStraight => "look_straight",
            Action::HoldStill => "hold_still",
            Action::TooBlurry => "too_blurry",
        }
    }

    /// The words the person is shown (the kiosk's one line, large type): an action to take.
    pub fn message(&self) -> &'static str {
        match self {
            Action::NoFace => "Look at the camera",
            Action::OnePersonOnly => "Only one person, please",
            Action::StepBack => "Step back a little",
            Action::MoveCloser => "Move closer",
            Action::CentreFace => "Move your face into the oval",
            Action::TooDark => "Move to a brighter place",
            Action::TooBright => "Move out of the bright light",
            Action::FaceTheLight => "Face the light",
            Action::HeadTilted => "Hold your head straight",
            Action::LookStraight => "Look straight at the camera",
            Action::HoldStill => "Hold still",
            Action::TooBlurry => "Hold still: the picture is blurred",
        }
    }

    pub const ALL: [Action; 12] = [
        Action::NoFace,
        Action::OnePersonOnly,
        Action::StepBack,
        Action::MoveCloser,
        Action::CentreFace,
        Action::FaceTheLight,
        Action::TooDark,
        Action::TooBright,
        Action::HoldStill,
        Action::TooBlurry,
        Action::HeadTilted,
        Action::LookStraight,
    ];
}

/// The measures, named after their ISO/IEC 29794-5 / OFIQ components where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureName {
    /// Faces that count (the engine's relative-size rule); must be exactly 1.
    SingleFacePresent,
    /// Pixels between the eye landmarks.
    InterEyeDistance,
    /// The scale of the liveness V2 crop that fits in the frame (`liveness::effective_scale`).
    LivenessContext,
    /// |face centre x - frame centre x| / frame width.
    HorizontalCentring,
    /// OFIQ LeftwardCropOfTheFaceImage: image-left eye x / inter-eye distance.
    LeftwardCrop,
    /// OFIQ RightwardCropOfTheFaceImage: (width - image-right eye x) / inter-eye distance.
    RightwardCrop,
    /// OFIQ's "downward crop": eye midpoint y / T (T = eye midpoint to mouth midpoint).
    MarginAbove,
    /// OFIQ's "upward crop": (height - eye midpoint y) / T.
    MarginBelow,
    /// OFIQ Luminance (mean): mean BT.601 luma of the inner face, 0..255.
    LuminanceMean,
    /// OFIQ UnderExposurePrevention: fraction of inner-face pixels with luma <= 25.
    UnderExposure,
    /// OFIQ OverExposurePrevention: fraction of inner-face pixels with luma >= 247.
    OverExposure,
    /// OFIQ DynamicRange: entropy (bits) of the inner face's luma histogram.
    DynamicRange,
    /// Darker half's mean luma / brighter half's (halves split across the eye line through the nose); 1 = even.
    IlluminationUniformity,
    HeadPoseYaw,
    HeadPosePitch,
    HeadPoseRoll,
    /// Directional sharpness of the eyes-to-mouth region resampled to 32 px between the eyes:
    /// the smallest over four directions of the share of luma variation a re-blur removes.
    Sharpness,
}

impl MeasureName {
    pub fn code(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// One measure: `passed` iff the value is present and within `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub name: MeasureName,
    /// `None` when it cannot be measured (degenerate landmarks, a box outside the frame): a fail.
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max: Option<f64>,
    pub passed: bool,
    /// What the person should do; `None` when passed.
    pub action: Option<Action>,
    /// Signed distance to the nearest bound relative to that bound's size, clamped to [-1, 1]:
    /// >= 0 passes. The report's `quality` is the smallest of these.
    pub margin: f64,
}

/// Everything assessed for one frame. Serialises as the `quality` object of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub passed: bool,
    /// The one hint to show now: the first of `actions`.
    pub action: Option<Action>,
    /// Every failing measure's action, deduplicated, in [`Action`]'s order, except that a roll
    /// above [`QualityThresholds::tilt_first_roll`] puts `head_tilted` before `step_back`
    /// ([`TILT_FIRST_BOX`]) and, when the eye line tilts the same way by at least
    /// [`ROLL_REFINE_AGREED`], before `face_the_light` and `too_bright` ([`TILT_FIRST_LIGHT`]).
    pub actions: Vec<Action>,
    pub faces_counted: usize,
    /// The face the measures are about (the largest, as the engine's face rule picks).
    pub face: Option<BoundingBox>,
    pub pose: Option<Pose>,
    /// The subject face's scalar quality: the worst margin of its measures (presence excluded),
    /// -1..1, higher is better; `None` without a face. Used to rank samples (error-versus-discard).
    pub quality: Option<f64>,
    pub measures: Vec<Measure>,
}

impl QualityReport {
    /// Every measure a report of a face has, in report order.
    pub fn measure_names() -> [MeasureName; 17] {
        use MeasureName as N;
        [
            N::SingleFacePresent,
            N::InterEyeDistance,
            N::LivenessContext,
            N::HorizontalCentring,
            N::LeftwardCrop,
            N::RightwardCrop,
            N::MarginAbove,
            N::MarginBelow,
            N::LuminanceMean,
            N::UnderExposure,
            N::OverExposure,
            N::DynamicRange,
            N::IlluminationUniformity,
            N::HeadPoseYaw,
            N::HeadPosePitch,
            N::HeadPoseRoll,
            N::Sharpness,
        ]
    }

    pub fn measure(&self, name: MeasureName) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    /// The kiosk text of the hint to show, if any.
    pub fn hint(&self) -> Option<&'static str> {
        self.action.map(|a| a.message())
    }
}

/// The hints a roll above [`QualityThresholds::tilt_first_roll`] comes before: the detector's box
/// of a tilted face is larger than the upright face's (by up to cos + sin of the roll), so a
/// liveness context that is short may be short because of the tilt, and straightening the head
/// is what restores it.
pub const TILT_FIRST_BOX: [Action; 1] = [Action::StepBack];

/// The hints such a roll comes before when the eye line tilts the same way as the model by at
/// least [`ROLL_REFINE_AGREED`]: the inner face the light is measured on is placed by YuNet's
/// landmarks, which drift on a strongly tilted face (its eye line says a median 11 degrees of a
/// 25-35 degree tilt, and the nose of a turned, tilted webcam face sat 20 px off), so "face the
/// light" or "too bright" may be the tilt's doing. The agreement is asked because light spoils
/// the model's roll too (side-lit faces read > 20 degrees with the eye line the other way);
/// "too dark" is left out (a dark frame's roll is not trusted, and on the tune split it gained
/// nothing).
pub const TILT_FIRST_LIGHT: [Action; 2] = [Action::FaceTheLight, Action::TooBright];

/// A measure with optional lower and upper bounds; `low`/`high` are the actions below/above them.
pub(super) fn range(
    name: MeasureName,
    value: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    low: Action,
    high: Action,
) -> Measure {
    let rel = |d: f64, bound: f64| (d / bound.abs().max(1e-9)).clamp(-1.0, 1.0);
    let (passed, action, margin) = match value.filter(|v| v.is_finite()) {
        None => (false, Some(low), -1.0),
        Some(v) => {
            let below = min.map(|m| rel(v - m, m));
            let above = max.map(|m| rel(m - v, m));
            let margin = below.unwrap_or(1.0).min(above.unwrap_or(1.0));
            if below.is_some_and(|d| d < 0.0) {
                (false, Some(low), margin)
            } else if above.is_some_and(|d| d < 0.0) {
                (false, Some(high), margin)
            } else {
                (true, None, margin)
            }
        }
    };
    Measure {
        name,
        value: value.filter(|v| v.is_finite()),
        min,
        max,
        passed,
        action,
        margin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_sort_in_the_order_hints_are_shown_and_serialise_snake_case() {
        let mut all = Action::ALL.to_vec();
        all.reverse();
        all.sort();
        assert_eq!(all, Action::ALL.to_vec());
        for a in Action::ALL {
            assert_eq!(serde_json::to_value(a).expect("json"), a.code());
            assert!(!a.message().is_empty());
        }
        assert_eq!(MeasureName::HeadPoseYaw.code(), "head_pose_yaw");
    }

    #[test]
    fn a_range_passes_inside_and_names_the_side_it_fails_on() {
        let m = range(
            MeasureName::LuminanceMean,
            Some(100.0),
            Some(60.0),
            Some(200.0),
            Action::TooDark,
            Action::TooBright,
        );
        assert!(m.passed && m.action.is_none() && m.margin > 0.0);
        let low = range(
            MeasureName::LuminanceMean,
            Some(30.0),
            Some(60.0),
            Some(200.0),
            Action::TooDark,
            Action::TooBright,
        );
        assert_eq!((low.passed, low.action), (false, Some(Action::TooDark)));
        assert!((low.margin + 0.5).abs() < 1e-9);
        let high = range(
            MeasureName::LuminanceMean,
            Some(250.0),
            Some(60.0),
            Some(200.0),
            Action::TooDark,
            Action::TooBright,
        );
        assert_eq!(high.action, Some(Action::TooBright));
        let none = range(
            MeasureName::Sharpness,
            None,
            Some(1.0),
            None,
            Action::TooBlurry,
            Action::TooBlurry,
        );
        assert_eq!(
            (none.passed, none.action, none.margin),
            (false, Some(Action::TooBlurry), -1.0)
        );
        let nan = range(
            MeasureName::Sharpness,
            Some(f64::NAN),
            Some(1.0),
            None,
            Action::TooBlurry,
            Action::TooBlurry,
        );
        assert!(!nan.passed && nan.value.is_none());
    }
}
