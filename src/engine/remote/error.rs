//! How a remote call fails: [`RemoteError`], each variant worded for an operator, and what an
//! answer's HTTP status means.

use serde_json::Value;

use super::http::Answer;
use super::TOKEN_ENV;
use crate::api::TokenError;

/// Every way a remote call can fail, each with an operator-facing message.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no API token: set {TOKEN_ENV} to the bearer token from Verifik's dashboard (or the token of the FaceStation server)")]
    NoToken,
    #[error("the API token contains spaces or characters that cannot go in an HTTP header")]
    InvalidToken,
    #[error("invalid remote URL `{url}`: {reason}")]
    BadBaseUrl { url: String, reason: String },
    #[error("the service rejected the request as invalid (HTTP 400): {message}")]
    BadRequest { message: String },
    #[error("the service refused the API token (HTTP {status}): check {TOKEN_ENV}; Verifik tokens expire after 30 days ({message})")]
    Unauthorized { status: u16, message: String },
    #[error("the service says an image is not a base64 image (HTTP 412 only_images_in_base64): {message}")]
    NotBase64 { message: String },
    #[error("the request is too large for the service (HTTP 413): use smaller images or fewer gallery images ({message})")]
    TooLarge { message: String },
    #[error("the service cannot read an image's format (HTTP 415): {message}")]
    UnsupportedImage { message: String },
    #[error("the service could not use the images (HTTP 422 {code}): {message}")]
    Unprocessable { code: String, message: String },
    #[error("the service is rate-limiting this station (HTTP 429){}: wait and try again", retry_hint(*.retry_after_s))]
    RateLimited {
        retry_after_s: Option<u64>,
        message: String,
    },
    #[error("the service failed (HTTP {status}) on all {attempts} attempt(s): {message}")]
    Server {
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("unexpected HTTP {status} from the service: {message}")]
    UnexpectedStatus { status: u16, message: String },
    #[error(
        "no answer from {url} while {stage} (timeout {secs:.1} s) on all {attempts} attempt(s)"
    )]
    Timeout {
        url: String,
        stage: &'static str,
        secs: f64,
        attempts: u32,
    },
    #[error("connection refused by {url} on all {attempts} attempt(s): is the service running, and is the URL right?")]
    Refused { url: String, attempts: u32 },
    #[error("cannot reach {url}: {reason} (after {attempts} attempt(s))")]
    Network {
        url: String,
        reason: String,
        attempts: u32,
    },
    #[error("the service's answer (HTTP {status}) is not the JSON expected: {reason}")]
    MalformedResponse { status: u16, reason: String },
}

impl From<TokenError> for RemoteError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Empty => RemoteError::NoToken,
            TokenError::InvalidCharacters => RemoteError::InvalidToken,
        }
    }
}

fn retry_hint(s: Option<u64>) -> String {
    s.map(|s| format!(", retry after {s} s"))
        .unwrap_or_default()
}

/// The service's own words from an error body (`error` or `message`), else the start of the body.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        ["error", "message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_string());
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.is_empty() {
        "no details given".into()
    } else {
        text
    }
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "unprocessable".into())
}

/// A 2xx answer's JSON, or the error its status means.
pub(super) fn check_status(a: Answer) -> Result<Value, RemoteError> {
    let message = || error_message(&a.body);
    match a.status {
        200..=299 => serde_json::from_str(&a.body).map_err(|e| RemoteError::MalformedResponse {
            status: a.status,
            reason: format!("{e}"),
        }),
        400 => Err(RemoteError::BadRequest { message: message() }),
        401 | 403 => Err(RemoteError::Unauthorized {
            status: a.status,
            message: message(),
        }),
        412 => Err(RemoteError::NotBase64 { message: message() }),
        413 => Err(RemoteError::TooLarge { message: message() }),
        415 => Err(RemoteError::UnsupportedImage { message: message() }),
        422 => Err(RemoteError::Unprocessable {
            code: error_code(&a.body),
            message: message(),
        }),
        429 => Err(RemoteError::RateLimited {
            retry_after_s: a.retry_after_s,
            message: message(),
        }),
        500..=599 => Err(RemoteError::Server {
            status: a.status,
            attempts: a.attempts,
            message: message(),
        }),
        s => Err(RemoteError::UnexpectedStatus {
            status: s,
            message: message(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_errors() {
        let answer = |status: u16, body: &str| Answer {
            status,
            body: body.into(),
            retry_after_s: Some(3),
            attempts: 3,
        };
        let e = |s, b| check_status(answer(s, b)).expect_err("error");
        assert!(
            matches!(e(400, r#"{"error":"Invalid request"}"#), RemoteError::BadRequest { message } if message == "Invalid request")
        );
        assert!(matches!(
            e(401, ""),
            RemoteError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            e(403, ""),
            RemoteError::Unauthorized { status: 403, .. }
        ));
        assert!(matches!(
            e(412, "only_images_in_base64"),
            RemoteError::NotBase64 { .. }
        ));
        assert!(matches!(e(413, ""), RemoteError::TooLarge { .. }));
        assert!(matches!(
            e(429, ""),
            RemoteError::RateLimited {
                retry_after_s: Some(3),
                ..
            }
        ));
        assert!(matches!(
            e(503, ""),
            RemoteError::Server {
                status: 503,
                attempts: 3,
                ..
            }
        ));
        assert!(matches!(
            e(302, ""),
            RemoteError::UnexpectedStatus { status: 302, .. }
        ));
        assert!(e(401, "").to_string().contains(TOKEN_ENV));
    }
}
