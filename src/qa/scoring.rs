//! Scoring a dataset with the production engine (`eval::runner::run_plan`: each distinct image
//! decoded, detected, aligned and embedded once, pairs scored from the descriptors), reporting
//! progress with rate and ETA, and stoppable from another thread. Descriptors go through the
//! descriptor cache (`eval::cache`, keyed by image sha256, model sha256 and views), so a re-run
//! of the same images, or the other mode on them, reads instead of computing.
//!
//! `run_plan` has no way to stop early; it calls its progress callback before each image. To
//! cancel, the callback here unwinds with [`std::panic::resume_unwind`] (which runs no panic hook
//! and prints nothing) and [`score_pairs`] catches exactly that payload. The pipeline is between
//! two images at that point, so it stays usable; the cache's writer flushes on the unwind, so the
//! descriptors computed before the cancel are kept. A `should_stop` in `run_plan` would replace this.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::input::QaPair;
use crate::api::SearchMode;
use crate::engine::Pipeline;
use crate::eval::runner::{run_plan, score_pairs as score_plan, PairRun};
use crate::eval::PairRow;

/// Where a scoring run is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Images processed so far, of `total` distinct images.
    pub done: usize,
    pub total: usize,
    pub elapsed: Duration,
    /// Images per second so far (0 before the first).
    pub rate: f64,
    pub eta: Option<Duration>,
}

impl Progress {
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f32 / self.total as f32
        }
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} images, {:.1} images/s, elapsed {}",
            self.done,
            self.total,
            self.rate,
            fmt_duration(self.elapsed)
        )?;
        if let Some(eta) = self.eta {
            write!(f, ", ETA {}", fmt_duration(eta))?;
        }
        Ok(())
    }
}

/// The run was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// What scoring gave for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    pub score: Option<f64>,
    pub faces_a: usize,
    pub faces_b: usize,
    /// Why there is no score (failure to acquire), naming the image.
    pub fta: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScoredRun {
    /// In the order of the pairs given.
    pub scores: Vec<PairScore>,
    pub images: usize,
    pub elapsed: Duration,
    /// Images with no usable face, and images that could not be read or decoded (with why).
    pub no_face: Vec<String>,
    pub unreadable: Vec<String>,
}

impl ScoredRun {
    pub fn images_per_second(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.images as f64 / s
        } else {
            0.0
        }
    }
}

/// Scores `pairs` (image paths relative to `root`) with `pipeline` in `mode`, reading and filling
/// the descriptor cache in `cache_dir` (`None`: compute everything). `progress` is called before
/// each image and once at the end; setting `cancel` stops the run before the next image.
pub fn score_pairs(
    pipeline: &mut Pipeline,
    pairs: &[QaPair],
    root: &Path,
    mode: SearchMode,
    cache_dir: Option<&Path>,
    cancel: &AtomicBool,
    mut progress: impl FnMut(&Progress),
) -> Result<ScoredRun, Cancelled> {
    struct Stop;
    let rows: Vec<PairRow> = pairs
        .iter()
        .map(|p| PairRow {
            a: p.a.clone(),
            b: p.b.clone(),
            // The runner needs a label; unlabelled pairs are never scored through here.
            same: p.same.unwrap_or(false),
            source: p.source.clone(),
        })
        .collect();
    let start = Instant::now();
    let at = |done: usize, total: usize| {
        let elapsed = start.elapsed();
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 && done > 0 {
            done as f64 / secs
        } else {
            0.0
        };
        Progress {
            done,
            total,
            elapsed,
            rate,
            eta: (rate > 0.0).then(|| Duration::from_secs_f64((total - done) as f64 / rate)),
        }
    };
    let plan = pipeline.plan(mode).clone();
    let mut attempt = |pipeline: &mut Pipeline, cache: Option<&Path>| {
        catch_unwind(AssertUnwindSafe(|| {
            run_plan(pipeline, &rows, root, &plan, cache, |done, total| {
                if cancel.load(Ordering::Relaxed) {
                    resume_unwind(Box::new(Stop));
                }
                progress(&at(done, total));
            })
        }))
    };
    let images = match attempt(pipeline, cache_dir) {
        Ok(Ok(run)) => run,
        // The cache is only a shortcut: a folder that cannot be read or written (read-only home,
        // full disk) means computing everything, not failing the run.
        Ok(Err(e)) if cache_dir.is_some() => {
            tracing::warn!("descriptor cache not used: {e}");
            match attempt(pipeline, None) {
                Ok(Ok(run)) => run,
                Ok(Err(e)) => unreachable!("no cache, no run error: {e}"),
                Err(payload) if payload.is::<Stop>() => return Err(Cancelled),
                Err(payload) => resume_unwind(payload),
            }
        }
        Ok(Err(e)) => unreachable!("no cache, no run error: {e}"),
        Err(payload) if payload.is::<Stop>() => return Err(Cancelled),
        Err(payload) => resume_unwind(payload),
    };
    // A mode's recognisers are always loaded, so its plan's stages are all in the run.
    let scored = score_plan(&images, &rows, &plan).unwrap_or_default();
    let run = PairRun {
        images: images.images,
        pairs: scored,
    };
    let images = run.images.len();
    progress(&at(images, images));
    let mut no_face = Vec::new();
    let mut unreadable = Vec::new();
    for (path, o) in &run.images {
        if let Some(e) = &o.error {
            unreadable.push(format!("{path}: {e}"));
        } else if !o.has_face() {
            no_face.push(path.clone());
        }
    }
    let why = |path: &str| -> Option<String> {
        let o = run.images.get(path)?;
        if let Some(e) = &o.error {
            Some(format!("{path}: {e}"))
        } else if !o.has_face() {
            Some(if o.faces == 0 {
                format!("{path}: no face found")
            } else {
                format!("{path}: no usable face ({} found)", o.faces)
            })
        } else {
            None
        }
    };
    let scores = run
        .pairs
        .iter()
        .zip(pairs)
        .map(|(d, p)| PairScore {
            score: d.pair.score.filter(|s| s.is_finite()),
            faces_a: d.faces_a,
            faces_b: d.faces_b,
            fta: if d.pair.score.is_some() {
                None
            } else {
                let reasons: Vec<String> = [why(&p.a), why(&p.b)].into_iter().flatten().collect();
                Some(if reasons.is_empty() {
                    "no score".into()
                } else {
                    reasons.join("; ")
                })
            },
        })
        .collect();
    Ok(ScoredRun {
        scores,
        images,
        elapsed: start.elapsed(),
        no_face,
        unreadable,
    })
}

/// A throttled progress printer for the command line: at most one line every `every`, and the
/// last one.
pub fn stderr_progress(prefix: &'static str, every: Duration) -> impl FnMut(&Progress) {
    let mut last: Option<Instant> = None;
    move |p: &Progress| {
        let due = last.is_none_or(|t| t.elapsed() >= every) || p.done == p.total;
        if due && p.done > 0 {
            eprintln!("{prefix}: {p}");
            last = Some(Instant::now());
        }
    }
}
