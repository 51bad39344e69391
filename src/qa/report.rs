//! One evaluation (a dataset, its scores, the exclusions applied) and what is written from it:
//! report.json signed by the station key, scores.csv, near_threshold.csv and the plots; the
//! check of a report (`facestation qa verify`); and the [`ThresholdBasis`] a chosen threshold
//! carries into the station's configuration.

mod basis;
mod outputs;
mod verify;

pub use basis::{threshold_basis, ThresholdBasis};
pub use outputs::{
    fmr_key, report_json, write_near_threshold_csv, write_outputs, write_scores_csv, AtThreshold,
};
pub use verify::{verify_report, Verified, VerifyError};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::exclusions::{Exclusion, ExclusionFile};
use super::input::{Dataset, InputKind};
use super::scoring::{PairScore, ScoredRun};
use super::stats::{self, fnmr_at_fmr, rates_at, Labelled, Rates, ScoreSet};
use super::QaError;
use crate::api::SearchMode;
use crate::digest::sha256_hex;
use crate::engine::ModelRef;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::input::QaPair;
    use time::OffsetDateTime;

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
