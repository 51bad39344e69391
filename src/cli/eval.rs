//! `facestation eval`: runs the local pipeline over a pairs CSV and reports accuracy and timings,
//! for a mode (`--search-mode`) or for candidate configurations (`--candidates`), optionally on
//! all cross-identity pairs of the LFW fold images (`--all-impostors`). The scoring itself is
//! `eval::runner`; this file reads the CSV, checks that enough was scored and builds the report;
//! eval/impostor_sweep.rs (all pairs), eval/candidate_table.rs (candidates) and eval/print.rs (the
//! human report) hold the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::paths::StationPaths;
use clap::Args;
use serde::Serialize;

use super::CliError;
use crate::api::SearchMode;
use crate::engine::score::{default_threshold, Calibration};
use crate::engine::verdict::ReviewBand;
use crate::engine::{Combine, LocalVerifier, PipelineConfig, Plan, Stage};
use crate::eval::binomial::{mcnemar, McNemar};
use crate::eval::calibrate::{fit, CalibrationFit};
use crate::eval::candidates::{self, Candidate};
use crate::eval::impostors::{
    all_pairs, identity_of, point, review_band, threshold_for_fmr, AllPairs, AllPairsPoint,
    BandEdge, Subject,
};
use crate::eval::runner::{
    plan_descriptors, run_images, run_plan, score_pairs, stage_slots, ImageRun, PairDetail,
};
use crate::eval::{
    kfold_correct, read_pairs_csv, threshold_at_fmr, PairRow, ScoredPair, Summary, SummaryOptions,
    TimingStats, FOLD_PREFIX,
};
use crate::runtime::VerifiedModels;

mod candidate_table;
mod impostor_sweep;
mod print;
use candidate_table::*;
use impostor_sweep::*;
use print::*;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// CSV with columns a,b,same,source (paths relative to --root).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Folder the CSV's paths are relative to (default: the CSV's folder).
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[arg(long, value_parser = |s: &str| SearchMode::parse(s).map_err(|e| e.message), default_value = "FAST")]
    pub search_mode: SearchMode,
    /// Evaluate these configurations instead of a mode, comma-separated (`all` for the standard
    /// list): `reid+flip`, `dlib-int8`, `fuse(reid,dlib-int8+flip)`, `cascade(dlib-int8>reid+flip@0.02..0.998)`.
    #[arg(long)]
    pub candidates: Option<String>,
    /// Also score ALL cross-identity (and same-identity) pairs of the images of the LFW fold pairs
    /// (folder = identity; no image outside those pairs): FMR on millions of impostor comparisons.
    #[arg(long)]
    pub all_impostors: bool,
    /// The false-match rate thresholds are chosen at (candidates; the mode's suggested threshold).
    #[arg(long, default_value_t = 1e-3)]
    pub fmr: f64,
    /// Descriptor cache folder (default: the user's cache dir, facestation/eval-descriptors).
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Compute every descriptor, read and write no cache (for timings).
    #[arg(long)]
    pub no_cache: bool,
    /// Fail (exit 2) when more than this percentage of images is unreadable or of pairs has no
    /// score (an image without a face or unreadable). Nothing scored always fails.
    #[arg(long, default_value_t = 1.0)]
    pub max_unscorable: f64,
    /// Only the first N pairs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only pairs whose source starts with this (e.g. lfw_fold).
    #[arg(long)]
    pub source: Option<String>,
    /// Write one CSV line per pair: a,b,same,source,score,distance,faces_a,faces_b (the mode, or
    /// the first candidate).
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// ONNX Runtime intra-op threads for the recognisers.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How much of the input could not be used.
#[derive(Serialize, Debug, Clone)]
struct Health {
    images: usize,
    unreadable_images: usize,
    pairs: usize,
    unscorable_pairs: usize,
    scored_pairs: usize,
    max_unscorable_percent: f64,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Serialize)]
struct AllImpostorReport {
    what: String,
    images: usize,
    identities: usize,
    impostor_pairs: usize,
    genuine_pairs: usize,
    /// Pairs for which a cascade ran its second stage.
    second_stage_pairs: u64,
    /// At the threshold in use (the mode's default, or the candidate's).
    at_threshold: AllPairsPoint,
    /// The threshold with FMR <= --fmr on these pairs.
    at_target_fmr: Option<AllPairsPoint>,
    target_fmr: f64,
    /// Review band edges around the threshold in use (eval::impostors::review_band's rule).
    review_band: Option<(BandEdge, BandEdge)>,
    /// Candidate upper edges (FMR / factor) with the share of genuine pairs between the
    /// threshold and each: what a wider upper band costs in genuine people sent to review.
    upper_edges: Vec<UpperEdge>,
}

#[derive(Serialize)]
struct UpperEdge {
    factor: f64,
    at: AllPairsPoint,
    /// Genuine pairs at or above the threshold and below this edge, as a share of all genuine.
    genuine_share_above_threshold: f64,
}

#[derive(Serialize)]
struct CalibrationCheck {
    stage: String,
    shipped: Calibration,
    fitted: Option<CalibrationFit>,
}

#[derive(Serialize)]
struct Report {
    search_mode: SearchMode,
    plan: String,
    pairs: usize,
    images: usize,
    images_without_face: Vec<String>,
    unreadable_images: Vec<String>,
    default_threshold: f64,
    /// Detect, align and embed the plan's stages per image; `cached_images` were not computed in
    /// this run (their times are those stored when they were).
    timing_per_image_ms: BTreeMap<&'static str, Option<TimingStats>>,
    computed_images: usize,
    cached_images: usize,
    /// A cascade: the share of images a pair needed the second stage for (it is in their time).
    #[serde(skip_serializing_if = "Option::is_none")]
    second_stage_image_share: Option<f64>,
    overall: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfw: Option<Summary>,
    calibration: Vec<CalibrationCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    all_impostors: Option<AllImpostorReport>,
    shipped_review_band: (f64, f64),
    cache: crate::eval::runner::CacheStats,
    health: Health,
    wall_ms: f64,
}

#[derive(Serialize)]
struct CandidateReport {
    name: String,
    stages: Vec<String>,
    calibrations: Vec<CalibrationFit>,
    /// The threshold at FMR <= --fmr (on all impostors with --all-impostors, else on the pairs'
    /// LFW impostors), and where it came from.
    threshold: Option<f64>,
    threshold_origin: String,
    lfw: Summary,
    per_source: Vec<crate::eval::SourceResult>,
    /// Median align+embed of each stage per image, and the whole per image (detect + stages;
    /// a cascade's second stage counted for the images that needed it).
    stage_ms: Vec<Option<f64>>,
    detect_align_embed_ms: Option<TimingStats>,
    detect_align_embed_cpu_ms: Option<TimingStats>,
    /// A cascade: the share of LFW pairs and of images that needed the second stage.
    second_stage_pair_share: Option<f64>,
    second_stage_image_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    all_impostors: Option<AllImpostorReport>,
}

#[derive(Serialize)]
struct PairedTest {
    a: String,
    b: String,
    /// k-fold accuracy difference a - b in pairs (of the LFW pairs).
    pairs_difference: i64,
    mcnemar: McNemar,
}

#[derive(Serialize)]
struct CandidatesReport {
    pairs: usize,
    images: usize,
    target_fmr: f64,
    candidates: Vec<CandidateReport>,
    paired: Vec<PairedTest>,
    cache: crate::eval::runner::CacheStats,
    health: Health,
    wall_ms: f64,
}

pub fn run(paths: &StationPaths, args: EvalArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    if !(0.0..=1.0).contains(&args.fmr) {
        return Err(CliError::Usage("--fmr must be in [0, 1]".into()));
    }
    if !(0.0..=100.0).contains(&args.max_unscorable) {
        return Err(CliError::Usage(
            "--max-unscorable is a percentage in [0, 100]".into(),
        ));
    }
    let text = std::fs::read_to_string(&args.pairs)
        .map_err(CliError::io(format!("reading {}", args.pairs.display())))?;
    let mut rows = read_pairs_csv(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.pairs.display())))?;
    if let Some(prefix) = &args.source {
        rows.retain(|r| r.source.starts_with(prefix.as_str()));
    }
    if let Some(n) = args.limit {
        rows.truncate(n);
    }
    if rows.is_empty() {
        return Err(CliError::Usage("no pairs to evaluate".into()));
    }
    let root = args.root.clone().unwrap_or_else(|| {
        args.pairs
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    let models = VerifiedModels::locate(paths.models.as_deref())?;
    let cands: Option<Vec<Candidate>> = match &args.candidates {
        None => None,
        Some(list) => {
            let list = if list.trim() == "all" {
                candidates::ALL
            } else {
                list
            };
            let parsed = candidates::split_list(list)
                .iter()
                .map(|c| candidates::parse(&models, c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(CliError::Usage)?;
            if parsed.is_empty() {
                return Err(CliError::Usage("--candidates lists nothing".into()));
            }
            Some(parsed)
        }
    };
    let mut config = PipelineConfig {
        embed_threads: args.threads,
        // Images one at a time on one thread: the per-image timings compare with the peer.
        pipelines: 1,
        ..PipelineConfig::default()
    };
    let stages: Vec<Stage> = match &cands {
        Some(cs) => {
            let mut v: Vec<Stage> = Vec::new();
            for c in cs {
                for s in &c.stages {
                    if !v.contains(s) {
                        v.push(s.clone());
                    }
                }
            }
            config.extra_recognisers = v.iter().map(|s| s.recogniser.clone()).collect();
            v
        }
        None => config
            .plan(args.search_mode)
            .stages
            .iter()
            .map(|(s, _)| s.clone())
            .collect(),
    };
    let mut verifier = LocalVerifier::load(&models, config)?;
    let pipeline = &mut verifier.pipeline;
    // Mode plans name recognisers by id once loaded.
    let stages: Vec<Stage> = stages
        .into_iter()
        .map(|s| {
            let id = pipeline
                .recogniser(&s.recogniser)
                .map(|r| r.tag().id.to_string())
                .unwrap_or(s.recogniser);
            Stage::new(&id, s.views)
        })
        .collect();

    let cache_dir = if args.no_cache {
        None
    } else {
        args.cache.clone().or_else(crate::eval::cache::default_dir)
    };
    let json = args.json;
    let progress = |i: usize, total: usize| {
        if !json && i.is_multiple_of(500) {
            eprintln!("eval: image {i}/{total}");
        }
    };
    let run = match (&cands, args.all_impostors) {
        // A mode as the engine runs it: a cascade's second stage only where a pair needs it.
        (None, false) => {
            let plan = pipeline.plan(args.search_mode).clone();
            run_plan(
                pipeline,
                &rows,
                &root,
                &plan,
                cache_dir.as_deref(),
                progress,
            )
        }
        // Candidates and the all-pairs sweep need every stage of every image.
        _ => {
            let image_paths: Vec<String> = rows
                .iter()
                .flat_map(|r| [r.a.clone(), r.b.clone()])
                .collect();
            run_images(
                pipeline,
                image_paths,
                &root,
                &stages,
                cache_dir.as_deref(),
                progress,
            )
        }
    }
    .map_err(CliError::io("descriptor cache"))?;

    match cands {
        None => {
            let plan = pipeline.plan(args.search_mode).clone();
            mode_report(&args, &run, &rows, &plan, started)
        }
        Some(cs) => candidates_report(&args, &run, &rows, &cs, started),
    }
}

/// What the run could not use, and whether that is too much.
fn health(run: &ImageRun, pairs: &[PairDetail], max_percent: f64) -> Health {
    let images = run.images.len();
    let unreadable: Vec<&String> = run
        .images
        .iter()
        .filter(|(_, o)| o.error.is_some())
        .map(|(p, _)| p)
        .collect();
    let scored = pairs
        .iter()
        .filter(|p| p.pair.score.is_some_and(f64::is_finite))
        .count();
    let unscorable = pairs.len() - scored;
    let share = |k: usize, n: usize| {
        if n == 0 {
            0.0
        } else {
            100.0 * k as f64 / n as f64
        }
    };
    let named = |v: &[&String]| {
        let mut s: Vec<String> = v.iter().take(3).map(|p| p.to_string()).collect();
        if v.len() > 3 {
            s.push(format!("and {} more", v.len() - 3));
        }
        s.join(", ")
    };
    let problem = if scored == 0 {
        Some(format!(
            "nothing was scored: none of the {} pairs has a score ({} of {} images unreadable{})",
            pairs.len(),
            unreadable.len(),
            images,
            if unreadable.is_empty() {
                String::new()
            } else {
                format!(": {}", named(&unreadable))
            }
        ))
    } else if share(unreadable.len(), images) > max_percent {
        Some(format!(
            "{} of {} images ({:.1}%) could not be read, more than --max-unscorable {}%: {}",
            unreadable.len(),
            images,
            share(unreadable.len(), images),
            max_percent,
            named(&unreadable)
        ))
    } else if share(unscorable, pairs.len()) > max_percent {
        Some(format!(
            "{unscorable} of {} pairs ({:.1}%) have no score (an image unreadable or without a face), \
             more than --max-unscorable {}%",
            pairs.len(),
            share(unscorable, pairs.len()),
            max_percent
        ))
    } else {
        None
    };
    Health {
        images,
        unreadable_images: unreadable.len(),
        pairs: pairs.len(),
        unscorable_pairs: unscorable,
        scored_pairs: scored,
        max_unscorable_percent: max_percent,
        ok: problem.is_none(),
        problem,
    }
}

/// Raw metric values of one stage on the LFW fold pairs, for fitting its calibration.
fn stage_samples(run: &ImageRun, rows: &[PairRow], stage: usize) -> Vec<(f64, bool)> {
    rows.iter()
        .filter(|r| r.source.starts_with(FOLD_PREFIX))
        .filter_map(|r| {
            let a = run.images.get(&r.a)?.embeddings.get(stage)?.as_ref()?;
            let b = run.images.get(&r.b)?.embeddings.get(stage)?.as_ref()?;
            Some((a.compare(b).ok()?, r.same))
        })
        .collect()
}

/// Per image: detect plus the stages the plan needed for it (a cascade's second stage only for
/// images in a pair that used it).
struct PerImage {
    /// Wall and CPU time per image: detect and the stages it needed.
    total: Vec<f64>,
    total_cpu: Vec<f64>,
    /// Wall time of each stage per image.
    per_stage: Vec<Vec<f64>>,
    /// Share of images that needed a cascade's second stage.
    second_share: f64,
}

fn per_image_ms(run: &ImageRun, pairs: &[PairDetail], plan: &Plan, slots: &[usize]) -> PerImage {
    let mut needs_second: BTreeSet<&str> = BTreeSet::new();
    for p in pairs.iter().filter(|p| p.stages_used > 1) {
        needs_second.insert(&p.pair.a);
        needs_second.insert(&p.pair.b);
    }
    let eager = plan.eager();
    let (mut total, mut total_cpu, mut per_stage) =
        (Vec::new(), Vec::new(), vec![Vec::new(); slots.len()]);
    for (path, o) in &run.images {
        if o.error.is_some() {
            continue;
        }
        let (mut t, mut c) = (o.detect_ms, o.detect_cpu_ms);
        for (i, &k) in slots.iter().enumerate() {
            let ms = o.stage_ms.get(k).copied().unwrap_or(0.0);
            per_stage[i].push(ms);
            if i < eager || needs_second.contains(path.as_str()) {
                t += ms;
                c += o.stage_cpu_ms.get(k).copied().unwrap_or(0.0);
            }
        }
        total.push(t);
        total_cpu.push(c);
    }
    let second_share = if run.images.is_empty() {
        0.0
    } else {
        needs_second.len() as f64 / run.images.len() as f64
    };
    PerImage {
        total,
        total_cpu,
        per_stage,
        second_share,
    }
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn mode_report(
    args: &EvalArgs,
    run: &ImageRun,
    rows: &[PairRow],
    plan: &Plan,
    started: Instant,
) -> Result<ExitCode, CliError> {
    let slots = stage_slots(&run.stages, plan)
        .ok_or_else(|| CliError::Other("the run lacks a stage of the plan".into()))?;
    let pairs = score_pairs(run, rows, plan).map_err(CliError::Other)?;
    let health = health(run, &pairs, args.max_unscorable);
    if let Some(p) = &args.scores {
        write_scores(p, &pairs)?;
    }
    let mut no_face = Vec::new();
    let mut unreadable = Vec::new();
    let (mut t_decode, mut t_detect, mut t_embed) = (Vec::new(), Vec::new(), Vec::new());
    for (path, o) in &run.images {
        if let Some(e) = &o.error {
            unreadable.push(format!("{path}: {e}"));
            continue;
        }
        if plan_descriptors(o, &slots)
            .first()
            .is_none_or(Option::is_none)
        {
            no_face.push(path.clone());
        }
        t_decode.push(o.decode_ms);
        t_detect.push(o.detect_ms);
    }
    let PerImage {
        total: t_face,
        total_cpu: t_face_cpu,
        per_stage,
        second_share,
    } = per_image_ms(run, &pairs, plan, &slots);
    for (i, s) in per_stage.iter().enumerate() {
        if i < plan.eager() {
            if t_embed.is_empty() {
                t_embed = s.clone();
            } else {
                for (a, b) in t_embed.iter_mut().zip(s) {
                    *a += b;
                }
            }
        }
    }
    let scored: Vec<ScoredPair> = pairs.iter().map(|p| p.pair.clone()).collect();
    let threshold = default_threshold(args.search_mode);
    let options = SummaryOptions {
        threshold: Some(threshold),
        far_targets: vec![1e-2, 1e-3],
        include_roc: false,
    };
    let lfw: Vec<ScoredPair> = scored
        .iter()
        .filter(|p| p.source.starts_with(FOLD_PREFIX))
        .cloned()
        .collect();
    let calibration = plan
        .stages
        .iter()
        .zip(&slots)
        .map(|((stage, shipped), &k)| CalibrationCheck {
            stage: format!("{} {}", stage.recogniser, stage.views.as_str()),
            shipped: *shipped,
            fitted: fit(shipped.metric, &stage_samples(run, rows, k)).ok(),
        })
        .collect();
    let all_impostors = if args.all_impostors {
        let all = sweep(run, rows, plan, &slots)?;
        Some(all_impostor_report(
            &all,
            threshold,
            args.fmr,
            format!(
                "all cross-identity pairs of the LFW fold images ({})",
                plan.name
            ),
        ))
    } else {
        None
    };
    let mut timing = BTreeMap::new();
    timing.insert("decode", TimingStats::from_millis(&t_decode));
    timing.insert("detect", TimingStats::from_millis(&t_detect));
    timing.insert("align_embed", TimingStats::from_millis(&t_embed));
    timing.insert("detect_align_embed", TimingStats::from_millis(&t_face));
    timing.insert(
        "detect_align_embed_cpu",
        TimingStats::from_millis(&t_face_cpu),
    );
    let band = ReviewBand::default_for(args.search_mode);
    let cached = run.images.values().filter(|o| o.cached).count();
    let report = Report {
        search_mode: args.search_mode,
        plan: plan.name.clone(),
        pairs: scored.len(),
        images: run.images.len(),
        images_without_face: no_face,
        unreadable_images: unreadable,
        default_threshold: threshold,
        timing_per_image_ms: timing,
        computed_images: run.images.len() - cached,
        cached_images: cached,
        second_stage_image_share: matches!(plan.combine, Combine::Cascade { .. })
            .then_some(second_share),
        overall: Summary::build(&scored, &options),
        lfw: (!lfw.is_empty()).then(|| Summary::build(&lfw, &options)),
        calibration,
        all_impostors,
        shipped_review_band: (threshold - band.below, threshold + band.above),
        cache: run.cache.clone(),
        health: health.clone(),
        wall_ms: ms_since(started),
    };
    emit(args.json, &report, print_human)?;
    finish(&health)
}

/// Prints a report as JSON (`--json`) or in words.
fn emit<T: serde::Serialize>(json: bool, report: &T, words: fn(&T)) -> Result<(), CliError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        words(report);
    }
    Ok(())
}

/// Exit 0, or the reason the evaluation cannot be trusted (exit 2).
fn finish(health: &Health) -> Result<ExitCode, CliError> {
    match &health.problem {
        None => Ok(ExitCode::SUCCESS),
        Some(p) => Err(CliError::Usage(format!("eval: {p}"))),
    }
}

fn write_scores(path: &Path, pairs: &[PairDetail]) -> Result<(), CliError> {
    let f = std::fs::File::create(path)
        .map_err(CliError::io(format!("creating {}", path.display())))?;
    let mut w = std::io::BufWriter::new(f);
    let mut write = || -> std::io::Result<()> {
        writeln!(w, "a,b,same,source,score,distance,faces_a,faces_b")?;
        for d in pairs {
            let p = &d.pair;
            writeln!(
                w,
                "{},{},{},{},{},{},{},{}",
                p.a,
                p.b,
                u8::from(p.same),
                p.source,
                p.score.map(|s| format!("{s:.6}")).unwrap_or_default(),
                d.distance.map(|x| format!("{x:.6}")).unwrap_or_default(),
                d.faces_a,
                d.faces_b
            )?;
        }
        w.flush()
    };
    write().map_err(CliError::io(format!("writing {}", path.display())))
}
