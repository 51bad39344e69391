//! Slow work the UI starts and must hear back from: file dialogs and record saves. Following
//! rerun's `BackgroundTasks`: each task has a name, a second task of the same name is refused
//! while one runs, and the result is polled in `logic` and shown to the operator (status bar):
//! a failed save or a dialog that could not open is reported, never swallowed.
//!
//! File dialogs come in two kinds ([`DialogBackend`]): the station's own, drawn by egui
//! (`egui_file`), which works everywhere (no desktop portal or zenity needed, and kittest can
//! drive it), and the system's (rfd), used only where it is known to work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use eframe::egui;

use super::commands::Command;
use super::StationApp;
use crate::record::ExportFormat;

/// Why a task did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("{0} is already in progress")]
    AlreadyRunning(&'static str),
    #[error("could not start {name}: {reason}")]
    Spawn { name: &'static str, reason: String },
}

/// Named background jobs, each on its own thread, with one result each.
pub struct BackgroundTasks<T> {
    running: BTreeMap<&'static str, Receiver<T>>,
}

impl<T> Default for BackgroundTasks<T> {
    fn default() -> Self {
        Self {
            running: BTreeMap::new(),
        }
    }
}

impl<T: Send + 'static> BackgroundTasks<T> {
    /// Runs `job` on a thread named `name`; `wake` is called when it ends (the UI passes
    /// `request_repaint`). Refused while a task of that name runs.
    pub fn spawn(
        &mut self,
        name: &'static str,
        wake: impl Fn() + Send + 'static,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(), TaskError> {
        if self.is_running(name) {
            return Err(TaskError::AlreadyRunning(name));
        }
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(job());
                wake();
            })
            .map_err(|e| TaskError::Spawn {
                name,
                reason: e.to_string(),
            })?;
        self.running.insert(name, rx);
        Ok(())
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.running.contains_key(name)
    }

    pub fn running(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.running.keys().copied()
    }

    /// The tasks that ended since the last poll: `Some(result)`, or `None` when the task died
    /// without one (a panic).
    pub fn poll(&mut self) -> Vec<(&'static str, Option<T>)> {
        let mut done = Vec::new();
        self.running.retain(|name, rx| match rx.try_recv() {
            Ok(v) => {
                done.push((*name, Some(v)));
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => {
                done.push((*name, None));
                false
            }
        });
        done
    }
}

/// Task names (one of each at a time).
pub const OPEN_PROBE: &str = "choosing a probe file";
pub const OPEN_GALLERY: &str = "choosing gallery images";
pub const SAVE_RECORD: &str = "saving the record";
pub const EXPORT_DIALOG: &str = "choosing where to export";

/// What a file dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    Probe,
    Gallery,
    SaveRecord,
    ExportHistory(ExportFormat),
}

impl DialogKind {
    fn task(self) -> &'static str {
        match self {
            DialogKind::Probe => OPEN_PROBE,
            DialogKind::Gallery => OPEN_GALLERY,
            DialogKind::SaveRecord => SAVE_RECORD,
            DialogKind::ExportHistory(_) => EXPORT_DIALOG,
        }
    }
}

/// The file name an export dialog proposes.
fn export_file_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Csv => "facestation-history.csv",
        ExportFormat::Jsonl => "facestation-history.jsonl",
    }
}

/// Which file dialog the station shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogBackend {
    /// Drawn by egui inside the station window.
    Egui,
    /// The desktop's own (rfd: the XDG desktop portal, or zenity).
    Native,
}

impl DialogBackend {
    /// `FACESTATION_FILE_DIALOG=egui|native` decides; otherwise the system dialog only in a
    /// desktop session (`XDG_CURRENT_DESKTOP`) with a session bus and a portal or zenity to draw
    /// it. Elsewhere (Xvfb, a kiosk, `ssh -X`) rfd's dialog fails without an error (it returns
    /// "nothing chosen"), so the station draws its own.
    pub fn detect() -> Self {
        match std::env::var("FACESTATION_FILE_DIALOG").as_deref() {
            Ok("egui") => return DialogBackend::Egui,
            Ok("native") => return DialogBackend::Native,
            _ => {}
        }
        let desktop = std::env::var_os("XDG_CURRENT_DESKTOP").is_some_and(|v| !v.is_empty());
        let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
        let portal = [
            "/usr/libexec/xdg-desktop-portal",
            "/usr/lib/xdg-desktop-portal",
        ]
        .iter()
        .any(|p| Path::new(p).exists());
        if desktop && ((bus && portal) || on_path("zenity")) {
            DialogBackend::Native
        } else {
            DialogBackend::Egui
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A native dialog that returns "nothing chosen" this fast never showed itself.
const NATIVE_DIALOG_MIN: Duration = Duration::from_millis(300);

/// What a background task gives back.
pub enum TaskOutput {
    /// A native dialog closed: the files chosen (none: cancelled), and how long it was open.
    Picked {
        kind: DialogKind,
        paths: Vec<PathBuf>,
        open_for: Duration,
    },
    /// A record was written there.
    Saved(PathBuf),
    Failed(String),
}

/// The file dialogs and background tasks of the station.
pub struct Tasks {
    pub background: BackgroundTasks<TaskOutput>,
    pub backend: DialogBackend,
    /// The egui dialog on screen, and what it is for.
    dialog: Option<(DialogKind, egui_file::FileDialog)>,
    /// The record text a save dialog is choosing a place for.
    pending_save: Option<String>,
}

impl Tasks {
    pub fn new(backend: DialogBackend) -> Self {
        Self {
            background: BackgroundTasks::default(),
            backend,
            dialog: None,
            pending_save: None,
        }
    }

    /// An egui file dialog is on screen (it owns the keyboard).
    pub fn dialog_open(&self) -> bool {
        self.dialog.is_some()
    }

    /// A dialog or task of this kind is open or running (its button is disabled meanwhile).
    pub fn busy(&self, kind: DialogKind) -> bool {
        self.background.is_running(kind.task())
            || self.dialog.as_ref().is_some_and(|(k, _)| *k == kind)
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg" | "webp" | "bmp"))
}

fn egui_dialog(kind: DialogKind, dir: Option<PathBuf>, file_name: &str) -> egui_file::FileDialog {
    let d = match kind {
        DialogKind::Probe => egui_file::FileDialog::open_file()
            .title("Probe from file")
            .show_files_filter(Box::new(is_image)),
        DialogKind::Gallery => egui_file::FileDialog::open_file()
            .title("Add gallery images")
            .multi_select(true)
            .show_files_filter(Box::new(is_image)),
        DialogKind::SaveRecord => egui_file::FileDialog::save_file()
            .title("Save the signed record")
            .default_filename(file_name),
        DialogKind::ExportHistory(format) => egui_file::FileDialog::save_file()
            .title("Export the history")
            .default_filename(export_file_name(format)),
    };
    let d = d
        .id(egui::Id::unique(("facestation-file-dialog", kind.task())))
        .default_size(egui::vec2(560.0, 420.0))
        .show_rename(false)
        .show_new_folder(false);
    match dir.filter(|d| d.is_dir()) {
        Some(dir) => d.initial_path(dir),
        None => d,
    }
}

impl StationApp {
    /// Opens the file dialog for `kind` (refused, and said so, while one of that kind is open).
    pub(super) fn open_dialog(
        &mut self,
        ctx: &egui::Context,
        kind: DialogKind,
        dir: Option<PathBuf>,
    ) {
        if self.tasks.busy(kind) {
            self.notify_error(format!("{} is already in progress", kind.task()));
            return;
        }
        if self.tasks.dialog_open() {
            self.notify_error("close the open file dialog first");
            return;
        }
        match self.tasks.backend {
            DialogBackend::Egui => {
                let mut d = egui_dialog(kind, dir, &self.record_file_name());
                d.open();
                self.tasks.dialog = Some((kind, d));
            }
            DialogBackend::Native => self.open_native(ctx, kind, dir),
        }
    }

    /// rfd's async dialog, awaited on its own thread so the UI keeps drawing.
    fn open_native(&mut self, ctx: &egui::Context, kind: DialogKind, dir: Option<PathBuf>) {
        let waker = ctx.clone();
        let file_name = self.record_file_name();
        let text = self.tasks.pending_save.take();
        let spawned = self.tasks.background.spawn(
            kind.task(),
            move || waker.request_repaint(),
            move || {
                let started = Instant::now();
                let mut d = rfd::AsyncFileDialog::new();
                if let Some(dir) = dir {
                    d = d.set_directory(dir);
                }
                let paths: Vec<PathBuf> = match kind {
                    DialogKind::Probe => pollster::block_on(
                        d.add_filter("images", &["png", "jpg", "jpeg", "webp", "bmp"])
                            .pick_file(),
                    )
                    .into_iter()
                    .map(|f| f.path().to_path_buf())
                    .collect(),
                    DialogKind::Gallery => pollster::block_on(
                        d.add_filter("images", &["png", "jpg", "jpeg", "webp", "bmp"])
                            .pick_files(),
                    )
                    .unwrap_or_default()
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .collect(),
                    DialogKind::ExportHistory(format) => {
                        pollster::block_on(d.set_file_name(export_file_name(format)).save_file())
                            .into_iter()
                            .map(|f| f.path().to_path_buf())
                            .collect()
                    }
                    DialogKind::SaveRecord => {
                        let chosen = pollster::block_on(d.set_file_name(file_name).save_file());
                        match (chosen, text) {
                            (Some(f), Some(text)) => return write_record(f.path(), &text),
                            (Some(_), None) => return TaskOutput::Failed("nothing to save".into()),
                            (None, _) => Vec::new(),
                        }
                    }
                };
                TaskOutput::Picked {
                    kind,
                    paths,
                    open_for: started.elapsed(),
                }
            },
        );
        if let Err(e) = spawned {
            self.notify_error(e.to_string());
        }
    }

    /// "t0001.json" from the shown record's id.
    fn record_file_name(&self) -> String {
        let id = self
            .shown_record
            .as_ref()
            .and_then(|r| r.record.get("id"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("record");
        format!("{id}.json")
    }

    /// Save…: a dialog for the place, then the write on a task; both outcomes are reported.
    pub(super) fn save_record(&mut self, ctx: &egui::Context) {
        let Some(r) = &self.shown_record else {
            self.notify_error("no record to save");
            return;
        };
        self.tasks.pending_save = Some(r.pretty.clone());
        let dir = self
            .settings
            .last_save_dir
            .clone()
            .or_else(|| self.settings.last_gallery_dir.clone());
        self.open_dialog(ctx, DialogKind::SaveRecord, dir);
    }

    /// Writes `text` to `path` on a task (never on the UI thread).
    fn spawn_write(&mut self, ctx: &egui::Context, path: PathBuf, text: String) {
        let waker = ctx.clone();
        if let Some(dir) = path.parent() {
            self.settings.last_save_dir = Some(dir.to_path_buf());
        }
        let spawned = self.tasks.background.spawn(
            SAVE_RECORD,
            move || waker.request_repaint(),
            move || write_record(&path, &text),
        );
        if let Err(e) = spawned {
            self.notify_error(e.to_string());
        }
    }

    /// Draws the egui file dialog (if one is open) and takes its answer.
    pub(super) fn show_dialog(&mut self, ctx: &egui::Context) {
        let Some((kind, dialog)) = &mut self.tasks.dialog else {
            return;
        };
        let kind = *kind;
        dialog.show(ctx);
        let state = dialog.state();
        let chosen: Vec<PathBuf> = match (kind, state) {
            (_, egui_file::State::Open) => return,
            (DialogKind::Gallery, egui_file::State::Selected) => dialog
                .selection()
                .into_iter()
                .map(Path::to_path_buf)
                .collect(),
            (_, egui_file::State::Selected) => {
                dialog.path().map(Path::to_path_buf).into_iter().collect()
            }
            _ => Vec::new(),
        };
        self.tasks.dialog = None;
        self.take_choice(ctx, kind, chosen);
    }

    fn take_choice(&mut self, ctx: &egui::Context, kind: DialogKind, chosen: Vec<PathBuf>) {
        match kind {
            DialogKind::Probe => {
                if let Some(p) = chosen.into_iter().next() {
                    self.push(Command::AddProbeFile(p));
                }
            }
            DialogKind::Gallery => {
                if !chosen.is_empty() {
                    self.push(Command::AddGalleryFiles(chosen));
                }
            }
            DialogKind::ExportHistory(format) => {
                if let Some(path) = chosen.into_iter().next() {
                    if let Some(dir) = path.parent() {
                        self.settings.last_save_dir = Some(dir.to_path_buf());
                    }
                    self.export_history(ctx, path, format);
                }
            }
            DialogKind::SaveRecord => {
                let text = self.tasks.pending_save.take();
                match (chosen.into_iter().next(), text) {
                    (Some(path), Some(text)) => self.spawn_write(ctx, path, text),
                    (Some(_), None) => self.notify_error("nothing to save"),
                    (None, _) => {}
                }
            }
        }
    }

    /// Takes the results of finished tasks and tells the operator.
    pub(super) fn poll_tasks(&mut self, ctx: &egui::Context) {
        for (name, result) in self.tasks.background.poll() {
            match result {
                None => self.notify_error(format!("{name} failed: the task stopped unexpectedly")),
                Some(TaskOutput::Saved(path)) => {
                    self.notify_info(format!("record saved to {}", path.display()))
                }
                Some(TaskOutput::Failed(why)) => self.notify_error(why),
                Some(TaskOutput::Picked {
                    kind,
                    paths,
                    open_for,
                }) => {
                    if paths.is_empty() && open_for < NATIVE_DIALOG_MIN {
                        // The system dialog never showed (no portal or zenity after all): say
                        // so and use the station's own from now on.
                        self.notify_error(
                            "the system file dialog did not open; using the station's own dialog",
                        );
                        self.tasks.backend = DialogBackend::Egui;
                        let dir = match kind {
                            DialogKind::Probe => self.settings.last_probe_dir.clone(),
                            DialogKind::Gallery => self.settings.last_gallery_dir.clone(),
                            DialogKind::SaveRecord | DialogKind::ExportHistory(_) => {
                                self.settings.last_save_dir.clone()
                            }
                        };
                        if kind == DialogKind::SaveRecord {
                            self.tasks.pending_save =
                                self.shown_record.as_ref().map(|r| r.pretty.clone());
                        }
                        self.open_dialog(ctx, kind, dir);
                    } else {
                        self.take_choice(ctx, kind, paths);
                    }
                }
            }
        }
    }
}

/// Writes the record; the error names the file and the cause.
fn write_record(path: &Path, text: &str) -> TaskOutput {
    match std::fs::write(path, text) {
        Ok(()) => TaskOutput::Saved(path.to_path_buf()),
        Err(e) => TaskOutput::Failed(format!(
            "could not save the record to {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_task_of_the_same_name_is_refused_and_results_are_polled() {
        let mut tasks = BackgroundTasks::<u32>::default();
        let (go_tx, go_rx) = channel::<()>();
        tasks
            .spawn(
                "save",
                || {},
                move || {
                    let _ = go_rx.recv();
                    7
                },
            )
            .expect("first starts");
        assert_eq!(
            tasks.spawn("save", || {}, || 8),
            Err(TaskError::AlreadyRunning("save"))
        );
        // Another name runs beside it.
        tasks.spawn("open", || {}, || 9).expect("other name starts");
        go_tx.send(()).expect("release");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < 2 {
            assert!(Instant::now() < deadline, "tasks did not finish");
            got.extend(tasks.poll());
            std::thread::sleep(Duration::from_millis(2));
        }
        got.sort();
        assert_eq!(got, vec![("open", Some(9)), ("save", Some(7))]);
        assert!(!tasks.is_running("save"));
        tasks.spawn("save", || {}, || 1).expect("free again");
    }

    #[test]
    fn a_task_that_dies_is_reported() {
        let mut tasks = BackgroundTasks::<u32>::default();
        tasks
            .spawn("boom", || {}, || panic!("task panics on purpose"))
            .expect("starts");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let done = tasks.poll();
            if !done.is_empty() {
                assert_eq!(done, vec![("boom", None)]);
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn a_failed_write_names_the_file() {
        let dir = std::env::temp_dir().join("facestation-no-such-dir-for-tasks/x/y");
        match write_record(&dir.join("r.json"), "{}") {
            TaskOutput::Failed(why) => assert!(why.contains("r.json"), "{why}"),
            _ => panic!("the write must fail"),
        }
    }
}
