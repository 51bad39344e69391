//! Verifik wire types (request, error, bearer token) shared by the CLI, the GUI, the server and
//! the remote client, and the validation of incoming requests. A leaf: it imports no other module
//! of the crate (`tests/integration/layering.rs` checks that).

pub mod auth;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use auth::{BearerToken, TokenError};

/// Most gallery images one request may carry.
pub const MAX_GALLERY: usize = 10;
/// Verifik answers 412 `only_images_in_base64` for image strings shorter than about this.
pub const MIN_IMAGE_B64_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SearchMode {
    #[default]
    #[serde(rename = "FAST")]
    Fast,
    #[serde(rename = "ACCURATE")]
    Accurate,
}

impl SearchMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            SearchMode::Fast => "FAST",
            SearchMode::Accurate => "ACCURATE",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "FAST" => Ok(SearchMode::Fast),
            "ACCURATE" => Ok(SearchMode::Accurate),
            _ => Err(ApiError::invalid(format!(
                "unknown search_mode `{s}` (use FAST or ACCURATE)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Os {
    #[default]
    #[serde(rename = "DESKTOP")]
    Desktop,
    #[serde(rename = "IOS")]
    Ios,
    #[serde(rename = "ANDROID")]
    Android,
}

impl Os {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "DESKTOP" => Ok(Os::Desktop),
            "IOS" => Ok(Os::Ios),
            "ANDROID" => Ok(Os::Android),
            _ => Err(ApiError::invalid(format!(
                "unknown os `{s}` (use DESKTOP, IOS or ANDROID)"
            ))),
        }
    }
}

/// `probe` is a string in the old docs and may be a one-element array in the new ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The body of `POST /v2/face-recognition/compare` (and `compare-live`), as Verifik documents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    pub probe: OneOrMany,
    pub gallery: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_min_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_min_score: Option<f64>,
}

/// The body of `POST /v2/face-recognition/liveness`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_min_score: Option<f64>,
}

/// A liveness request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidLiveness {
    pub os: Os,
    pub image: Vec<u8>,
    pub min_score: f64,
}

impl LivenessRequest {
    /// Checks every field and decodes the image; `default_min_score` applies when the request
    /// gives no `liveness_min_score`.
    pub fn validate(&self, default_min_score: f64) -> Result<ValidLiveness, ApiError> {
        let os = match &self.os {
            Some(s) => Os::parse(s)?,
            None => Os::Desktop,
        };
        let min_score = check_unit(
            "liveness_min_score",
            self.liveness_min_score.unwrap_or(default_min_score),
        )?;
        let image = decode_base64_image(&self.image, "image")?;
        Ok(ValidLiveness {
            os,
            image,
            min_score,
        })
    }
}

/// A request that passed validation: images decoded from base64 (not yet from their format).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    pub os: Os,
    pub probe: Vec<u8>,
    pub gallery: Vec<Vec<u8>>,
    pub search_mode: SearchMode,
    /// `None`: the engine's default for the mode.
    pub compare_min_score: Option<f64>,
    /// `Some`: liveness is checked on the probe against this pass mark.
    pub liveness_min_score: Option<f64>,
    /// Pick the largest face when the probe has several, instead of refusing it.
    pub largest_probe_face: bool,
}

impl ValidRequest {
    pub fn from_bytes(
        probe: Vec<u8>,
        gallery: Vec<Vec<u8>>,
        search_mode: SearchMode,
    ) -> Result<Self, ApiError> {
        check_gallery_size(gallery.len())?;
        Ok(Self {
            os: Os::Desktop,
            probe,
            gallery,
            search_mode,
            compare_min_score: None,
            liveness_min_score: None,
            largest_probe_face: false,
        })
    }
}

impl CompareRequest {
    /// Checks every field and decodes the base64 images. `live` is true for `compare-live`,
    /// where `liveness_min_score` is required.
    pub fn validate(&self, live: bool) -> Result<ValidRequest, ApiError> {
        let os = match &self.os {
            Some(s) => Os::parse(s)?,
            None => Os::Desktop,
        };
        let search_mode = match &self.search_mode {
            Some(s) => SearchMode::parse(s)?,
            None => SearchMode::Fast,
        };
        let probe = match &self.probe {
            OneOrMany::One(s) => s,
            OneOrMany::Many(v) if v.len() == 1 => &v[0],
            OneOrMany::Many(v) => {
                return Err(ApiError::invalid(format!(
                    "probe must be one image, got {}",
                    v.len()
                )))
            }
        };
        let probe = decode_base64_image(probe, "probe")?;
        check_gallery_size(self.gallery.len())?;
        let gallery = self
            .gallery
            .iter()
            .enumerate()
            .map(|(i, g)| decode_base64_image(g, &format!("gallery[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let compare_min_score = self
            .compare_min_score
            .map(|s| check_unit("compare_min_score", s))
            .transpose()?;
        let liveness_min_score = self
            .liveness_min_score
            .map(|s| check_unit("liveness_min_score", s))
            .transpose()?;
        if live && liveness_min_score.is_none() {
            return Err(ApiError::invalid(
                "liveness_min_score is required for compare-live",
            ));
        }
        Ok(ValidRequest {
            os,
            probe,
            gallery,
            search_mode,
            compare_min_score,
            liveness_min_score,
            largest_probe_face: false,
        })
    }
}

fn check_gallery_size(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::invalid(
            "the gallery is empty: give at least one image",
        ));
    }
    if n > MAX_GALLERY {
        return Err(ApiError::invalid(format!(
            "the gallery has {n} images; at most {MAX_GALLERY} are allowed"
        )));
    }
    Ok(())
}

fn check_unit(name: &str, v: f64) -> Result<f64, ApiError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::invalid(format!(
            "{name} must be between 0 and 1, got {v}"
        )))
    }
}

/// Decodes a base64 image string; accepts a `data:image/...;base64,` prefix and line breaks.
pub fn decode_base64_image(s: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let s = s.trim();
    let s = match s.strip_prefix("data:") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((_, data)) => data,
            None => {
                return Err(ApiError::not_base64(format!(
                    "{field}: a data URI without ;base64,"
                )))
            }
        },
        None => s,
    };
    if s.len() < MIN_IMAGE_B64_CHARS {
        return Err(ApiError::not_base64(format!(
            "{field}: {} characters is too short to be a base64 image",
            s.len()
        )));
    }
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(cleaned.as_bytes()))
        .map_err(|e| ApiError::not_base64(format!("{field}: not valid base64 ({e})")))
}

/// An error in Verifik's style: `{"error": ..., "code": ..., "status": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    #[serde(rename = "error")]
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }
    pub fn not_base64(message: impl Into<String>) -> Self {
        Self::new(412, "only_images_in_base64", message)
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message, "code": self.code, "status": self.status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(n: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
    }

    fn request(json: serde_json::Value) -> Result<ValidRequest, ApiError> {
        let r: CompareRequest =
            serde_json::from_value(json).map_err(|e| ApiError::invalid(e.to_string()))?;
        r.validate(false)
    }

    #[test]
    fn the_documented_body_validates() {
        let v = request(serde_json::json!({
            "os": "DESKTOP", "probe": b64(200), "gallery": [b64(200), b64(300)], "search_mode": "ACCURATE"
        }))
        .expect("valid");
        assert_eq!(v.search_mode, SearchMode::Accurate);
        assert_eq!(v.gallery.len(), 2);
        assert_eq!(v.probe.len(), 200);
    }

    #[test]
    fn each_bad_field_has_its_own_error() {
        let good = b64(200);
        let cases = [
            (
                serde_json::json!({"os": "BEOS", "probe": good, "gallery": [good]}),
                400,
                "unknown os",
            ),
            (
                serde_json::json!({"probe": good, "gallery": [good], "search_mode": "SLOW"}),
                400,
                "unknown search_mode",
            ),
            (
                serde_json::json!({"probe": good, "gallery": []}),
                400,
                "gallery is empty",
            ),
            (
                serde_json::json!({"probe": good, "gallery": vec![good.clone(); 11]}),
                400,
                "at most 10",
            ),
            (
                serde_json::json!({"probe": "", "gallery": [good]}),
                412,
                "too short",
            ),
            (
                serde_json::json!({"probe": "%%%".repeat(50), "gallery": [good]}),
                412,
                "not valid base64",
            ),
            (
                serde_json::json!({"probe": good, "gallery": [good], "compare_min_score": 1.5}),
                400,
                "between 0 and 1",
            ),
        ];
        for (json, status, text) in cases {
            let e = request(json.clone()).expect_err("must fail");
            assert_eq!(e.status, status, "{json}");
            assert!(e.message.contains(text), "{} !~ {text}", e.message);
        }
    }

    #[test]
    fn data_uri_prefix_is_accepted() {
        let s = format!("data:image/jpeg;base64,{}", b64(120));
        assert_eq!(decode_base64_image(&s, "probe").expect("ok").len(), 120);
    }

    #[test]
    fn compare_live_requires_a_liveness_threshold() {
        let r = CompareRequest {
            os: None,
            probe: OneOrMany::One(b64(200)),
            gallery: vec![b64(200)],
            search_mode: None,
            compare_min_score: None,
            liveness_min_score: None,
        };
        assert!(r.validate(true).is_err());
        assert!(r.validate(false).is_ok());
    }
}
