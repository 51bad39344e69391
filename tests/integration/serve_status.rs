//! The whole status table of `serve`, socket-free: the router is driven with
//! `tower::ServiceExt::oneshot` (axum's `examples/testing`) on the fake engine, so no models and
//! no port are needed. Every refusal is in Verifik's shape `{error, code, status}`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use facestation::server::{App, ServeConfig};
use http_body::Frame;
use http_body_util::BodyExt;
use serde_json::Value;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::ServiceExt;

use crate::serve_fake::{audit_lines, b64, compare_body, config, Fake, Gate, TOKEN};

const COMPARE: &str = "/v2/face-recognition/compare";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
    text: String,
}

async fn call(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

fn post(
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut r = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(body.into()).expect("request")
}

fn json_post(body: impl Into<String>) -> Request<Body> {
    let body: String = body.into();
    let mut r = post(COMPARE, Some(TOKEN), "application/json", body.clone());
    r.headers_mut().insert(
        header::CONTENT_LENGTH,
        body.len().to_string().parse().expect("len"),
    );
    r
}

#[track_caller]
fn assert_refusal(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{}", a.text);
    assert_eq!(a.json["code"], code, "{}", a.text);
    assert_eq!(a.json["status"], status, "{}", a.text);
    assert!(
        a.json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        a.text
    );
}

fn app(adjust: impl FnOnce(&mut ServeConfig), fake: Fake) -> (App, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path(), fake);
    adjust(&mut c);
    (App::new(&c).expect("app"), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_status_table_without_models_or_sockets() {
    let (app, dir) = app(|_| {}, Fake::default());
    let router = app.router();

    // 200: a signed record.
    let a = call(&router, json_post(compare_body(200))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["station"]["engine"], "fake", "{}", a.text);
    assert_eq!(a.json["signature"]["algorithm"], "Ed25519", "{}", a.text);

    // 400: JSON syntax, a wrong field type, an unknown search mode.
    assert_refusal(
        &call(&router, json_post("{not json")).await,
        400,
        "invalid_request",
    );
    let wrong_type = serde_json::json!({"probe": 5, "gallery": []}).to_string();
    assert_refusal(
        &call(&router, json_post(wrong_type)).await,
        400,
        "invalid_request",
    );

    // 401: no token, a wrong one; both name the scheme.
    for token in [None, Some("nope")] {
        let a = call(
            &router,
            post(COMPARE, token, "application/json", compare_body(200)),
        )
        .await;
        let code = if token.is_none() {
            "missing_token"
        } else {
            "invalid_token"
        };
        assert_refusal(&a, 401, code);
        assert_eq!(a.headers[header::WWW_AUTHENTICATE], "Bearer");
    }

    // 404, 405.
    let a = call(
        &router,
        post("/v2/nothing", Some(TOKEN), "application/json", "{}"),
    )
    .await;
    assert_refusal(&a, 404, "not_found");
    let get = Request::builder()
        .uri(COMPARE)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    assert_refusal(&call(&router, get).await, 405, "method_not_allowed");

    // 412: too short to be an image.
    let short = serde_json::json!({"probe": "abc", "gallery": ["abc"]}).to_string();
    assert_refusal(
        &call(&router, json_post(short)).await,
        412,
        "only_images_in_base64",
    );

    // 413 from the declared length alone (the body is not read), and from a body without one.
    let mut declared = json_post("{}");
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "5000000".parse().expect("len"));
    assert_refusal(&call(&router, declared).await, 413, "request_too_large");
    let streamed = post(
        COMPARE,
        Some(TOKEN),
        "application/json",
        Chunks::body(40, 64 * 1024, false),
    );
    assert_refusal(&call(&router, streamed).await, 413, "request_too_large");

    // 415: not JSON.
    let a = call(
        &router,
        post(COMPARE, Some(TOKEN), "text/plain", compare_body(200)),
    )
    .await;
    assert_refusal(&a, 415, "unsupported_media_type");

    // 422: the engine's own refusal.
    let noface = serde_json::json!({
        "probe": b64(&[b"noface".as_slice(), &[0u8; 200]].concat()),
        "gallery": [b64(&[8u8; 200])]
    })
    .to_string();
    assert_refusal(&call(&router, json_post(noface)).await, 422, "no_face");

    drop(router);
    drop(app);
    assert_eq!(audit_lines(dir.path()), 1, "one decision, one record");
}

/// A body sent in pieces, without a declared length; with `stall`, it then never ends.
struct Chunks {
    left: Vec<Bytes>,
    stall: bool,
}

impl Chunks {
    fn body(n: usize, size: usize, stall: bool) -> Body {
        Body::new(Self {
            left: vec![Bytes::from(vec![b' '; size]); n],
            stall,
        })
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.left.pop() {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None if self.stall => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

async fn health(router: &Router) -> Value {
    let r = Request::builder()
        .uri("/health")
        .body(Body::empty())
        .expect("request");
    let a = call(router, r).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.json
}

async fn wait_busy(router: &Router, busy: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    while health(router).await["workers"]["busy"] != busy {
        assert!(Instant::now() < until, "the worker never became busy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_503_when_no_worker_or_queue_place_is_free_and_the_held_request_is_kept() {
    let gate = Gate::default();
    let (app, dir) = app(
        |c| c.queue = 0,
        Fake {
            gate: Some(gate.clone()),
        },
    );
    let router = app.router();
    let first = tokio::spawn({
        let router = router.clone();
        async move { call(&router, json_post(compare_body(200))).await }
    });
    wait_busy(&router, 1).await;
    let h = health(&router).await;
    assert_eq!(h["requests"]["admitted"], 1, "{h}");
    assert_eq!(h["workers"]["free"], 0, "{h}");
    let started = Instant::now();
    let a = call(&router, json_post(compare_body(200))).await;
    assert_refusal(&a, 503, "server_busy");
    assert_eq!(a.headers[header::RETRY_AFTER], "1");
    assert!(started.elapsed() < Duration::from_secs(1), "503 at once");
    gate.open();
    let a = first.await.expect("first request");
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let h = health(&router).await;
    assert_eq!(h["requests"]["admitted"], 0, "the place is given back: {h}");
    drop(router);
    drop(app);
    assert_eq!(
        audit_lines(dir.path()),
        1,
        "the held request has its record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_503_when_the_body_budget_is_spent_before_the_body_is_read() {
    let gate = Gate::default();
    let (app, _dir) = app(
        |c| {
            c.queue = 4;
            c.body_limit = 64 * 1024;
            c.body_budget = Some(64 * 1024);
        },
        Fake {
            gate: Some(gate.clone()),
        },
    );
    let router = app.router();
    // 45 KB of base64 held by a request that waits for the engine...
    let first = tokio::spawn({
        let router = router.clone();
        async move { call(&router, json_post(compare_body(17_000))).await }
    });
    wait_busy(&router, 1).await;
    // ... leaves no room for another 45 KB, though a queue place is free.
    let a = call(&router, json_post(compare_body(17_000))).await;
    assert_refusal(&a, 503, "server_busy");
    assert!(a.text.contains("request bodies"), "{}", a.text);
    // A body without a declared length is charged as it arrives.
    let streamed = post(
        COMPARE,
        Some(TOKEN),
        "application/json",
        Chunks::body(3, 10_000, false),
    );
    assert_refusal(&call(&router, streamed).await, 503, "server_busy");
    // A small one still fits.
    gate.open();
    assert_eq!(first.await.expect("first").status, StatusCode::OK);
    let a = call(&router, json_post(compare_body(200))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let h = health(&router).await;
    assert_eq!(h["bodyBytes"]["held"], 0, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_408_when_the_body_stalls_or_is_too_slow() {
    let (app, _dir) = app(|_| {}, Fake::default());
    let router = app.router();
    // A declared length that never arrives: answered after the idle timeout (0.5 s).
    let mut stalled = post(
        COMPARE,
        Some(TOKEN),
        "application/json",
        Chunks::body(1, 100, true),
    );
    stalled
        .headers_mut()
        .insert(header::CONTENT_LENGTH, "1000000".parse().expect("len"));
    let started = Instant::now();
    let a = call(&router, stalled).await;
    let took = started.elapsed();
    assert_refusal(&a, 408, "request_timeout");
    assert!(a.text.contains("100 bytes of 1000000"), "{}", a.text);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let h = health(&router).await;
    assert_eq!(h["requests"]["admitted"], 0, "the place is given back: {h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_health_needs_no_token_and_tells_no_secret() {
    let (app, _dir) = app(|c| c.workers = 2, Fake::default());
    let h = health(&app.router()).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["engine"], "fake");
    assert_eq!(h["modelsLoaded"], true);
    assert_eq!(h["workers"]["total"], 2);
    assert_eq!(h["workers"]["busy"], 0);
    assert_eq!(h["workers"]["free"], 2);
    let text = h.to_string();
    for secret in [TOKEN, "server-key", "server-audit", "/tmp"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_echoes_request_strings_bounded_and_escaped() {
    let (app, _dir) = app(|c| c.body_limit = 8 * 1024 * 1024, Fake::default());
    let router = app.router();
    let huge = serde_json::json!({
        "probe": b64(&[7u8; 200]), "gallery": [b64(&[8u8; 200])], "search_mode": "S".repeat(4 << 20)
    })
    .to_string();
    let a = call(&router, json_post(huge)).await;
    assert_refusal(&a, 400, "invalid_request");
    assert!(
        a.text.len() < 400,
        "{} bytes: {}",
        a.text.len(),
        &a.text[..200]
    );
    let ansi = serde_json::json!({
        "probe": b64(&[7u8; 200]), "gallery": [b64(&[8u8; 200])], "os": "\u{1b}[2J\u{1b}[31mPWNED"
    })
    .to_string();
    let a = call(&router, json_post(ansi)).await;
    assert_refusal(&a, 400, "invalid_request");
    let message = a.json["error"].as_str().expect("message");
    assert!(!message.chars().any(|c| c.is_control()), "{message:?}");
    assert!(message.contains("\\u{1b}[2J"), "{message}");
    // serde's own messages quote the input too: bounded as well.
    let typed = format!(
        r#"{{"probe": "{}", "gallery": "{}"}}"#,
        "p".repeat(200),
        "g".repeat(1 << 20)
    );
    let a = call(&router, json_post(typed)).await;
    assert_refusal(&a, 400, "invalid_request");
    assert!(a.text.len() < 600, "{} bytes", a.text.len());
    // A bad base64 character is reported where it is.
    let mut probe = b64(&[7u8; 3000]);
    probe.replace_range(1000..1001, "*");
    let bad = serde_json::json!({"probe": probe, "gallery": [b64(&[8u8; 200])]}).to_string();
    let a = call(&router, json_post(bad)).await;
    assert_refusal(&a, 412, "only_images_in_base64");
    assert!(a.text.contains("offset 1000"), "{}", a.text);
}
