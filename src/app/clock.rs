//! The clock behind every time the station shows (click to result, detection and frame times,
//! model load time). Production reads the monotonic clock; tests freeze it so that the numbers on
//! screen, and so the snapshots, are the same on every run (egui's `mock_time` idea).

use std::sync::Arc;
use std::time::Instant;

pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The monotonic system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that never moves: every elapsed time it measures is zero.
#[derive(Debug, Clone, Copy)]
pub struct FrozenClock(pub Instant);

impl Default for FrozenClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> Instant {
        self.0
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// Milliseconds from `since` to the clock's now (0 if the clock is behind).
pub fn ms_since(clock: &dyn Clock, since: Instant) -> f64 {
    clock.now().saturating_duration_since(since).as_secs_f64() * 1000.0
}
