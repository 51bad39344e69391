//! One POST to the service: bounded retries of network errors and 5xx answers with exponential
//! backoff, and transport errors classified into [`RemoteError`]s.

use std::time::Duration;

use super::{RemoteError, RemoteVerifier};

/// Backoff never waits longer than this between two attempts, whatever Retry-After says.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Bodies larger than this are sent with `Expect: 100-continue` (as curl does): a server that
/// refuses them (413 too large, 401, 503 busy) says so before the upload, instead of the client
/// pushing megabytes into a connection that is being closed and seeing a broken pipe.
pub const EXPECT_CONTINUE_ABOVE: usize = 1024 * 1024;

/// One HTTP exchange that produced an answer (of any status).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: String,
    pub(super) retry_after_s: Option<u64>,
    pub(super) attempts: u32,
}

impl RemoteVerifier {
    /// POSTs JSON, retrying network errors and 5xx answers with exponential backoff.
    pub(super) fn post(&self, path: &str, body: &[u8]) -> Result<Answer, RemoteError> {
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
