//! The station's state: persisted settings (serde, eframe storage) kept apart from runtime state
//! (worker, camera, textures). Panels draw these types; they change them only through
//! [`Command`]s (and the sliders and text fields that edit [`Settings`] in place).

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::TextureHandle;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::commands::Command;
use super::worker::{Analysis, Badge, CompareDone, CompareError, EngineInfo, SetupProblem};
use crate::api::SearchMode;
use crate::engine::score::{default_threshold, SCORE_SCALE};
use crate::engine::verdict::{Judgement, Reason};
use crate::engine::{EngineError, ImageRole};
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;
use crate::vision::quality::QualityHint;
use crate::vision::Face;

/// Restored from eframe storage at start-up and saved on exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub mode: SearchMode,
    pub compare_threshold: f64,
    pub liveness_threshold: f64,
    pub check_liveness: bool,
    pub last_probe_dir: Option<PathBuf>,
    pub last_gallery_dir: Option<PathBuf>,
    /// Where the last record was saved.
    pub last_save_dir: Option<PathBuf>,
    /// Camera index and requested resolution (webcam only).
    pub camera_index: u32,
    pub camera_resolution: (u32, u32),
    /// Which engine decides.
    pub engine: EngineChoice,
    /// Base URL of the remote Verifik-compatible API. (Its token is never stored: see
    /// `StationApp::remote_token`.)
    pub remote_url: String,
    /// Thresholds applied from the QA workbench, at most one per mode, with their basis.
    pub applied_thresholds: Vec<AppliedThreshold>,
    /// The score scale the thresholds above were chosen on (`engine::score::SCORE_SCALE`);
    /// empty in settings saved before it was stored (hence the field's own default: the
    /// container's would claim the current scale).
    #[serde(default)]
    pub score_scale: String,
}

/// A threshold chosen in the QA workbench for one mode, and what it rests on
/// (`ThresholdBasis::summary`: dataset and digest, FMR and its interval, impostor count, date).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedThreshold {
    pub mode: SearchMode,
    pub threshold: f64,
    pub basis: String,
}

impl Settings {
    pub fn applied(&self, mode: SearchMode) -> Option<&AppliedThreshold> {
        self.applied_thresholds.iter().find(|a| a.mode == mode)
    }

    /// Replaces the applied threshold of `a.mode`.
    pub fn set_applied(&mut self, a: AppliedThreshold) {
        self.applied_thresholds.retain(|x| x.mode != a.mode);
        self.applied_thresholds.push(a);
    }

    /// Settings saved on another score scale keep everything but their thresholds: those go
    /// back to the mode's default (and the workbench's are dropped). Returns what was dropped,
    /// for the operator, or `None` when the scale is the current one.
    pub fn reconcile_score_scale(&mut self) -> Option<String> {
        if self.score_scale == SCORE_SCALE {
            return None;
        }
        let was = self.compare_threshold;
        self.applied_thresholds.clear();
        self.compare_threshold = default_threshold(self.mode);
        self.score_scale = SCORE_SCALE.into();
        Some(format!(
            "Recognition models changed: the saved threshold {was:.4} was on the old score scale; \
             now {:.4}, the {} default",
            self.compare_threshold,
            self.mode.as_str()
        ))
    }

    pub fn clear_applied(&mut self, mode: SearchMode) {
        self.applied_thresholds.retain(|x| x.mode != mode);
    }

    /// The threshold `mode` starts at when chosen: the applied one, else the engine's default.
    pub fn start_threshold(&self, mode: SearchMode) -> f64 {
        self.applied(mode)
            .map_or_else(|| default_threshold(mode), |a| a.threshold)
    }

    /// The applied basis, while the current mode's threshold is still the applied one (a moved
    /// slider is the operator's threshold, not the workbench's).
    pub fn current_basis(&self) -> Option<&str> {
        self.applied(self.mode)
            .filter(|a| a.threshold == self.compare_threshold)
            .map(|a| a.basis.as_str())
    }
}

/// The engine a comparison runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EngineChoice {
    #[default]
    Local,
    Remote,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mode: SearchMode::Fast,
            compare_threshold: default_threshold(SearchMode::Fast),
            liveness_threshold: DEFAULT_LIVENESS_MIN_SCORE,
            check_liveness: true,
            last_probe_dir: None,
            last_gallery_dir: None,
            last_save_dir: None,
            camera_index: 0,
            camera_resolution: (640, 480),
            engine: EngineChoice::Local,
            remote_url: crate::engine::remote::DEFAULT_BASE_URL.into(),
            applied_thresholds: Vec::new(),
            score_scale: SCORE_SCALE.into(),
        }
    }
}

/// Whether the engine is loading, ready or could not start.
pub enum EngineState {
    Loading,
    Ready(Box<EngineInfo>),
    Failed(SetupProblem),
}

/// A gallery image: its bytes (sent to the engine as they are), and the worker's analysis.
pub struct GalleryItem {
    pub id: u64,
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    pub analysis: Option<Result<GalleryView, String>>,
}

pub struct GalleryView {
    pub badge: Badge,
    pub faces: Vec<Face>,
    pub texture: TextureHandle,
    pub scale: f32,
}

impl GalleryItem {
    /// Decoded fine (a gallery image with no face is still compared: the engine reports it).
    pub fn is_usable(&self) -> bool {
        matches!(self.analysis, Some(Ok(_)))
    }

    pub fn badge(&self) -> Option<Badge> {
        match &self.analysis {
            None => None,
            Some(Ok(v)) => Some(v.badge),
            Some(Err(_)) => Some(Badge::Unreadable),
        }
    }
}

/// Where the probe came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOrigin {
    Camera { seq: u64 },
    File(PathBuf),
}

/// The frozen probe.
pub struct Probe {
    pub id: u64,
    pub origin: ProbeOrigin,
    /// File bytes; `None` for a camera frame (encoded to PNG when compared).
    pub bytes: Option<Arc<Vec<u8>>>,
    pub image: Option<Arc<RgbImage>>,
    /// `None` while the worker analyses it.
    pub analysis: Option<Result<ProbeView, String>>,
}

pub struct ProbeView {
    pub badge: Badge,
    pub faces: Vec<Face>,
    pub hints: Vec<QualityHint>,
    pub texture: TextureHandle,
    pub scale: f32,
}

impl ProbeView {
    pub fn from_analysis(a: &Analysis, texture: TextureHandle) -> Self {
        Self {
            badge: a.badge,
            faces: a.faces.clone(),
            hints: a.hints.clone(),
            texture,
            scale: a.display_scale,
        }
    }
}

/// The last comparison, as shown.
pub enum LastResult {
    Done {
        done: Box<CompareDone>,
        /// Gallery item ids in request order (the outcome's gallery indexes point here).
        gallery_ids: Vec<u64>,
        /// Their file names, kept with the result (the gallery may change afterwards).
        gallery_names: Vec<String>,
        /// Click to result as the UI saw it.
        shown_after_ms: f64,
    },
    Failed(String, Option<EngineErrorKind>),
}

/// A cross-check: each side is `None` while it runs.
#[derive(Default)]
pub struct CrossCheck {
    pub gallery_ids: Vec<u64>,
    pub gallery_names: Vec<String>,
    pub local: Option<Result<Box<CompareDone>, String>>,
    pub remote: Option<Result<Box<CompareDone>, String>>,
}

impl CrossCheck {
    pub fn running(&self) -> bool {
        self.local.is_none() || self.remote.is_none()
    }

    /// Both sides answered and their verdicts differ (each judged with the mode's review band).
    pub fn disagree(&self) -> bool {
        match (&self.local, &self.remote) {
            (Some(Ok(l)), Some(Ok(r))) => l.judgement.verdict != r.judgement.verdict,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineErrorKind {
    ProbeNoFace,
    ProbeSeveralFaces,
    Other,
}

impl EngineErrorKind {
    pub fn of(e: &CompareError) -> Self {
        match e {
            CompareError::Engine(EngineError::NoFace(ImageRole::Probe)) => {
                EngineErrorKind::ProbeNoFace
            }
            CompareError::Engine(EngineError::SeveralFaces {
                role: ImageRole::Probe,
                ..
            }) => EngineErrorKind::ProbeSeveralFaces,
            _ => EngineErrorKind::Other,
        }
    }

    /// A probe the face rule refused is NOT VERIFIED, with that reason; other failures have no
    /// verdict (the comparison did not happen).
    pub fn judgement(&self) -> Option<Judgement> {
        match self {
            EngineErrorKind::ProbeNoFace => Some(Judgement::refused_probe(Reason::NoFaceProbe)),
            EngineErrorKind::ProbeSeveralFaces => {
                Some(Judgement::refused_probe(Reason::SeveralFacesProbe))
            }
            EngineErrorKind::Other => None,
        }
    }
}

/// A record opened in the record panel (the last decision's, or one from the log).
pub struct ShownRecord {
    pub record: Value,
    pub pretty: String,
    pub signature: Result<(), String>,
    pub from_log: bool,
}

impl ShownRecord {
    pub fn new(record: Value, from_log: bool) -> Self {
        let pretty = serde_json::to_string_pretty(&record).unwrap_or_default();
        let signature = crate::record::verify_record(&record).map_err(|e| e.to_string());
        Self {
            record,
            pretty,
            signature,
            from_log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_saved_on_the_old_score_scale_go_back_to_the_default() {
        // Settings as the first release saved them: FAST 0.62 on the dlib distance map, no scale.
        let saved = r#"{"mode":"FAST","compare_threshold":0.62,"remote_url":"http://x"}"#;
        let mut s: Settings = serde_json::from_str(saved).expect("old settings parse");
        assert_eq!(s.score_scale, "");
        let why = s.reconcile_score_scale().expect("reset");
        assert_eq!(s.compare_threshold, default_threshold(SearchMode::Fast));
        assert!(why.contains("0.6200") && why.contains("0.9930"), "{why}");
        // What else was saved stays.
        assert_eq!(s.remote_url, "http://x");
        // On the current scale nothing changes, an operator's threshold included.
        s.compare_threshold = 0.995;
        assert_eq!(s.reconcile_score_scale(), None);
        assert_eq!(s.compare_threshold, 0.995);
    }
}
