//! `facestation qa`: the threshold-QA workbench on the command line. Scores a pairs CSV, a folder
//! of identities or reads the audit log, and writes a signed report with its CSVs and plots;
//! `facestation qa verify REPORT` checks one. The work is in `crate::qa`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{local_verifier, CliError};
use crate::api::SearchMode;
use crate::engine::PipelineConfig;
use crate::paths::StationPaths;
use crate::qa::input::{self, ImpostorChoice};
use crate::qa::report::{self, Evaluation, ThresholdRule};
use crate::qa::scoring::{score_pairs, stderr_progress};
use crate::qa::QaError;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QaArgs {
    #[command(subcommand)]
    pub command: Option<QaCommand>,
    #[command(flatten)]
    pub run: QaRunArgs,
}

#[derive(Subcommand, Debug)]
pub enum QaCommand {
    /// Checks a report's signature and the files it lists; exit 0 valid, 1 not valid (says why).
    Verify {
        report: PathBuf,
        /// Also require this station public key (base64, as in the report's signature.publicKey).
        #[arg(long)]
        trusted_key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct QaRunArgs {
    /// Pairs CSV: a,b,same[,group][,group_b][,source] (paths relative to --root).
    #[arg(long, value_name = "CSV")]
    pub pairs: Option<PathBuf>,
    /// Folder of <identity>/<images>: every genuine pair and every (or --impostor-sample) impostor pair.
    #[arg(long, value_name = "DIR")]
    pub folder: Option<PathBuf>,
    /// The station's audit log: the distribution of production scores (unlabelled).
    #[arg(long, value_name = "LOG")]
    pub audit_log: Option<PathBuf>,
    /// Folder the CSV's paths are relative to (default: the CSV's folder).
    #[arg(long)]
    pub root: Option<PathBuf>,
    #[arg(long, value_parser = |s: &str| SearchMode::parse(s).map_err(|e| e.message), default_value = "FAST")]
    pub search_mode: SearchMode,
    /// Target FMR for the report's operating threshold (used when the data supports it).
    #[arg(long, default_value_t = 0.001)]
    pub fmr: f64,
    /// Operating threshold for the report (overrides --fmr).
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Output folder (report.json, scores.csv, near_threshold.csv, *.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only CSV rows whose source starts with this (e.g. lfw_fold).
    #[arg(long)]
    pub source: Option<String>,
    /// Group by this CSV column instead of `group` (e.g. source).
    #[arg(long)]
    pub group_column: Option<String>,
    /// Folder input: draw this many impostor pairs instead of all (seeded, reproducible).
    #[arg(long, value_name = "N")]
    pub impostor_sample: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Exclusions file (default: <input>.qa-exclusions.json beside the input).
    #[arg(long)]
    pub exclusions: Option<PathBuf>,
    /// ONNX Runtime intra-op threads for the embedder.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Descriptor cache folder (default: the user's cache dir, facestation/eval-descriptors,
    /// shared with `eval`): a re-run of the same images reads their descriptors.
    #[arg(long, conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Compute every descriptor, read and write no cache (for timings).
    #[arg(long)]
    pub no_cache: bool,
    /// Print the signed report on standard output.
    #[arg(long)]
    pub json: bool,
}

fn qa_err(e: QaError) -> CliError {
    match e {
        QaError::Input(m) => CliError::Usage(m),
        QaError::Record(r) => CliError::Record(r),
        other => CliError::Other(other.to_string()),
    }
}

pub fn run(paths: &StationPaths, args: QaArgs) -> Result<ExitCode, CliError> {
    match args.command {
        Some(QaCommand::Verify {
            report,
            trusted_key,
        }) => verify(&report, trusted_key.as_deref()),
        None => evaluate(paths, args.run),
    }
}

pub fn verify(path: &Path, trusted_key: Option<&str>) -> Result<ExitCode, CliError> {
    match report::verify_report(path, trusted_key) {
        Ok(v) => {
            println!(
                "{}: valid, signed by station key {}{}",
                path.display(),
                v.key_id,
                if v.files.is_empty() {
                    String::new()
                } else {
                    format!("; unchanged: {}", v.files.join(", "))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("facestation: {} does NOT verify: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn evaluate(paths: &StationPaths, a: QaRunArgs) -> Result<ExitCode, CliError> {
    let given = [a.pairs.is_some(), a.folder.is_some(), a.audit_log.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(CliError::Usage(
            "give exactly one input: --pairs CSV, --folder DIR or --audit-log LOG (or `qa verify REPORT`)".into(),
        ));
    }
    let Some(out) = a.out.clone() else {
        return Err(CliError::Usage("--out DIR is required".into()));
    };
    if !(a.fmr > 0.0 && a.fmr < 1.0) {
        return Err(CliError::Usage(format!(
            "--fmr must be in (0, 1), got {}",
            a.fmr
        )));
    }
    if a.threshold.is_some_and(|t| !t.is_finite()) {
        return Err(CliError::Usage("--threshold must be a number".into()));
    }
    let rule = match a.threshold {
        Some(t) => ThresholdRule::Given(t),
        None => ThresholdRule::AtFmr(a.fmr),
    };
    let (dataset, input_path) = if let Some(csv) = &a.pairs {
        let d = input::load_pairs_csv(
            csv,
            a.root.as_deref(),
            a.group_column.as_deref(),
            a.source.as_deref(),
        )
        .map_err(qa_err)?;
        (d, csv.clone())
    } else if let Some(dir) = &a.folder {
        let choice = match a.impostor_sample {
            Some(n) => ImpostorChoice::Sample { n, seed: a.seed },
            None => ImpostorChoice::All,
        };
        (
            input::load_folder(dir, choice).map_err(qa_err)?,
            dir.clone(),
        )
    } else {
        let log = a.audit_log.clone().unwrap_or_default();
        (input::load_audit_log(&log).map_err(qa_err)?, log)
    };
    let exclusions = a
        .exclusions
        .clone()
        .unwrap_or_else(|| input::exclusions_path(&input_path));
    for n in &dataset.notes {
        eprintln!("qa: note: {n}");
    }
    let eval = if a.audit_log.is_some() {
        Evaluation::from_audit_log(dataset, &exclusions).map_err(qa_err)?
    } else {
        if dataset.pairs.is_empty() {
            return Err(CliError::Usage("no pairs to evaluate".into()));
        }
        let config = PipelineConfig {
            embed_threads: a.threads,
            pipelines: 1,
            ..PipelineConfig::default()
        };
        let mut verifier = local_verifier(paths, config)?;
        let pipeline = &mut verifier.pipeline;
        let models = pipeline.models().to_vec();
        let cancel = AtomicBool::new(false);
        let cache_dir = if a.no_cache {
            None
        } else {
            a.cache.clone().or_else(crate::eval::cache::default_dir)
        };
        let run = score_pairs(
            pipeline,
            &dataset.pairs,
            &dataset.root,
            a.search_mode,
            cache_dir.as_deref(),
            &cancel,
            stderr_progress("qa", Duration::from_secs(5)),
        )
        .map_err(|_| CliError::Other("cancelled".into()))?;
        eprintln!(
            "qa: scored {} images in {:.1} s ({:.1} images/s)",
            run.images,
            run.elapsed.as_secs_f64(),
            run.images_per_second()
        );
        Evaluation::new(dataset, Some(a.search_mode), models, run, &exclusions).map_err(qa_err)?
    };
    let (key_path, _) = crate::record::resolve_paths(paths)?;
    let key = crate::record::StationKey::load_or_create(&key_path)?;
    let now = time::OffsetDateTime::now_utc();
    let v = report::write_outputs(&eval, rule, &out, &key, now).map_err(qa_err)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| CliError::Other(e.to_string()))?
        );
    } else {
        print_summary(&v, &out);
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.3}%", x * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn ci(v: &Value) -> String {
    match v.as_array().map(|a| (a.first(), a.get(1))) {
        Some((Some(lo), Some(hi))) => format!("[{}, {}]", pct(lo), pct(hi)),
        _ => "[n/a]".into(),
    }
}

fn print_summary(v: &Value, out: &Path) {
    println!(
        "{} pairs ({} genuine, {} impostor with a score), FTA {} ({} pairs without a score); {} {}",
        v["pairs"],
        v["genuine"],
        v["impostor"],
        pct(&v["fta"]),
        v["failures_to_acquire"]["pairs"],
        v["search_mode"].as_str().unwrap_or("production log"),
        v["model"].as_str().unwrap_or(""),
    );
    if !v["eer"].is_null() {
        println!(
            "EER {} at threshold {:.4}",
            pct(&v["eer"]),
            v["eer_threshold"].as_f64().unwrap_or(f64::NAN)
        );
    }
    if let Some(m) = v["fnmr_at_fmr"].as_object() {
        let mut rows: Vec<(&String, &Value)> = m.iter().collect();
        rows.sort_by(|a, b| {
            let f = |s: &str| s.parse::<f64>().unwrap_or(0.0);
            f(b.0).total_cmp(&f(a.0))
        });
        for (k, x) in rows {
            if x["supported"].as_bool() == Some(true) {
                println!(
                    "FNMR at FMR {k}: {} {} (threshold {:.4}, FMR achieved {})",
                    pct(&x["fnmr"]),
                    ci(&x["fnmr_ci95"]),
                    x["threshold"].as_f64().unwrap_or(f64::NAN),
                    pct(&x["fmr"])
                );
            } else {
                println!(
                    "FNMR at FMR {k}: {}",
                    x["reason"]
                        .as_str()
                        .unwrap_or(crate::qa::stats::NOT_SUPPORTED)
                );
            }
        }
    }
    let t = &v["at_threshold"];
    println!(
        "at threshold {:.4} ({}):",
        t["threshold"].as_f64().unwrap_or(f64::NAN),
        t["basis"].as_str().unwrap_or("")
    );
    println!(
        "  FMR {} {} ({} of {})  FNMR {} {} ({} of {})",
        pct(&t["fmr"]),
        ci(&t["fmr_ci95"]),
        t["false_matches"],
        t["impostor"],
        pct(&t["fnmr"]),
        ci(&t["fnmr_ci95"]),
        t["false_non_matches"],
        t["genuine"]
    );
    println!(
        "  FTA {} {}  FAR {} {}  FRR {} {}",
        pct(&t["fta"]),
        ci(&t["fta_ci95"]),
        pct(&t["far"]),
        ci(&t["far_ci95"]),
        pct(&t["frr"]),
        ci(&t["frr_ci95"])
    );
    if let Some(u) = v.get("unlabelled") {
        println!(
            "production scores: {} ({} without a score); accepted at this threshold: {} {}",
            u["scores"],
            u["without_score"],
            pct(&u["share_accepted"]),
            ci(&u["share_accepted_ci95"])
        );
    }
    let excluded = v["exclusions"]["applied"].as_array().map_or(0, Vec::len);
    if excluded > 0 {
        println!(
            "{excluded} pairs excluded ({})",
            v["exclusions"]["file"].as_str().unwrap_or("")
        );
    }
    let files: Vec<&str> = v["files"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    println!(
        "wrote {} (signed by station key {}) and {}",
        out.join("report.json").display(),
        v["signature"]["keyId"].as_str().unwrap_or("?"),
        files.join(", ")
    );
}
