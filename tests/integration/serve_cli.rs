//! `facestation serve` as a process: the tracing subscriber the CLI installs logs start, stop and
//! every refusal to stderr, and the token reaches neither that log nor the records, even at
//! `RUST_LOG=trace`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

const TOKEN: &str = "cli-serve-token-5e8d2c7a91f3-do-not-leak";

fn request(addr: &str, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(head.as_bytes()).expect("write");
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(addr: &str, auth: Option<&str>, content_type: &str, length: usize, body: &[u8]) -> String {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v2/face-recognition/compare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\
         Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    );
    request(addr, &head, body)
}

#[test]
fn serve_cli_logs_start_stop_and_refusals_and_never_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let stderr_path = dir.path().join("serve.err");
    let mut child = Command::new(env!("CARGO_BIN_EXE_facestation"))
        .env("RUST_LOG", "trace")
        .arg("--models")
        .arg(common::shared().join("models"))
        .arg("--log")
        .arg(dir.path().join("audit.jsonl"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--body-limit-mb",
            "1",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("serve starts");
    let log = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(120);
    let addr = loop {
        let text = log();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            break rest
                .split(|c: char| c.is_whitespace())
                .next()
                .expect("address")
                .to_string();
        }
        assert!(
            Instant::now() < until && child.try_wait().expect("child").is_none(),
            "serve did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let health = request(
        &addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.contains("\"engine\":\"local\""), "{health}");
    let bearer = format!("Bearer {TOKEN}");
    let json = "application/json";
    let no_token = post(&addr, None, json, 2, b"{}");
    assert!(no_token.starts_with("HTTP/1.1 401"), "{no_token}");
    let wrong = post(&addr, Some("Bearer not-it"), json, 2, b"{}");
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let too_large = post(&addr, Some(&bearer), json, 5_000_000, b"");
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    let not_json = post(&addr, Some(&bearer), "text/plain", 2, b"{}");
    assert!(not_json.starts_with("HTTP/1.1 415"), "{not_json}");
    use base64::Engine as _;
    let b64 = |p: &str| base64::engine::general_purpose::STANDARD.encode(common::read(p));
    let body = serde_json::json!({
        "probe": b64("faces/face_recognition/barack_obama/examples__obama.jpg"),
        "gallery": [b64("faces/face_recognition/barack_obama/examples__obama2.jpg")]
    })
    .to_string();
    let ok = post(&addr, Some(&bearer), json, body.len(), body.as_bytes());
    assert!(
        ok.starts_with("HTTP/1.1 200"),
        "{}",
        &ok[..ok.len().min(300)]
    );

    // SAFETY: a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("child") {
            break s;
        }
        assert!(Instant::now() < until, "serve did not stop:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = log();
    assert!(status.success(), "{status:?}\n{text}");
    for expected in [
        "listening on http://",
        "auth on",
        "at most",
        "status=401",
        "missing_token",
        "invalid_token",
        "status=413",
        "status=415",
        "stopping on a signal",
        "stopped",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from the log:\n{text}"
        );
    }
    for f in [stderr_path, dir.path().join("audit.jsonl")] {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
}
