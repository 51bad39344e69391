//! Several recognisers in one engine: every score names the model (id, sha256) and views that
//! produced it; descriptors of different models are never compared; the modes' operating
//! points keep a stranger out; `eval` refuses to report on what it could not score.

use crate::common;

use facestation::api::{SearchMode, ValidRequest};
use facestation::engine::verdict::{judge, ReviewBand, Verdict};
use facestation::engine::{Decision, FacePolicy, ImageRole, Pipeline, Verifier};
use facestation::runtime::{manifest_entries, RECOGNISER_ROLE};
use facestation::vision::recognise::Views;

const WEBCAM: &str = "liveness/live/apfol_video__unspecified__real2_frame0000.png";
const OBAMA: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";
const OBAMA2: &str = "faces/face_recognition/barack_obama/examples__obama2.jpg";

fn compare(probe: &str, gallery: &str, mode: SearchMode) -> facestation::engine::CompareOutcome {
    let request = ValidRequest::from_bytes(common::read(probe), vec![common::read(gallery)], mode)
        .expect("request");
    common::verifier().compare(&request).expect("compare")
}

#[test]
fn a_webcam_stranger_is_not_obama_in_either_mode() {
    for mode in [SearchMode::Fast, SearchMode::Accurate] {
        let o = compare(WEBCAM, OBAMA, mode);
        let j = judge(&o, &ReviewBand::default_for(mode));
        eprintln!(
            "{mode:?}: score {:.4} threshold {:.4} {:?}",
            o.score, o.threshold, j
        );
        assert_ne!(o.decision, Decision::Match, "{mode:?}: score {}", o.score);
        assert_ne!(j.verdict, Verdict::Verified, "{mode:?}");
        let o = compare(OBAMA, OBAMA2, mode);
        assert_eq!(o.decision, Decision::Match, "{mode:?}: score {}", o.score);
    }
}

#[test]
fn every_score_names_its_model_and_views() {
    let manifest = manifest_entries().expect("manifest");
    for mode in [SearchMode::Fast, SearchMode::Accurate] {
        let o = compare(OBAMA, OBAMA2, mode);
        let g = &o.gallery[0];
        assert!(!g.recognisers.is_empty(), "{mode:?}: no model named");
        for s in &g.recognisers {
            let entry = manifest
                .iter()
                .find(|e| e.id == s.id)
                .unwrap_or_else(|| panic!("{} is not in the manifest", s.id));
            assert_eq!(entry.role, RECOGNISER_ROLE);
            assert_eq!(s.sha256, entry.sha256, "{}", s.id);
            assert!(s.views.starts_with("chip"), "{}", s.views);
            // The score is the calibration of the raw value (single stage) or rests on it.
            assert!(s.raw.is_finite());
        }
        if g.recognisers.len() == 1 {
            let s = &g.recognisers[0];
            let score = g.score.expect("score");
            assert!((s.calibration.score(s.raw) - score).abs() < 1e-9);
        }
        // The record's model list names what was loaded, with hashes.
        assert!(o.models.iter().any(|m| m.id == g.recognisers[0].id));
    }
}

#[test]
fn descriptors_of_two_models_are_never_compared() {
    let mut v = common::verifier();
    let p = &mut v.pipeline;
    let img = p
        .decode(&common::read(OBAMA), ImageRole::Probe)
        .expect("decode");
    let faces = p.detect(&img).expect("detect");
    let (face, _) = Pipeline::choose_face(
        &faces,
        FacePolicy::Centre,
        ImageRole::Probe,
        img.dimensions(),
    )
    .expect("face");
    let fast = p.plan(SearchMode::Fast).clone();
    let accurate = p.plan(SearchMode::Accurate).clone();
    let a = p
        .describe_stage(&img, &[face], &fast.stages[0].0)
        .expect("fast")
        .pop()
        .expect("one");
    let b = p
        .describe_stage(&img, &[face], &accurate.stages[0].0)
        .expect("accurate")
        .pop()
        .expect("one");
    if a.model.sha256 != b.model.sha256 {
        let err = a.compare(&b).expect_err("different models");
        assert!(err.to_string().contains("different models"), "{err}");
        // A plan fed another model's descriptors refuses too.
        assert!(fast.score(&[Some(a.clone())], &[Some(b.clone())]).is_err());
    }
    assert_eq!(
        a.compare(&a).map(|d| !(1e-6..=0.999).contains(&d)),
        Ok(true)
    );
    // reid descriptors are unit vectors; dlib's are raw.
    if let Some(r) = p.recogniser("reid") {
        assert_eq!(r.spec().size, 128);
        let stage = facestation::engine::Stage::new(&r.tag().id.clone(), Views::Flip);
        let e = p
            .describe_stage(&img, &[face], &stage)
            .expect("reid")
            .pop()
            .expect("one");
        let n: f32 = e.values.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "{n}");
        assert!(e.raw_norm > 1.0, "raw norm {}", e.raw_norm);
    }
}

#[test]
fn eval_refuses_to_report_on_unreadable_images() {
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("pairs.csv");
    std::fs::write(dir.path().join("not-an-image.jpg"), b"hello").expect("write");
    std::fs::write(
        &csv,
        "a,b,same,source\nmissing/a.jpg,missing/b.jpg,1,lfw_fold01\nnot-an-image.jpg,missing/c.jpg,0,lfw_fold01\n",
    )
    .expect("csv");
    let csv = csv.display().to_string();
    let root = dir.path().display().to_string();
    for json in [false, true] {
        let mut args = vec!["eval", "--pairs", &csv, "--root", &root, "--no-cache"];
        if json {
            args.push("--json");
        }
        let out = common::station(dir.path(), &args);
        out.expect_code(2);
        assert!(
            out.stderr().contains("nothing was scored"),
            "{}",
            out.stderr()
        );
        assert!(!out.stdout().contains("50.00%"), "{}", out.stdout());
        assert!(!out.stdout().contains("accuracy 50"), "{}", out.stdout());
        if json {
            let r = out.json();
            assert_eq!(r["health"]["ok"], false);
            assert_eq!(r["health"]["scored_pairs"], 0);
            assert_eq!(r["health"]["unreadable_images"], 4);
        }
    }
    // One bad image among good ones: over the 1% default it fails, with a looser limit it passes.
    let good = common::data("faces/face_recognition/barack_obama")
        .display()
        .to_string();
    let csv2 = dir.path().join("mixed.csv");
    std::fs::write(
        &csv2,
        format!(
            "a,b,same,source\n{good}/examples__obama.jpg,{good}/examples__obama2.jpg,1,x\n\
             {good}/examples__obama.jpg,{root}/not-an-image.jpg,0,x\n"
        ),
    )
    .expect("csv");
    let csv2 = csv2.display().to_string();
    let out = common::station(
        dir.path(),
        &["eval", "--pairs", &csv2, "--root", "/", "--no-cache"],
    );
    out.expect_code(2);
    assert!(
        out.stderr().contains("could not be read"),
        "{}",
        out.stderr()
    );
    let out = common::station(
        dir.path(),
        &[
            "eval",
            "--pairs",
            &csv2,
            "--root",
            "/",
            "--no-cache",
            "--max-unscorable",
            "60",
        ],
    );
    out.expect_code(0);
}

#[test]
fn a_cached_eval_rerun_reads_every_descriptor_from_the_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache").display().to_string();
    let pairs = common::data("pairs.csv").display().to_string();
    let args = [
        "eval",
        "--pairs",
        &pairs,
        "--source",
        "face_recognition",
        "--cache",
        &cache,
        "--json",
    ];
    let first = common::station(dir.path(), &args);
    first.expect_code(0);
    let a = first.json();
    let second = common::station(dir.path(), &args);
    second.expect_code(0);
    let b = second.json();
    assert_eq!(b["cache"]["misses"], 0, "{b}");
    assert_eq!(b["cached_images"], b["images"]);
    assert_eq!(a["overall"]["accuracy"], b["overall"]["accuracy"]);
    assert_eq!(a["lfw"], b["lfw"]);
    // Another mode on the same images computes its own descriptors (keyed by model and views).
    let mut accurate = args.to_vec();
    accurate.extend(["--search-mode", "accurate"]);
    let c = common::station(dir.path(), &accurate);
    c.expect_code(0);
    let c = c.json();
    assert_ne!(c["cache"]["misses"], 0, "{c}");
}

#[test]
fn a_local_compare_measures_the_capture_quality_of_every_image() {
    let o = compare(WEBCAM, OBAMA, SearchMode::Fast);
    let q = o.quality.expect("the local engine measures quality");
    // The probe's report is about the face the engine chose.
    let probe_face = o.probe_face.expect("probe face");
    assert_eq!(q.probe.face, Some(probe_face.bbox));
    assert_eq!(q.probe.faces_counted, 1);
    assert!(!q.probe.measures.is_empty());
    assert_eq!(q.gallery.len(), 1);
    let g = q.gallery[0].as_ref().expect("gallery report");
    assert_eq!(g.face, o.gallery[0].face.map(|f| f.bbox));
    assert!(g.pose.is_some(), "the head-pose model ran");
}
