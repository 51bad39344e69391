//! FaceStation: face verification with local ONNX Runtime inference or Verifik's remote API.
//!
//! The module graph is one-way (checked by `tests/integration/layering.rs`):
//! `digest, paths, api, vision, runtime` <- `engine` <- `record` <- `station` <- `server, cli, app`
//! (`camera` and `eval` sit beside, used by `app` and `cli`).

pub mod api;
pub mod app;
pub mod camera;
pub mod cli;
pub mod digest;
pub mod engine;
pub mod eval;
pub mod kiosk;
pub mod paths;
pub mod qa;
pub mod record;
pub mod runtime;
pub mod server;
pub mod station;
pub mod vision;
