//! The desktop station (eframe): a probe panel (camera or file), a gallery, compare controls and
//! results, the signed record, and a status bar. One inference worker owns the engine; the UI
//! thread only draws, sends jobs and drains answers (see `worker`).
//!
//! Following egui's demo app: persisted [`Settings`] are apart from runtime state, and panels push
//! [`Command`]s while drawing that [`StationApp::run_commands`] applies at the end of the frame.

mod compare_panel;
mod gallery_panel;
mod probe_panel;
mod record_panel;
mod setup_screen;
pub mod state;
mod status_bar;
pub mod worker;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use eframe::egui::{self, Key, Modifiers, TextureHandle, TextureOptions};
use serde_json::Value;

use crate::camera::{CameraError, CameraInfo, CameraState, CameraThread, FileSource, FrameSource};
use crate::engine::score::default_threshold;
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;
use crate::vision::quality::QualityHint;
use crate::vision::Face;
pub use state::{Command, EngineState, Settings};
use state::{
    CrossCheck, EngineChoice, EngineErrorKind, GalleryItem, GalleryView, LastResult, Probe,
    ProbeOrigin, ProbeView, ShownRecord,
};
use worker::{
    CompareJob, Event, Input, Job, Purpose, RecorderInfo, RemoteTarget, Target, WorkerConfig,
    WorkerHandle,
};

/// eframe storage key of [`Settings`].
const SETTINGS_KEY: &str = "facestation.settings";
/// Gallery thumbnails and the probe are shown from copies this size (pixels, longer side).
const THUMB_SIDE: u32 = 160;
const PROBE_SIDE: u32 = 800;
/// UI frame times kept for the status bar and the benchmark.
const FRAME_TIMES: usize = 600;

/// How the station was started (command-line options).
#[derive(Debug, Clone, Default)]
pub struct StationOptions {
    pub worker: WorkerConfig,
    /// A folder of images played as the camera (`--camera-file`).
    pub camera_file: Option<PathBuf>,
    /// Frames per second of the file camera.
    pub camera_fps: f64,
    /// Gallery images to add at start (`--gallery`).
    pub gallery: Vec<PathBuf>,
    /// Do not open a webcam (tests; the file camera still works).
    pub no_webcam: bool,
    /// Ignore stored settings (tests, screenshots).
    pub fresh_settings: bool,
    /// Start with photos pixelated on screen.
    pub redact: bool,
}

/// The live preview: one texture updated in place, the newest detection, and counters.
#[derive(Default)]
pub struct Preview {
    pub texture: Option<TextureHandle>,
    pub shown_seq: Option<u64>,
    pub size: [usize; 2],
    pub faces: Vec<Face>,
    pub hints: Vec<QualityHint>,
    /// Frame the faces belong to.
    pub faces_seq: Option<u64>,
    pub detect_in_flight: bool,
    pub last_detect_ms: f64,
    /// Counters for the benchmark: frames shown, detections received.
    pub frames_shown: u64,
    pub detections: u64,
}

/// Where the camera picture comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraKind {
    File(PathBuf),
    Webcam(u32),
    None(String),
}

pub struct StationApp {
    pub settings: Settings,
    pub options: StationOptions,
    pub engine: EngineState,
    /// The station key and audit log (opened at start-up, whether or not the models load).
    pub recorder: Option<RecorderInfo>,
    worker: WorkerHandle,
    ctx: egui::Context,
    pub camera: Option<CameraThread>,
    pub camera_kind: CameraKind,
    pub cameras: Vec<CameraInfo>,
    cameras_rx: Option<Receiver<Result<Vec<CameraInfo>, CameraError>>>,
    pub preview: Preview,
    pub probe: Option<Probe>,
    pub gallery: Vec<GalleryItem>,
    next_id: u64,
    /// When the running compare was clicked.
    pub compare_started: Option<Instant>,
    pub last: Option<LastResult>,
    /// The last cross-check of the two engines.
    pub cross: Option<CrossCheck>,
    /// The remote API's bearer token: in memory only, deliberately outside [`Settings`] so that it
    /// never reaches eframe storage (initial value from `VERIFIK_TOKEN`).
    pub remote_token: String,
    pub shown_record: Option<ShownRecord>,
    pub recent: Vec<Value>,
    pub recent_error: Option<String>,
    dialog_tx: Sender<DialogResult>,
    dialog_rx: Receiver<DialogResult>,
    pub dialog_open: bool,
    pub message: Option<String>,
    commands: Vec<Command>,
    /// Time spent in `logic` + `ui` per frame (ms), newest last.
    pub frame_times: VecDeque<f64>,
    logic_ms: f64,
    /// A text field had the keyboard at the end of the last frame.
    typing: bool,
}

/// What a file dialog (on its own thread) picked.
enum DialogResult {
    Probe(Option<PathBuf>),
    Gallery(Vec<PathBuf>),
}

impl StationApp {
    /// Restores settings, starts the worker (which loads the models) and the camera.
    pub fn new(cc: &eframe::CreationContext<'_>, options: StationOptions) -> Self {
        let settings = if options.fresh_settings {
            Settings::default()
        } else {
            cc.storage
                .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
                .unwrap_or_default()
        };
        // `--redact` is a property of this run (StationOptions), never a persisted setting: one
        // screenshot run must not pixelate every later run.
        Self::with_settings(cc.egui_ctx.clone(), options, settings)
    }

    pub fn with_settings(ctx: egui::Context, options: StationOptions, settings: Settings) -> Self {
        let waker = ctx.clone();
        let worker = WorkerHandle::spawn(options.worker.clone(), move || waker.request_repaint());
        let (dialog_tx, dialog_rx) = channel();
        let mut app = Self {
            settings,
            engine: EngineState::Loading,
            recorder: None,
            worker,
            ctx,
            camera: None,
            camera_kind: CameraKind::None("no camera".into()),
            cameras: Vec::new(),
            cameras_rx: None,
            preview: Preview::default(),
            probe: None,
            gallery: Vec::new(),
            next_id: 1,
            compare_started: None,
            last: None,
            cross: None,
            remote_token: std::env::var(crate::engine::remote::TOKEN_ENV).unwrap_or_default(),
            shown_record: None,
            recent: Vec::new(),
            recent_error: None,
            dialog_tx,
            dialog_rx,
            dialog_open: false,
            message: None,
            commands: Vec::new(),
            frame_times: VecDeque::with_capacity(FRAME_TIMES),
            logic_ms: 0.0,
            typing: false,
            options,
        };
        app.start_camera();
        let start_gallery = app.options.gallery.clone();
        if !start_gallery.is_empty() {
            app.add_gallery_files(&start_gallery);
        }
        app
    }

    fn start_camera(&mut self) {
        self.camera = None;
        let waker = self.ctx.clone();
        let wake = move || waker.request_repaint();
        if let Some(dir) = self.options.camera_file.clone() {
            let fps = if self.options.camera_fps > 0.0 {
                self.options.camera_fps
            } else {
                30.0
            };
            let d = dir.clone();
            self.camera = Some(CameraThread::spawn(
                move || Ok(Box::new(FileSource::open(&d, fps)?) as Box<dyn FrameSource>),
                wake,
            ));
            self.camera_kind = CameraKind::File(dir);
            return;
        }
        if self.options.no_webcam {
            self.camera_kind = CameraKind::None("camera off".into());
            return;
        }
        self.start_webcam(wake);
    }

    #[cfg(feature = "webcam")]
    fn start_webcam(&mut self, wake: impl Fn() + Send + 'static) {
        // Listing V4L2 devices is I/O: off the UI thread like everything else.
        let (tx, rx) = channel();
        let waker = self.ctx.clone();
        let _ = std::thread::Builder::new()
            .name("camera-list".into())
            .spawn(move || {
                let _ = tx.send(crate::camera::list_cameras());
                waker.request_repaint();
            });
        self.cameras_rx = Some(rx);
        let index = self.settings.camera_index;
        let (w, h) = self.settings.camera_resolution;
        self.camera = Some(CameraThread::spawn(
            move || {
                let cams = crate::camera::list_cameras()?;
                if cams.is_empty() {
                    return Err(CameraError::NoCamera);
                }
                let src = crate::camera::WebcamSource::open(index, w, h)?;
                Ok(Box::new(src) as Box<dyn FrameSource>)
            },
            wake,
        ));
        self.camera_kind = CameraKind::Webcam(index);
    }

    #[cfg(not(feature = "webcam"))]
    fn start_webcam(&mut self, _wake: impl Fn() + Send + 'static) {
        self.camera_kind = CameraKind::None(CameraError::NotBuilt.to_string());
    }

    pub fn camera_state(&self) -> CameraState {
        match (&self.camera, &self.camera_kind) {
            (Some(c), _) => c.slot.state(),
            (None, CameraKind::None(why)) => CameraState::Failed(why.clone()),
            (None, _) => CameraState::Stopped,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn push(&mut self, c: Command) {
        self.commands.push(c);
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.engine, EngineState::Ready(_))
    }

    pub fn compare_running(&self) -> bool {
        self.compare_started.is_some()
    }

    pub fn cross_check_running(&self) -> bool {
        self.cross.as_ref().is_some_and(CrossCheck::running)
    }

    /// Why Compare is disabled, if it is.
    pub fn compare_blocker(&self) -> Option<&'static str> {
        if !self.is_ready() {
            return Some("the engine is not ready");
        }
        if self.compare_running() || self.cross_check_running() {
            return Some("a comparison is running");
        }
        match &self.probe {
            None => return Some("capture a probe first"),
            Some(p) if p.analysis.is_none() => return Some("the probe is being analysed"),
            Some(p) if matches!(p.analysis, Some(Err(_))) => {
                return Some("the probe is unreadable")
            }
            _ => {}
        }
        let usable = self.gallery.iter().filter(|g| g.is_usable()).count();
        if usable == 0 {
            return Some("add a readable gallery image");
        }
        if usable > crate::api::MAX_GALLERY {
            // Never drop usable images silently: the operator chooses which to remove.
            return Some("too many usable gallery images (at most 10): remove some");
        }
        None
    }

    // ---- events from the worker, the camera and dialogs -------------------------------------

    fn drain_events(&mut self, ctx: &egui::Context) {
        while let Ok(ev) = self.worker.events.try_recv() {
            match ev {
                Event::Recorder(info) => self.recorder = Some(info),
                Event::Ready(info) => self.engine = EngineState::Ready(info),
                Event::SetupFailed(p) => self.engine = EngineState::Failed(p),
                Event::Detected {
                    seq,
                    faces,
                    hints,
                    ms,
                } => {
                    self.preview.detect_in_flight = false;
                    self.preview.faces = faces;
                    self.preview.hints = hints;
                    self.preview.faces_seq = Some(seq);
                    self.preview.last_detect_ms = ms;
                    self.preview.detections += 1;
                }
                Event::Analysed { target, result } => self.on_analysed(ctx, target, result),
                Event::Compared {
                    purpose: purpose @ (Purpose::CrossLocal | Purpose::CrossRemote),
                    result,
                } => {
                    if let Some(cross) = &mut self.cross {
                        let r = Some(result.map_err(|e| e.to_string()));
                        if purpose == Purpose::CrossLocal {
                            cross.local = r;
                        } else {
                            cross.remote = r;
                        }
                    }
                }
                Event::Compared {
                    purpose: Purpose::Decision,
                    result,
                } => {
                    let shown_after_ms = self
                        .compare_started
                        .take()
                        .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0);
                    self.last = Some(match result {
                        Ok(done) => {
                            self.shown_record = done
                                .record
                                .as_ref()
                                .ok()
                                .map(|r| ShownRecord::new(r.clone(), false));
                            let gallery_ids =
                                self.gallery.iter().filter(|g| g.is_usable()).map(|g| g.id);
                            LastResult::Done {
                                gallery_ids: gallery_ids.collect(),
                                done,
                                shown_after_ms,
                            }
                        }
                        Err(e) => LastResult::Failed(e.to_string(), Some(EngineErrorKind::of(&e))),
                    });
                }
                Event::Recent(r) => match r {
                    Ok(v) => {
                        self.recent = v;
                        self.recent_error = None;
                    }
                    Err(e) => self.recent_error = Some(e),
                },
            }
        }
        while let Ok(d) = self.dialog_rx.try_recv() {
            self.dialog_open = false;
            match d {
                DialogResult::Probe(Some(p)) => self.push(Command::AddProbeFile(p)),
                DialogResult::Probe(None) => {}
                DialogResult::Gallery(files) => {
                    if !files.is_empty() {
                        self.push(Command::AddGalleryFiles(files))
                    }
                }
            }
        }
        if let Some(rx) = &self.cameras_rx {
            if let Ok(r) = rx.try_recv() {
                self.cameras = r.unwrap_or_default();
                self.cameras_rx = None;
            }
        }
    }

    fn on_analysed(
        &mut self,
        ctx: &egui::Context,
        target: Target,
        result: Result<Box<worker::Analysis>, String>,
    ) {
        match target {
            Target::Probe(id) => {
                let Some(probe) = self.probe.as_mut().filter(|p| p.id == id) else {
                    return; // retaken meanwhile
                };
                probe.analysis = Some(result.map(|a| {
                    let tex = ctx.load_texture(
                        format!("probe-{id}"),
                        a.display.clone(),
                        TextureOptions::LINEAR,
                    );
                    probe.image = Some(a.image.clone());
                    ProbeView::from_analysis(&a, tex)
                }));
            }
            Target::Gallery(id) => {
                let Some(item) = self.gallery.iter_mut().find(|g| g.id == id) else {
                    return; // removed meanwhile
                };
                item.analysis = Some(result.map(|a| GalleryView {
                    badge: a.badge,
                    faces: a.faces.clone(),
                    texture: ctx.load_texture(
                        format!("gallery-{id}"),
                        a.display.clone(),
                        TextureOptions::LINEAR,
                    ),
                    scale: a.display_scale,
                }));
            }
        }
    }

    /// Shows the newest camera frame (one texture, updated in place) and asks for detection on it
    /// when none is running: the detector always sees the newest frame, older ones are dropped.
    /// While a probe is frozen the preview keeps running (a small live inset) without detection.
    fn update_preview(&mut self, ctx: &egui::Context) {
        let Some(frame) = self.camera.as_ref().and_then(|c| c.slot.latest()) else {
            return;
        };
        if self.preview.shown_seq == Some(frame.seq) {
            return;
        }
        let (w, h) = frame.image.dimensions();
        let image = if self.options.redact {
            let p = worker::pixelate(&frame.image);
            egui::ColorImage::from_rgb([w as usize, h as usize], p.as_raw())
        } else {
            egui::ColorImage::from_rgb([w as usize, h as usize], frame.image.as_raw())
        };
        match &mut self.preview.texture {
            Some(t) => t.set(image, TextureOptions::LINEAR),
            None => {
                self.preview.texture =
                    Some(ctx.load_texture("preview", image, TextureOptions::LINEAR))
            }
        }
        self.preview.size = [w as usize, h as usize];
        self.preview.shown_seq = Some(frame.seq);
        self.preview.frames_shown += 1;
        if self.probe.is_none()
            && self.is_ready()
            && !self.preview.detect_in_flight
            && !self.compare_running()
            && self.worker.send(Job::Detect {
                seq: frame.seq,
                image: frame.image.clone(),
            })
        {
            self.preview.detect_in_flight = true;
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        // Typing into a text field keeps its keys; otherwise the shortcuts win (consumed here,
        // before widgets see them, so a focused button does not fire twice).
        // egui drops a text field's focus on Esc at the start of the pass, so also count a field
        // focused at the end of the previous frame.
        let focused = ctx.egui_wants_keyboard_input() || self.typing;
        let (space, enter, open, esc) = ctx.input_mut(|i| {
            (
                !focused && i.consume_key(Modifiers::NONE, Key::Space),
                !focused && i.consume_key(Modifiers::NONE, Key::Enter),
                i.consume_key(Modifiers::COMMAND, Key::O),
                // Esc in a text field (remote URL, token) only leaves the field.
                !focused && i.consume_key(Modifiers::NONE, Key::Escape),
            )
        });
        if space {
            self.push(if self.probe.is_some() {
                Command::Retake
            } else {
                Command::Capture
            });
        }
        if enter {
            self.push(Command::Compare);
        }
        if open {
            self.push(Command::OpenGalleryDialog);
        }
        if esc {
            self.push(Command::Reset);
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

    // ---- commands ---------------------------------------------------------------------------

    fn run_commands(&mut self, ctx: &egui::Context) {
        let commands = std::mem::take(&mut self.commands);
        for c in commands {
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
            Command::OpenProbeDialog => self.open_dialog(false),
            Command::OpenGalleryDialog => self.open_dialog(true),
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
                    // The threshold's meaning depends on the mode: take that mode's default.
                    self.settings.compare_threshold = default_threshold(mode);
                }
            }
            Command::ResetThresholds => {
                self.settings.compare_threshold = default_threshold(self.settings.mode);
                self.settings.liveness_threshold = DEFAULT_LIVENESS_MIN_SCORE;
            }
            Command::CopyRecord => {
                if let Some(r) = &self.shown_record {
                    ctx.copy_text(r.pretty.clone());
                    self.message = Some("record copied to the clipboard".into());
                }
            }
            Command::SaveRecord => self.save_record(),
            Command::OpenRecent(i) => {
                if let Some(r) = self.recent.get(i) {
                    self.shown_record = Some(ShownRecord::new(r.clone(), true));
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
            Command::Reset => {
                self.probe = None;
                self.preview.shown_seq = None;
                self.gallery.clear();
                self.last = None;
                self.cross = None;
                self.shown_record = None;
                self.message = None;
            }
        }
    }

    fn capture(&mut self) {
        let Some(frame) = self.camera.as_ref().and_then(|c| c.slot.latest()) else {
            self.message = Some("no camera frame to capture; use a probe file".into());
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
            target: Target::Probe(id),
            input: Input::Frame(frame.image),
            display_side: PROBE_SIDE,
            redact: self.options.redact,
        });
    }

    fn probe_from_file(&mut self, path: &Path) {
        // Reading one file is quick; decoding it (the slow part) happens on the worker.
        let bytes = match std::fs::read(path) {
            Ok(b) => Arc::new(b),
            Err(e) => {
                self.message = Some(format!("cannot read {}: {e}", path.display()));
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
            target: Target::Probe(id),
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
                        target: Target::Gallery(id),
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

    fn open_dialog(&mut self, gallery: bool) {
        if self.dialog_open {
            return; // one dialog at a time
        }
        let dir = if gallery {
            self.settings.last_gallery_dir.clone()
        } else {
            self.settings.last_probe_dir.clone()
        };
        let tx = self.dialog_tx.clone();
        let waker = self.ctx.clone();
        // rfd's async dialog is awaited on its own thread, so the UI keeps drawing.
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut d = rfd::AsyncFileDialog::new()
                    .add_filter("images", &["png", "jpg", "jpeg", "webp", "bmp"]);
                if let Some(dir) = dir {
                    d = d.set_directory(dir);
                }
                let result = if gallery {
                    let files = pollster::block_on(d.pick_files()).unwrap_or_default();
                    DialogResult::Gallery(files.iter().map(|f| f.path().to_path_buf()).collect())
                } else {
                    DialogResult::Probe(
                        pollster::block_on(d.pick_file()).map(|f| f.path().to_path_buf()),
                    )
                };
                let _ = tx.send(result);
                waker.request_repaint();
            });
        self.dialog_open = spawned.is_ok();
    }

    /// The comparison of the current probe and usable gallery images, if Compare is allowed.
    fn compare_job(&self, purpose: Purpose, clicked: Instant) -> Option<CompareJob> {
        if self.compare_blocker().is_some() {
            return None;
        }
        let probe = self.probe.as_ref()?;
        let input = match (&probe.bytes, &probe.image) {
            (Some(b), _) => Input::Bytes(b.clone()),
            (None, Some(img)) => Input::Frame(img.clone()),
            (None, None) => return None,
        };
        let gallery: Vec<Arc<Vec<u8>>> = self
            .gallery
            .iter()
            .filter(|g| g.is_usable())
            .map(|g| g.bytes.clone())
            .collect();
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
            clicked,
            purpose,
        })
    }

    /// The remote service and token, or why they cannot be used (worded for the operator).
    fn remote_target(&self) -> Result<RemoteTarget, String> {
        use crate::api::TokenError;
        let token = crate::api::BearerToken::new(&self.remote_token).map_err(|e| match e {
            TokenError::Empty => "no API token: enter the bearer token from Verifik's dashboard \
                (or the FaceStation server's token) in the token field"
                .to_string(),
            other => other.to_string(),
        })?;
        Ok(RemoteTarget {
            base_url: self.settings.remote_url.trim().to_string(),
            token,
        })
    }

    fn usable_gallery_ids(&self) -> Vec<u64> {
        self.gallery
            .iter()
            .filter(|g| g.is_usable())
            .map(|g| g.id)
            .collect()
    }

    fn start_compare(&mut self) {
        let clicked = Instant::now();
        let Some(job) = self.compare_job(Purpose::Decision, clicked) else {
            return;
        };
        let sent = match self.settings.engine {
            EngineChoice::Local => self.worker.send(Job::Compare(Box::new(job))),
            EngineChoice::Remote => match self.remote_target() {
                Ok(target) => self.worker.compare_remote(job, target),
                Err(why) => {
                    self.last = Some(LastResult::Failed(why, None));
                    return;
                }
            },
        };
        if sent {
            self.compare_started = Some(clicked);
        }
    }

    /// Runs the same comparison on both engines at once (the local one on the inference thread,
    /// the remote one on the remote thread); neither side is recorded.
    fn start_cross_check(&mut self) {
        let clicked = Instant::now();
        let Some(job) = self.compare_job(Purpose::CrossLocal, clicked) else {
            return;
        };
        let mut cross = CrossCheck {
            gallery_ids: self.usable_gallery_ids(),
            ..CrossCheck::default()
        };
        let remote_job = CompareJob {
            purpose: Purpose::CrossRemote,
            ..job.clone()
        };
        match self.remote_target() {
            Ok(target) => {
                if !self.worker.compare_remote(remote_job, target) {
                    cross.remote = Some(Err("the engine has stopped".into()));
                }
            }
            Err(why) => cross.remote = Some(Err(why)),
        }
        if !self.worker.send(Job::Compare(Box::new(job))) {
            cross.local = Some(Err("the engine has stopped".into()));
        }
        self.cross = Some(cross);
    }

    fn save_record(&mut self) {
        let Some(r) = &self.shown_record else { return };
        let name = r
            .record
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("record")
            .to_string();
        let text = r.pretty.clone();
        let dir = self.settings.last_gallery_dir.clone();
        let waker = self.ctx.clone();
        // Save dialog and write on a helper thread; the outcome is not needed by the UI.
        let _ = std::thread::Builder::new()
            .name("save-dialog".into())
            .spawn(move || {
                let mut d = rfd::AsyncFileDialog::new().set_file_name(format!("{name}.json"));
                if let Some(dir) = dir {
                    d = d.set_directory(dir);
                }
                if let Some(f) = pollster::block_on(d.save_file()) {
                    let _ = std::fs::write(f.path(), text);
                }
                waker.request_repaint();
            });
    }

    /// The p-th percentile of recent UI frame times (ms).
    pub fn frame_time_percentile(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self.frame_times.iter().copied().collect();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
        v[i.min(v.len() - 1)]
    }
}

impl GalleryItem {
    /// Decoded fine (a gallery image with no face is still compared: the engine reports it).
    pub fn is_usable(&self) -> bool {
        matches!(self.analysis, Some(Ok(_)))
    }
}

impl eframe::App for StationApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let start = Instant::now();
        self.drain_events(ctx);
        self.update_preview(ctx);
        self.handle_keys(ctx);
        self.logic_ms = start.elapsed().as_secs_f64() * 1000.0;
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        // Timed apart from `logic`: eframe may present the previous frame in between.
        let start = Instant::now();
        if let EngineState::Failed(problem) = &self.engine {
            let problem = problem.clone();
            egui::CentralPanel::default().show(ui, |ui| setup_screen::show(ui, &problem));
            return;
        }
        status_bar::show(self, ui);
        // Fixed widths: a panel that follows its content would change size with paths and images.
        egui::Panel::left("probe")
            .resizable(false)
            .exact_size(440.0)
            .show(ui, |ui| probe_panel::show(self, ui));
        egui::Panel::right("record")
            .resizable(false)
            .exact_size(340.0)
            .show(ui, |ui| record_panel::show(self, ui));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                gallery_panel::show(self, ui);
                ui.separator();
                compare_panel::show(self, ui);
            });
        });
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            gallery_panel::drop_overlay(&ctx);
        }
        self.run_commands(&ctx);
        self.typing = ctx.egui_wants_keyboard_input();
        if self.compare_running()
            || self.cross_check_running()
            || matches!(self.engine, EngineState::Loading)
        {
            // Spinners animate; answers also wake us via request_repaint.
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
        if self.frame_times.len() == FRAME_TIMES {
            self.frame_times.pop_front();
        }
        self.frame_times
            .push_back(self.logic_ms + start.elapsed().as_secs_f64() * 1000.0);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// Opens the station window (blocks until it closes).
pub fn run(options: StationOptions) -> Result<(), eframe::Error> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("FaceStation")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "FaceStation",
        native,
        Box::new(move |cc| Ok(Box::new(StationApp::new(cc, options)))),
    )
}
