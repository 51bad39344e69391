//! The HTTP side of `serve`: routes, bearer authentication, body checks, Verifik-style errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::pool::{SubmitError, Submitter, Task};
use super::{COMPARE_LIVE_PATH, COMPARE_PATH, LIVENESS_PATH};
use crate::api::{ApiError, BearerToken, CompareRequest, LivenessRequest};
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;

pub(super) struct AppState {
    pub token: Option<BearerToken>,
    pub body_limit: usize,
    pub submitter: Submitter,
    pub workers: usize,
    pub queue: usize,
}

type Shared = Arc<AppState>;

pub(super) fn router(state: Shared, body_limit: usize) -> Router {
    Router::new()
        .route(COMPARE_PATH, post(compare))
        .route(COMPARE_LIVE_PATH, post(compare_live))
        .route(LIVENESS_PATH, post(liveness))
        // Authenticate before the body is read: an anonymous client cannot make the server
        // buffer 25 MB.
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(DefaultBodyLimit::max(body_limit))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(state)
}

/// A Verifik-style error answer: `{"error": .., "code": .., "status": ..}` with that status.
fn error_response(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, &e.to_json());
    match status {
        StatusCode::UNAUTHORIZED => {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    error_response(ApiError::new(
        404,
        "not_found",
        "no such endpoint; use POST /v2/face-recognition/compare, /compare-live or /liveness",
    ))
}

async fn method_not_allowed() -> Response {
    error_response(ApiError::new(
        405,
        "method_not_allowed",
        "use POST with a JSON body",
    ))
}

async fn authenticate(State(state): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::api::auth::parse_bearer);
        let refusal = match presented {
            None => Some(ApiError::new(
                401,
                "missing_token",
                "this server needs an `Authorization: Bearer <token>` header",
            )),
            Some(p) if !token.matches(p) => Some(ApiError::new(
                401,
                "invalid_token",
                "the bearer token is not valid for this server",
            )),
            Some(_) => None,
        };
        if let Some(e) = refusal {
            drain(request.into_body(), state.body_limit).await;
            return error_response(e);
        }
    }
    next.run(request).await
}

/// Reads and discards a refused request's body (never buffering it, and no further than the body
/// limit), so that a client still sending gets the 401 rather than a broken pipe.
async fn drain(mut body: axum::body::Body, limit: usize) {
    use axum::body::HttpBody;
    let mut seen = 0usize;
    while let Some(Ok(frame)) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        seen = seen.saturating_add(frame.data_ref().map_or(0, |d| d.len()));
        if seen > limit {
            break;
        }
    }
}

/// Checks the content type and the body, and parses the JSON.
fn read_json<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                413,
                "request_too_large",
                "the request body is larger than this server accepts",
            )
        } else {
            ApiError::invalid(format!("could not read the request body: {rejection}"))
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            "send the request as `Content-Type: application/json`",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the body is not a valid request: {e}")))
}

/// Queues a task and waits for its signed record.
async fn dispatch(state: &AppState, task: Task) -> Response {
    let reply = match state.submitter.try_submit(task) {
        Ok(r) => r,
        Err(SubmitError::Full) => {
            return error_response(ApiError::new(
                503,
                "server_busy",
                format!(
                    "all {} engine workers are busy and {} requests are waiting; retry shortly",
                    state.workers, state.queue
                ),
            ))
        }
        Err(SubmitError::Closed) => {
            return error_response(ApiError::new(
                503,
                "shutting_down",
                "the server is shutting down",
            ))
        }
    };
    match reply.await {
        Ok(Ok(record)) => json_response(StatusCode::OK, &record),
        Ok(Err(e)) => error_response(e),
        Err(_) => error_response(ApiError::new(
            503,
            "shutting_down",
            "the server stopped before answering",
        )),
    }
}

async fn compare(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    compare_endpoint(&state, &headers, body, false).await
}

async fn compare_live(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    compare_endpoint(&state, &headers, body, true).await
}

async fn compare_endpoint(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    live: bool,
) -> Response {
    let request = match read_json::<CompareRequest>(headers, body).and_then(|r| r.validate(live)) {
        Ok(r) => r,
        Err(e) => return error_response(e),
    };
    let mut request = request;
    if !live {
        // Verifik's plain compare has no liveness check; compare-live is the endpoint for that.
        request.liveness_min_score = None;
    }
    dispatch(state, Task::Compare { request }).await
}

async fn liveness(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let task = read_json::<LivenessRequest>(&headers, body)
        .and_then(|r| r.validate(DEFAULT_LIVENESS_MIN_SCORE))
        .map(|v| Task::Liveness {
            image: v.image,
            min_score: v.min_score,
        });
    match task {
        Ok(task) => dispatch(&state, task).await,
        Err(e) => error_response(e),
    }
}
