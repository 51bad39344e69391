//! Command implementations behind `main.rs`: each builds a request, calls the engine, prints.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod key;
pub mod liveness;
pub mod record;
pub mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::api::ApiError;
use crate::engine::{EngineError, LocalVerifier, PipelineConfig};
use crate::record::RecordError;
use crate::runtime::{RuntimeError, VerifiedModels};

/// Options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub models: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Exit codes (README "Exit codes"): 0 passed, 1 decided but not passed (no match, liveness failed
/// or could not judge), 2 bad input or usage, 3 the face rule refused the probe (no face, several),
/// 4 set-up (models, ONNX Runtime), 5 I/O, record or internal error, 6 network.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) | CliError::Api(_) => 2,
            CliError::Engine(EngineError::Decode { .. })
            | CliError::Engine(EngineError::Api(_)) => 2,
            CliError::Engine(EngineError::NoFace(_))
            | CliError::Engine(EngineError::SeveralFaces { .. }) => 3,
            CliError::Runtime(_) | CliError::Engine(EngineError::Runtime(_)) => 4,
            CliError::Engine(EngineError::Remote(r)) => r.exit_code(),
            _ => 5,
        })
    }

    /// The Verifik-style error body for `--json` output.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CliError::Api(e) | CliError::Engine(EngineError::Api(e)) => e.to_json(),
            CliError::Engine(e) => crate::api::ApiError::from_engine(e).to_json(),
            other => {
                serde_json::json!({ "error": other.to_string(), "code": "station_error", "status": 500 })
            }
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }
}

/// Verifies the models and creates the local engine.
pub fn local_verifier(common: &Common, config: PipelineConfig) -> Result<LocalVerifier, CliError> {
    let models = VerifiedModels::locate(common.models.as_deref())?;
    Ok(LocalVerifier::load(&models, config)?)
}

/// Reads a file, or standard input for "-".
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(CliError::io("reading standard input"))?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(CliError::io(format!("reading {}", path.display())))
    }
}
