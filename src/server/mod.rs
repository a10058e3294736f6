//! The HTTP surface: one file per inbound surface; every request authenticated before it is
//! parsed; errors are JSON `{"error": "…"}` naming what is wrong.

pub mod api;
pub mod gates;
pub mod metrics;
pub mod pages;
pub mod serve;

pub use serve::serve;

use crate::http::{ApiError, AppState, PathMatch, Surface};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

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

/// Every inbound surface, in `/metrics` order: the registry's (deploy sources, metric sources,
/// chat platforms), then the server's own.
pub fn surfaces() -> impl Iterator<Item = Surface> {
    crate::registry::surfaces().chain(OWN_SURFACES)
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
        .merge(gates::routes(state.clone()))
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
