//! The kiosk's flow as plain state, driven by inputs and a clock the caller passes in, so that every
//! path (auto-capture, time-outs, "more time?", retries, the cooldown) is tested without a window.
//!
//! welcome -> (ID typed or scanned, Enter) -> live view with one hint at a time -> auto-capture once
//! every quality measure has passed for `capture_frames` frames in a row (the best of them is the
//! probe) -> deciding -> one answer (VERIFIED / NOT VERIFIED / PLEASE SEE STAFF) -> "your images have
//! been erased" -> welcome. The person never sees a score.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::engine::verdict::{Reason, Verdict};

/// One thing to tell the person: the quality measures' action codes are the kiosk's hints (one
/// vocabulary, and `Hint::message` the one set of words), so a record's codes are what was shown.
pub use crate::vision::quality::Action as Hint;

/// The quality gate's verdict on one camera frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameCheck {
    pub seq: u64,
    /// The most actionable failed measure, or `None` when every measure passes.
    pub hint: Option<Hint>,
    /// Higher is better: picks the best frame of a passing run.
    pub quality: f32,
}

/// What the person sees as the answer. Never a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Verified,
    NotVerified,
    /// The review band, or anything the kiosk will not decide alone.
    SeeStaff,
}

impl Answer {
    pub fn words(&self) -> &'static str {
        match self {
            Answer::Verified => "VERIFIED",
            Answer::NotVerified => "NOT VERIFIED",
            Answer::SeeStaff => "PLEASE SEE STAFF",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KioskConfig {
    /// Passing frames in a row before the auto-capture.
    pub capture_frames: u32,
    /// Time per person in the live view before "more time?".
    pub person_time: Duration,
    /// How long "more time?" waits for an answer (WCAG 2.2.1: at least 20 s).
    pub more_time_prompt: Duration,
    /// How often the person may ask for more time (WCAG 2.2.1: at least 10).
    pub max_extensions: u32,
    /// Attempts per claim (a "step back" retry counts) before PLEASE SEE STAFF.
    pub attempts_per_claim: u32,
    /// NOT VERIFIED answers for one ID before that ID is locked for `cooldown`.
    pub retry_cap: u32,
    pub cooldown: Duration,
    pub answer_shown: Duration,
    pub erased_shown: Duration,
    /// A half-typed ID is cleared after this long without a key.
    pub idle_reset: Duration,
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            capture_frames: 5,
            person_time: Duration::from_secs(30),
            more_time_prompt: Duration::from_secs(20),
            max_extensions: 10,
            attempts_per_claim: 2,
            retry_cap: 3,
            cooldown: Duration::from_secs(300),
            answer_shown: Duration::from_secs(5),
            erased_shown: Duration::from_secs(2),
            idle_reset: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Welcome {
        typed: String,
        message: Option<String>,
    },
    /// The ID is being looked up.
    Looking {
        id: String,
    },
    Live {
        id: String,
        hint: Option<Hint>,
        /// Passing frames in a row so far (the "hold still" progress).
        streak: u32,
        best: Option<FrameCheck>,
        deadline: Instant,
        extensions: u32,
        attempt: u32,
    },
    MoreTime {
        id: String,
        until: Instant,
        extensions: u32,
        attempt: u32,
    },
    Deciding {
        id: String,
        attempt: u32,
    },
    Answer {
        answer: Answer,
        until: Instant,
    },
    Erased {
        until: Instant,
    },
}

/// What the kiosk is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A printable character typed (or sent by a badge reader that types like a keyboard).
    Char(char),
    Backspace,
    Enter,
    /// Cancel: always possible; erases everything and goes back to welcome.
    Escape,
    CallStaff,
    /// The answer to [`Effect::LookUp`]: whether the ID has an enrolment.
    LookedUp(Result<(), String>),
    Frame(FrameCheck),
    /// The decision on the captured probe: its verdict and reasons, or why there is none (the
    /// face rule refused the probe, the engine failed).
    Decided(Result<(Verdict, Vec<Reason>), String>),
    /// Time passes (the caller sends this every frame).
    Tick,
}

/// What the kiosk asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LookUp(String),
    /// Take this frame as the probe and decide.
    Capture {
        seq: u64,
        id: String,
        attempt: u32,
    },
    /// Zero and drop every image held (frames, probe, enrolment images).
    Erase,
    CallStaff,
}

pub struct Kiosk {
    pub config: KioskConfig,
    pub screen: Screen,
    /// "Call staff" was pressed and not yet answered by staff.
    pub staff_called: bool,
    last_key: Instant,
    /// NOT VERIFIED answers per ID, and when the ID is locked until.
    failures: HashMap<String, (u32, Option<Instant>)>,
}

const MAX_ID_CHARS: usize = 64;

impl Kiosk {
    pub fn new(config: KioskConfig, now: Instant) -> Self {
        Self {
            config,
            screen: welcome(None),
            staff_called: false,
            last_key: now,
            failures: HashMap::new(),
        }
    }

    /// Handles one input at time `now`; returns what the owner must do.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if matches!(
            input,
            Input::Char(_) | Input::Backspace | Input::Enter | Input::Escape
        ) {
            self.last_key = now;
        }
        match input {
            Input::CallStaff => {
                self.staff_called = true;
                effects.push(Effect::CallStaff);
            }
            Input::Escape => self.cancel(now, &mut effects),
            Input::Tick => self.tick(now, &mut effects),
            other => self.step(other, now, &mut effects),
        }
        effects
    }

    fn cancel(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        match &mut self.screen {
            Screen::Welcome { typed, message } => {
                typed.clear();
                *message = None;
            }
            Screen::Erased { .. } => {}
            _ => self.erase(now, effects),
        }
    }

    /// Every image goes, and the person is told so.
    fn erase(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        effects.push(Effect::Erase);
        self.screen = Screen::Erased {
            until: now + self.config.erased_shown,
        };
    }

    fn tick(&mut self, now: Instant, effects: &mut Vec<Effect>) {
        let c = &self.config;
        match &mut self.screen {
            Screen::Welcome { typed, .. }
                if !typed.is_empty() && now.duration_since(self.last_key) >= c.idle_reset =>
            {
                self.screen = welcome(None);
            }
            Screen::Live {
                id,
                deadline,
                extensions,
                attempt,
                ..
            } if now >= *deadline => {
                if *extensions < c.max_extensions {
                    self.screen = Screen::MoreTime {
                        id: id.clone(),
                        until: now + c.more_time_prompt,
                        extensions: *extensions,
                        attempt: *attempt,
                    };
                } else {
                    self.erase(now, effects);
                }
            }
            Screen::MoreTime { until, .. } if now >= *until => self.erase(now, effects),
            Screen::Answer { until, .. } if now >= *until => self.erase(now, effects),
            Screen::Erased { until } if now >= *until => self.screen = welcome(None),
            _ => {}
        }
    }

    fn step(&mut self, input: Input, now: Instant, effects: &mut Vec<Effect>) {
        let c = self.config.clone();
        match (&mut self.screen, input) {
            (Screen::Welcome { typed, message }, Input::Char(ch)) => {
                if !ch.is_control() && typed.chars().count() < MAX_ID_CHARS {
                    typed.push(ch);
                }
                *message = None;
            }
            (Screen::Welcome { typed, .. }, Input::Backspace) => {
                typed.pop();
            }
            (Screen::Welcome { typed, .. }, Input::Enter) => {
                let id = typed.trim().to_string();
                if id.is_empty() {
                    return;
                }
                if let Some(until) = self.locked_until(&id, now) {
                    let mins = until.duration_since(now).as_secs().div_ceil(60);
                    self.screen = welcome(Some(format!(
                        "Too many attempts for this ID. Please see staff, or try again in {mins} min."
                    )));
                    return;
                }
                effects.push(Effect::LookUp(id.clone()));
                self.screen = Screen::Looking { id };
            }
            (Screen::Looking { id }, Input::LookedUp(found)) => match found {
                Ok(()) => {
                    self.screen = live(id.clone(), 1, None, now, &c);
                }
                Err(why) => {
                    effects.push(Effect::Erase);
                    self.screen = welcome(Some(why));
                }
            },
            (
                Screen::Live {
                    id,
                    hint,
                    streak,
                    best,
                    attempt,
                    ..
                },
                Input::Frame(check),
            ) => match check.hint {
                Some(h) => {
                    *hint = Some(h);
                    *streak = 0;
                    *best = None;
                }
                None => {
                    *hint = Some(Hint::HoldStill);
                    *streak += 1;
                    if best.is_none_or(|b| check.quality > b.quality) {
                        *best = Some(check);
                    }
                    if *streak >= c.capture_frames {
                        let seq = best.map_or(check.seq, |b| b.seq);
                        effects.push(Effect::Capture {
                            seq,
                            id: id.clone(),
                            attempt: *attempt,
                        });
                        self.screen = Screen::Deciding {
                            id: id.clone(),
                            attempt: *attempt,
                        };
                    }
                }
            },
            (
                Screen::MoreTime {
                    id,
                    extensions,
                    attempt,
                    ..
                },
                Input::Enter,
            ) => {
                let (id, ext, attempt) = (id.clone(), *extensions + 1, *attempt);
                self.screen = live(id, attempt, None, now, &c);
                if let Screen::Live { extensions, .. } = &mut self.screen {
                    *extensions = ext;
                }
            }
            (Screen::Deciding { id, attempt }, Input::Decided(result)) => {
                let (id, attempt) = (id.clone(), *attempt);
                self.decided(id, attempt, result, now, effects);
            }
            _ => {}
        }
    }

    fn decided(
        &mut self,
        id: String,
        attempt: u32,
        result: Result<(Verdict, Vec<Reason>), String>,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) {
        let c = self.config.clone();
        // The probe is never kept past its decision.
        effects.push(Effect::Erase);
        let retry_hint = match &result {
            Ok((Verdict::Review, reasons)) if reasons.contains(&Reason::LivenessCannotJudge) => {
                Some(Hint::StepBack)
            }
            Err(_) => Some(Hint::NoFace),
            _ => None,
        };
        if let Some(h) = retry_hint {
            if attempt < c.attempts_per_claim {
                self.screen = live(id, attempt + 1, Some(h), now, &c);
                return;
            }
        }
        let answer = match result {
            Ok((Verdict::Verified, _)) => Answer::Verified,
            Ok((Verdict::NotVerified, _)) => Answer::NotVerified,
            Ok((Verdict::Review, _)) | Err(_) => Answer::SeeStaff,
        };
        let entry = self.failures.entry(id).or_insert((0, None));
        match answer {
            Answer::Verified => *entry = (0, None),
            Answer::NotVerified => {
                entry.0 += 1;
                if entry.0 >= c.retry_cap {
                    *entry = (0, Some(now + c.cooldown));
                }
            }
            Answer::SeeStaff => {}
        }
        self.screen = Screen::Answer {
            answer,
            until: now + c.answer_shown,
        };
    }

    fn locked_until(&mut self, id: &str, now: Instant) -> Option<Instant> {
        match self.failures.get(id) {
            Some((_, Some(until))) if *until > now => Some(*until),
            Some((_, Some(_))) => {
                self.failures.remove(id);
                None
            }
            _ => None,
        }
    }

    /// The time left in the live view or the "more time?" prompt, for the countdown on screen.
    pub fn time_left(&self, now: Instant) -> Option<Duration> {
        match &self.screen {
            Screen::Live { deadline, .. } => Some(deadline.saturating_duration_since(now)),
            Screen::MoreTime { until, .. } => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }
}

fn welcome(message: Option<String>) -> Screen {
    Screen::Welcome {
        typed: String::new(),
        message,
    }
}

fn live(id: String, attempt: u32, hint: Option<Hint>, now: Instant, c: &KioskConfig) -> Screen {
    Screen::Live {
        id,
        hint,
        streak: 0,
        best: None,
        deadline: now + c.person_time,
        extensions: 0,
        attempt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(seq: u64, quality: f32) -> Input {
        Input::Frame(FrameCheck {
            seq,
            hint: None,
            quality,
        })
    }

    fn fail(seq: u64, hint: Hint) -> Input {
        Input::Frame(FrameCheck {
            seq,
            hint: Some(hint),
            quality: 0.0,
        })
    }

    /// Types the id, Enter, and the lookup succeeds.
    fn claim(k: &mut Kiosk, id: &str, now: Instant) {
        for ch in id.chars() {
            k.handle(Input::Char(ch), now);
        }
        assert_eq!(k.handle(Input::Enter, now), vec![Effect::LookUp(id.into())]);
        k.handle(Input::LookedUp(Ok(())), now);
        assert!(matches!(k.screen, Screen::Live { .. }), "{:?}", k.screen);
    }

    #[test]
    fn an_approaching_person_is_guided_then_captured_on_the_best_frame() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(KioskConfig::default(), t0);
        claim(&mut k, "E123", t0);
        k.handle(fail(1, Hint::MoveCloser), t0);
        assert!(matches!(
            k.screen,
            Screen::Live {
                hint: Some(Hint::MoveCloser),
                ..
            }
        ));
        let mut effects = Vec::new();
        for (i, q) in [0.5, 0.9, 0.7, 0.6, 0.8].iter().enumerate() {
            effects = k.handle(pass(2 + i as u64, *q), t0);
        }
        assert_eq!(
            effects,
            vec![Effect::Capture {
                seq: 3,
                id: "E123".into(),
                attempt: 1
            }]
        );
        assert!(matches!(k.screen, Screen::Deciding { .. }));
        let e = k.handle(Input::Decided(Ok((Verdict::Verified, vec![]))), t0);
        assert_eq!(e, vec![Effect::Erase]);
        assert!(matches!(
            k.screen,
            Screen::Answer {
                answer: Answer::Verified,
                ..
            }
        ));
        // The answer stays up, then "erased", then welcome: no other key needed.
        let t1 = t0 + Duration::from_secs(6);
        k.handle(Input::Tick, t1);
        assert!(matches!(k.screen, Screen::Erased { .. }));
        k.handle(Input::Tick, t1 + Duration::from_secs(3));
        assert!(matches!(k.screen, Screen::Welcome { .. }));
    }

    #[test]
    fn a_failing_frame_restarts_the_streak() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(KioskConfig::default(), t0);
        claim(&mut k, "E1", t0);
        for s in 0..4 {
            k.handle(pass(s, 1.0), t0);
        }
        k.handle(fail(5, Hint::TooDark), t0);
        for s in 6..10 {
            assert!(k.handle(pass(s, 1.0), t0).is_empty());
        }
        assert!(matches!(k.screen, Screen::Live { streak: 4, .. }));
    }

    #[test]
    fn review_and_cannot_judge_never_show_verified() {
        let t0 = Instant::now();
        let mut k = Kiosk::new(KioskConfig::default(), t0);
        claim(&mut k, "E1", t0);
        for s in 0..5 {
            k.handle(pass(s, 1.0), t0);
        }
        // Liveness cannot judge: one "step back" retry.
        k.handle(
            Input::Decided(Ok((Verdict::Review, vec![Reason::LivenessCannotJudge]))),
            t0,
        );
        assert!(matches!(
            k.screen,
            Screen::Live {
                hint: Some(Hint::StepBack),
                attempt: 2,
                ..
            }
        ));
        for s in 10..15 {
            k.handle(pass(s, 1.0), t0);
        }
        k.handle(
            Input::Decided(Ok((Verdict::Review, vec![Reason::Borderline]))),
            t0,
        );
        assert!(matches!(
            k.screen,
            Screen::Answer {
                answer: Answer::SeeStaff,
                ..
            }
        ));
    }

    #[test]
    fn time_out_asks_for_more_time_and_gives_it() {
        let t0 = Instant::now();
        let c = KioskConfig::default();
        let mut k = Kiosk::new(c.clone(), t0);
        claim(&mut k, "E1", t0);
        let t1 = t0 + c.person_time;
        k.handle(Input::Tick, t1);
        assert!(matches!(k.screen, Screen::MoreTime { .. }));
        k.handle(Input::Enter, t1);
        assert!(matches!(k.screen, Screen::Live { extensions: 1, .. }));
        // No answer to the prompt: everything is erased.
        let t2 = t1 + c.person_time;
        k.handle(Input::Tick, t2);
        let e = k.handle(Input::Tick, t2 + c.more_time_prompt);
        assert_eq!(e, vec![Effect::Erase]);
        assert!(matches!(k.screen, Screen::Erased { .. }));
    }

    #[test]
    fn the_retry_cap_locks_an_id_for_the_cooldown() {
        let t0 = Instant::now();
        let c = KioskConfig::default();
        let mut k = Kiosk::new(c.clone(), t0);
        let mut now = t0;
        for _ in 0..c.retry_cap {
            claim(&mut k, "E7", now);
            for s in 0..5 {
                k.handle(pass(s, 1.0), now);
            }
            k.handle(
                Input::Decided(Ok((Verdict::NotVerified, vec![Reason::NoMatch]))),
                now,
            );
            assert!(matches!(
                k.screen,
                Screen::Answer {
                    answer: Answer::NotVerified,
                    ..
                }
            ));
            now += Duration::from_secs(10);
            k.handle(Input::Tick, now);
            now += Duration::from_secs(10);
            k.handle(Input::Tick, now);
        }
        for ch in "E7".chars() {
            k.handle(Input::Char(ch), now);
        }
        assert!(
            k.handle(Input::Enter, now).is_empty(),
            "no lookup while locked"
        );
        assert!(matches!(
            &k.screen,
            Screen::Welcome { message: Some(m), .. } if m.contains("Too many attempts")
        ));
        // Another ID is not locked, and the lock ends after the cooldown.
        claim(&mut k, "E8", now);
        k.handle(Input::Escape, now);
        k.handle(Input::Tick, now + Duration::from_secs(5));
        claim(&mut k, "E7", now + c.cooldown + Duration::from_secs(1));
    }

    #[test]
    fn escape_erases_and_a_half_typed_id_is_cleared_when_idle() {
        let t0 = Instant::now();
        let c = KioskConfig::default();
        let mut k = Kiosk::new(c.clone(), t0);
        claim(&mut k, "E1", t0);
        assert_eq!(k.handle(Input::Escape, t0), vec![Effect::Erase]);
        k.handle(Input::Tick, t0 + c.erased_shown);
        k.handle(Input::Char('X'), t0 + c.erased_shown);
        k.handle(Input::Tick, t0 + c.erased_shown + c.idle_reset);
        assert!(matches!(&k.screen, Screen::Welcome { typed, .. } if typed.is_empty()));
        assert!(k.handle(Input::CallStaff, t0).contains(&Effect::CallStaff));
        assert!(k.staff_called);
    }
}
