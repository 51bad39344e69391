//! Station timings (not a test): preview-with-detection rate at 640x480 from the file camera, UI
//! frame time while a compare runs, and click-to-result latency for one probe vs one gallery image.
//!
//! `cargo run --release --example station_bench [-- FRAMES_DIR]` (default: the apfol_video frames in
//! ../shared/data/liveness/live, 640x480). The app runs in egui_kittest without a GPU; frame times
//! are the app's own `logic` + `ui` work plus egui's layout (no rasterisation).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use facestation::app::state::{LastResult, Settings};
use facestation::app::testing::{gallery_done, probe_done, step_until};
use facestation::app::worker::WorkerConfig;
use facestation::app::{Command, StationApp, StationOptions};
use facestation::eval::percentile;

fn shared() -> PathBuf {
    std::env::var_os("FACESTATION_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// Steps for `d` in real time (the camera and worker keep running).
fn run_for(h: &mut Harness<'static, StationApp>, d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        h.step();
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn pct(v: &[f64], p: f64) -> f64 {
    percentile(&mut v.to_vec(), p).unwrap_or(f64::NAN)
}

fn main() {
    let frames_src = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| shared().join("data/liveness/live"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let frames = tmp.path().join("frames");
    std::fs::create_dir_all(&frames).expect("mkdir");
    // Only 640x480 apfol_video frames (the folder also holds crops of other sizes).
    let mut n = 0;
    for e in std::fs::read_dir(&frames_src)
        .expect("frames dir")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("apfol_video") || frames_src.to_string_lossy().contains("frames") {
            std::fs::copy(e.path(), frames.join(&name)).expect("copy");
            n += 1;
        }
    }
    let gallery_img =
        shared().join("data/liveness/live/apfol_video__unspecified__real2_frame0135.png");
    let options = StationOptions {
        worker: WorkerConfig {
            paths: facestation::paths::StationPaths {
                models: None,
                log: Some(tmp.path().join("audit.jsonl")),
                key: Some(tmp.path().join("key.pem")),
            },
            ..Default::default()
        },
        camera_file: Some(frames),
        camera_fps: 60.0,
        gallery: vec![gallery_img],
        no_webcam: true,
        fresh_settings: true,
        ..Default::default()
    };
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            StationApp::with_settings(cc.egui_ctx.clone(), options, Settings::default())
        });
    step_until(&mut h, "models", Duration::from_secs(60), |a| a.is_ready());
    step_until(
        &mut h,
        "gallery analysis",
        Duration::from_secs(30),
        gallery_done,
    );
    println!("frames: {n} images from the file camera at 60 fps (to find the ceiling)");

    // 1. Preview with detection overlay.
    run_for(&mut h, Duration::from_secs(2));
    let (f0, d0) = (h.state().preview.frames_shown, h.state().preview.detections);
    let t = Instant::now();
    let secs = 5.0;
    while t.elapsed().as_secs_f64() < secs {
        h.step();
        std::thread::sleep(Duration::from_millis(4));
    }
    let el = t.elapsed().as_secs_f64();
    let p = &h.state().preview;
    println!(
        "preview 640x480: {:.1} frames/s shown, {:.1} detections/s (overlay updates), last detect {:.1} ms",
        (p.frames_shown - f0) as f64 / el,
        (p.detections - d0) as f64 / el,
        p.last_detect_ms
    );

    // Probe: capture a frame.
    h.state_mut().push(Command::Capture);
    step_until(
        &mut h,
        "probe analysis",
        Duration::from_secs(10),
        probe_done,
    );

    // 2 + 3. Compares: UI frame times while they run, click-to-result latency.
    let mut frame_ms = Vec::new();
    let mut latency = Vec::new();
    let mut engine_ms = Vec::new();
    for i in 0..12 {
        h.state_mut().push(Command::Compare);
        loop {
            let t = Instant::now();
            h.step();
            frame_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            let a = h.state();
            if !a.compare_running() && a.last.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Some(LastResult::Done {
            done,
            shown_after_ms,
            ..
        }) = &h.state().last
        {
            if i >= 2 {
                // warm
                latency.push(*shown_after_ms);
                engine_ms.push(done.outcome.timings.total_ms);
            }
        }
        run_for(&mut h, Duration::from_millis(50));
    }
    println!(
        "UI frame while comparing: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms over {} frames",
        pct(&frame_ms, 50.0),
        pct(&frame_ms, 95.0),
        pct(&frame_ms, 100.0),
        frame_ms.len()
    );
    println!(
        "click to result (1 probe vs 1 gallery, FAST, liveness on, warm, {} runs): median {:.1} ms, min {:.1} ms (engine median {:.1} ms)",
        latency.len(),
        pct(&latency, 50.0),
        pct(&latency, 0.0),
        pct(&engine_ms, 50.0)
    );
}
