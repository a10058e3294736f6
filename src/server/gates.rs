//! The gate's API: may a deploy start (`/api/gate`), the freezes (`/api/freezes`), and a
//! service's own timeline (`/api/services/{name}/timeline`, `.md`). Behind the API token.

use super::api::require_token;
use crate::gate::GateError;
use crate::http::{ApiError, AppState};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/gate", get(ask_gate))
        .route("/api/freezes", get(list_freezes))
        .route("/api/services/{name}/timeline", get(service_timeline_json))
        .route("/api/services/{name}/timeline.md", get(service_timeline_md))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

fn api_error(e: GateError) -> ApiError {
    match e {
        GateError::UnknownService { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        GateError::Refused(m) => ApiError::new(StatusCode::FORBIDDEN, m),
        GateError::Store(e) => crate::engine::EngineError::Store(e).into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateQuery {
    service: String,
    environment: String,
    #[serde(default)]
    sha: Option<String>,
}

/// 200 with `{open, rule, reason, …}` whether open or not: the asker decides what to do.
async fn ask_gate(
    State(s): State<AppState>,
    Query(q): Query<GateQuery>,
) -> Result<Response, ApiError> {
    {
        use crate::limits as l;
        let mut c = l::FieldCheck::new();
        c.text("service", &q.service, l::SERVICE)
            .text("environment", &q.environment, l::ENVIRONMENT)
            .opt("sha", q.sha.as_deref(), l::SHA);
        c.into_result().map_err(ApiError::bad_request)?;
    }
    let answer = crate::gate::ask(
        s.engine.store(),
        &s.config,
        &q.service,
        &q.environment,
        q.sha.as_deref(),
        s.engine.now(),
    )
    .await
    .map_err(api_error)?;
    Ok(axum::Json(answer).into_response())
}

/// The freezes people set that hold now, and every scheduled one with whether it covers now.
async fn list_freezes(State(s): State<AppState>) -> Result<Response, ApiError> {
    let now = s.engine.now();
    let set = s
        .engine
        .store()
        .active_freezes(now)
        .await
        .map_err(|e| api_error(e.into()))?;
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now).unwrap_or_default();
    let scheduled: Vec<_> = s
        .config
        .freeze
        .scheduled()
        .iter()
        .map(|f| {
            json!({
                "services": f.services,
                "when": f.when(),
                "reason": f.reason,
                "from": f.from.map(|t| t.to_rfc3339()),
                "to": f.to.map(|t| t.to_rfc3339()),
                "weekly": f.weekly.as_ref().map(ToString::to_string),
                "active_now": f.services.iter().any(|svc| f.covers(svc, at))
                    || s.config.services.iter().any(|svc| f.covers(&svc.name, at)),
            })
        })
        .collect();
    let frozen_now: serde_json::Map<String, serde_json::Value> = {
        let mut m = serde_json::Map::new();
        for svc in &s.config.services {
            let cause = crate::gate::frozen(s.engine.store(), &s.config, &svc.name, now)
                .await
                .map_err(|e| api_error(e.into()))?;
            if let Some(cause) = cause {
                m.insert(svc.name.clone(), json!(cause));
            }
        }
        m
    };
    Ok(axum::Json(json!({
        "now_ms": now,
        "set": set,
        "scheduled": scheduled,
        "frozen_now": frozen_now,
    }))
    .into_response())
}

async fn service_events(
    s: &AppState,
    name: &str,
) -> Result<Vec<crate::store::ServiceEvent>, ApiError> {
    if s.config.service(name).is_none() {
        return Err(api_error(GateError::UnknownService {
            service: name.to_string(),
            known: s.config.service_names().join(", "),
        }));
    }
    s.engine
        .store()
        .service_events(name, 1000)
        .await
        .map_err(|e| api_error(e.into()))
}

async fn service_timeline_json(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let events = service_events(&s, &name).await?;
    Ok(axum::Json(json!({"service": name, "events": events})).into_response())
}

async fn service_timeline_md(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let events = service_events(&s, &name).await?;
    Ok((
        [("content-type", "text/markdown; charset=utf-8")],
        crate::gate::service_timeline_markdown(&name, &events),
    )
        .into_response())
}
