//! `facestation kiosk`: an unattended self-service verification point. The flow (flow.rs) is plain
//! state driven by a clock; the enrolment folder lookup (enrolled.rs) checks the typed ID before
//! it touches the file system; the quality gate (gate.rs) turns a frame and its faces into one
//! hint; the worker (worker.rs) owns the engine and the recorder; the core (core.rs) ties the
//! flow, the worker and the camera together without a window; the app (app.rs) is the full-screen
//! eframe window. Decisions go through `station::decide` like every other front end.

pub mod app;
pub mod command;
pub mod core;
pub mod enrolled;
pub mod flow;
pub mod gate;
pub mod worker;

pub use self::core::{KioskCore, KioskOptions};
