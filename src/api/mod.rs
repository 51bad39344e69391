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
                "unknown search_mode {} (use FAST or ACCURATE)",
                echo(s)
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
                "unknown os {} (use DESKTOP, IOS or ANDROID)",
                echo(s)
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

/// Longest part of a client's string that an error message quotes.
pub const ECHO_CHARS: usize = 40;

/// A client's string as an error message may quote it: at most [`ECHO_CHARS`] characters, quoted
/// and escaped (`"\u{1b}[31m"`, not the escape itself), with the full length when it was cut. A
/// request field can be megabytes long or carry terminal escapes; neither reaches an answer or a
/// terminal raw.
pub fn echo(s: &str) -> String {
    let mut out = String::with_capacity(ECHO_CHARS + 16);
    out.push('"');
    let mut chars = s.chars();
    for c in chars.by_ref().take(ECHO_CHARS) {
        out.extend(c.escape_debug());
    }
    out.push('"');
    if chars.next().is_some() {
        out.push_str(&format!("... ({} characters)", s.chars().count()));
    }
    out
}

/// Splits a `data:<type>;base64,` prefix off (any case, RFC 2397); returns the data and its byte
/// offset in `s`. `Err` for a data URL that is not base64.
fn strip_data_url(s: &str) -> Result<(&str, usize), String> {
    let is_data = s.len() >= 5 && s.as_bytes()[..5].eq_ignore_ascii_case(b"data:");
    if !is_data {
        return Ok((s, 0));
    }
    let Some(comma) = s.find(',') else {
        return Err("a data URI without a `,` before its data".into());
    };
    let header = &s[..comma];
    let base64 =
        header.len() >= 7 && header.as_bytes()[header.len() - 7..].eq_ignore_ascii_case(b";base64");
    if !base64 {
        return Err(format!(
            "a data URI that is not base64 ({}): use `data:image/...;base64,`",
            echo(header)
        ));
    }
    Ok((&s[comma + 1..], comma + 1))
}

/// Decodes a base64 image string; accepts a `data:image/...;base64,` prefix (any case), line
/// breaks and other ASCII whitespace, padding or none, and the URL-safe alphabet. An error names
/// the first bad character and its offset in the string as sent.
pub fn decode_base64_image(s: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    let lead = s.len() - s.trim_start().len();
    let trimmed = s.trim();
    let (data, prefix) =
        strip_data_url(trimmed).map_err(|e| ApiError::not_base64(format!("{field}: {e}")))?;
    let start = lead + prefix;
    if data.len() < MIN_IMAGE_B64_CHARS {
        return Err(ApiError::not_base64(format!(
            "{field}: {} characters is too short to be a base64 image",
            data.len()
        )));
    }
    let bad = |offset: usize, what: String| {
        ApiError::not_base64(format!(
            "{field}: not valid base64: {what} at offset {offset}"
        ))
    };
    // One pass finds the alphabet (the first of `+/` or `-_` decides) and the first character
    // that does not belong, so that its offset is the one in the string as sent.
    let mut url_safe: Option<bool> = None;
    let mut whitespace = false;
    for (i, c) in data.char_indices() {
        let ok = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '=' => true,
            '+' | '/' => !*url_safe.get_or_insert(false),
            '-' | '_' => *url_safe.get_or_insert(true),
            c if c.is_ascii_whitespace() => {
                whitespace = true;
                true
            }
            _ => false,
        };
        if !ok {
            let what = match (c, url_safe) {
                ('+' | '/' | '-' | '_', _) => format!(
                    "{} mixes the standard and the URL-safe alphabet",
                    echo(&c.to_string())
                ),
                _ => format!("{} is not a base64 character", echo(&c.to_string())),
            };
            return Err(bad(start + i, what));
        }
    }
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let engine = if url_safe == Some(true) {
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, config)
    } else {
        GeneralPurpose::new(&base64::alphabet::STANDARD, config)
    };
    // Only a string with whitespace is copied; a clean one (the usual case) is decoded in place.
    let cleaned;
    let bytes = if whitespace {
        cleaned = data
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect::<Vec<u8>>();
        &cleaned[..]
    } else {
        data.as_bytes()
    };
    engine.decode(bytes).map_err(|e| {
        use base64::DecodeError as D;
        // The decoder's offsets count the characters kept; map them back to the string as sent.
        let original = |kept: usize| {
            start
                + data
                    .char_indices()
                    .filter(|(_, c)| !c.is_ascii_whitespace())
                    .nth(kept)
                    .map_or(data.len(), |(i, _)| i)
        };
        match e {
            D::InvalidByte(at, b) => bad(
                original(at),
                format!("{} is out of place", echo(&char::from(b).to_string())),
            ),
            D::InvalidLastSymbol(at, b) => bad(
                original(at),
                format!(
                    "the last character {} leaves stray bits (the data is cut or altered)",
                    echo(&char::from(b).to_string())
                ),
            ),
            D::InvalidLength(n) => ApiError::not_base64(format!(
                "{field}: not valid base64: {n} characters cannot be base64 (the data is cut)"
            )),
            D::InvalidPadding => {
                ApiError::not_base64(format!("{field}: not valid base64: wrong `=` padding"))
            }
        }
    })
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
        for prefix in [
            "DATA:image/jpeg;BASE64,",
            "Data:image/png;Base64,",
            "data:;base64,",
        ] {
            let s = format!("{prefix}{}", b64(120));
            assert_eq!(decode_base64_image(&s, "probe").expect(prefix).len(), 120);
        }
        let e = decode_base64_image(&format!("data:image/jpeg,{}", b64(120)), "probe")
            .expect_err("not base64");
        assert!(e.message.contains("not base64"), "{}", e.message);
    }

    #[test]
    fn whitespace_padding_and_url_safe_are_accepted() {
        let raw: Vec<u8> = (0..=255u8).cycle().take(301).collect();
        let std = base64::engine::general_purpose::STANDARD.encode(&raw);
        let wrapped: String = std
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(
            decode_base64_image(&wrapped, "probe").expect("wrapped"),
            raw
        );
        let unpadded = std.trim_end_matches('=');
        assert_eq!(
            decode_base64_image(unpadded, "probe").expect("unpadded"),
            raw
        );
        let url = base64::engine::general_purpose::URL_SAFE.encode(&raw);
        assert_eq!(decode_base64_image(&url, "probe").expect("url-safe"), raw);
    }

    #[test]
    fn a_bad_character_is_reported_at_its_offset_in_the_string_as_sent() {
        let mut s = b64(3000);
        s.replace_range(1000..1001, "%");
        let e = decode_base64_image(&s, "probe").expect_err("bad");
        assert!(e.message.contains("offset 1000"), "{}", e.message);
        assert!(
            e.message.contains("'%'") || e.message.contains("\"%\""),
            "{}",
            e.message
        );
        // Line breaks and a data URL prefix do not shift the offset.
        let wrapped: String = s
            .as_bytes()
            .chunks(100)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        let at = wrapped.find('%').expect("the bad char");
        let e = decode_base64_image(&wrapped, "probe").expect_err("bad");
        assert!(
            e.message.contains(&format!("offset {at}")),
            "{at}: {}",
            e.message
        );
        let prefixed = format!("  DATA:image/jpeg;BASE64,{s}");
        let at = prefixed.find('%').expect("the bad char");
        let e = decode_base64_image(&prefixed, "probe").expect_err("bad");
        assert!(
            e.message.contains(&format!("offset {at}")),
            "{at}: {}",
            e.message
        );
        // Padding in the middle, and a mixed alphabet, point at the character too.
        let mut s = b64(3000);
        s.replace_range(2000..2001, "=");
        let e = decode_base64_image(&s, "probe").expect_err("bad");
        assert!(e.message.contains("offset 2000"), "{}", e.message);
        let mut s = b64(3000).replace(['+', '/'], "A");
        s.replace_range(10..11, "-");
        s.replace_range(500..501, "+");
        let e = decode_base64_image(&s, "probe").expect_err("mixed");
        assert!(e.message.contains("offset 500"), "{}", e.message);
    }

    #[test]
    fn echoed_strings_are_bounded_and_escaped() {
        let huge = "X".repeat(4 * 1024 * 1024);
        let e = SearchMode::parse(&huge).expect_err("unknown");
        assert!(e.message.len() < 200, "{} bytes", e.message.len());
        assert!(e.message.contains("4194304 characters"), "{}", e.message);
        let ansi = "\u{1b}[31mRED\u{1b}[0m\n";
        for e in [
            SearchMode::parse(ansi).expect_err("unknown"),
            Os::parse(ansi).expect_err("unknown"),
        ] {
            assert!(
                !e.message.chars().any(|c| c.is_control()),
                "{:?}",
                e.message
            );
            assert!(e.message.contains("\\u{1b}[31mRED"), "{}", e.message);
        }
        assert_eq!(echo("FAST"), "\"FAST\"");
        assert_eq!(
            echo(&"é".repeat(50)).chars().filter(|c| *c == 'é').count(),
            ECHO_CHARS
        );
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
