//! The read API (deploys, timelines) and the votes API, behind bearer tokens when configured.

use crate::auth::api_token_ok;
use crate::domain::{Choice, EventData, Input, Vote};
use crate::http::{ApiError, AppState};
use crate::present::export::{deploy_json, to_json};
use crate::present::postmortem::to_markdown;
use crate::present::{RenderedEffect, chat::RenderedChat};
use crate::store::Drills;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use std::sync::atomic::Ordering;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/deploys", get(list_deploys))
        .route("/api/drills", get(list_drills).post(start_drill))
        .route("/api/deploys/{id}", get(one_deploy))
        .route("/api/deploys/{id}/timeline", get(timeline_json))
        .route("/api/deploys/{id}/timeline.md", get(timeline_md))
        .route("/api/deploys/{id}/votes", post(cast_vote))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// The token rule of the API and the web pages (see [`api_token_ok`]). Browsers are asked for
/// the token as an HTTP Basic password.
pub async fn require_token(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let tokens = &s.config.server.api_tokens;
    if !tokens.is_empty() {
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if !api_token_ok(header, req.uri().query(), tokens) {
            s.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                if header.is_none() {
                    "missing Authorization: Bearer <token> header"
                } else {
                    "API token not accepted"
                },
            )
            .into_response();
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Basic realm=\"canarybot\""),
            );
            return resp;
        }
    }
    next.run(req).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
    state: Option<String>,
    limit: Option<i64>,
    /// `exclude` (default), `include` or `only`.
    drills: Option<String>,
    /// The token may come in the query (see `require_token`).
    #[serde(rename = "token")]
    _token: Option<String>,
}

/// A list's `limit`: 100 when not given, else 1 to `max`; anything else is refused by name.
pub fn list_limit(limit: Option<i64>, max: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit: `{n}` is out of range; give a number from 1 to {max} (default 100)"
        ))),
    }
}

/// Query-string values of the API and the pages, each at most `limits::QUERY_PARAM` long.
pub fn query_limits(params: &[(&str, Option<&str>)]) -> Result<(), ApiError> {
    let mut c = crate::limits::FieldCheck::new();
    for (name, value) in params {
        c.opt(name, *value, crate::limits::QUERY_PARAM);
    }
    c.into_result().map_err(ApiError::bad_request)
}

/// A deploy id in a path.
pub fn path_id_limit(id: &str) -> Result<(), ApiError> {
    let mut c = crate::limits::FieldCheck::new();
    c.text("deploy id", id, crate::limits::DEPLOY_ID);
    c.into_result().map_err(ApiError::bad_request)
}

/// `?state=`: one deploy state, by name.
fn state_param(v: Option<&str>) -> Result<Option<crate::domain::State>, ApiError> {
    v.map(|s| {
        s.parse()
            .map_err(|e| ApiError::bad_request(format!("state: {e}")))
    })
    .transpose()
}

/// `?drills=`: real deploys only unless asked.
pub fn drills_param(v: Option<&str>) -> Result<Drills, ApiError> {
    match v.unwrap_or("exclude") {
        "exclude" => Ok(Drills::Exclude),
        "include" => Ok(Drills::Include),
        "only" => Ok(Drills::Only),
        other => Err(ApiError::bad_request(format!(
            "drills: `{other}` is not one of exclude, include, only"
        ))),
    }
}

async fn list_deploys(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    query_limits(&[
        ("service", q.service.as_deref()),
        ("state", q.state.as_deref()),
        ("drills", q.drills.as_deref()),
    ])?;
    let limit = list_limit(q.limit, 1000)?;
    let rows = s
        .engine
        .store()
        .deploys_where(
            q.service.as_deref(),
            state_param(q.state.as_deref())?,
            drills_param(q.drills.as_deref())?,
            limit,
        )
        .await
        .map_err(crate::engine::EngineError::from)?;
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "service": r.service,
                "environment": r.environment,
                "version": r.version,
                "state": r.state.as_str(),
                "started_at": crate::present::words::rfc3339(r.created_at_ms),
                "updated_at": crate::present::words::rfc3339(r.updated_at_ms),
                "drill": r.drill,
            })
        })
        .collect();
    Ok(axum::Json(list).into_response())
}

async fn one_deploy(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    path_id_limit(&id)?;
    let (deploy, events) = s.engine.load(&id).await?;
    let updated = events
        .last()
        .map(|e| e.at_ms)
        .unwrap_or(deploy.started_at_ms);
    Ok(axum::Json(deploy_json(&deploy, updated)).into_response())
}

async fn timeline_json(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    path_id_limit(&id)?;
    let (deploy, events) = s.engine.load(&id).await?;
    let links = crate::report::message_links(s.engine.store(), &s.config, &id, &events).await?;
    Ok(axum::Json(to_json(&deploy, &events, &links)).into_response())
}

async fn timeline_md(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    path_id_limit(&id)?;
    let pm = crate::report::postmortem(
        s.engine.store(),
        &s.config,
        &id,
        crate::report::Charts::Left,
    )
    .await?;
    Ok((
        [("content-type", "text/markdown; charset=utf-8")],
        to_markdown(&pm),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrillsQuery {
    service: Option<String>,
    /// The token may come in the query (see `require_token`).
    #[serde(rename = "token")]
    _token: Option<String>,
}

async fn list_drills(
    State(s): State<AppState>,
    Query(q): Query<DrillsQuery>,
) -> Result<Response, ApiError> {
    query_limits(&[("service", q.service.as_deref())])?;
    if let Some(svc) = &q.service
        && s.config.service(svc).is_none()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "service: unknown service `{svc}` (services: {})",
                s.config.service_names().join(", ")
            ),
        ));
    }
    let history = crate::drill::drill_history(s.engine.store(), q.service.as_deref())
        .await
        .map_err(crate::engine::EngineError::from)?;
    Ok(axum::Json(crate::present::drills::to_json(&history)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrillBody {
    service: String,
    /// `30s`, `2m`: when the synthetic breach starts (default 30s).
    #[serde(default)]
    breach_after: Option<String>,
    /// Who starts it, for the timeline (default `api`).
    #[serde(default)]
    actor: Option<String>,
    /// Whether the drill's escalation pages through `[pagerduty]`/`[opsgenie]` (default no).
    #[serde(default)]
    page: bool,
}

/// Starts a rollback drill; answers 201 with the drill's id and page.
async fn start_drill(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: DrillBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed body: {e}")))?;
    {
        use crate::limits as l;
        let mut c = l::FieldCheck::new();
        c.text("service", &b.service, l::SERVICE)
            .opt("breach_after", b.breach_after.as_deref(), l::STATUS)
            .opt("actor", b.actor.as_deref(), l::ACTOR);
        c.into_result().map_err(ApiError::bad_request)?;
    }
    let breach_after_s = match b.breach_after.as_deref() {
        None => crate::drill::DEFAULT_BREACH_AFTER_S,
        Some(t) => humantime::parse_duration(t)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "breach_after: `{t}` is not a duration like 30s or 2m ({e})"
                ))
            })?
            .as_secs(),
    };
    let actor = b.actor.unwrap_or_else(|| "api".into());
    let applied = crate::drill::start_drill(
        &s.engine,
        &s.config,
        &b.service,
        breach_after_s,
        b.page,
        &actor,
        "drills-api",
    )
    .await
    .map_err(|e| match e {
        crate::drill::DrillError::Refused(m) if m.starts_with("service:") => {
            ApiError::new(StatusCode::NOT_FOUND, m)
        }
        crate::drill::DrillError::Refused(m) if m.starts_with("a drill") => {
            ApiError::new(StatusCode::CONFLICT, m)
        }
        crate::drill::DrillError::Refused(m) => ApiError::bad_request(m),
        crate::drill::DrillError::Engine(e) => e.into(),
    })?;
    let d = &applied.deploy;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "id": d.info.id,
            "service": d.info.service,
            "state": d.state.as_str(),
            "breach_after_s": breach_after_s,
            "page_url": d.info.page_url,
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoteBody {
    /// Platform identity, e.g. `slack:U01ALICE`.
    identity: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    choice: Choice,
    #[serde(default)]
    reason: Option<String>,
}

/// A vote from a trusted integration; the caller vouches for the identity it names.
async fn cast_vote(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    path_id_limit(&id)?;
    let v: VoteBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed body: {e}")))?;
    {
        use crate::limits as l;
        let mut c = l::FieldCheck::new();
        c.text("identity", &v.identity, l::IDENTITY)
            .opt("name", v.name.as_deref(), l::IDENTITY)
            .count("groups", v.groups.len(), l::GROUPS)
            .opt("reason", v.reason.as_deref(), l::REASON);
        for (i, g) in v.groups.iter().enumerate() {
            c.text(&format!("groups[{i}]"), g, l::IDENTITY);
        }
        c.into_result().map_err(ApiError::bad_request)?;
    }
    if let Err(e) = crate::registry::parse_person(&v.identity) {
        return Err(ApiError::bad_request(format!("identity: {e}")));
    }
    let name = v.name.clone().unwrap_or_else(|| v.identity.clone());
    let vote = Vote {
        voter: s.config.voter(&v.identity, &name, v.groups),
        choice: v.choice,
        reason: v.reason.filter(|r| !r.trim().is_empty()),
    };
    let applied = s.engine.apply(&id, Input::Vote(vote), "votes-api").await?;
    let notice = applied.outcome.effects.iter().find_map(|e| match e {
        RenderedEffect::Chat(RenderedChat::Notice { text, .. }) => Some(text.clone()),
        _ => None,
    });
    let denied = applied
        .outcome
        .events
        .iter()
        .any(|e| matches!(e.data, EventData::VoteDenied { .. }));
    let counted = applied
        .outcome
        .events
        .iter()
        .any(|e| matches!(e.data, EventData::VoteCast { .. }));
    let decided = applied.outcome.events.iter().find_map(|e| match &e.data {
        EventData::Decision { id, action, .. } => Some(json!({"id": id, "action": action})),
        _ => None,
    });
    let mut body = json!({
        "deploy_id": id,
        "state": applied.deploy.state.as_str(),
        "counted": counted,
        "decision": decided,
        "notice": notice,
    });
    // A rollback decided but not executed: a newer deploy started after this one.
    if let Some(held) = applied.deploy.rollback_held() {
        body["rollback_held_for"] =
            json!({"deploy_id": held.newer_id, "version": held.newer_version});
    }
    let status = if denied {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            notice.unwrap_or_else(|| "not a decider".into()),
        ));
    } else if counted {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CONFLICT
    };
    Ok((status, axum::Json(body)).into_response())
}
