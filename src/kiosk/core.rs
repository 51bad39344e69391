//! The kiosk without its window: the flow, the worker, the camera, the frames kept for the best
//! shot, the enrolment bytes of the current claim, and the timings. The egui app (app.rs) only
//! maps keys to [`Input`]s and draws [`KioskCore`]'s state; a headless driver (the timing
//! example) runs the same core.
//!
//! The clock is injected ([`Clock`]): the flow's timers (time per person, "more time?", the
//! answer, the cooldown) run on it, so tests move time on without waiting.
//!
//! The camera is on only while the live view shows: it opens when a claim's live view starts
//! and closes when it ends, so the kiosk never films the room between people (and a file
//! camera plays its frames from the first one for each person).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde_json::Value;
use zeroize::Zeroizing;

use super::flow::{Effect, Input, Kiosk, KioskConfig, Screen};
use super::gate::{FrameGate, Oval, QualityGate};
use super::worker::{
    zero_frame, DecideFailure, DecisionDetails, Event, Job, WorkerConfig, WorkerHandle,
};
use crate::camera::{CameraState, CameraThread, FileSource, FrameSource};
use crate::engine::verdict::{Reason, Verdict};
use crate::paths::StationPaths;
use crate::record::Stamper;

/// The time source of the flow's timers.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Instant::now)
}

/// Recent checks kept in [`KioskCore::checks_seen`].
const CHECKS_KEPT: usize = 1000;

/// Checks and decisions kept for the medians in the operator view.
const STATS_KEPT: usize = 200;

/// How `facestation kiosk` was started.
pub struct KioskOptions {
    pub paths: StationPaths,
    /// A folder of images played as the camera; `None`: the first webcam.
    pub camera_file: Option<PathBuf>,
    pub camera_fps: f64,
    /// Never open a webcam (tests).
    pub no_webcam: bool,
    /// `--enrolled DIR`.
    pub enrolled: PathBuf,
    /// Written into every record (`station.kioskId`).
    pub kiosk_id: Option<String>,
    /// The operator PIN (`--pin-file`); `None`: the operator view is refused.
    pub pin: Option<Zeroizing<String>>,
    pub windowed: bool,
    /// Pixelate the camera view (privacy screen; the committed screenshots).
    pub redact: bool,
    pub config: KioskConfig,
    pub gate: Box<dyn FrameGate>,
    pub stamper: Option<Arc<dyn Stamper>>,
    pub clock: Clock,
}

impl Default for KioskOptions {
    fn default() -> Self {
        Self {
            paths: StationPaths::default(),
            camera_file: None,
            camera_fps: 30.0,
            no_webcam: false,
            enrolled: PathBuf::from("enrolled"),
            kiosk_id: None,
            pin: None,
            windowed: false,
            redact: false,
            config: KioskConfig::default(),
            gate: Box::new(QualityGate::default()),
            stamper: None,
            clock: system_clock(),
        }
    }
}

/// Where frames come from.
#[derive(Debug, Clone)]
enum CameraSource {
    File(PathBuf, f64),
    Webcam,
    Off,
}

impl CameraSource {
    fn describe(&self) -> String {
        match self {
            CameraSource::File(dir, fps) => format!("file camera: {} at {fps} fps", dir.display()),
            CameraSource::Webcam => "webcam 0 at 640x480, on during the live view only".into(),
            CameraSource::Off => "off".into(),
        }
    }
}

/// Whether the kiosk can serve people.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    /// The models are loading.
    Starting,
    Ready,
    /// No decision can be made or recorded; `why` is for staff (the person is told to see staff).
    OutOfService {
        why: String,
    },
}

/// Timings for the operator view and the measurements.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Detect + gate per checked frame (ms).
    pub check_ms: VecDeque<f64>,
    /// The gate alone (ms).
    pub gate_ms: VecDeque<f64>,
    /// From the first passing frame of the run that was captured to the answer (ms).
    pub position_to_verdict_ms: VecDeque<f64>,
    /// The worker's share of that: encode + compare + record (ms).
    pub decide_ms: VecDeque<f64>,
    pub frames_checked: u64,
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == STATS_KEPT {
        q.pop_front();
    }
    q.push_back(v);
}

/// The median of the values, if any.
pub fn median(q: &VecDeque<f64>) -> Option<f64> {
    if q.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = q.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

pub struct KioskCore {
    pub kiosk: Kiosk,
    pub service: Service,
    pub worker: WorkerHandle,
    pub camera: Option<CameraThread>,
    camera_failed: Option<String>,
    camera_source: CameraSource,
    camera_wake: Arc<dyn Fn() + Send + Sync>,
    /// Set while a screen shows the camera: the camera thread wakes the UI only then.
    live: Arc<AtomicBool>,
    /// Frames sent for checking in the current run, kept for the best-shot capture (newest
    /// last), by check number (camera sequence numbers restart with the camera).
    frames: VecDeque<(u64, Arc<RgbImage>)>,
    check_in_flight: bool,
    /// The camera frame last sent, and the number of the last check.
    last_sent_seq: Option<u64>,
    checks_sent: u64,
    /// The enrolment bytes of the current claim (zeroed on drop).
    enrolment: Option<(String, Vec<Zeroizing<Vec<u8>>>)>,
    pub last_decision: Option<DecisionDetails>,
    pub last_failure: Option<DecideFailure>,
    pub recent: Result<Vec<Value>, String>,
    pub log_path: Option<PathBuf>,
    pub key_id: Option<String>,
    pub models: Option<String>,
    pub stats: Stats,
    /// The most recent checks (hint and quality), newest last, for tests and diagnostics.
    pub checks_seen: VecDeque<super::flow::FrameCheck>,
    /// How many times every image was erased.
    pub erasures: u64,
    /// The UI must blank its camera texture.
    pub blank_display: bool,
    pub staff_called_at: Option<Instant>,
    /// When the current passing run began (the face got into position).
    position_since: Option<Instant>,
    /// The oval of the last checked frame's size.
    pub guide: Option<Oval>,
    pub gate_description: String,
    pub enrolled_dir: PathBuf,
    pub kiosk_id: Option<String>,
    pub camera_description: String,
    clock: Clock,
}

impl KioskCore {
    /// Starts the worker (recorder, then models) and the camera. `wake` asks for a repaint.
    pub fn start(options: KioskOptions, wake: impl Fn() + Clone + Send + Sync + 'static) -> Self {
        let KioskOptions {
            paths,
            camera_file,
            camera_fps,
            no_webcam,
            enrolled,
            kiosk_id,
            config,
            gate,
            stamper,
            clock,
            ..
        } = options;
        let gate_description = gate.describe();
        let worker = WorkerHandle::spawn(
            WorkerConfig {
                paths,
                enrolled: enrolled.clone(),
                kiosk_id: kiosk_id.clone(),
                gate,
                stamper,
            },
            wake.clone(),
        );
        let live = Arc::new(AtomicBool::new(false));
        let flag = live.clone();
        let camera_wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if flag.load(Ordering::Relaxed) {
                wake();
            }
        });
        let camera_source = match camera_file {
            Some(dir) => CameraSource::File(dir, camera_fps),
            None if no_webcam => CameraSource::Off,
            None => CameraSource::Webcam,
        };
        let now = clock();
        Self {
            kiosk: Kiosk::new(config, now),
            service: Service::Starting,
            worker,
            camera: None,
            camera_failed: None,
            camera_description: camera_source.describe(),
            camera_source,
            camera_wake,
            live,
            frames: VecDeque::new(),
            check_in_flight: false,
            last_sent_seq: None,
            checks_sent: 0,
            enrolment: None,
            last_decision: None,
            last_failure: None,
            recent: Ok(Vec::new()),
            log_path: None,
            key_id: None,
            models: None,
            stats: Stats::default(),
            checks_seen: VecDeque::new(),
            erasures: 0,
            blank_display: false,
            staff_called_at: None,
            position_since: None,
            guide: None,
            gate_description,
            enrolled_dir: enrolled,
            kiosk_id,
            clock,
        }
    }

    /// Opens the camera (on its own thread; a failure shows as its state).
    fn start_camera(&mut self) {
        self.last_sent_seq = None;
        let wake = self.camera_wake.clone();
        let wake = move || wake();
        match &self.camera_source {
            CameraSource::File(dir, fps) => {
                let (dir, fps) = (dir.clone(), *fps);
                self.camera = Some(CameraThread::spawn(
                    move || Ok(Box::new(FileSource::open(&dir, fps)?) as Box<dyn FrameSource>),
                    wake,
                ));
            }
            CameraSource::Off => self.camera_failed = Some("no camera (camera off)".into()),
            #[cfg(feature = "webcam")]
            CameraSource::Webcam => {
                self.camera = Some(CameraThread::spawn(
                    move || {
                        let src = crate::camera::WebcamSource::open(0, 640, 480)?;
                        Ok(Box::new(src) as Box<dyn FrameSource>)
                    },
                    wake,
                ));
            }
            #[cfg(not(feature = "webcam"))]
            CameraSource::Webcam => {
                self.camera_failed = Some(crate::camera::CameraError::NotBuilt.to_string())
            }
        }
    }

    /// Closes the camera. Its newest frame goes with its slot (freed, not zeroed: see worker.rs).
    fn stop_camera(&mut self) {
        self.camera = None;
        self.last_sent_seq = None;
        self.check_in_flight = false;
    }

    pub fn now(&self) -> Instant {
        (self.clock)()
    }

    /// The newest camera frame, if any.
    pub fn latest_frame(&self) -> Option<crate::camera::Frame> {
        self.camera.as_ref().and_then(|c| c.slot.latest())
    }

    /// Why the camera does not work, if it does not.
    pub fn camera_problem(&self) -> Option<String> {
        if let Some(why) = &self.camera_failed {
            return Some(why.clone());
        }
        match self.camera.as_ref().map(|c| c.slot.state()) {
            Some(CameraState::Failed(why)) => Some(why),
            _ => None,
        }
    }

    /// A key from the person (or the badge reader). Ignored while the kiosk cannot serve,
    /// except "call staff".
    pub fn key(&mut self, input: Input) {
        if self.service != Service::Ready && input != Input::CallStaff {
            return;
        }
        self.apply(input);
    }

    fn apply(&mut self, input: Input) {
        let now = self.now();
        if input == Input::CallStaff {
            self.staff_called_at = Some(now);
        }
        let was_streak = matches!(self.kiosk.screen, Screen::Live { streak, .. } if streak > 0);
        let passing = matches!(&input, Input::Frame(c) if c.hint.is_none());
        let effects = self.kiosk.handle(input, now);
        if passing && !was_streak {
            self.position_since = Some(now);
        }
        if matches!(self.kiosk.screen, Screen::Live { streak: 0, .. }) {
            self.position_since = None;
        }
        self.run_effects(effects, now);
    }

    fn run_effects(&mut self, effects: Vec<Effect>, now: Instant) {
        for effect in effects {
            match effect {
                Effect::LookUp(id) => {
                    if !self.worker.send(Job::LookUp { id }) {
                        self.out_of_service("the worker has stopped".into());
                    }
                }
                Effect::Capture { seq, id, attempt } => self.capture(seq, id, attempt, now),
                Effect::Erase => self.erase(),
                Effect::CallStaff => {
                    // No network at the kiosk: the call is on screen and on stderr for a
                    // supervising process; an installation wires it to a bell or a pager.
                    eprintln!("facestation kiosk: staff called");
                }
            }
        }
        let claim_open = matches!(
            self.kiosk.screen,
            Screen::Looking { .. }
                | Screen::Live { .. }
                | Screen::MoreTime { .. }
                | Screen::Deciding { .. }
        );
        if !claim_open {
            self.enrolment = None; // Zeroizing: zeroed as it drops
        }
        if !matches!(self.kiosk.screen, Screen::Live { .. }) {
            self.drop_frames();
        }
    }

    fn capture(&mut self, seq: u64, id: String, attempt: u32, now: Instant) {
        // The frame actually taken (the newest if the best is gone): its check's report is the
        // probe's quality in the record.
        let taken = match self.frames.iter().position(|(s, _)| *s == seq) {
            Some(i) => self.frames.remove(i),
            None => self.frames.pop_back(),
        };
        let (seq, frame) = match taken {
            Some((s, f)) => (s, Some(f)),
            None => (seq, None),
        };
        let gallery: Option<Vec<Vec<u8>>> = self
            .enrolment
            .as_ref()
            .filter(|(eid, _)| *eid == id)
            // A copy for the worker, which zeroes it after the decision; the claim keeps its
            // own until it ends (a "step back" retry decides again).
            .map(|(_, g)| g.iter().map(|b| b.to_vec()).collect());
        self.drop_frames();
        let (Some(frame), Some(gallery)) = (frame, gallery) else {
            self.apply_decided(Err("no frame or enrolment to decide on".into()), now);
            return;
        };
        // The worker owns (and zeroes) the probe: unwrap the frame if nobody else holds it,
        // else copy it (the camera's newest-frame slot still does; it replaces it soon).
        let probe = Arc::try_unwrap(frame).unwrap_or_else(|shared| (*shared).clone());
        if !self.worker.send(Job::Decide {
            seq,
            probe,
            gallery,
            id,
            attempt,
        }) {
            self.out_of_service("the worker has stopped".into());
        }
    }

    fn apply_decided(&mut self, result: Result<(Verdict, Vec<Reason>), String>, now: Instant) {
        let effects = self.kiosk.handle(Input::Decided(result), now);
        self.run_effects(effects, now);
    }

    /// Every image this side holds goes: the kept frames (zeroed where this is the last holder),
    /// the enrolment bytes (zeroed on drop), and the screen's copy.
    fn erase(&mut self) {
        self.drop_frames();
        self.enrolment = None;
        self.blank_display = true;
        self.erasures += 1;
    }

    fn drop_frames(&mut self) {
        for (_, f) in self.frames.drain(..) {
            zero_frame(f);
        }
    }

    fn out_of_service(&mut self, why: String) {
        if !matches!(self.service, Service::OutOfService { .. }) {
            eprintln!("facestation kiosk: out of service: {why}");
        }
        self.service = Service::OutOfService { why };
        let now = self.now();
        if !matches!(
            self.kiosk.screen,
            Screen::Welcome { .. } | Screen::Erased { .. }
        ) {
            let effects = self.kiosk.handle(Input::Escape, now);
            self.run_effects(effects, now);
        }
    }

    /// Drains the worker's answers, feeds the next frame to check, and ticks the flow. Call once
    /// per UI frame (cheap: no waiting).
    pub fn update(&mut self) {
        while let Ok(ev) = self.worker.events.try_recv() {
            self.on_event(ev);
        }
        if let Some(why) = self.camera_problem() {
            if self.service != Service::Starting {
                self.out_of_service(format!("the camera does not work: {why}"));
            }
        }
        let live = matches!(self.kiosk.screen, Screen::Live { .. });
        if live && self.camera.is_none() && self.camera_failed.is_none() {
            self.start_camera();
        }
        if live && !self.check_in_flight {
            if let Some(frame) = self.latest_frame() {
                if self.last_sent_seq.is_none_or(|s| frame.seq > s) {
                    self.last_sent_seq = Some(frame.seq);
                    let keep = self.kiosk.config.capture_frames as usize + 1;
                    if self.frames.len() >= keep {
                        if let Some((_, old)) = self.frames.pop_front() {
                            zero_frame(old);
                        }
                    }
                    self.checks_sent += 1;
                    let seq = self.checks_sent;
                    self.frames.push_back((seq, frame.image.clone()));
                    self.check_in_flight = self.worker.send(Job::Check {
                        seq,
                        frame: frame.image,
                    });
                }
            }
        }
        self.apply(Input::Tick);
        if !matches!(self.kiosk.screen, Screen::Live { .. }) && self.camera.is_some() {
            self.stop_camera();
        }
        self.live.store(
            matches!(self.kiosk.screen, Screen::Live { .. }),
            Ordering::Relaxed,
        );
    }

    fn on_event(&mut self, ev: Event) {
        let now = self.now();
        match ev {
            Event::Ready { models, gate, .. } => {
                self.models = Some(models);
                self.gate_description = gate;
                if self.service == Service::Starting {
                    self.service = Service::Ready;
                }
            }
            Event::SetupFailed(why) => {
                self.out_of_service(format!("the engine could not start: {why}"))
            }
            Event::Recorder { log_path, key_id } => {
                self.log_path = Some(log_path);
                self.key_id = Some(key_id);
            }
            Event::RecorderFailed(why) => self.out_of_service(format!(
                "records cannot be kept (no decision is made without one): {why}"
            )),
            Event::LookedUp { id, result } => {
                let ours = matches!(&self.kiosk.screen, Screen::Looking { id: l } if *l == id);
                if !ours {
                    return; // cancelled meanwhile: the bytes drop (zeroed) here
                }
                let answer = match result {
                    Ok(bytes) => {
                        self.enrolment = Some((id, bytes));
                        Ok(())
                    }
                    Err(words) => Err(words),
                };
                self.apply(Input::LookedUp(answer));
            }
            // A check of a frame from before (a cancelled run, a closed camera): the check in
            // flight, if any, is a newer one.
            Event::Checked { check, .. } if check.seq != self.checks_sent => {}
            Event::Checked {
                check,
                detect_ms,
                gate_ms,
                guide,
                ..
            } => {
                self.check_in_flight = false;
                self.stats.frames_checked += 1;
                push(&mut self.stats.check_ms, detect_ms + gate_ms);
                push(&mut self.stats.gate_ms, gate_ms);
                self.guide = Some(guide);
                if self.checks_seen.len() == CHECKS_KEPT {
                    self.checks_seen.pop_front();
                }
                self.checks_seen.push_back(check);
                // A frame that failed can never be the best shot: let it go now.
                if check.hint.is_some() {
                    if let Some(i) = self.frames.iter().position(|(s, _)| *s == check.seq) {
                        if let Some((_, f)) = self.frames.remove(i) {
                            zero_frame(f);
                        }
                    }
                }
                self.apply(Input::Frame(check));
            }
            Event::Decided {
                id,
                attempt,
                result,
            } => {
                let ours = matches!(&self.kiosk.screen,
                    Screen::Deciding { id: d, attempt: a } if *d == id && *a == attempt);
                match &result {
                    Ok(d) => {
                        push(&mut self.stats.decide_ms, d.decide_ms);
                        self.last_decision = Some((**d).clone());
                        self.last_failure = None;
                    }
                    Err(f) => self.last_failure = Some(f.clone()),
                }
                if let Err(f) = &result {
                    if f.out_of_service {
                        self.out_of_service(f.message.clone());
                        return;
                    }
                }
                if !ours {
                    return;
                }
                if let Some(since) = self.position_since.take() {
                    push(
                        &mut self.stats.position_to_verdict_ms,
                        now.saturating_duration_since(since).as_secs_f64() * 1000.0,
                    );
                }
                let input = result
                    .map(|d| (d.verdict, d.reasons))
                    .map_err(|f| f.message);
                self.apply_decided(input, now);
            }
            Event::Recent(r) => self.recent = r,
        }
    }

    /// When the screen next changes by itself (a countdown second, a timer running out), for
    /// `request_repaint_after`. Camera frames wake the UI on their own while the camera shows.
    pub fn next_wake(&self) -> Option<Duration> {
        let now = self.now();
        let until = |t: Instant| t.saturating_duration_since(now);
        let second = |left: Duration| {
            // The countdown shows whole seconds: wake at the next change.
            let frac = left.as_secs_f64().fract();
            Duration::from_secs_f64(if frac > 0.0 { frac } else { 1.0 })
        };
        let wake = match &self.kiosk.screen {
            Screen::Welcome { typed, .. } if !typed.is_empty() => Some(Duration::from_secs(1)),
            Screen::Welcome { .. } | Screen::Looking { .. } | Screen::Deciding { .. } => None,
            Screen::Live { deadline, .. } => Some(second(until(*deadline))),
            Screen::MoreTime { until: u, .. } => Some(second(until(*u))),
            Screen::Answer { until: u, .. } | Screen::Erased { until: u } => Some(until(*u)),
        };
        let staff = self
            .staff_called_at
            .map(|t| (t + STAFF_BANNER).saturating_duration_since(now));
        match (wake, staff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// "Staff have been called" shows this long.
    pub fn staff_banner(&self) -> bool {
        self.staff_called_at
            .is_some_and(|t| self.now().saturating_duration_since(t) < STAFF_BANNER)
    }

    /// Asks the worker to re-read the recent records (the operator view opens).
    pub fn refresh_recent(&self) {
        self.worker.send(Job::RefreshRecent);
    }
}

/// How long "Staff have been called" stays on screen.
pub const STAFF_BANNER: Duration = Duration::from_secs(20);

impl Drop for KioskCore {
    fn drop(&mut self) {
        self.erase();
    }
}
