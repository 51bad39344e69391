//! Desk numbers (not a test): a synthetic audit log of N records (default 100,000) shaped like
//! the station's (signed, hash-chained, ~1.5 KB each, four operators, 60 days, every verdict),
//! then
//! 1. history open: `HistoryIndex::load`, and the history thread's time to its first table
//!    (load + filter + summaries);
//! 2. filter updates: request to new rows on the history thread, for text, verdict, operator,
//!    date and score filters;
//! 3. export of every row as CSV and JSON Lines (the history screen's export);
//! 4. UI frame times while filtering: the station in egui_kittest (fake engine, no GPU) on its
//!    History screen with that log, the search text and verdict changing every few frames.
//!
//! `cargo run --release --example desk_bench [-- N]`

use std::path::Path;
use std::time::{Duration, Instant};

use eframe::egui;
use facestation::app::history::History;
use facestation::app::state::Settings;
use facestation::app::testing::{fake_options, harness, step_until, Script};
use facestation::app::Screen;
use facestation::digest::sha256_hex;
use facestation::eval::percentile;
use facestation::record::history::{HistoryFilter, HistoryIndex};
use facestation::record::{sign_record, ExportFormat, StationKey};
use serde_json::{json, Value};

const OPERATORS: [&str; 4] = ["Ana B", "Ben C", "Chloé D", "Dev E"];

fn pct(v: &[f64], p: f64) -> f64 {
    percentile(&mut v.to_vec(), p).unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Record `i` of the synthetic log, shaped like a station compare-live record.
fn record(i: usize, key_id: &str) -> Value {
    let day = 1 + (i * 60 / 100_000).min(59) as i64;
    let date = time::macros::date!(2026 - 09 - 01) + time::Duration::days(day);
    let t = format!(
        "{date}T{:02}:{:02}:{:02}.000Z",
        8 + (i / 3600) % 10,
        (i / 60) % 60,
        i % 60
    );
    let (verdict, reasons, score, live) = match i % 10 {
        0 | 1 => (
            "not_verified",
            vec!["no_match"],
            0.41 + (i % 37) as f64 / 100.0,
            "live",
        ),
        2 => ("not_verified", vec!["spoof"], 0.9995, "spoof"),
        3 => (
            "review",
            vec!["borderline"],
            0.95 + (i % 4) as f64 / 100.0,
            "live",
        ),
        _ => ("verified", vec![], 0.9999, "live"),
    };
    let operator = OPERATORS[(i / 500) % OPERATORS.len()];
    json!({
        "id": format!("r{:04}", i % 10_000),
        "data": {
            "__v": 0, "_id": format!("{i:024x}"), "type": "compare-live",
            "probe": [format!("sha256:{}", sha256_hex(format!("probe{i}").as_bytes()))],
            "gallery": [format!("sha256:{}", sha256_hex(format!("gallery{i}").as_bytes()))],
            "client": key_id,
            "result": {"score": score, "compare_min_score": 0.993, "passed": verdict == "verified"},
            "deleted": false, "createdAt": t, "updatedAt": t, "comparedAt": t, "search_mode": "FAST",
            "liveness": {"liveness_score": if live == "live" { 0.93 } else { 0.2 }, "min_score": 0.6,
                         "passed": live == "live"},
        },
        "station": {
            "engine": "local", "verdict": verdict, "reasons": reasons,
            "threshold": 0.993, "thresholdBasis": "FMR 0.0099% on LFW folds 1-5 (FAST)",
            "liveness": {"score": if live == "live" { 0.93 } else { 0.2 }, "verdict": live,
                         "context": 2.5, "min_score": 0.6},
            "gallery": [{"index": 0, "score": score, "facesFound": 1}],
            "models": [{"id": "yunet", "role": "detector", "sha256": "a".repeat(64)},
                       {"id": "dlib-int8", "role": "recogniser", "sha256": "b".repeat(64)}],
            "operator": operator,
            "galleryNames": [format!("id_card_{:05}.jpg", i % 20_000)],
            "version": "0.1.0",
        },
    })
}

/// Writes `n` signed, chained records to `log`; returns the time taken.
fn write_log(log: &Path, key: &StationKey, n: usize) -> Duration {
    let t = Instant::now();
    let mut out = Vec::with_capacity(n * 1600);
    let mut prev = facestation::record::log::GENESIS_SHA256.to_string();
    let key_id = key.key_id();
    for i in 0..n {
        let mut r = record(i, &key_id);
        r["seq"] = json!(i + 1);
        r["prevRecordSha256"] = json!(prev);
        sign_record(&mut r, key).expect("sign");
        let line = serde_json::to_string(&r).expect("serialise");
        prev = sha256_hex(line.as_bytes());
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    std::fs::write(log, out).expect("write the log");
    t.elapsed()
}

/// Waits for the history's newest filter; returns request-to-rows time.
fn wait_filtered(h: &mut History, since: Instant) -> Duration {
    loop {
        h.poll();
        if !h.filtering() {
            return since.elapsed();
        }
        assert!(h.error.is_none(), "{:?}", h.error);
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let options = fake_options(root, Script::default());
    let key_path = root.join("station-key.pem");
    let key = StationKey::load_or_create(&key_path).expect("key");
    let log = root.join("audit.jsonl");
    let wrote = write_log(&log, &key, n);
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!(
        "synthetic log: {n} signed records, {:.1} MB, written in {:.1} s",
        size as f64 / 1e6,
        wrote.as_secs_f64()
    );

    // 1. Open.
    let t = Instant::now();
    let index = HistoryIndex::load(&log).expect("index");
    let load = t.elapsed();
    assert_eq!(index.rows().len(), n);
    drop(index);
    let t = Instant::now();
    let mut h = History::start(&log, Some(key_path.clone()), || {});
    let first = wait_filtered(&mut h, t);
    println!(
        "history open: HistoryIndex::load {:.0} ms; thread start to first table (load + filter + summaries) {:.0} ms",
        ms(load),
        ms(first)
    );

    // 2. Filters.
    let day = |s: &str| facestation::record::ExportFilter::date(s).ok();
    let filters: Vec<(&str, HistoryFilter)> = vec![
        (
            "text \"ana\"",
            HistoryFilter {
                text: "ana".into(),
                ..Default::default()
            },
        ),
        (
            "text \"id_card_01234\"",
            HistoryFilter {
                text: "id_card_01234".into(),
                ..Default::default()
            },
        ),
        (
            "verdict not_verified",
            HistoryFilter {
                verdict: Some("not_verified".into()),
                ..Default::default()
            },
        ),
        (
            "operator Ben C",
            HistoryFilter {
                operator: Some("Ben C".into()),
                ..Default::default()
            },
        ),
        (
            "10 days",
            HistoryFilter {
                since: day("2026-09-10"),
                until: day("2026-09-19"),
                ..Default::default()
            },
        ),
        (
            "score 0.9-0.999",
            HistoryFilter {
                min_score: Some(0.9),
                max_score: Some(0.999),
                ..Default::default()
            },
        ),
        (
            "all of them",
            HistoryFilter {
                text: "ana".into(),
                verdict: Some("verified".into()),
                since: day("2026-09-02"),
                until: day("2026-10-20"),
                min_score: Some(0.5),
                ..Default::default()
            },
        ),
        ("none", HistoryFilter::default()),
    ];
    let mut times = Vec::new();
    for (name, f) in &filters {
        let t = Instant::now();
        h.set_filter(f.clone());
        let took = wait_filtered(&mut h, t);
        let shown = h.shown.as_ref().expect("shown");
        println!(
            "filter {name:<24} {:>6} rows  {:>6.1} ms (filter + summaries on the thread {:.1} ms)",
            shown.rows.len(),
            ms(took),
            shown.filter_ms
        );
        times.push(ms(took));
    }
    println!(
        "filter update: median {:.1} ms, max {:.1} ms",
        pct(&times, 50.0),
        pct(&times, 100.0)
    );

    // 3. Export every row.
    for (format, file) in [
        (ExportFormat::Csv, "all.csv"),
        (ExportFormat::Jsonl, "all.jsonl"),
    ] {
        let path = root.join(file);
        let t = Instant::now();
        h.export(path.clone(), format, || {})
            .expect("export starts");
        let result = loop {
            let done = h.exports.poll();
            if let Some((_, r)) = done.into_iter().next() {
                break r.expect("the export ran");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let took = t.elapsed();
        println!(
            "export {file}: {} in {:.2} s ({:.1} MB)",
            result.expect("exported"),
            took.as_secs_f64(),
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
        );
    }
    drop(h);

    // 4. The station's frames while filtering.
    let mut app = harness(options, Settings::default(), egui::vec2(1280.0, 800.0));
    step_until(&mut app, "the fake engine", Duration::from_secs(30), |a| {
        a.is_ready()
    });
    app.state_mut().screen = Screen::History;
    let t = Instant::now();
    step_until(&mut app, "the history", Duration::from_secs(60), |a| {
        a.history.as_ref().is_some_and(|h| h.shown.is_some())
    });
    println!(
        "station: History screen to its first table {:.0} ms",
        ms(t.elapsed())
    );
    let searches = [
        "a",
        "an",
        "ana",
        "ana ",
        "ana b",
        "",
        "spoof",
        "id_card_0",
        "id_card_00",
        "ben",
        "",
    ];
    let verdicts = [None, Some("verified"), Some("review"), Some("not_verified")];
    let mut steps = Vec::new();
    let mut updates = Vec::new();
    let mut pending: Option<Instant> = None;
    let mut last_change = Instant::now();
    let mut changes = 0usize;
    // A change every 100 ms (a fast typist), frames as fast as the app asks for them.
    while changes < 40 || pending.is_some() {
        if pending.is_none() && last_change.elapsed() >= Duration::from_millis(100) {
            let s = app.state_mut();
            s.history_form.text = searches[changes % searches.len()].into();
            s.history_form.verdict = verdicts[(changes / 4) % verdicts.len()].map(str::to_string);
            changes += 1;
            last_change = Instant::now();
            pending = Some(last_change);
        }
        let t = Instant::now();
        app.step();
        steps.push(ms(t.elapsed()));
        if let Some(at) = pending {
            if app.state().history.as_ref().is_some_and(|h| !h.filtering()) {
                updates.push(ms(at.elapsed()));
                pending = None;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // A new record: the index is extended (a copy of it while the table still draws the old one).
    let text = std::fs::read_to_string(&log).expect("log");
    let last = text.lines().last().expect("a last line");
    let mut r = record(n, &key.key_id());
    r["seq"] = json!(n + 1);
    r["prevRecordSha256"] = json!(sha256_hex(last.as_bytes()));
    sign_record(&mut r, &key).expect("sign");
    drop(text);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open the log");
    std::io::Write::write_all(&mut f, format!("{r}\n").as_bytes()).expect("append");
    let t = Instant::now();
    if let Some(h) = app.state_mut().history.as_mut() {
        h.refresh();
    }
    let mut refresh_steps = Vec::new();
    while app
        .state()
        .history
        .as_ref()
        .and_then(|h| h.shown.as_ref())
        .is_none_or(|s| s.index.rows().len() != n + 1)
    {
        assert!(t.elapsed() < Duration::from_secs(30), "no refresh");
        let s = Instant::now();
        app.step();
        refresh_steps.push(ms(s.elapsed()));
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "a new record in the table after {:.0} ms (UI step p95 meanwhile {:.2} ms)",
        ms(t.elapsed()),
        pct(&refresh_steps, 95.0)
    );
    println!(
        "station frames while filtering ({} frames, {changes} filter changes 100 ms apart): whole kittest step (StationApp logic + ui + egui layout and tessellation, no GPU) p95 {:.2} ms (median {:.2}, max {:.1}); change to its table {:.0} ms median, {:.0} ms max",
        steps.len(),
        pct(&steps, 95.0),
        pct(&steps, 50.0),
        pct(&steps, 100.0),
        pct(&updates, 50.0),
        pct(&updates, 100.0),
    );
}
