//! FaceStation: face verification with local ONNX Runtime inference or Verifik's remote API.
//! See DESIGN.md for the map of modules.

pub mod api;
pub mod app;
pub mod camera;
pub mod cli;
pub mod engine;
pub mod eval;
pub mod record;
pub mod runtime;
pub mod server;
pub mod vision;
