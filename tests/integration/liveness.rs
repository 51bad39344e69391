//! Liveness with the real models on `../shared/data/liveness`: every full frame right at the
//! default pass mark, and tight face crops answered "cannot judge".

use crate::common;

use facestation::engine::Verifier;
use facestation::vision::liveness::{LivenessVerdict, DEFAULT_LIVENESS_MIN_SCORE};

struct Sample {
    path: String,
    live: bool,
    source: String,
    full_frame: bool,
}

fn samples() -> Vec<Sample> {
    let text = std::fs::read_to_string(common::data("liveness/labels.csv")).expect("labels");
    text.lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Sample {
                path: c[0].to_string(),
                live: c[1] == "live",
                source: c[2].to_string(),
                full_frame: c[5] == "full_frame",
            }
        })
        .collect()
}

#[test]
fn every_full_frame_sample_is_classified_right() {
    let all: Vec<Sample> = samples().into_iter().filter(|s| s.full_frame).collect();
    assert_eq!(all.iter().filter(|s| s.source == "minivision").count(), 3);
    assert_eq!(all.iter().filter(|s| s.source == "apfol_video").count(), 40);
    let mut v = common::verifier();
    for s in &all {
        let o = v
            .liveness(&common::read(&s.path), DEFAULT_LIVENESS_MIN_SCORE)
            .unwrap_or_else(|e| panic!("{}: {e}", s.path));
        let want = if s.live {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::Spoof
        };
        assert_eq!(
            o.liveness.verdict, want,
            "{} scored {:.3}",
            s.path, o.liveness.score
        );
    }
}

#[test]
fn tight_face_crops_cannot_be_judged() {
    let crops: Vec<Sample> = samples().into_iter().filter(|s| !s.full_frame).collect();
    let mut v = common::verifier();
    let (mut judged, mut cannot) = (Vec::new(), 0);
    // Every 10th crop keeps the test short; the eval command covers all of them.
    for s in crops.iter().step_by(10) {
        match v.liveness(&common::read(&s.path), DEFAULT_LIVENESS_MIN_SCORE) {
            Ok(o) if o.liveness.verdict == LivenessVerdict::CannotJudge => cannot += 1,
            Ok(o) => judged.push((s.path.clone(), o.liveness.context)),
            Err(_) => {} // no face found in the crop: also no verdict
        }
    }
    assert!(cannot >= 60, "only {cannot} crops answered 'cannot judge'");
    assert!(judged.is_empty(), "crops that got a verdict: {judged:?}");
}
