//! ONNX Runtime start-up (load-dynamic), the models folder, its manifest and checksums.
//!
//! The ONNX Runtime shared library is not linked: it is loaded at start-up from
//! `ORT_DYLIB_PATH` or from the project's cache (`.cache/ort/`, filled by `scripts/setup.sh`).
//! The models are not committed: `models/manifest.toml` (compiled in) names each file and its
//! sha256, and every file is verified before a session is created from it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The ONNX Runtime version the project is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";
const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// The manifest is compiled in so that the binary knows which bytes it trusts wherever it runs.
pub const MANIFEST_TOML: &str = include_str!("../models/manifest.toml");

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime {ORT_VERSION} library not found (looked in: {searched}). Run `scripts/setup.sh` \
         (it downloads the onnxruntime=={ORT_VERSION} wheel from PyPI and extracts the library into .cache/ort/), \
         or set ORT_DYLIB_PATH to a libonnxruntime.so"
    )]
    OrtLibraryMissing { searched: String },
    #[error("could not load ONNX Runtime from {path}: {reason}")]
    OrtLoad { path: PathBuf, reason: String },
    #[error("models folder not found (looked in: {searched}); pass --models DIR or set FACESTATION_MODELS")]
    ModelsFolderMissing { searched: String },
    #[error("models folder {dir}: {problems}")]
    ModelFiles { dir: PathBuf, problems: String },
    #[error("model manifest is invalid: {0}")]
    Manifest(String),
    #[error("model manifest has no model with role `{0}`")]
    RoleMissing(String),
    #[error("could not create an ONNX Runtime session for {file}: {reason}")]
    Session { file: String, reason: String },
}

/// One entry of `models/manifest.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub role: String,
    pub file: String,
    pub sha256: String,
    pub licence: String,
    pub source: String,
    pub input: String,
    /// The input spec of a model with role `recogniser`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recogniser: Option<RecogniserSpec>,
}

/// The role every face recogniser has in the manifest.
pub const RECOGNISER_ROLE: &str = "recogniser";

/// Channel order of a chip as the network takes it (planar, raw 0..255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How two descriptors of one recogniser are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Euclidean distance: lower = more alike (dlib).
    Euclidean,
    /// Cosine similarity of L2-normalised vectors: higher = more alike.
    Cosine,
}

/// What is done to the network's output before it is compared or averaged over views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalise {
    /// Raw output; views averaged element-wise.
    None,
    /// Each view L2-normalised, averaged, normalised again.
    L2,
}

/// A recogniser's input and output, from its `[model.recogniser]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecogniserSpec {
    /// A short name for command lines (`eval --candidates reid+flip`).
    pub alias: String,
    /// Side of the square chip, pixels.
    pub size: usize,
    pub channels: ChannelOrder,
    pub input_name: String,
    pub output_name: String,
    /// Descriptor length.
    pub dim: usize,
    pub metric: Metric,
    pub normalise: Normalise,
    /// Where the five landmarks go in the chip (chip pixels).
    pub template: [[f32; 2]; 5],
}

impl RecogniserSpec {
    fn check(&self, id: &str) -> Result<(), String> {
        let inside = |p: &[f32; 2]| {
            p.iter()
                .all(|v| v.is_finite() && *v >= 0.0 && *v < self.size as f32)
        };
        if !(16..=1024).contains(&self.size) {
            return Err(format!("{id}: chip size {} out of range", self.size));
        }
        if self.dim == 0 {
            return Err(format!("{id}: descriptor length 0"));
        }
        if !self.template.iter().all(inside) {
            return Err(format!("{id}: template point outside the chip"));
        }
        if self.metric == Metric::Cosine && self.normalise != Normalise::L2 {
            return Err(format!("{id}: cosine needs normalise = \"l2\""));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct Manifest {
    model: Vec<ModelEntry>,
}

/// A models folder whose files all matched the manifest's checksums.
#[derive(Debug, Clone)]
pub struct VerifiedModels {
    pub dir: PathBuf,
    pub entries: Vec<ModelEntry>,
}

impl VerifiedModels {
    /// Finds the models folder (explicit, then `FACESTATION_MODELS`, then the defaults) and verifies it.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, RuntimeError> {
        let dir = models_dir(explicit)?;
        Self::verify(&dir)
    }

    /// Checks every manifest file in `dir`; all problems are reported together, by file name.
    pub fn verify(dir: &Path) -> Result<Self, RuntimeError> {
        let entries = manifest_entries()?;
        let mut problems = Vec::new();
        for e in &entries {
            let path = dir.join(&e.file);
            match sha256_file(&path) {
                Ok(digest) if digest.eq_ignore_ascii_case(&e.sha256) => {}
                Ok(digest) => problems.push(format!(
                    "{} has sha256 {digest}, expected {} (wrong or corrupted file)",
                    e.file, e.sha256
                )),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    problems.push(format!("{} is missing", e.file))
                }
                Err(err) => problems.push(format!("{} cannot be read: {err}", e.file)),
            }
        }
        if problems.is_empty() {
            Ok(Self {
                dir: dir.to_path_buf(),
                entries,
            })
        } else {
            Err(RuntimeError::ModelFiles {
                dir: dir.to_path_buf(),
                problems: problems.join("; "),
            })
        }
    }

    /// The model with this role (the first, for a role several models share).
    pub fn entry(&self, role: &str) -> Result<&ModelEntry, RuntimeError> {
        self.entries
            .iter()
            .find(|e| e.role == role)
            .ok_or_else(|| RuntimeError::RoleMissing(role.to_string()))
    }

    /// The recogniser with this id or alias.
    pub fn recogniser(&self, name: &str) -> Result<&ModelEntry, RuntimeError> {
        self.entries
            .iter()
            .find(|e| {
                e.role == RECOGNISER_ROLE
                    && (e.id == name || e.recogniser.as_ref().is_some_and(|r| r.alias == name))
            })
            .ok_or_else(|| RuntimeError::RoleMissing(format!("{RECOGNISER_ROLE} {name}")))
    }

    /// Creates a CPU session for the model with this role.
    pub fn session(&self, role: &str, intra_threads: usize) -> Result<Session, RuntimeError> {
        self.session_for(self.entry(role)?, intra_threads)
    }

    /// Creates a CPU session for one manifest entry.
    pub fn session_for(
        &self,
        entry: &ModelEntry,
        intra_threads: usize,
    ) -> Result<Session, RuntimeError> {
        let env = ort_environment()?;
        let path = self.dir.join(&entry.file);
        let fail = |reason: String| RuntimeError::Session {
            file: entry.file.clone(),
            reason,
        };
        let builder = Session::builder(env).map_err(|e| fail(e.to_string()))?;
        let builder = builder
            .with_intra_threads(intra_threads)
            .map_err(|e| fail(e.to_string()))?;
        // Spinning threads steal the other core on a 2-core machine (measured in MODELS.md).
        let mut builder = builder
            .with_intra_op_spinning(false)
            .map_err(|e| fail(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| fail(e.to_string()))?;
        // Developer's knobs for profiling experiments (never set in production):
        // FACESTATION_ORT_DISABLE="id=Opt1;Opt2" disables graph optimisers for one model.
        if let Ok(spec) = std::env::var("FACESTATION_ORT_DISABLE") {
            for part in spec.split(',') {
                if let Some((id, opts)) = part.split_once('=') {
                    if id == entry.id {
                        builder = builder
                            .with_disabled_optimizers(opts)
                            .map_err(|e| fail(e.to_string()))?;
                    }
                }
            }
        }
        // A developer's knob: ONNX Runtime's own per-operator profiler, one trace per session,
        // written when the session is dropped (`FACESTATION_ORT_PROFILE=DIR`).
        if let Some(dir) = std::env::var_os("FACESTATION_ORT_PROFILE") {
            let prefix = PathBuf::from(dir).join(&entry.id);
            builder = builder
                .with_profiling(prefix)
                .map_err(|e| fail(e.to_string()))?;
        }
        // The session is built from the very bytes whose hash is checked here, so a file swapped
        // after `verify` cannot slip in.
        let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
        let digest = crate::digest::sha256_hex(&bytes);
        if !digest.eq_ignore_ascii_case(&entry.sha256) {
            return Err(RuntimeError::ModelFiles {
                dir: self.dir.clone(),
                problems: format!(
                    "{} has sha256 {digest}, expected {} (changed after it was verified)",
                    entry.file, entry.sha256
                ),
            });
        }
        builder
            .commit_from_memory(&bytes)
            .map_err(|e| fail(e.to_string()))
    }
}

/// The entries of the compiled-in manifest.
pub fn manifest_entries() -> Result<Vec<ModelEntry>, RuntimeError> {
    parse_manifest(MANIFEST_TOML)
}

/// Parses and checks a manifest: unique ids and aliases, a spec for every recogniser and only there.
pub fn parse_manifest(text: &str) -> Result<Vec<ModelEntry>, RuntimeError> {
    let m: Manifest = toml::from_str(text).map_err(|e| RuntimeError::Manifest(e.to_string()))?;
    let mut names = std::collections::BTreeSet::new();
    for e in &m.model {
        if !names.insert(e.id.clone()) {
            return Err(RuntimeError::Manifest(format!("model id {} twice", e.id)));
        }
        if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RuntimeError::Manifest(format!(
                "{}: sha256 must be 64 hex digits",
                e.id
            )));
        }
        match (&e.recogniser, e.role == RECOGNISER_ROLE) {
            (Some(spec), true) => {
                spec.check(&e.id).map_err(RuntimeError::Manifest)?;
                if !names.insert(spec.alias.clone()) {
                    return Err(RuntimeError::Manifest(format!(
                        "{}: alias {} is taken",
                        e.id, spec.alias
                    )));
                }
            }
            (None, true) => {
                return Err(RuntimeError::Manifest(format!(
                    "{}: a recogniser needs a [model.recogniser] table",
                    e.id
                )))
            }
            (Some(_), false) => {
                return Err(RuntimeError::Manifest(format!(
                    "{}: only a recogniser has a [model.recogniser] table",
                    e.id
                )))
            }
            (None, false) => {}
        }
    }
    Ok(m.model)
}

/// `--models DIR`, then `FACESTATION_MODELS`, then `./models` if it holds the weights, then
/// `../shared/models` (this repository's development layout) from the working directory and from
/// the source checkout the binary was built in.
pub fn models_dir(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("FACESTATION_MODELS") {
        return Ok(PathBuf::from(dir));
    }
    let entries = manifest_entries()?;
    let first = entries
        .first()
        .map(|e| e.file.clone())
        .ok_or_else(|| RuntimeError::Manifest("no models listed".into()))?;
    let candidates = [
        PathBuf::from("models"),
        PathBuf::from("../shared/models"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models"),
    ];
    for c in &candidates {
        if c.join(&first).is_file() {
            return Ok(c.clone());
        }
    }
    Err(RuntimeError::ModelsFolderMissing {
        searched: join_paths(&candidates),
    })
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Where the ONNX Runtime library is looked for, in order.
pub fn ort_library_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        c.push(PathBuf::from(p));
        return c;
    }
    c.push(PathBuf::from(".cache/ort").join(ORT_LIB_NAME));
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/facestation -> repository root
        if let Some(root) = exe.parent().and_then(Path::parent).and_then(Path::parent) {
            c.push(root.join(".cache/ort").join(ORT_LIB_NAME));
        }
        if let Some(dir) = exe.parent() {
            c.push(dir.join(ORT_LIB_NAME));
        }
    }
    c.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".cache/ort")
            .join(ORT_LIB_NAME),
    );
    c
}

/// Why ONNX Runtime could not start, kept typed (not as a string) so that a path holding `:`
/// is reported as it is.
#[derive(Debug, Clone)]
enum OrtInitFailure {
    Missing { searched: String },
    Load { path: PathBuf, reason: String },
}

impl From<&OrtInitFailure> for RuntimeError {
    fn from(f: &OrtInitFailure) -> Self {
        match f {
            OrtInitFailure::Missing { searched } => RuntimeError::OrtLibraryMissing {
                searched: searched.clone(),
            },
            OrtInitFailure::Load { path, reason } => RuntimeError::OrtLoad {
                path: path.clone(),
                reason: reason.clone(),
            },
        }
    }
}

static ENVIRONMENT: OnceLock<Result<(Environment, PathBuf), OrtInitFailure>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment.
pub fn ort_environment() -> Result<&'static Environment, RuntimeError> {
    ort_init().map(|(env, _)| env)
}

/// The library file ONNX Runtime was loaded from.
pub fn ort_library_path() -> Result<&'static Path, RuntimeError> {
    ort_init().map(|(_, p)| p.as_path())
}

fn ort_init() -> Result<&'static (Environment, PathBuf), RuntimeError> {
    let result = ENVIRONMENT.get_or_init(|| {
        let candidates = ort_library_candidates();
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            return Err(OrtInitFailure::Missing {
                searched: join_paths(&candidates),
            });
        };
        let load = |e: &dyn std::fmt::Display| OrtInitFailure::Load {
            path: path.clone(),
            reason: e.to_string(),
        };
        let env = ort::init_from(path)
            .map_err(|e| load(&e))?
            .with_name("facestation")
            .build()
            .map_err(|e| load(&e))?;
        Ok((env, path.clone()))
    });
    result.as_ref().map_err(RuntimeError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_failure_keeps_a_path_holding_colons_whole() {
        let f = OrtInitFailure::Load {
            path: PathBuf::from("/opt/ort:v1.31/libonnxruntime.so"),
            reason: "bad ELF: wrong class".into(),
        };
        match RuntimeError::from(&f) {
            RuntimeError::OrtLoad { path, reason } => {
                assert_eq!(path, PathBuf::from("/opt/ort:v1.31/libonnxruntime.so"));
                assert_eq!(reason, "bad ELF: wrong class");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn manifest_parses_and_names_every_role() {
        let entries = manifest_entries().expect("manifest");
        for role in [
            "detector",
            "recogniser",
            "head_pose",
            "liveness_v2",
            "liveness_v1se",
        ] {
            assert!(entries.iter().any(|e| e.role == role), "role {role}");
        }
        assert!(entries.iter().all(|e| e.sha256.len() == 64));
        let recognisers: Vec<_> = entries
            .iter()
            .filter(|e| e.role == RECOGNISER_ROLE)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            recognisers,
            [
                "dlib_resnet_v1",
                "dlib_resnet_v1_int8",
                "face_reidentification_retail_0095"
            ]
        );
        let reid = entries
            .iter()
            .find(|e| e.id == "face_reidentification_retail_0095")
            .and_then(|e| e.recogniser.clone())
            .expect("spec");
        assert_eq!((reid.size, reid.dim), (128, 256));
        assert_eq!(
            (reid.channels, reid.metric, reid.normalise),
            (ChannelOrder::Bgr, Metric::Cosine, Normalise::L2)
        );
    }

    #[test]
    fn manifest_problems_are_named() {
        let base = r#"
[[model]]
id = "r"
role = "recogniser"
file = "r.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
licence = "x"
source = "x"
input = "x"
"#;
        let spec = r#"
[model.recogniser]
alias = "a"
size = 128
channels = "bgr"
input_name = "input"
output_name = "embedding"
dim = 256
metric = "cosine"
normalise = "l2"
template = [[40.0, 59.0], [87.0, 59.0], [64.0, 82.0], [44.0, 105.0], [83.0, 105.0]]
"#;
        assert!(parse_manifest(&format!("{base}{spec}")).is_ok());
        let msg = |t: String| parse_manifest(&t).expect_err("must fail").to_string();
        assert!(msg(base.to_string()).contains("needs a [model.recogniser] table"));
        assert!(msg(format!("{base}{spec}").replace("\"l2\"", "\"none\"")).contains("cosine"));
        assert!(msg(format!("{base}{spec}").replace("105.0]]", "400.0]]")).contains("outside"));
        assert!(msg(format!("{base}{spec}{base}{spec}")).contains("twice"));
        assert!(msg(format!("{base}{spec}").replace("0000000000", "zz")).contains("64 hex"));
    }

    #[test]
    fn empty_folder_reports_each_missing_file_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = VerifiedModels::verify(dir.path()).expect_err("must fail");
        let msg = err.to_string();
        for e in manifest_entries().expect("manifest") {
            assert!(msg.contains(&format!("{} is missing", e.file)), "{msg}");
        }
    }

    #[test]
    fn a_changed_file_is_reported_as_mismatched() {
        let dir = tempfile::tempdir().expect("tempdir");
        for e in manifest_entries().expect("manifest") {
            std::fs::write(dir.path().join(&e.file), b"not a model").expect("write");
        }
        let msg = VerifiedModels::verify(dir.path())
            .expect_err("must fail")
            .to_string();
        assert!(msg.contains("wrong or corrupted"), "{msg}");
        assert!(msg.contains("yunet_s_dynamic.onnx has sha256"), "{msg}");
    }
}
