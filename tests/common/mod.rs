//! Shared set-up for the integration tests: `../shared` must be there (CI fails loudly without it).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use facestation::engine::{LocalVerifier, PipelineConfig};
use facestation::runtime::VerifiedModels;

/// `../shared` beside the checkout (or FACESTATION_SHARED). Panics with instructions when missing:
/// these tests must never skip silently.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("FACESTATION_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("data/pairs.csv").is_file() && dir.join("models").is_dir(),
        "the shared folder is missing at {} (models and data): check out the project beside ../shared \
         or set FACESTATION_SHARED",
        dir.display()
    );
    dir
}

pub fn data(path: &str) -> PathBuf {
    shared().join("data").join(path)
}

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(data(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub fn models() -> VerifiedModels {
    VerifiedModels::verify(&shared().join("models")).expect("models verify")
}

/// One engine per test binary, shared by its tests (sessions take a while to create).
pub fn verifier() -> MutexGuard<'static, LocalVerifier> {
    static V: OnceLock<Mutex<LocalVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        Mutex::new(LocalVerifier::load(&models(), PipelineConfig::default()).expect("engine loads"))
    })
    .lock()
    .unwrap_or_else(|p| p.into_inner())
}
