//! `serve` against hostile clients over real TCP, on the fake engine with short timeouts
//! (`serve_fake::short_timeouts`: headers 1 s, keep-alive 0.6 s, body 2 s / idle 0.5 s). Each
//! test states the number it measures; `scripts/hostile-clients.sh` runs the full-size versions
//! against `facestation serve` with the real models.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use facestation::engine::{RemoteConfig, RemoteError, RemoteVerifier, Verifier};
use facestation::server::{self, RunningServer, ServeConfig};

use crate::serve_fake::{audit_lines, compare_body, config, Fake, Gate, TOKEN};

const COMPARE: &str = "/v2/face-recognition/compare";

struct Served {
    server: Option<RunningServer>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Served {
    fn shutdown(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(s) = self.server.take() {
            s.shutdown().expect("clean shutdown");
        }
        started.elapsed()
    }
}

fn serve(fake: Fake, adjust: impl FnOnce(&mut ServeConfig)) -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path(), fake);
    adjust(&mut c);
    let server = server::start(c).expect("serve starts");
    Served {
        addr: server.local_addr(),
        server: Some(server),
        dir,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn head(method: &str, path: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n{extra}\r\n"
    )
}

/// Reads one answer (head and a Content-Length body): its status and text.
fn read_answer(s: &mut TcpStream, within: Duration) -> Option<(u16, String)> {
    s.set_read_timeout(Some(within)).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < end + length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, String::from_utf8_lossy(&buf).to_string()))
}

/// How long until the server closes `s` (EOF or reset), waiting at most `limit`.
fn time_to_close(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    let mut chunk = [0u8; 4096];
    while since.elapsed() < limit {
        match s.read(&mut chunk) {
            Ok(0) => return Some(since.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(since.elapsed()),
        }
    }
    None
}

fn health(addr: SocketAddr) -> serde_json::Value {
    let mut s = connect(addr);
    s.write_all(head("GET", "/health", "Connection: close\r\n").as_bytes())
        .expect("write");
    let (status, text) = read_answer(&mut s, Duration::from_secs(5)).expect("health answers");
    assert_eq!(status, 200, "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).expect("health json")
}

fn post_compare(addr: SocketAddr, body: &str) -> Option<(u16, String)> {
    let mut s = connect(addr);
    let extra = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    s.write_all(head("POST", COMPARE, &extra).as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    read_answer(&mut s, Duration::from_secs(10))
}

#[test]
fn serve_slowloris_connections_are_closed_at_the_header_timeout() {
    let mut served = serve(Fake::default(), |_| {});
    let addr = served.addr;
    let started = Instant::now();
    let clients: Vec<_> = (0..50)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let opened = Instant::now();
                let _ = s.write_all(b"POST /v2/face-recognition/compare HTTP/1.1\r\nHost: x\r\n");
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let mut chunk = [0u8; 1024];
                // A header byte every 200 ms, for at most 5 s.
                while opened.elapsed() < Duration::from_secs(5) {
                    if s.write_all(b"X").is_err() {
                        return Some(opened.elapsed());
                    }
                    match s.read(&mut chunk) {
                        Ok(0) => return Some(opened.elapsed()),
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => return Some(opened.elapsed()),
                    }
                }
                None
            })
        })
        .collect();
    let closed: Vec<_> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let worst = closed.iter().flatten().max().copied();
    eprintln!(
        "50 slowloris connections: {} closed, the last after {worst:?} (header timeout 1 s)",
        closed.iter().flatten().count()
    );
    assert!(closed.iter().all(|c| c.is_some()), "{closed:?}");
    assert!(
        worst.is_some_and(|w| w < Duration::from_millis(3000)),
        "{worst:?}"
    );
    assert!(closed
        .iter()
        .flatten()
        .all(|c| *c >= Duration::from_millis(800)));
    // A normal request is answered after them, and shutdown is quick.
    assert_eq!(health(addr)["status"], "ok");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(served.shutdown() < Duration::from_secs(3));
}

#[test]
fn serve_idle_and_keep_alive_connections_are_closed_at_the_keep_alive_timeout() {
    let mut served = serve(Fake::default(), |_| {});
    let addr = served.addr;
    // 50 connections that made one request and stay, and 50 that never send anything.
    let mut conns = Vec::new();
    for i in 0..100 {
        let mut s = connect(addr);
        if i % 2 == 0 {
            s.write_all(head("GET", "/health", "").as_bytes())
                .expect("write");
            let (status, _) = read_answer(&mut s, Duration::from_secs(5)).expect("answer");
            assert_eq!(status, 200);
        }
        conns.push((s, Instant::now()));
    }
    let times: Vec<_> = conns
        .iter_mut()
        .map(|(s, since)| time_to_close(s, *since, Duration::from_secs(5)))
        .collect();
    let worst = times.iter().flatten().max().copied();
    eprintln!(
        "100 idle connections (50 after a request): {} closed, the last after {worst:?} (keep-alive 0.6 s)",
        times.iter().flatten().count()
    );
    assert!(times.iter().all(|t| t.is_some()), "{times:?}");
    assert!(
        worst.is_some_and(|w| w < Duration::from_millis(2500)),
        "{worst:?}"
    );
    assert_eq!(
        health(addr)["connections"]["open"],
        1,
        "only the health check's own"
    );
    served.shutdown();
}

#[test]
fn serve_idle_connections_beyond_the_cap_do_not_stop_a_normal_request() {
    let mut served = serve(Fake::default(), |c| {
        c.max_connections = Some(64);
        // Idle connections stay open for the whole test unless the cap closes them.
        c.timeouts.keep_alive = Duration::from_secs(30);
        c.timeouts.header_read = Duration::from_secs(30);
    });
    let addr = served.addr;
    let idle: Vec<TcpStream> = (0..150).map(|_| connect(addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let answer = post_compare(addr, &compare_body(200));
    let took = started.elapsed();
    eprintln!("a compare behind 150 idle connections (cap 64): answered in {took:?}");
    assert_eq!(answer.map(|a| a.0), Some(200));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let h = health(addr);
    assert!(
        h["connections"]["open"].as_u64().is_some_and(|n| n <= 64),
        "{h}"
    );
    assert_eq!(h["connections"]["max"], 64);
    drop(idle);
    served.shutdown();
    assert_eq!(audit_lines(served.dir.path()), 1);
}

#[test]
fn serve_at_the_cap_with_every_connection_in_a_request_closes_a_new_one_at_once() {
    let gate = Gate::default();
    let mut served = serve(
        Fake {
            gate: Some(gate.clone()),
        },
        |c| {
            c.max_connections = Some(2);
            c.workers = 2;
            c.queue = 0;
        },
    );
    let addr = served.addr;
    let body = compare_body(200);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || post_compare(addr, &body))
        })
        .collect();
    // Wait until both are with the engine.
    let until = Instant::now() + Duration::from_secs(5);
    let mut closed_at_once = None;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        let mut s = connect(addr);
        let since = Instant::now();
        let _ = s.write_all(head("GET", "/health", "").as_bytes());
        match read_answer(&mut s, Duration::from_secs(2)) {
            Some(_) => continue, // one of the two was not in its request yet
            None => {
                closed_at_once = Some(since.elapsed());
                break;
            }
        }
    }
    eprintln!("a new connection with both places in a request: closed after {closed_at_once:?}");
    assert!(closed_at_once.is_some_and(|t| t < Duration::from_millis(1000)));
    gate.open();
    for h in held {
        assert_eq!(h.join().expect("client").map(|a| a.0), Some(200));
    }
    served.shutdown();
    assert_eq!(audit_lines(served.dir.path()), 2, "no record lost");
}

#[test]
fn serve_a_lying_content_length_is_answered_408_within_the_body_timeout() {
    let mut served = serve(Fake::default(), |_| {});
    let addr = served.addr;
    // Declares 1,000,000 bytes, sends 100, waits.
    let mut s = connect(addr);
    let extra = "Content-Type: application/json\r\nContent-Length: 1000000\r\n";
    s.write_all(head("POST", COMPARE, extra).as_bytes())
        .expect("write");
    s.write_all(&[b' '; 100]).expect("write");
    let sent = Instant::now();
    let answer = read_answer(&mut s, Duration::from_secs(5));
    let took = sent.elapsed();
    eprintln!(
        "Content-Length 1000000 with 100 bytes sent: {:?} after {took:?} (idle 0.5 s)",
        answer.as_ref().map(|a| a.0)
    );
    let (status, text) = answer.expect("an answer");
    assert_eq!(status, 408, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert!(time_to_close(&mut s, Instant::now(), Duration::from_secs(3)).is_some());
    // A trickle (a byte every 100 ms) meets the total body timeout instead (2 s).
    let mut s = connect(addr);
    s.write_all(head("POST", COMPARE, extra).as_bytes())
        .expect("write");
    let sent = Instant::now();
    let trickle = std::thread::spawn({
        let mut s = s.try_clone().expect("clone");
        move || {
            while sent.elapsed() < Duration::from_secs(4) {
                if s.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let answer = read_answer(&mut s, Duration::from_secs(5));
    let took = sent.elapsed();
    eprintln!(
        "a body trickling a byte per 100 ms: {:?} after {took:?} (body timeout 2 s)",
        answer.as_ref().map(|a| a.0)
    );
    assert_eq!(answer.map(|a| a.0), Some(408));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(4000),
        "{took:?}"
    );
    drop(s);
    let _ = trickle.join();
    assert_eq!(health(addr)["requests"]["admitted"], 0);
    served.shutdown();
}

#[test]
fn serve_413_is_answered_before_the_body_and_read_by_the_client_20_of_20() {
    let mut served = serve(Fake::default(), |_| {});
    let addr = served.addr;
    let body = vec![b'A'; 8 * 1024 * 1024];
    let extra = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    // A client that sends all 8 MB before it reads (as ureq and most clients do).
    let mut readable = 0;
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let mut s = connect(addr);
        s.set_write_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let started = Instant::now();
        // Like ureq: a failed write (broken pipe, reset) is the error the caller sees, and the
        // answer is never read. Readable means: the upload went through, then the 413 came.
        let sent = s
            .write_all(head("POST", COMPARE, &extra).as_bytes())
            .is_ok()
            && s.write_all(&body).is_ok();
        if let (true, Some((413, text))) = (sent, read_answer(&mut s, Duration::from_secs(5))) {
            assert!(text.contains("request_too_large"), "{text}");
            readable += 1;
        }
        worst = worst.max(started.elapsed());
    }
    // A client that asks first (Expect: 100-continue, as curl and the station's client do).
    let mut s = connect(addr);
    let started = Instant::now();
    let asked = format!("{extra}Expect: 100-continue\r\n");
    s.write_all(head("POST", COMPARE, &asked).as_bytes())
        .expect("write");
    let answer = read_answer(&mut s, Duration::from_secs(5));
    let expect_ms = started.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "413 for an 8 MB body over a 1 MB limit: readable {readable}/20 (slowest {worst:?}); \
         with Expect: 100-continue, 413 after {expect_ms:.1} ms and no body sent"
    );
    assert_eq!(readable, 20);
    assert_eq!(answer.map(|a| a.0), Some(413));
    assert!(expect_ms < 1000.0, "{expect_ms} ms");
    served.shutdown();
}

#[test]
fn serve_admits_before_reading_the_body_503_at_once_without_it() {
    let gate = Gate::default();
    let mut served = serve(
        Fake {
            gate: Some(gate.clone()),
        },
        |c| c.queue = 0,
    );
    let addr = served.addr;
    let body = compare_body(200);
    let held = std::thread::spawn(move || post_compare(addr, &body));
    let until = Instant::now() + Duration::from_secs(5);
    while health(addr)["workers"]["busy"] != 1 {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Only the head of a 900 KB upload: the refusal comes without the body.
    let mut s = connect(addr);
    let extra = "Content-Type: application/json\r\nContent-Length: 900000\r\n";
    let started = Instant::now();
    s.write_all(head("POST", COMPARE, extra).as_bytes())
        .expect("write");
    let (status, text) = read_answer(&mut s, Duration::from_secs(5)).expect("answer");
    let took = started.elapsed();
    eprintln!("503 for a full server, before the body: after {took:?}");
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert!(took < Duration::from_millis(1000));
    gate.open();
    assert_eq!(held.join().expect("client").map(|a| a.0), Some(200));
    served.shutdown();
}

#[test]
fn serve_shutdown_waits_for_decisions_but_not_for_slow_or_idle_clients() {
    let gate = Gate::default();
    let mut served = serve(
        Fake {
            gate: Some(gate.clone()),
        },
        |c| c.grace = Duration::from_secs(30),
    );
    let addr = served.addr;
    let body = compare_body(200);
    let in_flight = std::thread::spawn(move || post_compare(addr, &body));
    let until = Instant::now() + Duration::from_secs(5);
    while health(addr)["workers"]["busy"] != 1 {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(20));
    }
    // A slow upload (a byte every 100 ms) and an idle connection.
    let mut slow = connect(addr);
    let extra = "Content-Type: application/json\r\nContent-Length: 100000\r\n";
    slow.write_all(head("POST", COMPARE, extra).as_bytes())
        .expect("write");
    let trickle = std::thread::spawn({
        let mut s = slow.try_clone().expect("clone");
        move || {
            for _ in 0..100 {
                if s.write_all(b" ").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let _idle = connect(addr);
    let opener = std::thread::spawn({
        let gate = gate.clone();
        move || {
            std::thread::sleep(Duration::from_millis(800));
            gate.open();
        }
    });
    let took = served.shutdown();
    eprintln!(
        "shutdown with a decision in flight (0.8 s), a slow upload and an idle client: {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "{took:?}: the slow client held the shutdown"
    );
    assert_eq!(in_flight.join().expect("client").map(|a| a.0), Some(200));
    assert_eq!(
        audit_lines(served.dir.path()),
        1,
        "the decision in flight has its record"
    );
    let _ = opener.join();
    drop(slow);
    let _ = trickle.join();
}

#[test]
fn serve_too_large_upload_is_too_large_for_the_station_client_without_retries() {
    let mut served = serve(Fake::default(), |c| c.body_limit = 4 * 1024 * 1024);
    let client = RemoteVerifier::new(
        RemoteConfig {
            base_url: format!("http://{}", served.addr),
            max_retries: 2,
            backoff: Duration::from_millis(50),
            ..RemoteConfig::default()
        },
        facestation::engine::BearerToken::new(TOKEN).expect("token"),
    )
    .expect("client");
    let request = facestation::api::ValidRequest::from_bytes(
        vec![7u8; 4 * 1024 * 1024],
        vec![vec![8u8; 200]],
        facestation::api::SearchMode::Fast,
    )
    .expect("request");
    let started = Instant::now();
    let e = client.compare_remote(&request).expect_err("too large");
    let took = started.elapsed();
    eprintln!("the station's client, a 5.6 MB body over a 4 MiB limit: {e} after {took:?}");
    assert!(matches!(e, RemoteError::TooLarge { .. }), "{e:?}");
    assert!(
        took < Duration::from_secs(3),
        "{took:?}: retried or uploaded"
    );
    // Under the limit, an `Expect: 100-continue` upload (1.6 MB of JSON) goes through.
    let request = facestation::api::ValidRequest::from_bytes(
        vec![7u8; 1024 * 1024],
        vec![vec![8u8; 150 * 1024]],
        facestation::api::SearchMode::Fast,
    )
    .expect("request");
    let mut client = client;
    let body_bytes = (request.probe.len() + request.gallery[0].len()) * 4 / 3;
    assert!(body_bytes > facestation::engine::remote::EXPECT_CONTINUE_ABOVE);
    let outcome = client
        .compare(&request)
        .expect("accepted after 100 Continue");
    assert_eq!(outcome.engine, format!("remote:http://{}", served.addr));
    served.shutdown();
    assert_eq!(audit_lines(served.dir.path()), 1);
}
