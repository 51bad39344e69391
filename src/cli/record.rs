//! `facestation record verify LOG`.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;

pub fn verify(log: &Path) -> Result<ExitCode, CliError> {
    let report = crate::record::verify_log(log)?;
    println!(
        "{}: {} records, every signature valid, chain intact (keys: {}; last line sha256 {})",
        log.display(),
        report.records,
        report.key_ids.join(", "),
        report.last_sha256
    );
    Ok(ExitCode::SUCCESS)
}
