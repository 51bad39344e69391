//! Test support for the station (cargo feature `testing`, enabled for this crate's own tests and
//! examples): a fake engine with fixed faces and scores, a fixed station key, clock and record
//! stamps, a kittest harness, and the one `step_until` that saves a screenshot when it times out
//! (rerun's `viewer_test_utils`). With these, GUI tests need no models and no `../shared`, and
//! snapshots pass at kittest's default tolerance.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use image::RgbImage;

use super::clock::FrozenClock;
use super::state::Settings;
use super::tasks::DialogBackend;
use super::worker::{EngineFactory, LoadedEngine, SetupProblem, StationEngine, WorkerConfig};
use super::{EngineState, StationApp, StationOptions};
use crate::api::ValidRequest;
use crate::digest::sha256_hex;
use crate::engine::score::{default_threshold, threshold_basis};
use crate::engine::{
    CompareOutcome, Decision, EngineError, FacePolicy, GalleryResult, ImageRole, LivenessOutcome,
    ModelRef, Pipeline, Timings, Verifier,
};
use crate::paths::StationPaths;
use crate::record::FixedStamper;
use crate::vision::detect::BoundingBox;
use crate::vision::liveness::{LivenessResult, LivenessVerdict};
use crate::vision::{decode_image, DecodeLimits, Face};

/// What the fake engine answers, chosen per test.
#[derive(Debug, Clone)]
pub struct Script {
    /// Score of gallery image `i` (when it has a face); images past the end get `default_score`.
    pub scores: Vec<f64>,
    pub default_score: f64,
    /// P(real) of every probe: live when above the pass mark, spoof otherwise.
    pub liveness_score: f64,
    /// The liveness crop context (below 1.7 the verdict is "cannot judge").
    pub liveness_context: f32,
}

/// A score above FAST's and ACCURATE's review bands (FAST 0.9042..0.9970 around 0.993,
/// ACCURATE 0.9059..0.9969 around 0.9922): a clear match, VERIFIED.
pub const CLEAR_MATCH: f64 = 0.9999;

impl Default for Script {
    fn default() -> Self {
        Self {
            scores: Vec::new(),
            default_score: CLEAR_MATCH,
            liveness_score: 0.93,
            liveness_context: 2.5,
        }
    }
}

/// The fake's detector: an image of one colour has no face; an image more than twice as wide as
/// it is high has two faces side by side; any other image has one face in its middle.
pub fn fake_faces(img: &RgbImage) -> Vec<Face> {
    let (w, h) = img.dimensions();
    let first = img.get_pixel(0, 0);
    if img.pixels().all(|p| p == first) {
        return Vec::new();
    }
    let face = |cx: f32, side: f32| {
        let (x, y) = (cx - side / 2.0, h as f32 * 0.5 - side / 2.0);
        Face {
            bbox: BoundingBox {
                x,
                y,
                width: side,
                height: side,
            },
            score: 0.95,
            landmarks: [
                [x + side * 0.3, y + side * 0.4],
                [x + side * 0.7, y + side * 0.4],
                [x + side * 0.5, y + side * 0.6],
                [x + side * 0.35, y + side * 0.8],
                [x + side * 0.65, y + side * 0.8],
            ],
        }
    };
    if w > 2 * h {
        let side = h as f32 * 0.4;
        vec![face(w as f32 * 0.25, side), face(w as f32 * 0.75, side)]
    } else {
        vec![face(w as f32 * 0.5, (w.min(h) as f32) * 0.4)]
    }
}

/// An engine with no models: real decoding (and its limits), [`fake_faces`], scripted scores and
/// liveness, fixed timings.
pub struct FakeEngine {
    pub script: Script,
}

const FAKE_TIMINGS: Timings = Timings {
    decode_ms: 1.0,
    detect_ms: 2.0,
    embed_ms: 3.0,
    liveness_ms: 4.0,
    quality_ms: 0.0,
    total_ms: 10.0,
};

fn fake_models() -> Vec<ModelRef> {
    vec![ModelRef {
        id: "fake-engine".into(),
        role: "test".into(),
        sha256: "0".repeat(64),
    }]
}

impl FakeEngine {
    fn decode_as(&self, bytes: &[u8], role: ImageRole) -> Result<RgbImage, EngineError> {
        decode_image(bytes, &DecodeLimits::default())
            .map_err(|source| EngineError::Decode { role, source })
    }

    fn judge_liveness(&self, min_score: f64) -> LivenessResult {
        let s = &self.script;
        let verdict = if s.liveness_context < crate::vision::liveness::MIN_CONTEXT {
            LivenessVerdict::CannotJudge
        } else if s.liveness_score > min_score {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::Spoof
        };
        LivenessResult {
            score: s.liveness_score,
            verdict,
            context: s.liveness_context,
            min_score,
        }
    }
}

impl Verifier for FakeEngine {
    fn compare(&mut self, request: &ValidRequest) -> Result<CompareOutcome, EngineError> {
        let mode = request.search_mode;
        let probe = self.decode_as(&request.probe, ImageRole::Probe)?;
        let faces = fake_faces(&probe);
        let (probe_face, _) = Pipeline::choose_face(
            &faces,
            FacePolicy::RefuseSeveral,
            ImageRole::Probe,
            probe.dimensions(),
        )?;
        let liveness = request.liveness_min_score.map(|m| self.judge_liveness(m));
        let threshold = request
            .compare_min_score
            .unwrap_or_else(|| default_threshold(mode));
        let gallery: Vec<GalleryResult> = request
            .gallery
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                let mut g = GalleryResult {
                    index,
                    sha256: sha256_hex(bytes),
                    faces_found: 0,
                    face: None,
                    score: None,
                    distance: None,
                    passed: None,
                    error: None,
                    reported: true,
                    recognisers: Vec::new(),
                };
                match self.decode_as(bytes, ImageRole::Gallery(index)) {
                    Err(EngineError::Decode { source, .. }) => g.error = Some(source.to_string()),
                    Err(e) => g.error = Some(e.to_string()),
                    Ok(img) => {
                        let faces = fake_faces(&img);
                        g.faces_found = faces.len();
                        g.face = faces.first().copied();
                        if !faces.is_empty() {
                            let s = self
                                .script
                                .scores
                                .get(index)
                                .copied()
                                .unwrap_or(self.script.default_score);
                            g.score = Some(s);
                            g.distance = Some(1.0 - s);
                            g.passed = Some(s >= threshold);
                        }
                    }
                }
                g
            })
            .collect();
        let best = gallery
            .iter()
            .filter_map(|g| g.score)
            .max_by(|a, b| a.total_cmp(b));
        let decision = match best {
            None => Decision::NoFace,
            Some(s) if s >= threshold => Decision::Match,
            Some(_) => Decision::NoMatch,
        };
        let live_ok = liveness.as_ref().is_none_or(|l| l.passed() == Some(true));
        Ok(CompareOutcome {
            engine: "local".into(),
            search_mode: mode,
            score: best.unwrap_or(0.0),
            threshold,
            threshold_basis: if request.compare_min_score.is_some() {
                "compare_min_score from the request".into()
            } else {
                threshold_basis(mode)
            },
            decision,
            probe_sha256: sha256_hex(&request.probe),
            probe_face: Some(probe_face),
            probe_faces_found: faces.len(),
            gallery,
            liveness,
            passed: decision == Decision::Match && live_ok,
            timings: FAKE_TIMINGS,
            models: fake_models(),
            remote: None,
            quality: None,
        })
    }

    fn liveness(&mut self, image: &[u8], min_score: f64) -> Result<LivenessOutcome, EngineError> {
        let img = self.decode_as(image, ImageRole::Probe)?;
        let faces = fake_faces(&img);
        let (face, _) = Pipeline::choose_face(
            &faces,
            FacePolicy::RefuseSeveral,
            ImageRole::Probe,
            img.dimensions(),
        )?;
        Ok(LivenessOutcome {
            image_sha256: sha256_hex(image),
            face,
            faces_found: faces.len(),
            liveness: self.judge_liveness(min_score),
            timings: FAKE_TIMINGS,
            models: fake_models(),
        })
    }

    fn name(&self) -> String {
        "local".into()
    }
}

impl StationEngine for FakeEngine {
    fn decode(&self, bytes: &[u8], role: ImageRole) -> Result<RgbImage, EngineError> {
        self.decode_as(bytes, role)
    }

    fn detect(&mut self, image: &RgbImage) -> Result<Vec<Face>, EngineError> {
        Ok(fake_faces(image))
    }

    fn models(&self) -> Vec<ModelRef> {
        fake_models()
    }
}

/// A factory for the station's worker that makes a [`FakeEngine`] with `script`.
pub fn fake_engine(script: Script) -> EngineFactory {
    Arc::new(move |_paths: &StationPaths| {
        Ok(LoadedEngine {
            engine: Box::new(FakeEngine {
                script: script.clone(),
            }),
            models_dir: PathBuf::from("fake-models"),
            ort_path: String::new(),
            ort_version: "none (fake engine)",
        })
    })
}

/// A factory whose engine never starts (the set-up banner, remote mode without models).
pub fn failing_engine() -> EngineFactory {
    Arc::new(|_paths: &StationPaths| {
        Err(SetupProblem {
            what: "The model files are missing or wrong".into(),
            detail: "fake: no models in this test".into(),
            fix: "Start the station with --models DIR (a folder holding the files of models/manifest.toml)."
                .into(),
        })
    })
}

/// Writes a station key made from `seed` (PKCS#8 PEM, mode 0600), so records are signed by the
/// same key on every run.
pub fn write_fixed_key(path: &Path, seed: u8) -> std::io::Result<()> {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(pem.as_bytes())
}

/// The moment every test record is stamped with.
pub fn fixed_stamper() -> Arc<FixedStamper> {
    Arc::new(FixedStamper::new(
        time::macros::datetime!(2025-01-02 03:04:05 UTC),
    ))
}

/// A camera-like frame the fake detector finds one face in (a smooth gradient, no photo).
pub fn test_frame(w: u32, h: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, tint])
    })
}

/// Writes a PNG and returns its path.
pub fn write_png(path: &Path, img: &RgbImage) -> PathBuf {
    img.save(path)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path.to_path_buf()
}

/// Station options for a test in `root`: a fake engine with `script`, a fixed key, clock and
/// stamps, a file camera of one synthetic frame (`root/frames`), egui file dialogs, no webcam.
pub fn fake_options(root: &Path, script: Script) -> StationOptions {
    let frames = root.join("frames");
    std::fs::create_dir_all(&frames).expect("mkdir frames");
    write_png(&frames.join("0000.png"), &test_frame(640, 480, 90));
    let key = root.join("station-key.pem");
    write_fixed_key(&key, 7).expect("write the test key");
    StationOptions {
        worker: WorkerConfig {
            paths: StationPaths {
                models: None,
                log: Some(root.join("audit.jsonl")),
                key: Some(key),
            },
            stamper: Some(fixed_stamper()),
            engine: Some(fake_engine(script)),
            clock: Some(Arc::new(FrozenClock::default())),
        },
        camera_file: Some(frames),
        camera_fps: 30.0,
        gallery: Vec::new(),
        probe: None,
        no_webcam: true,
        fresh_settings: true,
        redact: false,
        file_dialog: Some(DialogBackend::Egui),
    }
}

/// The station in a kittest harness of `size`, rendering with wgpu (for snapshots and for the
/// screenshot `step_until` saves on a timeout).
pub fn harness(
    options: StationOptions,
    settings: Settings,
    size: egui::Vec2,
) -> Harness<'static, StationApp> {
    Harness::builder()
        .with_size(size)
        // egui_file's dialog titles start with emoji that egui's default fonts lack (drawn as
        // a box in the real window too); everything the station itself writes has its glyphs.
        .allow_missing_glyphs()
        .wgpu()
        .build_eframe(move |cc| StationApp::with_settings(cc.egui_ctx.clone(), options, settings))
}

/// A one-line account of the station's state, for timeout messages.
pub fn describe(a: &StationApp) -> String {
    let engine = match &a.engine {
        EngineState::Loading => "loading".to_string(),
        EngineState::Ready(_) => "ready".to_string(),
        EngineState::Failed(p) => format!("failed: {} ({})", p.what, p.detail),
    };
    format!(
        "engine {engine}; probe {}; gallery {} ({} analysed); compare blocked by {:?}; running {}; result {}; notice {:?}",
        a.probe
            .as_ref()
            .map_or("none", |p| if p.analysis.is_some() { "analysed" } else { "analysing" }),
        a.gallery.len(),
        a.gallery.iter().filter(|g| g.analysis.is_some()).count(),
        a.compare_blocker(),
        a.compare_running(),
        a.last.is_some(),
        a.notice.as_ref().map(|n| n.text.as_str()),
    )
}

/// Steps the UI (in real time: the worker and camera are real threads) until `cond` holds. On a
/// timeout it saves a screenshot of the failing state to the temp folder and panics with its
/// path and the station's state.
#[track_caller]
pub fn step_until(
    h: &mut Harness<'_, StationApp>,
    what: &str,
    timeout: Duration,
    cond: impl Fn(&StationApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        if start.elapsed() > timeout {
            let name: String = what
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let path = std::env::temp_dir().join(format!("facestation-timeout-{name}.png"));
            let shot = match h.render() {
                Ok(img) => match img.save(&path) {
                    Ok(()) => format!("screenshot: {}", path.display()),
                    Err(e) => format!("screenshot not saved ({e})"),
                },
                Err(e) => format!("no screenshot ({e})"),
            };
            eprintln!("step_until: timed out waiting for {what}; {shot}");
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{shot}\nstate: {}",
                describe(h.state())
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `text` is on screen at least once (the record panel's summary repeats what the compare panel
/// says: a verdict, reasons, scores).
#[track_caller]
pub fn seen(h: &Harness<'_, StationApp>, text: &str) {
    use egui_kittest::kittest::Queryable as _;
    assert!(
        h.query_all_by_label_contains(text).count() > 0,
        "not on screen: {text}"
    );
}

/// Common conditions.
pub fn gallery_done(a: &StationApp) -> bool {
    !a.gallery.is_empty() && a.gallery.iter().all(|g| g.analysis.is_some())
}

pub fn probe_done(a: &StationApp) -> bool {
    a.probe.as_ref().is_some_and(|p| p.analysis.is_some())
}

pub fn compare_done(a: &StationApp) -> bool {
    a.last.is_some() && !a.compare_running()
}
