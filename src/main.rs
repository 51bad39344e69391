//! The `facestation` command: argument parsing and printing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use facestation::cli::{self, CliError};
use facestation::paths::StationPaths;

#[derive(Parser)]
#[command(
    name = "facestation",
    version,
    about = "Face verification station (local ONNX Runtime or Verifik API)"
)]
struct Args {
    /// Folder with the model files (else FACESTATION_MODELS, else ../shared/models in this repo's layout).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Audit log (JSON Lines). Default: the user's data folder, facestation/audit.jsonl.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Station signing key (Ed25519, PEM). Default: the user's config folder, facestation/station-key.pem.
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// GUI: a folder of images played as the camera (in name order, looping).
    #[arg(long, value_name = "DIR")]
    camera_file: Option<PathBuf>,
    /// GUI: frames per second of --camera-file.
    #[arg(long, default_value_t = 30.0)]
    camera_fps: f64,
    /// GUI: gallery images to load at start.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    gallery: Vec<PathBuf>,
    /// GUI: a probe image to start with (instead of a camera capture).
    #[arg(long, value_name = "FILE")]
    probe: Option<PathBuf>,
    /// GUI: pixelate photos on screen (privacy screen).
    #[arg(long)]
    redact: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Compare a probe with gallery images; prints the signed record and appends it to the audit log.
    Compare(cli::compare::CompareArgs),
    /// Passive liveness of one image, or of a labelled set (--labels).
    Liveness(cli::liveness::LivenessArgs),
    /// Accuracy and timings on a pairs CSV (a,b,same,source).
    Eval(cli::eval::EvalArgs),
    /// Capture-quality measures of one image: value, threshold, pass/fail and the hint (action).
    Quality(cli::quality::QualityArgs),
    /// Warm compare latency per stage (a benchmark, not a test).
    Bench(cli::bench::BenchArgs),
    /// Verifik-compatible HTTP API on the local engine (POST /v2/face-recognition/compare, ...).
    Serve(cli::serve::ServeArgs),
    /// Self-service kiosk: type or scan an ID, look at the camera, get one answer (full screen).
    Kiosk(facestation::kiosk::command::KioskArgs),
    /// Threshold QA: scores a pairs CSV, a folder or the audit log; writes a signed report (`qa verify` checks one).
    Qa(cli::qa::QaArgs),
    /// Signed records and audit logs.
    Record {
        #[command(subcommand)]
        command: cli::record::RecordCommand,
    },
    /// The station's signing key: show it to verifiers, create it, rotate it.
    Key {
        #[command(subcommand)]
        command: cli::key::KeyCommand,
    },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`facestation eval --json | head`) like other Unix tools,
    // instead of panicking inside println!.
    // SAFETY: called first thing, before any thread exists; SIG_DFL is always a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The PyPI build of ONNX Runtime writes a device id and a telemetry queue under the user's
    // cache folder unless this is set before it starts (`with_telemetry(false)` comes too late).
    // A station that promises local, private inference must not do that. Set while the process
    // is still single-threaded.
    std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    let args = Args::parse();
    let paths = StationPaths {
        models: args.models.clone(),
        log: args.log.clone(),
        key: args.key.clone(),
    };
    let (key_path, log_path) = (args.key.clone(), args.log.clone());
    let result = match args.command {
        Some(Command::Compare(a)) => cli::compare::run(&paths, a),
        Some(Command::Liveness(a)) => cli::liveness::run(&paths, a),
        Some(Command::Eval(a)) => cli::eval::run(&paths, a),
        Some(Command::Quality(a)) => cli::quality::run(&paths, a),
        Some(Command::Bench(a)) => cli::bench::run(&paths, a),
        Some(Command::Serve(a)) => cli::serve::run(&paths, a),
        Some(Command::Qa(a)) => cli::qa::run(&paths, a),
        Some(Command::Record { command }) => cli::record::run(key_path.as_deref(), command),
        Some(Command::Key { command }) => {
            cli::key::run(key_path.as_deref(), log_path.as_deref(), command)
        }
        Some(Command::Kiosk(a)) => facestation::kiosk::command::run(paths, a)
            .map(|()| ExitCode::SUCCESS)
            .map_err(CliError::Other),
        None => facestation::app::run(facestation::app::StationOptions {
            worker: facestation::app::worker::WorkerConfig {
                paths,
                ..Default::default()
            },
            camera_file: args.camera_file,
            camera_fps: args.camera_fps,
            gallery: args.gallery,
            probe: args.probe,
            redact: args.redact,
            ..Default::default()
        })
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| CliError::Other(format!("the station window could not open: {e}"))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("facestation: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            e.exit_code()
        }
    }
}
