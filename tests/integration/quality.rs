//! Capture quality on real frames (`../shared/data`): a clean webcam frame passes, each synthetic
//! degradation gets its own hint, the report's JSON shape, the CLI, and degenerate boxes.

use std::sync::{Mutex, MutexGuard, OnceLock};

use facestation::vision::pose::{HeadPoseModel, PoseSource};
use facestation::vision::quality::{
    assess, counted_faces, Action, MeasureName, QualityAssessor, QualityReport, QualityThresholds,
};
use facestation::vision::{
    decode_image, BoundingBox, DecodeLimits, Detector, DetectorConfig, Face,
};
use image::{Rgb, RgbImage};

use crate::common;

struct Kit {
    detector: Detector,
    assessor: QualityAssessor,
}

fn kit() -> MutexGuard<'static, Kit> {
    static K: OnceLock<Mutex<Kit>> = OnceLock::new();
    K.get_or_init(|| {
        let models = common::models();
        Mutex::new(Kit {
            detector: Detector::new(
                models.session("detector", 1).expect("detector"),
                DetectorConfig::default(),
            ),
            assessor: QualityAssessor::load(&models, QualityThresholds::default())
                .expect("head pose"),
        })
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}

/// A 640x480 webcam frame of one person (liveness/labels.csv, apfol_video, live).
const FRAME: &str = "liveness/live/apfol_video__unspecified__real2_frame0000.png";
const OTHER: &str = "liveness/live/apfol_video__unspecified__real2_frame0011.png";
const LFW: &str = "faces/lfw/images_deepfunneled/Aaron_Patterson/Aaron_Patterson_0001.jpg";

fn image(path: &str) -> RgbImage {
    decode_image(&common::read(path), &DecodeLimits::default()).expect("decode")
}

fn check(img: &RgbImage) -> (QualityReport, Vec<Face>) {
    let mut k = kit();
    let faces = k.detector.detect(img).expect("detect");
    let r = k.assessor.assess(img, &faces);
    (r, faces)
}

fn subject(img: &RgbImage) -> Face {
    let (_, faces) = check(img);
    facestation::vision::quality::largest_face(&faces).expect("a face")
}

fn px(v: [f64; 3]) -> Rgb<u8> {
    Rgb(v.map(|c| c.round().clamp(0.0, 255.0) as u8))
}

fn sample(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let xi = x.round().clamp(0.0, f64::from(img.width() - 1)) as u32;
    let yi = y.round().clamp(0.0, f64::from(img.height() - 1)) as u32;
    *img.get_pixel(xi, yi)
}

fn warp(img: &RgbImage, map: impl Fn(f64, f64) -> (f64, f64)) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let (sx, sy) = map(f64::from(x), f64::from(y));
        sample(img, sx, sy)
    })
}

fn gain(img: &RgbImage, k: f64) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        *p = px(p.0.map(|c| f64::from(c) * k));
    }
    out
}

fn ied(f: &Face) -> f64 {
    let [l, r, ..] = f.landmarks;
    f64::from(((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt())
}

/// Mean luma of the face box left and right of the nose.
fn halves(img: &RgbImage, face: &Face) -> (f64, f64) {
    let nose = f64::from(face.landmarks[2][0]);
    let (mut l, mut nl, mut r, mut nr) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in
        face.bbox.y.max(0.0) as u32..((face.bbox.y + face.bbox.height) as u32).min(img.height())
    {
        for x in
            face.bbox.x.max(0.0) as u32..((face.bbox.x + face.bbox.width) as u32).min(img.width())
        {
            let p = img.get_pixel(x, y).0;
            let v = 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
            if f64::from(x) < nose {
                (l, nl) = (l + v, nl + 1.0);
            } else {
                (r, nr) = (r + v, nr + 1.0);
            }
        }
    }
    (l / nl.max(1.0), r / nr.max(1.0))
}

/// A sharpness hint: the split between motion (hold still) and focus (too blurry) is weak
/// (docs/quality.md), so either counts for a blur.
const BLUR: Action = Action::TooBlurry;

/// The degraded images the validation uses (examples/quality_validation.rs), one strength each.
fn degraded(img: &RgbImage, other: &RgbImage) -> Vec<(&'static str, Action, RgbImage)> {
    let face = subject(img);
    let (w, h) = img.dimensions();
    let (cx, cy) = face.bbox.centre();
    let (cx, cy) = (f64::from(cx), f64::from(cy));
    let e = ied(&face);
    let t = QualityThresholds::default();
    let lum = facestation::vision::quality::face_stats(img, &face)
        .luminance_mean
        .expect("luminance");
    let mut out = Vec::new();
    out.push(("blur", BLUR, image::imageops::blur(img, (0.08 * e) as f32)));
    out.push(("darken", Action::TooDark, gain(img, 20.0 / lum)));
    out.push(("over-expose", Action::TooBright, gain(img, 225.0 / lum)));
    // Farther away: shrunk so the eyes are half the threshold apart, on a grey canvas.
    let k = 0.5 * t.min_inter_eye_distance / e;
    let small = image::imageops::resize(
        img,
        (f64::from(w) * k) as u32,
        (f64::from(h) * k) as u32,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = RgbImage::from_pixel(w, h, Rgb([120, 120, 120]));
    image::imageops::replace(
        &mut canvas,
        &small,
        i64::from((w - small.width()) / 2),
        i64::from((h - small.height()) / 2),
    );
    out.push(("scale down", Action::MoveCloser, canvas));
    // Too close: a window 1.2x the face box, enlarged to the frame.
    let side = 1.2 * f64::from(face.bbox.width.max(face.bbox.height));
    let (sw, sh) = (side, side * f64::from(h) / f64::from(w));
    out.push((
        "too close",
        Action::StepBack,
        warp(img, |x, y| {
            (
                cx - sw / 2.0 + x * sw / f64::from(w),
                cy - sh / 2.0 + y * sh / f64::from(h),
            )
        }),
    ));
    // Off-centre: the face centre moved to 16% of the width.
    let dx = 0.16 * f64::from(w) - cx;
    out.push(("shift", Action::CentreFace, warp(img, |x, y| (x - dx, y))));
    // Head tilted: rotated 30 degrees about the face centre.
    let (s, c) = 30f64.to_radians().sin_cos();
    out.push((
        "rotate",
        Action::HeadTilted,
        warp(img, |x, y| {
            let (dx, dy) = (x - cx, y - cy);
            (cx + c * dx + s * dy, cy - s * dx + c * dy)
        }),
    ));
    // One side in shadow: the darker half of the face at 0.25 of its light, stepping at the nose.
    let (l, r) = halves(img, &face);
    let nose = f64::from(face.landmarks[2][0]);
    let mut side_lit = img.clone();
    for (x, _, p) in side_lit.enumerate_pixels_mut() {
        let u = ((f64::from(x) - nose) / (0.4 * e) + 0.5).clamp(0.0, 1.0);
        let u = if r <= l { u } else { 1.0 - u };
        *p = px(p.0.map(|v| f64::from(v) * (1.0 - 0.75 * u)));
    }
    out.push(("side light", Action::FaceTheLight, side_lit));
    // Someone beside: another frame joined on the right.
    let mut two = RgbImage::new(w + other.width(), h);
    image::imageops::replace(&mut two, img, 0, 0);
    image::imageops::replace(&mut two, other, i64::from(w), 0);
    out.push(("two faces", Action::OnePersonOnly, two));
    out
}

#[test]
fn a_clean_webcam_frame_and_a_clean_lfw_image_pass() {
    for path in [FRAME, LFW] {
        let (r, _) = check(&image(path));
        assert!(r.passed, "{path}: {:?}\n{r:#?}", r.actions);
        assert_eq!(r.action, None);
        assert!(
            r.quality.is_some_and(|q| q >= 0.0),
            "{path}: {:?}",
            r.quality
        );
        assert_eq!(r.pose.map(|p| p.source), Some(PoseSource::Model));
    }
}

#[test]
fn each_degradation_of_a_webcam_frame_gets_its_own_hint() {
    let img = image(FRAME);
    let other = image(OTHER);
    let mut wrong = Vec::new();
    for (name, expected, d) in degraded(&img, &other) {
        let (r, _) = check(&d);
        let right = if expected == BLUR {
            matches!(r.action, Some(Action::TooBlurry | Action::HoldStill))
        } else {
            r.action == Some(expected)
        };
        if !right {
            wrong.push(format!(
                "{name}: expected {expected:?}, got {:?} ({:?})",
                r.action, r.actions
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_degradation_of_an_lfw_image_gets_its_own_hint() {
    let img = image(LFW);
    let other = image("faces/lfw/images_deepfunneled/Abdullah_Gul/Abdullah_Gul_0007.jpg");
    let mut wrong = Vec::new();
    for (name, expected, d) in degraded(&img, &other) {
        let (r, _) = check(&d);
        let right = if expected == BLUR {
            matches!(r.action, Some(Action::TooBlurry | Action::HoldStill))
        } else {
            r.action == Some(expected)
        };
        if !right {
            wrong.push(format!(
                "{name}: expected {expected:?}, got {:?} ({:?})",
                r.action, r.actions
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_empty_frame_says_no_face() {
    let blank = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    let (r, faces) = check(&blank);
    assert!(faces.is_empty());
    assert_eq!(r.action, Some(Action::NoFace));
    assert_eq!(r.actions, vec![Action::NoFace]);
    assert_eq!(r.quality, None);
    assert_eq!(r.measures.len(), 1);
}

#[test]
fn the_report_serialises_with_snake_case_codes_and_every_measure() {
    let img = gain(&image(FRAME), 0.2);
    let (r, _) = check(&img);
    let v = serde_json::to_value(&r).expect("json");
    for key in [
        "passed",
        "action",
        "actions",
        "faces_counted",
        "face",
        "pose",
        "quality",
        "measures",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["passed"], false);
    assert_eq!(v["action"], "too_dark");
    assert_eq!(v["pose"]["source"], "model");
    let measures = v["measures"].as_array().expect("measures");
    let names: Vec<&str> = measures
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "single_face_present",
            "inter_eye_distance",
            "liveness_context",
            "horizontal_centring",
            "leftward_crop",
            "rightward_crop",
            "margin_above",
            "margin_below",
            "luminance_mean",
            "under_exposure",
            "over_exposure",
            "dynamic_range",
            "illumination_uniformity",
            "head_pose_yaw",
            "head_pose_pitch",
            "head_pose_roll",
            "sharpness",
        ]
    );
    for m in measures {
        assert!(m["passed"].is_boolean() && m["margin"].is_number(), "{m}");
        assert!(m.get("min").is_some() || m.get("max").is_some(), "{m}");
        assert_eq!(m["passed"] == true, m["action"].is_null(), "{m}");
    }
    let lum = measures
        .iter()
        .find(|m| m["name"] == "luminance_mean")
        .expect("luminance");
    assert_eq!(lum["action"], "too_dark");
    // It reads back.
    let back: QualityReport = serde_json::from_value(v).expect("round trip");
    assert_eq!(back.action, Some(Action::TooDark));
    assert!(back.measure(MeasureName::Sharpness).is_some());
}

#[test]
fn degenerate_boxes_do_not_panic() {
    let img = image(FRAME);
    let mut k = kit();
    let real =
        facestation::vision::quality::largest_face(&k.detector.detect(&img).expect("detect"))
            .expect("face");
    let b = |x, y, width, height| BoundingBox {
        x,
        y,
        width,
        height,
    };
    let mut cases = vec![
        b(0.0, 0.0, 0.0, 0.0),
        b(-50.0, -50.0, 60.0, 60.0),
        b(630.0, 470.0, 100.0, 100.0),
        b(700.0, 500.0, 50.0, 50.0),
        b(-1e9, -1e9, 2e9, 2e9),
        b(100.0, 100.0, -40.0, -40.0),
        b(f32::NAN, 0.0, 10.0, 10.0),
        b(0.0, f32::INFINITY, 10.0, 10.0),
    ];
    cases.push(real.bbox);
    let landmark_sets = [
        real.landmarks,
        [[0.0, 0.0]; 5],
        [[f32::NAN, 1.0]; 5],
        [
            [-100.0, 900.0],
            [2000.0, -5.0],
            [0.0, 0.0],
            [1.0, 1.0],
            [1.0, 1.0],
        ],
    ];
    for bbox in &cases {
        for landmarks in landmark_sets {
            let face = Face {
                bbox: *bbox,
                score: 0.9,
                landmarks,
            };
            let r = k.assessor.assess(&img, &[face]);
            let _ = serde_json::to_string(&r).expect("serialises");
            // A box without a finite, positive width is no face to count.
            assert!(r.faces_counted <= 1, "{bbox:?}");
            assert!(!r.passed || r.faces_counted == 1, "{bbox:?}");
            let two = assess(&img, &[face, face], None, &QualityThresholds::default());
            if r.faces_counted == 1 {
                assert!(two.actions.contains(&Action::OnePersonOnly), "{bbox:?}");
            }
        }
    }
    // A 1x1 and a 0x0 image.
    let tiny = RgbImage::from_pixel(1, 1, Rgb([9, 9, 9]));
    let face = Face {
        bbox: b(0.0, 0.0, 1.0, 1.0),
        score: 0.9,
        landmarks: [[0.5, 0.5]; 5],
    };
    let _ = k.assessor.assess(&tiny, &[face]);
    let _ = k.assessor.assess(&RgbImage::new(0, 0), &[face]);
}

#[test]
fn a_second_face_counts_from_a_third_of_the_largest_width() {
    let face = |width: f32| Face {
        bbox: BoundingBox {
            x: 0.0,
            y: 0.0,
            width,
            height: width,
        },
        score: 0.9,
        landmarks: [[0.0; 2]; 5],
    };
    assert_eq!(counted_faces(&[face(90.0), face(30.0)]).len(), 2);
    assert_eq!(counted_faces(&[face(90.0), face(29.0)]).len(), 1);
    let img = RgbImage::from_pixel(320, 240, Rgb([128, 128, 128]));
    let r = assess(
        &img,
        &[face(90.0), face(29.0)],
        None,
        &QualityThresholds::default(),
    );
    assert!(!r.actions.contains(&Action::OnePersonOnly));
}

#[test]
fn the_pose_model_sees_a_frontal_webcam_face_as_frontal() {
    let img = image(FRAME);
    let face = subject(&img);
    let models = common::models();
    let mut model = HeadPoseModel::new(models.session("head_pose", 1).expect("session"));
    let p = model.estimate(&img, &face.bbox).expect("pose");
    assert_eq!(p.source, PoseSource::Model);
    assert!(
        p.yaw.abs() < 20.0 && p.pitch.abs() < 20.0 && p.roll.abs() < 15.0,
        "{p:?}"
    );
    // A box with no pixel in the frame is refused, not guessed.
    let outside = BoundingBox {
        x: 900.0,
        y: 0.0,
        width: 10.0,
        height: 10.0,
    };
    assert!(model.estimate(&img, &outside).is_err());
}

#[test]
fn the_cli_prints_one_line_per_measure_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::data(FRAME).display().to_string();
    let run = common::station(dir.path(), &["quality", &path]);
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.starts_with("PASS"), "{out}");
    for name in [
        "inter_eye_distance",
        "head_pose_yaw",
        "sharpness",
        "illumination_uniformity",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"));
        assert!(line.contains("pass"), "{line}");
    }
    let dark = dir.path().join("dark.png");
    gain(&image(FRAME), 0.2).save(&dark).expect("save");
    let run = common::station(
        dir.path(),
        &["quality", &dark.display().to_string(), "--json"],
    );
    run.expect_code(1);
    let v = run.json();
    assert_eq!(v["quality"]["action"], "too_dark");
    assert_eq!(v["width"], 640);
    assert!(v["image_sha256"].as_str().is_some_and(|s| s.len() == 64));
    // Nothing is written: quality is a measurement, not a decision.
    assert!(!dir.path().join("audit.jsonl").exists());
}

/// Every decision's record carries the probe's measures and codes and each gallery image's:
/// `compare --json` goes through `station::decide` like the kiosk (tests/integration/kiosk.rs
/// checks a kiosk record).
#[test]
fn a_compare_record_holds_the_probe_and_gallery_quality() {
    let dir = tempfile::tempdir().expect("tempdir");
    let probe = common::data(FRAME).display().to_string();
    let dark = dir.path().join("dark.png");
    gain(&image(FRAME), 0.2).save(&dark).expect("save");
    let run = common::station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &probe,
            "--gallery",
            &dark.display().to_string(),
            "--json",
            "--no-liveness",
        ],
    );
    let r = run.json();
    let q = &r["station"]["quality"];
    assert_eq!(q["probeMeasuredBy"], "engine", "{q}");
    let measures = q["probe"]["measures"].as_array().expect("probe measures");
    assert_eq!(measures.len(), QualityReport::measure_names().len());
    assert!(measures
        .iter()
        .any(|m| m["name"] == "sharpness" && m["value"].as_f64().is_some()));
    assert_eq!(q["probe"]["passed"], true, "{q}");
    let g = &r["station"]["gallery"][0]["quality"];
    assert_eq!(g["passed"], false, "{g}");
    assert!(g["actions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|c| c == "too_dark")));
    facestation::record::verify_record(&r).expect("the record with its quality verifies");
}
