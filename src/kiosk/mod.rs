//! `facestation kiosk`: an unattended self-service verification point. The flow (flow.rs) is plain
//! state driven by a clock; the enrolment folder lookup (enrolled.rs) checks the typed ID before
//! it touches the file system. Decisions go through `station::decide` like every other front end.

pub mod enrolled;
pub mod flow;
