//! The kiosk window (eframe): full screen, large type, high contrast, keyboard only (typed
//! characters + Enter, Tab between buttons, Esc to cancel, F1 to call staff; a badge reader that
//! types like a keyboard works as is). Every control and every message is a labelled AccessKit
//! node, and the hint is a polite live region, so a screen reader follows the flow.
//!
//! The person sees one hint at a time, a progress meter, a countdown and one answer, never a
//! score. Staff see the details behind Ctrl+Alt+O and the PIN set at start (`--pin-file`).
//!
//! The UI thread never waits: lookups, detection and decisions run on the worker; the app
//! repaints when the worker or the camera wakes it, or when a timer on screen is due.

mod operator;
mod screens;
mod theme;

use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, ColorImage, Key, TextureHandle, TextureOptions};
use zeroize::Zeroizing;

use operator::{OPERATOR_BG, OPERATOR_IDLE};
use theme::style;

pub use operator::record_line;
pub use theme::{answer_advice, answer_colours};

use super::core::{KioskCore, KioskOptions, Service};
use super::flow::{Input, Screen};

/// Colours: black ground, white type; the answers' fills are chosen for contrast with their
/// type (black on green 9:1, white on red 6.5:1, black on amber 11:1). Green is VERIFIED only.
pub const VERIFIED_GREEN: Color32 = Color32::from_rgb(0, 200, 83);
pub const NOT_VERIFIED_RED: Color32 = Color32::from_rgb(183, 28, 28);
pub const SEE_STAFF_AMBER: Color32 = Color32::from_rgb(255, 179, 0);
/// The guide oval while guiding, and once the face holds still (never green).
const OVAL_GUIDING: Color32 = Color32::WHITE;
const OVAL_HOLDING: Color32 = Color32::from_rgb(64, 196, 255);
/// The progress meter's fill: white type reads on it (5:1) and on the empty part.
const PROGRESS_FILL: Color32 = Color32::from_rgb(2, 119, 189);
const FOCUS: Color32 = Color32::from_rgb(255, 235, 59);

/// The operator view's state.
pub enum Operator {
    Closed,
    /// The PIN is being typed (kept zeroed on drop).
    Pin {
        typed: Zeroizing<String>,
        message: Option<String>,
    },
    Open {
        last_key: Instant,
    },
    /// Asked for, but no PIN was set at start.
    Refused {
        until: Instant,
    },
}

pub struct KioskApp {
    pub core: KioskCore,
    pub operator: Operator,
    pin: Option<Zeroizing<String>>,
    pin_failures: u32,
    pin_locked_until: Option<Instant>,
    texture: Option<TextureHandle>,
    shown_seq: Option<u64>,
    redact: bool,
    /// Which screen was drawn last (to drop the keyboard focus when it changes).
    last_screen: Option<std::mem::Discriminant<Screen>>,
}

impl KioskApp {
    pub fn new(ctx: &egui::Context, mut options: KioskOptions) -> Self {
        style(ctx);
        let waker = ctx.clone();
        let pin = options.pin.take();
        let redact = options.redact;
        let core = KioskCore::start(options, move || waker.request_repaint());
        Self {
            core,
            operator: Operator::Closed,
            pin,
            pin_failures: 0,
            pin_locked_until: None,
            texture: None,
            shown_seq: None,
            redact,
            last_screen: None,
        }
    }

    pub fn operator_open(&self) -> bool {
        matches!(self.operator, Operator::Open { .. })
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let now = self.core.now();
        let focused = ctx.memory(|m| m.focused()).is_some();
        let events = ctx.input(|i| i.events.clone());
        let chord = events.iter().any(|e| {
            matches!(e, egui::Event::Key { pressed: true, modifiers, .. }
                if modifiers.ctrl || modifiers.alt || modifiers.command)
        });
        for ev in events {
            match ev {
                egui::Event::Key {
                    key,
                    pressed: true,
                    modifiers,
                    ..
                } => {
                    if key == Key::O && modifiers.ctrl && modifiers.alt {
                        self.ask_operator(now);
                    } else if key == Key::F1 {
                        self.core.key(Input::CallStaff);
                    } else if !matches!(self.operator, Operator::Closed) {
                        self.operator_key(key, now);
                    } else {
                        match key {
                            Key::Escape => self.core.key(Input::Escape),
                            // A focused button takes Enter itself (Tab moved to it).
                            Key::Enter if !focused => self.core.key(Input::Enter),
                            Key::Backspace => self.core.key(Input::Backspace),
                            _ => {}
                        }
                    }
                }
                egui::Event::Text(text) if !chord => {
                    if let Operator::Pin { typed, message } = &mut self.operator {
                        for ch in text.chars().filter(|c| !c.is_control()) {
                            if typed.chars().count() < 32 {
                                typed.push(ch);
                            }
                        }
                        *message = None;
                    } else if matches!(self.operator, Operator::Closed) {
                        for ch in text.chars() {
                            self.core.key(Input::Char(ch));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Uploads the newest camera frame (pixelated with `--redact`) when it is new.
    fn update_texture(&mut self, ctx: &egui::Context) {
        if std::mem::take(&mut self.core.blank_display) {
            if let Some(t) = &mut self.texture {
                t.set(
                    ColorImage::filled([4, 3], Color32::BLACK),
                    TextureOptions::LINEAR,
                );
            }
            self.shown_seq = None;
        }
        if !matches!(self.core.kiosk.screen, Screen::Live { .. }) {
            return;
        }
        let Some(frame) = self.core.latest_frame() else {
            return;
        };
        if self.shown_seq == Some(frame.seq) {
            return;
        }
        self.shown_seq = Some(frame.seq);
        let img = if self.redact {
            pixelate(&frame.image)
        } else {
            (*frame.image).clone()
        };
        let colour =
            ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw());
        match &mut self.texture {
            Some(t) => t.set(colour, TextureOptions::LINEAR),
            None => {
                self.texture =
                    Some(ctx.load_texture("kiosk-camera", colour, TextureOptions::LINEAR))
            }
        }
    }
}

/// Blocks of about 1/20 of the width (the station's privacy screen, as `app::worker::pixelate`).
pub fn pixelate(img: &image::RgbImage) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let block = (w / 20).max(2);
    let tiny = image::imageops::resize(
        img,
        (w / block).max(1),
        (h / block).max(1),
        image::imageops::FilterType::Triangle,
    );
    image::imageops::resize(&tiny, w, h, image::imageops::FilterType::Nearest)
}

impl eframe::App for KioskApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.handle_keys(ctx);
        self.core.update();
        let now = self.core.now();
        self.expire_operator(now);
        self.update_texture(ctx);
        let screen = std::mem::discriminant(&self.core.kiosk.screen);
        if self.last_screen != Some(screen) {
            // A new screen starts with no button focused: Enter means "go on", not a stale button.
            if let Some(id) = ctx.memory(|m| m.focused()) {
                ctx.memory_mut(|m| m.surrender_focus(id));
            }
            self.last_screen = Some(screen);
        }
        if let Some(after) = self.core.next_wake() {
            ctx.request_repaint_after(after);
        }
        match &self.operator {
            Operator::Refused { until } => {
                ctx.request_repaint_after(until.saturating_duration_since(now))
            }
            Operator::Open { last_key } => ctx.request_repaint_after(
                (*last_key + OPERATOR_IDLE).saturating_duration_since(now)
                    + Duration::from_millis(10),
            ),
            _ => {}
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.top_bar(ui);
        self.bottom_bar(ui);
        let fill = match (&self.operator, &self.core.kiosk.screen) {
            (Operator::Open { .. }, _) => OPERATOR_BG,
            (Operator::Closed, Screen::Answer { answer, .. })
                if self.core.service == Service::Ready =>
            {
                answer_colours(*answer).0
            }
            _ => Color32::BLACK,
        };
        egui::CentralPanel::default()
            .frame(egui::Frame::new().fill(fill).inner_margin(24.0))
            .show(ui, |ui| {
                match &self.operator {
                    Operator::Open { .. } => return self.operator_view(ui),
                    Operator::Pin { .. } => return self.pin_prompt(ui),
                    Operator::Refused { .. } => return self.refused(ui),
                    Operator::Closed => {}
                }
                match self.core.service.clone() {
                    Service::Starting => return self.starting(ui),
                    Service::OutOfService { why } => return self.out_of_service(ui, &why),
                    Service::Ready => {}
                }
                match self.core.kiosk.screen.clone() {
                    Screen::Welcome { typed, message } => {
                        self.welcome(ui, &typed, message.as_deref())
                    }
                    Screen::Looking { .. } => self.looking(ui),
                    Screen::Live { .. } => self.live(ui),
                    Screen::MoreTime { .. } => self.more_time(ui),
                    Screen::Deciding { .. } => self.deciding(ui),
                    Screen::Answer { answer, .. } => self.answer(ui, answer),
                    Screen::Erased { .. } => self.erased(ui),
                }
            });
    }
}

/// Opens the kiosk window (blocks until it closes). Full screen unless `windowed`.
pub fn run(options: KioskOptions) -> Result<(), eframe::Error> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("FaceStation kiosk")
        .with_inner_size([1280.0, 800.0]);
    if !options.windowed {
        viewport = viewport.with_fullscreen(true);
    }
    let native = eframe::NativeOptions {
        viewport,
        // The kiosk keeps no state between runs: nothing to persist.
        persist_window: false,
        ..Default::default()
    };
    eframe::run_native(
        "FaceStation kiosk",
        native,
        Box::new(move |cc| Ok(Box::new(KioskApp::new(&cc.egui_ctx, options)))),
    )
}
