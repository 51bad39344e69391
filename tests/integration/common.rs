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

/// One run of the `facestation` binary, kept with its command line so that a failed assertion
/// prints the command, its exit code, stdout and stderr (ripgrep's `TestCommand` idea).
pub struct StationRun {
    pub command: String,
    pub output: std::process::Output,
}

impl StationRun {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn report(&self) -> String {
        format!(
            "command: {}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "unexpected exit code\n{}",
            self.report()
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.report()))
    }
}

/// Runs `facestation --models <shared> --log dir/audit.jsonl --key dir/key.pem ARGS`.
pub fn station(dir: &std::path::Path, args: &[&str]) -> StationRun {
    station_with(dir, args, |_| {})
}

/// The same, after `adjust` has changed the command (environment, stdin).
pub fn station_with(
    dir: &std::path::Path,
    args: &[&str],
    adjust: impl FnOnce(&mut std::process::Command),
) -> StationRun {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_facestation"));
    cmd.arg("--models")
        .arg(shared().join("models"))
        .arg("--log")
        .arg(dir.join("audit.jsonl"))
        .arg("--key")
        .arg(dir.join("key.pem"))
        .args(args);
    adjust(&mut cmd);
    let command = format!("facestation {}", args.join(" "));
    let output = cmd.output().expect("run facestation");
    let run = StationRun { command, output };
    assert!(
        !run.stderr().contains("panicked"),
        "panic\n{}",
        run.report()
    );
    run
}
