//! One decision path: the same probe and gallery through the CLI, `serve` and the GUI worker give
//! records of the same shape (key set) and the same `thresholdBasis`, because all three call
//! `station::decide`.

use crate::common;

use std::collections::BTreeSet;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use facestation::api::{BearerToken, SearchMode};
use facestation::app::worker::{
    CompareJob, Event, Input, Job, Purpose, WorkerConfig, WorkerHandle,
};
use facestation::engine::score::threshold_basis;
use facestation::engine::PipelineConfig;
use facestation::paths::StationPaths;
use facestation::record::{verify_record, Recorder};
use facestation::server::{self, ServeConfig};
use serde_json::Value;

const PROBE: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";
const GALLERY: &str = "faces/face_recognition/barack_obama/examples__obama2.jpg";
const TOKEN: &str = "decision-path-token";

/// Every key path of a JSON value (`station.gallery[].score`), so that two records of the same
/// shape compare equal whatever their values.
fn key_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                key_paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                key_paths(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    key_paths(v, "", &mut out);
    out
}

fn via_cli(dir: &std::path::Path) -> Value {
    let out = common::station(
        dir,
        &[
            "compare",
            "--probe",
            &common::data(PROBE).display().to_string(),
            "--gallery",
            &common::data(GALLERY).display().to_string(),
            "--json",
        ],
    );
    out.expect_code(0);
    out.json()
}

fn via_serve(dir: &std::path::Path) -> Value {
    let paths = StationPaths {
        models: None,
        log: Some(dir.join("serve-audit.jsonl")),
        key: Some(dir.join("serve-key.pem")),
    };
    let recorder = Arc::new(Recorder::open(&paths).expect("recorder"));
    let mut config = ServeConfig::local(common::models(), PipelineConfig::default(), recorder);
    config.bind = "127.0.0.1:0".into();
    config.token = Some(BearerToken::new(TOKEN).expect("token"));
    config.workers = 1;
    let running = server::start(config).expect("serve starts");
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(common::read(p));
    let body = serde_json::json!({
        "probe": b64(PROBE),
        "gallery": [b64(GALLERY)],
        "liveness_min_score": 0.6,
    });
    let mut response = ureq::post(format!(
        "{}/v2/face-recognition/compare-live",
        running.base_url()
    ))
    .header("Authorization", format!("Bearer {TOKEN}"))
    .header("Content-Type", "application/json")
    .send(body.to_string())
    .expect("serve answers");
    let text = response.body_mut().read_to_string().expect("body");
    running.shutdown().expect("shutdown");
    serde_json::from_str(&text).expect("JSON record")
}

fn via_gui_worker(dir: &std::path::Path) -> Value {
    let worker = WorkerHandle::spawn(
        WorkerConfig {
            paths: StationPaths {
                models: Some(common::shared().join("models")),
                log: Some(dir.join("gui-audit.jsonl")),
                key: Some(dir.join("gui-key.pem")),
            },
            ..Default::default()
        },
        || {},
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut sent = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match worker.events.recv_timeout(left) {
            Ok(Event::Ready(_)) if !sent => {
                sent = worker.send(Job::Compare(Box::new(CompareJob {
                    probe: Input::Bytes(Arc::new(common::read(PROBE))),
                    gallery: vec![Arc::new(common::read(GALLERY))],
                    mode: SearchMode::Fast,
                    // What the station sends when the slider sits at the mode's default.
                    compare_min_score: None,
                    liveness_min_score: Some(0.6),
                    clicked: Instant::now(),
                    purpose: Purpose::Decision,
                    context: Default::default(),
                    threshold_basis: None,
                })));
                assert!(sent, "the worker takes the job");
            }
            Ok(Event::SetupFailed(p)) => panic!("engine failed: {} {}", p.what, p.detail),
            Ok(Event::Compared { result, .. }) => {
                let done = result.expect("the compare succeeds");
                return done.record.expect("a decision is recorded");
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("no answer from the GUI worker in 120 s"),
            Err(RecvTimeoutError::Disconnected) => panic!("the GUI worker stopped"),
        }
    }
}

#[test]
fn cli_serve_and_gui_worker_give_the_same_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let records = [
        ("cli", via_cli(dir.path())),
        ("serve", via_serve(dir.path())),
        ("gui", via_gui_worker(dir.path())),
    ];
    let (_, first) = &records[0];
    for (name, r) in &records {
        verify_record(r).unwrap_or_else(|e| panic!("{name}: signature: {e}"));
        assert_eq!(
            r["station"]["thresholdBasis"],
            Value::from(threshold_basis(SearchMode::Fast)),
            "{name}: the default threshold states its basis"
        );
        assert_eq!(r["data"]["type"], "compare-live", "{name}");
        assert_eq!(
            r["data"]["result"]["score"], first["data"]["result"]["score"],
            "{name}"
        );
        let (a, b) = (keys(first), keys(r));
        assert_eq!(
            a.symmetric_difference(&b).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{name}: key set differs from the CLI's"
        );
    }
}
