//! `facestation liveness`: passive liveness of one image, or APCER/BPCER over a labelled set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use super::{local_verifier, read_input, recorder, CliError};
use crate::engine::{PipelineConfig, Verifier};
use crate::paths::StationPaths;
use crate::station::decide_liveness;
use crate::vision::liveness::{LivenessVerdict, DEFAULT_LIVENESS_MIN_SCORE};

#[derive(Args, Debug)]
pub struct LivenessArgs {
    /// The image to judge (a full camera frame; - for standard input).
    #[arg(required_unless_present = "labels")]
    pub image: Option<PathBuf>,
    /// Pass mark on P(real); passing is strict (score > min).
    #[arg(long, default_value_t = DEFAULT_LIVENESS_MIN_SCORE)]
    pub min_score: f64,
    /// A labels CSV (path,label,source,subject,attack_type,image_kind,...) to report error rates.
    #[arg(long, conflicts_with = "image")]
    pub labels: Option<PathBuf>,
    /// Folder the labels' paths are relative to (default: the CSV's parent's parent).
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &StationPaths, args: LivenessArgs) -> Result<ExitCode, CliError> {
    let mut verifier = local_verifier(paths, PipelineConfig::default())?;
    if let Some(labels) = &args.labels {
        return evaluate(
            &mut verifier,
            labels,
            args.root.as_deref(),
            args.min_score,
            args.json,
        );
    }
    let path = args
        .image
        .as_ref()
        .ok_or_else(|| CliError::Usage("give an image".into()))?;
    let bytes = read_input(path)?;
    // A liveness verdict is a decision too: signed and appended to the audit log like a compare.
    let recorder = recorder(paths)?;
    let decided = match decide_liveness(&mut verifier, &bytes, args.min_score, &recorder) {
        Ok(d) => d,
        Err(e) if args.json => {
            let e = CliError::from(e);
            println!("{}", e.to_json());
            return Ok(e.exit_code());
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = &decided.outcome;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&decided.record)
                .map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        let l = &outcome.liveness;
        let verdict = match l.verdict {
            LivenessVerdict::CannotJudge => format!(
                "{} (the face fills the frame: no context for the models)",
                l.verdict.label()
            ),
            _ => l.verdict.label().to_string(),
        };
        println!(
            "{verdict}: P(real) {:.4}, pass > {}, context {:.2}x, {:.1} ms",
            l.score, l.min_score, l.context, outcome.timings.total_ms
        );
        println!(
            "signed record appended to {}",
            recorder.log_path().display()
        );
    }
    Ok(match outcome.liveness.verdict {
        LivenessVerdict::Live => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

#[derive(Default, Serialize)]
struct Group {
    live: usize,
    spoof: usize,
    /// Spoofs accepted as live.
    spoof_accepted: usize,
    /// Live images rejected as spoof.
    live_rejected: usize,
    cannot_judge: usize,
    no_face_or_error: usize,
    /// Spoofs and live images that got a verdict (the denominators of APCER and BPCER).
    spoof_judged: usize,
    live_judged: usize,
    /// `None` (printed "n/a") when no image of that label was judged: a rate of 0 over nothing
    /// would claim a perfect result the data does not show.
    apcer: Option<f64>,
    bpcer: Option<f64>,
}

#[derive(Serialize)]
struct Item {
    path: String,
    label: String,
    verdict: Option<LivenessVerdict>,
    score: Option<f64>,
    context: Option<f32>,
    error: Option<String>,
}

fn evaluate(
    verifier: &mut crate::engine::LocalVerifier,
    labels: &Path,
    root: Option<&Path>,
    min_score: f64,
    json: bool,
) -> Result<ExitCode, CliError> {
    let text = std::fs::read_to_string(labels)
        .map_err(CliError::io(format!("reading {}", labels.display())))?;
    let root = root
        .map(Path::to_path_buf)
        .or_else(|| {
            labels
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
        })
        .unwrap_or_default();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut items = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    for (n, row) in reader.records().enumerate() {
        let row = row
            .map_err(|e| CliError::Other(format!("{}: not a valid CSV: {e}", labels.display())))?;
        if row.len() < 6 {
            return Err(CliError::Other(format!(
                "{}:{}: expected 6 columns (path,label,source,subject,attack_type,image_kind), got {}",
                labels.display(),
                n + 2,
                row.len()
            )));
        }
        let (path, label, source, kind) = (&row[0], &row[1], &row[2], &row[5]);
        let live = label == "live";
        let result = std::fs::read(root.join(path))
            .map_err(|e| e.to_string())
            .and_then(|b| verifier.liveness(&b, min_score).map_err(|e| e.to_string()));
        for key in [format!("{source}/{kind}"), format!("all/{kind}")] {
            let g = groups.entry(key).or_default();
            if live {
                g.live += 1;
            } else {
                g.spoof += 1;
            }
            match &result {
                Ok(o) => match o.liveness.verdict {
                    LivenessVerdict::CannotJudge => g.cannot_judge += 1,
                    verdict => {
                        if live {
                            g.live_judged += 1;
                            g.live_rejected += usize::from(verdict == LivenessVerdict::Spoof);
                        } else {
                            g.spoof_judged += 1;
                            g.spoof_accepted += usize::from(verdict == LivenessVerdict::Live);
                        }
                    }
                },
                Err(_) => g.no_face_or_error += 1,
            }
        }
        items.push(Item {
            path: path.to_string(),
            label: label.to_string(),
            verdict: result.as_ref().ok().map(|o| o.liveness.verdict),
            score: result.as_ref().ok().map(|o| o.liveness.score),
            context: result.as_ref().ok().map(|o| o.liveness.context),
            error: result.err(),
        });
    }
    for g in groups.values_mut() {
        g.apcer = (g.spoof_judged > 0).then(|| g.spoof_accepted as f64 / g.spoof_judged as f64);
        g.bpcer = (g.live_judged > 0).then(|| g.live_rejected as f64 / g.live_judged as f64);
    }
    if json {
        let out = serde_json::json!({ "min_score": min_score, "groups": groups, "items": items });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        println!("liveness at pass mark {min_score} (APCER = judged spoofs accepted, BPCER = judged live rejected; 'cannot judge' counted apart; n/a = nothing judged):");
        for (k, g) in &groups {
            println!(
                "  {k:<28} live {:>3} spoof {:>3}  APCER {}  BPCER {}  cannot judge {:>3}  no face/error {}",
                g.live,
                g.spoof,
                rate(g.apcer, g.spoof_accepted, g.spoof_judged),
                rate(g.bpcer, g.live_rejected, g.live_judged),
                g.cannot_judge,
                g.no_face_or_error
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "0.023 (1/43)", or "n/a" when nothing was judged.
fn rate(r: Option<f64>, errors: usize, judged: usize) -> String {
    match r {
        Some(x) => format!("{x:.3} ({errors}/{judged})"),
        None => "n/a".into(),
    }
}
