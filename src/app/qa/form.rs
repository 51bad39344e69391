//! The input row (input, root, impostors, exclusions, mode, cache) and the job progress line.

use super::*;
use std::path::PathBuf;

use crate::api::SearchMode;
use crate::qa::input::ImpostorChoice;

/// The form of the input row.
#[derive(Debug, Clone)]
pub struct Form {
    pub kind: SourceKind,
    pub input: String,
    pub root: String,
    pub source_prefix: String,
    pub group_column: String,
    pub impostor_sample: String,
    pub seed: String,
    /// Exclusions file (empty: `<input>.qa-exclusions.json` beside the input).
    pub exclusions: String,
    pub mode: SearchMode,
    pub compare: bool,
    pub threads: usize,
    /// Descriptor cache folder (`None`: compute every descriptor); shared with `eval` and `qa`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for Form {
    fn default() -> Self {
        Self {
            kind: SourceKind::PairsCsv,
            input: String::new(),
            root: String::new(),
            source_prefix: String::new(),
            group_column: String::new(),
            impostor_sample: String::new(),
            seed: "0".into(),
            exclusions: String::new(),
            mode: SearchMode::Fast,
            compare: false,
            threads: 1,
            cache_dir: crate::eval::cache::default_dir(),
        }
    }
}

impl Form {
    pub(super) fn request(&self) -> Result<ScoreRequest, String> {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let input = opt(&self.input).ok_or("choose an input first")?;
        let impostors = match opt(&self.impostor_sample) {
            Some(n) => ImpostorChoice::Sample {
                n: n.parse()
                    .map_err(|_| format!("impostor sample `{n}` is not a count"))?,
                seed: self
                    .seed
                    .trim()
                    .parse()
                    .map_err(|_| format!("seed `{}` is not a number", self.seed))?,
            },
            None => ImpostorChoice::All,
        };
        Ok(ScoreRequest {
            kind: self.kind,
            input: PathBuf::from(input),
            root: opt(&self.root).map(PathBuf::from),
            source_prefix: opt(&self.source_prefix),
            group_column: opt(&self.group_column),
            impostors,
            exclusions: opt(&self.exclusions).map(PathBuf::from),
            mode: self.mode,
            compare: self.compare && self.kind != SourceKind::AuditLog,
            threads: self.threads,
            cache_dir: self.cache_dir.clone(),
        })
    }
}

impl QaScreen {
    pub(super) fn input_ui(&mut self, ui: &mut egui::Ui) {
        let busy = self.job.is_some();
        ui.add_enabled_ui(!busy, |ui| {
            ui.horizontal(|ui| {
                for k in [SourceKind::PairsCsv, SourceKind::Folder, SourceKind::AuditLog] {
                    ui.radio_value(&mut self.form.kind, k, k.label());
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("Input");
                ui.add(egui::TextEdit::singleline(&mut self.form.input).desired_width(420.0))
                    .labelled_by(l.id);
                if ui.button("Browse…").clicked() {
                    let picked = match self.form.kind {
                        SourceKind::Folder => rfd::FileDialog::new().pick_folder(),
                        _ => rfd::FileDialog::new().pick_file(),
                    };
                    if let Some(p) = picked {
                        self.form.input = p.display().to_string();
                    }
                }
            });
            ui.horizontal(|ui| match self.form.kind {
                SourceKind::PairsCsv => {
                    let l = ui.label("Root");
                    ui.add(egui::TextEdit::singleline(&mut self.form.root).desired_width(220.0))
                        .labelled_by(l.id)
                        .on_hover_text("folder the CSV's paths are relative to (default: the CSV's folder)");
                    let l = ui.label("Source starts with");
                    ui.add(egui::TextEdit::singleline(&mut self.form.source_prefix).desired_width(90.0))
                        .labelled_by(l.id);
                    let l = ui.label("Group column");
                    ui.add(egui::TextEdit::singleline(&mut self.form.group_column).desired_width(70.0))
                        .labelled_by(l.id)
                        .on_hover_text("default: `group`");
                }
                SourceKind::Folder => {
                    let l = ui.label("Impostor sample");
                    ui.add(egui::TextEdit::singleline(&mut self.form.impostor_sample).desired_width(80.0))
                        .labelled_by(l.id)
                        .on_hover_text("empty: every impostor pair");
                    let l = ui.label("Seed");
                    ui.add(egui::TextEdit::singleline(&mut self.form.seed).desired_width(60.0))
                        .labelled_by(l.id);
                }
                SourceKind::AuditLog => {
                    ui.label(
                        RichText::new("production scores carry no labels: distribution and share accepted only")
                            .color(GREY),
                    );
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("Exclusions file");
                ui.add(egui::TextEdit::singleline(&mut self.form.exclusions).desired_width(420.0))
                    .labelled_by(l.id)
                    .on_hover_text(
                        "where marks are read and written (empty: <input>.qa-exclusions.json beside the input; \
                         give another path when the input's folder is read-only)",
                    );
            });
            ui.horizontal(|ui| {
                if self.form.kind != SourceKind::AuditLog {
                    ui.radio_value(&mut self.form.mode, SearchMode::Fast, "FAST");
                    ui.radio_value(&mut self.form.mode, SearchMode::Accurate, "ACCURATE");
                    ui.checkbox(&mut self.form.compare, "Compare FAST and ACCURATE");
                }
                if ui.button("Score").clicked() {
                    self.start(ui.ctx());
                }
            });
        });
    }

    pub(super) fn job_ui(&mut self, ui: &mut egui::Ui) {
        let Some(job) = &self.job else { return };
        let mut cancel = false;
        ui.horizontal(|ui| {
            let (fraction, text) = match &job.progress {
                Some(p) => (p.fraction(), format!("{}: {p}", job.stage)),
                None => (0.0, format!("{}…", job.stage)),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .text(text)
                    .desired_width(560.0)
                    .animate(true),
            );
            let label = if job.cancelling() {
                "Cancelling…"
            } else {
                "Cancel"
            };
            cancel = ui.button(label).clicked();
        });
        if cancel {
            self.cancel();
        }
    }
}
