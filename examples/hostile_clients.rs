//! Hostile clients against a running `facestation serve` (loopback only), with measured numbers.
//! `scripts/hostile-clients.sh` starts the server under `ulimit -n 1024` and runs this.
//!
//!   hostile_clients --url http://127.0.0.1:PORT --token-file FILE --pid SERVER_PID \
//!       --probe A.jpg --gallery B.jpg [--scenario all|idle|slowloris|lie|too-large|flood]
//!
//! Scenarios (each bounded in count and time, and each prints one `result:` line):
//! - idle: 1,100 idle TCP connections, then a normal compare must be answered within 5 s; then
//!   how long until the server has closed the idle ones.
//! - slowloris: 200 connections sending a header byte a second; when are they closed.
//! - lie: `Content-Length: 1000000` and 100 bytes sent; when does an answer (or a close) come.
//! - too-large: 20 uploads of 36 MB over a 25 MB limit, each sent whole before reading (as most
//!   clients do): how many read the 413, and how fast.
//! - flood: 80 concurrent 24 MB compares; the server's resident memory (VmRSS sampled every
//!   20 ms from /proc/PID/status) before, at its peak, and after.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;

struct Args {
    addr: SocketAddr,
    token: String,
    pid: Option<u32>,
    probe: Vec<u8>,
    gallery: Vec<u8>,
    scenario: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: hostile_clients --url http://127.0.0.1:PORT --token-file FILE [--pid PID] \
         --probe A.jpg --gallery B.jpg [--scenario all|idle|slowloris|lie|too-large|flood]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut url, mut token, mut pid, mut probe, mut gallery) = (None, None, None, None, None);
    let mut scenario = "all".to_string();
    while let Some(a) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--url" => url = Some(value()),
            "--token-file" => token = Some(value()),
            "--pid" => pid = value().parse().ok(),
            "--probe" => probe = Some(value()),
            "--gallery" => gallery = Some(value()),
            "--scenario" => scenario = value(),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    let addr = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| usage());
    assert!(addr.ip().is_loopback(), "loopback targets only");
    let read = |p: Option<String>| std::fs::read(p.unwrap_or_else(|| usage())).expect("read file");
    let token = String::from_utf8(read(token)).expect("token text");
    Args {
        addr,
        token: token.lines().next().unwrap_or("").trim().to_string(),
        pid,
        probe: read(probe),
        gallery: read(gallery),
        scenario,
    }
}

/// The client opens more than 1,024 sockets itself.
fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn head(a: &Args, extra: &str) -> String {
    format!(
        "POST /v2/face-recognition/compare HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\n{extra}\r\n",
        a.token
    )
}

/// One answer's status (None: closed or reset before a status line).
fn read_status(s: &mut TcpStream, within: Duration) -> Option<u16> {
    let _ = s.set_read_timeout(Some(within));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn compare_body(a: &Args) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    serde_json::json!({"probe": b64(&a.probe), "gallery": [b64(&a.gallery)], "search_mode": "FAST"})
        .to_string()
}

fn compare(a: &Args, within: Duration) -> Option<u16> {
    let body = compare_body(a);
    let mut s = TcpStream::connect_timeout(&a.addr, within).ok()?;
    let extra = format!("Content-Length: {}\r\nConnection: close\r\n", body.len());
    s.write_all(head(a, &extra).as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    read_status(&mut s, within)
}

/// Is the server's side of `s` closed (EOF or reset)? `s` is non-blocking.
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 512];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Polls `conns` until all are closed or `limit` passes: (closed, time of the last close).
fn wait_closed(conns: &mut [TcpStream], since: Instant, limit: Duration) -> (usize, Duration) {
    let mut done = vec![false; conns.len()];
    let mut last = Duration::ZERO;
    while since.elapsed() < limit && done.iter().any(|d| !d) {
        for (i, s) in conns.iter_mut().enumerate() {
            if !done[i] && closed(s) {
                done[i] = true;
                last = since.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (done.iter().filter(|d| **d).count(), last)
}

fn idle(a: &Args) {
    let started = Instant::now();
    let mut conns = Vec::new();
    let mut failed = 0;
    for _ in 0..1100 {
        match TcpStream::connect_timeout(&a.addr, Duration::from_secs(2)) {
            Ok(s) => {
                let _ = s.set_nonblocking(true);
                conns.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    let opened = started.elapsed();
    let t = Instant::now();
    let status = compare(a, Duration::from_secs(5));
    let answered = t.elapsed();
    let (n, last) = wait_closed(&mut conns, started, Duration::from_secs(30));
    println!(
        "result: idle: {} idle connections opened in {:.1} s ({failed} failed); a normal compare behind them: \
         {status:?} in {:.0} ms (must be < 5000 ms); {n} of {} idle connections closed by the server, the last \
         after {:.1} s",
        conns.len(),
        opened.as_secs_f64(),
        answered.as_secs_f64() * 1000.0,
        conns.len(),
        last.as_secs_f64()
    );
}

fn slowloris(a: &Args) {
    let started = Instant::now();
    let mut conns: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(a.addr).ok())
        .collect();
    for s in &mut conns {
        let _ = s.write_all(b"POST /v2/face-recognition/compare HTTP/1.1\r\nHost: x\r\n");
        let _ = s.set_nonblocking(true);
    }
    let mut done = vec![None; conns.len()];
    while started.elapsed() < Duration::from_secs(40) && done.iter().any(Option::is_none) {
        for (i, s) in conns.iter_mut().enumerate() {
            if done[i].is_none() && (closed(s) || s.write_all(b"X").is_err()) {
                done[i] = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let closed_n = done.iter().flatten().count();
    let last = done.iter().flatten().max().copied().unwrap_or_default();
    println!(
        "result: slowloris: {closed_n} of {} connections sending a header byte a second closed, the last after {:.1} s",
        conns.len(),
        last.as_secs_f64()
    );
}

fn lie(a: &Args) {
    let Ok(mut s) = TcpStream::connect(a.addr) else {
        println!("result: lie: cannot connect");
        return;
    };
    let _ = s.write_all(head(a, "Content-Length: 1000000\r\n").as_bytes());
    let _ = s.write_all(&[b' '; 100]);
    let t = Instant::now();
    let status = read_status(&mut s, Duration::from_secs(60));
    println!(
        "result: lie: Content-Length 1000000 with 100 bytes sent: {} after {:.1} s",
        status.map_or("closed without an answer".to_string(), |s| format!(
            "HTTP {s}"
        )),
        t.elapsed().as_secs_f64()
    );
}

fn too_large(a: &Args) {
    let body = vec![b'A'; 36 * 1024 * 1024];
    let extra = format!("Content-Length: {}\r\n", body.len());
    let (mut readable, mut worst) = (0, Duration::ZERO);
    for _ in 0..20 {
        let t = Instant::now();
        let Ok(mut s) = TcpStream::connect(a.addr) else {
            continue;
        };
        let _ = s.set_write_timeout(Some(Duration::from_secs(20)));
        // Whole upload first, then the answer: a failed write is what such a client reports.
        let sent = s.write_all(head(a, &extra).as_bytes()).is_ok() && s.write_all(&body).is_ok();
        if sent && read_status(&mut s, Duration::from_secs(10)) == Some(413) {
            readable += 1;
        }
        worst = worst.max(t.elapsed());
    }
    println!(
        "result: too-large: 36 MB uploads over a 25 MB limit, sent whole before reading: {readable}/20 read the 413 \
         (slowest {:.0} ms)",
        worst.as_secs_f64() * 1000.0
    );
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn flood(a: &Args) {
    // 24 MB of JSON: the real probe and a gallery image of random bytes (18 MB decoded).
    let mut noise = vec![0u8; 18 * 1024 * 1024];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = Arc::new(
        serde_json::json!({"probe": b64(&a.probe), "gallery": [b64(&noise)]})
            .to_string()
            .into_bytes(),
    );
    drop(noise);
    let pid = a.pid;
    let before = pid.and_then(|p| rss_kib(p, "VmRSS:"));
    let peak = Arc::new(AtomicU64::new(before.unwrap_or(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (peak, stop) = (peak.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::SeqCst) {
                if let Some(kib) = pid.and_then(|p| rss_kib(p, "VmRSS:")) {
                    peak.fetch_max(kib, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let started = Instant::now();
    let clients: Vec<_> = (0..80)
        .map(|_| {
            let (addr, body) = (a.addr, body.clone());
            let head = head(a, &format!("Content-Length: {}\r\n", body.len()));
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).ok()?;
                let _ = s.set_write_timeout(Some(Duration::from_secs(60)));
                s.write_all(head.as_bytes()).ok()?;
                let _ = s.write_all(&body);
                read_status(&mut s, Duration::from_secs(120))
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for c in clients {
        let s = c.join().ok().flatten();
        *statuses
            .entry(s.map_or("reset/closed".into(), |s| s.to_string()))
            .or_default() += 1;
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    let after = pid.and_then(|p| rss_kib(p, "VmRSS:"));
    let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0));
    println!(
        "result: flood: 80 concurrent {:.1} MB compares in {:.1} s, answers {statuses:?}; server RSS before {}, \
         peak {}, after {}",
        body.len() as f64 / 1e6,
        took.as_secs_f64(),
        mib(before),
        mib(Some(peak.load(Ordering::SeqCst))),
        mib(after),
    );
}

fn main() {
    let a = args();
    raise_fd_limit();
    let all = a.scenario == "all";
    let run = |name: &str| all || a.scenario == name;
    if run("idle") {
        idle(&a);
    }
    if run("slowloris") {
        slowloris(&a);
    }
    if run("lie") {
        lie(&a);
    }
    if run("too-large") {
        too_large(&a);
    }
    if run("flood") {
        flood(&a);
    }
}
