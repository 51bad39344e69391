//! Where the station finds its models, audit log and signing key: the command line's global
//! options, shared by the CLI, the GUI and the server. `None` means the default location, which
//! is resolved in one place each: models in `runtime::models_dir`, the log and key in
//! `record::Recorder::open`.

use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StationPaths {
    pub models: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub key: Option<PathBuf>,
}
