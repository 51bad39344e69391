//! The desk's history: one row per record of the audit log, built once and then extended from
//! the byte offset where it stopped (so a log of 100,000 records is read once, not per frame),
//! with the filters and the daily summary the history screen shows. Reading, not verifying:
//! `record verify` and `verify_log_trusted` prove the log.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use time::{Date, OffsetDateTime};

use super::fsutil::open_read;
use super::log::is_tombstone;
use super::timeutil::parse_iso;
use super::{io_err, RecordError};

/// One record as the history lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub seq: u64,
    /// Byte offset of the line in the log (to open the record).
    pub offset: u64,
    pub time: Option<OffsetDateTime>,
    /// `compare`, `compare-live`, `liveness`, `configuration`, `key_rotation`, `purge`, `purged`.
    pub kind: String,
    /// `verified`, `not_verified`, `review`, or empty for records that decide nothing.
    pub verdict: String,
    pub reasons: Vec<String>,
    pub best_score: Option<f64>,
    pub gallery_names: Vec<String>,
    pub liveness: Option<String>,
    pub operator: Option<String>,
    pub engine: Option<String>,
    pub claimed_id: Option<String>,
    pub key_id: String,
    pub record_id: String,
    /// Lower-case text the search box matches against.
    haystack: String,
}

/// What the history screen filters on (every `None` / empty field matches all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryFilter {
    pub text: String,
    pub since: Option<Date>,
    pub until: Option<Date>,
    pub verdict: Option<String>,
    pub operator: Option<String>,
    pub min_score: Option<f64>,
    pub max_score: Option<f64>,
}

impl HistoryFilter {
    pub fn matches(&self, r: &HistoryRow) -> bool {
        let day = r.time.map(|t| t.date());
        let text = self.text.trim().to_lowercase();
        (text.is_empty() || r.haystack.contains(&text))
            && self.since.is_none_or(|s| day.is_some_and(|d| d >= s))
            && self.until.is_none_or(|u| day.is_some_and(|d| d <= u))
            && self.verdict.as_ref().is_none_or(|v| &r.verdict == v)
            && self
                .operator
                .as_ref()
                .is_none_or(|o| r.operator.as_ref() == Some(o))
            && self
                .min_score
                .is_none_or(|m| r.best_score.is_some_and(|s| s >= m))
            && self
                .max_score
                .is_none_or(|m| r.best_score.is_some_and(|s| s <= m))
    }
}

/// Counts for one day (UTC) or one operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub decisions: usize,
    pub verified: usize,
    pub not_verified: usize,
    pub review: usize,
    /// Decisions whose reasons include a failed liveness check.
    pub liveness_failures: usize,
    /// verified / decisions.
    pub pass_rate: Option<f64>,
    pub median_score: Option<f64>,
    pub by_operator: BTreeMap<String, usize>,
}

#[derive(Debug, Clone)]
pub struct HistoryIndex {
    path: PathBuf,
    rows: Vec<HistoryRow>,
    /// Where the next unread line starts.
    read_to: u64,
}

impl HistoryIndex {
    /// Reads the whole log once.
    pub fn load(path: &Path) -> Result<Self, RecordError> {
        let mut index = Self {
            path: path.to_path_buf(),
            rows: Vec::new(),
            read_to: 0,
        };
        index.refresh()?;
        Ok(index)
    }

    /// Reads the lines appended since the last call; returns how many rows were added.
    pub fn refresh(&mut self) -> Result<usize, RecordError> {
        let mut file = open_read(&self.path)?;
        file.seek(SeekFrom::Start(self.read_to))
            .map_err(io_err(&self.path))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = Vec::new();
        let before = self.rows.len();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(io_err(&self.path))?;
            if n == 0 || !line.ends_with(b"\n") {
                break; // end, or a line still being written: read it next time
            }
            let offset = self.read_to;
            self.read_to += n as u64;
            // A line that is not JSON is shown as such by `record verify`; the history skips it.
            if let Some(view) = LineView::parse(&line) {
                self.rows.push(row(view, offset));
            }
        }
        Ok(self.rows.len() - before)
    }

    /// Whether the log has grown past what was read (a cheap check before [`Self::refresh`]).
    pub fn has_unread(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() > self.read_to)
    }

    pub fn rows(&self) -> &[HistoryRow] {
        &self.rows
    }

    /// Indices of the rows `filter` keeps, newest first.
    pub fn filter(&self, filter: &HistoryFilter) -> Vec<usize> {
        (0..self.rows.len())
            .rev()
            .filter(|&i| filter.matches(&self.rows[i]))
            .collect()
    }

    /// The full record of a row, read from the log.
    pub fn record(&self, row: &HistoryRow) -> Result<Value, RecordError> {
        let mut file = open_read(&self.path)?;
        file.seek(SeekFrom::Start(row.offset))
            .map_err(io_err(&self.path))?;
        let mut line = Vec::new();
        BufReader::new(file)
            .read_until(b'\n', &mut line)
            .map_err(io_err(&self.path))?;
        Ok(serde_json::from_slice(&line)?)
    }

    /// Counts by day (UTC), over the given rows.
    pub fn daily(&self, rows: &[usize]) -> BTreeMap<Date, Summary> {
        let mut days: BTreeMap<Date, Vec<&HistoryRow>> = BTreeMap::new();
        for &i in rows {
            let r = &self.rows[i];
            if let Some(t) = r.time {
                days.entry(t.date()).or_default().push(r);
            }
        }
        days.into_iter()
            .map(|(d, rs)| (d, summarise(&rs)))
            .collect()
    }
}

/// The summary of a set of rows (records that decide nothing are left out).
pub fn summarise(rows: &[&HistoryRow]) -> Summary {
    let mut s = Summary::default();
    let mut scores = Vec::new();
    for r in rows.iter().filter(|r| !r.verdict.is_empty()) {
        s.decisions += 1;
        match r.verdict.as_str() {
            "verified" => s.verified += 1,
            "not_verified" => s.not_verified += 1,
            "review" => s.review += 1,
            _ => {}
        }
        if r.reasons
            .iter()
            .any(|x| x == "spoof" || x == "liveness_cannot_judge")
            || r.liveness.as_deref() == Some("spoof")
        {
            s.liveness_failures += 1;
        }
        if let Some(v) = r.best_score {
            scores.push(v);
        }
        *s.by_operator
            .entry(r.operator.clone().unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
    }
    s.pass_rate = (s.decisions > 0).then(|| s.verified as f64 / s.decisions as f64);
    scores.sort_by(f64::total_cmp);
    s.median_score = match scores.len() {
        0 => None,
        n if n % 2 == 1 => Some(scores[n / 2]),
        n => Some((scores[n / 2 - 1] + scores[n / 2]) / 2.0),
    };
    s
}

/// The fields of a log line the history lists. Read straight into these types (serde skips
/// the rest without building it: about twice as fast as a `Value` on station records); a line
/// whose fields have other types (older or foreign records) is read through a `Value` instead.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LineView {
    seq: Option<u64>,
    id: Option<String>,
    purged: Option<bool>,
    #[serde(rename = "originalTime")]
    original_time: Option<String>,
    data: DataView,
    station: StationView,
    signature: SignatureView,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct DataView {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "comparedAt")]
    compared_at: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: Option<String>,
    result: ResultView,
    liveness_score: Option<f64>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ResultView {
    score: Option<f64>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct StationView {
    verdict: Option<String>,
    passed: Option<bool>,
    reasons: Vec<String>,
    #[serde(rename = "galleryNames")]
    gallery_names: Vec<String>,
    liveness: Option<LivenessView>,
    operator: Option<String>,
    engine: Option<String>,
    #[serde(rename = "claimedId")]
    claimed_id: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct LivenessView {
    verdict: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SignatureView {
    #[serde(rename = "keyId")]
    key_id: Option<String>,
}

impl LineView {
    /// `None`: not JSON.
    fn parse(line: &[u8]) -> Option<Self> {
        match serde_json::from_slice::<LineView>(line) {
            Ok(v) => Some(v),
            Err(_) => serde_json::from_slice::<Value>(line)
                .ok()
                .map(|v| Self::from_value(&v)),
        }
    }

    /// The same fields from any JSON (a field of another type counts as absent).
    fn from_value(r: &Value) -> Self {
        let s = |p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
        let strings = |p: &str| -> Vec<String> {
            r.pointer(p)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            seq: r.get("seq").and_then(Value::as_u64),
            id: s("/id"),
            purged: is_tombstone(r).then_some(true),
            original_time: s("/originalTime"),
            data: DataView {
                kind: s("/data/type"),
                compared_at: s("/data/comparedAt"),
                created_at: s("/data/createdAt"),
                result: ResultView {
                    score: r.pointer("/data/result/score").and_then(Value::as_f64),
                },
                liveness_score: r.pointer("/data/liveness_score").and_then(Value::as_f64),
            },
            station: StationView {
                verdict: s("/station/verdict"),
                passed: r.pointer("/station/passed").and_then(Value::as_bool),
                reasons: strings("/station/reasons"),
                gallery_names: strings("/station/galleryNames"),
                liveness: Some(LivenessView {
                    verdict: s("/station/liveness/verdict"),
                }),
                operator: s("/station/operator"),
                engine: s("/station/engine"),
                claimed_id: s("/station/claimedId"),
            },
            signature: SignatureView {
                key_id: s("/signature/keyId"),
            },
        }
    }
}

fn row(r: LineView, offset: u64) -> HistoryRow {
    let kind = if r.purged == Some(true) {
        "purged".to_string()
    } else {
        r.data.kind.unwrap_or_default()
    };
    let time = r
        .data
        .compared_at
        .or(r.data.created_at)
        .or(r.original_time)
        .and_then(|t| parse_iso(&t));
    let liveness = r.station.liveness.and_then(|l| l.verdict);
    let verdict = match kind.as_str() {
        "compare" | "compare-live" => r.station.verdict.unwrap_or_else(|| {
            // Records from before the verdict existed: their overall `passed`.
            match r.station.passed {
                Some(true) => "verified".into(),
                _ => "not_verified".into(),
            }
        }),
        "liveness" => match liveness.as_deref() {
            Some("live") => "verified".into(),
            Some("cannot_judge") => "review".into(),
            _ => "not_verified".into(),
        },
        _ => String::new(),
    };
    let best_score = match kind.as_str() {
        "liveness" => r.data.liveness_score,
        _ => r.data.result.score,
    };
    let mut out = HistoryRow {
        seq: r.seq.unwrap_or(0),
        offset,
        time,
        kind,
        verdict,
        reasons: r.station.reasons,
        best_score,
        gallery_names: r.station.gallery_names,
        liveness,
        operator: r.station.operator,
        engine: r.station.engine,
        claimed_id: r.station.claimed_id,
        key_id: r.signature.key_id.unwrap_or_default(),
        record_id: r.id.unwrap_or_default(),
        haystack: String::new(),
    };
    out.haystack = [
        out.record_id.as_str(),
        out.kind.as_str(),
        out.verdict.as_str(),
        &out.reasons.join(" "),
        &out.gallery_names.join(" "),
        out.operator.as_deref().unwrap_or(""),
        out.claimed_id.as_deref().unwrap_or(""),
        out.engine.as_deref().unwrap_or(""),
    ]
    .join(" ")
    .to_lowercase();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::time::Instant;

    fn line(seq: u64, verdict: &str, score: f64, operator: &str, day: u32) -> String {
        serde_json::json!({
            "id": format!("r{seq}"),
            "seq": seq,
            "data": {"type": "compare-live", "comparedAt": format!("2026-11-{day:02}T10:00:00.000Z"),
                     "result": {"score": score}},
            "station": {"verdict": verdict, "reasons": if verdict == "verified" { vec![] } else { vec!["no_match"] },
                        "operator": operator, "galleryNames": [format!("id-{seq}.jpg")],
                        "liveness": {"verdict": "live"}},
            "signature": {"keyId": "k1"},
        })
        .to_string()
    }

    fn write(path: &Path, from: u64, to: u64) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("log");
        let mut buf = String::new();
        for i in from..to {
            let v = if i % 3 == 0 {
                "not_verified"
            } else {
                "verified"
            };
            let op = if i % 2 == 0 { "ana" } else { "ben" };
            buf.push_str(&line(
                i,
                v,
                (i % 100) as f64 / 100.0,
                op,
                1 + (i % 28) as u32,
            ));
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).expect("write");
    }

    #[test]
    fn filters_search_and_summaries() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        write(&path, 1, 31);
        let mut index = HistoryIndex::load(&path).expect("index");
        assert_eq!(index.rows().len(), 30);
        let f = HistoryFilter {
            verdict: Some("not_verified".into()),
            operator: Some("ana".into()),
            ..HistoryFilter::default()
        };
        let kept = index.filter(&f);
        assert!(kept.iter().all(|&i| {
            let r = &index.rows()[i];
            r.verdict == "not_verified" && r.operator.as_deref() == Some("ana")
        }));
        assert_eq!(kept.len(), 5, "seq 6, 12, 18, 24, 30");
        let text = HistoryFilter {
            text: "ID-17.JPG".into(),
            ..HistoryFilter::default()
        };
        assert_eq!(index.filter(&text).len(), 1);
        let all = index.filter(&HistoryFilter::default());
        let days = index.daily(&all);
        let total: usize = days.values().map(|s| s.decisions).sum();
        assert_eq!(total, 30);
        let record = index.record(&index.rows()[4]).expect("record");
        assert_eq!(record["seq"], 5);
        // Appending is read incrementally.
        write(&path, 31, 41);
        assert_eq!(index.refresh().expect("refresh"), 10);
        assert_eq!(index.rows().len(), 40);
    }

    #[test]
    fn a_line_with_fields_of_other_types_is_still_listed() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        let odd = serde_json::json!({
            "id": "x1", "seq": 1,
            "data": {"type": "compare", "createdAt": "2026-11-02T10:00:00.000Z", "result": null},
            "station": {"verdict": "review", "reasons": [1, "borderline"], "operator": {"name": "Ana"},
                        "liveness": null},
        });
        std::fs::write(
            &path,
            format!("{odd}\nnot json\n{}\n", line(2, "verified", 0.9, "ben", 3)),
        )
        .expect("write");
        let index = HistoryIndex::load(&path).expect("index");
        assert_eq!(index.rows().len(), 2, "the non-JSON line is skipped");
        let r = &index.rows()[0];
        assert_eq!(
            (r.verdict.as_str(), r.reasons.clone()),
            ("review", vec!["borderline".to_string()])
        );
        assert_eq!(
            (r.operator.clone(), r.best_score, r.time.is_some()),
            (None, None, true)
        );
        let typed = &index.rows()[1];
        assert_eq!(typed.operator.as_deref(), Some("ben"));
        assert_eq!(typed.liveness.as_deref(), Some("live"));
        assert_eq!(typed.gallery_names, vec!["id-2.jpg".to_string()]);
        assert_eq!(typed.key_id, "k1");
    }

    /// The desk's scale: 100,000 records. The bounds here only catch a quadratic slip (the
    /// machine may be loaded); the measured times are in the README (`cargo test --release`).
    #[test]
    fn a_log_of_100k_records_opens_and_filters_fast() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("audit.jsonl");
        write(&path, 1, 100_001);
        let t = Instant::now();
        let index = HistoryIndex::load(&path).expect("index");
        let open = t.elapsed();
        assert_eq!(index.rows().len(), 100_000);
        let t = Instant::now();
        let kept = index.filter(&HistoryFilter {
            text: "ben".into(),
            min_score: Some(0.5),
            ..HistoryFilter::default()
        });
        let filter = t.elapsed();
        assert!(!kept.is_empty());
        eprintln!("100k records: open {open:?}, filter {filter:?}");
        assert!(open.as_secs_f64() < 20.0, "open took {open:?}");
        assert!(filter.as_secs_f64() < 2.0, "filter took {filter:?}");
    }
}
