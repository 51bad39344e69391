//! Accuracy floors with the real models on `../shared/data/pairs.csv`: LFW folds 1-5 with the
//! k-fold protocol and TAR at FAR 1e-3, the deepface and face_recognition pairs at the default
//! threshold (docs/recognition.md; `facestation eval` prints the full report; these are the
//! floors FAST and ACCURATE were chosen to meet).

use crate::common;

use facestation::api::SearchMode;
use facestation::engine::score::default_threshold;
use facestation::eval::runner::run_pairs;
use facestation::eval::{kfold, per_source, read_pairs_csv, tar_at_far, FOLD_PREFIX};

fn check(mode: SearchMode, lfw_floor: f64, tar_floor: f64) {
    let text = std::fs::read_to_string(common::data("pairs.csv")).expect("pairs.csv");
    let rows = read_pairs_csv(&text).expect("csv");
    let mut v = common::verifier();
    let run = run_pairs(&mut v.pipeline, rows, &common::data(""), mode, |_, _| {});
    let unread: Vec<_> = run
        .images
        .iter()
        .filter(|(_, o)| o.error.is_some())
        .collect();
    assert!(unread.is_empty(), "unreadable images: {unread:?}");
    let lfw_no_face: Vec<_> = run
        .images
        .iter()
        .filter(|(p, o)| p.contains("/lfw/") && !o.has_face())
        .map(|(p, _)| p)
        .collect();
    assert!(
        lfw_no_face.is_empty(),
        "LFW images without a face: {lfw_no_face:?}"
    );
    let scored = run.scored();
    let lfw: Vec<_> = scored
        .iter()
        .filter(|p| p.source.starts_with(FOLD_PREFIX))
        .cloned()
        .collect();
    let k = kfold(&lfw).expect("k-fold");
    assert_eq!(k.folds.len(), 5);
    eprintln!("{mode:?}: LFW k-fold {:.4}", k.mean_accuracy);
    assert!(
        k.mean_accuracy >= lfw_floor,
        "{mode:?}: LFW k-fold {} < {lfw_floor}",
        k.mean_accuracy
    );
    let tar = tar_at_far(&lfw, 1e-3).expect("TAR").tar;
    eprintln!("{mode:?}: LFW TAR at FAR 1e-3 {tar:.4}");
    assert!(
        tar >= tar_floor,
        "{mode:?}: TAR@FAR1e-3 {tar} < {tar_floor}"
    );
    let sources = per_source(&scored, default_threshold(mode));
    for (source, floor) in [
        ("deepface", 0.995),
        ("face_recognition", 0.96),
        ("small_cross_source", 1.0),
    ] {
        let s = sources
            .iter()
            .find(|s| s.source == source)
            .expect("source present");
        eprintln!("{mode:?}: {source} {:.4}", s.accuracy);
        assert!(
            s.accuracy >= floor,
            "{mode:?}: {source} accuracy {} < {floor}",
            s.accuracy
        );
    }
}

#[test]
fn fast_mode_meets_its_floors() {
    check(SearchMode::Fast, 0.9925, 0.97);
}

#[test]
fn accurate_mode_meets_its_floors() {
    check(SearchMode::Accurate, 0.9945, 0.985);
}
