//! Exporting an audit log as a table (CSV or JSON Lines) for the desk's
//! reports, one row per record, streamed: memory stays flat whatever the
//! log's size.
//!
//! Columns: `seq, time, type, verdict, reasons, score, threshold,
//! search_mode, engine, operator, gallery_count, key_id, record_id`.
//!
//! * time: `data.comparedAt`, else `data.createdAt` (a tombstone's
//!   `originalTime`).
//! * verdict: `station.verdict` if present; else `verified` /
//!   `not_verified` from `station.passed` (compare records) or
//!   `data.passed` (liveness records); empty for key rotations, purges
//!   and purged records.
//! * reasons: `station.reasons` joined by `;`.
//! * score: `data.result.score` (liveness records: `data.liveness_score`);
//!   threshold: `station.threshold`, else `data.result.compare_min_score`
//!   (liveness: `data.min_score`).
//! * type: `data.type`; `purged` for a tombstone.
//!
//! Export reads, it does not verify: run `record verify` for that. A torn
//! last line (a write in progress) is skipped, as readers do.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use time::Date;

use super::fsutil::open_read;
use super::log::{is_tombstone, shared_read_lock};
use super::timeutil::{parse_date, parse_iso};
use super::{io_err, RecordError};

/// Output format of [`export_log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per line, same fields as the CSV columns.
    Jsonl,
}

/// Which records to export (all when every field is `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportFilter {
    /// First day included (UTC).
    pub since: Option<Date>,
    /// Last day included (UTC).
    pub until: Option<Date>,
    /// Only rows with this verdict (e.g. `verified`, `not_verified`).
    pub verdict: Option<String>,
}

impl ExportFilter {
    /// Parses `YYYY-MM-DD` for `since`/`until`.
    pub fn date(s: &str) -> Result<Date, String> {
        parse_date(s).ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD)"))
    }
}

/// Counts of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Records read.
    pub read: usize,
    /// Rows written.
    pub written: usize,
    /// Records left out by a date filter because their time is missing or
    /// unreadable.
    pub no_time: usize,
}

pub const COLUMNS: [&str; 13] = [
    "seq",
    "time",
    "type",
    "verdict",
    "reasons",
    "score",
    "threshold",
    "search_mode",
    "engine",
    "operator",
    "gallery_count",
    "key_id",
    "record_id",
];

/// One exported row; field order is the column order.
#[derive(Debug, Serialize)]
struct Row<'a> {
    seq: Option<u64>,
    time: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    verdict: Option<&'a str>,
    reasons: Option<Cow<'a, str>>,
    score: Option<f64>,
    threshold: Option<f64>,
    search_mode: Option<&'a str>,
    engine: Option<&'a str>,
    operator: Option<Cow<'a, str>>,
    gallery_count: Option<usize>,
    key_id: Option<&'a str>,
    record_id: Option<&'a str>,
}

fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// A person's name or a free text: a string, or `name` of an object.
fn operator(v: &Value) -> Cow<'_, str> {
    match v.get("name") {
        Some(Value::String(s)) => Cow::Borrowed(s),
        _ => text(v),
    }
}

fn row(r: &Value) -> Row<'_> {
    let s = |p: &str| r.pointer(p).and_then(Value::as_str);
    let f = |p: &str| r.pointer(p).and_then(Value::as_f64);
    let base = |kind, time| Row {
        seq: r.get("seq").and_then(Value::as_u64),
        time,
        kind,
        verdict: None,
        reasons: None,
        score: None,
        threshold: None,
        search_mode: None,
        engine: None,
        operator: None,
        gallery_count: None,
        key_id: s("/signature/keyId"),
        record_id: s("/id"),
    };
    if is_tombstone(r) {
        return base(Some("purged"), s("/originalTime"));
    }
    let kind = s("/data/type");
    let mut row = base(kind, s("/data/comparedAt").or_else(|| s("/data/createdAt")));
    let liveness = kind == Some("liveness");
    let passed = if liveness {
        r.pointer("/data/passed")
    } else {
        r.pointer("/station/passed")
    }
    .and_then(Value::as_bool);
    row.verdict = s("/station/verdict").or(match passed {
        Some(true) => Some("verified"),
        Some(false) => Some("not_verified"),
        None => None,
    });
    row.reasons = r.pointer("/station/reasons").map(|v| match v {
        Value::Array(items) => Cow::Owned(items.iter().map(text).collect::<Vec<_>>().join(";")),
        other => text(other),
    });
    if liveness {
        row.score = f("/data/liveness_score");
        row.threshold = f("/station/threshold").or_else(|| f("/data/min_score"));
    } else {
        row.score = f("/data/result/score");
        row.threshold = f("/station/threshold").or_else(|| f("/data/result/compare_min_score"));
    }
    row.search_mode = s("/data/search_mode");
    row.engine = s("/station/engine");
    row.operator = r.pointer("/station/operator").map(operator);
    row.gallery_count = r
        .pointer("/data/gallery")
        .or_else(|| r.pointer("/station/gallery"))
        .and_then(Value::as_array)
        .map(Vec::len);
    row
}

/// Writes one CSV field (RFC 4180 quoting). Text that a spreadsheet would
/// run as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`: operator
/// names and reasons can come from people.
fn csv_field(out: &mut impl Write, value: &str, free_text: bool) -> std::io::Result<()> {
    let guard = free_text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if value.contains([',', '"', '\n', '\r']) || guard {
        out.write_all(b"\"")?;
        if guard {
            out.write_all(b"'")?;
        }
        out.write_all(value.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(value.as_bytes())
    }
}

fn write_csv_row(out: &mut impl Write, row: &Row<'_>) -> std::io::Result<()> {
    fn num<T: std::fmt::Display>(out: &mut impl Write, v: Option<T>) -> std::io::Result<()> {
        match v {
            Some(v) => write!(out, "{v}"),
            None => Ok(()),
        }
    }
    let field = |out: &mut _, v: Option<&str>, free: bool| match v {
        Some(v) => csv_field(out, v, free),
        None => Ok(()),
    };
    num(out, row.seq)?;
    out.write_all(b",")?;
    field(out, row.time, false)?;
    out.write_all(b",")?;
    field(out, row.kind, false)?;
    out.write_all(b",")?;
    field(out, row.verdict, false)?;
    out.write_all(b",")?;
    field(out, row.reasons.as_deref(), true)?;
    out.write_all(b",")?;
    num(out, row.score)?;
    out.write_all(b",")?;
    num(out, row.threshold)?;
    out.write_all(b",")?;
    field(out, row.search_mode, false)?;
    out.write_all(b",")?;
    field(out, row.engine, false)?;
    out.write_all(b",")?;
    field(out, row.operator.as_deref(), true)?;
    out.write_all(b",")?;
    num(out, row.gallery_count)?;
    out.write_all(b",")?;
    field(out, row.key_id, false)?;
    out.write_all(b",")?;
    field(out, row.record_id, false)?;
    out.write_all(b"\r\n")
}

/// Writes the records of `log` that pass `filter` to `out` as `format`.
pub fn export_log(
    log: &Path,
    filter: &ExportFilter,
    format: ExportFormat,
    out: impl Write,
) -> Result<ExportStats, RecordError> {
    export_where(log, format, out, |_, row, stats| {
        if filter.since.is_some() || filter.until.is_some() {
            let Some(day) = row
                .time
                .and_then(parse_iso)
                .map(|t| t.to_offset(time::UtcOffset::UTC).date())
            else {
                stats.no_time += 1;
                return false;
            };
            if filter.since.is_some_and(|s| day < s) || filter.until.is_some_and(|u| day > u) {
                return false;
            }
        }
        filter
            .verdict
            .as_ref()
            .is_none_or(|v| row.verdict == Some(v.as_str()))
    })
}

/// Writes the records whose lines start at `offsets` (byte offsets into `log`, ascending, as
/// `history::HistoryRow::offset` keeps them): the rows a history screen's filter kept, in the
/// same columns as [`export_log`].
pub fn export_log_at(
    log: &Path,
    offsets: &[u64],
    format: ExportFormat,
    out: impl Write,
) -> Result<ExportStats, RecordError> {
    export_where(log, format, out, |offset, _, _| {
        offsets.binary_search(&offset).is_ok()
    })
}

/// The export loop: every complete line of `log`, parsed, kept when `keep(line offset, row,
/// stats)` says so.
fn export_where(
    log: &Path,
    format: ExportFormat,
    out: impl Write,
    mut keep: impl FnMut(u64, &Row<'_>, &mut ExportStats) -> bool,
) -> Result<ExportStats, RecordError> {
    let file = open_read(log)?;
    let _lock = shared_read_lock(log);
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    // Errors writing the output are not about the log: name the output.
    let out_err = |e: std::io::Error| io_err(Path::new("<export output>"))(e);
    if format == ExportFormat::Csv {
        out.write_all(COLUMNS.join(",").as_bytes())
            .and_then(|()| out.write_all(b"\r\n"))
            .map_err(out_err)?;
    }
    let mut stats = ExportStats::default();
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io_err(log))?;
        if n == 0 {
            break;
        }
        let Some(bytes) = line.strip_suffix(b"\n") else {
            break; // torn last line: being written
        };
        let at = offset;
        offset += n as u64;
        stats.read += 1;
        let k = stats.read;
        let record: Value = serde_json::from_slice(bytes).map_err(|e| RecordError::BadLine {
            line: k,
            reason: format!("not JSON ({e}); run `facestation record verify`"),
        })?;
        let row = row(&record);
        if !keep(at, &row, &mut stats) {
            continue;
        }
        match format {
            ExportFormat::Csv => write_csv_row(&mut out, &row).map_err(out_err)?,
            ExportFormat::Jsonl => {
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n").map_err(out_err)?;
            }
        }
        stats.written += 1;
    }
    out.flush().map_err(out_err)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::keys::StationKey;
    use crate::record::testutil::{compare_record, write_log};
    use serde_json::json;

    fn export(path: &Path, filter: &ExportFilter, format: ExportFormat) -> (String, ExportStats) {
        let mut out = Vec::new();
        let stats = export_log(path, filter, format, &mut out).expect("export");
        (String::from_utf8(out).expect("utf8"), stats)
    }

    /// Splits RFC 4180 CSV (quoted fields, doubled quotes, CRLF rows).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {}
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        rows
    }

    fn sample_log(dir: &Path, key: &StationKey) -> std::path::PathBuf {
        let path = dir.join("audit.jsonl");
        let mut a = compare_record(0, "2024-04-30T23:59:59.999Z", 0.91);
        a["station"]["operator"] = json!("=HYPERLINK(\"x\")");
        a["station"]["reasons"] = json!(["score, below", "liveness \"low\""]);
        let b = compare_record(1, "2024-05-01T00:00:00.000Z", 0.40);
        let mut c = compare_record(2, "2024-05-02T12:00:00.000+02:00", 0.95);
        c["station"]["verdict"] = json!("manual_review");
        c["station"]["operator"] = json!({"name": "Zoë Ñúñez", "id": 7});
        let live = json!({
            "id": "liv01",
            "data": {"type": "liveness", "passed": false, "min_score": 0.6,
                     "liveness_score": 0.2, "createdAt": "2024-05-03T08:00:00.000Z"},
            "station": {"engine": "local"},
        });
        let no_time = json!({"id": "odd", "data": {"type": "compare"}});
        write_log(&path, key, vec![a, b, c, live, no_time]);
        path
    }

    #[test]
    fn csv_has_every_column_properly_escaped() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StationKey::generate().expect("rng");
        let path = sample_log(dir.path(), &key);
        let (text, stats) = export(&path, &ExportFilter::default(), ExportFormat::Csv);
        assert_eq!((stats.read, stats.written), (5, 5));
        let rows = parse_csv(&text);
        assert_eq!(rows[0], COLUMNS.map(str::to_owned));
        assert!(rows.iter().all(|r| r.len() == COLUMNS.len()), "{rows:?}");
        let kid = key.key_id();
        assert_eq!(
            rows[1],
            [
                "1",
                "2024-04-30T23:59:59.999Z",
                "compare",
                "verified",
                "score, below;liveness \"low\"",
                "0.91",
                "0.85",
                "FAST",
                "local",
                "'=HYPERLINK(\"x\")",
                "2",
                &kid,
                "r0000"
            ]
        );
        assert_eq!(rows[2][3], "not_verified");
        assert_eq!(rows[2][5], "0.4");
        assert_eq!(rows[3][3], "manual_review");
        assert_eq!(rows[3][9], "Zoë Ñúñez");
        assert_eq!(
            &rows[4][..7],
            [
                "4",
                "2024-05-03T08:00:00.000Z",
                "liveness",
                "not_verified",
                "",
                "0.2",
                "0.6"
            ]
        );
        assert_eq!(rows[5][0..4], ["5", "", "compare", ""]);
    }

    #[test]
    fn filters_by_utc_day_and_verdict_and_jsonl_has_the_same_fields() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StationKey::generate().expect("rng");
        let path = sample_log(dir.path(), &key);
        let day = |s| Some(ExportFilter::date(s).expect("date"));
        let seqs = |f: ExportFilter| -> (Vec<u64>, ExportStats) {
            let (text, stats) = export(&path, &f, ExportFormat::Jsonl);
            let seqs = text
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).expect("json");
                    assert_eq!(v.as_object().map(|o| o.len()), Some(COLUMNS.len()));
                    v["seq"].as_u64().expect("seq")
                })
                .collect();
            (seqs, stats)
        };
        let may1 = ExportFilter {
            since: day("2024-05-01"),
            until: day("2024-05-01"),
            ..Default::default()
        };
        // Record 3 is 2024-05-02T10:00Z in UTC, record 1 is April 30.
        let (s, stats) = seqs(may1);
        assert_eq!(s, vec![2]);
        assert_eq!(stats.no_time, 1);
        let (s, _) = seqs(ExportFilter {
            since: day("2024-05-02"),
            ..Default::default()
        });
        assert_eq!(s, vec![3, 4]);
        let (s, _) = seqs(ExportFilter {
            verdict: Some("not_verified".into()),
            ..Default::default()
        });
        assert_eq!(s, vec![2, 4]);
        let (text, _) = export(&path, &ExportFilter::default(), ExportFormat::Jsonl);
        let first: Value = serde_json::from_str(text.lines().next().expect("row")).expect("json");
        assert_eq!(first["score"], 0.91);
        assert_eq!(first["gallery_count"], 2);
        assert_eq!(first["operator"], "=HYPERLINK(\"x\")");
        assert!(ExportFilter::date("2024-5-1").is_err());
    }

    #[test]
    fn export_at_offsets_writes_exactly_those_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StationKey::generate().expect("rng");
        let path = sample_log(dir.path(), &key);
        let text = std::fs::read_to_string(&path).expect("log");
        let mut offsets = Vec::new();
        let mut at = 0u64;
        for line in text.split_inclusive('\n') {
            offsets.push(at);
            at += line.len() as u64;
        }
        let keep = [offsets[1], offsets[3]];
        let mut out = Vec::new();
        let stats = export_log_at(&path, &keep, ExportFormat::Jsonl, &mut out).expect("export");
        let seqs: Vec<u64> = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("json")["seq"]
                    .as_u64()
                    .expect("seq")
            })
            .collect();
        assert_eq!(seqs, vec![2, 4]);
        assert_eq!(stats.written, 2);
    }

    /// Streaming speed on a synthetic log: 10k records here; 100k with
    /// `cargo test --release --lib export_100k -- --ignored --nocapture`
    /// (scripts/bench-desk.sh).
    #[test]
    fn export_10k_records_streams_fast() {
        let (took, rows) = export_n(10_000);
        eprintln!("export of 10k records: {took:?}");
        assert_eq!(rows, 10_001);
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }

    #[test]
    #[ignore = "100k signed records take a while to generate; run in release"]
    fn export_100k_records_under_5s() {
        let (took, rows) = export_n(100_000);
        eprintln!("export of 100k records: {took:?}");
        assert_eq!(rows, 100_001);
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }

    /// Writes `n` signed records shaped like the station's (~2 KB each) and
    /// times a CSV export of them; returns (time, CSV rows incl. header).
    fn export_n(n: usize) -> (std::time::Duration, usize) {
        let dir = tempfile::tempdir().expect("tmp");
        let key = StationKey::generate().expect("rng");
        let path = dir.path().join("audit.jsonl");
        let t = std::time::Instant::now();
        let records = (0..n)
            .map(|i| {
                let mut r =
                    compare_record(i, "2024-05-01T10:00:00.000Z", 0.5 + (i % 50) as f64 / 100.0);
                r["station"]["models"] = json!([
                    {"name": "det_10g.onnx", "sha256": "a".repeat(64)},
                    {"name": "w600k_r50.onnx", "sha256": "b".repeat(64)},
                    {"name": "liveness.onnx", "sha256": "c".repeat(64)},
                ]);
                r["station"]["timingsMs"] =
                    json!({"decode": 3.2, "detect": 21.5, "embed": 40.1, "total": 70.0});
                r["station"]["gallery"] = json!([
                    {"sha256": "d".repeat(64), "score": 0.9, "facesFound": 1},
                    {"sha256": "e".repeat(64), "score": 0.3, "facesFound": 1},
                ]);
                r["station"]["operator"] = json!(format!("desk-{}", i % 7));
                r
            })
            .collect();
        write_log(&path, &key, records);
        eprintln!(
            "generated {n} records ({} MB) in {:?}",
            std::fs::metadata(&path).expect("meta").len() / 1_000_000,
            t.elapsed()
        );
        let t = std::time::Instant::now();
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(dir.path().join("out.csv")).expect("out"),
        );
        let stats = export_log(&path, &ExportFilter::default(), ExportFormat::Csv, &mut out)
            .expect("export");
        out.flush().expect("flush");
        let took = t.elapsed();
        assert_eq!(stats.written, n);
        let rows = std::fs::read_to_string(dir.path().join("out.csv"))
            .expect("read")
            .lines()
            .count();
        (took, rows)
    }
}
