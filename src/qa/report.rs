//! One evaluation (a dataset, its scores, the exclusions applied) and what is written from it:
//! report.json signed by the station key, scores.csv, near_threshold.csv and the plots; the
//! check of a report (`facestation qa verify`); and the [`ThresholdBasis`] a chosen threshold
//! carries into the station's configuration.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::exclusions::{Exclusion, ExclusionFile};
use super::input::{Dataset, InputKind};
use super::scoring::{PairScore, ScoredRun};
use super::stats::{self, eer, fnmr_at_fmr, rates_at, AtFmr, Labelled, Rates, ScoreSet};
use super::QaError;
use crate::api::SearchMode;
use crate::digest::sha256_hex;
use crate::engine::ModelRef;
use crate::record::{sign_record, StationKey};

/// `report` field of every report (what `qa verify` expects).
pub const REPORT_KIND: &str = "facestation-qa";
pub const FORMAT_VERSION: u32 = 1;

/// How many genuine and impostor pairs near_threshold.csv lists.
pub const NEAR_THRESHOLD_PAIRS: usize = 20;

/// What the conventions are, written into every report so its numbers can be read alone.
pub const CONVENTIONS: &str = "scores are similarities; a pair is accepted iff score >= threshold; \
pairs without a score are failures to acquire (FTA) and are not in FMR/FNMR; FTA = pairs without a \
score / all pairs; FAR = FMR*(1-FTA); FRR = FTA + FNMR*(1-FTA) (bob.measure); intervals are exact \
Clopper-Pearson 95% (FAR/FRR: the FMR/FNMR interval transformed with FTA taken as known); FNMR at a \
target FMR uses the lowest threshold whose FMR <= target and is reported only when impostor pairs >= \
3/FMR (rule of 3); EER is interpolated linearly between the two operating points that bracket it; \
pairs are not independent (subjects recur), so the intervals are optimistic";

/// How the report's operating threshold was chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// `--threshold T`.
    Given(f64),
    /// The threshold at this FMR (`--fmr`) when the data supports it, else the production default.
    AtFmr(f64),
}

/// A dataset with its scores: everything the report, the screen and the threshold basis read.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub dataset: Dataset,
    /// `None` for an audit log (the decisions were made in whatever mode each record says).
    pub search_mode: Option<SearchMode>,
    pub models: Vec<ModelRef>,
    /// Parallel to `dataset.pairs`.
    pub scores: Vec<PairScore>,
    /// Parallel to `dataset.pairs`: the exclusion that leaves a pair out, if any.
    pub excluded: Vec<Option<Exclusion>>,
    pub unmatched_exclusions: Vec<Exclusion>,
    /// The side file read, and its SHA-256 (when it exists).
    pub exclusions_file: PathBuf,
    pub exclusions_sha256: Option<String>,
    /// Labelled pairs that are not excluded.
    pub set: ScoreSet,
    /// Unlabelled (audit log) scores, ascending, and how many had none.
    pub unlabelled: Vec<f64>,
    pub unlabelled_fta: usize,
    pub images: usize,
    pub seconds: f64,
    pub no_face: Vec<String>,
    pub unreadable: Vec<String>,
}

impl Evaluation {
    /// Joins a dataset with its scores and the exclusions side file.
    pub fn new(
        dataset: Dataset,
        search_mode: Option<SearchMode>,
        models: Vec<ModelRef>,
        run: ScoredRun,
        exclusions_file: &Path,
    ) -> Result<Self, QaError> {
        let file = ExclusionFile::load(exclusions_file)?;
        let exclusions_sha256 = std::fs::read(exclusions_file).ok().map(|b| sha256_hex(&b));
        let (flags, unmatched) = file.apply(&dataset.pairs);
        let excluded: Vec<Option<Exclusion>> = flags.into_iter().map(|e| e.cloned()).collect();
        let unmatched_exclusions = unmatched.into_iter().cloned().collect();
        let mut e = Evaluation {
            dataset,
            search_mode,
            models,
            scores: run.scores,
            excluded,
            unmatched_exclusions,
            exclusions_file: exclusions_file.to_path_buf(),
            exclusions_sha256,
            set: ScoreSet::default(),
            unlabelled: Vec::new(),
            unlabelled_fta: 0,
            images: run.images,
            seconds: run.elapsed.as_secs_f64(),
            no_face: run.no_face,
            unreadable: run.unreadable,
        };
        e.rebuild();
        Ok(e)
    }

    /// An audit log's pairs carry their production scores: no engine is run.
    pub fn from_audit_log(dataset: Dataset, exclusions_file: &Path) -> Result<Self, QaError> {
        let scores = dataset
            .pairs
            .iter()
            .map(|p| PairScore {
                score: p.logged_score,
                faces_a: 0,
                faces_b: 0,
                fta: p.logged_score.is_none().then(|| {
                    format!(
                        "{}: no score in the record (no face in that gallery image)",
                        p.source
                    )
                }),
            })
            .collect();
        let run = ScoredRun {
            scores,
            images: 0,
            elapsed: std::time::Duration::ZERO,
            no_face: Vec::new(),
            unreadable: Vec::new(),
        };
        Self::new(dataset, None, Vec::new(), run, exclusions_file)
    }

    /// Recomputes the score sets (after the exclusions changed).
    pub fn rebuild(&mut self) {
        let pairs = &self.dataset.pairs;
        self.set = ScoreSet::from_indexed(
            pairs
                .iter()
                .zip(&self.scores)
                .enumerate()
                .filter(|(i, (p, _))| p.same.is_some() && self.excluded[*i].is_none())
                .map(|(i, (p, s))| {
                    (
                        i,
                        Labelled {
                            same: p.same == Some(true),
                            score: s.score,
                        },
                    )
                }),
        );
        let mut unl: Vec<f64> = Vec::new();
        self.unlabelled_fta = 0;
        for (i, (p, s)) in pairs.iter().zip(&self.scores).enumerate() {
            if p.same.is_none() && self.excluded[i].is_none() {
                match s.score {
                    Some(x) => unl.push(x),
                    None => self.unlabelled_fta += 1,
                }
            }
        }
        unl.sort_by(f64::total_cmp);
        self.unlabelled = unl;
    }

    /// Marks (or, with `None`, unmarks) a pair in the side file and applies it at once.
    pub fn set_exclusion(
        &mut self,
        index: usize,
        exclusion: Option<Exclusion>,
    ) -> Result<(), QaError> {
        let mut file = ExclusionFile::load(&self.exclusions_file)?;
        let (a, b) = (&self.dataset.pairs[index].a, &self.dataset.pairs[index].b);
        match &exclusion {
            Some(e) => file.mark(e.clone()),
            None => {
                file.unmark(a, b);
            }
        }
        file.save(&self.exclusions_file)?;
        self.exclusions_sha256 = std::fs::read(&self.exclusions_file)
            .ok()
            .map(|b| sha256_hex(&b));
        // The same pair may be listed twice in a CSV: every copy follows the file.
        let (a, b) = (a.clone(), b.clone());
        for (i, p) in self.dataset.pairs.iter().enumerate() {
            if (p.a == a && p.b == b) || (p.a == b && p.b == a) {
                self.excluded[i] = exclusion.clone();
            }
        }
        self.rebuild();
        Ok(())
    }

    /// Re-reads the side file (another view of the same pairs changed it) and applies it.
    pub fn reload_exclusions(&mut self) -> Result<(), QaError> {
        let file = ExclusionFile::load(&self.exclusions_file)?;
        let (flags, unmatched) = file.apply(&self.dataset.pairs);
        self.excluded = flags.into_iter().map(|e| e.cloned()).collect();
        self.unmatched_exclusions = unmatched.into_iter().cloned().collect();
        self.exclusions_sha256 = std::fs::read(&self.exclusions_file)
            .ok()
            .map(|b| sha256_hex(&b));
        self.rebuild();
        Ok(())
    }

    pub fn is_labelled(&self) -> bool {
        self.dataset.kind != InputKind::AuditLog
    }

    /// The production default for the mode (FAST when unknown).
    pub fn production_threshold(&self) -> f64 {
        crate::engine::score::default_threshold(self.search_mode.unwrap_or(SearchMode::Fast))
    }

    /// The operating threshold the rule gives, and why, in words.
    pub fn choose_threshold(&self, rule: ThresholdRule) -> (f64, String) {
        match rule {
            ThresholdRule::Given(t) => (t, "given (--threshold)".into()),
            ThresholdRule::AtFmr(target) => {
                let a = fnmr_at_fmr(&self.set, target);
                match a.threshold {
                    Some(t) if a.supported => (
                        t,
                        format!(
                            "lowest threshold with FMR <= {} on this data",
                            stats::fmt_rate(target)
                        ),
                    ),
                    _ => {
                        let t = self.production_threshold();
                        (
                            t,
                            format!(
                                "production default for {} ({t}), because the target FMR {} is {}",
                                self.search_mode.unwrap_or(SearchMode::Fast).as_str(),
                                stats::fmt_rate(target),
                                a.reason.unwrap_or_else(|| stats::NOT_SUPPORTED.into())
                            ),
                        )
                    }
                }
            }
        }
    }

    pub fn excluded_count(&self) -> usize {
        self.excluded.iter().filter(|e| e.is_some()).count()
    }

    /// The recognisers that make the scores (`+`-joined ids; "embedder" is the pre-manifest role).
    pub fn model(&self) -> Option<String> {
        let ids: Vec<&str> = self
            .models
            .iter()
            .filter(|m| m.role == "recogniser" || m.role == "embedder")
            .map(|m| m.id.as_str())
            .collect();
        (!ids.is_empty()).then(|| ids.join("+"))
    }
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRates {
    pub pairs: usize,
    #[serde(flatten)]
    pub rates: Rates,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixCell {
    pub group_a: String,
    pub group_b: String,
    pub impostor: usize,
    pub false_matches: usize,
    pub fmr: Option<f64>,
    pub fmr_ci95: Option<[f64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Groups {
    /// The one global threshold every group is measured at.
    pub threshold: f64,
    /// Pairs whose two images are in the same group.
    pub per_group: BTreeMap<String, GroupRates>,
    /// Impostor pairs by (group of a, group of b), unordered; keyed "A|B" with A <= B.
    pub fmr_matrix: BTreeMap<String, MatrixCell>,
    /// Labelled pairs without a group (not in any row).
    pub ungrouped_pairs: usize,
}

/// Error rates per group at one global threshold (as NIST's demographic tables), and the FMR of
/// impostor pairs for every pair of groups. `None` when no pair has a group.
pub fn groups(e: &Evaluation, threshold: f64) -> Option<Groups> {
    let mut by_group: BTreeMap<String, Vec<(usize, Labelled)>> = BTreeMap::new();
    let mut cells: BTreeMap<(String, String), Vec<(usize, Labelled)>> = BTreeMap::new();
    let mut ungrouped = 0;
    let mut any = false;
    for (i, (p, s)) in e.dataset.pairs.iter().zip(&e.scores).enumerate() {
        let Some(same) = p.same else { continue };
        if e.excluded[i].is_some() {
            continue;
        }
        let l = Labelled {
            same,
            score: s.score,
        };
        let Some((ga, gb)) = p.groups() else {
            ungrouped += 1;
            continue;
        };
        any = true;
        if ga == gb {
            by_group.entry(ga.to_string()).or_default().push((i, l));
        }
        if !same {
            let key = if ga <= gb {
                (ga.to_string(), gb.to_string())
            } else {
                (gb.to_string(), ga.to_string())
            };
            cells.entry(key).or_default().push((i, l));
        }
    }
    if !any {
        return None;
    }
    let per_group = by_group
        .into_iter()
        .map(|(g, v)| {
            let n = v.len();
            let set = ScoreSet::from_indexed(v);
            (
                g,
                GroupRates {
                    pairs: n,
                    rates: rates_at(&set, threshold),
                },
            )
        })
        .collect();
    let fmr_matrix = cells
        .into_iter()
        .map(|((a, b), v)| {
            let set = ScoreSet::from_indexed(v);
            let r = rates_at(&set, threshold);
            (
                format!("{a}|{b}"),
                MatrixCell {
                    group_a: a,
                    group_b: b,
                    impostor: r.impostor,
                    false_matches: r.false_matches,
                    fmr: r.fmr,
                    fmr_ci95: r.fmr_ci95,
                },
            )
        })
        .collect();
    Some(Groups {
        threshold,
        per_group,
        fmr_matrix,
        ungrouped_pairs: ungrouped,
    })
}

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
    for (name, png) in super::plots::report_plots(e, threshold) {
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

// ---------------------------------------------------------------------------------------------
// Verify
// ---------------------------------------------------------------------------------------------

/// A report that checks out.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub key_id: String,
    pub files: Vec<String>,
}

/// Why a report does not verify, in words for the QA person.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {why}")]
    Unreadable { path: String, why: String },
    #[error("not a FaceStation QA report: {0}")]
    NotAReport(String),
    #[error("the signature does not verify: {0} (the report was changed after it was signed, or was never signed)")]
    Signature(String),
    #[error("{name} does not match the report: its SHA-256 is {found}, the signed report says {expected} (the file was changed after signing)")]
    FileChanged {
        name: String,
        found: String,
        expected: String,
    },
    #[error("{name} is listed in the signed report but missing beside it")]
    FileMissing { name: String },
}

/// Checks a report's signature (optionally pinned to a trusted public key) and the digests of
/// the files it lists that sit beside it.
pub fn verify_report(path: &Path, trusted_key_b64: Option<&str>) -> Result<Verified, VerifyError> {
    let text = std::fs::read(path).map_err(|e| VerifyError::Unreadable {
        path: path.display().to_string(),
        why: e.to_string(),
    })?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| VerifyError::NotAReport(format!("not JSON ({e})")))?;
    if v.get("report").and_then(Value::as_str) != Some(REPORT_KIND) {
        return Err(VerifyError::NotAReport(format!(
            "no \"report\": \"{REPORT_KIND}\" field"
        )));
    }
    match trusted_key_b64 {
        Some(k) => crate::record::verify_record_with_key(&v, k),
        None => crate::record::verify_record(&v),
    }
    .map_err(|e| VerifyError::Signature(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    if let Some(map) = v.get("files").and_then(Value::as_object) {
        for (name, digest) in map {
            // Only plain names beside the report (a signed report could still name "../x").
            if name.contains('/') || name.contains('\\') || name == ".." {
                return Err(VerifyError::NotAReport(format!(
                    "file name {name:?} is not a plain name"
                )));
            }
            let expected = digest.as_str().unwrap_or_default().to_string();
            let bytes = std::fs::read(dir.join(name))
                .map_err(|_| VerifyError::FileMissing { name: name.clone() })?;
            let found = sha256_hex(&bytes);
            if found != expected {
                return Err(VerifyError::FileChanged {
                    name: name.clone(),
                    found,
                    expected,
                });
            }
            files.push(name.clone());
        }
    }
    Ok(Verified {
        key_id: v["signature"]["keyId"].as_str().unwrap_or("").to_string(),
        files,
    })
}

// ---------------------------------------------------------------------------------------------
// Threshold basis
// ---------------------------------------------------------------------------------------------

/// The evidence a threshold was chosen on, for the station's settings and its signed
/// configuration record ("Apply this threshold" in the QA screen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdBasis {
    pub threshold: f64,
    pub search_mode: Option<SearchMode>,
    /// Dataset name (file or folder) and digest (see the report's `dataset_sha256_of`).
    pub dataset: String,
    pub dataset_sha256: String,
    /// FMR at the threshold with its exact 95 % interval, and the counts behind it.
    pub fmr: f64,
    pub fmr_ci95: [f64; 2],
    pub false_matches: usize,
    pub impostor_pairs: usize,
    pub fnmr: Option<f64>,
    pub fnmr_ci95: Option<[f64; 2]>,
    pub genuine_pairs: usize,
    pub fta: Option<f64>,
    /// The FMR target the threshold was picked for, if one was.
    pub fmr_target: Option<f64>,
    /// Whether the impostor count supports that target (rule of 3).
    pub fmr_target_supported: Option<bool>,
    /// Pairs left out by the exclusions file.
    pub excluded_pairs: usize,
    /// When it was chosen (ISO 8601, UTC).
    pub date: String,
}

impl ThresholdBasis {
    /// One line, in the style of the station's `threshold_basis` strings.
    pub fn summary(&self) -> String {
        let pct = |x: f64| format!("{:.3}%", x * 100.0);
        let mut s = format!(
            "FMR {} (95% CI {}-{}; {} of {} impostor pairs) at {:.4} on {} sha256:{}",
            pct(self.fmr),
            pct(self.fmr_ci95[0]),
            pct(self.fmr_ci95[1]),
            self.false_matches,
            self.impostor_pairs,
            self.threshold,
            self.dataset,
            &self.dataset_sha256[..self.dataset_sha256.len().min(12)],
        );
        if let Some(m) = self.search_mode {
            s.push_str(&format!(" ({})", m.as_str()));
        }
        if let Some(f) = self.fnmr {
            s.push_str(&format!(
                ", FNMR {} of {} genuine",
                pct(f),
                self.genuine_pairs
            ));
        }
        if let (Some(t), Some(false)) = (self.fmr_target, self.fmr_target_supported) {
            s.push_str(&format!(
                "; target FMR {} not supported by this data (rule of 3)",
                stats::fmt_rate(t)
            ));
        }
        if self.excluded_pairs > 0 {
            s.push_str(&format!(", {} pairs excluded", self.excluded_pairs));
        }
        s.push_str(&format!(", {}", self.date));
        s
    }
}

/// The basis of `threshold` on an evaluation; `None` without impostor scores (no FMR to state).
pub fn threshold_basis(
    e: &Evaluation,
    threshold: f64,
    fmr_target: Option<f64>,
    now: OffsetDateTime,
) -> Option<ThresholdBasis> {
    let r = rates_at(&e.set, threshold);
    Some(ThresholdBasis {
        threshold,
        search_mode: e.search_mode,
        dataset: e.dataset.name.clone(),
        dataset_sha256: e.dataset.sha256.clone(),
        fmr: r.fmr?,
        fmr_ci95: r.fmr_ci95?,
        false_matches: r.false_matches,
        impostor_pairs: r.impostor,
        fnmr: r.fnmr,
        fnmr_ci95: r.fnmr_ci95,
        genuine_pairs: r.genuine,
        fta: r.fta,
        fmr_target,
        fmr_target_supported: fmr_target
            .map(|t| e.set.impostor_count() as u64 >= stats::required_impostors(t)),
        excluded_pairs: e.excluded_count(),
        date: crate::qa::iso_millis(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::input::QaPair;

    /// A small labelled evaluation without images.
    pub(crate) fn synthetic(gen: &[f64], imp: &[f64], dir: &Path) -> Evaluation {
        let mut pairs = Vec::new();
        let mut scores = Vec::new();
        for (k, (&s, same)) in gen
            .iter()
            .map(|s| (s, true))
            .chain(imp.iter().map(|s| (s, false)))
            .enumerate()
        {
            pairs.push(QaPair {
                a: format!("a{k}.jpg"),
                b: format!("b{k}.jpg"),
                same: Some(same),
                group: Some(if k % 2 == 0 { "even" } else { "odd" }.into()),
                group_b: None,
                source: String::new(),
                logged_score: None,
            });
            scores.push(PairScore {
                score: Some(s),
                faces_a: 1,
                faces_b: 1,
                fta: None,
            });
        }
        let dataset = Dataset {
            kind: InputKind::PairsCsv,
            path: dir.join("pairs.csv"),
            root: dir.to_path_buf(),
            name: "pairs.csv".into(),
            sha256: "ab".repeat(32),
            sha256_of: "test".into(),
            pairs,
            selection: vec![],
            notes: vec![],
            rejected_lines: vec![],
        };
        let run = ScoredRun {
            scores,
            images: 0,
            elapsed: std::time::Duration::ZERO,
            no_face: vec![],
            unreadable: vec![],
        };
        Evaluation::new(
            dataset,
            Some(SearchMode::Fast),
            vec![],
            run,
            &dir.join("pairs.csv.qa-exclusions.json"),
        )
        .unwrap()
    }

    #[test]
    fn report_signs_verifies_and_detects_tampering() {
        let tmp = tempfile::tempdir().unwrap();
        let gen: Vec<f64> = (0..50).map(|i| 0.5 + i as f64 / 100.0).collect();
        let imp: Vec<f64> = (0..400).map(|i| i as f64 / 800.0).collect();
        let e = synthetic(&gen, &imp, tmp.path());
        let key = StationKey::generate().unwrap();
        let out = tmp.path().join("out");
        let now = OffsetDateTime::UNIX_EPOCH;
        let v = write_outputs(&e, ThresholdRule::AtFmr(0.01), &out, &key, now).unwrap();
        assert_eq!(v["pairs"], 450);
        assert_eq!(v["fnmr_at_fmr"]["0.01"]["supported"], true);
        assert_eq!(v["fnmr_at_fmr"]["0.001"]["supported"], false);
        assert_eq!(v["fnmr_at_fmr"]["0.001"]["fnmr"], Value::Null);
        assert!(v["groups"]["per_group"]["even"].is_object());
        assert!(v["groups"]["fmr_matrix"]["odd|odd"].is_object());
        let ok = verify_report(&out.join("report.json"), None).unwrap();
        assert_eq!(ok.key_id, key.key_id());
        assert!(ok.files.contains(&"scores.csv".to_string()));
        verify_report(&out.join("report.json"), Some(&key.public_key_b64())).unwrap();
        let other = StationKey::generate().unwrap();
        assert!(matches!(
            verify_report(&out.join("report.json"), Some(&other.public_key_b64())),
            Err(VerifyError::Signature(_))
        ));
        // An edited number.
        let text = std::fs::read_to_string(out.join("report.json")).unwrap();
        let edited = text.replacen("\"genuine\": 50", "\"genuine\": 51", 1);
        assert_ne!(edited, text);
        std::fs::write(out.join("report.json"), &edited).unwrap();
        assert!(matches!(
            verify_report(&out.join("report.json"), None),
            Err(VerifyError::Signature(_))
        ));
        // An edited scores.csv under an intact report.
        std::fs::write(out.join("report.json"), &text).unwrap();
        let mut csv = std::fs::read_to_string(out.join("scores.csv")).unwrap();
        csv.push_str("x,y,1,,0.9,1,1,,\n");
        std::fs::write(out.join("scores.csv"), csv).unwrap();
        let err = verify_report(&out.join("report.json"), None).unwrap_err();
        assert!(
            matches!(err, VerifyError::FileChanged { ref name, .. } if name == "scores.csv"),
            "{err}"
        );
    }

    #[test]
    fn exclusions_apply_and_basis() {
        let tmp = tempfile::tempdir().unwrap();
        let mut e = synthetic(&[0.9, 0.8, 0.3], &[0.1, 0.2, 0.7], tmp.path());
        assert_eq!(e.set.impostor_count(), 3);
        e.set_exclusion(
            5,
            Some(Exclusion {
                a: "a5.jpg".into(),
                b: "b5.jpg".into(),
                reason: crate::qa::ExclusionReason::Mislabelled,
                note: "same person".into(),
                at: String::new(),
            }),
        )
        .unwrap();
        assert_eq!(e.set.impostor_count(), 2);
        assert!(e.exclusions_file.exists());
        let v = report_json(&e, ThresholdRule::Given(0.5), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(v["exclusions"]["applied"][0]["reason"], "mislabelled");
        assert_eq!(v["at_threshold"]["false_matches"], 0);
        let b = threshold_basis(&e, 0.5, Some(1e-3), OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            (b.false_matches, b.impostor_pairs, b.excluded_pairs),
            (0, 2, 1)
        );
        assert_eq!(b.fmr_target_supported, Some(false));
        let s = b.summary();
        assert!(
            s.contains("0 of 2 impostor pairs") && s.contains("not supported"),
            "{s}"
        );
        e.set_exclusion(5, None).unwrap();
        assert_eq!(e.set.impostor_count(), 3);
    }
}
