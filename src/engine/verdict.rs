//! The station's verdict on a compare outcome: VERIFIED, NOT VERIFIED or REVIEW, with the
//! reasons. One function decides it and every front end shows it (screen, CLI, `serve`, record),
//! so the words cannot drift. Verifik's own fields (`data.result.passed`) keep their meaning;
//! this is the station's decision beside them.
//!
//! A score inside the review band around the threshold is never an automatic pass: the edges
//! are where the dev data's false-match rate changes by a factor of ten (see `ReviewBand`).

use serde::{Deserialize, Serialize};

use super::{CompareOutcome, Decision};
use crate::api::SearchMode;
use crate::vision::liveness::LivenessVerdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Verified,
    NotVerified,
    /// Staff must look: the station will not decide automatically.
    Review,
}

impl Verdict {
    /// The headline every front end shows.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Verified => "VERIFIED",
            Verdict::NotVerified => "NOT VERIFIED",
            Verdict::Review => "REVIEW",
        }
    }

    /// The value in records and exports (`verified`, `not_verified`, `review`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::NotVerified => "not_verified",
            Verdict::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verified" => Some(Verdict::Verified),
            "not_verified" => Some(Verdict::NotVerified),
            "review" => Some(Verdict::Review),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NoMatch,
    Spoof,
    LivenessCannotJudge,
    NoFaceProbe,
    NoFaceGallery,
    SeveralFacesProbe,
    GalleryUnreadable,
    Borderline,
    PoorQuality,
}

impl Reason {
    /// The reason in words, for the line under the headline.
    pub fn words(&self) -> &'static str {
        match self {
            Reason::NoMatch => "NO MATCH",
            Reason::Spoof => "SPOOF: liveness failed",
            Reason::LivenessCannotJudge => "Liveness cannot judge: ask the person to step back",
            Reason::NoFaceProbe => "No face in the probe",
            Reason::NoFaceGallery => "No face in the gallery",
            Reason::SeveralFacesProbe => "Several faces in the probe",
            Reason::GalleryUnreadable => "A gallery image could not be read",
            Reason::Borderline => "Score within the review band",
            Reason::PoorQuality => "Image quality too poor to decide",
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::NoMatch => "no_match",
            Reason::Spoof => "spoof",
            Reason::LivenessCannotJudge => "liveness_cannot_judge",
            Reason::NoFaceProbe => "no_face_probe",
            Reason::NoFaceGallery => "no_face_gallery",
            Reason::SeveralFacesProbe => "several_faces_probe",
            Reason::GalleryUnreadable => "gallery_unreadable",
            Reason::Borderline => "borderline",
            Reason::PoorQuality => "poor_quality",
        }
    }

    /// Whether this reason alone rules the claim out (else it asks for review).
    fn refuses(&self) -> bool {
        !matches!(
            self,
            Reason::Borderline | Reason::LivenessCannotJudge | Reason::GalleryUnreadable
        )
    }
}

/// Scores in `[threshold - below, threshold + above)` give REVIEW.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReviewBand {
    pub below: f64,
    pub above: f64,
    /// What the edges rest on, for the record.
    #[serde(skip)]
    pub basis: &'static str,
}

impl ReviewBand {
    pub const NONE: ReviewBand = ReviewBand {
        below: 0.0,
        above: 0.0,
        basis: "no review band",
    };

    /// The default band per mode, one rule for both (`eval::impostors::review_band`, printed by
    /// `facestation eval --all-impostors`; docs/recognition.md, "Review band"): down to the score
    /// where the FMR on the 7,255,541 dev impostor pairs is 10x the threshold's, and up to the
    /// score below which 2.5% of the 4,414 dev genuine pairs lie above the threshold.
    pub fn default_for(mode: SearchMode) -> Self {
        match mode {
            // Threshold 0.993: edges 0.9042 (FMR 0.0987%, 7,159 impostors) and 0.9970
            // (FMR 0.0065%, 470). Genuine: 1.7% not verified, 6.3% review, 92.0% verified.
            SearchMode::Fast => ReviewBand {
                below: 0.0888,
                above: 0.0040,
                basis: "0.9042 (FMR 0.099%, 10x the threshold's) to 0.9970 (FMR 0.0065%; 2.5% of \
                    the 4,414 genuine pairs between the threshold and it) on 7,255,541 cross-identity \
                    LFW folds 1-5 impostor pairs (FAST)",
            },
            // Threshold 0.9922: edges 0.9059 (FMR 0.0998%, 7,240) and 0.9969 (FMR 0.0045%, 324).
            // Genuine: 1.6% not verified, 5.7% review, 92.8% verified.
            SearchMode::Accurate => ReviewBand {
                below: 0.0863,
                above: 0.0047,
                basis: "0.9059 (FMR 0.100%, 10x the threshold's) to 0.9969 (FMR 0.0045%; 2.5% of \
                    the 4,414 genuine pairs between the threshold and it) on 7,255,541 cross-identity \
                    LFW folds 1-5 impostor pairs (ACCURATE)",
            },
        }
    }

    pub fn contains(&self, score: f64, threshold: f64) -> bool {
        score >= threshold - self.below && score < threshold + self.above
    }
}

/// The verdict and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

impl Judgement {
    /// "NOT VERIFIED: SPOOF: liveness failed; NO MATCH" and the like.
    pub fn headline(&self) -> String {
        if self.reasons.is_empty() {
            return self.verdict.label().to_string();
        }
        let words: Vec<&str> = self.reasons.iter().map(Reason::words).collect();
        format!("{}: {}", self.verdict.label(), words.join("; "))
    }

    /// A probe the face rule refused: no outcome, but still a verdict to show.
    pub fn refused_probe(reason: Reason) -> Self {
        Judgement {
            verdict: Verdict::NotVerified,
            reasons: vec![reason],
        }
    }
}

/// Judges one outcome against a review band.
pub fn judge(outcome: &CompareOutcome, band: &ReviewBand) -> Judgement {
    let mut reasons = Vec::new();
    if let Some(l) = &outcome.liveness {
        match l.verdict {
            LivenessVerdict::Spoof => reasons.push(Reason::Spoof),
            LivenessVerdict::CannotJudge => reasons.push(Reason::LivenessCannotJudge),
            LivenessVerdict::Live => {}
        }
    }
    match outcome.decision {
        Decision::NoFace => {
            if outcome.gallery.iter().any(|g| g.error.is_some()) {
                reasons.push(Reason::GalleryUnreadable);
            }
            reasons.push(Reason::NoFaceGallery);
        }
        _ if band.contains(outcome.score, outcome.threshold) => reasons.push(Reason::Borderline),
        Decision::NoMatch => reasons.push(Reason::NoMatch),
        Decision::Match => {}
    }
    if outcome.decision != Decision::NoFace && outcome.gallery.iter().any(|g| g.error.is_some()) {
        // A match on the readable images stands; the unreadable one is named in the record.
        if outcome.decision != Decision::Match {
            reasons.push(Reason::GalleryUnreadable);
        }
    }
    let verdict = if reasons.iter().any(Reason::refuses) {
        Verdict::NotVerified
    } else if reasons.is_empty() {
        Verdict::Verified
    } else {
        Verdict::Review
    };
    Judgement { verdict, reasons }
}
