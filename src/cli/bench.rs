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
use crate::eval::{thread_cpu_ms, TimingStats};
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, required_unless_present = "profile")]
    pub probe: Option<PathBuf>,
    #[arg(long, num_args = 1..)]
    pub gallery: Vec<PathBuf>,
    /// Per-stage profile instead of a compare: the images of the first --limit pairs of this CSV
    /// (paths relative to --root), each through decode, detect and every recogniser with every
    /// view set, timing warp and network apart (medians per image).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
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
    /// Pipelines a compare runs its images on side by side (default: the engine's, one per core
    /// up to 4); 1 runs them one after another.
    #[arg(long)]
    pub pipelines: Option<usize>,
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
    quality: Vec<f64>,
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
        quality: Vec::new(),
    };
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let o = verifier.compare(request)?;
        t.wall.push(start.elapsed().as_secs_f64() * 1000.0);
        t.decode.push(o.timings.decode_ms);
        t.detect.push(o.timings.detect_ms);
        t.embed.push(o.timings.embed_ms);
        t.live.push(o.timings.liveness_ms);
        t.quality.push(o.timings.quality_ms);
    }
    Ok(t)
}

fn median(v: &[f64]) -> Option<f64> {
    TimingStats::from_millis(v).map(|t| t.median_ms)
}

/// `--profile`: where the time of one image goes, stage by stage.
fn profile(
    paths: &StationPaths,
    args: &BenchArgs,
    csv: &std::path::Path,
) -> Result<ExitCode, CliError> {
    use crate::engine::{FacePolicy, ImageRole, Pipeline};
    use crate::vision::recognise::Views;
    let models = crate::runtime::VerifiedModels::locate(paths.models.as_deref())?;
    let ids: Vec<String> = models
        .entries
        .iter()
        .filter(|e| e.role == crate::runtime::RECOGNISER_ROLE)
        .map(|e| e.id.clone())
        .collect();
    let config = PipelineConfig {
        embed_threads: args.threads,
        extra_recognisers: ids.clone(),
        pipelines: 1,
        ..PipelineConfig::default()
    };
    let mut v = crate::engine::LocalVerifier::load(&models, config)?;
    let p = &mut v.pipeline;
    let text =
        std::fs::read_to_string(csv).map_err(CliError::io(format!("reading {}", csv.display())))?;
    let rows = crate::eval::read_pairs_csv(&text).map_err(|e| CliError::Usage(e.to_string()))?;
    let root = args
        .root
        .clone()
        .or_else(|| csv.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    let mut images: Vec<String> = rows
        .iter()
        .take(args.limit)
        .flat_map(|r| [r.a.clone(), r.b.clone()])
        .collect();
    images.sort();
    images.dedup();
    let (mut decode, mut detect, mut detect_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut faces_of = Vec::new();
    for path in &images {
        let bytes = read_input(&root.join(path))?;
        let t = Instant::now();
        let img = p.decode(&bytes, ImageRole::Image)?;
        decode.push(t.elapsed().as_secs_f64() * 1000.0);
        let (t, c) = (Instant::now(), thread_cpu_ms());
        let faces = p.detect(&img)?;
        detect.push(t.elapsed().as_secs_f64() * 1000.0);
        detect_cpu.push(thread_cpu_ms() - c);
        if let Ok((face, _)) = Pipeline::choose_face(
            &faces,
            FacePolicy::Centre,
            ImageRole::Image,
            img.dimensions(),
        ) {
            faces_of.push((img, face));
        }
    }
    // One stage at a time over all images, as a mode runs it (a session sees one batch size).
    // Per stage: warp, network and CPU milliseconds per image.
    type Samples = (Vec<f64>, Vec<f64>, Vec<f64>);
    let mut per: std::collections::BTreeMap<String, Samples> = Default::default();
    for id in &ids {
        for views in [Views::Plain, Views::Flip] {
            let stage = crate::engine::Stage::new(id, views);
            let key = format!("{id} {}", views.as_str());
            for (img, face) in &faces_of {
                let c = thread_cpu_ms();
                p.describe_stage(img, &[*face], &stage)?;
                let cpu = thread_cpu_ms() - c;
                let r = p
                    .recogniser(id)
                    .ok_or_else(|| CliError::Other(format!("{id} not loaded")))?;
                let e = per.entry(key.clone()).or_default();
                e.0.push(r.last_warp_ms);
                e.1.push(r.last_run_ms);
                e.2.push(cpu);
            }
        }
    }
    let stages: serde_json::Map<String, serde_json::Value> = per
        .iter()
        .map(|(k, (w, r, c))| {
            (
                k.clone(),
                serde_json::json!({
                    "warp_ms": median(w),
                    "network_ms": median(r),
                    "cpu_ms": median(c),
                }),
            )
        })
        .collect();
    let report = serde_json::json!({
        "images": images.len(),
        "threads": args.threads,
        "median_ms": {
            "decode": median(&decode),
            "detect": median(&detect),
            "detect_cpu": median(&detect_cpu),
            "recognisers": stages,
        },
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(paths: &StationPaths, args: BenchArgs) -> Result<ExitCode, CliError> {
    if let Some(csv) = args.profile.clone() {
        return profile(paths, &args, &csv);
    }
    let load = Instant::now();
    let mut config = PipelineConfig {
        embed_threads: args.threads,
        ..PipelineConfig::default()
    };
    if let Some(n) = args.pipelines {
        config.pipelines = n.max(1);
    }
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
    let probe_path = args
        .probe
        .as_ref()
        .ok_or_else(|| CliError::Usage("--probe is required".into()))?;
    let probe = read_input(probe_path)?;
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
        "pipelines": verifier.pipelines(),
        "model_load_ms": load_ms,
        "compare_ms": TimingStats::from_millis(&t.wall),
        "stages_ms": {
            "decode": TimingStats::from_millis(&t.decode),
            "detect": TimingStats::from_millis(&t.detect),
            "align_embed": TimingStats::from_millis(&t.embed),
            "liveness": TimingStats::from_millis(&t.live),
            "quality": TimingStats::from_millis(&t.quality),
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
