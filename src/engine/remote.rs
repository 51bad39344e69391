//! The remote engine: Verifik's Compare API (or a FaceStation `serve`) behind the [`Verifier`] trait.
//!
//! One blocking HTTPS call per decision (ureq + rustls), meant to run on a worker thread. Network
//! errors and 5xx answers are retried a bounded number of times with exponential backoff; every
//! other failure is final and maps to its own [`RemoteError`], worded for an operator. Answers are
//! parsed tolerantly because Verifik's docs show several shapes (`verifik/related-endpoints.md`).

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{
    CompareOutcome, Decision, EngineError, GalleryResult, LivenessOutcome, Timings, Verifier,
};
use crate::api::{
    BearerToken, CompareRequest, LivenessRequest, OneOrMany, TokenError, ValidRequest,
};
use crate::digest::sha256_hex;
use crate::vision::detect::BoundingBox;
use crate::vision::liveness::{LivenessResult, LivenessVerdict};
use crate::vision::Face;

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
/// Backoff never waits longer than this between two attempts, whatever Retry-After says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Bodies larger than this are sent with `Expect: 100-continue` (as curl does): a server that
/// refuses them (413 too large, 401, 503 busy) says so before the upload, instead of the client
/// pushing megabytes into a connection that is being closed and seeing a broken pipe.
pub const EXPECT_CONTINUE_ABOVE: usize = 1024 * 1024;

/// The token from `VERIFIK_TOKEN`.
pub fn token_from_env() -> Result<BearerToken, RemoteError> {
    match std::env::var(TOKEN_ENV) {
        Ok(t) => BearerToken::new(&t).map_err(RemoteError::from),
        Err(_) => Err(RemoteError::NoToken),
    }
}

impl From<TokenError> for RemoteError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Empty => RemoteError::NoToken,
            TokenError::InvalidCharacters => RemoteError::InvalidToken,
        }
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

fn retry_hint(s: Option<u64>) -> String {
    s.map(|s| format!(", retry after {s} s"))
        .unwrap_or_default()
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

/// One HTTP exchange that produced an answer (of any status).
struct Answer {
    status: u16,
    body: String,
    retry_after_s: Option<u64>,
    attempts: u32,
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

    /// POSTs JSON, retrying network errors and 5xx answers with exponential backoff.
    fn post(&self, path: &str, body: &[u8]) -> Result<Answer, RemoteError> {
        let url = format!("{}{}", self.config.base_url, path);
        let auth = self.token.header_value();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt > self.config.max_retries;
            let mut request = self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Accept", "application/json")
                .content_type("application/json");
            if body.len() > EXPECT_CONTINUE_ABOVE {
                request = request.header("Expect", "100-continue");
            }
            let result = request.send(body).and_then(|mut resp| {
                let status = resp.status().as_u16();
                let retry_after_s = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let body = match resp
                    .body_mut()
                    .with_config()
                    .limit(self.config.max_response_bytes)
                    .read_to_string()
                {
                    Ok(b) => b,
                    // A refusal's status is the answer even when the connection broke (a reset
                    // after a 413) before its body arrived: it is final, not a network error.
                    Err(_) if (400..500).contains(&status) => String::new(),
                    Err(e) => return Err(e),
                };
                Ok(Answer {
                    status,
                    body,
                    retry_after_s,
                    attempts: attempt,
                })
            });
            match result {
                Ok(a) if a.status >= 500 && !last => {
                    let hinted = a.retry_after_s.map(Duration::from_secs);
                    std::thread::sleep(self.backoff(attempt, hinted));
                }
                Ok(a) => return Ok(a),
                Err(e) => {
                    let (err, retryable) = self.classify(e, &url, attempt);
                    if !retryable || last {
                        return Err(err);
                    }
                    std::thread::sleep(self.backoff(attempt, None));
                }
            }
        }
    }

    fn backoff(&self, attempt: u32, hinted: Option<Duration>) -> Duration {
        let exp = self
            .config
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        exp.max(hinted.unwrap_or_default()).min(MAX_BACKOFF)
    }

    /// A transport error as a [`RemoteError`], and whether another attempt may help.
    fn classify(&self, e: ureq::Error, url: &str, attempts: u32) -> (RemoteError, bool) {
        let url = url.to_string();
        let timeout = |stage: &'static str, d: Duration| RemoteError::Timeout {
            url: url.clone(),
            stage,
            secs: d.as_secs_f64(),
            attempts,
        };
        let network = |reason: String| RemoteError::Network {
            url: url.clone(),
            reason,
            attempts,
        };
        let (c, r) = (self.config.connect_timeout, self.config.read_timeout);
        match e {
            ureq::Error::Timeout(t) => {
                use ureq::Timeout as T;
                let err = match t {
                    T::Resolve => timeout("resolving the host name", c),
                    T::Connect => timeout("connecting", c),
                    T::SendRequest | T::SendBody | T::PerWrite => timeout("sending the request", r),
                    _ => timeout("waiting for the answer", r),
                };
                (err, true)
            }
            ureq::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => (
                    RemoteError::Refused {
                        url: url.clone(),
                        attempts,
                    },
                    true,
                ),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    (timeout("waiting for the answer", r), true)
                }
                _ => (network(io.to_string()), true),
            },
            ureq::Error::HostNotFound => (network("host name not found (DNS)".into()), true),
            ureq::Error::ConnectionFailed => (network("the connection failed".into()), true),
            ureq::Error::Protocol(p) => (
                network(format!("the server's answer is not valid HTTP ({p})")),
                true,
            ),
            ureq::Error::BadUri(reason) => (
                RemoteError::BadBaseUrl {
                    url: self.config.base_url.clone(),
                    reason,
                },
                false,
            ),
            ureq::Error::BodyExceedsLimit(n) => (
                RemoteError::MalformedResponse {
                    status: 200,
                    reason: format!("the answer is larger than {n} bytes"),
                },
                false,
            ),
            ureq::Error::Tls(m) => (network(format!("TLS: {m}")), false),
            ureq::Error::Rustls(e) => (network(format!("TLS: {e}")), false),
            other => (network(other.to_string()), false),
        }
    }
}

fn os_name(request: &ValidRequest) -> String {
    serde_json::to_value(request.os)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "DESKTOP".into())
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
fn check_status(a: Answer) -> Result<Value, RemoteError> {
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

fn malformed(reason: impl Into<String>) -> RemoteError {
    RemoteError::MalformedResponse {
        status: 200,
        reason: reason.into(),
    }
}

fn unit_number(v: Option<&Value>, what: &str) -> Result<Option<f64>, RemoteError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => match x.as_f64() {
            Some(f) if f.is_finite() && (0.0..=1.0).contains(&f) => Ok(Some(f)),
            _ => Err(malformed(format!(
                "{what} is not a number from 0 to 1: {x}"
            ))),
        },
    }
}

/// The comparison score, wherever this generation of the API puts it.
fn find_score(data: &Value) -> Result<f64, RemoteError> {
    let candidates = [
        ("data.result.score", data.pointer("/result/score")),
        ("data.score", data.get("score")),
        ("data.comparison.score", data.pointer("/comparison/score")),
    ];
    for (what, v) in candidates {
        if let Some(s) = unit_number(v, what)? {
            return Ok(s);
        }
    }
    Err(malformed(
        "no score at data.result.score, data.score or data.comparison.score",
    ))
}

fn parse_liveness_block(l: &Value, asked: Option<f64>) -> Result<LivenessResult, RemoteError> {
    let score = unit_number(l.get("liveness_score"), "data.liveness.liveness_score")?
        .ok_or_else(|| malformed("data.liveness has no liveness_score"))?;
    let min_score = unit_number(l.get("min_score"), "data.liveness.min_score")?
        .or(asked)
        .unwrap_or(crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE);
    // Verifik passes strictly above the mark; its own `passed` wins when present.
    let passed = l
        .get("passed")
        .and_then(Value::as_bool)
        .unwrap_or(score > min_score);
    Ok(LivenessResult {
        score,
        verdict: if passed {
            LivenessVerdict::Live
        } else {
            LivenessVerdict::Spoof
        },
        // The service does not report the crop context; 0 marks "not measured here".
        context: 0.0,
        min_score,
    })
}

/// Parses a compare (or compare-live) answer body into an outcome; public so that the documented
/// shapes can be checked without a network.
pub fn parse_compare_response(
    body: &str,
    request: &ValidRequest,
    engine: &str,
) -> Result<CompareOutcome, RemoteError> {
    let value: Value = serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
    parse_compare_value(&value, request, engine)
}

fn parse_compare_value(
    value: &Value,
    request: &ValidRequest,
    engine: &str,
) -> Result<CompareOutcome, RemoteError> {
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed("no `data` object"))?;
    let score = find_score(data)?;
    let threshold = unit_number(
        data.pointer("/result/compare_min_score"),
        "data.result.compare_min_score",
    )?
    .or(unit_number(
        data.get("compare_min_score"),
        "data.compare_min_score",
    )?)
    .or(request.compare_min_score)
    .unwrap_or(VERIFIK_DEFAULT_MIN_SCORE);
    let service_passed = data
        .pointer("/result/passed")
        .or_else(|| data.pointer("/comparison/passed"))
        .and_then(Value::as_bool);
    let matched = service_passed.unwrap_or(score >= threshold);
    let liveness = match (data.get("liveness"), request.liveness_min_score) {
        (Some(l), asked) if l.is_object() => Some(parse_liveness_block(l, asked)?),
        // Never report a compare-live as passed when the liveness answer is missing.
        (_, Some(_)) => {
            return Err(malformed(
                "liveness was asked for but data.liveness is missing",
            ))
        }
        (_, None) => None,
    };
    let live_ok = liveness.as_ref().is_none_or(|l| l.passed() == Some(true));
    let decision = if matched {
        Decision::Match
    } else {
        Decision::NoMatch
    };
    // The service reports one score for the whole gallery; it belongs to an image only when
    // the gallery has one.
    let single = request.gallery.len() == 1;
    let gallery = request
        .gallery
        .iter()
        .enumerate()
        .map(|(index, bytes)| GalleryResult {
            index,
            sha256: sha256_hex(bytes),
            faces_found: 0,
            face: None,
            score: single.then_some(score),
            distance: None,
            passed: single.then_some(matched),
            error: None,
            reported: single,
            recognisers: Vec::new(),
        })
        .collect();
    Ok(CompareOutcome {
        engine: engine.to_string(),
        search_mode: request.search_mode,
        score,
        threshold,
        threshold_basis: if request.compare_min_score.is_some() {
            "compare_min_score from the request (applied by the remote service)".into()
        } else {
            "the remote service's default".into()
        },
        decision,
        probe_sha256: sha256_hex(&request.probe),
        probe_face: None,
        probe_faces_found: 0,
        gallery,
        liveness,
        passed: matched && live_ok,
        timings: Timings::default(),
        models: Vec::new(),
        remote: Some(json!({
            "id": value.get("id").cloned().unwrap_or(Value::Null),
            "signature": value.get("signature").cloned().unwrap_or(Value::Null),
        })),
        quality: None,
    })
}

fn parse_liveness_value(
    value: &Value,
    image: &[u8],
    min_score: f64,
) -> Result<LivenessOutcome, RemoteError> {
    let data = value
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed("no `data` object"))?;
    // A FaceStation server gives its full verdict (including "cannot judge") in
    // `station.liveness`; Verifik gives `data` ({passed, min_score, liveness_score}) or `data.liveness`.
    let station = value
        .pointer("/station/liveness")
        .and_then(|l| serde_json::from_value::<LivenessResult>(l.clone()).ok());
    let liveness = match station {
        Some(l) => l,
        None => {
            let block = data
                .get("liveness")
                .filter(|l| l.is_object())
                .unwrap_or(data);
            parse_liveness_block(block, Some(min_score))?
        }
    };
    // A FaceStation server reports the face box in `station.face`; Verifik does not: a zero box
    // with score 0 then means "not reported".
    let face = value
        .pointer("/station/face")
        .and_then(|f| serde_json::from_value::<Face>(f.clone()).ok())
        .unwrap_or(Face {
            bbox: BoundingBox {
                x: 0.0,
                y: 0.0,
                width: 0.0,
                height: 0.0,
            },
            score: 0.0,
            landmarks: [[0.0; 2]; 5],
        });
    Ok(LivenessOutcome {
        image_sha256: sha256_hex(image),
        face,
        faces_found: value
            .pointer("/station/facesFound")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(1),
        liveness,
        timings: Timings::default(),
        models: Vec::new(),
    })
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
    use crate::api::SearchMode;

    fn request(gallery: usize, live: Option<f64>) -> ValidRequest {
        let mut r =
            ValidRequest::from_bytes(vec![1; 10], vec![vec![2; 10]; gallery], SearchMode::Fast)
                .expect("valid");
        r.liveness_min_score = live;
        r
    }

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

    #[test]
    fn documented_shapes_parse() {
        let r = request(1, None);
        let shapes = [
            (json!({"id": "a", "data": {"result": {"score": 0.9}}}), 0.9),
            (json!({"id": "a", "data": {"score": 0.91}}), 0.91),
            (
                json!({"id": "a", "data": {"comparison": {"score": 0.88}}}),
                0.88,
            ),
            (
                json!({"data": {"result": {"score": 0.7, "compare_min_score": 0.67, "passed": true}}}),
                0.7,
            ),
        ];
        for (body, score) in shapes {
            let o = parse_compare_response(&body.to_string(), &r, "remote:x").expect("parses");
            assert_eq!(o.score, score);
        }
        let o = parse_compare_response(
            &json!({"data": {"result": {"score": 0.7, "compare_min_score": 0.67, "passed": true}}})
                .to_string(),
            &r,
            "remote:x",
        )
        .expect("parses");
        assert_eq!(o.threshold, 0.67);
        assert!(o.passed);
        let o = parse_compare_response(&json!({"data": {"score": 0.8}}).to_string(), &r, "x")
            .expect("parses");
        assert_eq!(o.threshold, VERIFIK_DEFAULT_MIN_SCORE);
        assert_eq!(o.decision, Decision::NoMatch);
    }

    #[test]
    fn compare_live_needs_its_liveness_block() {
        let r = request(1, Some(0.6));
        let live = json!({"data": {"score": 0.89, "liveness": {"liveness_score": 0.92, "min_score": 0.65, "passed": true}}});
        let o = parse_compare_response(&live.to_string(), &r, "x").expect("parses");
        assert!(o.passed);
        assert_eq!(o.liveness.as_ref().map(|l| l.min_score), Some(0.65));
        let spoof = json!({"data": {"score": 0.89, "liveness": {"liveness_score": 0.3, "min_score": 0.65, "passed": false}}});
        let o = parse_compare_response(&spoof.to_string(), &r, "x").expect("parses");
        assert!(!o.passed);
        assert_eq!(o.decision, Decision::Match);
        let missing = json!({"data": {"score": 0.89}});
        assert!(matches!(
            parse_compare_response(&missing.to_string(), &r, "x"),
            Err(RemoteError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn malformed_answers_have_their_own_error() {
        let r = request(2, None);
        for body in [
            "<html>oops</html>",
            "{}",
            r#"{"data": {"result": {}}}"#,
            r#"{"data": {"score": "high"}}"#,
            r#"{"data": {"score": 7}}"#,
        ] {
            assert!(
                matches!(
                    parse_compare_response(body, &r, "x"),
                    Err(RemoteError::MalformedResponse { .. })
                ),
                "{body}"
            );
        }
    }

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
