//! The web pages: the list of deploys and each deploy's postmortem, as plain HTML with inline SVG
//! (no scripts, no external assets), behind the same token rule as the API.

use super::api::{drills_param, require_token};
use crate::http::{ApiError, AppState};
use crate::present::page::{ListRow, deploy_page, deploys_page};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/deploys", get(list))
        .route("/deploys/{id}", get(one))
        .route("/deploys/{id}/charts/{file}", get(chart_png))
        .route("/services/{name}", get(service))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
    /// `exclude` (default), `include` or `only`.
    drills: Option<String>,
    limit: Option<i64>,
    #[serde(rename = "token")]
    _token: Option<String>,
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    super::api::query_limits(&[
        ("service", q.service.as_deref()),
        ("drills", q.drills.as_deref()),
    ])?;
    let drills = drills_param(q.drills.as_deref())?;
    let store = s.engine.store();
    let rows = store
        .deploys_where(
            q.service.as_deref(),
            None,
            drills,
            super::api::list_limit(q.limit, 500)?,
        )
        .await
        .map_err(crate::engine::EngineError::from)?;
    let mut list = Vec::with_capacity(rows.len());
    for r in rows {
        let events = store
            .events(&r.id)
            .await
            .map_err(crate::engine::EngineError::from)?
            .unwrap_or_default();
        list.push(ListRow {
            phases: crate::domain::timeline::phases(&events),
            id: r.id,
            service: r.service,
            version: r.version,
            environment: r.environment,
            state: r.state,
            drill: r.drill,
            started_at_ms: r.created_at_ms,
        });
    }
    let shown = drills != crate::store::Drills::Exclude;
    Ok(Html(deploys_page(&list, shown)).into_response())
}

async fn one(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    super::api::path_id_limit(&id)?;
    let pm = crate::report::postmortem(
        s.engine.store(),
        &s.config,
        &id,
        crate::report::Charts::Drawn,
    )
    .await?;
    Ok(Html(deploy_page(&pm)).into_response())
}

/// `GET /deploys/{id}/charts/{criterion}.png`: one criterion's chart as the image chat gets (the
/// canary so far, at most its last 30 minutes). The criterion is URL-decoded (names have spaces).
async fn chart_png(
    State(s): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    super::api::path_id_limit(&id)?;
    let not_found = |message: String| ApiError::new(axum::http::StatusCode::NOT_FOUND, message);
    let Some(criterion) = file.strip_suffix(".png") else {
        return Err(not_found(format!(
            "no chart `{file}`: charts are `<criterion>.png`"
        )));
    };
    let mut c = crate::limits::FieldCheck::new();
    c.text("criterion", criterion, crate::limits::CRITERION);
    c.into_result().map_err(ApiError::bad_request)?;
    let pm = crate::report::postmortem(
        s.engine.store(),
        &s.config,
        &id,
        crate::report::Charts::Drawn,
    )
    .await?;
    let criterion = criterion.to_string();
    // Drawing is CPU work: off the runtime's threads.
    let image = tokio::task::spawn_blocking(move || {
        crate::present::chart_png::criterion_png(&pm, &criterion, None)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("drawing the chart: {e}"),
        )
    })?
    .map_err(not_found)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        image.png,
    )
        .into_response())
}

/// A service's own timeline: freezes and GitHub reviews.
async fn service(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    super::api::path_id_limit(&name)?;
    if s.config.service(&name).is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "unknown service `{name}` (services: {})",
                s.config.service_names().join(", ")
            ),
        ));
    }
    let store = s.engine.store();
    let now = s.engine.now();
    let frozen = crate::gate::frozen(store, &s.config, &name, now)
        .await
        .map_err(crate::engine::EngineError::from)?;
    let rows: Vec<crate::present::page::ServiceRow> = store
        .service_events(&name, 500)
        .await
        .map_err(crate::engine::EngineError::from)?
        .into_iter()
        .map(|e| crate::present::page::ServiceRow {
            at_ms: e.at_ms,
            kind: e.kind,
            actor: e.actor,
            summary: e.summary,
        })
        .collect();
    Ok(Html(crate::present::page::service_page(
        &name,
        frozen.as_ref(),
        &rows,
    ))
    .into_response())
}
