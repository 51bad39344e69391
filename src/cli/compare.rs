//! `facestation compare`: one decision, signed and appended to the audit log.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{local_verifier, read_bounded, read_input, recorder, CliError};
use crate::api::{CompareRequest, SearchMode, ValidRequest};
use crate::engine::verdict::{ReviewBand, Verdict};
use crate::engine::{EngineError, PipelineConfig, RemoteVerifier, Verifier};
use crate::paths::StationPaths;
use crate::record::DecisionContext;
use crate::station::{decide, DecideOptions, Decided, QualityInputs};
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
    /// Match threshold on the 0..1 score (default: the mode's, at FMR 0.01% on all cross-identity LFW dev pairs).
    #[arg(long)]
    pub compare_min_score: Option<f64>,
    /// Liveness pass mark on P(real) (default 0.6). With --request, liveness runs only if the request asks.
    #[arg(long)]
    pub liveness_min_score: Option<f64>,
    /// Half-width of the review band around the threshold: scores within it give REVIEW, never
    /// an automatic pass (default: the mode's band, chosen on LFW; 0 turns it off).
    #[arg(long, value_name = "WIDTH")]
    pub review_band: Option<f64>,
    /// The operator on shift (a name, not a biometric), written into the record.
    #[arg(long, value_name = "NAME", value_parser = parse_operator)]
    pub operator: Option<String>,
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

/// An operator name: printable, at most 64 characters (it goes into every record).
fn parse_operator(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 64 || s.chars().any(char::is_control) {
        return Err("give a name of 1 to 64 printable characters".into());
    }
    Ok(s.to_string())
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
        // An image is refused beyond the decoder's byte limit, so never read more than that + 1.
        let image_limit = crate::vision::decode::DecodeLimits::default().max_bytes as u64;
        let probe = read_bounded(probe, image_limit)?;
        let gallery = args
            .gallery
            .iter()
            .map(|g| read_bounded(g, image_limit))
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
            review_band: review_band(&args)?,
            context: DecisionContext {
                operator: args.operator.clone(),
                gallery_names: args
                    .gallery
                    .iter()
                    .map(|p| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    })
                    .collect(),
                ..DecisionContext::default()
            },
            // Quality is measured with the models this run was given.
            quality: QualityInputs {
                probe: None,
                models: paths.models.clone(),
            },
            threshold_basis: None,
        },
    )
    .map_err(|e| name_probe(CliError::from(e), &args))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&decided.record).unwrap_or_default()
        );
    } else {
        print_human(
            &decided,
            &gallery_names(&args),
            recorder.log_path(),
            wall.elapsed().as_secs_f64() * 1000.0,
        );
    }
    Ok(verdict_exit_code(decided.judgement.verdict))
}

/// 0 VERIFIED, 1 NOT VERIFIED, 7 REVIEW (README "Exit codes").
pub fn verdict_exit_code(v: Verdict) -> ExitCode {
    ExitCode::from(match v {
        Verdict::Verified => 0,
        Verdict::NotVerified => 1,
        Verdict::Review => 7,
    })
}

fn review_band(args: &CompareArgs) -> Result<Option<ReviewBand>, CliError> {
    match args.review_band {
        None => Ok(None),
        Some(w) if w.is_finite() && (0.0..0.5).contains(&w) => Ok(Some(ReviewBand {
            below: w,
            above: w,
            basis: "--review-band from the command line",
        })),
        Some(w) => Err(CliError::Usage(format!(
            "--review-band {w}: give a half-width between 0 and 0.5"
        ))),
    }
}

/// Probe errors name the probe file (the engine knows only "probe").
fn name_probe(e: CliError, args: &CompareArgs) -> CliError {
    use crate::engine::ImageRole;
    let about_probe = matches!(
        &e,
        CliError::Engine(
            EngineError::Decode {
                role: ImageRole::Probe,
                ..
            } | EngineError::NoFace(ImageRole::Probe)
                | EngineError::SeveralFaces {
                    role: ImageRole::Probe,
                    ..
                }
        )
    );
    match (&args.probe, about_probe) {
        (Some(p), true) => CliError::Named {
            name: p.display().to_string(),
            source: Box::new(e),
        },
        _ => e,
    }
}

/// The names the human output gives gallery images: their file names when they came from files.
fn gallery_names(args: &CompareArgs) -> Vec<String> {
    args.gallery
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

fn print_human(d: &Decided, names: &[String], log: &std::path::Path, wall_ms: f64) {
    let o = &d.outcome;
    // The first line is the verdict, in the words the screen and the record use.
    println!("{}", d.judgement.headline());
    println!(
        "{}: score {:.4} (threshold {:.4}, {})",
        o.decision.label(),
        o.score,
        o.threshold,
        o.threshold_basis
    );
    for g in &o.gallery {
        let name = match names.get(g.index) {
            Some(n) => format!("gallery[{}] {n}", g.index),
            None => format!("gallery[{}]", g.index),
        };
        match (&g.error, g.score, g.reported) {
            (Some(e), _, _) => println!("  {name}: not used: {e}"),
            (None, Some(s), _) => {
                println!("  {name}: score {s:.4}, {} face(s) found", g.faces_found)
            }
            (None, None, false) => println!("  {name}: not reported by the service"),
            (None, None, true) => println!("  {name}: no face"),
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
    println!(
        "timings: decode {:.1} ms, detect {:.1} ms, embed {:.1} ms, liveness {:.1} ms, quality {:.1} ms, engine {:.1} ms, wall {wall_ms:.0} ms",
        o.timings.decode_ms, o.timings.detect_ms, o.timings.embed_ms, o.timings.liveness_ms, o.timings.quality_ms, o.timings.total_ms
    );
    println!("signed record appended to {}", log.display());
}
