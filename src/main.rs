//! The `facestation` command: argument parsing and printing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use facestation::cli::{self, CliError, Common};

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
    /// Warm compare latency per stage (a benchmark, not a test).
    Bench(cli::bench::BenchArgs),
    /// Verifik-compatible HTTP API on the local engine (POST /v2/face-recognition/compare, ...).
    Serve(cli::serve::ServeArgs),
    /// Signed records and audit logs.
    Record {
        #[command(subcommand)]
        command: RecordCommand,
    },
}

#[derive(Subcommand)]
enum RecordCommand {
    /// Checks every signature and the hash chain of an audit log; names the first bad line.
    Verify { log: PathBuf },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`facestation eval --json | head`) like other Unix tools,
    // instead of panicking inside println!.
    // SAFETY: called first thing, before any thread exists; SIG_DFL is always a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = Args::parse();
    let common = Common {
        models: args.models,
        log: args.log,
        key: args.key,
    };
    let result = match args.command {
        Some(Command::Compare(a)) => cli::compare::run(&common, a),
        Some(Command::Liveness(a)) => cli::liveness::run(&common, a),
        Some(Command::Eval(a)) => cli::eval::run(&common, a),
        Some(Command::Bench(a)) => cli::bench::run(&common, a),
        Some(Command::Serve(a)) => cli::serve::run(&common, a),
        Some(Command::Record {
            command: RecordCommand::Verify { log },
        }) => cli::record::verify(&log),
        None => Err(CliError::Usage(
            "the GUI is not built yet; use a subcommand (see --help)".into(),
        )),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("facestation: {e}");
            e.exit_code()
        }
    }
}
