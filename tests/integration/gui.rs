//! The station driven through egui_kittest with the file camera and the REAL models (the fake
//! engine's tests are in `gui_fake`): widgets are found by role and label (AccessKit). Photos come
//! from ../shared/data (never copied into the repo).

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::kittest::{NodeT as _, Queryable};
use egui_kittest::Harness;
use facestation::app::state::{LastResult, Settings};
use facestation::app::testing::{compare_done, gallery_done, probe_done, seen, step_until};
use facestation::app::worker::{Badge, WorkerConfig};
use facestation::app::{DialogBackend, EngineState, StationApp, StationOptions};
use facestation::engine::verdict::Verdict;
use facestation::engine::Decision;

const APFOL: &str = "liveness/live/apfol_video__unspecified__real2_frame";

/// GUI tests share two cores with ONNX Runtime: run them one at a time so timings mean something.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    /// A temp dir with `frames/` holding copies of the given apfol_video frames (by number).
    fn new(frames: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("frames")).expect("mkdir");
        for f in frames {
            let src = common::data(&format!("{APFOL}{f}.png"));
            std::fs::copy(&src, root.join("frames").join(format!("{f}.png"))).expect("copy");
        }
        Self { _tmp: tmp, root }
    }

    /// The real models (the local engine), a real clock.
    fn options(&self, gallery: Vec<PathBuf>) -> StationOptions {
        StationOptions {
            worker: WorkerConfig {
                paths: facestation::paths::StationPaths {
                    models: Some(common::shared().join("models")),
                    log: Some(self.root.join("audit.jsonl")),
                    key: Some(self.root.join("station-key.pem")),
                },
                ..Default::default()
            },
            camera_file: Some(self.root.join("frames")),
            camera_fps: 30.0,
            gallery,
            no_webcam: true,
            fresh_settings: true,
            file_dialog: Some(DialogBackend::Egui),
            ..Default::default()
        }
    }
}

fn harness(options: StationOptions, settings: Settings) -> Harness<'static, StationApp> {
    facestation::app::testing::harness(options, settings, egui::vec2(1280.0, 800.0))
}

fn ready(h: &mut Harness<'static, StationApp>) {
    step_until(h, "models", Duration::from_secs(60), |a| a.is_ready());
    step_until(h, "a camera frame", Duration::from_secs(20), |a| {
        a.preview.shown_seq.is_some()
    });
}

/// A file dropped on the window, as egui-winit reports it.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'static, StationApp>, path: &Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
}

fn click_compare(h: &mut Harness<'static, StationApp>) {
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Compare")
        .click();
}

#[test]
fn captured_probe_matches_gallery_image_and_record_verifies() {
    let _g = serial();
    let env = Env::new(&["0000", "0011", "0022"]);
    let mut h = harness(env.options(Vec::new()), Settings::default());
    ready(&mut h);
    // Face boxes on the live preview.
    step_until(&mut h, "preview detection", Duration::from_secs(20), |a| {
        a.preview.detections > 0 && !a.preview.faces.is_empty()
    });
    h.key_press(egui::Key::Space);
    h.step();
    step_until(
        &mut h,
        "probe analysis",
        Duration::from_secs(20),
        probe_done,
    );
    h.get_by_label_contains("Probe captured");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Retake");

    // A gallery image dropped on the window: a later frame of the same person.
    // (Frame 0135 turns the head: 0.9939 against frame 0000, inside the review band.)
    drop_file(&mut h, &common::data(&format!("{APFOL}0146.png")));
    h.step();
    step_until(
        &mut h,
        "gallery analysis",
        Duration::from_secs(20),
        gallery_done,
    );
    assert_eq!(h.state().gallery[0].badge(), Some(Badge::Ok));
    assert!(h.query_all_by_label("ok").count() >= 1);

    click_compare(&mut h);
    h.step();
    assert!(h.state().compare_running() || h.state().last.is_some());
    step_until(&mut h, "compare", Duration::from_secs(30), compare_done);
    h.step();
    h.step();

    let a = h.state();
    let Some(LastResult::Done { done, .. }) = &a.last else {
        panic!("compare failed");
    };
    // Two frames of one person: a match, or within FAST's review band around 0.993 (the
    // threshold is the engine's default: the slider no longer rounds it to 0.99).
    assert_eq!(
        done.outcome.decision == Decision::Match,
        done.outcome.score >= done.outcome.threshold
    );
    assert_eq!(
        done.outcome.threshold,
        facestation::engine::score::default_threshold(facestation::api::SearchMode::Fast)
    );
    assert!(done.signature_valid);
    let record = done.record.as_ref().expect("signed record");
    facestation::record::verify_record(record).expect("record verifies");
    let score = done.outcome.score;
    let liveness = done.outcome.liveness.clone().expect("liveness checked");

    // The headline is the verdict, never MATCH.
    let verdict = done.judgement.verdict;
    assert_eq!(verdict, Verdict::Verified, "score {score}");
    seen(&h, verdict.label());
    assert!(
        h.query_by_label("MATCH").is_none(),
        "MATCH is never the headline"
    );
    assert_eq!(record["station"]["verdict"], verdict.as_str());
    h.get_by_label_contains(&format!("score {score:.4}"));
    seen(&h, &format!("P(real) {:.3}", liveness.score));
    h.get_by_label("signature valid");
    // The record shown is the one appended to the audit log.
    let log = std::fs::read_to_string(env.root.join("audit.jsonl")).expect("log");
    assert_eq!(log.lines().count(), 1);
    let id = record["id"].as_str().expect("id");
    assert!(log.contains(id));
    step_until(&mut h, "recent records", Duration::from_secs(5), |a| {
        a.recent.len() == 1
    });

    // Esc starts over: probe and result go, the gallery stays and can be added to.
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().probe.is_none() && h.state().last.is_none());
    assert_eq!(h.state().gallery.len(), 1, "Esc keeps the gallery");
    assert!(!h
        .get_by_role_and_label(egui::accesskit::Role::Button, "Add images…")
        .accesskit_node()
        .is_disabled());
}

/// A PNG header claiming `w`x`h` (no pixel data): the decoder must refuse it by its size.
fn huge_png_header(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for b in bytes {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    out
}

#[test]
fn other_person_is_no_match_and_bad_gallery_files_get_badges() {
    let _g = serial();
    let env = Env::new(&["0000"]);
    let bad = env.root.join("bad");
    std::fs::create_dir_all(&bad).expect("mkdir");
    std::fs::write(bad.join("notes.txt"), "not an image at all").expect("write");
    let jpeg = common::read("faces/face_recognition/joe_biden/examples__biden.jpg");
    std::fs::write(bad.join("truncated.jpg"), &jpeg[..jpeg.len().min(1500)]).expect("write");
    std::fs::write(bad.join("huge.png"), huge_png_header(60_000, 60_000)).expect("write");
    image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .save(bad.join("no_face.png"))
    .expect("save");
    let gallery = vec![
        bad.join("notes.txt"),
        bad.join("truncated.jpg"),
        bad.join("huge.png"),
        bad.join("no_face.png"),
        bad.join("missing.jpg"),
        common::data("faces/face_recognition/joe_biden/examples__biden.jpg"),
    ];
    let mut h = harness(env.options(gallery), Settings::default());
    ready(&mut h);
    step_until(
        &mut h,
        "gallery analysis",
        Duration::from_secs(30),
        gallery_done,
    );
    let badges: Vec<Option<Badge>> = h.state().gallery.iter().map(|g| g.badge()).collect();
    assert_eq!(
        badges,
        vec![
            Some(Badge::Unreadable),
            Some(Badge::Unreadable),
            Some(Badge::Unreadable),
            Some(Badge::NoFace),
            Some(Badge::Unreadable),
            Some(Badge::Ok),
        ]
    );
    h.step();
    assert!(h.query_all_by_label("unreadable").count() >= 4);
    assert!(h.query_all_by_label("no face").count() >= 1);

    // Probe from a file: another person.
    let probe = common::data("faces/face_recognition/barack_obama/examples__obama.jpg");
    h.state_mut()
        .push(facestation::app::Command::AddProbeFile(probe));
    h.step();
    step_until(
        &mut h,
        "probe analysis",
        Duration::from_secs(20),
        probe_done,
    );
    h.key_press(egui::Key::Enter);
    h.step();
    step_until(&mut h, "compare", Duration::from_secs(30), compare_done);
    h.step();
    let Some(LastResult::Done { done, .. }) = &h.state().last else {
        panic!("compare failed");
    };
    assert_eq!(done.outcome.decision, Decision::NoMatch);
    assert_eq!(done.judgement.verdict, Verdict::NotVerified);
    // The no-face image was compared too (readable), the unreadable ones were left out.
    assert_eq!(done.outcome.gallery.len(), 2);
    assert!(done.outcome.gallery[0].score.is_none());
    seen(&h, "NOT VERIFIED");
    // "NO MATCH" is a reason under the headline, not the headline.
    seen(&h, "NO MATCH");
    seen(&h, "no_face.png: no face");
    h.get_by_label("signature valid");
}

#[test]
fn missing_models_show_what_is_missing_and_how_to_fix_it() {
    let _g = serial();
    let env = Env::new(&["0000"]);
    let mut options = env.options(Vec::new());
    let empty = env.root.join("no-models");
    std::fs::create_dir_all(&empty).expect("mkdir");
    options.worker.paths.models = Some(empty);
    let mut h = harness(options, Settings::default());
    step_until(&mut h, "setup failure", Duration::from_secs(30), |a| {
        matches!(a.engine, EngineState::Failed(_))
    });
    h.step();
    // A banner above the station (which stays usable for Remote), not a dead end.
    h.get_by_label("The local engine cannot start");
    h.get_by_label("The model files are missing or wrong");
    h.get_by_label_contains("--models DIR");
    h.get_by_label("Details").click();
    h.step();
    h.get_by_label_contains("is missing");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Add images…");
}

#[test]
fn ui_keeps_drawing_while_a_compare_runs() {
    let _g = serial();
    let env = Env::new(&["0000", "0011", "0022", "0034", "0045"]);
    let gallery: Vec<PathBuf> = ["0090", "0101", "0112", "0123", "0135", "0146"]
        .iter()
        .map(|f| common::data(&format!("{APFOL}{f}.png")))
        .collect();
    let settings = Settings {
        mode: facestation::api::SearchMode::Accurate,
        compare_threshold: facestation::engine::score::default_threshold(
            facestation::api::SearchMode::Accurate,
        ),
        ..Settings::default()
    };
    let mut h = harness(env.options(gallery), settings);
    ready(&mut h);
    step_until(
        &mut h,
        "gallery analysis",
        Duration::from_secs(30),
        gallery_done,
    );
    h.key_press(egui::Key::Space);
    h.step();
    step_until(
        &mut h,
        "probe analysis",
        Duration::from_secs(20),
        probe_done,
    );

    let frames_before = h.state().preview.frames_shown;
    click_compare(&mut h);
    let start = Instant::now();
    let mut steps = Vec::new();
    loop {
        let t = Instant::now();
        h.step();
        steps.push(t.elapsed().as_secs_f64() * 1000.0);
        if compare_done(h.state()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "compare never ended"
        );
        // About 60 UI frames a second.
        std::thread::sleep(Duration::from_millis(16));
    }
    let compare_s = start.elapsed().as_secs_f64();
    let frames = h.state().preview.frames_shown - frames_before;
    let p95 = facestation::eval::percentile(&mut steps.clone(), 95.0).unwrap_or(0.0);
    steps.sort_by(f64::total_cmp);
    eprintln!(
        "compare {compare_s:.2} s: {} UI frames, p95 {p95:.1} ms, max {:.1} ms, {frames} camera frames shown",
        steps.len(),
        steps[steps.len() - 1]
    );
    assert!(steps.len() >= 3, "the compare was too quick to judge");
    // Frames kept coming at a good part of the camera's 30 fps while the worker was busy.
    assert!(
        frames as f64 >= compare_s * 30.0 * 0.4,
        "only {frames} camera frames in {compare_s:.2} s"
    );
    // No UI frame waited on inference (generous bound: CI shares two cores with ONNX Runtime).
    assert!(p95 < 50.0, "UI frame p95 {p95:.1} ms");
}
