//! The kiosk driven through egui_kittest with the real models and a file camera playing frames
//! made from ../shared/data (in a temp dir; never copied into the repo). Widgets are found by
//! their AccessKit role and label, as a screen reader finds them.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use eframe::egui::{self, accesskit::Role, Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use facestation::kiosk::app::{KioskApp, Operator};
use facestation::kiosk::core::{Clock, KioskOptions, Service};
use facestation::kiosk::flow::{Answer, Hint, KioskConfig, Screen};
use image::{imageops, Rgb, RgbImage};
use serde_json::Value;

const LIVE: &str = "liveness/live/apfol_video__unspecified__real2_frame";
const SPOOF: &str = "liveness/spoof/apfol_video__unspecified__fake2_frame";
const PIN: &str = "4711";
/// Live frames in which the person is in position (the gate passes them; frames 0090 and 0101
/// are off-centre).
const IN_POSITION: [&str; 6] = ["0056", "0067", "0078", "0112", "0123", "0135"];

/// Kiosk tests share two cores with ONNX Runtime: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn load(path: &str) -> RgbImage {
    image::open(common::data(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8()
}

/// The frame scaled by `s` and centred on a black 640x480 canvas: the person far from the camera.
fn far(frame: &RgbImage, s: f32) -> RgbImage {
    let (w, h) = frame.dimensions();
    let small = imageops::resize(
        frame,
        (w as f32 * s) as u32,
        (h as f32 * s) as u32,
        imageops::FilterType::Triangle,
    );
    let mut canvas = RgbImage::from_pixel(640, 480, Rgb([0, 0, 0]));
    let x = (640 - small.width()) / 2;
    let y = (480 - small.height()) / 2;
    imageops::overlay(&mut canvas, &small, x.into(), y.into());
    canvas
}

/// The phone-replay frame with the phone brought closer and into the oval, as an attacker
/// following the hints would: the region around the phone's face, enlarged to 640x480.
fn phone_closer(frame: &RgbImage) -> RgbImage {
    let crop = imageops::crop_imm(frame, 107, 160, 427, 320).to_image();
    imageops::resize(&crop, 640, 480, imageops::FilterType::Triangle)
}

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        std::fs::create_dir_all(root.join("frames")).expect("mkdir");
        std::fs::create_dir_all(root.join("enrolled")).expect("mkdir");
        Self { _tmp: tmp, root }
    }

    fn frame(&self, n: usize, img: &RgbImage) {
        img.save(self.root.join("frames").join(format!("{n:03}.png")))
            .expect("save frame");
    }

    fn enrol(&self, id: &str, shared_path: &str) {
        let dir = self.root.join("enrolled").join(id);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let ext = Path::new(shared_path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("jpg");
        std::fs::copy(common::data(shared_path), dir.join(format!("1.{ext}")))
            .expect("copy enrolment");
    }

    fn options(&self, config: KioskConfig, fps: f64, clock: Clock) -> KioskOptions {
        KioskOptions {
            paths: facestation::paths::StationPaths {
                models: Some(common::shared().join("models")),
                log: Some(self.root.join("audit.jsonl")),
                key: Some(self.root.join("station-key.pem")),
            },
            camera_file: Some(self.root.join("frames")),
            camera_fps: fps,
            no_webcam: true,
            enrolled: self.root.join("enrolled"),
            kiosk_id: Some("K1".into()),
            pin: Some(zeroize::Zeroizing::new(PIN.to_string())),
            windowed: true,
            redact: false,
            config,
            clock,
            ..KioskOptions::default()
        }
    }

    fn records(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.root.join("audit.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| serde_json::from_str(l).expect("record is JSON"))
            .collect()
    }
}

/// Short answers and erased screens, so the tests do not wait for the defaults.
fn quick() -> KioskConfig {
    KioskConfig {
        answer_shown: Duration::from_millis(1500),
        erased_shown: Duration::from_millis(800),
        ..KioskConfig::default()
    }
}

/// A clock the test moves on: real time plus an offset.
fn manual_clock() -> (Clock, Arc<Mutex<Duration>>) {
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let o = offset.clone();
    let clock: Clock =
        Arc::new(move || Instant::now() + *o.lock().unwrap_or_else(|p| p.into_inner()));
    (clock, offset)
}

fn harness(options: KioskOptions) -> Harness<'static, KioskApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| KioskApp::new(&cc.egui_ctx, options))
}

fn describe(a: &KioskApp) -> String {
    format!(
        "service {:?}, screen {:?}, checks {:?}, last failure {:?}",
        a.core.service,
        a.core.kiosk.screen,
        a.core
            .checks_seen
            .iter()
            .map(|c| c.hint)
            .collect::<Vec<_>>(),
        a.core.last_failure
    )
}

/// Steps the UI in real time (the worker and camera are real threads) until `cond` holds.
fn wait_until(
    h: &mut Harness<'static, KioskApp>,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&KioskApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}: {}",
            describe(h.state())
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ready(h: &mut Harness<'static, KioskApp>) {
    wait_until(h, "the models", Duration::from_secs(90), |a| {
        a.core.service != Service::Starting
    });
    assert_eq!(
        h.state().core.service,
        Service::Ready,
        "{}",
        describe(h.state())
    );
    h.step();
    h.get_by_label("Type or scan your ID, then press Enter");
    h.get_by_role_and_label(Role::Button, "Continue (Enter)");
    h.get_by_role_and_label(Role::Button, "Call staff (F1)");
    h.get_by_role_and_label(Role::TextInput, "Your ID");
}

/// Types like a keyboard (or a badge reader) and presses Enter.
fn type_id(h: &mut Harness<'static, KioskApp>, id: &str) {
    h.event(egui::Event::Text(id.into()));
    h.step();
    h.key_press(Key::Enter);
    h.step();
}

fn answer(a: &KioskApp) -> Option<Answer> {
    match a.core.kiosk.screen {
        Screen::Answer { answer, .. } => Some(answer),
        _ => None,
    }
}

/// Runs one claim to its answer; returns it and asserts that the person never saw a score.
fn claim_to_answer(h: &mut Harness<'static, KioskApp>, id: &str) -> Answer {
    type_id(h, id);
    wait_until(h, "the answer", Duration::from_secs(60), |a| {
        answer(a).is_some()
    });
    h.step();
    let got = answer(h.state()).expect("answer");
    h.get_by_label(got.words());
    for secret in ["score", "P(real)", "threshold", "liveness"] {
        assert_eq!(
            h.query_all_by_label_contains(secret).count(),
            0,
            "the person must not see {secret:?}"
        );
    }
    got
}

fn last_compare(env: &Env) -> Value {
    env.records()
        .into_iter()
        .rev()
        .find(|r| {
            r["data"]["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("compare"))
        })
        .expect("a compare record")
}

/// The record keeps digests only (the lead adds `station.imagesKept: "none"` for kiosk records).
fn assert_digests_only(r: &Value) {
    for field in ["probe", "gallery"] {
        let v = r["data"][field].as_array().expect(field);
        assert!(!v.is_empty());
        for d in v {
            assert!(
                d.as_str()
                    .is_some_and(|s| s.starts_with("sha256:") && s.len() == 71),
                "data.{field} holds {d}"
            );
        }
    }
    assert_eq!(r["station"]["imagesEmbedded"], false);
    facestation::record::verify_record(r).expect("record signature verifies");
}

#[test]
fn kiosk_an_approaching_person_is_guided_captured_verified_and_erased() {
    let _g = serial();
    let env = Env::new();
    // Four frames far away (the person small on a black canvas), then six at arm's length.
    let far_frames = ["0000", "0011", "0022", "0045"];
    for (i, (f, s)) in far_frames.iter().zip([0.3, 0.35, 0.4, 0.45]).enumerate() {
        env.frame(i, &far(&load(&format!("{LIVE}{f}.png")), s));
    }
    for (i, f) in IN_POSITION.iter().enumerate() {
        env.frame(4 + i, &load(&format!("{LIVE}{f}.png")));
    }
    env.enrol("E100", &format!("{LIVE}0213.png"));
    let (clock, _) = manual_clock();
    let mut h = harness(env.options(quick(), 5.0, clock));
    ready(&mut h);

    // The camera is off until the live view starts, then plays from the first (far) frame.
    assert!(h.state().core.camera.is_none());
    let started = Instant::now();
    let got = claim_to_answer(&mut h, "E100");
    let a = h.state();
    assert_eq!(got, Answer::Verified, "{}", describe(a));
    assert!(
        a.core.camera.is_none(),
        "the camera is off once the live view ends"
    );
    eprintln!(
        "kiosk: claim to VERIFIED in {:.1} s (debug build)",
        started.elapsed().as_secs_f64()
    );
    // The hints went "move closer" -> none (hold still), then the auto-capture fired.
    let hints: Vec<Option<Hint>> = a.core.checks_seen.iter().map(|c| c.hint).collect();
    let closer = hints
        .iter()
        .position(|h| *h == Some(Hint::MoveCloser))
        .unwrap_or_else(|| panic!("no 'move closer' in {hints:?}"));
    let passing = hints
        .iter()
        .rposition(|h| h.is_none())
        .unwrap_or_else(|| panic!("no passing frame in {hints:?}"));
    assert!(closer < passing, "{hints:?}");
    let run = hints[..=passing]
        .iter()
        .rev()
        .take_while(|h| h.is_none())
        .count();
    assert!(run >= quick().capture_frames as usize, "{hints:?}");

    // The record: verified, for the claimed ID at this kiosk, first attempt, digests only.
    let r = last_compare(&env);
    assert_eq!(r["station"]["verdict"], "verified");
    assert_eq!(r["station"]["claimedId"], "E100");
    assert_eq!(r["station"]["kioskId"], "K1");
    assert_eq!(r["station"]["attempt"], 1);
    assert_eq!(r["data"]["type"], "compare-live");
    assert_eq!(r["station"]["imagesKept"], "none");
    assert_digests_only(&r);
    // The probe's quality is the gate's report of the captured frame: it passed every measure,
    // under the kiosk preset; the enrolment image has its own report.
    let q = &r["station"]["quality"];
    assert_eq!(
        q["probeMeasuredBy"], "kiosk gate (the captured frame)",
        "{q}"
    );
    assert_eq!(q["probe"]["passed"], true, "{q}");
    assert!(q["probe"]["actions"]
        .as_array()
        .is_some_and(|a| a.is_empty()));
    let ied = q["probe"]["measures"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "inter_eye_distance"))
        .expect("inter-eye distance");
    assert_eq!(ied["min"], 40.0, "the kiosk preset: {ied}");
    assert!(ied["value"].as_f64().is_some_and(|v| v >= 40.0));
    assert!(r["station"]["gallery"][0]["quality"]["measures"]
        .as_array()
        .is_some_and(|m| !m.is_empty()));
    // The kiosk decides in ACCURATE mode.
    assert_eq!(r["data"]["search_mode"], "ACCURATE");

    // "Your images have been erased", then welcome, with no other key.
    wait_until(&mut h, "the erased screen", Duration::from_secs(10), |a| {
        matches!(a.core.kiosk.screen, Screen::Erased { .. })
    });
    h.step();
    h.get_by_label("Your images have been erased");
    assert!(h.state().core.erasures >= 1);
    wait_until(&mut h, "welcome", Duration::from_secs(10), |a| {
        matches!(a.core.kiosk.screen, Screen::Welcome { .. })
    });
    h.step();
    h.get_by_label("Type or scan your ID, then press Enter");

    // Staff: Ctrl+Alt+O, a wrong PIN is refused, the right one shows the details.
    let ctrl_alt = Modifiers {
        ctrl: true,
        alt: true,
        ..Modifiers::NONE
    };
    h.key_press_modifiers(ctrl_alt, Key::O);
    h.step();
    h.get_by_label("Staff: type the PIN, then press Enter");
    h.get_by_role_and_label(Role::PasswordInput, "PIN, 0 characters typed");
    type_id(&mut h, "0000");
    h.get_by_label("Wrong PIN.");
    assert!(!h.state().operator_open());
    type_id(&mut h, PIN);
    assert!(h.state().operator_open());
    wait_until(&mut h, "recent records", Duration::from_secs(5), |a| {
        a.core.recent.as_ref().is_ok_and(|r| !r.is_empty())
    });
    h.step();
    h.get_by_label("Operator view");
    h.get_by_label("VERIFIED for ID E100 (attempt 1)");
    h.get_by_label_contains("Match score");
    h.get_by_label_contains("Liveness P(real)");
    h.get_by_label_contains("Quality: probe passed, worst margin");
    h.get_by_label_contains("ID E100  attempt 1  kiosk K1");
    h.get_by_label_contains("Gate: quality gate (kiosk preset; head-pose model)");
    h.get_by_role_and_label(Role::Button, "Close operator view (Esc)");
    h.key_press(Key::Escape);
    h.step();
    assert!(matches!(h.state().operator, Operator::Closed));
    h.get_by_label("Type or scan your ID, then press Enter");
}

#[test]
fn kiosk_a_phone_replay_is_never_verified() {
    let _g = serial();
    let env = Env::new();
    let frames = [
        "0000", "0024", "0048", "0072", "0096", "0120", "0144", "0168", "0192", "0216",
    ];
    for (i, f) in frames.iter().enumerate() {
        env.frame(i, &phone_closer(&load(&format!("{SPOOF}{f}.png"))));
    }
    // The attacker claims the ID of the person on the phone.
    env.enrol("E100", &format!("{LIVE}0213.png"));
    let (clock, _) = manual_clock();
    let mut h = harness(env.options(quick(), 5.0, clock));
    ready(&mut h);
    let got = claim_to_answer(&mut h, "E100");
    assert!(
        matches!(got, Answer::NotVerified | Answer::SeeStaff),
        "{got:?}: {}",
        describe(h.state())
    );
    let r = last_compare(&env);
    assert_ne!(r["station"]["verdict"], "verified");
    assert_eq!(r["station"]["claimedId"], "E100");
    assert_digests_only(&r);
    eprintln!(
        "kiosk: phone replay -> {} ({:?}), liveness {}",
        got.words(),
        r["station"]["reasons"],
        r["station"]["liveness"]
    );
    if got == Answer::SeeStaff {
        h.get_by_label("PLEASE SEE STAFF");
    }
}

#[test]
fn kiosk_an_impostor_is_not_verified_and_the_retry_cap_locks_the_id() {
    let _g = serial();
    let env = Env::new();
    for (i, f) in IN_POSITION.iter().enumerate() {
        env.frame(i, &load(&format!("{LIVE}{f}.png")));
    }
    // E200 is somebody else.
    env.enrol(
        "E200",
        "faces/face_recognition/joe_biden/examples__biden.jpg",
    );
    let config = KioskConfig {
        retry_cap: 1,
        ..quick()
    };
    let (clock, offset) = manual_clock();
    let mut h = harness(env.options(config, 5.0, clock));
    ready(&mut h);
    let got = claim_to_answer(&mut h, "E200");
    assert_eq!(got, Answer::NotVerified, "{}", describe(h.state()));
    let r = last_compare(&env);
    assert_eq!(r["station"]["verdict"], "not_verified");
    assert_eq!(r["station"]["claimedId"], "E200");
    assert!(r["station"]["reasons"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x == "no_match")));
    assert_digests_only(&r);
    let decisions = env.records().len();

    // Back to welcome by itself; the same ID is now locked: no lookup, no decision, a message.
    wait_until(&mut h, "welcome", Duration::from_secs(10), |a| {
        matches!(a.core.kiosk.screen, Screen::Welcome { .. })
    });
    type_id(&mut h, "E200");
    h.step();
    h.get_by_label_contains("Too many attempts for this ID");
    assert!(matches!(
        h.state().core.kiosk.screen,
        Screen::Welcome { .. }
    ));
    // After the cooldown the ID may try again.
    *offset.lock().expect("clock") += h.state().core.kiosk.config.cooldown + Duration::from_secs(1);
    h.key_press(Key::Escape);
    h.step();
    type_id(&mut h, "E200");
    wait_until(&mut h, "the live view", Duration::from_secs(10), |a| {
        matches!(a.core.kiosk.screen, Screen::Live { .. })
    });
    h.key_press(Key::Escape);
    h.step();
    assert_eq!(env.records().len(), decisions, "a cancel records nothing");
}

#[test]
fn kiosk_time_out_offers_more_time_then_erases_and_every_control_is_labelled() {
    let _g = serial();
    let env = Env::new();
    // Nobody in front of the camera: an empty room.
    for i in 0..3 {
        env.frame(i, &RgbImage::from_pixel(640, 480, Rgb([60, 60, 60])));
    }
    env.enrol("E100", &format!("{LIVE}0213.png"));
    let (clock, offset) = manual_clock();
    let config = quick();
    let mut options = env.options(config.clone(), 10.0, clock);
    options.pin = None;
    let mut h = harness(options);
    ready(&mut h);

    // F1 calls staff from any screen.
    h.key_press(Key::F1);
    h.step();
    h.get_by_label("Staff have been called. Someone will come to help you.");
    // No PIN was set at start: the operator view is refused, and says why.
    let ctrl_alt = Modifiers {
        ctrl: true,
        alt: true,
        ..Modifiers::NONE
    };
    h.key_press_modifiers(ctrl_alt, Key::O);
    h.step();
    h.get_by_label_contains("The operator view is off");
    h.key_press(Key::Escape);
    h.step();

    type_id(&mut h, "E100");
    wait_until(&mut h, "a checked frame", Duration::from_secs(20), |a| {
        matches!(a.core.kiosk.screen, Screen::Live { hint: Some(_), .. })
    });
    h.step();
    h.get_by_label("Look at the camera");
    h.get_by_role_and_label(Role::Image, "Camera view with an oval to put your face in");
    h.get_by_role_and_label(Role::Button, "Cancel (Esc)");
    h.get_by_role_and_label(Role::ProgressIndicator, "Waiting for your face in the oval");
    h.get_by_label(&format!("Time left: {} s", config.person_time.as_secs()));

    // The time per person runs out: "more time?"; Enter gives it.
    let advance = |h: &mut Harness<'static, KioskApp>, d: Duration| {
        *offset.lock().expect("clock") += d;
        h.step();
        h.step();
    };
    advance(&mut h, config.person_time + Duration::from_millis(100));
    assert!(matches!(
        h.state().core.kiosk.screen,
        Screen::MoreTime { .. }
    ));
    h.get_by_label("Do you need more time?");
    h.get_by_role_and_label(Role::Button, "Yes, more time (Enter)");
    h.get_by_role_and_label(Role::Button, "No, stop (Esc)");
    h.key_press(Key::Enter);
    h.step();
    assert!(matches!(
        h.state().core.kiosk.screen,
        Screen::Live { extensions: 1, .. }
    ));
    // Asked again and not answered: everything is erased, nothing decided, back to welcome.
    advance(&mut h, config.person_time + Duration::from_millis(100));
    assert!(matches!(
        h.state().core.kiosk.screen,
        Screen::MoreTime { .. }
    ));
    advance(&mut h, config.more_time_prompt + Duration::from_millis(100));
    h.get_by_label("Your images have been erased");
    advance(&mut h, config.erased_shown + Duration::from_millis(100));
    assert!(matches!(
        h.state().core.kiosk.screen,
        Screen::Welcome { .. }
    ));
    assert!(
        env.records().is_empty(),
        "a time-out decides and records nothing"
    );

    // Keyboard only: Tab reaches the buttons and Enter presses the focused one.
    h.state_mut().core.staff_called_at = None;
    h.key_press(Key::Tab);
    h.step();
    h.key_press(Key::Enter);
    h.step();
    assert!(
        h.state().core.staff_called_at.is_some(),
        "Tab, Enter: call staff"
    );
}

/// The quality gate on real 640x480 webcam frames: the frames in position pass, the same frames
/// far away ask to move closer, off-centre ones to centre, a tight crop to step back, two people,
/// a dark frame, a blurred one.
#[test]
fn kiosk_the_quality_gate_on_real_webcam_frames() {
    use facestation::kiosk::gate::{FrameGate, QualityGate};
    let _g = serial();
    let mut v = common::verifier();
    let mut gate = QualityGate::default();
    let models = facestation::runtime::VerifiedModels::verify(&common::shared().join("models"))
        .expect("models");
    gate.load(&models).expect("head-pose model");
    let mut hint = |img: &RgbImage| {
        let faces = v.pipeline.detect(img).expect("detect");
        let h = gate.check(img, &faces).hint;
        (
            h,
            gate.last_report()
                .map(|r| r.actions.clone())
                .unwrap_or_default(),
        )
    };
    for f in IN_POSITION {
        let img = load(&format!("{LIVE}{f}.png"));
        let (h, why) = hint(&img);
        assert_eq!(h, None, "frame {f}: {why:?}");
        assert_eq!(
            hint(&far(&img, 0.4)).0,
            Some(Hint::MoveCloser),
            "frame {f} far"
        );
    }
    // Frames 0090 and 0101: the face centre more than 10% of the width off the middle.
    for f in ["0090", "0101"] {
        let img = load(&format!("{LIVE}{f}.png"));
        let (h, why) = hint(&img);
        assert_eq!(h, Some(Hint::CentreFace), "frame {f}: {why:?}");
    }
    let img = load(&format!("{LIVE}0056.png"));
    // The face filling the camera: too little context for liveness.
    let close = imageops::crop_imm(&img, 180, 110, 280, 210).to_image();
    let close = imageops::resize(&close, 640, 480, imageops::FilterType::Triangle);
    assert_eq!(hint(&close).0, Some(Hint::StepBack));
    // Two people of similar size.
    let mut two = RgbImage::from_pixel(640, 480, Rgb([0, 0, 0]));
    let half = imageops::resize(&img, 320, 240, imageops::FilterType::Triangle);
    imageops::overlay(&mut two, &half, 0, 120);
    imageops::overlay(&mut two, &half, 320, 120);
    assert_eq!(hint(&two).0, Some(Hint::OnePersonOnly));
    let dark = image::ImageBuffer::from_fn(640, 480, |x, y| {
        let p = img.get_pixel(x, y).0;
        Rgb([p[0] / 5, p[1] / 5, p[2] / 5])
    });
    // Too dark (a face half in shadow is asked to face the light first: that fixes both).
    let got = hint(&dark);
    assert!(got.1.contains(&Hint::TooDark), "{got:?}");
    let blurred = imageops::blur(&img, 6.0);
    let got = hint(&blurred);
    assert!(
        got.1
            .iter()
            .any(|a| matches!(a, Hint::TooBlurry | Hint::HoldStill)),
        "{got:?}"
    );
    // The phone replay brought into the oval (what the spoof test plays) passes the gate: the
    // gate judges capture quality, liveness judges the phone.
    for f in ["0000", "0216"] {
        let img = load(&format!("{SPOOF}{f}.png"));
        let (h, why) = hint(&phone_closer(&img));
        assert_eq!(h, None, "spoof {f} closer: {why:?}");
    }
}
