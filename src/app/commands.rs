//! What the operator can ask for, and its dispatch. Each [`Command`] carries its own label, hover
//! text and keyboard shortcut (rerun's `UICommand`): the buttons, the hover texts and the key
//! handling all read them here, so they cannot drift apart. Panels push commands into a
//! `Vec<Command>` while drawing; [`StationApp::run_commands`] applies them at the end of the frame.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui::{self, Key, KeyboardShortcut, Modifiers};

use super::state::{CrossCheck, EngineChoice, GalleryItem, LastResult, Probe, ProbeOrigin};
use super::tasks::DialogKind;
use super::worker::{CompareJob, ImageSlot, Input, Job, Purpose, RemoteService};
use super::{StationApp, PROBE_SIDE, THUMB_SIDE};
use crate::api::SearchMode;
use crate::engine::score::default_threshold;
use crate::record::build::DecisionContext;
use crate::record::ExportFormat;
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;

/// Actions chosen while drawing (or by a key), run at the end of the frame.
#[must_use]
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Capture,
    Retake,
    OpenProbeDialog,
    OpenGalleryDialog,
    AddProbeFile(PathBuf),
    AddGalleryFiles(Vec<PathBuf>),
    RemoveGallery(u64),
    ClearGallery,
    Compare,
    /// The same probe and gallery through both engines, verdicts side by side.
    CrossCheck,
    SetEngine(EngineChoice),
    SetMode(SearchMode),
    ResetThresholds,
    CopyRecord,
    SaveRecord,
    OpenRecent(usize),
    SelectCamera(u32),
    SetResolution(u32, u32),
    /// Clears the probe and the result (Esc); the gallery stays.
    Reset,
    /// Asks where to write the history's shown rows, then writes them.
    ExportHistory(ExportFormat),
}

impl Command {
    /// The commands that have a keyboard shortcut, in the order keys are looked up.
    pub const WITH_SHORTCUTS: [Command; 5] = [
        Command::Capture,
        Command::Retake,
        Command::Compare,
        Command::OpenGalleryDialog,
        Command::Reset,
    ];

    /// The button's label.
    pub fn text(&self) -> &'static str {
        match self {
            Command::Capture => "Capture",
            Command::Retake => "Retake",
            Command::OpenProbeDialog => "Probe from file…",
            Command::OpenGalleryDialog => "Add images…",
            Command::AddProbeFile(_) => "Use as probe",
            Command::AddGalleryFiles(_) => "Add to the gallery",
            Command::RemoveGallery(_) => "Remove",
            Command::ClearGallery => "Clear all",
            Command::Compare => "Compare",
            Command::CrossCheck => "Cross-check",
            Command::SetEngine(EngineChoice::Local) => "Local",
            Command::SetEngine(EngineChoice::Remote) => "Remote",
            Command::SetMode(m) => m.as_str(),
            Command::ResetThresholds => "Default thresholds",
            Command::CopyRecord => "Copy",
            Command::SaveRecord => "Save…",
            Command::OpenRecent(_) => "Open record",
            Command::SelectCamera(_) => "Camera",
            Command::SetResolution(..) => "Resolution",
            Command::Reset => "Start over",
            Command::ExportHistory(ExportFormat::Csv) => "Export CSV…",
            Command::ExportHistory(ExportFormat::Jsonl) => "Export JSON Lines…",
        }
    }

    /// What it does, for the hover text (the shortcut is added by [`Command::hover_text`]).
    pub fn description(&self) -> &'static str {
        match self {
            Command::Capture => "Freeze this camera frame as the probe",
            Command::Retake => "Back to the live camera",
            Command::OpenProbeDialog => "Use an image file as the probe",
            Command::OpenGalleryDialog => {
                "Add ID or enrolment photos (or drop image files on the window)"
            }
            Command::AddProbeFile(_) => "Use this file as the probe",
            Command::AddGalleryFiles(_) => "Add these files to the gallery",
            Command::RemoveGallery(_) => "Remove this image from the gallery",
            Command::ClearGallery => "Remove every gallery image",
            Command::Compare => "Compare the probe with the gallery; the decision is signed and logged",
            Command::CrossCheck => {
                "The same probe and gallery through the local and the remote engine (not a decision)"
            }
            Command::SetEngine(EngineChoice::Local) => "Decide on this machine (ONNX Runtime)",
            Command::SetEngine(EngineChoice::Remote) => "Decide with a Verifik-compatible service",
            Command::SetMode(_) => "Search mode (the threshold follows the mode)",
            Command::ResetThresholds => "Back to the mode's default thresholds",
            Command::CopyRecord => "Copy the signed record (JSON) to the clipboard",
            Command::SaveRecord => "Save the signed record as a JSON file",
            Command::OpenRecent(_) => "Show this record",
            Command::SelectCamera(_) => "Switch camera",
            Command::SetResolution(..) => "Camera resolution",
            Command::Reset => "Clear the probe and the result (the gallery stays)",
            Command::ExportHistory(_) => "Write the rows shown (filtered) to a file",
        }
    }

    pub fn shortcut(&self) -> Option<KeyboardShortcut> {
        match self {
            Command::Capture | Command::Retake => {
                Some(KeyboardShortcut::new(Modifiers::NONE, Key::Space))
            }
            Command::Compare => Some(KeyboardShortcut::new(Modifiers::NONE, Key::Enter)),
            Command::OpenGalleryDialog => Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::O)),
            Command::Reset => Some(KeyboardShortcut::new(Modifiers::NONE, Key::Escape)),
            _ => None,
        }
    }

    /// "Freeze this camera frame as the probe (Space)".
    pub fn hover_text(&self, ctx: &egui::Context) -> String {
        match self.shortcut() {
            Some(s) => format!("{} ({})", self.description(), ctx.format_shortcut(&s)),
            None => self.description().to_string(),
        }
    }

    /// Whether typing into a text field keeps this command's key (plain keys do; Ctrl+O does not).
    fn yields_to_text_fields(&self) -> bool {
        self.shortcut()
            .is_some_and(|s| s.modifiers == Modifiers::NONE)
    }

    /// The command whose shortcut was pressed this frame, among those `applies` accepts; the key
    /// is consumed, so a focused button does not also fire. `typing`: a text field has the
    /// keyboard (plain keys are then left to it).
    pub fn from_key(
        ctx: &egui::Context,
        typing: bool,
        applies: impl Fn(&Command) -> bool,
    ) -> Option<Command> {
        Command::WITH_SHORTCUTS
            .into_iter()
            .filter(|c| applies(c) && !(typing && c.yields_to_text_fields()))
            .find(|c| {
                c.shortcut()
                    .is_some_and(|s| ctx.input_mut(|i| i.consume_shortcut(&s)))
            })
    }

    /// A button for this command: its label, hover text (with the shortcut), and, when disabled,
    /// why; pushes the command when clicked.
    pub fn button(
        self,
        ui: &mut egui::Ui,
        blocker: Option<&str>,
        out: &mut Vec<Command>,
    ) -> egui::Response {
        let text = self.text();
        self.button_with(ui, egui::Button::new(text), blocker, out)
    }

    /// The same with a button styled by the caller (size, font).
    pub fn button_with(
        self,
        ui: &mut egui::Ui,
        button: egui::Button<'_>,
        blocker: Option<&str>,
        out: &mut Vec<Command>,
    ) -> egui::Response {
        let response = ui
            .add_enabled(blocker.is_none(), button)
            .on_hover_text(self.hover_text(ui.ctx()));
        let response = match blocker {
            Some(why) => response.on_disabled_hover_text(why),
            None => response,
        };
        if response.clicked() {
            out.push(self);
        }
        response
    }
}

impl StationApp {
    /// Keys and dropped files become commands (before the panels draw, so a key is consumed
    /// before a focused widget sees it).
    pub(super) fn handle_keys(&mut self, ctx: &egui::Context) {
        // A file dialog owns the keyboard (Esc closes it, Enter confirms it); the station's keys
        // and dropped images are for the station screen only.
        if self.tasks.dialog_open() || self.screen != super::Screen::Station {
            return;
        }
        // egui drops a text field's focus on Esc at the start of the pass, so a field focused
        // at the end of the previous frame also counts: Esc there only leaves the field.
        let typing = ctx.egui_wants_keyboard_input() || self.typing;
        let frozen = self.probe.is_some();
        let pressed = Command::from_key(ctx, typing, |c| match c {
            Command::Capture => !frozen,
            Command::Retake => frozen,
            _ => true,
        });
        if let Some(c) = pressed {
            self.push(c);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !dropped.is_empty() {
            self.push(Command::AddGalleryFiles(dropped));
        }
    }

    pub(super) fn run_commands(&mut self, ctx: &egui::Context) {
        for c in std::mem::take(&mut self.commands) {
            self.run_command(ctx, c);
        }
    }

    fn run_command(&mut self, ctx: &egui::Context, c: Command) {
        match c {
            Command::Capture => self.capture(),
            Command::Retake => {
                self.probe = None;
                self.preview.shown_seq = None;
            }
            Command::OpenProbeDialog => {
                let dir = self.settings.last_probe_dir.clone();
                self.open_dialog(ctx, DialogKind::Probe, dir);
            }
            Command::OpenGalleryDialog => {
                let dir = self.settings.last_gallery_dir.clone();
                self.open_dialog(ctx, DialogKind::Gallery, dir);
            }
            Command::AddProbeFile(path) => self.probe_from_file(&path),
            Command::AddGalleryFiles(paths) => self.add_gallery_files(&paths),
            Command::RemoveGallery(id) => self.gallery.retain(|g| g.id != id),
            Command::ClearGallery => self.gallery.clear(),
            Command::Compare => self.start_compare(),
            Command::CrossCheck => self.start_cross_check(),
            Command::SetEngine(e) => self.settings.engine = e,
            Command::SetMode(mode) => {
                if self.settings.mode != mode {
                    self.settings.mode = mode;
                    // The threshold's meaning depends on the mode: take that mode's own (the
                    // one applied from the QA workbench, else the engine's default).
                    self.settings.compare_threshold = self.settings.start_threshold(mode);
                }
            }
            Command::ResetThresholds => {
                self.settings.clear_applied(self.settings.mode);
                self.settings.compare_threshold = default_threshold(self.settings.mode);
                self.settings.liveness_threshold = DEFAULT_LIVENESS_MIN_SCORE;
            }
            Command::CopyRecord => {
                if let Some(r) = &self.shown_record {
                    ctx.copy_text(r.pretty.clone());
                    self.notify_info("record copied to the clipboard");
                }
            }
            Command::SaveRecord => self.save_record(ctx),
            Command::OpenRecent(i) => {
                if let Some(r) = self.recent.get(i) {
                    self.shown_record = Some(super::state::ShownRecord::new(r.clone(), true));
                }
            }
            Command::SelectCamera(index) => {
                self.settings.camera_index = index;
                self.start_camera();
            }
            Command::SetResolution(w, h) => {
                self.settings.camera_resolution = (w, h);
                self.start_camera();
            }
            Command::ExportHistory(format) => {
                let dir = self.settings.last_save_dir.clone();
                self.open_dialog(ctx, DialogKind::ExportHistory(format), dir);
            }
            Command::Reset => {
                self.probe = None;
                self.preview.shown_seq = None;
                self.last = None;
                self.cross = None;
                self.shown_record = None;
                self.notice = None;
            }
        }
    }

    fn capture(&mut self) {
        let Some(frame) = self.camera.as_ref().and_then(|c| c.slot.latest()) else {
            self.notify_error("no camera frame to capture; use a probe file");
            return;
        };
        let id = self.id();
        self.probe = Some(Probe {
            id,
            origin: ProbeOrigin::Camera { seq: frame.seq },
            bytes: None,
            image: Some(frame.image.clone()),
            analysis: None,
        });
        self.last = None;
        self.worker.send(Job::Analyse {
            target: ImageSlot::Probe(id),
            input: Input::Frame(frame.image),
            display_side: PROBE_SIDE,
            redact: self.options.redact,
        });
    }

    pub(super) fn probe_from_file(&mut self, path: &Path) {
        // Reading one file is quick; decoding it (the slow part) happens on the worker.
        let bytes = match std::fs::read(path) {
            Ok(b) => Arc::new(b),
            Err(e) => {
                self.notify_error(format!("cannot read {}: {e}", path.display()));
                return;
            }
        };
        self.settings.last_probe_dir = path.parent().map(Path::to_path_buf);
        let id = self.id();
        self.probe = Some(Probe {
            id,
            origin: ProbeOrigin::File(path.to_path_buf()),
            bytes: Some(bytes.clone()),
            image: None,
            analysis: None,
        });
        self.last = None;
        self.worker.send(Job::Analyse {
            target: ImageSlot::Probe(id),
            input: Input::Bytes(bytes),
            display_side: PROBE_SIDE,
            redact: self.options.redact,
        });
    }

    pub fn add_gallery_files(&mut self, paths: &[PathBuf]) {
        for path in paths {
            let id = self.id();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string());
            if let Some(dir) = path.parent() {
                self.settings.last_gallery_dir = Some(dir.to_path_buf());
            }
            match std::fs::read(path) {
                Ok(bytes) => {
                    let bytes = Arc::new(bytes);
                    self.worker.send(Job::Analyse {
                        target: ImageSlot::Gallery(id),
                        input: Input::Bytes(bytes.clone()),
                        display_side: THUMB_SIDE,
                        redact: self.options.redact,
                    });
                    self.gallery.push(GalleryItem {
                        id,
                        name,
                        bytes,
                        analysis: None,
                    });
                }
                Err(e) => self.gallery.push(GalleryItem {
                    id,
                    name,
                    bytes: Arc::new(Vec::new()),
                    analysis: Some(Err(e.to_string())),
                }),
            }
        }
    }

    /// The comparison of the current probe and usable gallery images, if Compare is allowed.
    fn compare_job(&self, purpose: Purpose) -> Option<CompareJob> {
        if self.compare_blocker().is_some() {
            return None;
        }
        let probe = self.probe.as_ref()?;
        let input = match (&probe.bytes, &probe.image) {
            (Some(b), _) => Input::Bytes(b.clone()),
            (None, Some(img)) => Input::Frame(img.clone()),
            (None, None) => return None,
        };
        let gallery = self.usable_gallery().map(|g| g.bytes.clone()).collect();
        Some(CompareJob {
            probe: input,
            gallery,
            mode: self.settings.mode,
            // At the mode's default the engine states its own basis (the record then says what
            // the threshold rests on); only a moved slider is an operator's threshold.
            compare_min_score: (self.settings.compare_threshold
                != default_threshold(self.settings.mode))
            .then_some(self.settings.compare_threshold),
            liveness_min_score: self
                .settings
                .check_liveness
                .then_some(self.settings.liveness_threshold),
            clicked: self.clock.now(),
            purpose,
            context: DecisionContext {
                operator: self.operator.name().map(str::to_string),
                gallery_names: self.usable_gallery().map(|g| g.name.clone()).collect(),
                ..DecisionContext::default()
            },
            // The workbench's basis describes the local engine's scores only.
            threshold_basis: (self.settings.engine == EngineChoice::Local)
                .then(|| self.settings.current_basis().map(str::to_string))
                .flatten(),
        })
    }

    /// The remote service and token, or why they cannot be used (worded for the operator).
    fn remote_service(&self) -> Result<RemoteService, String> {
        use crate::api::TokenError;
        let token = crate::api::BearerToken::new(&self.remote_token).map_err(|e| match e {
            TokenError::Empty => "no API token: enter the bearer token from Verifik's dashboard \
                (or the FaceStation server's token) in the token field"
                .to_string(),
            other => other.to_string(),
        })?;
        Ok(RemoteService {
            base_url: self.settings.remote_url.trim().to_string(),
            token,
        })
    }

    fn start_compare(&mut self) {
        let Some(job) = self.compare_job(Purpose::Decision) else {
            return;
        };
        let clicked = job.clicked;
        let sent = match self.settings.engine {
            EngineChoice::Local => self.worker.send(Job::Compare(Box::new(job))),
            EngineChoice::Remote => match self.remote_service() {
                Ok(service) => self.worker.compare_remote(job, service),
                Err(why) => {
                    self.last = Some(LastResult::Failed(why, None));
                    return;
                }
            },
        };
        if sent {
            self.compare_started = Some(clicked);
            self.compare_gallery = self
                .usable_gallery()
                .map(|g| (g.id, g.name.clone()))
                .collect();
        }
    }

    /// Runs the same comparison on both engines at once (the local one on the inference thread,
    /// the remote one on the remote thread); neither side is recorded.
    fn start_cross_check(&mut self) {
        let Some(job) = self.compare_job(Purpose::CrossLocal) else {
            return;
        };
        let (ids, names) = self
            .usable_gallery()
            .map(|g| (g.id, g.name.clone()))
            .unzip();
        let mut cross = CrossCheck {
            gallery_ids: ids,
            gallery_names: names,
            ..CrossCheck::default()
        };
        let remote_job = CompareJob {
            purpose: Purpose::CrossRemote,
            ..job.clone()
        };
        match self.remote_service() {
            Ok(service) => {
                if !self.worker.compare_remote(remote_job, service) {
                    cross.remote = Some(Err("the engine has stopped".into()));
                }
            }
            Err(why) => cross.remote = Some(Err(why)),
        }
        if !self.is_ready() {
            cross.local = Some(Err(self
                .local_blocker()
                .unwrap_or("the local engine is not ready")
                .to_string()));
        } else if !self.worker.send(Job::Compare(Box::new(job))) {
            cross.local = Some(Err("the engine has stopped".into()));
        }
        self.cross = Some(cross);
    }
}
