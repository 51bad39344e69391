//! A model-free verifier for the `serve_*` tests, and the configuration around it: every answer
//! is fixed, a probe starting with `noface` has no face, and an optional gate holds each compare
//! until the test opens it (so "busy" and "in flight" are certain, not timing).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use base64::Engine as _;
use facestation::api::ValidRequest;
use facestation::digest::sha256_hex;
use facestation::engine::{
    BearerToken, CompareOutcome, Decision, EngineError, GalleryResult, ImageRole, LivenessOutcome,
    Timings, Verifier,
};
use facestation::record::{AuditLog, Recorder, StationKey};
use facestation::server::{ServeConfig, Timeouts, VerifierFactory};
use facestation::vision::liveness::{LivenessResult, LivenessVerdict};
use facestation::vision::{BoundingBox, Face};

pub const TOKEN: &str = "serve-test-token-0c4e1f9a2b7d-do-not-leak";

/// Holds compares until opened (at most 20 s, so that a failing test cannot hang).
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        let (lock, cv) = &*self.0;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    fn wait(&self) {
        let (lock, cv) = &*self.0;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cv
            .wait_timeout_while(guard, Duration::from_secs(20), |open| !*open)
            .unwrap_or_else(|p| p.into_inner());
    }
}

#[derive(Clone, Default)]
pub struct Fake {
    pub gate: Option<Gate>,
}

fn face() -> Face {
    Face {
        bbox: BoundingBox {
            x: 10.0,
            y: 10.0,
            width: 80.0,
            height: 80.0,
        },
        score: 0.95,
        landmarks: [
            [30.0, 40.0],
            [70.0, 40.0],
            [50.0, 60.0],
            [35.0, 75.0],
            [65.0, 75.0],
        ],
    }
}

impl Verifier for Fake {
    fn compare(&mut self, r: &ValidRequest) -> Result<CompareOutcome, EngineError> {
        if r.probe.starts_with(b"noface") {
            return Err(EngineError::NoFace(ImageRole::Probe));
        }
        if let Some(g) = &self.gate {
            g.wait();
        }
        Ok(CompareOutcome {
            engine: "fake".into(),
            search_mode: r.search_mode,
            score: 0.93,
            threshold: 0.5,
            threshold_basis: "the fake engine's fixed threshold".into(),
            decision: Decision::Match,
            probe_sha256: sha256_hex(&r.probe),
            probe_face: Some(face()),
            probe_faces_found: 1,
            gallery: r
                .gallery
                .iter()
                .enumerate()
                .map(|(index, g)| GalleryResult {
                    index,
                    sha256: sha256_hex(g),
                    faces_found: 1,
                    face: Some(face()),
                    score: Some(0.93),
                    distance: None,
                    passed: Some(true),
                    error: None,
                    reported: true,
                    recognisers: Vec::new(),
                })
                .collect(),
            liveness: None,
            passed: true,
            timings: Timings::default(),
            models: Vec::new(),
            remote: None,
            quality: None,
        })
    }

    fn liveness(&mut self, image: &[u8], min_score: f64) -> Result<LivenessOutcome, EngineError> {
        Ok(LivenessOutcome {
            image_sha256: sha256_hex(image),
            face: face(),
            faces_found: 1,
            liveness: LivenessResult {
                score: 0.9,
                verdict: LivenessVerdict::Live,
                context: 2.7,
                min_score,
            },
            timings: Timings::default(),
            models: Vec::new(),
        })
    }

    fn name(&self) -> String {
        "fake".into()
    }
}

/// Timeouts short enough for tests.
pub fn short_timeouts() -> Timeouts {
    Timeouts {
        header_read: Duration::from_millis(1000),
        keep_alive: Duration::from_millis(600),
        body_read: Duration::from_millis(2000),
        body_idle: Duration::from_millis(500),
        linger: Duration::from_millis(2000),
        shutdown_idle: Duration::from_millis(300),
    }
}

/// A server configuration on the fake engine: token on, one worker, a queue of one, short
/// timeouts, its key and log in `dir`.
pub fn config(dir: &Path, fake: Fake) -> ServeConfig {
    let recorder = Arc::new(Recorder::new(
        StationKey::load_or_create(&dir.join("server-key.pem")).expect("key"),
        AuditLog::open(&dir.join("server-audit.jsonl")).expect("log"),
    ));
    let factory: VerifierFactory =
        Arc::new(move |_| Ok(Box::new(fake.clone()) as Box<dyn Verifier>));
    let mut c = ServeConfig::new(factory, recorder);
    c.bind = "127.0.0.1:0".into();
    c.token = Some(BearerToken::new(TOKEN).expect("token"));
    c.workers = 1;
    c.queue = 1;
    c.body_limit = 1024 * 1024;
    c.timeouts = short_timeouts();
    c.grace = Duration::from_secs(30);
    c
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A compare body the fake accepts (images of `n` bytes each).
pub fn compare_body(n: usize) -> String {
    serde_json::json!({ "probe": b64(&vec![7u8; n]), "gallery": [b64(&vec![8u8; n])] }).to_string()
}

pub fn audit_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("server-audit.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}
