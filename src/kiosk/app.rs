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

use std::time::{Duration, Instant};

use eframe::egui::{
    self, accesskit, Align, Color32, ColorImage, Key, Layout, RichText, Stroke, TextureHandle,
    TextureOptions, Vec2,
};
use serde_json::Value;
use zeroize::Zeroizing;

use super::core::{median, KioskCore, KioskOptions, Service};
use super::flow::{Answer, Hint, Input, Screen};
use crate::engine::verdict::Verdict;

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
const OPERATOR_BG: Color32 = Color32::from_rgb(10, 20, 60);

/// Wrong PINs in a row before the PIN prompt locks for [`PIN_LOCK`].
const PIN_TRIES: u32 = 3;
const PIN_LOCK: Duration = Duration::from_secs(60);
/// The operator view closes itself after this long without a key.
const OPERATOR_IDLE: Duration = Duration::from_secs(120);

/// The words on every answer screen under the headline.
pub fn answer_advice(a: Answer) -> &'static str {
    match a {
        Answer::Verified => "Thank you. You may go ahead.",
        Answer::NotVerified => "Your face did not match this ID. Please try again, or see staff.",
        Answer::SeeStaff => "A member of staff will help you.",
    }
}

/// The fill and the type colour of an answer.
pub fn answer_colours(a: Answer) -> (Color32, Color32) {
    match a {
        Answer::Verified => (VERIFIED_GREEN, Color32::BLACK),
        Answer::NotVerified => (NOT_VERIFIED_RED, Color32::WHITE),
        Answer::SeeStaff => (SEE_STAFF_AMBER, Color32::BLACK),
    }
}

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

    fn ask_operator(&mut self, now: Instant) {
        self.operator = if self.pin.is_none() {
            Operator::Refused {
                until: now + Duration::from_secs(8),
            }
        } else {
            Operator::Pin {
                typed: Zeroizing::new(String::new()),
                message: None,
            }
        };
    }

    fn operator_key(&mut self, key: Key, now: Instant) {
        match &mut self.operator {
            Operator::Pin { typed, message } => match key {
                Key::Escape => self.operator = Operator::Closed,
                Key::Backspace => {
                    typed.pop();
                }
                Key::Enter => {
                    if let Some(until) = self.pin_locked_until.filter(|u| *u > now) {
                        *message = Some(format!(
                            "Too many wrong PINs: try again in {} s.",
                            until.duration_since(now).as_secs() + 1
                        ));
                        typed.clear();
                        return;
                    }
                    let ok = self.pin.as_ref().is_some_and(|pin| {
                        use subtle::ConstantTimeEq as _;
                        bool::from(pin.as_bytes().ct_eq(typed.as_bytes()))
                    });
                    if ok {
                        self.pin_failures = 0;
                        self.operator = Operator::Open { last_key: now };
                        self.core.refresh_recent();
                    } else {
                        self.pin_failures += 1;
                        typed.clear();
                        if self.pin_failures >= PIN_TRIES {
                            self.pin_failures = 0;
                            self.pin_locked_until = Some(now + PIN_LOCK);
                        }
                        *message = Some("Wrong PIN.".into());
                    }
                }
                _ => {}
            },
            Operator::Open { last_key } => {
                *last_key = now;
                if key == Key::Escape {
                    self.operator = Operator::Closed;
                }
            }
            Operator::Refused { .. } => {
                if key == Key::Escape {
                    self.operator = Operator::Closed;
                }
            }
            Operator::Closed => {}
        }
    }

    fn expire_operator(&mut self, now: Instant) {
        match &self.operator {
            Operator::Open { last_key } if now.duration_since(*last_key) > OPERATOR_IDLE => {
                self.operator = Operator::Closed
            }
            Operator::Refused { until } if now >= *until => self.operator = Operator::Closed,
            _ => {}
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

/// Large type, high contrast, a thick yellow focus ring.
fn style(ctx: &egui::Context) {
    ctx.set_theme(egui::ThemePreference::Dark);
    ctx.all_styles_mut(|s| {
        use egui::{FontFamily, FontId, TextStyle};
        s.text_styles = [
            (
                TextStyle::Heading,
                FontId::new(64.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(32.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(32.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Small,
                FontId::new(24.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(24.0, FontFamily::Monospace),
            ),
        ]
        .into();
        s.spacing.button_padding = Vec2::new(24.0, 12.0);
        s.spacing.item_spacing = Vec2::new(16.0, 16.0);
        let v = &mut s.visuals;
        v.panel_fill = Color32::BLACK;
        v.window_fill = Color32::BLACK;
        v.override_text_color = Some(Color32::WHITE);
        v.widgets.inactive.weak_bg_fill = Color32::from_gray(40);
        v.widgets.inactive.bg_stroke = Stroke::new(2.0, Color32::WHITE);
        v.widgets.hovered.bg_stroke = Stroke::new(3.0, Color32::WHITE);
        v.widgets.active.bg_stroke = Stroke::new(4.0, FOCUS);
        v.selection.stroke = Stroke::new(4.0, FOCUS);
    });
}

fn big(text: &str, size: f32) -> RichText {
    RichText::new(text).size(size).strong()
}

fn button(ui: &mut egui::Ui, text: &str) -> bool {
    ui.add(egui::Button::new(big(text, 32.0)).min_size(Vec2::new(220.0, 64.0)))
        .clicked()
}

/// A label that screen readers announce when it changes (an ARIA live region).
fn live_label(ui: &mut egui::Ui, text: RichText) {
    let r = ui.label(text);
    ui.ctx().accesskit_node_builder(r.id, |node| {
        node.set_live(accesskit::Live::Polite);
    });
}

fn centred(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui)) {
    ui.with_layout(Layout::top_down(Align::Center), add);
}

fn secs_left(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl KioskApp {
    fn top_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("kiosk-top")
            .frame(egui::Frame::new().fill(Color32::BLACK).inner_margin(16.0))
            .show_separator_line(false)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(big("Face check", 36.0));
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        if button(ui, "Call staff (F1)") {
                            self.core.key(Input::CallStaff);
                        }
                    });
                });
                if self.core.staff_banner() {
                    live_label(
                        ui,
                        big(
                            "Staff have been called. Someone will come to help you.",
                            32.0,
                        )
                        .color(SEE_STAFF_AMBER),
                    );
                }
            });
    }

    fn bottom_bar(&mut self, ui: &mut egui::Ui) {
        egui::Panel::bottom("kiosk-keys")
            .frame(egui::Frame::new().fill(Color32::BLACK).inner_margin(12.0))
            .show_separator_line(false)
            .show(ui, |ui| {
                ui.label(
                    RichText::new(
                        "Keys: Enter to go on, Esc to cancel, Tab to move, F1 to call staff",
                    )
                    .size(24.0),
                );
            });
    }

    fn out_of_service(&mut self, ui: &mut egui::Ui, why: &str) {
        centred(ui, |ui| {
            ui.add_space(80.0);
            live_label(
                ui,
                big("This kiosk is out of service", 64.0).color(SEE_STAFF_AMBER),
            );
            ui.label(big("Please see staff.", 40.0));
            ui.add_space(40.0);
            // For staff: what broke (no personal data in it).
            ui.label(RichText::new(format!("Staff: {why}")).size(24.0));
        });
    }

    fn welcome(&mut self, ui: &mut egui::Ui, typed: &str, message: Option<&str>) {
        centred(ui, |ui| {
            ui.add_space(60.0);
            ui.label(big("Welcome", 72.0));
            live_label(ui, big("Type or scan your ID, then press Enter", 40.0));
            ui.add_space(24.0);
            let shown = if typed.is_empty() { " " } else { typed };
            let r = ui.add(
                egui::Label::new(RichText::new(shown).size(56.0).monospace().strong())
                    .selectable(false),
            );
            // The field's accessible name and value (a screen reader reads what was typed).
            r.widget_info(|| {
                let mut info =
                    egui::WidgetInfo::labeled(accesskit::Role::TextInput, true, "Your ID");
                info.current_text_value = Some(typed.to_string());
                info
            });
            ui.painter().rect_stroke(
                r.rect.expand(12.0),
                6.0,
                Stroke::new(3.0, Color32::WHITE),
                egui::StrokeKind::Outside,
            );
            ui.add_space(24.0);
            if let Some(m) = message {
                live_label(ui, big(m, 32.0).color(SEE_STAFF_AMBER));
            }
            ui.add_space(24.0);
            if button(ui, "Continue (Enter)") {
                self.core.key(Input::Enter);
            }
        });
    }

    fn live(&mut self, ui: &mut egui::Ui) {
        let now = self.core.now();
        let Screen::Live { hint, streak, .. } = &self.core.kiosk.screen else {
            return;
        };
        let (hint, streak) = (*hint, *streak);
        let needed = self.core.kiosk.config.capture_frames.max(1);
        let left = self.core.kiosk.time_left(now).unwrap_or_default();
        let words = hint.map_or(Hint::NoFace.message(), |h| h.message());
        centred(ui, |ui| {
            live_label(ui, big(words, 64.0));
            let avail = ui.available_size();
            let h = (avail.y - 150.0).max(120.0);
            let size = Vec2::new((h * 4.0 / 3.0).min(avail.x), h);
            let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
            resp.widget_info(|| {
                egui::WidgetInfo::labeled(
                    accesskit::Role::Image,
                    true,
                    "Camera view with an oval to put your face in",
                )
            });
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, Color32::from_gray(20));
            if let (Some(t), Some(_)) = (&self.texture, self.shown_seq) {
                // Mirrored, as a mirror: moving left moves the face left on screen.
                let uv = egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0));
                painter.image(t.id(), rect, uv, Color32::WHITE);
            }
            let oval = self
                .core
                .guide
                .unwrap_or_else(|| super::gate::Oval::guide(640, 480));
            let (fw, fh) = (oval.centre.0 * 2.0, oval.centre.1 * 2.0);
            let sx = rect.width() / fw.max(1.0);
            let sy = rect.height() / fh.max(1.0);
            let colour = if streak > 0 {
                OVAL_HOLDING
            } else {
                OVAL_GUIDING
            };
            painter.add(egui::Shape::ellipse_stroke(
                rect.center(),
                Vec2::new(oval.radii.0 * sx, oval.radii.1 * sy),
                Stroke::new(6.0, colour),
            ));
            ui.add_space(8.0);
            let progress = streak as f32 / needed as f32;
            let bar_text = if streak > 0 {
                format!("Hold still: {streak} of {needed}")
            } else {
                "Waiting for your face in the oval".to_string()
            };
            ui.add(
                egui::ProgressBar::new(progress)
                    .desired_width(size.x)
                    .desired_height(36.0)
                    .fill(PROGRESS_FILL)
                    .text(RichText::new(bar_text).size(26.0).color(Color32::WHITE)),
            );
            ui.horizontal(|ui| {
                ui.label(big(&format!("Time left: {} s", secs_left(left)), 32.0));
                ui.add_space(40.0);
                if button(ui, "Cancel (Esc)") {
                    self.core.key(Input::Escape);
                }
            });
        });
    }

    fn more_time(&mut self, ui: &mut egui::Ui) {
        let left = self
            .core
            .kiosk
            .time_left(self.core.now())
            .unwrap_or_default();
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(ui, big("Do you need more time?", 64.0));
            ui.label(big(
                &format!("Press Enter for more time. {} s left.", secs_left(left)),
                36.0,
            ));
            ui.add_space(30.0);
            ui.horizontal(|ui| {
                if button(ui, "Yes, more time (Enter)") {
                    self.core.key(Input::Enter);
                }
                if button(ui, "No, stop (Esc)") {
                    self.core.key(Input::Escape);
                }
            });
        });
    }

    fn deciding(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(120.0).color(Color32::WHITE));
            live_label(ui, big("Checking, please wait", 56.0));
        });
    }

    fn answer(&mut self, ui: &mut egui::Ui, a: Answer) {
        // The panel behind is filled with the answer's colour (see `ui`).
        let ink = answer_colours(a).1;
        let rect = ui.max_rect();
        centred(ui, |ui| {
            ui.add_space(rect.height() * 0.25);
            live_label(ui, big(a.words(), 120.0).color(ink));
            ui.label(big(answer_advice(a), 40.0).color(ink));
        });
    }

    fn erased(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            live_label(ui, big("Your images have been erased", 64.0));
            ui.label(big(
                "No pictures are kept, only a record of the check.",
                36.0,
            ));
        });
    }

    fn looking(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(80.0).color(Color32::WHITE));
            live_label(ui, big("Looking up your ID", 56.0));
        });
    }

    fn starting(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(160.0);
            ui.add(egui::Spinner::new().size(80.0).color(Color32::WHITE));
            live_label(ui, big("Starting, please wait", 56.0));
        });
    }

    fn pin_prompt(&mut self, ui: &mut egui::Ui) {
        let (n, message) = match &self.operator {
            Operator::Pin { typed, message } => (typed.chars().count(), message.clone()),
            _ => return,
        };
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(ui, big("Staff: type the PIN, then press Enter", 48.0));
            let dots = if n == 0 {
                " ".to_string()
            } else {
                "\u{25CF} ".repeat(n)
            };
            let r = ui.label(RichText::new(dots).size(56.0).monospace());
            r.widget_info(|| {
                egui::WidgetInfo::labeled(
                    accesskit::Role::PasswordInput,
                    true,
                    format!("PIN, {n} characters typed"),
                )
            });
            if let Some(m) = message {
                live_label(ui, big(&m, 32.0).color(SEE_STAFF_AMBER));
            }
            ui.label(big("Esc to go back", 28.0));
        });
    }

    fn refused(&mut self, ui: &mut egui::Ui) {
        centred(ui, |ui| {
            ui.add_space(100.0);
            live_label(
                ui,
                big(
                    "The operator view is off: this kiosk was started without --pin-file",
                    40.0,
                )
                .color(SEE_STAFF_AMBER),
            );
            ui.label(big("Esc to go back", 28.0));
        });
    }

    fn operator_view(&mut self, ui: &mut egui::Ui) {
        let mut close = false;
        ui.horizontal(|ui| {
            ui.label(big("Operator view", 44.0));
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                close = button(ui, "Close operator view (Esc)");
            });
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.columns(2, |cols| {
                self.operator_decisions(&mut cols[0]);
                self.operator_settings(&mut cols[1]);
            });
        });
        if close {
            self.operator = Operator::Closed;
        }
    }

    fn operator_decisions(&self, ui: &mut egui::Ui) {
        let text = |ui: &mut egui::Ui, s: String| {
            ui.add(egui::Label::new(RichText::new(s).size(22.0)).wrap());
        };
        ui.label(big("Last decision", 30.0));
        match (&self.core.last_decision, &self.core.last_failure) {
            (_, Some(f)) => text(ui, format!("No verdict: {}", f.message)),
            (Some(d), None) => {
                text(
                    ui,
                    format!(
                        "{} for ID {} (attempt {})",
                        d.verdict.label(),
                        d.claimed_id,
                        d.attempt
                    ),
                );
                let reasons: Vec<&str> = d.reasons.iter().map(|r| r.words()).collect();
                let reasons = if reasons.is_empty() {
                    "none".to_string()
                } else {
                    reasons.join("; ")
                };
                text(ui, format!("Reasons: {reasons}"));
                text(
                    ui,
                    format!("Match score {:.3} (threshold {:.3})", d.score, d.threshold),
                );
                if let (Some(s), Some(v)) = (d.liveness_score, d.liveness_verdict) {
                    text(ui, format!("Liveness P(real) {s:.3}: {v}"));
                }
                text(ui, quality_line(&d.record));
                text(
                    ui,
                    format!(
                        "Record id {}, decided in {:.0} ms",
                        d.record_id.as_deref().unwrap_or("?"),
                        d.decide_ms
                    ),
                );
            }
            (None, None) => text(ui, "No decision yet.".into()),
        }
        ui.add_space(12.0);
        ui.label(big("Recent records", 30.0));
        match &self.core.recent {
            Ok(records) if records.is_empty() => text(ui, "The log is empty.".into()),
            Ok(records) => {
                for r in records.iter().rev() {
                    text(ui, record_line(r));
                }
            }
            Err(e) => text(ui, format!("The log cannot be read: {e}")),
        }
    }

    fn operator_settings(&self, ui: &mut egui::Ui) {
        let c = &self.core.kiosk.config;
        let core = &self.core;
        ui.label(big("Settings", 30.0));
        let lines = [
            format!("Kiosk ID: {}", core.kiosk_id.as_deref().unwrap_or("(none)")),
            format!("Enrolled folder: {}", core.enrolled_dir.display()),
            format!(
                "Audit log: {}",
                core.log_path
                    .as_ref()
                    .map_or("(not open)".to_string(), |p| p.display().to_string())
            ),
            format!("Station key: {}", core.key_id.as_deref().unwrap_or("(not open)")),
            format!("Models: {}", core.models.as_deref().unwrap_or("(loading)")),
            format!("Camera: {}", core.camera_description),
            format!("Gate: {}", core.gate_description),
            format!(
                "Capture after {} passing frames; {} s per person; more time up to {} x, asked for {} s; \
                 {} attempts per claim; {} NOT VERIFIED lock an ID for {} s",
                c.capture_frames,
                c.person_time.as_secs(),
                c.max_extensions,
                c.more_time_prompt.as_secs(),
                c.attempts_per_claim,
                c.retry_cap,
                c.cooldown.as_secs()
            ),
            format!(
                "Timings: check median {} over {} frames (gate {}); face in position to verdict median {} over {}",
                fmt_ms(median(&core.stats.check_ms)),
                core.stats.check_ms.len(),
                fmt_ms(median(&core.stats.gate_ms)),
                fmt_ms(median(&core.stats.position_to_verdict_ms)),
                core.stats.position_to_verdict_ms.len(),
            ),
        ];
        for l in lines {
            ui.add(egui::Label::new(RichText::new(l).size(20.0)).wrap());
        }
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.1} ms"))
}

/// One line of the operator's record list.
pub fn record_line(r: &Value) -> String {
    let s = &r["station"];
    let d = &r["data"];
    let verdict = s["verdict"].as_str().and_then(Verdict::parse).map_or_else(
        || d["type"].as_str().unwrap_or("?").to_string(),
        |v| v.label().to_string(),
    );
    format!(
        "{}  {}  ID {}  attempt {}  kiosk {}",
        d["createdAt"].as_str().unwrap_or("?"),
        verdict,
        s["claimedId"].as_str().unwrap_or("-"),
        s["attempt"]
            .as_u64()
            .map_or("-".to_string(), |a| a.to_string()),
        s["kioskId"].as_str().unwrap_or("-"),
    )
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

/// The operator's one line on the capture quality a record holds (probe and enrolment images).
fn quality_line(record: &Value) -> String {
    let one = |q: &Value| -> String {
        if q.is_null() {
            return "not measured".into();
        }
        let margin = q["quality"]
            .as_f64()
            .map_or(String::new(), |m| format!(", worst margin {m:.2}"));
        let codes: Vec<&str> = q["actions"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if codes.is_empty() {
            format!("passed{margin}")
        } else {
            format!("{}{margin}", codes.join(", "))
        }
    };
    let station = &record["station"];
    let gallery: Vec<String> = station["gallery"]
        .as_array()
        .map(|g| g.iter().map(|g| one(&g["quality"])).collect())
        .unwrap_or_default();
    format!(
        "Quality: probe {}; enrolment {}",
        one(&station["quality"]["probe"]),
        if gallery.is_empty() {
            "-".to_string()
        } else {
            gallery.join(" | ")
        }
    )
}
