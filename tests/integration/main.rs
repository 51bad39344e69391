//! The one integration-test binary (ripgrep's layout): every module below links the crate once,
//! instead of one binary per file each linking eframe, wgpu, ONNX Runtime and axum.
//! Tests that need `../shared` (models, photos) fail loudly without it (`common::shared`).

mod common;

mod accuracy;
mod bad_input;
mod cli;
mod decision_path;
mod desk_cli;
mod desk_gui;
mod gui;
mod gui_fake;
mod gui_remote;
mod kiosk;
mod layering;
mod liveness;
mod parallel;
mod qa;
mod quality;
mod recogniser;
mod recogniser_records;
mod reference;
mod remote;
mod serve_cli;
mod serve_fake;
mod serve_hardening;
mod serve_status;
