//! `facestation eval`: runs the local pipeline over a pairs CSV and reports accuracy and timings.
//!
//! Each distinct image is processed once (decode, detect, the face nearest the centre, align,
//! embed); pairs are then scored from the cached descriptors.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use super::{local_verifier, CliError, Common};
use crate::api::SearchMode;
use crate::engine::score::{default_threshold, distance_to_score};
use crate::engine::{FacePolicy, ImageRole, Pipeline, PipelineConfig};
use crate::eval::{read_pairs_csv, ScoredPair, Summary, SummaryOptions, TimingStats};
use crate::vision::Descriptor;

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

/// What one image gave.
struct ImageResult {
    descriptor: Option<Descriptor>,
    faces: usize,
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

pub fn run(common: &Common, args: EvalArgs) -> Result<ExitCode, CliError> {
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
    let mut verifier = local_verifier(common, config)?;
    let pipeline = &mut verifier.pipeline;

    let mut images: BTreeMap<String, ImageResult> = BTreeMap::new();
    for r in &rows {
        images.entry(r.a.clone()).or_insert(ImageResult {
            descriptor: None,
            faces: 0,
        });
        images.entry(r.b.clone()).or_insert(ImageResult {
            descriptor: None,
            faces: 0,
        });
    }
    let (mut t_decode, mut t_detect, mut t_embed, mut t_face) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut no_face, mut unreadable) = (Vec::new(), Vec::new());
    let total = images.len();
    for (i, (path, result)) in images.iter_mut().enumerate() {
        if !args.json && i % 500 == 0 {
            eprintln!("eval: image {i}/{total}");
        }
        let bytes = match std::fs::read(root.join(path)) {
            Ok(b) => b,
            Err(_) => {
                unreadable.push(path.clone());
                continue;
            }
        };
        match process(pipeline, &bytes, args.search_mode) {
            Ok((desc, faces, times)) => {
                result.descriptor = desc;
                result.faces = faces;
                if result.descriptor.is_none() {
                    no_face.push(path.clone());
                }
                t_decode.push(times[0]);
                t_detect.push(times[1]);
                t_embed.push(times[2]);
                t_face.push(times[1] + times[2]);
            }
            Err(_) => unreadable.push(path.clone()),
        }
    }

    let mut scored = Vec::with_capacity(rows.len());
    let mut csv = match &args.scores {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(CliError::io(format!("creating {}", p.display())))?;
            let mut w = std::io::BufWriter::new(f);
            writeln!(w, "a,b,same,source,score,distance,faces_a,faces_b")
                .map_err(CliError::io("writing scores"))?;
            Some(w)
        }
        None => None,
    };
    for r in rows {
        let (a, b) = (&images[&r.a], &images[&r.b]);
        let distance = match (&a.descriptor, &b.descriptor) {
            (Some(x), Some(y)) => Some(f64::from(x.distance(y))),
            _ => None,
        };
        let score = distance.map(distance_to_score);
        if let Some(w) = csv.as_mut() {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{}",
                r.a,
                r.b,
                u8::from(r.same),
                r.source,
                score.map(|s| format!("{s:.6}")).unwrap_or_default(),
                distance.map(|d| format!("{d:.6}")).unwrap_or_default(),
                a.faces,
                b.faces
            )
            .map_err(CliError::io("writing scores"))?;
        }
        scored.push(r.with_score(score));
    }
    if let Some(mut w) = csv {
        w.flush().map_err(CliError::io("writing scores"))?;
    }

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

/// Decode, detect, choose the centre face, describe. Times: [decode, detect, align+embed] ms.
fn process(
    p: &mut Pipeline,
    bytes: &[u8],
    mode: SearchMode,
) -> Result<(Option<Descriptor>, usize, [f64; 3]), CliError> {
    let t = Instant::now();
    let img = p.decode(bytes, ImageRole::Probe)?;
    let decode = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let faces = p.detect(&img)?;
    let detect = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let desc = match Pipeline::choose_face(
        &faces,
        FacePolicy::Centre,
        ImageRole::Probe,
        img.dimensions(),
    ) {
        Ok((face, _)) => p.describe(&img, &[face], mode)?.pop(),
        Err(_) => None,
    };
    let embed = t.elapsed().as_secs_f64() * 1000.0;
    Ok((desc, faces.len(), [decode, detect, embed]))
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
