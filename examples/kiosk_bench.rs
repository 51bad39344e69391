//! Kiosk timings (not a test):
//! 1. the per-frame check (detect + gate) on 640x480 webcam frames, median over 200 frames, and the
//!    gate alone;
//! 2. face in position to verdict: the kiosk app (egui_kittest, no GPU) with the file camera at
//!    30 fps playing frames in which the person is in position, from the first passing check to
//!    the answer on screen, median over the claims.
//!
//! `cargo run --release --example kiosk_bench [-- CLAIMS]` (default 10). Photos come from
//! ../shared/data (or FACESTATION_SHARED) and stay in a temp dir.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use facestation::engine::{LocalVerifier, PipelineConfig};
use facestation::kiosk::app::KioskApp;
use facestation::kiosk::core::{median, KioskOptions, Service};
use facestation::kiosk::flow::{KioskConfig, Screen};
use facestation::kiosk::gate::QualityGate;
use facestation::kiosk::worker::{check, Event};
use facestation::runtime::VerifiedModels;

const LIVE: &str = "data/liveness/live/apfol_video__unspecified__real2_frame";
const ALL: [&str; 20] = [
    "0000", "0011", "0022", "0034", "0045", "0056", "0067", "0078", "0090", "0101", "0112", "0123",
    "0135", "0146", "0157", "0168", "0179", "0191", "0202", "0213",
];
const IN_POSITION: [&str; 6] = ["0056", "0067", "0078", "0112", "0123", "0135"];

fn shared() -> PathBuf {
    std::env::var_os("FACESTATION_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn frame(n: &str) -> PathBuf {
    shared().join(format!("{LIVE}{n}.png"))
}

fn main() {
    let claims: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    std::env::set_var("ORT_DISABLE_TELEMETRY", "1");

    // 1. Detect + gate per frame.
    let models = VerifiedModels::verify(&shared().join("models")).expect("models");
    let mut v = LocalVerifier::load(&models, PipelineConfig::default()).expect("engine");
    let mut gate = QualityGate::default();
    facestation::kiosk::gate::FrameGate::load(&mut gate, &models).expect("head-pose model");
    let frames: Vec<_> = ALL
        .iter()
        .map(|n| image::open(frame(n)).expect("frame").to_rgb8())
        .collect();
    for f in frames.iter().take(5) {
        let _ = check(&mut v, &mut gate, 0, f); // warm-up
    }
    let (mut total, mut gate_only, mut detect) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..200 {
        let f = &frames[i % frames.len()];
        if let Event::Checked {
            detect_ms, gate_ms, ..
        } = check(&mut v, &mut gate, i as u64, f)
        {
            total.push(detect_ms + gate_ms);
            gate_only.push(gate_ms);
            detect.push(detect_ms);
        }
    }
    let med = |v: Vec<f64>| median(&v.into_iter().collect()).unwrap_or(f64::NAN);
    let p95 = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[(v.len() as f64 * 0.95) as usize]
    };
    println!(
        "check (detect + gate) at 640x480 over {} frames: median {:.2} ms (p95 {:.2}); detect median {:.2} ms; gate alone median {:.3} ms",
        total.len(),
        med(total.clone()),
        p95(total),
        med(detect),
        med(gate_only)
    );
    drop(v);

    // 2. Face in position to verdict, through the app.
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path();
    std::fs::create_dir_all(root.join("frames")).expect("mkdir");
    std::fs::create_dir_all(root.join("enrolled/E100")).expect("mkdir");
    for (i, n) in IN_POSITION.iter().enumerate() {
        std::fs::copy(frame(n), root.join(format!("frames/{i}.png"))).expect("copy");
    }
    std::fs::copy(frame("0213"), root.join("enrolled/E100/1.png")).expect("copy");
    let options = KioskOptions {
        paths: facestation::paths::StationPaths {
            models: Some(shared().join("models")),
            log: Some(root.join("audit.jsonl")),
            key: Some(root.join("key.pem")),
        },
        camera_file: Some(root.join("frames")),
        camera_fps: 30.0,
        no_webcam: true,
        enrolled: root.join("enrolled"),
        kiosk_id: Some("BENCH".into()),
        windowed: true,
        config: KioskConfig {
            answer_shown: Duration::from_millis(200),
            erased_shown: Duration::from_millis(100),
            ..KioskConfig::default()
        },
        ..KioskOptions::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| KioskApp::new(&cc.egui_ctx, options));
    let step_until = |h: &mut Harness<'static, KioskApp>, cond: &dyn Fn(&KioskApp) -> bool| {
        let start = Instant::now();
        while !cond(h.state()) {
            assert!(start.elapsed() < Duration::from_secs(60), "timed out");
            h.step();
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    step_until(&mut h, &|a| a.core.service != Service::Starting);
    assert_eq!(h.state().core.service, Service::Ready);
    let mut verdicts = Vec::new();
    for _ in 0..claims {
        step_until(&mut h, &|a| {
            matches!(a.core.kiosk.screen, Screen::Welcome { .. })
        });
        h.event(egui::Event::Text("E100".into()));
        h.step();
        h.key_press(egui::Key::Enter);
        step_until(&mut h, &|a| {
            matches!(a.core.kiosk.screen, Screen::Answer { .. })
        });
        if let Screen::Answer { answer, .. } = h.state().core.kiosk.screen {
            verdicts.push(answer.words());
        }
    }
    let s = &h.state().core.stats;
    println!(
        "face in position to verdict over {} claims ({} capture frames at 30 fps): median {:.0} ms (min {:.0}, max {:.0}); the decision alone (encode + compare with liveness + sign + log) median {:.0} ms; answers {:?}",
        s.position_to_verdict_ms.len(),
        h.state().core.kiosk.config.capture_frames,
        median(&s.position_to_verdict_ms).unwrap_or(f64::NAN),
        s.position_to_verdict_ms.iter().copied().fold(f64::INFINITY, f64::min),
        s.position_to_verdict_ms.iter().copied().fold(0.0, f64::max),
        median(&s.decide_ms).unwrap_or(f64::NAN),
        verdicts
    );
}
