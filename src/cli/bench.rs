//! `facestation bench`: warm compare latency (models loaded once, the same request repeated),
//! median and percentiles per stage. A benchmark command, not a test.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::paths::StationPaths;
use clap::Args;

use super::{local_verifier, read_input, CliError};
use crate::api::{SearchMode, ValidRequest};
use crate::engine::{PipelineConfig, Verifier};
use crate::eval::TimingStats;
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long)]
    pub probe: PathBuf,
    #[arg(long, num_args = 1..)]
    pub gallery: Vec<PathBuf>,
    #[arg(long, default_value_t = 50)]
    pub runs: usize,
    #[arg(long, value_parser = |s: &str| SearchMode::parse(s).map_err(|e| e.message), default_value = "FAST")]
    pub search_mode: SearchMode,
    /// Leave out the liveness check.
    #[arg(long)]
    pub no_liveness: bool,
    /// ONNX Runtime intra-op threads for the embedder.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub fn run(paths: &StationPaths, args: BenchArgs) -> Result<ExitCode, CliError> {
    let load = Instant::now();
    let config = PipelineConfig {
        embed_threads: args.threads,
        ..PipelineConfig::default()
    };
    let mut verifier = local_verifier(paths, config)?;
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let gallery = args
        .gallery
        .iter()
        .map(|g| read_input(g))
        .collect::<Result<Vec<_>, _>>()?;
    let mut request =
        ValidRequest::from_bytes(read_input(&args.probe)?, gallery, args.search_mode)?;
    if !args.no_liveness {
        request.liveness_min_score = Some(DEFAULT_LIVENESS_MIN_SCORE);
    }
    // One untimed run: first-call allocations in ONNX Runtime are not what an operator waits for.
    verifier.compare(&request)?;
    let (mut total, mut wall) = (Vec::new(), Vec::new());
    let (mut decode, mut detect, mut embed, mut live) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let o = verifier.compare(&request)?;
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
        total.push(o.timings.total_ms);
        decode.push(o.timings.decode_ms);
        detect.push(o.timings.detect_ms);
        embed.push(o.timings.embed_ms);
        live.push(o.timings.liveness_ms);
    }
    let report = serde_json::json!({
        "search_mode": args.search_mode,
        "gallery_images": request.gallery.len(),
        "liveness": !args.no_liveness,
        "runs": args.runs,
        "model_load_ms": load_ms,
        "compare_ms": TimingStats::from_millis(&wall),
        "stages_ms": {
            "decode": TimingStats::from_millis(&decode),
            "detect": TimingStats::from_millis(&detect),
            "align_embed": TimingStats::from_millis(&embed),
            "liveness": TimingStats::from_millis(&live),
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}
