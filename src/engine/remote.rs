//! The remote engine: Verifik's Compare API (or a FaceStation `serve`) behind the [`Verifier`] trait.
//!
//! One blocking HTTPS call per decision (ureq + rustls), meant to run on a worker thread. Network
//! errors and 5xx answers are retried a bounded number of times with exponential backoff; every
//! other failure is final and maps to its own [`RemoteError`], worded for an operator. Answers are
//! parsed tolerantly because Verifik's docs show several shapes (`verifik/related-endpoints.md`).
//!
//! Children: `error` (the failures and what an HTTP status means), `http` (one POST with its
//! retries and backoff), `wire` (the answers' JSON shapes into outcomes).

mod error;
mod http;
mod wire;

use std::time::{Duration, Instant};

use base64::Engine as _;

use super::{CompareOutcome, EngineError, LivenessOutcome, Verifier};
use crate::api::{BearerToken, CompareRequest, LivenessRequest, OneOrMany, ValidRequest};

pub use error::RemoteError;
pub use http::EXPECT_CONTINUE_ABOVE;
pub use wire::parse_compare_response;

use error::check_status;
use wire::{parse_compare_value, parse_liveness_value};

/// Verifik's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.verifik.co";
/// Where the CLI takes the bearer token from.
pub const TOKEN_ENV: &str = "VERIFIK_TOKEN";
/// Verifik's server-side `compare_min_score` default (its demo page), used when neither the request
/// nor the answer names a threshold.
pub const VERIFIK_DEFAULT_MIN_SCORE: f64 = 0.85;
const COMPARE_PATH: &str = "/v2/face-recognition/compare";
const COMPARE_LIVE_PATH: &str = "/v2/face-recognition/compare-live";
const LIVENESS_PATH: &str = "/v2/face-recognition/liveness";
/// The token from `VERIFIK_TOKEN`.
pub fn token_from_env() -> Result<BearerToken, RemoteError> {
    match std::env::var(TOKEN_ENV) {
        Ok(t) => BearerToken::new(&t).map_err(RemoteError::from),
        Err(_) => Err(RemoteError::NoToken),
    }
}

/// How the remote engine talks to the service.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Scheme and host (and optional port and path prefix), without the `/v2/...` part.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Longest wait for each of: sending the request, the response headers, the response body.
    pub read_timeout: Duration,
    /// Extra attempts after a network error or a 5xx answer (0 = no retry).
    pub max_retries: u32,
    /// Wait before the first retry; doubles for each further one.
    pub backoff: Duration,
    /// Largest answer read (records may embed the images).
    pub max_response_bytes: u64,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            max_retries: 2,
            backoff: Duration::from_millis(500),
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The remote engine.
pub struct RemoteVerifier {
    agent: ureq::Agent,
    config: RemoteConfig,
    token: BearerToken,
}

impl std::fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("config", &self.config)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl RemoteVerifier {
    pub fn new(mut config: RemoteConfig, token: BearerToken) -> Result<Self, RemoteError> {
        let url = config.base_url.trim().trim_end_matches('/').to_string();
        let bad = |reason: &str| RemoteError::BadBaseUrl {
            url: url.clone(),
            reason: reason.into(),
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| bad("it must start with https:// (or http:// for a local server)"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("it has no host"));
        }
        config.base_url = url;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // Statuses are answers to interpret here, not transport errors.
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_send_request(Some(config.read_timeout))
            .timeout_send_body(Some(config.read_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            // A redirect of a POST would drop the body; treat it as an unexpected status.
            .max_redirects(0)
            .user_agent(concat!("facestation/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            agent,
            config,
            token,
        })
    }

    /// Default timeouts and retries, this base URL, the token from `VERIFIK_TOKEN`.
    pub fn from_env(base_url: &str) -> Result<Self, RemoteError> {
        Self::new(
            RemoteConfig {
                base_url: base_url.into(),
                ..RemoteConfig::default()
            },
            token_from_env()?,
        )
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// `compare` with the typed error (the trait wraps it in [`EngineError::Remote`]).
    pub fn compare_remote(&self, request: &ValidRequest) -> Result<CompareOutcome, RemoteError> {
        let started = Instant::now();
        let live = request.liveness_min_score.is_some();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let body = CompareRequest {
            os: Some(os_name(request)),
            probe: OneOrMany::One(b64(&request.probe)),
            gallery: request.gallery.iter().map(|g| b64(g)).collect(),
            search_mode: Some(request.search_mode.as_str().into()),
            compare_min_score: request.compare_min_score,
            liveness_min_score: request.liveness_min_score,
        };
        let body = serde_json::to_vec(&body).map_err(|e| RemoteError::MalformedResponse {
            status: 0,
            reason: format!("could not encode the request: {e}"),
        })?;
        let path = if live {
            COMPARE_LIVE_PATH
        } else {
            COMPARE_PATH
        };
        let answer = self.post(path, &body)?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let value = check_status(answer)?;
        let mut outcome = parse_compare_value(&value, request, &self.name())?;
        outcome.timings.total_ms = elapsed_ms;
        Ok(outcome)
    }

    /// `liveness` with the typed error.
    pub fn liveness_remote(
        &self,
        image: &[u8],
        min_score: f64,
    ) -> Result<LivenessOutcome, RemoteError> {
        let started = Instant::now();
        let body = LivenessRequest {
            os: Some("DESKTOP".into()),
            image: base64::engine::general_purpose::STANDARD.encode(image),
            liveness_min_score: Some(min_score),
        };
        let body = serde_json::to_vec(&body).map_err(|e| RemoteError::MalformedResponse {
            status: 0,
            reason: format!("could not encode the request: {e}"),
        })?;
        let answer = self.post(LIVENESS_PATH, &body)?;
        let value = check_status(answer)?;
        let mut outcome = parse_liveness_value(&value, image, min_score)?;
        outcome.timings.total_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(outcome)
    }
}

fn os_name(request: &ValidRequest) -> String {
    serde_json::to_value(request.os)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "DESKTOP".into())
}

impl Verifier for RemoteVerifier {
    fn compare(&mut self, request: &ValidRequest) -> Result<CompareOutcome, EngineError> {
        Ok(self.compare_remote(request)?)
    }

    fn liveness(&mut self, image: &[u8], min_score: f64) -> Result<LivenessOutcome, EngineError> {
        Ok(self.liveness_remote(image, min_score)?)
    }

    fn name(&self) -> String {
        format!("remote:{}", self.config.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug() {
        let t = BearerToken::new("s3cr3t-token\n").expect("token");
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
        let v = RemoteVerifier::new(RemoteConfig::default(), t.clone()).expect("verifier");
        assert!(!format!("{v:?}").contains("s3cr3t"));
        assert!(t.matches("s3cr3t-token"));
        assert!(!t.matches("s3cr3t-toke"));
        assert!(matches!(
            BearerToken::new("  ").map_err(RemoteError::from),
            Err(RemoteError::NoToken)
        ));
        assert!(matches!(
            BearerToken::new("a b").map_err(RemoteError::from),
            Err(RemoteError::InvalidToken)
        ));
    }

    #[test]
    fn base_urls_are_checked() {
        let t = BearerToken::new("x").expect("token");
        for bad in ["api.verifik.co", "ftp://x", "https://", "https:///v2"] {
            let r = RemoteVerifier::new(
                RemoteConfig {
                    base_url: bad.into(),
                    ..RemoteConfig::default()
                },
                t.clone(),
            );
            assert!(
                matches!(r, Err(RemoteError::BadBaseUrl { .. })),
                "{bad} accepted"
            );
        }
        let v = RemoteVerifier::new(
            RemoteConfig {
                base_url: "http://127.0.0.1:9/".into(),
                ..RemoteConfig::default()
            },
            t,
        )
        .expect("ok");
        assert_eq!(v.name(), "remote:http://127.0.0.1:9");
    }
}
