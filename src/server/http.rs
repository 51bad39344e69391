//! The HTTP side of `serve` in axum's idiom: routes, bearer authentication, Verifik-style errors
//! (`impl IntoResponse for ApiError`), a request log that records every refusal, and `/health`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::conn::Table;
use super::extract::{Admission, VerifikJson};
use super::pool::{SubmitError, Submitter, Task};
use super::{Timeouts, COMPARE_LIVE_PATH, COMPARE_PATH, HEALTH_PATH, LIVENESS_PATH};
use crate::api::{ApiError, BearerToken, CompareRequest, LivenessRequest};
use crate::engine::ModelRef;
use crate::vision::liveness::DEFAULT_LIVENESS_MIN_SCORE;

/// What the router is built from.
pub(super) struct Settings {
    pub token: Option<BearerToken>,
    pub body_limit: usize,
    pub body_budget: usize,
    pub submitter: Submitter,
    pub workers: usize,
    pub queue: usize,
    pub timeouts: Timeouts,
    pub engine: String,
    pub models: Vec<ModelRef>,
    pub connections: Arc<Table>,
}

pub(super) struct AppState {
    pub token: Option<BearerToken>,
    pub body_limit: usize,
    pub body_budget: usize,
    pub submitter: Submitter,
    pub workers: usize,
    pub queue: usize,
    pub timeouts: Timeouts,
    /// One permit per worker and queue place, taken before the body is read.
    pub admission: Arc<Semaphore>,
    /// Body bytes (in KiB) held by admitted requests, across all of them.
    pub budget: Arc<Semaphore>,
    engine: String,
    models: Vec<ModelRef>,
    connections: Arc<Table>,
}

pub(super) type Shared = Arc<AppState>;

impl AppState {
    pub fn new(s: Settings) -> Shared {
        Arc::new(Self {
            admission: Arc::new(Semaphore::new(s.workers + s.queue)),
            budget: Arc::new(Semaphore::new(s.body_budget.div_ceil(1024))),
            token: s.token,
            body_limit: s.body_limit,
            body_budget: s.body_budget,
            submitter: s.submitter,
            workers: s.workers,
            queue: s.queue,
            timeouts: s.timeouts,
            engine: s.engine,
            models: s.models,
            connections: s.connections,
        })
    }

    pub fn busy_error(&self) -> ApiError {
        ApiError::new(
            503,
            "server_busy",
            format!(
                "all {} engine workers are busy and {} requests are waiting; retry shortly",
                self.workers, self.queue
            ),
        )
    }

    pub fn budget_error(&self) -> ApiError {
        ApiError::new(
            503,
            "server_busy",
            format!(
                "the server is receiving as many request bodies as it holds at once ({} MiB); retry shortly",
                self.body_budget >> 20
            ),
        )
    }

    pub fn stopping_error(&self) -> ApiError {
        ApiError::new(503, "shutting_down", "the server is shutting down")
    }

    /// Queues a task and waits for its signed record; `admission` is held until then.
    async fn decide(&self, task: Task, admission: Admission) -> Result<Value, ApiError> {
        let reply = self.submitter.try_submit(task).map_err(|e| match e {
            SubmitError::Full => self.busy_error(),
            SubmitError::Closed => self.stopping_error(),
        })?;
        let answer = reply.await.map_err(|_| {
            ApiError::new(503, "shutting_down", "the server stopped before answering")
        })?;
        drop(admission);
        answer
    }
}

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route(COMPARE_PATH, post(compare))
        .route(COMPARE_LIVE_PATH, post(compare_live))
        .route(LIVENESS_PATH, post(liveness))
        // Authenticate before the body is read: an anonymous client cannot make the server
        // buffer 25 MB. (`route_layer` covers the routes above, not `/health` below.)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .route(HEALTH_PATH, get(health))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// The error code of a refusal, for the request log.
#[derive(Debug, Clone)]
struct Refusal(String);

/// A Verifik-style error answer: `{"error": .., "code": .., "status": ..}` with that status;
/// 401 names the scheme (`WWW-Authenticate: Bearer`), 503 says when to retry (`Retry-After`).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.to_json())).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response.extensions_mut().insert(Refusal(self.code));
        response
    }
}

/// Logs every answer: refusals at `info` (client errors) or `warn` (authentication, size,
/// timeouts, busy, server errors), successes at `debug`. Never a header: the token is in one.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // A URI path has no control characters (hyper refuses them); it can still be long.
    let path: String = request.uri().path().chars().take(120).collect();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "-".into());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let code = response
        .extensions()
        .get::<Refusal>()
        .map(|r| r.0.as_str())
        .unwrap_or("-");
    match status {
        401 | 403 | 408 | 413 | 429 | 500..=599 => {
            tracing::warn!(%peer, %method, %path, status, code, ms, "refused")
        }
        400..=499 => tracing::info!(%peer, %method, %path, status, code, ms, "refused"),
        _ => tracing::debug!(%peer, %method, %path, status, ms, "answered"),
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        404,
        "not_found",
        "no such endpoint; use POST /v2/face-recognition/compare, /compare-live or /liveness",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "method_not_allowed", "use POST with a JSON body")
}

async fn authenticate(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(token) = &state.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::api::auth::parse_bearer);
        match presented {
            None => {
                return Err(ApiError::new(
                    401,
                    "missing_token",
                    "this server needs an `Authorization: Bearer <token>` header",
                ))
            }
            Some(p) if !token.matches(p) => {
                return Err(ApiError::new(
                    401,
                    "invalid_token",
                    "the bearer token is not valid for this server",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(next.run(request).await)
}

async fn compare(
    State(state): State<Shared>,
    VerifikJson(body, admission): VerifikJson<CompareRequest>,
) -> Result<Json<Value>, ApiError> {
    let mut request = body.validate(false)?;
    // The base64 strings go before the wait: only the decoded images stay queued.
    drop(body);
    // Verifik's plain compare has no liveness check; compare-live is the endpoint for that.
    request.liveness_min_score = None;
    state
        .decide(Task::Compare { request }, admission)
        .await
        .map(Json)
}

async fn compare_live(
    State(state): State<Shared>,
    VerifikJson(body, admission): VerifikJson<CompareRequest>,
) -> Result<Json<Value>, ApiError> {
    let request = body.validate(true)?;
    drop(body);
    state
        .decide(Task::Compare { request }, admission)
        .await
        .map(Json)
}

async fn liveness(
    State(state): State<Shared>,
    VerifikJson(body, admission): VerifikJson<LivenessRequest>,
) -> Result<Json<Value>, ApiError> {
    let valid = body.validate(DEFAULT_LIVENESS_MIN_SCORE)?;
    drop(body);
    let task = Task::Liveness {
        image: valid.image,
        min_score: valid.min_score,
    };
    state.decide(task, admission).await.map(Json)
}

/// What is loaded and how busy the server is; no authentication, so nothing secret (no token,
/// no paths, no key).
async fn health(State(state): State<Shared>) -> Json<Value> {
    let busy = state.submitter.busy().min(state.workers);
    let admitted =
        (state.workers + state.queue).saturating_sub(state.admission.available_permits());
    let budget_used = state
        .body_budget
        .div_ceil(1024)
        .saturating_sub(state.budget.available_permits())
        * 1024;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "engine": state.engine,
        "models": state.models,
        "modelsLoaded": true,
        "workers": { "total": state.workers, "busy": busy, "free": state.workers - busy },
        "requests": { "admitted": admitted, "capacity": state.workers + state.queue },
        "bodyBytes": { "held": budget_used, "budget": state.body_budget },
        "connections": { "open": state.connections.len(), "max": state.connections.max() },
    }))
}
