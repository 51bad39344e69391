//! Remote mode over real HTTP on loopback: `serve` runs in-process on an ephemeral port and the
//! `RemoteVerifier` talks to it; tiny raw-TCP servers play the failures a real service can show
//! (5xx, silence, malformed JSON, every documented error status).

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use facestation::api::{SearchMode, ValidRequest};
use facestation::engine::remote::parse_compare_response;
use facestation::engine::verdict::{judge, ReviewBand};
use facestation::engine::PipelineConfig;
use facestation::engine::{
    BearerToken, CompareOutcome, Decision, EngineError, LivenessOutcome, LocalVerifier,
    RemoteConfig, RemoteError, RemoteVerifier, Verifier,
};
use facestation::record::{build_record, RecordOptions, SystemStamper};
use facestation::record::{verify_log, AuditLog, Recorder, StationKey};
use facestation::server::{self, RunningServer, ServeConfig};

const TOKEN: &str = "test-token-7f3a9c1e5b2d4680-do-not-leak";

const OBAMA: &str = "faces/face_recognition/barack_obama/examples__obama.jpg";
const OBAMA2: &str = "faces/face_recognition/barack_obama/examples__obama2.jpg";
const BIDEN: &str = "faces/face_recognition/joe_biden/examples__biden.jpg";
const JOLIE1: &str = "faces/deepface/angelina_jolie/img1.jpg";
const JOLIE10: &str = "faces/deepface/angelina_jolie/img10.jpg";
const MUSK18: &str = "faces/deepface/elon_musk/img18.jpg";

/// A running `serve` with its own audit log, key and folder.
struct Served {
    server: Option<RunningServer>,
    dir: tempfile::TempDir,
    url: String,
}

impl Served {
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server-audit.jsonl")
    }
    fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().expect("clean shutdown");
        }
    }
}

fn serve(workers: usize, queue: usize) -> Served {
    serve_with(workers, queue, |_| {})
}

/// Starts `serve` after `adjust` has changed its configuration.
fn serve_with(workers: usize, queue: usize, adjust: impl FnOnce(&mut ServeConfig)) -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let recorder = Arc::new(Recorder::new(
        StationKey::load_or_create(&dir.path().join("server-key.pem")).expect("key"),
        AuditLog::open(&dir.path().join("server-audit.jsonl")).expect("log"),
    ));
    let mut config = ServeConfig::local(common::models(), PipelineConfig::default(), recorder);
    config.bind = "127.0.0.1:0".into();
    config.token = Some(BearerToken::new(TOKEN).expect("token"));
    config.workers = workers;
    config.queue = queue;
    adjust(&mut config);
    let server = server::start(config).expect("serve starts");
    let url = server.base_url();
    Served {
        server: Some(server),
        dir,
        url,
    }
}

/// The local engine, half a second slower: makes "busy" and "in flight" certain in tests.
struct Slow(LocalVerifier);

impl Verifier for Slow {
    fn compare(&mut self, r: &ValidRequest) -> Result<CompareOutcome, EngineError> {
        std::thread::sleep(Duration::from_millis(500));
        self.0.compare(r)
    }
    fn liveness(&mut self, image: &[u8], min: f64) -> Result<LivenessOutcome, EngineError> {
        self.0.liveness(image, min)
    }
    fn name(&self) -> String {
        "local".into()
    }
}

fn remote(url: &str, token: &str, read_timeout: Duration, retries: u32) -> RemoteVerifier {
    RemoteVerifier::new(
        RemoteConfig {
            base_url: url.into(),
            connect_timeout: Duration::from_secs(2),
            read_timeout,
            max_retries: retries,
            backoff: Duration::from_millis(20),
            ..RemoteConfig::default()
        },
        BearerToken::new(token).expect("token"),
    )
    .expect("remote verifier")
}

fn pair(a: &str, b: &str) -> ValidRequest {
    ValidRequest::from_bytes(common::read(a), vec![common::read(b)], SearchMode::Fast)
        .expect("request")
}

fn tiny_request() -> ValidRequest {
    ValidRequest::from_bytes(vec![1; 200], vec![vec![2; 200]], SearchMode::Fast).expect("request")
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn remote_decisions_equal_the_local_engine() {
    let mut served = serve(1, 8);
    let mut client = remote(&served.url, TOKEN, Duration::from_secs(30), 0);
    let client_dir = tempfile::tempdir().expect("tempdir");
    let client_log = AuditLog::open(&client_dir.path().join("client.jsonl")).expect("log");
    let client_key = StationKey::load_or_create(&client_dir.path().join("key.pem")).expect("key");
    let cases = [
        (OBAMA, OBAMA2, true, None),
        (OBAMA, BIDEN, false, None),
        (JOLIE1, JOLIE10, true, None),
        (JOLIE1, MUSK18, false, None),
        (OBAMA, OBAMA2, true, Some(0.6)),
    ];
    for (a, b, same, live) in cases {
        let mut request = pair(a, b);
        request.liveness_min_score = live;
        let far = client.compare(&request).expect("remote compare");
        let near = common::verifier().compare(&request).expect("local compare");
        eprintln!("{a} vs {b}: remote {} local {}", far.score, near.score);
        assert_eq!(far.decision == Decision::Match, same, "{a} vs {b}");
        assert_eq!(far.decision, near.decision);
        assert!((far.score - near.score).abs() < 1e-12, "{a} vs {b}");
        assert_eq!(far.threshold, near.threshold);
        assert_eq!(far.passed, near.passed);
        assert_eq!(
            far.liveness.as_ref().map(|l| l.score),
            near.liveness.as_ref().map(|l| l.score)
        );
        assert_eq!(far.engine, format!("remote:{}", served.url));
        let remote_part = far.remote.clone().expect("remote ids");
        assert_eq!(remote_part["id"].as_str().map(str::len), Some(5));
        assert_eq!(remote_part["signature"]["algorithm"], "Ed25519");
        // The CLI signs a remote decision like a local one.
        let band = ReviewBand::default_for(far.search_mode);
        let record = build_record(
            &far,
            &judge(&far, &band),
            &band,
            &RecordOptions {
                client: client_key.key_id(),
                ..RecordOptions::default()
            },
            &SystemStamper,
        );
        client_log
            .append_signed(record, &client_key)
            .expect("client record");
    }
    assert_eq!(
        verify_log(client_log.path()).expect("client log").records,
        5
    );
    served.shutdown();
    assert_eq!(
        verify_log(&served.log_path()).expect("server log").records,
        5
    );
}

#[test]
fn token_problems_bad_images_and_refused_connections_have_their_errors() {
    let mut served = serve(1, 8);
    let wrong = remote(&served.url, "not-the-token", Duration::from_secs(30), 2);
    match wrong.compare_remote(&pair(OBAMA, OBAMA2)) {
        Err(e @ RemoteError::Unauthorized { status: 401, .. }) => {
            assert!(e.to_string().contains("VERIFIK_TOKEN"), "{e}")
        }
        other => panic!("expected the token error, got {other:?}"),
    }
    let client = remote(&served.url, TOKEN, Duration::from_secs(30), 0);
    // Too short to be an image: Verifik's 412 only_images_in_base64.
    let mut r = pair(OBAMA, OBAMA2);
    r.probe = b"not an image".to_vec();
    assert!(matches!(
        client.compare_remote(&r),
        Err(RemoteError::NotBase64 { .. })
    ));
    // Long enough, but not an image format.
    r.probe = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    match client.compare_remote(&r) {
        Err(RemoteError::UnsupportedImage { .. } | RemoteError::BadRequest { .. }) => {}
        other => panic!("expected 415/400, got {other:?}"),
    }
    // The liveness endpoint checks its image the same way.
    let e = client
        .liveness_remote(&[0u8; 10], 0.6)
        .expect_err("short image");
    assert!(matches!(e, RemoteError::NotBase64 { .. }), "{e:?}");
    assert_eq!(lines(&served.log_path()), 0, "refusals are not decisions");
    // Liveness-only endpoint answers a signed record too.
    let l = client
        .liveness_remote(&common::read(OBAMA), 0.6)
        .expect("liveness");
    assert!(l.liveness.score > 0.0);
    let local = common::verifier()
        .liveness(&common::read(OBAMA), 0.6)
        .expect("local liveness");
    assert_eq!(
        l.liveness, local.liveness,
        "the server's verdict, as the local engine's"
    );
    assert!(l.face.bbox.width > 10.0, "the server reports the face box");
    assert_eq!(lines(&served.log_path()), 1);
    served.shutdown();

    // The server is gone now: refused, after the retries.
    let url = served.url.clone();
    let client = remote(&url, TOKEN, Duration::from_secs(5), 1);
    match client.compare_remote(&tiny_request()) {
        Err(RemoteError::Refused { attempts: 2, .. }) => {}
        other => panic!("expected refused after 2 attempts, got {other:?}"),
    }
}

// ---- raw-TCP fakes -----------------------------------------------------------------------

fn read_request(stream: &mut TcpStream) -> usize {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return 0,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    length
}

fn http_answer(status: u16, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// Answers each connection with the next canned answer; stops after the last or after 20 s.
fn fake_server(answers: Vec<String>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut answers = answers.into_iter();
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let Some(answer) = answers.next() else { return };
                    read_request(&mut stream);
                    // Counted before answering: the client may check as soon as it has the answer.
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(answer.as_bytes());
                    if answers.len() == 0 {
                        return;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (url, served)
}

/// The seed's example response from Verifik's Compare page (the first JSON block after "Response").
fn documented_example() -> String {
    let page = std::fs::read_to_string(common::shared().join("verifik/compare-1-1.md"))
        .expect("verifik/compare-1-1.md");
    let after = page
        .split("### **Response**")
        .nth(1)
        .expect("a Response section");
    let block = after.split("```json").nth(1).expect("a json block");
    block.split("```").next().expect("closed block").to_string()
}

#[test]
fn a_5xx_then_success_is_retried() {
    let ok = http_answer(200, "", &documented_example());
    let (url, count) = fake_server(vec![
        http_answer(503, "", r#"{"error":"busy"}"#),
        http_answer(502, "", "<html>bad gateway</html>"),
        ok,
    ]);
    let client = remote(&url, TOKEN, Duration::from_secs(5), 2);
    let o = client
        .compare_remote(&tiny_request())
        .expect("third attempt succeeds");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(o.score, 1.0);
    assert_eq!(o.remote.expect("ids")["id"], "0jy93");

    // Out of retries: the 5xx error, with the attempts made.
    let (url, _) = fake_server(vec![
        http_answer(500, "", r#"{"error":"boom"}"#),
        http_answer(500, "", r#"{"error":"boom"}"#),
    ]);
    let client = remote(&url, TOKEN, Duration::from_secs(5), 1);
    match client.compare_remote(&tiny_request()) {
        Err(
            e @ RemoteError::Server {
                status: 500,
                attempts: 2,
                ..
            },
        ) => assert!(e.to_string().contains("boom")),
        other => panic!("expected the 5xx error, got {other:?}"),
    }
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        // Accept, read, never answer; hold each connection a while, then give up (bounded).
        let mut held = Vec::new();
        for _ in 0..2 {
            if let Ok((mut s, _)) = listener.accept() {
                read_request(&mut s);
                held.push(s);
            }
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let client = remote(&url, TOKEN, Duration::from_millis(300), 1);
    let started = Instant::now();
    match client.compare_remote(&tiny_request()) {
        Err(e @ RemoteError::Timeout { attempts: 2, .. }) => {
            assert!(e.to_string().contains("waiting for the answer"), "{e}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn malformed_json_and_every_error_status_have_their_own_error() {
    let answers = vec![
        http_answer(200, "", "{\"data\": {\"result\": "),
        http_answer(200, "", "<html>not json</html>"),
        http_answer(400, "", r#"{"error": "Invalid request"}"#),
        http_answer(403, "", r#"{"error": "forbidden"}"#),
        http_answer(
            412,
            "",
            r#"{"error": "only_images_in_base64", "code": "412"}"#,
        ),
        http_answer(413, "", "too large"),
        http_answer(429, "Retry-After: 7\r\n", r#"{"message": "slow down"}"#),
    ];
    let n = answers.len();
    let (url, count) = fake_server(answers);
    let client = remote(&url, TOKEN, Duration::from_secs(5), 0);
    let mut errors = Vec::new();
    for _ in 0..n {
        errors.push(client.compare_remote(&tiny_request()).expect_err("fails"));
    }
    assert_eq!(count.load(Ordering::SeqCst), n);
    assert!(matches!(
        errors[0],
        RemoteError::MalformedResponse { status: 200, .. }
    ));
    assert!(matches!(
        errors[1],
        RemoteError::MalformedResponse { status: 200, .. }
    ));
    assert!(
        matches!(&errors[2], RemoteError::BadRequest { message } if message == "Invalid request")
    );
    assert!(matches!(
        errors[3],
        RemoteError::Unauthorized { status: 403, .. }
    ));
    assert!(matches!(errors[4], RemoteError::NotBase64 { .. }));
    assert!(matches!(errors[5], RemoteError::TooLarge { .. }));
    assert!(matches!(
        errors[6],
        RemoteError::RateLimited {
            retry_after_s: Some(7),
            ..
        }
    ));
    // Each one reads differently.
    let texts: std::collections::BTreeSet<String> = errors
        .iter()
        .skip(1)
        .map(|e| e.to_string().chars().take(30).collect())
        .collect();
    assert_eq!(texts.len(), n - 1, "{texts:?}");
}

#[test]
fn documented_response_shapes_parse() {
    let request = tiny_request();
    let seed = parse_compare_response(&documented_example(), &request, "remote:x")
        .expect("the seed's example parses");
    assert_eq!(seed.score, 1.0);
    assert_eq!(seed.decision, Decision::Match);
    let remote = seed.remote.expect("ids");
    assert_eq!(remote["id"], "0jy93");
    assert_eq!(remote["signature"]["message"], "Certified by Verifik.co");
    // verifik/related-endpoints.md: the new docs, the demo page, compare-with-liveness.
    for (body, score) in [
        (r#"{"id":"a","data":{"score":0.91}}"#, 0.91),
        (
            r#"{"id":"a","data":{"result":{"score":0.8,"compare_min_score":0.85,"passed":false}}}"#,
            0.8,
        ),
        (r#"{"id":"a","data":{"comparison":{"score":0.88}}}"#, 0.88),
    ] {
        let o = parse_compare_response(body, &request, "remote:x").expect(body);
        assert_eq!(o.score, score, "{body}");
    }
    let mut live = tiny_request();
    live.liveness_min_score = Some(0.65);
    let o = parse_compare_response(
        r#"{"id":"a","data":{"score":0.89,"liveness":{"liveness_score":0.92,"min_score":0.65,"passed":true}}}"#,
        &live,
        "remote:x",
    )
    .expect("compare-live");
    assert!(o.passed);
    let o = parse_compare_response(
        r#"{"data":{"comparison":{"score":0.88},"liveness":{"liveness_score":0.5,"min_score":0.6,"passed":false}}}"#,
        &live,
        "remote:x",
    )
    .expect("compare-with-liveness");
    assert_eq!(o.decision, Decision::Match);
    assert!(!o.passed, "liveness failed");
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

#[test]
fn load_8_clients_200_requests_one_record_each_and_no_token_anywhere() {
    let mut served = serve(2, 16);
    let requests = Arc::new([pair(OBAMA, OBAMA2), pair(OBAMA, BIDEN)]);
    let started = Instant::now();
    let handles: Vec<_> = (0..8)
        .map(|c| {
            let (url, requests) = (served.url.clone(), requests.clone());
            std::thread::spawn(move || {
                let client = remote(&url, TOKEN, Duration::from_secs(60), 0);
                let mut results = Vec::new();
                for i in 0..25 {
                    let r = &requests[(c + i) % 2];
                    results.push(client.compare_remote(r).map(|o| o.decision));
                }
                results
            })
        })
        .collect();
    let mut answered = 0;
    let mut errors = Vec::new();
    for h in handles {
        for r in h.join().expect("client thread") {
            match r {
                Ok(_) => answered += 1,
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    eprintln!(
        "200 requests at concurrency 8 in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );
    assert_eq!(answered, 200);
    served.shutdown();
    assert_eq!(lines(&served.log_path()), 200, "one record per answer");
    assert_eq!(verify_log(&served.log_path()).expect("chain").records, 200);

    // The token is in memory only: not in the log, the key, or any other file written.
    let mut files = Vec::new();
    files_under(served.dir.path(), &mut files);
    assert!(files.len() >= 2);
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
}

#[test]
fn a_full_server_answers_503_and_shutdown_finishes_requests_in_flight() {
    // One slow worker and no queue: a second concurrent request cannot wait.
    let mut served = serve_with(1, 0, |c| {
        let models = common::models();
        c.factory = Arc::new(move |_| {
            LocalVerifier::load(&models, PipelineConfig::default())
                .map(|v| Box::new(Slow(v)) as Box<dyn Verifier>)
                .map_err(|e| e.to_string())
        });
    });
    let body = serde_json::json!({
        "probe": base64_of(OBAMA), "gallery": [base64_of(OBAMA2)], "search_mode": "FAST"
    })
    .to_string();
    let statuses: Vec<_> = (0..4)
        .map(|_| {
            let (url, body) = (served.url.clone(), body.clone());
            std::thread::spawn(move || raw_post(&url, &body))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let busy: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    assert!(ok >= 1 && !busy.is_empty(), "{statuses:?}");
    assert_eq!(ok + busy.len(), 4, "{statuses:?}");
    assert!(busy[0].1.contains("server_busy"), "{}", busy[0].1);
    assert_eq!(lines(&served.log_path()), ok);

    // Shutdown while a request is being worked on: it still gets its answer and its record.
    let url = served.url.clone();
    let in_flight = std::thread::spawn(move || {
        let answer = raw_post(&url, &body);
        (answer, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(200));
    let shutdown_began = Instant::now();
    served.shutdown();
    let ((status, _), answered_at) = in_flight.join().expect("thread");
    assert_eq!(status, 200);
    assert!(
        answered_at > shutdown_began,
        "the request was not in flight"
    );
    assert_eq!(lines(&served.log_path()), ok + 1);
    assert_eq!(
        verify_log(&served.log_path()).expect("chain").records,
        ok + 1
    );
}

fn base64_of(path: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(common::read(path))
}

/// One POST without retries: (status, body).
fn raw_post(url: &str, body: &str) -> (u16, String) {
    post_to(
        &format!("{url}/v2/face-recognition/compare"),
        Some(TOKEN),
        "application/json",
        body,
    )
}

fn post_to(url: &str, token: Option<&str>, content_type: &str, body: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url).content_type(content_type);
    if let Some(t) = token {
        request = request.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = request.send(body).expect("an answer");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn serve_refuses_bad_requests_in_verifik_style() {
    let mut served = serve_with(1, 4, |c| c.body_limit = 1024 * 1024);
    let compare = format!("{}/v2/face-recognition/compare", served.url);
    let small = serde_json::json!({"probe": base64_of(OBAMA), "gallery": [base64_of(OBAMA2)]});
    assert!(small.to_string().len() < 1024 * 1024, "test photos grew");
    // A 64x64 grey PNG: a valid image without a face.
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(64, 64, image::Luma([128u8])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let faceless = {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(&png);
        serde_json::json!({"probe": b, "gallery": [base64_of(OBAMA2)]}).to_string()
    };
    let big = serde_json::json!({"probe": "A".repeat(1200 * 1024), "gallery": ["A"]}).to_string();
    // (token, content type, body, expected status, expected code)
    type Case<'a> = (Option<&'a str>, &'a str, String, u16, &'a str);
    let json = "application/json";
    let cases: Vec<Case> = vec![
        (None, json, small.to_string(), 401, "missing_token"),
        (Some("nope"), json, small.to_string(), 401, "invalid_token"),
        (
            Some(TOKEN),
            "text/plain",
            small.to_string(),
            415,
            "unsupported_media_type",
        ),
        (
            Some(TOKEN),
            json,
            "{not json".into(),
            400,
            "invalid_request",
        ),
        (
            Some(TOKEN),
            json,
            r#"{"probe": "abc", "gallery": ["abc"]}"#.into(),
            412,
            "only_images_in_base64",
        ),
        (Some(TOKEN), json, big, 413, "request_too_large"),
        (Some(TOKEN), json, faceless, 422, "no_face"),
    ];
    for (token, content_type, body, status, code) in cases {
        let (got, text) = post_to(&compare, token, content_type, &body);
        let v: serde_json::Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_eq!((got, v["code"].as_str()), (status, Some(code)), "{text}");
        assert_eq!(v["status"], status);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let live = format!("{}/v2/face-recognition/compare-live", served.url);
    let (got, text) = post_to(&live, Some(TOKEN), "application/json", &small.to_string());
    assert_eq!(got, 400, "compare-live needs liveness_min_score: {text}");
    let (got, _) = post_to(
        &format!("{}/v2/nothing", served.url),
        Some(TOKEN),
        "application/json",
        "{}",
    );
    assert_eq!(got, 404);
    served.shutdown();
    assert_eq!(lines(&served.log_path()), 0, "no decision was made");
}

#[test]
fn the_cli_compares_remotely_and_signs_the_record() {
    let mut served = serve(1, 8);
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("cli.jsonl");
    let run = |url: &str, token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_facestation"))
            .env("VERIFIK_TOKEN", token)
            .arg("--log")
            .arg(&log)
            .arg("--key")
            .arg(dir.path().join("key.pem"))
            .args([
                "compare",
                "--json",
                "--no-liveness",
                "--remote",
                url,
                "--probe",
            ])
            .arg(common::data(OBAMA))
            .arg("--gallery")
            .arg(common::data(OBAMA2))
            .output()
            .expect("runs")
    };
    let out = run(&served.url, TOKEN);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json record");
    assert_eq!(
        record["station"]["engine"],
        format!("remote:{}", served.url)
    );
    assert_eq!(record["data"]["result"]["passed"], true);
    assert_eq!(verify_log(&log).expect("cli log").records, 1);
    let out = run(&served.url, "wrong-token");
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stdout).contains("VERIFIK_TOKEN"));
    served.shutdown();
    let out = run(&served.url, TOKEN);
    assert_eq!(out.status.code(), Some(6), "network error");
    for f in [log, dir.path().join("key.pem")] {
        let text = std::fs::read(&f).expect("read");
        assert!(!text.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    }
}

/// Reads a request's head only; true when it asks `Expect: 100-continue`.
fn read_head(stream: &mut TcpStream) -> (bool, usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (head.contains("expect: 100-continue"), length)
}

/// Closes with a reset (SO_LINGER 0), as a server does that drops a connection mid-answer.
fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads the struct passed, on a socket this function owns.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

#[test]
fn a_413_before_the_upload_or_a_reset_after_its_status_is_too_large_and_not_retried() {
    let big = ValidRequest::from_bytes(
        vec![7u8; 3 * 1024 * 1024],
        vec![vec![8u8; 200]],
        SearchMode::Fast,
    )
    .expect("request");
    // (a) The server refuses from the head; the client asked first, so nothing is uploaded.
    // (b) The server takes the body, sends a 413 status line and resets before its body.
    for case in ["refused before the upload", "reset after the status line"] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = connections.clone();
        let expect_seen = Arc::new(AtomicUsize::new(0));
        let expects = expect_seen.clone();
        listener.set_nonblocking(true).expect("nonblocking");
        let fake = std::thread::spawn(move || {
            // Serves the first connection, then waits a little for a retry that must not come.
            let mut until = Instant::now() + Duration::from_secs(8);
            while Instant::now() < until {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = s.set_nonblocking(false);
                seen.fetch_add(1, Ordering::SeqCst);
                until = until.min(Instant::now() + Duration::from_millis(1500));
                let (expect, length) = read_head(&mut s);
                if expect {
                    expects.fetch_add(1, Ordering::SeqCst);
                }
                if case.starts_with("refused") {
                    let _ = s.write_all(
                        http_answer(
                            413,
                            "",
                            r#"{"error":"too large","code":"request_too_large"}"#,
                        )
                        .as_bytes(),
                    );
                    drop(s);
                } else {
                    if expect {
                        let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    let mut left = length;
                    let mut chunk = vec![0u8; 64 * 1024];
                    while left > 0 {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                    let _ = s.write_all(
                        b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"error\": \"too",
                    );
                    std::thread::sleep(Duration::from_millis(50));
                    reset(s);
                }
            }
        });
        let client = remote(&url, TOKEN, Duration::from_secs(5), 2);
        let started = Instant::now();
        let e = client.compare_remote(&big).expect_err("too large");
        eprintln!("{case}: {e} after {:?}", started.elapsed());
        assert!(matches!(e, RemoteError::TooLarge { .. }), "{case}: {e:?}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(connections.load(Ordering::SeqCst), 1, "{case}: retried");
        assert_eq!(
            expect_seen.load(Ordering::SeqCst),
            1,
            "{case}: the client asks first"
        );
        fake.join().expect("fake server");
    }
}

#[test]
fn the_cli_exits_2_on_an_upload_over_the_servers_limit_without_retrying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_dir = tempfile::tempdir().expect("tempdir");
    let config = crate::serve_fake::config(server_dir.path(), Default::default());
    let server = server::start(config).expect("serve starts");
    // 3 MB of a file (4 MB of base64) against a 1 MB limit.
    let probe = dir.path().join("big.jpg");
    std::fs::write(&probe, vec![0xA5u8; 3 * 1024 * 1024]).expect("write");
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_facestation"))
        .env("VERIFIK_TOKEN", crate::serve_fake::TOKEN)
        .arg("--log")
        .arg(dir.path().join("cli.jsonl"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .args([
            "compare",
            "--no-liveness",
            "--remote",
            &server.base_url(),
            "--probe",
        ])
        .arg(&probe)
        .arg("--gallery")
        .arg(common::data(OBAMA2))
        .output()
        .expect("runs");
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "compare --remote with a 3 MB probe: exit {:?} after {took:?}",
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("413"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    server.shutdown().expect("shutdown");
}
