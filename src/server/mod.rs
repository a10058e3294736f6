//! The HTTP surface: one file per inbound surface; every request authenticated before it is
//! parsed; errors are JSON `{"error": "…"}` naming what is wrong.

pub mod api;
pub mod hooks;
pub mod pages;

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Default)]
pub struct Counters {
    pub auth_failures: AtomicU64,
    pub webhooks_accepted: AtomicU64,
    pub redeliveries: AtomicU64,
    /// Alertmanager alerts that matched no active canary.
    pub alerts_unmatched: Arc<AtomicU64>,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub counters: Arc<Counters>,
}

/// An error answer: status plus a message that names what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match &e {
            EngineError::UnknownDeploy(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            EngineError::BadInput(_) => ApiError::bad_request(e.to_string()),
            EngineError::Busy(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            // Answered as a redelivery by the delivery wrappers.
            EngineError::Duplicate(_) => ApiError::new(StatusCode::ALREADY_REPORTED, e.to_string()),
            EngineError::Store(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal store error; see the server log",
                )
            }
        }
    }
}

/// The whole HTTP surface. `surfaces` are inbound routers of chat platforms (already given their
/// own state), served under the same limits, timeouts and error shape.
pub fn router(state: AppState, surfaces: Vec<Router<AppState>>) -> Router {
    let mut router = Router::new();
    for surface in surfaces {
        router = router.merge(surface);
    }
    router
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(hooks::routes())
        .merge(api::routes(state.clone()))
        .merge(pages::routes(state.clone()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Refuses an oversized Content-Length at once, before reading the body.
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Framework rejections (bad query string, body too large, wrong method) come as plain text;
/// every error answer is JSON `{"error": "…"}`.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (_, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, message).into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.engine.store().ping().await {
        Ok(()) => axum::Json(json!({"status": "ready"})).into_response(),
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store not answering: {e}"),
        )
        .into_response(),
    }
}

/// Prometheus text format counters.
async fn metrics(State(s): State<AppState>) -> Response {
    let c = &s.counters;
    let backlog = s.engine.store().outbox_backlog().await.unwrap_or(-1);
    let body = format!(
        "# HELP canarybot_auth_failures_total Requests refused for a bad or missing signature or token.\n\
         # TYPE canarybot_auth_failures_total counter\n\
         canarybot_auth_failures_total {}\n\
         # HELP canarybot_webhooks_accepted_total Signed webhooks accepted.\n\
         # TYPE canarybot_webhooks_accepted_total counter\n\
         canarybot_webhooks_accepted_total {}\n\
         # HELP canarybot_redeliveries_total Webhook redeliveries answered from the record.\n\
         # TYPE canarybot_redeliveries_total counter\n\
         canarybot_redeliveries_total {}\n\
         # HELP canarybot_alerts_unmatched_total Alertmanager alerts that matched no active canary.\n\
         # TYPE canarybot_alerts_unmatched_total counter\n\
         canarybot_alerts_unmatched_total {}\n\
         # HELP canarybot_outbox_backlog Effects not yet delivered.\n\
         # TYPE canarybot_outbox_backlog gauge\n\
         canarybot_outbox_backlog {backlog}\n",
        c.auth_failures.load(Ordering::Relaxed),
        c.webhooks_accepted.load(Ordering::Relaxed),
        c.redeliveries.load(Ordering::Relaxed),
        c.alerts_unmatched.load(Ordering::Relaxed),
    );
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}
