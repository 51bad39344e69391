//! A compare spread over two pipelines (the default on a multi-core station) decides exactly as
//! the same compare on one pipeline: same faces, scores, stages, liveness and quality, in the same
//! order, for every shape of request (a cascade that needs its second stage, a fusion, a gallery
//! image with two faces, an unreadable gallery image, no liveness).

use crate::common;

use facestation::api::{SearchMode, ValidRequest};
use facestation::engine::{CompareOutcome, LocalVerifier, PipelineConfig, Verifier};

const PROBE: &str = "liveness/live/apfol_video__unspecified__real2_frame0135.png";
const SAME_VIDEO: &str = "liveness/live/apfol_video__unspecified__real2_frame0000.png";
const OBAMA: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";

/// The outcome without its timings (the only part that may differ).
fn decided(mut o: CompareOutcome) -> serde_json::Value {
    o.timings = Default::default();
    serde_json::to_value(o).expect("outcome serialises")
}

#[test]
fn two_pipelines_decide_exactly_as_one() {
    let mut one = LocalVerifier::load(
        &common::models(),
        PipelineConfig {
            pipelines: 1,
            ..PipelineConfig::default()
        },
    )
    .expect("engine loads");
    let mut two = LocalVerifier::load(
        &common::models(),
        PipelineConfig {
            pipelines: 2,
            ..PipelineConfig::default()
        },
    )
    .expect("engine loads");
    assert_eq!((one.pipelines(), two.pipelines()), (1, 2));
    let gallery = vec![
        common::read(SAME_VIDEO),
        b"not an image".to_vec(),
        crate::bad_input::two_faces_jpeg(),
        common::read(OBAMA),
    ];
    for mode in [SearchMode::Fast, SearchMode::Accurate] {
        for liveness in [Some(0.5), None] {
            let mut request = ValidRequest::from_bytes(common::read(PROBE), gallery.clone(), mode)
                .expect("valid");
            request.liveness_min_score = liveness;
            let a = one.compare(&request).expect("one pipeline compares");
            let b = two.compare(&request).expect("two pipelines compare");
            // The request exercises what the jobs must get right: FAST's pair from the same video
            // needs the cascade's second stage, one image is unreadable, one has two faces.
            if mode == SearchMode::Fast {
                assert_eq!(a.gallery[0].recognisers.len(), 2, "{:?}", a.gallery[0]);
            }
            assert!(a.gallery[1].error.is_some());
            assert_eq!(a.gallery[2].faces_found, 2);
            assert_eq!(a.liveness.is_some(), liveness.is_some());
            assert_eq!(decided(a), decided(b), "{mode:?}, liveness {liveness:?}");
        }
    }
    // A probe error is the same error either way.
    let request = ValidRequest::from_bytes(
        crate::bad_input::two_faces_jpeg(),
        gallery,
        SearchMode::Fast,
    )
    .expect("valid");
    let a = one.compare(&request).expect_err("two faces in the probe");
    let b = two.compare(&request).expect_err("two faces in the probe");
    assert_eq!(a.to_string(), b.to_string());
}
