//! The `facestation` binary end to end: a real compare prints the Verifik-shaped signed record,
//! the audit log verifies and is rejected after any single byte changes, exit codes mean something.

use crate::common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;

const OBAMA: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";
const OBAMA2: &str = "faces/face_recognition/barack_obama/examples__obama2.jpg";
const ALEX: &str =
    "faces/face_recognition/alex_lacamoire/examples__knn_examples__train__alex_lacamoire__img1.jpg";

fn station(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_facestation"))
        .arg("--models")
        .arg(common::shared().join("models"))
        .arg("--log")
        .arg(dir.join("audit.jsonl"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args(args)
        .output()
        .expect("run facestation");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn path(p: &str) -> String {
    common::data(p).display().to_string()
}

#[test]
fn compare_prints_every_field_of_the_verifik_example_and_signs_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &path(OBAMA),
            "--gallery",
            &path(OBAMA2),
            "--json",
            "--no-liveness",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    for p in [
        "/id",
        "/data/__v",
        "/data/_id",
        "/data/type",
        "/data/probe",
        "/data/gallery",
        "/data/client",
        "/data/result/score",
        "/data/deleted",
        "/data/createdAt",
        "/data/updatedAt",
        "/data/comparedAt",
        "/data/search_mode",
        "/signature/message",
        "/signature/dateTime",
        "/signature/algorithm",
        "/signature/publicKey",
        "/signature/value",
        "/station/threshold",
        "/station/gallery/0/score",
        "/station/gallery/0/face/box",
        "/station/models/0/sha256",
        "/station/timingsMs/total_ms",
        "/prevRecordSha256",
        "/seq",
    ] {
        assert!(r.pointer(p).is_some(), "missing {p} in {r:#}");
    }
    assert_eq!(r["data"]["type"], "compare");
    assert_eq!(r["data"]["search_mode"], "FAST");
    assert_eq!(r["data"]["result"]["passed"], true);
    let score = r["data"]["result"]["score"].as_f64().expect("score");
    assert!(score > 0.8 && score <= 1.0, "score {score}");
    // Privacy by default: digests, not images.
    let probe = r["data"]["probe"][0].as_str().expect("probe");
    assert!(
        probe.starts_with("sha256:") && probe.len() == 7 + 64,
        "{probe}"
    );
    facestation::record::verify_record(&r).expect("the printed record verifies");
    let mode = std::fs::metadata(dir.path().join("key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_audit_log_verifies_and_any_changed_byte_is_caught() {
    let dir = tempfile::tempdir().expect("tmp");
    for (probe, gallery) in [(OBAMA, OBAMA2), (OBAMA, ALEX), (ALEX, OBAMA2)] {
        let out = station(
            dir.path(),
            &[
                "compare",
                "--probe",
                &path(probe),
                "--gallery",
                &path(gallery),
                "--json",
            ],
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = dir.path().join("audit.jsonl");
    let ok = station(
        dir.path(),
        &["record", "verify", &log.display().to_string()],
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("3 records"));
    let original = std::fs::read(&log).expect("log");
    // Every 53rd byte plus the first and last: each single change must be rejected with a line number.
    let positions: Vec<usize> = (0..original.len())
        .step_by(53)
        .chain([0, original.len() - 2])
        .collect();
    for at in positions {
        let mut bad = original.clone();
        bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
        let tampered = dir.path().join("tampered.jsonl");
        std::fs::write(&tampered, &bad).expect("write");
        let out = station(
            dir.path(),
            &["record", "verify", &tampered.display().to_string()],
        );
        assert_ne!(
            out.status.code(),
            Some(0),
            "byte {at} changed but the log still verifies"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("line"),
            "byte {at}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_verifik_request_on_stdin_gives_the_same_shape() {
    let dir = tempfile::tempdir().expect("tmp");
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(common::read(p));
    let body = serde_json::json!({
        "os": "DESKTOP", "probe": b64(OBAMA), "gallery": [b64(ALEX)], "search_mode": "ACCURATE"
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_facestation"))
        .args([
            "--models",
            &common::shared().join("models").display().to_string(),
        ])
        .args(["--log", &dir.path().join("a.jsonl").display().to_string()])
        .args(["--key", &dir.path().join("k.pem").display().to_string()])
        .args(["compare", "--request", "-", "--json", "--embed-images"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(1),
        "impostor pair: decided, not passed"
    );
    let r = json(&out);
    assert_eq!(r["data"]["search_mode"], "ACCURATE");
    assert_eq!(r["data"]["result"]["passed"], false);
    assert_eq!(
        r["data"]["probe"][0].as_str().map(str::len),
        Some(b64(OBAMA).len()),
        "--embed-images keeps the image"
    );
}

#[test]
fn exit_codes_and_errors_are_specific() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = dir.path().join("note.txt");
    std::fs::write(&text, "not an image at all").expect("write");
    let out = station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &text.display().to_string(),
            "--gallery",
            &path(OBAMA),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json(&out)["code"], "unsupported_image");

    let blank = dir.path().join("blank.png");
    image::RgbImage::from_pixel(300, 300, image::Rgb([90, 90, 90]))
        .save(&blank)
        .expect("save");
    let out = station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &blank.display().to_string(),
            "--gallery",
            &path(OBAMA),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no face found in the probe"));

    let out = Command::new(env!("CARGO_BIN_EXE_facestation"))
        .args([
            "--models",
            &dir.path().display().to_string(),
            "liveness",
            &path(OBAMA),
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dlib_face_recognition_resnet_model_v1.onnx is missing"),
        "{err}"
    );
}

#[test]
fn eval_reports_kfold_and_writes_one_score_line_per_pair() {
    let dir = tempfile::tempdir().expect("tmp");
    let scores = dir.path().join("scores.csv");
    let out = station(
        dir.path(),
        &[
            "eval",
            "--pairs",
            &path("pairs.csv"),
            "--source",
            "lfw_fold0",
            "--limit",
            "40",
            "--json",
            "--scores",
            &scores.display().to_string(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["pairs"], 40);
    assert!(r
        .pointer("/timing_per_image_ms/detect_align_embed/median_ms")
        .is_some());
    let lines = std::fs::read_to_string(&scores).expect("scores");
    assert_eq!(lines.lines().count(), 41);
    assert!(lines.starts_with("a,b,same,source,score,distance,faces_a,faces_b"));
}

#[test]
fn liveness_is_a_signed_decision_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let spoof = "liveness/spoof/minivision__F1__image_F1.jpg";
    let out = station(dir.path(), &["liveness", &path(spoof), "--json"]);
    assert_eq!(out.status.code(), Some(1), "a printed photo does not pass");
    let r = json(&out);
    assert_eq!(r["data"]["type"], "liveness");
    assert_eq!(r["data"]["passed"], false);
    assert!(r["data"]["liveness_score"].as_f64().expect("score") < 0.6);
    facestation::record::verify_record(&r).expect("verifies");
    let log = dir.path().join("audit.jsonl");
    assert_eq!(
        facestation::record::verify_log(&log).expect("log").records,
        1
    );
}

/// One unreadable gallery file among good ones: the others are compared (as in the GUI), the
/// bad one gets its own error in the outcome and the record, and the human output names it.
#[test]
fn a_bad_gallery_file_is_named_and_the_rest_are_compared() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("scan-failed.jpg");
    std::fs::write(&bad, b"this is not a JPEG").expect("write");
    let bad = bad.display().to_string();
    let args = [
        "compare",
        "--probe",
        &path(OBAMA),
        "--gallery",
        &bad,
        &path(OBAMA2),
        "--no-liveness",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let run = common::station(dir.path(), &with_json);
    assert!(
        matches!(run.output.status.code(), Some(0 | 1 | 7)),
        "a decision, not an error: {}",
        run.stderr()
    );
    let record = run.json();
    let gallery = &record["station"]["gallery"];
    assert!(
        gallery[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{gallery}"
    );
    assert!(gallery[1]["score"].as_f64().is_some(), "{gallery}");
    let human = common::station(dir.path(), &args);
    assert!(
        human
            .stdout()
            .contains(&format!("gallery[0] {bad}: not used")),
        "{}",
        human.stdout()
    );
    // Probe errors name the probe file and the flag that helps.
    let two = dir.path().join("two.png");
    let a = image::open(common::data(OBAMA)).expect("photo").to_rgb8();
    let mut side = image::RgbImage::new(a.width() * 2, a.height());
    image::imageops::replace(&mut side, &a, 0, 0);
    image::imageops::replace(&mut side, &a, i64::from(a.width()), 0);
    side.save(&two).expect("save");
    let run = common::station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &two.display().to_string(),
            "--gallery",
            &path(OBAMA2),
        ],
    );
    run.expect_code(3);
    assert!(
        run.stderr().contains(&two.display().to_string()),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("--largest-face"), "{}", run.stderr());
}

/// The first line is the verdict, and a score inside the review band is REVIEW (exit 7), never
/// an automatic pass.
#[test]
fn the_verdict_heads_the_output_and_the_review_band_gives_review() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = common::station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &path(OBAMA),
            "--gallery",
            &path(OBAMA2),
            "--no-liveness",
        ],
    );
    run.expect_code(0);
    assert!(run.stdout().starts_with("VERIFIED\n"), "{}", run.stdout());
    // A band wide enough to hold this genuine pair's score.
    let run = common::station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &path(OBAMA),
            "--gallery",
            &path(OBAMA2),
            "--no-liveness",
            "--review-band",
            "0.49",
            "--operator",
            "Ana B",
            "--json",
        ],
    );
    run.expect_code(7);
    let record = run.json();
    assert_eq!(record["station"]["operator"], "Ana B");
    assert_eq!(record["station"]["verdict"], "review");
    assert_eq!(record["station"]["reasons"][0], "borderline");
    assert_eq!(record["station"]["passed"], false);
    assert_eq!(record["station"]["reviewBand"]["below"], 0.49);
    let run = common::station(
        dir.path(),
        &[
            "compare",
            "--probe",
            &path(OBAMA),
            "--gallery",
            &path(ALEX),
            "--no-liveness",
        ],
    );
    run.expect_code(1);
    assert!(
        run.stdout().starts_with("NOT VERIFIED: NO MATCH\n"),
        "{}",
        run.stdout()
    );
}

/// ONNX Runtime's PyPI build writes a device id and telemetry queue under the user's cache
/// folder unless told not to; a station promising local, private inference writes nothing there.
#[test]
fn a_compare_writes_nothing_under_a_fresh_home_or_cache() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&cache).expect("cache");
    let run = common::station_with(
        dir.path(),
        &[
            "compare",
            "--probe",
            &path(OBAMA),
            "--gallery",
            &path(OBAMA2),
        ],
        |c| {
            c.env("HOME", &home)
                .env("XDG_CACHE_HOME", &cache)
                .env_remove("ORT_DISABLE_TELEMETRY");
        },
    );
    assert!(
        run.output.status.code().is_some_and(|c| c <= 1 || c == 7),
        "{}",
        run.stderr()
    );
    for d in [&home, &cache] {
        let found: Vec<_> = walk(d);
        assert!(found.is_empty(), "written under {}: {found:?}", d.display());
    }
}

fn walk(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// `liveness --labels` never prints an error rate over images it could not judge.
#[test]
fn liveness_rates_are_na_when_nothing_was_judged() {
    let dir = tempfile::tempdir().expect("tmp");
    let labels = dir.path().join("crops.csv");
    std::fs::write(
        &labels,
        "path,label,source,subject,attack_type,image_kind\n\
         liveness/live/nvlong21__0001__0001_00_00_01_0.jpg,live,nvlong21,0001,none,face_crop\n\
         liveness/live/nvlong21__0001__0001_00_00_01_52.jpg,live,nvlong21,0001,none,face_crop\n",
    )
    .expect("labels");
    let run = common::station(
        dir.path(),
        &[
            "liveness",
            "--labels",
            &labels.display().to_string(),
            "--root",
            &common::data("").display().to_string(),
        ],
    );
    run.expect_code(0);
    let out = run.stdout();
    assert!(out.contains("BPCER n/a"), "{out}");
    assert!(!out.contains("BPCER 0.000"), "{out}");
}

/// An endless input (`/dev/zero`) is refused after the size limit, fast and without reading it all.
#[test]
fn an_endless_probe_is_refused_fast() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = std::time::Instant::now();
    let run = common::station(
        dir.path(),
        &["compare", "--probe", "/dev/zero", "--gallery", &path(OBAMA)],
    );
    run.expect_code(2);
    assert!(run.stderr().contains("larger than"), "{}", run.stderr());
    // Generous for a loaded machine; without the bound it reads until memory runs out.
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
}
