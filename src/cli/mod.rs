//! Command implementations behind `main.rs`: each builds a request, calls the engine, prints.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod key;
pub mod liveness;
pub mod qa;
pub mod quality;
pub mod record;
pub mod serve;

use std::process::ExitCode;

use crate::api::ApiError;
use crate::engine::{EngineError, LocalVerifier, PipelineConfig, RemoteError};
use crate::paths::StationPaths;
use crate::record::{RecordError, Recorder};
use crate::runtime::RuntimeError;
use crate::station::DecideError;

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
    /// An error about one input file, named by its path.
    #[error("{name}: {source}")]
    Named {
        name: String,
        #[source]
        source: Box<CliError>,
    },
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        if let CliError::Named { source, .. } = self {
            return source.exit_code();
        }
        ExitCode::from(match self {
            CliError::Usage(_) | CliError::Api(_) => 2,
            CliError::Engine(EngineError::Decode { .. })
            | CliError::Engine(EngineError::Api(_)) => 2,
            CliError::Engine(EngineError::NoFace(_))
            | CliError::Engine(EngineError::SeveralFaces { .. }) => 3,
            CliError::Runtime(_) | CliError::Engine(EngineError::Runtime(_)) => 4,
            CliError::Engine(EngineError::Remote(r)) => remote_exit_code(r),
            _ => 5,
        })
    }

    /// The Verifik-style error body for `--json` output.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CliError::Named { source, .. } => source.to_json(),
            CliError::Api(e) | CliError::Engine(EngineError::Api(e)) => e.to_json(),
            CliError::Engine(e) => ApiError::from(e).to_json(),
            other => {
                serde_json::json!({ "error": other.to_string(), "code": "station_error", "status": 500 })
            }
        }
    }

    /// The flag or step that helps, when there is one (printed under the error).
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            CliError::Named { source, .. } => source.hint(),
            CliError::Engine(EngineError::SeveralFaces { .. }) => {
                Some("pass --largest-face to compare the largest face instead")
            }
            CliError::Engine(EngineError::NoFace(crate::engine::ImageRole::Probe)) => {
                Some("use a photo with one face, frontal and well lit, filling at least a tenth of the frame")
            }
            CliError::Runtime(_) | CliError::Engine(EngineError::Runtime(_)) => {
                Some("run scripts/setup.sh, or pass --models DIR")
            }
            _ => None,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }
}

impl From<DecideError> for CliError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Engine(e) => CliError::Engine(e),
            DecideError::Record(e) => CliError::Record(e),
        }
    }
}

/// The exit code class of a remote failure (README "Exit codes"): the service's input refusals
/// keep their class (2 bad input, 3 the face rule), 4 set-up, 6 network or service.
pub fn remote_exit_code(e: &RemoteError) -> u8 {
    match e {
        RemoteError::BadRequest { .. }
        | RemoteError::NotBase64 { .. }
        | RemoteError::TooLarge { .. }
        | RemoteError::UnsupportedImage { .. } => 2,
        RemoteError::Unprocessable { .. } => 3,
        RemoteError::NoToken | RemoteError::InvalidToken | RemoteError::BadBaseUrl { .. } => 4,
        _ => 6,
    }
}

/// Verifies the models and creates the local engine.
pub fn local_verifier(
    paths: &StationPaths,
    config: PipelineConfig,
) -> Result<LocalVerifier, CliError> {
    Ok(crate::station::local_verifier(paths, config)?)
}

/// Opens the station key and audit log.
pub fn recorder(paths: &StationPaths) -> Result<Recorder, CliError> {
    Ok(Recorder::open(paths)?)
}

/// Largest input file read (an image or a JSON request): the decoder's byte limit with room
/// for base64 and JSON.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file, or standard input for "-", refusing more than `MAX_INPUT_BYTES` (at most that
/// plus one byte is ever read, so `/dev/zero` or an endless pipe cannot exhaust memory).
pub fn read_input(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    read_bounded(path, MAX_INPUT_BYTES)
}

pub fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, CliError> {
    use std::io::Read as _;
    let (name, reader): (String, Box<dyn std::io::Read>) = if path.as_os_str() == "-" {
        ("standard input".into(), Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(path)
            .map_err(CliError::io(format!("reading {}", path.display())))?;
        (path.display().to_string(), Box::new(file))
    };
    let mut buf = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(CliError::io(format!("reading {name}")))?;
    if buf.len() as u64 > limit {
        return Err(CliError::Usage(format!(
            "{name} is larger than {} MB, the most this command reads",
            limit / (1024 * 1024)
        )));
    }
    Ok(buf)
}
