//! `facestation bench`: warm compare latency (models loaded once, the same request repeated),
//! median and percentiles per stage; with `--one-to-n N`, a probe against N gallery images and
//! the cost of each extra gallery image. A benchmark command, not a test.

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
    /// ONNX Runtime intra-op threads for the recognisers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// 1:N: also time the probe against N gallery images (the --gallery files, cycled to N; the
    /// engine is called directly, past the API's 10-image cap) and against the first alone, and
    /// report the cost per extra gallery image.
    #[arg(long)]
    pub one_to_n: Option<usize>,
}

struct Timed {
    wall: Vec<f64>,
    decode: Vec<f64>,
    detect: Vec<f64>,
    embed: Vec<f64>,
    live: Vec<f64>,
}

fn time(
    verifier: &mut dyn Verifier,
    request: &ValidRequest,
    runs: usize,
) -> Result<Timed, CliError> {
    // One untimed run: first-call allocations in ONNX Runtime are not what an operator waits for.
    verifier.compare(request)?;
    let mut t = Timed {
        wall: Vec::new(),
        decode: Vec::new(),
        detect: Vec::new(),
        embed: Vec::new(),
        live: Vec::new(),
    };
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let o = verifier.compare(request)?;
        t.wall.push(start.elapsed().as_secs_f64() * 1000.0);
        t.decode.push(o.timings.decode_ms);
        t.detect.push(o.timings.detect_ms);
        t.embed.push(o.timings.embed_ms);
        t.live.push(o.timings.liveness_ms);
    }
    Ok(t)
}

pub fn run(paths: &StationPaths, args: BenchArgs) -> Result<ExitCode, CliError> {
    let load = Instant::now();
    let config = PipelineConfig {
        embed_threads: args.threads,
        ..PipelineConfig::default()
    };
    let mut verifier = local_verifier(paths, config)?;
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let plan = verifier.pipeline.plan(args.search_mode).name.clone();
    let gallery = args
        .gallery
        .iter()
        .map(|g| read_input(g))
        .collect::<Result<Vec<_>, _>>()?;
    if gallery.is_empty() {
        return Err(CliError::Usage("give at least one --gallery image".into()));
    }
    let probe = read_input(&args.probe)?;
    let liveness = (!args.no_liveness).then_some(DEFAULT_LIVENESS_MIN_SCORE);
    let one_to_n = match args.one_to_n {
        None => None,
        Some(n) if n < 2 => return Err(CliError::Usage("--one-to-n needs N >= 2".into())),
        Some(n) => Some(n),
    };
    let mut request = ValidRequest::from_bytes(
        probe.clone(),
        gallery[..gallery.len().min(crate::api::MAX_GALLERY)].to_vec(),
        args.search_mode,
    )?;
    request.liveness_min_score = liveness;
    let t = time(&mut verifier, &request, args.runs)?;
    let mut report = serde_json::json!({
        "search_mode": args.search_mode,
        "plan": plan,
        "gallery_images": request.gallery.len(),
        "liveness": !args.no_liveness,
        "runs": args.runs,
        "threads": args.threads,
        "model_load_ms": load_ms,
        "compare_ms": TimingStats::from_millis(&t.wall),
        "stages_ms": {
            "decode": TimingStats::from_millis(&t.decode),
            "detect": TimingStats::from_millis(&t.detect),
            "align_embed": TimingStats::from_millis(&t.embed),
            "liveness": TimingStats::from_millis(&t.live),
        },
    });
    if let Some(n) = one_to_n {
        // The same request shape, built past the API's gallery cap: this times the engine.
        let many: Vec<Vec<u8>> = gallery.iter().cycle().take(n).cloned().collect();
        let mut big = request.clone();
        big.gallery = many;
        let mut small = request.clone();
        small.gallery = vec![gallery[0].clone()];
        let runs = (args.runs / 5).max(3);
        let t1 = time(&mut verifier, &small, runs)?;
        let tn = time(&mut verifier, &big, runs)?;
        let m1 = TimingStats::from_millis(&t1.wall).map_or(0.0, |s| s.median_ms);
        let mn = TimingStats::from_millis(&tn.wall).map_or(0.0, |s| s.median_ms);
        report["one_to_n"] = serde_json::json!({
            "gallery_images": n,
            "distinct_gallery_files": gallery.len().min(n),
            "runs": runs,
            "probe_vs_1_ms": TimingStats::from_millis(&t1.wall),
            "probe_vs_n_ms": TimingStats::from_millis(&tn.wall),
            "per_extra_gallery_image_ms": (mn - m1) / (n as f64 - 1.0),
            "stages_vs_n_ms": {
                "decode": TimingStats::from_millis(&tn.decode).map(|s| s.median_ms),
                "detect": TimingStats::from_millis(&tn.detect).map(|s| s.median_ms),
                "align_embed": TimingStats::from_millis(&tn.embed).map(|s| s.median_ms),
            },
        });
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}
