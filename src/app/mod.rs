//! The desktop station (eframe): a probe panel (camera or file), a gallery, compare controls and
//! the verdict, the signed record, and a status bar. One inference worker owns the engine; the UI
//! thread only draws, sends jobs and drains answers (see `worker`).
//!
//! Laid out like rerun's viewer: this file keeps the struct and `eframe::App`; each concern adds
//! one `impl StationApp` block in its own file: `events` (worker, camera and task answers),
//! `commands` (what the operator asks for, with its keys and labels), `preview` (camera and
//! preview detection), `tasks` (file dialogs and saves). Panels get the state they show and a
//! `Vec<Command>` to push into, so each can be drawn alone (tests). Persisted [`Settings`] are
//! kept apart from runtime state, as in egui's demo app.
//!
//! Three screens share the window ([`Screen`]: Station | History | QA) under a top bar that also
//! holds the operator on shift (`operator`). `config_changes` turns a committed change of a
//! deciding setting into a signed configuration record; `history` + `history_view` are the audit
//! log's table (own thread); the QA workbench (`qa::screen`) applies its threshold through
//! [`StationApp::apply_threshold_basis`].

pub mod clock;
mod commands;
mod compare_panel;
pub mod config_changes;
mod events;
mod gallery_panel;
pub mod history;
pub mod history_view;
pub mod image;
pub mod operator;
mod preview;
mod probe_panel;
mod record_panel;
mod setup_screen;
pub mod state;
mod status_bar;
pub mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
pub mod theme;
pub mod worker;

use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use eframe::egui::{self, RichText, TextureHandle};
use serde_json::Value;

use crate::camera::{CameraError, CameraInfo, CameraState, CameraThread};
use crate::vision::quality::QualityHint;
use crate::vision::Face;
pub use commands::Command;
use state::{CrossCheck, EngineChoice, GalleryItem, LastResult, Probe, ShownRecord};
pub use state::{EngineState, Settings};
pub use tasks::DialogBackend;
use tasks::Tasks;
use worker::{RecorderInfo, WorkerConfig, WorkerHandle};

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
    /// A probe image to start with (`--probe`).
    pub probe: Option<PathBuf>,
    /// Do not open a webcam (tests; the file camera still works).
    pub no_webcam: bool,
    /// Ignore stored settings (tests, screenshots).
    pub fresh_settings: bool,
    /// Start with photos pixelated on screen.
    pub redact: bool,
    /// Which file dialog to use; `None`: [`DialogBackend::detect`].
    pub file_dialog: Option<DialogBackend>,
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
    /// When the last detection came back (boxes older than a quarter second are not drawn).
    pub faces_at: Option<std::time::Instant>,
    /// When the last detection was sent, for the idle rate.
    pub last_detect_sent: Option<std::time::Instant>,
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

/// A message for the operator in the status bar: the outcome of a task, or why something did
/// not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// The station's screens (the switch on the top bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// Capture, compare, decide.
    #[default]
    Station,
    /// Every record of the audit log.
    History,
    /// The threshold-QA workbench.
    Qa,
}

impl Screen {
    pub const ALL: [Screen; 3] = [Screen::Station, Screen::History, Screen::Qa];

    pub fn label(self) -> &'static str {
        match self {
            Screen::Station => "Station",
            Screen::History => "History",
            Screen::Qa => "QA",
        }
    }
}

pub struct StationApp {
    pub settings: Settings,
    /// The screen shown.
    pub screen: Screen,
    /// Who is on shift (this session only).
    pub operator: operator::Operator,
    /// The deciding settings as last recorded (changes against it become config records).
    recorded: config_changes::DecisionSettings,
    /// The history screen's index and thread (started the first time it is shown).
    pub history: Option<history::History>,
    pub history_form: history_view::HistoryForm,
    /// The threshold-QA workbench; its "Apply this threshold" sets the station's threshold.
    pub qa: crate::qa::screen::QaScreen,
    pub options: StationOptions,
    pub engine: EngineState,
    /// The station key and audit log (opened at start-up, whether or not the models load).
    pub recorder: Option<RecorderInfo>,
    worker: WorkerHandle,
    ctx: egui::Context,
    clock: clock::SharedClock,
    pub camera: Option<CameraThread>,
    pub camera_kind: CameraKind,
    pub cameras: Vec<CameraInfo>,
    cameras_rx: Option<Receiver<Result<Vec<CameraInfo>, CameraError>>>,
    /// How often the camera may wake the UI (shared with the camera thread's waker).
    camera_pace: preview::Pace,
    pub preview: Preview,
    pub probe: Option<Probe>,
    pub gallery: Vec<GalleryItem>,
    next_id: u64,
    /// When the running compare was clicked (station clock), and its gallery (ids, names).
    pub compare_started: Option<std::time::Instant>,
    compare_gallery: Vec<(u64, String)>,
    pub last: Option<LastResult>,
    /// The last cross-check of the two engines.
    pub cross: Option<CrossCheck>,
    /// The remote API's bearer token: in memory only, deliberately outside [`Settings`] so that it
    /// never reaches eframe storage (initial value from `VERIFIK_TOKEN`).
    pub remote_token: String,
    /// The token field shows its text (off at every start).
    pub reveal_token: bool,
    pub shown_record: Option<ShownRecord>,
    pub recent: Vec<Value>,
    pub recent_error: Option<String>,
    pub tasks: Tasks,
    pub notice: Option<Notice>,
    commands: Vec<Command>,
    /// Time spent in `logic` + `ui` per frame (ms).
    pub frame_times: egui::util::History<f32>,
    logic_ms: f64,
    /// A text field had the keyboard at the end of the last frame.
    typing: bool,
    /// The window has been fitted to the screen (first frame).
    window_fitted: bool,
    /// `FACESTATION_STATS=1`: a line of preview and frame-time numbers on stderr every 5 s
    /// (scripts/idle-cpu.sh reads it), and when it was last printed with the counters then.
    stats: Option<(std::time::Instant, u64, u64)>,
}

impl StationApp {
    /// Restores settings, starts the worker (which loads the models) and the camera.
    pub fn new(cc: &eframe::CreationContext<'_>, options: StationOptions) -> Self {
        let mut settings = if options.fresh_settings {
            Settings::default()
        } else {
            cc.storage
                .and_then(|s| eframe::get_value::<Settings>(s, SETTINGS_KEY))
                .unwrap_or_default()
        };
        let reset = settings.reconcile_score_scale();
        // `--redact` is a property of this run (StationOptions), never a persisted setting: one
        // screenshot run must not pixelate every later run.
        let mut app = Self::with_settings(cc.egui_ctx.clone(), options, settings);
        if let Some(why) = reset {
            app.notify_info(why);
        }
        app
    }

    pub fn with_settings(ctx: egui::Context, options: StationOptions, settings: Settings) -> Self {
        let waker = ctx.clone();
        let worker = WorkerHandle::spawn(options.worker.clone(), move || waker.request_repaint());
        let backend = options.file_dialog.unwrap_or_else(DialogBackend::detect);
        let mut app = Self {
            recorded: config_changes::DecisionSettings::of(&settings),
            settings,
            screen: Screen::Station,
            operator: operator::Operator::new(),
            history: None,
            history_form: history_view::HistoryForm::default(),
            qa: crate::qa::screen::QaScreen::new(options.worker.paths.clone()),
            engine: EngineState::Loading,
            recorder: None,
            worker,
            clock: options.worker.clock(),
            ctx,
            camera: None,
            camera_kind: CameraKind::None("no camera".into()),
            cameras: Vec::new(),
            cameras_rx: None,
            camera_pace: preview::Pace::default(),
            preview: Preview::default(),
            probe: None,
            gallery: Vec::new(),
            next_id: 1,
            compare_started: None,
            compare_gallery: Vec::new(),
            last: None,
            cross: None,
            remote_token: std::env::var(crate::engine::remote::TOKEN_ENV).unwrap_or_default(),
            reveal_token: false,
            shown_record: None,
            recent: Vec::new(),
            recent_error: None,
            tasks: Tasks::new(backend),
            notice: None,
            commands: Vec::new(),
            frame_times: egui::util::History::new(0..FRAME_TIMES, 1_000_000.0),
            logic_ms: 0.0,
            typing: false,
            window_fitted: false,
            stats: std::env::var_os("FACESTATION_STATS")
                .is_some()
                .then(|| (std::time::Instant::now(), 0, 0)),
            options,
        };
        app.start_camera();
        let start_gallery = app.options.gallery.clone();
        if !start_gallery.is_empty() {
            app.add_gallery_files(&start_gallery);
        }
        if let Some(probe) = app.options.probe.clone() {
            app.probe_from_file(&probe);
        }
        app
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn push(&mut self, c: Command) {
        self.commands.push(c);
    }

    pub fn notify_info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: false,
        });
    }

    pub fn notify_error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            text: text.into(),
            error: true,
        });
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

    pub fn camera_state(&self) -> CameraState {
        match (&self.camera, &self.camera_kind) {
            (Some(c), _) => c.slot.state(),
            (None, CameraKind::None(why)) => CameraState::Failed(why.clone()),
            (None, _) => CameraState::Stopped,
        }
    }

    fn usable_gallery(&self) -> impl Iterator<Item = &GalleryItem> {
        self.gallery.iter().filter(|g| g.is_usable())
    }

    /// Why the local engine cannot compare, if it cannot.
    pub fn local_blocker(&self) -> Option<&'static str> {
        match self.engine {
            EngineState::Ready(_) => None,
            EngineState::Loading => Some("the models are loading"),
            EngineState::Failed(_) => {
                Some("the local engine could not start (see the banner): choose Remote")
            }
        }
    }

    /// Why Compare is disabled, if it is.
    pub fn compare_blocker(&self) -> Option<&'static str> {
        if self.settings.engine == EngineChoice::Local {
            if let Some(why) = self.local_blocker() {
                return Some(why);
            }
        }
        self.input_blocker()
    }

    /// Why Cross-check is disabled, if it is (it needs the local engine too).
    pub fn cross_check_blocker(&self) -> Option<&'static str> {
        self.local_blocker().or_else(|| self.input_blocker())
    }

    /// What the probe and gallery still lack for a comparison.
    fn input_blocker(&self) -> Option<&'static str> {
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
        let usable = self.usable_gallery().count();
        if usable == 0 {
            return Some("add a readable gallery image");
        }
        if usable > crate::api::MAX_GALLERY {
            // Never drop usable images silently: the operator chooses which to remove.
            return Some("too many usable gallery images (at most 10): remove some");
        }
        None
    }

    /// The p-th percentile of recent UI frame times (ms).
    pub fn frame_time_percentile(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self.frame_times.values().map(f64::from).collect();
        crate::eval::percentile(&mut v, p).unwrap_or(0.0)
    }

    /// Prints the preview rate, detection rate and UI frame p95 every 5 s (when asked for).
    fn print_stats(&mut self) {
        let Some((since, frames, detections)) = self.stats else {
            return;
        };
        let secs = since.elapsed().as_secs_f64();
        if secs < 5.0 {
            return;
        }
        eprintln!(
            "stats: preview {:.1} frames/s, {:.1} detections/s, UI frame p95 {:.2} ms",
            (self.preview.frames_shown - frames) as f64 / secs,
            (self.preview.detections - detections) as f64 / secs,
            self.frame_time_percentile(95.0)
        );
        self.stats = Some((
            std::time::Instant::now(),
            self.preview.frames_shown,
            self.preview.detections,
        ));
    }

    /// Panel widths for a window this wide: proportional, so the layout follows the screen
    /// (and is the same on every run of one size, for snapshots).
    fn panel_widths(width: f32) -> (f32, f32) {
        (
            (width * 0.30).clamp(320.0, 560.0),
            (width * 0.27).clamp(300.0, 480.0),
        )
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        let mut out = Vec::new();
        egui::Panel::top("screens").show(ui, |ui| self.top_bar(ui));
        if let EngineState::Failed(problem) = &self.engine {
            // The station stays usable (Remote, records); the problem and its fix stay in view.
            egui::Panel::top("setup-problem").show(ui, |ui| setup_screen::banner(ui, problem));
        }
        status_bar::show(ui, &self.status_view(), &mut out);
        match self.screen {
            Screen::Station => self.draw_station(ui, &mut out),
            Screen::History => self.draw_history(ui, &mut out),
            Screen::Qa => {
                egui::CentralPanel::default().show(ui, |ui| self.qa.ui(ui));
                if let Some(basis) = self.qa.take_applied() {
                    self.apply_threshold_basis(&basis);
                }
            }
        }
        self.commands.extend(out);
    }

    /// The screen switch and the operator on shift.
    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for screen in Screen::ALL {
                if ui
                    .selectable_label(
                        self.screen == screen,
                        RichText::new(screen.label()).size(16.0),
                    )
                    .clicked()
                {
                    self.screen = screen;
                }
            }
            ui.separator();
            self.operator.show(ui);
        });
    }

    fn draw_history(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        self.start_history();
        let busy = self
            .history
            .as_ref()
            .is_some_and(|h| h.exports.is_running(history::EXPORT_TASK))
            || self.tasks.busy(tasks::DialogKind::ExportHistory(
                crate::record::ExportFormat::Csv,
            ))
            || self.tasks.busy(tasks::DialogKind::ExportHistory(
                crate::record::ExportFormat::Jsonl,
            ));
        egui::CentralPanel::default().show(ui, |ui| match &mut self.history {
            Some(h) => history_view::show(ui, h, &mut self.history_form, busy, out),
            None => {
                let why = self
                    .recorder
                    .as_ref()
                    .and_then(|r| r.problem.clone())
                    .unwrap_or_else(|| "the audit log is being opened".into());
                ui.colored_label(theme::fail(ui.visuals()), format!("No history: {why}"));
            }
        });
    }

    /// Starts the history thread on the station's log (once; the log is known when the
    /// recorder has opened).
    pub fn start_history(&mut self) {
        if self.history.is_some() {
            return;
        }
        let Some(log) = self.recorder.as_ref().and_then(|r| r.log_path.clone()) else {
            return;
        };
        let key = crate::record::resolve_paths(&self.options.worker.paths)
            .ok()
            .map(|(key, _)| key);
        let waker = self.ctx.clone();
        self.history = Some(history::History::start(&log, key, move || {
            waker.request_repaint()
        }));
    }

    fn draw_station(&mut self, ui: &mut egui::Ui, out: &mut Vec<Command>) {
        let ctx = ui.ctx().clone();
        let window_w = ctx.content_rect().width();
        let (left, right) = Self::panel_widths(window_w);
        let centre_w = (window_w - left - right - 24.0).max(200.0);
        egui::Panel::left("probe")
            .resizable(false)
            .exact_size(left)
            .show(ui, |ui| probe_panel::show(ui, &self.probe_view(), out));
        egui::Panel::right("record")
            .resizable(false)
            .exact_size(right)
            .show(ui, |ui| {
                record_panel::show(
                    ui,
                    &record_panel::RecordView {
                        shown: self.shown_record.as_ref(),
                        last: self.last.as_ref(),
                        recent: &self.recent,
                        recent_error: self.recent_error.as_deref(),
                        save_busy: self.tasks.busy(tasks::DialogKind::SaveRecord),
                    },
                    out,
                )
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("centre")
                .show(ui, |ui| {
                    // Content never widens the panel (rows wrap or are shortened instead).
                    ui.set_max_width(centre_w);
                    gallery_panel::show(
                        ui,
                        &self.gallery,
                        self.tasks.busy(tasks::DialogKind::Gallery),
                        centre_w,
                        out,
                    );
                    ui.separator();
                    let blockers = compare_panel::Blockers {
                        compare: self.compare_blocker(),
                        cross_check: self.cross_check_blocker(),
                        running: self.compare_running() || self.cross_check_running(),
                    };
                    compare_panel::show(
                        ui,
                        &mut compare_panel::CompareView {
                            settings: &mut self.settings,
                            token: &mut self.remote_token,
                            reveal_token: &mut self.reveal_token,
                            blockers,
                            last: self.last.as_ref(),
                            cross: self.cross.as_ref(),
                            width: centre_w,
                        },
                        out,
                    );
                });
        });
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            gallery_panel::drop_overlay(&ctx);
        }
    }
}

impl eframe::App for StationApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let start = self.clock.now();
        self.fit_window(ctx);
        self.drain_events(ctx);
        self.poll_tasks(ctx);
        self.poll_history();
        self.update_preview(ctx);
        self.handle_keys(ctx);
        self.print_stats();
        self.logic_ms = clock::ms_since(self.clock.as_ref(), start);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        // Timed apart from `logic`: eframe may present the previous frame in between.
        let start = self.clock.now();
        self.draw(ui);
        self.show_dialog(&ctx);
        self.run_commands(&ctx);
        self.record_config_changes(&ctx);
        self.typing = ctx.egui_wants_keyboard_input();
        if self.compare_running()
            || self.cross_check_running()
            || matches!(self.engine, EngineState::Loading)
            || self.tasks.background.running().next().is_some()
        {
            // Spinners animate; answers also wake us via request_repaint.
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
        let ms = self.logic_ms + clock::ms_since(self.clock.as_ref(), start);
        let now = ctx.input(|i| i.time);
        self.frame_times.add(now, ms as f32);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

/// The largest window the station opens with; on a smaller screen it opens at the screen's size.
const MAX_START_SIZE: egui::Vec2 = egui::vec2(1600.0, 1000.0);
/// The window opens this size (it fits nearly every screen), then fits itself to the screen
/// once the screen's size is known (first frame). `FACESTATION_WINDOW_SIZE=WxH` fixes the size
/// instead (screenshots).
const FIRST_SIZE: egui::Vec2 = egui::vec2(1280.0, 800.0);

fn fixed_window_size() -> Option<egui::Vec2> {
    let v = std::env::var("FACESTATION_WINDOW_SIZE").ok()?;
    let (w, h) = v.split_once('x')?;
    Some(egui::vec2(w.trim().parse().ok()?, h.trim().parse().ok()?))
}

impl StationApp {
    /// On the first frame that knows the monitor: min(screen, 1600x1000).
    fn fit_window(&mut self, ctx: &egui::Context) {
        if self.window_fitted {
            return;
        }
        let Some(monitor) = ctx.input(|i| i.viewport().monitor_size) else {
            return;
        };
        self.window_fitted = true;
        let size = match fixed_window_size() {
            Some(s) => s,
            // A little room for the window manager's bar and the window's title.
            None => (monitor - egui::vec2(0.0, 60.0)).min(MAX_START_SIZE),
        };
        if size.x > 0.0 && size.y > 0.0 {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        }
    }
}

/// Why the station window did not open, with what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(
        "no display to open the station window on (DISPLAY and WAYLAND_DISPLAY are not set). \
         Run it on a desktop session, under a virtual display (`xvfb-run -a facestation ...`), \
         or use the command line instead (`facestation compare --probe FILE --gallery FILE`, \
         `facestation serve`; see `facestation --help`)"
    )]
    NoDisplay,
    #[error(
        "{0}. If there is no screen here, run it under a virtual display (`xvfb-run -a facestation ...`) \
         or use the command line (`facestation --help`)"
    )]
    Window(#[from] eframe::Error),
}

/// Opens the station window (blocks until it closes).
pub fn run(options: StationOptions) -> Result<(), WindowError> {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if cfg!(target_os = "linux") && !has_display {
        return Err(WindowError::NoDisplay);
    }
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("FaceStation")
            .with_inner_size(fixed_window_size().unwrap_or(FIRST_SIZE))
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "FaceStation",
        native,
        Box::new(move |cc| Ok(Box::new(StationApp::new(cc, options)))),
    )?;
    Ok(())
}
