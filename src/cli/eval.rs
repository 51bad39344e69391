//! `facestation eval`: runs the local pipeline over a pairs CSV and reports accuracy and timings.
//! The scoring itself is `eval::runner`; this file reads the CSV and prints the report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::paths::StationPaths;
use clap::Args;
use serde::Serialize;

use super::{local_verifier, CliError};
use crate::api::SearchMode;
use crate::engine::score::default_threshold;
use crate::engine::PipelineConfig;
use crate::eval::runner::{run_pairs, PairDetail};
use crate::eval::{read_pairs_csv, ScoredPair, Summary, SummaryOptions, TimingStats};

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
    /// Only the first N pairs.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only pairs whose source starts with this (e.g. lfw_fold).
    #[arg(long)]
    pub source: Option<String>,
    /// Write one CSV line per pair: a,b,same,source,score,distance,faces_a,faces_b.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// ONNX Runtime intra-op threads for the embedder.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    search_mode: SearchMode,
    pairs: usize,
    images: usize,
    images_without_face: Vec<String>,
    unreadable_images: Vec<String>,
    default_threshold: f64,
    timing_per_image_ms: BTreeMap<&'static str, Option<TimingStats>>,
    overall: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfw: Option<Summary>,
}

pub fn run(paths: &StationPaths, args: EvalArgs) -> Result<ExitCode, CliError> {
    let text = std::fs::read_to_string(&args.pairs)
        .map_err(CliError::io(format!("reading {}", args.pairs.display())))?;
    let mut rows = read_pairs_csv(&text)
        .map_err(|e| CliError::Other(format!("{}: {e}", args.pairs.display())))?;
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
    let config = PipelineConfig {
        embed_threads: args.threads,
        ..PipelineConfig::default()
    };
    let mut verifier = local_verifier(paths, config)?;
    let pipeline = &mut verifier.pipeline;

    let json = args.json;
    let run = run_pairs(pipeline, rows, &root, args.search_mode, |i, total| {
        if !json && i % 500 == 0 {
            eprintln!("eval: image {i}/{total}");
        }
    });
    let total = run.images.len();
    let mut no_face = Vec::new();
    let mut unreadable = Vec::new();
    let (mut t_decode, mut t_detect, mut t_embed, mut t_face) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (path, o) in &run.images {
        if let Some(e) = &o.error {
            unreadable.push(format!("{path}: {e}"));
            continue;
        }
        if o.descriptor.is_none() {
            no_face.push(path.clone());
        }
        t_decode.push(o.decode_ms);
        t_detect.push(o.detect_ms);
        t_embed.push(o.embed_ms);
        t_face.push(o.detect_ms + o.embed_ms);
    }
    if let Some(p) = &args.scores {
        write_scores(p, &run.pairs)?;
    }
    let scored = run.scored();

    let threshold = default_threshold(args.search_mode);
    let options = SummaryOptions {
        threshold: Some(threshold),
        far_targets: vec![1e-2, 1e-3],
        include_roc: false,
    };
    let lfw: Vec<ScoredPair> = scored
        .iter()
        .filter(|p| p.source.starts_with(crate::eval::FOLD_PREFIX))
        .cloned()
        .collect();
    let mut timing = BTreeMap::new();
    timing.insert("decode", TimingStats::from_millis(&t_decode));
    timing.insert("detect", TimingStats::from_millis(&t_detect));
    timing.insert("align_embed", TimingStats::from_millis(&t_embed));
    timing.insert("detect_align_embed", TimingStats::from_millis(&t_face));
    let report = Report {
        search_mode: args.search_mode,
        pairs: scored.len(),
        images: total,
        images_without_face: no_face,
        unreadable_images: unreadable,
        default_threshold: threshold,
        timing_per_image_ms: timing,
        overall: Summary::build(&scored, &options),
        lfw: (!lfw.is_empty()).then(|| Summary::build(&lfw, &options)),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
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

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn print_human(r: &Report) {
    println!(
        "search mode {}: {} pairs, {} images, {} without a face, {} unreadable",
        r.search_mode.as_str(),
        r.pairs,
        r.images,
        r.images_without_face.len(),
        r.unreadable_images.len()
    );
    if let Some(l) = &r.lfw {
        if let Some(k) = &l.kfold {
            println!(
                "LFW k-fold ({} folds, threshold chosen on the other folds): {} +- {}",
                k.folds.len(),
                pct(k.mean_accuracy),
                pct(k.std_accuracy)
            );
        }
        for p in &l.tar_at_far {
            println!(
                "LFW TAR at FAR {:.0e}: {} (threshold {:.4}, FAR {:.4})",
                p.far_target,
                pct(p.tar),
                p.threshold,
                p.far
            );
        }
        if let Some(e) = &l.eer {
            println!("LFW EER: {} at {:.4}", pct(e.eer), e.threshold);
        }
    }
    println!(
        "per source at the default threshold {:.4}:",
        r.default_threshold
    );
    for s in &r.overall.per_source {
        println!(
            "  {:<20} {:>5} pairs  accuracy {}  (false matches {}, false non-matches {}, pairs without a face {})",
            s.source,
            s.pairs,
            pct(s.accuracy),
            s.false_matches,
            s.false_non_matches,
            s.no_face_pairs
        );
    }
    for (stage, t) in &r.timing_per_image_ms {
        if let Some(t) = t {
            println!(
                "  {stage:<20} median {:.2} ms  p90 {:.2} ms",
                t.median_ms, t.p90_ms
            );
        }
    }
    for n in &r.overall.notes {
        println!("note: {n}");
    }
}
