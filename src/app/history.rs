//! The history screen's data: the audit log's [`HistoryIndex`] built and kept on a thread of its
//! own ("history"), which also filters, summarises, opens records and checks their signature and
//! key. The UI thread only sends requests and takes the answers (each followed by a repaint), so
//! a log of 100,000 records never holds up a frame: while a filter runs, the previous result
//! stays on screen.
//!
//! The index is shared as an `Arc`: the thread extends it in place when it alone holds it, and
//! copies it first when a frame still draws the old one (`Arc::make_mut`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use serde_json::Value;
use time::Date;

use super::state::ShownRecord;
use super::tasks::BackgroundTasks;
use crate::record::history::{summarise, HistoryFilter, HistoryIndex, Summary};
use crate::record::{export_log_at, ExportFormat, TrustedKeys};

/// One filter's result, with the index it indexes into (so rows and index always agree).
pub struct Filtered {
    pub index: Arc<HistoryIndex>,
    pub filter: HistoryFilter,
    /// Row indices kept, newest first.
    pub rows: Vec<usize>,
    pub total: Summary,
    pub daily: Vec<(Date, Summary)>,
    /// Every operator named in the log (for the filter's choice).
    pub operators: Arc<Vec<String>>,
    /// Time the thread took to filter and summarise.
    pub filter_ms: f64,
    /// The request this answers.
    pub generation: u64,
}

/// A record opened from the history: the record panel's view of it, and whether its key is one
/// the station trusts (its own, or one it retired by rotation).
pub struct OpenedRecord {
    pub row: usize,
    pub shown: ShownRecord,
    pub key_trusted: Result<String, String>,
}

enum Request {
    Refresh,
    Filter(u64, HistoryFilter),
    Open(usize),
}

enum Reply {
    Loaded { ms: f64, rows: usize },
    Failed(String),
    Filtered(Arc<Filtered>),
    Opened(Box<Result<OpenedRecord, String>>),
}

/// The UI's end of the history.
pub struct History {
    log: PathBuf,
    key: Option<PathBuf>,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    /// The newest filter result (kept while a newer one is computed).
    pub shown: Option<Arc<Filtered>>,
    /// Time the first load took, and the rows it read.
    pub loaded: Option<(f64, usize)>,
    pub error: Option<String>,
    /// The generation of the newest filter sent; `shown` is current when it matches.
    sent: u64,
    /// The newest filter sent.
    wanted: HistoryFilter,
    pub selected: Option<usize>,
    pub opened: Option<Result<OpenedRecord, String>>,
    opening: bool,
    /// When the newest filter was sent (for the time to an updated table).
    sent_at: Option<Instant>,
    /// Request to result of the last filter, as the UI saw it.
    pub last_update_ms: Option<f64>,
    pub exports: BackgroundTasks<Result<String, String>>,
}

impl History {
    /// Starts the history thread on `log`; it loads the index at once. `key`: the station key
    /// file, whose public key (and retired ones) a record's signer is checked against.
    pub fn start(log: &Path, key: Option<PathBuf>, wake: impl Fn() + Send + 'static) -> Self {
        let (requests, request_rx) = channel();
        let (reply_tx, replies) = channel();
        let log_path = log.to_path_buf();
        let key_path = key.clone();
        let spawned = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                serve(
                    &log_path,
                    key_path.as_deref(),
                    &request_rx,
                    &reply_tx,
                    &wake,
                )
            });
        let error = spawned
            .err()
            .map(|e| format!("the history could not start: {e}"));
        let mut h = Self {
            log: log.to_path_buf(),
            key,
            requests,
            replies,
            shown: None,
            loaded: None,
            error,
            sent: 0,
            wanted: HistoryFilter::default(),
            selected: None,
            opened: None,
            opening: false,
            sent_at: None,
            last_update_ms: None,
            exports: BackgroundTasks::default(),
        };
        h.set_filter(HistoryFilter::default());
        h
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn key_path(&self) -> Option<&Path> {
        self.key.as_deref()
    }

    /// Still loading the log (nothing to show yet).
    pub fn loading(&self) -> bool {
        self.shown.is_none() && self.error.is_none()
    }

    /// A filter is being computed (the table shows the previous one).
    pub fn filtering(&self) -> bool {
        self.shown
            .as_ref()
            .is_none_or(|s| s.generation != self.sent)
    }

    pub fn opening(&self) -> bool {
        self.opening
    }

    /// Shows the rows `filter` keeps, if that is not the filter already asked for.
    pub fn want(&mut self, filter: HistoryFilter) {
        if filter != self.wanted {
            self.set_filter(filter);
        }
    }

    /// Shows the rows `filter` keeps (computed on the history thread).
    pub fn set_filter(&mut self, filter: HistoryFilter) {
        self.wanted = filter.clone();
        self.sent += 1;
        self.sent_at = Some(Instant::now());
        let _ = self.requests.send(Request::Filter(self.sent, filter));
    }

    /// Reads the records appended since the last read (after each new record).
    pub fn refresh(&mut self) {
        let _ = self.requests.send(Request::Refresh);
    }

    /// Opens row `row` of the index: the record, its signature and whether its key is trusted.
    pub fn open(&mut self, row: usize) {
        self.selected = Some(row);
        self.opening = true;
        let _ = self.requests.send(Request::Open(row));
    }

    /// Takes the thread's answers; true if anything changed.
    pub fn poll(&mut self) -> bool {
        let mut changed = false;
        loop {
            match self.replies.try_recv() {
                Ok(Reply::Loaded { ms, rows }) => {
                    self.loaded.get_or_insert((ms, rows));
                    changed = true;
                }
                Ok(Reply::Failed(e)) => {
                    self.error = Some(e);
                    changed = true;
                }
                Ok(Reply::Filtered(f)) => {
                    if f.generation == self.sent {
                        self.last_update_ms = self
                            .sent_at
                            .take()
                            .map(|t| t.elapsed().as_secs_f64() * 1000.0)
                            .or(self.last_update_ms);
                    }
                    self.shown = Some(f);
                    self.error = None;
                    changed = true;
                }
                Ok(Reply::Opened(r)) => {
                    self.opening = false;
                    // An answer for a row no longer selected is dropped.
                    let current = match &*r {
                        Ok(o) => Some(o.row) == self.selected,
                        Err(_) => true,
                    };
                    if current {
                        self.opened = Some(*r);
                    }
                    changed = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if self.error.is_none() {
                        self.error = Some("the history thread stopped".into());
                        changed = true;
                    }
                    break;
                }
            }
        }
        changed
    }

    /// Writes the rows on screen to `path` as `format`, on a task of its own.
    pub fn export(
        &mut self,
        path: PathBuf,
        format: ExportFormat,
        wake: impl Fn() + Send + 'static,
    ) -> Result<(), String> {
        let Some(shown) = self.shown.clone() else {
            return Err("the history is still loading".into());
        };
        let log = self.log.clone();
        self.exports
            .spawn(EXPORT_TASK, wake, move || {
                let mut offsets: Vec<u64> = shown
                    .rows
                    .iter()
                    .map(|&i| shown.index.rows()[i].offset)
                    .collect();
                offsets.sort_unstable();
                let file = std::fs::File::create(&path)
                    .map_err(|e| format!("could not write {}: {e}", path.display()))?;
                let stats = export_log_at(&log, &offsets, format, file)
                    .map_err(|e| format!("the export to {} failed: {e}", path.display()))?;
                Ok(format!(
                    "{} rows exported to {}",
                    stats.written,
                    path.display()
                ))
            })
            .map_err(|e| e.to_string())
    }
}

/// The name of the export task (one at a time).
pub const EXPORT_TASK: &str = "exporting the history";

fn serve(
    log: &Path,
    key: Option<&Path>,
    requests: &Receiver<Request>,
    replies: &Sender<Reply>,
    wake: &dyn Fn(),
) {
    let reply = |r: Reply| {
        let ok = replies.send(r).is_ok();
        wake();
        ok
    };
    let t = Instant::now();
    let mut index = match HistoryIndex::load(log) {
        Ok(i) => Arc::new(i),
        Err(e) => {
            reply(Reply::Failed(format!(
                "the audit log {} could not be read: {e}",
                log.display()
            )));
            return;
        }
    };
    let mut operators = Arc::new(operators_of(&index));
    if !reply(Reply::Loaded {
        ms: t.elapsed().as_secs_f64() * 1000.0,
        rows: index.rows().len(),
    }) {
        return;
    }
    let mut filter: Option<(u64, HistoryFilter)> = None;
    while let Ok(first) = requests.recv() {
        // Take everything queued: only the newest filter matters (typing sends one per key).
        let mut refresh = false;
        let mut new_filter = None;
        let mut open = None;
        for r in std::iter::once(first).chain(std::iter::from_fn(|| requests.try_recv().ok())) {
            match r {
                Request::Refresh => refresh = true,
                Request::Filter(g, f) => new_filter = Some((g, f)),
                Request::Open(row) => open = Some(row),
            }
        }
        // `make_mut` copies the index while a frame still holds it: only when there is
        // something new to read (a Recent event also comes without a new line).
        if refresh && index.has_unread() {
            match Arc::make_mut(&mut index).refresh() {
                Ok(0) => {}
                Ok(_) => {
                    operators = Arc::new(operators_of(&index));
                    // The rows on screen are re-filtered with the new ones.
                    if new_filter.is_none() {
                        new_filter = filter.clone();
                    }
                }
                Err(e) => {
                    if !reply(Reply::Failed(format!(
                        "the audit log could not be re-read: {e}"
                    ))) {
                        return;
                    }
                }
            }
        }
        if let Some((generation, f)) = new_filter {
            let done = filtered(&index, &operators, f.clone(), generation);
            filter = Some((generation, f));
            if !reply(Reply::Filtered(Arc::new(done))) {
                return;
            }
        }
        if let Some(row) = open {
            let opened = open_row(&index, row, key);
            if !reply(Reply::Opened(Box::new(opened))) {
                return;
            }
        }
    }
}

fn operators_of(index: &HistoryIndex) -> Vec<String> {
    let set: BTreeSet<&str> = index
        .rows()
        .iter()
        .filter_map(|r| r.operator.as_deref())
        .collect();
    set.into_iter().map(str::to_string).collect()
}

/// Filters and summarises (the thread's work for one filter).
fn filtered(
    index: &Arc<HistoryIndex>,
    operators: &Arc<Vec<String>>,
    filter: HistoryFilter,
    generation: u64,
) -> Filtered {
    let t = Instant::now();
    let rows = index.filter(&filter);
    let refs: Vec<_> = rows.iter().map(|&i| &index.rows()[i]).collect();
    let total = summarise(&refs);
    let daily: BTreeMap<Date, Summary> = index.daily(&rows);
    Filtered {
        index: index.clone(),
        filter,
        rows,
        total,
        // Newest day first, like the rows.
        daily: daily.into_iter().rev().collect(),
        operators: operators.clone(),
        filter_ms: t.elapsed().as_secs_f64() * 1000.0,
        generation,
    }
}

fn open_row(index: &HistoryIndex, row: usize, key: Option<&Path>) -> Result<OpenedRecord, String> {
    let r = index
        .rows()
        .get(row)
        .ok_or_else(|| format!("no row {row} in the history"))?;
    let record = index
        .record(r)
        .map_err(|e| format!("record {} could not be read: {e}", r.seq))?;
    let key_trusted = key_trust(&record, key);
    Ok(OpenedRecord {
        row,
        shown: ShownRecord::new(record, true),
        key_trusted,
    })
}

/// Whether `record` is signed by the station's key (or one it retired by rotation): `Ok` with
/// the words to show, `Err` with why not.
pub fn key_trust(record: &Value, key: Option<&Path>) -> Result<String, String> {
    let key = key.ok_or("no station key to check against")?;
    let mut trusted = TrustedKeys::new();
    trusted
        .add_station(key)
        .map_err(|e| format!("the station key could not be read: {e}"))?;
    let b64 = record
        .pointer("/signature/publicKey")
        .and_then(Value::as_str)
        .ok_or("the record names no signing key")?;
    let public: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the record's signing key is not a valid Ed25519 key")?;
    let key_id = record
        .pointer("/signature/keyId")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if trusted.contains(&public) {
        Ok(format!("key trusted (the station's key {key_id})"))
    } else {
        Err(format!(
            "key NOT trusted: signed by {key_id}, not by this station's key ({})",
            trusted.describe()
        ))
    }
}

impl super::StationApp {
    /// Takes the history thread's answers and the export's outcome.
    pub(super) fn poll_history(&mut self) {
        let Some(h) = &mut self.history else { return };
        h.poll();
        let mut notices = Vec::new();
        for (_, result) in h.exports.poll() {
            notices.push(result.unwrap_or_else(|| Err("the export stopped unexpectedly".into())));
        }
        for n in notices {
            match n {
                Ok(text) => self.notify_info(text),
                Err(why) => self.notify_error(why),
            }
        }
    }

    /// Exports the history's shown rows to `path` (chosen in a file dialog).
    pub(super) fn export_history(
        &mut self,
        ctx: &eframe::egui::Context,
        path: PathBuf,
        format: ExportFormat,
    ) {
        let waker = ctx.clone();
        let started = match &mut self.history {
            Some(h) => h.export(path, format, move || waker.request_repaint()),
            None => Err("the history is not open".into()),
        };
        if let Err(why) = started {
            self.notify_error(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{sign_record, StationKey};

    #[test]
    fn a_record_signed_by_another_key_is_not_trusted() {
        let dir = tempfile::tempdir().expect("tmp");
        let station = dir.path().join("station.pem");
        let other = dir.path().join("other.pem");
        StationKey::load_or_create(&station).expect("station key");
        let other_key = StationKey::load_or_create(&other).expect("other key");
        let mut record = serde_json::json!({"id": "r1", "data": {"type": "compare"}});
        sign_record(&mut record, &other_key).expect("sign");
        let refused = key_trust(&record, Some(&station)).expect_err("another key");
        assert!(refused.contains("NOT trusted"), "{refused}");
        assert!(refused.contains(&other_key.key_id()), "{refused}");
        let trusted = key_trust(&record, Some(&other)).expect("its own station");
        assert!(trusted.starts_with("key trusted"), "{trusted}");
        assert!(key_trust(&record, None).is_err());
        let mut unsigned = record.clone();
        unsigned["signature"]["publicKey"] = serde_json::json!("not base64!");
        assert!(key_trust(&unsigned, Some(&station)).is_err());
    }
}
