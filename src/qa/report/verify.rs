//! The check of a report (`facestation qa verify`): its signature and the digests of the files
//! beside it.

use std::path::Path;

use serde_json::Value;

use super::REPORT_KIND;
use crate::digest::sha256_hex;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qa::report::tests::synthetic;
    use crate::qa::report::{write_outputs, ThresholdRule};
    use crate::record::StationKey;
    use time::OffsetDateTime;

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
}
