//! `facestation compare`: one decision, signed and appended to the audit log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{local_verifier, read_input, recorder, CliError};
use crate::api::{CompareRequest, SearchMode, ValidRequest};
use crate::engine::{CompareOutcome, EngineError, PipelineConfig, RemoteVerifier, Verifier};
use crate::paths::StationPaths;
use crate::station::{decide, DecideOptions};
use crate::vision::liveness::{LivenessVerdict, DEFAULT_LIVENESS_MIN_SCORE};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The probe image (a selfie).
    #[arg(long, required_unless_present = "request", conflicts_with = "request")]
    pub probe: Option<PathBuf>,
    /// One or more gallery images (ID photo, enrolment photo).
    #[arg(long, num_args = 1.., required_unless_present = "request", conflicts_with = "request")]
    pub gallery: Vec<PathBuf>,
    /// A Verifik JSON compare request (file, or - for standard input).
    #[arg(long)]
    pub request: Option<PathBuf>,
    #[arg(long, value_parser = parse_mode)]
    pub search_mode: Option<SearchMode>,
    /// Match threshold on the 0..1 score (default: the engine's, chosen on LFW at FMR 0.1%).
    #[arg(long)]
    pub compare_min_score: Option<f64>,
    /// Liveness pass mark on P(real) (default 0.6). With --request, liveness runs only if the request asks.
    #[arg(long)]
    pub liveness_min_score: Option<f64>,
    /// Skip the liveness check of the probe.
    #[arg(long, conflicts_with = "liveness_min_score")]
    pub no_liveness: bool,
    /// If the probe shows several faces, use the largest instead of refusing it.
    #[arg(long)]
    pub largest_face: bool,
    /// Embed the images (base64) in the record instead of their SHA-256 digests.
    #[arg(long)]
    pub embed_images: bool,
    /// Print the signed record as JSON (errors as Verifik-style JSON).
    #[arg(long)]
    pub json: bool,
    /// Use a remote Verifik-compatible API at this base URL (e.g. https://api.verifik.co, or a
    /// `facestation serve`) instead of the local engine; the token comes from VERIFIK_TOKEN.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
}

fn parse_mode(s: &str) -> Result<SearchMode, String> {
    SearchMode::parse(s).map_err(|e| e.message)
}

pub fn run(paths: &StationPaths, args: CompareArgs) -> Result<ExitCode, CliError> {
    let json = args.json;
    match run_inner(paths, args) {
        Err(e) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&e.to_json()).unwrap_or_default()
            );
            Ok(e.exit_code())
        }
        other => other,
    }
}

fn build_request(args: &CompareArgs) -> Result<ValidRequest, CliError> {
    let mut request = if let Some(path) = &args.request {
        let body = read_input(path)?;
        let parsed: CompareRequest = serde_json::from_slice(&body).map_err(|e| {
            crate::api::ApiError::invalid(format!(
                "the request is not a valid compare request: {e}"
            ))
        })?;
        parsed.validate(false)?
    } else {
        let probe = args
            .probe
            .as_ref()
            .ok_or_else(|| CliError::Usage("--probe is required".into()))?;
        let probe = read_input(probe)?;
        let gallery = args
            .gallery
            .iter()
            .map(|g| read_input(g))
            .collect::<Result<Vec<_>, _>>()?;
        let mut r = ValidRequest::from_bytes(probe, gallery, SearchMode::Fast)?;
        if !args.no_liveness {
            r.liveness_min_score = Some(DEFAULT_LIVENESS_MIN_SCORE);
        }
        r
    };
    if let Some(mode) = args.search_mode {
        request.search_mode = mode;
    }
    if let Some(s) = args.compare_min_score {
        request.compare_min_score = Some(s);
    }
    if let Some(s) = args.liveness_min_score {
        request.liveness_min_score = Some(s);
    }
    if args.no_liveness {
        request.liveness_min_score = None;
    }
    request.largest_probe_face = args.largest_face;
    Ok(request)
}

fn run_inner(paths: &StationPaths, args: CompareArgs) -> Result<ExitCode, CliError> {
    let wall = Instant::now();
    let request = build_request(&args)?;
    let recorder = recorder(paths)?;
    let mut verifier: Box<dyn Verifier> = match &args.remote {
        Some(url) => Box::new(RemoteVerifier::from_env(url).map_err(EngineError::from)?),
        None => Box::new(local_verifier(paths, PipelineConfig::default())?),
    };
    let decided = decide(
        verifier.as_mut(),
        &request,
        &recorder,
        DecideOptions {
            embed_images: args.embed_images,
        },
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&decided.record).unwrap_or_default()
        );
    } else {
        print_human(
            &decided.outcome,
            recorder.log_path(),
            wall.elapsed().as_secs_f64() * 1000.0,
        );
    }
    Ok(if decided.outcome.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_human(o: &CompareOutcome, log: &std::path::Path, wall_ms: f64) {
    let verdict = o.decision.label();
    println!(
        "{verdict}: score {:.4} (threshold {:.4}, {})",
        o.score, o.threshold, o.threshold_basis
    );
    for g in &o.gallery {
        match g.score {
            Some(s) => println!(
                "  gallery[{}]: score {s:.4}, {} face(s) found",
                g.index, g.faces_found
            ),
            None => println!("  gallery[{}]: no face", g.index),
        }
    }
    if let Some(l) = &o.liveness {
        let v = match l.verdict {
            LivenessVerdict::CannotJudge => format!(
                "{} (face fills the frame, context {:.2}x)",
                l.verdict.label(),
                l.context
            ),
            _ => l.verdict.label().to_string(),
        };
        println!(
            "liveness: {v}, P(real) {:.3} (pass > {})",
            l.score, l.min_score
        );
    }
    println!("passed: {}", o.passed);
    println!(
        "timings: decode {:.1} ms, detect {:.1} ms, embed {:.1} ms, liveness {:.1} ms, engine {:.1} ms, wall {wall_ms:.0} ms",
        o.timings.decode_ms, o.timings.detect_ms, o.timings.embed_ms, o.timings.liveness_ms, o.timings.total_ms
    );
    println!("signed record appended to {}", log.display());
}
