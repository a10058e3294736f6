//! The HTTP surface: one file per inbound surface; every request authenticated before it is
//! parsed; errors are JSON `{"error": "…"}` naming what is wrong.

pub mod api;
pub mod hooks;
pub mod metrics;
pub mod pages;
pub mod serve;

pub use serve::serve;

use crate::Clock;
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
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Largest request body accepted by default (`server.max_body`).
pub const BODY_LIMIT: usize = crate::limits::DEFAULT_MAX_BODY;

/// Paths a surface serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    Exact(&'static str),
    /// Every path under this one (`/slack/` serves `/slack/commands`, …).
    Prefix(&'static str),
}

impl PathMatch {
    pub fn matches(self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p),
        }
    }
}

/// One inbound surface as `/metrics` labels it, and the paths it serves. The chat platforms, deploy
/// sources and metric sources bring theirs from `crate::registry`; the server's own are
/// [`OWN_SURFACES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surface {
    pub label: &'static str,
    pub paths: &'static [PathMatch],
}

/// The surfaces the server serves itself, whatever is configured. `other` is everything else.
pub const OWN_SURFACES: [Surface; 2] = [
    Surface {
        label: "api",
        paths: &[PathMatch::Prefix("/api/")],
    },
    Surface {
        label: "pages",
        paths: &[PathMatch::Exact("/deploys"), PathMatch::Prefix("/deploys/")],
    },
];

/// The label of requests no surface claims.
pub const OTHER_SURFACE: &str = "other";

/// The limits a request can be refused by, as `/metrics` labels them (the `[server]` keys).
pub const LIMITS: [&str; 5] = [
    "max_body",
    "max_header_bytes",
    "max_uri",
    "body_timeout",
    "request_timeout",
];

pub struct Counters {
    pub auth_failures: AtomicU64,
    pub webhooks_accepted: AtomicU64,
    pub redeliveries: AtomicU64,
    /// Alertmanager alerts that matched no active canary.
    pub alerts_unmatched: Arc<AtomicU64>,
    /// The labels of `refused`, in order: the surfaces given to [`Counters::new`], then `other`.
    surfaces: Vec<Surface>,
    /// 401 answers, per entry of `surfaces`.
    refused: Vec<AtomicU64>,
    /// Requests refused by a limit, per entry of [`LIMITS`].
    pub limited: [AtomicU64; LIMITS.len()],
}

impl Counters {
    /// Counters for these surfaces (each label once), plus `other`.
    pub fn new(surfaces: impl IntoIterator<Item = Surface>) -> Self {
        let mut list: Vec<Surface> = Vec::new();
        for s in surfaces {
            if !list.iter().any(|l| l.label == s.label) {
                list.push(s);
            }
        }
        list.push(Surface {
            label: OTHER_SURFACE,
            paths: &[],
        });
        Counters {
            auth_failures: AtomicU64::new(0),
            webhooks_accepted: AtomicU64::new(0),
            redeliveries: AtomicU64::new(0),
            alerts_unmatched: Arc::new(AtomicU64::new(0)),
            refused: list.iter().map(|_| AtomicU64::new(0)).collect(),
            surfaces: list,
            limited: Default::default(),
        }
    }

    /// The surface a request path belongs to, as `/metrics` labels it.
    pub fn surface_of(&self, path: &str) -> &'static str {
        self.surfaces
            .iter()
            .find(|s| s.paths.iter().any(|p| p.matches(path)))
            .map_or(OTHER_SURFACE, |s| s.label)
    }

    /// Counts a 401 answer on `surface`.
    pub fn refused_on(&self, surface: &str) {
        if let Some(i) = self.surfaces.iter().position(|s| s.label == surface) {
            self.refused[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// 401 answers so far, per surface label.
    pub fn refused(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.surfaces
            .iter()
            .zip(&self.refused)
            .map(|(s, n)| (s.label, n.load(Ordering::Relaxed)))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: Arc<Engine>,
    pub counters: Arc<Counters>,
    /// The outbox targets of the chat platforms this configuration delivers to (`chat:slack`):
    /// `/metrics` shows them at 0 before their first message.
    pub chat_targets: Arc<[String]>,
}

/// What an inbound surface's routes are built from, once the engine exists.
#[derive(Clone)]
pub struct Inbound {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
    pub clock: Clock,
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

/// The whole HTTP surface. `surfaces` are the inbound routers of the chat platforms, deploy sources
/// and metric sources (see `crate::registry`), served under the same limits, timeouts and error
/// shape.
pub fn router(state: AppState, surfaces: Vec<Router<AppState>>) -> Router {
    let guard = serve::Guard::new(&state.config.server, state.counters.clone());
    let max_body = guard.max_body;
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
        .route("/metrics", get(metrics::render))
        .merge(api::routes(state.clone()))
        .merge(pages::routes(state.clone()))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body))
        // Header and target size, body size and read time, handler time: see `serve::guard`.
        .layer(axum::middleware::from_fn_with_state(guard, serve::guard))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::map_response(browser_policy))
        // The request target is logged with credentials in its query (`?token=`) redacted.
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
                tracing::debug_span!(
                    "request",
                    method = %req.method(),
                    uri = %crate::redact::uri(target),
                    version = ?req.version(),
                )
            }),
        )
        .with_state(state)
}

/// What a browser may do with any answer of ours. The pages have no script of their own, so the
/// policy forbids every script, frame and remote load: a missed escape cannot run. `nosniff` keeps
/// JSON and text from being read as HTML; `no-referrer` keeps `?token=` out of other sites' logs
/// when a page links to a pipeline.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

async fn browser_policy(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    resp
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
