//! The QA screen's background scoring: one thread per run loads the input, the engine and scores
//! (one or two search modes), sending stages and progress over a channel and waking the UI; the
//! UI thread only drains the channel. A shared flag cancels the run before the next image.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use crate::api::SearchMode;
use crate::engine::PipelineConfig;
use crate::paths::StationPaths;
use crate::qa::input::{self, ImpostorChoice};
use crate::qa::scoring::{score_pairs, Progress};
use crate::qa::Evaluation;

/// Which kind of input the screen scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    PairsCsv,
    Folder,
    AuditLog,
}

impl SourceKind {
    pub fn label(&self) -> &'static str {
        match self {
            SourceKind::PairsCsv => "Pairs CSV",
            SourceKind::Folder => "Folder of identities",
            SourceKind::AuditLog => "Station audit log",
        }
    }
}

/// What to score.
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    pub kind: SourceKind,
    pub input: PathBuf,
    pub root: Option<PathBuf>,
    pub source_prefix: Option<String>,
    pub group_column: Option<String>,
    pub impostors: ImpostorChoice,
    pub exclusions: Option<PathBuf>,
    pub mode: SearchMode,
    /// Also score in the other mode, for the comparison.
    pub compare: bool,
    pub threads: usize,
    /// Descriptor cache folder; `None`: compute everything.
    pub cache_dir: Option<PathBuf>,
}

pub type Scored = (Evaluation, Option<Evaluation>);

pub enum Msg {
    Stage(String),
    Progress(Progress),
    Done(Box<Result<Scored, String>>),
}

/// A running job as the UI sees it.
pub struct Job {
    rx: Receiver<Msg>,
    cancel: Arc<AtomicBool>,
    pub stage: String,
    pub progress: Option<Progress>,
    pub started: Instant,
}

impl Job {
    pub fn spawn(paths: StationPaths, req: ScoreRequest, ctx: egui::Context) -> Self {
        let (tx, rx) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("qa-scoring".into())
            .spawn(move || {
                let r = run(&paths, &req, &flag, &tx, &ctx);
                let _ = tx.send(Msg::Done(Box::new(r)));
                ctx.request_repaint();
            });
        let (stage, rx) = match spawned {
            Ok(_) => ("starting".to_string(), rx),
            Err(e) => {
                let (tx, rx) = channel();
                let _ = tx.send(Msg::Done(Box::new(Err(format!(
                    "could not start a thread: {e}"
                )))));
                ("failed".into(), rx)
            }
        };
        Self {
            rx,
            cancel,
            stage,
            progress: None,
            started: Instant::now(),
        }
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Drains the channel; the result when the job has ended.
    pub fn poll(&mut self) -> Option<Result<Scored, String>> {
        loop {
            match self.rx.try_recv() {
                Ok(Msg::Stage(s)) => {
                    self.stage = s;
                    self.progress = None;
                }
                Ok(Msg::Progress(p)) => self.progress = Some(p),
                Ok(Msg::Done(r)) => return Some(*r),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    return Some(Err("the scoring thread ended without an answer".into()))
                }
            }
        }
    }
}

/// A screen that goes away stops its job (before the next image).
impl Drop for Job {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn run(
    paths: &StationPaths,
    req: &ScoreRequest,
    cancel: &AtomicBool,
    tx: &Sender<Msg>,
    ctx: &egui::Context,
) -> Result<Scored, String> {
    let stage = |s: String| {
        let _ = tx.send(Msg::Stage(s));
        ctx.request_repaint();
    };
    stage(format!("reading {}", req.input.display()));
    let dataset = match req.kind {
        SourceKind::PairsCsv => input::load_pairs_csv(
            &req.input,
            req.root.as_deref(),
            req.group_column.as_deref(),
            req.source_prefix.as_deref(),
        ),
        SourceKind::Folder => input::load_folder(&req.input, req.impostors),
        SourceKind::AuditLog => input::load_audit_log(&req.input),
    }
    .map_err(|e| e.to_string())?;
    let exclusions = req
        .exclusions
        .clone()
        .unwrap_or_else(|| input::exclusions_path(&req.input));
    if req.kind == SourceKind::AuditLog {
        return Evaluation::from_audit_log(dataset, &exclusions)
            .map(|e| (e, None))
            .map_err(|e| e.to_string());
    }
    if dataset.pairs.is_empty() {
        return Err("no pairs to evaluate".into());
    }
    stage("loading the models".into());
    let config = PipelineConfig {
        embed_threads: req.threads.max(1),
        pipelines: 1,
        ..PipelineConfig::default()
    };
    let mut verifier = crate::station::local_verifier(paths, config).map_err(|e| e.to_string())?;
    let pipeline = &mut verifier.pipeline;
    let models = pipeline.models().to_vec();
    let other = match req.mode {
        SearchMode::Fast => SearchMode::Accurate,
        SearchMode::Accurate => SearchMode::Fast,
    };
    let modes: Vec<SearchMode> = if req.compare {
        vec![req.mode, other]
    } else {
        vec![req.mode]
    };
    // A re-run, or the other mode on the same images, reads the descriptors computed before.
    let cache_dir = req.cache_dir.clone();
    let mut out = Vec::new();
    for mode in modes {
        stage(format!(
            "scoring {} in {} mode",
            dataset.name,
            mode.as_str()
        ));
        let mut last = Instant::now() - Duration::from_secs(1);
        let run = score_pairs(
            pipeline,
            &dataset.pairs,
            &dataset.root,
            mode,
            cache_dir.as_deref(),
            cancel,
            |p| {
                if last.elapsed() >= Duration::from_millis(100) || p.done == p.total {
                    last = Instant::now();
                    let _ = tx.send(Msg::Progress(*p));
                    ctx.request_repaint();
                }
            },
        )
        .map_err(|_| "cancelled".to_string())?;
        out.push(
            Evaluation::new(
                dataset.clone(),
                Some(mode),
                models.clone(),
                run,
                &exclusions,
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let mut it = out.into_iter();
    let first = it.next().ok_or("nothing scored")?;
    Ok((first, it.next()))
}
