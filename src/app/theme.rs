//! The station's colours, in one place (rerun's design tokens): fail and review come from egui's
//! own visuals (`error_fg_color`, `warn_fg_color`), pass is the one green egui does not have.
//! Rule: green means VERIFIED (or a check that passed on a VERIFIED screen) and nothing else; a
//! safety-relevant state (spoof, no match, review) is never drawn green, and neither are face
//! boxes or "face ok" badges (a face found is not a verdict).

use eframe::egui::{Color32, Visuals};

use super::worker::Badge;
use crate::engine::verdict::Verdict;

const PASS: Color32 = Color32::from_rgb(40, 150, 70);
/// Face boxes and landmarks on photos (drawn over any image, so not from the visuals). Not
/// green: a face found is not a verdict.
pub const FACE_BOX: Color32 = Color32::from_rgb(80, 180, 255);
pub const LANDMARK: Color32 = Color32::from_rgb(255, 210, 60);
/// Text on a filled verdict or badge.
pub const ON_FILL: Color32 = Color32::WHITE;

pub fn pass(_v: &Visuals) -> Color32 {
    PASS
}

pub fn fail(v: &Visuals) -> Color32 {
    // egui's dark-mode error red is pure (255, 0, 0); a little darker reads better under white text.
    v.error_fg_color.gamma_multiply_u8(220).to_opaque()
}

pub fn review(v: &Visuals) -> Color32 {
    v.warn_fg_color
}

/// A neutral colour for a check that passed on a screen that is not VERIFIED.
pub fn neutral(v: &Visuals) -> Color32 {
    v.strong_text_color()
}

pub fn verdict(v: &Visuals, verdict: Verdict) -> Color32 {
    match verdict {
        Verdict::Verified => pass(v),
        Verdict::NotVerified => fail(v),
        Verdict::Review => review(v),
    }
}

/// A passed check (score over the threshold, liveness live): green only when the whole screen
/// says VERIFIED.
pub fn passed_check(v: &Visuals, screen: Option<Verdict>) -> Color32 {
    if screen == Some(Verdict::Verified) {
        pass(v)
    } else {
        neutral(v)
    }
}

/// Gallery and probe badges: a usable face is "fine" (the selection blue, never the pass green:
/// it is not a verdict), the rest ask for attention.
pub fn badge(v: &Visuals, b: Badge) -> Color32 {
    match b {
        Badge::Ok => v.selection.bg_fill,
        Badge::NoFace | Badge::SeveralFaces | Badge::NotChecked => review(v),
        Badge::Unreadable => fail(v),
    }
}

/// Quality hints on the live preview: fine (plain text), or something to fix.
pub fn hint(v: &Visuals, fine: bool) -> Color32 {
    if fine {
        v.strong_text_color()
    } else {
        review(v)
    }
}

/// The drop overlay's veil.
pub fn veil() -> Color32 {
    Color32::from_black_alpha(160)
}
