//! What is written from an evaluation: report.json (signed), scores.csv, near_threshold.csv
//! and the plots.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{
    groups, Evaluation, ThresholdRule, CONVENTIONS, FORMAT_VERSION, NEAR_THRESHOLD_PAIRS,
    REPORT_KIND,
};
use crate::digest::sha256_hex;
use crate::qa::stats::{self, eer, fnmr_at_fmr, rates_at, AtFmr, Rates};
use crate::qa::QaError;
use crate::record::{sign_record, StationKey};

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtThreshold {
    /// Why this threshold.
    pub basis: String,
    #[serde(flatten)]
    pub rates: Rates,
}

/// Key of `fnmr_at_fmr` for a target ("0.001").
pub fn fmr_key(target: f64) -> String {
    format!("{target}")
}

/// The report as JSON, unsigned (no `signature`, no `files`).
pub fn report_json(e: &Evaluation, rule: ThresholdRule, now: OffsetDateTime) -> Value {
    let (threshold, basis) = e.choose_threshold(rule);
    let s = &e.set;
    let eer = eer(s);
    let fnmr_at: BTreeMap<String, AtFmr> = stats::FMR_TARGETS
        .iter()
        .map(|&t| (fmr_key(t), fnmr_at_fmr(s, t)))
        .collect();
    let rates = rates_at(s, threshold);
    let applied: Vec<Value> = e
        .dataset
        .pairs
        .iter()
        .zip(&e.scores)
        .zip(&e.excluded)
        .filter_map(|((p, sc), x)| {
            x.as_ref().map(|x| {
                json!({
                    "a": p.a, "b": p.b, "same": p.same, "score": sc.score,
                    "reason": x.reason, "note": x.note, "at": x.at,
                })
            })
        })
        .collect();
    let fta_pairs: Vec<Value> = e
        .dataset
        .pairs
        .iter()
        .zip(&e.scores)
        .zip(&e.excluded)
        .filter(|((p, _), x)| p.same.is_some() && x.is_none())
        .filter_map(|((p, sc), _)| {
            sc.fta
                .as_ref()
                .map(|why| json!({"a": p.a, "b": p.b, "same": p.same, "why": why}))
        })
        .collect();
    let unlabelled = (!e.unlabelled.is_empty() || e.unlabelled_fta > 0).then(|| {
        let n = e.unlabelled.len();
        let accepted = n - e.unlabelled.partition_point(|&x| x < threshold);
        let q = |p: f64| -> Option<f64> {
            (n > 0).then(|| e.unlabelled[((p * (n - 1) as f64).round() as usize).min(n - 1)])
        };
        json!({
            "scores": n,
            "without_score": e.unlabelled_fta,
            "accepted_at_threshold": accepted,
            "share_accepted": (n > 0).then(|| accepted as f64 / n as f64),
            "share_accepted_ci95": stats::clopper_pearson(accepted as u64, n as u64),
            "quantiles": {"min": q(0.0), "p05": q(0.05), "p25": q(0.25), "median": q(0.5), "p75": q(0.75), "p95": q(0.95), "max": q(1.0)},
            "note": "production decisions carry no ground truth: the share accepted is not an FMR or FNMR",
        })
    });
    let mut v = json!({
        "report": REPORT_KIND,
        "format_version": FORMAT_VERSION,
        "created_at": crate::qa::iso_millis(now),
        "station_version": env!("CARGO_PKG_VERSION"),
        "input": {
            "kind": e.dataset.kind,
            "path": e.dataset.path.display().to_string(),
            "root": e.dataset.root.display().to_string(),
            "name": e.dataset.name,
            "selection": e.dataset.selection,
            "notes": e.dataset.notes,
            "rejected_lines": e.dataset.rejected_lines,
        },
        "dataset_sha256": e.dataset.sha256,
        "dataset_sha256_of": e.dataset.sha256_of,
        "model": e.model(),
        "models": e.models,
        "search_mode": e.search_mode,
        "pairs": s.pairs(),
        "genuine": s.genuine_count(),
        "impostor": s.impostor_count(),
        "fta": rates.fta,
        "fta_ci95": rates.fta_ci95,
        "failures_to_acquire": {
            "pairs": s.fta_pairs(),
            "genuine": s.genuine_fta,
            "impostor": s.impostor_fta,
            "images_without_face": e.no_face,
            "unreadable_images": e.unreadable,
            "pairs_list": fta_pairs,
        },
        "eer": eer.map(|x| x.eer),
        "eer_threshold": eer.map(|x| x.threshold),
        "eer_interval_fvc": eer.map(|x| x.interval),
        "fnmr_at_fmr": fnmr_at,
        "at_threshold": AtThreshold { basis, rates },
        "groups": groups(e, threshold),
        "exclusions": {
            "file": e.exclusions_file.display().to_string(),
            "file_sha256": e.exclusions_sha256,
            "applied": applied,
            "unmatched": e.unmatched_exclusions,
        },
        "timing": {
            "images": e.images,
            "seconds": e.seconds,
            "images_per_second": if e.seconds > 0.0 { Some(e.images as f64 / e.seconds) } else { None },
        },
        "conventions": CONVENTIONS,
    });
    if let Some(u) = unlabelled {
        v["unlabelled"] = u;
    }
    v
}

/// Writes scores.csv: every pair, with its score, faces found, why it has no score and whether
/// it is excluded (what `scripts/qa-crosscheck.py` reads).
pub fn write_scores_csv(e: &Evaluation, path: &Path) -> Result<(), QaError> {
    let io = |err: csv::Error| QaError::Output(format!("writing {}: {err}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record([
        "a", "b", "same", "group", "score", "faces_a", "faces_b", "fta", "excluded",
    ])
    .map_err(io)?;
    for ((p, s), x) in e.dataset.pairs.iter().zip(&e.scores).zip(&e.excluded) {
        let group = match p.groups() {
            Some((a, b)) if a != b => format!("{a}|{b}"),
            Some((a, _)) => a.to_string(),
            None => String::new(),
        };
        w.write_record([
            p.a.as_str(),
            p.b.as_str(),
            match p.same {
                Some(true) => "1",
                Some(false) => "0",
                None => "",
            },
            group.as_str(),
            &s.score.map(|x| format!("{x}")).unwrap_or_default(),
            &s.faces_a.to_string(),
            &s.faces_b.to_string(),
            s.fta.as_deref().unwrap_or(""),
            x.as_ref().map_or("", |x| x.reason.as_str()),
        ])
        .map_err(io)?;
    }
    w.flush()
        .map_err(|err| QaError::Output(format!("writing {}: {err}", path.display())))
}

/// Writes near_threshold.csv: the `n` genuine and `n` impostor pairs closest to `threshold`.
pub fn write_near_threshold_csv(
    e: &Evaluation,
    threshold: f64,
    n: usize,
    path: &Path,
) -> Result<(), QaError> {
    let io = |err: csv::Error| QaError::Output(format!("writing {}: {err}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record([
        "kind",
        "a",
        "b",
        "score",
        "threshold",
        "delta",
        "decision",
        "correct",
    ])
    .map_err(io)?;
    for genuine in [true, false] {
        for (i, score) in e.set.nearest(threshold, n, genuine) {
            let p = &e.dataset.pairs[i];
            let accepted = score >= threshold;
            w.write_record([
                if genuine { "genuine" } else { "impostor" },
                p.a.as_str(),
                p.b.as_str(),
                &format!("{score:.9}"),
                &format!("{threshold:.9}"),
                &format!("{:+.9}", score - threshold),
                if accepted { "match" } else { "no_match" },
                if accepted == genuine { "1" } else { "0" },
            ])
            .map_err(io)?;
        }
    }
    w.flush()
        .map_err(|err| QaError::Output(format!("writing {}: {err}", path.display())))
}

/// Writes everything into `out` and returns the signed report: scores.csv, near_threshold.csv,
/// the plots, then report.json, whose `files` holds the SHA-256 of each (so `qa verify` detects
/// an edited CSV as well as an edited report).
pub fn write_outputs(
    e: &Evaluation,
    rule: ThresholdRule,
    out: &Path,
    key: &StationKey,
    now: OffsetDateTime,
) -> Result<Value, QaError> {
    std::fs::create_dir_all(out)
        .map_err(|err| QaError::Output(format!("creating {}: {err}", out.display())))?;
    let (threshold, _) = e.choose_threshold(rule);
    let mut files = BTreeMap::new();
    write_scores_csv(e, &out.join("scores.csv"))?;
    files.insert("scores.csv", ());
    if e.is_labelled() {
        write_near_threshold_csv(
            e,
            threshold,
            NEAR_THRESHOLD_PAIRS,
            &out.join("near_threshold.csv"),
        )?;
        files.insert("near_threshold.csv", ());
    }
    for (name, png) in crate::qa::plots::report_plots(e, threshold) {
        png.save(out.join(name)).map_err(|err| {
            QaError::Output(format!("writing {}: {err}", out.join(name).display()))
        })?;
        files.insert(name, ());
    }
    let mut digests = serde_json::Map::new();
    for name in files.keys() {
        let bytes = std::fs::read(out.join(name))
            .map_err(|err| QaError::Output(format!("reading back {name}: {err}")))?;
        digests.insert((*name).into(), sha256_hex(&bytes).into());
    }
    let mut v = report_json(e, rule, now);
    v["files"] = Value::Object(digests);
    sign_record(&mut v, key)?;
    let path = out.join("report.json");
    let text = serde_json::to_string_pretty(&v).map_err(|err| QaError::Other(err.to_string()))?;
    let mut f = std::fs::File::create(&path)
        .map_err(|err| QaError::Output(format!("creating {}: {err}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|err| QaError::Output(format!("writing {}: {err}", path.display())))?;
    Ok(v)
}
