//! [`VerifikJson`]: the body extractor of every endpoint, with Verifik's refusals, in the order that
//! costs the server least: the content type (415) and the declared length (413) from the headers
//! alone; then admission (a worker-or-queue slot and the body's share of the in-flight body budget,
//! or 503 at once); only then the body, within its limit (413) and its deadlines (408), and its
//! JSON (400). Nothing is buffered for a request that cannot be served.

use std::time::Duration;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, TryAcquireError};
use tokio::time::Instant;

use super::http::Shared;
use crate::api::ApiError;

/// The budget counts in KiB, so that any body limit fits the semaphore's `u32` requests.
const BUDGET_UNIT: usize = 1024;

/// A JSON body parsed as `T`, and the [`Admission`] that let it in. Hold the admission until the
/// answer is ready: it is the request's place among the workers and the queue, and its share of
/// the body budget.
pub struct VerifikJson<T>(pub T, pub Admission);

/// A request's admission: its worker-or-queue slot and the body bytes it holds. Released on drop.
pub struct Admission {
    _slot: OwnedSemaphorePermit,
    _bytes: Option<OwnedSemaphorePermit>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn too_large(limit: usize, what: String) -> ApiError {
    ApiError::new(
        413,
        "request_too_large",
        format!("{what}; this server accepts at most {limit} bytes"),
    )
}

fn budget_units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(BUDGET_UNIT)).unwrap_or(u32::MAX)
}

/// A bounded, escaped form of a message that may quote the client's input (serde's errors do).
fn bounded(message: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = message
        .chars()
        .take(MAX)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if message.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

impl<T: DeserializeOwned> FromRequest<Shared> for VerifikJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, ApiError> {
        let headers = request.headers();
        if !is_json(headers) {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "send the request as `Content-Type: application/json`",
            ));
        }
        let limit = state.body_limit;
        let declared = match headers.get(header::CONTENT_LENGTH) {
            None => None,
            Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
                Some(n) => Some(n),
                None => {
                    return Err(ApiError::invalid(
                        "the Content-Length header is not a number",
                    ))
                }
            },
        };
        if let Some(n) = declared {
            if n > limit as u64 {
                return Err(too_large(limit, format!("the request body is {n} bytes")));
            }
        }
        let declared = declared.map(|n| n as usize);
        let slot = state
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|e| match e {
                TryAcquireError::NoPermits => state.busy_error(),
                TryAcquireError::Closed => state.stopping_error(),
            })?;
        let mut bytes = match declared {
            Some(n) if n > 0 => Some(
                state
                    .budget
                    .clone()
                    .try_acquire_many_owned(budget_units(n))
                    .map_err(|_| state.budget_error())?,
            ),
            _ => None,
        };
        let timeouts = state.timeouts;
        let body = read_body(
            request,
            limit,
            declared,
            timeouts.body_read,
            timeouts.body_idle,
            |grown| {
                // A body without a declared length takes its share as it arrives.
                let more = state
                    .budget
                    .clone()
                    .try_acquire_many_owned(budget_units(grown))
                    .map_err(|_| state.budget_error())?;
                match &mut bytes {
                    Some(held) => held.merge(more),
                    None => bytes = Some(more),
                }
                Ok(())
            },
        )
        .await?;
        let value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!(
                "the body is not a valid request: {}",
                bounded(&e.to_string())
            ))
        })?;
        Ok(VerifikJson(
            value,
            Admission {
                _slot: slot,
                _bytes: bytes,
            },
        ))
    }
}

/// Reads the body into one buffer, within `limit` bytes, `total` time and `idle` time between two
/// pieces; `grow(n)` is asked for every `n` bytes beyond the declared length.
async fn read_body(
    request: Request,
    limit: usize,
    declared: Option<usize>,
    total: Duration,
    idle: Duration,
    mut grow: impl FnMut(usize) -> Result<(), ApiError>,
) -> Result<Vec<u8>, ApiError> {
    let mut body = request.into_body();
    // Bytes already charged to the budget (the declared length, at admission).
    let mut charged = declared.unwrap_or(0);
    let mut buf = Vec::with_capacity(charged.min(limit));
    let started = Instant::now();
    let deadline = started + total;
    loop {
        let wait_until = deadline.min(Instant::now() + idle);
        let frame = match tokio::time::timeout_at(wait_until, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::invalid(format!(
                    "could not read the request body: {} ({} bytes received)",
                    bounded(&e.to_string()),
                    buf.len()
                )))
            }
            Err(_) => {
                let of = declared.map(|n| format!(" of {n}")).unwrap_or_default();
                let why = if Instant::now() >= deadline {
                    format!("the body did not arrive within {} s", total.as_secs_f64())
                } else {
                    format!("nothing arrived for {} s", idle.as_secs_f64())
                };
                return Err(ApiError::new(
                    408,
                    "request_timeout",
                    format!(
                        "{why} ({} bytes{of} received); the connection is closed",
                        buf.len()
                    ),
                ));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let len = buf.len() + data.len();
        if len > limit {
            return Err(too_large(
                limit,
                format!("the request body is over {limit} bytes"),
            ));
        }
        if len > charged {
            grow(len - charged)?;
            charged = len;
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_messages_are_short_and_escaped() {
        let long = format!("invalid type: string \"{}\u{1b}[31m\"", "x".repeat(5000));
        let b = bounded(&long);
        assert!(b.len() < 220, "{}", b.len());
        let b = bounded("a\u{1b}[31mb\n");
        assert_eq!(b, "a\\u{1b}[31mb\\n");
    }

    #[test]
    fn budget_units_round_up() {
        assert_eq!(budget_units(0), 0);
        assert_eq!(budget_units(1), 1);
        assert_eq!(budget_units(1024), 1);
        assert_eq!(budget_units(1025), 2);
    }
}
