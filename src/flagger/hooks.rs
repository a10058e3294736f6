//! `POST /hooks/flagger/event`, `/hooks/flagger/gate/promote`, `/hooks/flagger/gate/rollback`.
//! Authenticated by a token in `metadata.token` or `?token=`.

use crate::auth::matches_any;
use crate::config::{Config, ServiceConfig};
use crate::domain::{Choice, DeployInfo, Input, PipelineEvent};
use crate::engine::Engine;
use crate::server::{ApiError, AppState, Counters};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

#[derive(Clone)]
pub struct FlaggerHooks {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
}

pub fn routes(state: FlaggerHooks) -> Router<AppState> {
    Router::new()
        .route("/hooks/flagger/event", post(event))
        .route("/hooks/flagger/gate/promote", post(gate_promote))
        .route("/hooks/flagger/gate/rollback", post(gate_rollback))
        .with_state(state)
}

type Q = Query<HashMap<String, String>>;

/// Reads a Flagger webhook body and checks its token (`metadata.token`, else `?token=`): 401
/// when the token is missing or wrong, 400 when the body is not JSON.
pub fn read_payload(
    query_token: Option<&str>,
    body: &[u8],
    tokens: &[String],
) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let token = v["metadata"]["token"].as_str().or(query_token);
    if !token.is_some_and(|t| matches_any(t.trim().as_bytes(), tokens)) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong Flagger token (metadata.token or ?token=)",
        ));
    }
    if v.is_null() {
        return Err(ApiError::bad_request("malformed Flagger payload: not JSON"));
    }
    use crate::limits as l;
    let text = |key: &str| v[key].as_str().unwrap_or_default();
    let meta = |key: &str| v["metadata"][key].as_str();
    let mut c = l::FieldCheck::new();
    c.text("name", text("name"), l::K8S_NAME)
        .text("namespace", text("namespace"), l::K8S_NAME)
        .text("phase", text("phase"), l::STATUS)
        .opt(
            "metadata.eventMessage",
            meta("eventMessage"),
            l::DESCRIPTION,
        )
        .opt("metadata.revision", meta("revision"), l::VERSION);
    c.into_result().map_err(ApiError::bad_request)?;
    Ok(v)
}

impl FlaggerHooks {
    /// Token check, then the body; the error is the answer to give.
    fn open(&self, query: &HashMap<String, String>, body: &[u8]) -> Result<Value, ApiError> {
        let tokens = self
            .config
            .flagger
            .as_ref()
            .map(|f| f.tokens.clone())
            .unwrap_or_default();
        read_payload(query.get("token").map(String::as_str), body, &tokens).inspect_err(|e| {
            if e.status == StatusCode::UNAUTHORIZED {
                self.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            }
        })
    }

    fn service(&self, v: &Value) -> Result<&ServiceConfig, ApiError> {
        let name = v["name"].as_str().unwrap_or_default();
        let namespace = v["namespace"].as_str().unwrap_or_default();
        self.config
            .services
            .iter()
            .find(|s| {
                s.flagger
                    .as_ref()
                    .is_some_and(|f| f.name == name && f.namespace == namespace)
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no service is configured for Flagger canary {namespace}/{name}"),
                )
            })
    }

    /// The canary's current deploy: the service's latest in that namespace.
    async fn current(
        &self,
        service: &str,
        namespace: &str,
    ) -> Option<(String, crate::domain::State)> {
        let rows = self
            .engine
            .store()
            .deploys_where(Some(service), None, crate::store::Drills::Exclude, 20)
            .await
            .ok()?;
        rows.into_iter()
            .find(|r| r.environment == namespace)
            .map(|r| (r.id, r.state))
    }

    async fn gate(&self, query: &HashMap<String, String>, body: &[u8], gate: Choice) -> Response {
        let v = match self.open(query, body) {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        let service = match self.service(&v) {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
        let namespace = v["namespace"].as_str().unwrap_or_default();
        let Some((id, _)) = self.current(&service.name, namespace).await else {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "no canarybot deploy for this canary yet",
            )
            .into_response();
        };
        let applied = match self
            .engine
            .apply(
                &id,
                Input::Gate {
                    gate,
                    asked_by: "flagger".into(),
                },
                "flagger",
            )
            .await
        {
            Ok(a) => a,
            Err(e) => return ApiError::from(e).into_response(),
        };
        if applied.deploy.gate_open(gate) {
            (
                StatusCode::OK,
                axum::Json(json!({"deploy_id": id, "gate": gate.as_str(), "open": true})),
            )
                .into_response()
        } else {
            ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{id} is {}: no {} decision yet",
                    applied.deploy.state.as_str(),
                    gate.as_str()
                ),
            )
            .into_response()
        }
    }
}

async fn gate_promote(State(s): State<FlaggerHooks>, Query(q): Q, body: Bytes) -> Response {
    s.gate(&q, &body, Choice::Promote).await
}

async fn gate_rollback(State(s): State<FlaggerHooks>, Query(q): Q, body: Bytes) -> Response {
    s.gate(&q, &body, Choice::Rollback).await
}

async fn event(State(s): State<FlaggerHooks>, Query(q): Q, body: Bytes) -> Response {
    let v = match s.open(&q, &body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let service = match s.service(&v) {
        Ok(svc) => svc,
        Err(e) => return e.into_response(),
    };
    let namespace = v["namespace"].as_str().unwrap_or_default().to_string();
    let phase = v["phase"].as_str().unwrap_or_default().to_string();
    let message = v["metadata"]["eventMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let current = s.current(&service.name, &namespace).await;
    let active = current.as_ref().filter(|(_, state)| {
        use crate::domain::State;
        !matches!(
            state,
            State::Promoted | State::Failed | State::RollbackVerified | State::RolledBack
        )
    });
    let Some((id, _)) = active.cloned() else {
        if phase != "Progressing" {
            return (StatusCode::ACCEPTED, axum::Json(json!({"ignored": format!("no active deploy for {namespace}/{}; phase {phase}", service.name)}))).into_response();
        }
        // Flagger started analysing a canary canarybot has not seen: that is a deploy.
        let version = v["metadata"]["revision"]
            .as_str()
            .map(crate::server::hooks::id_part)
            .unwrap_or_else(|| format!("canary-{}", s.engine.now() / 1000));
        let info = DeployInfo {
            id: format!(
                "{}:{}:{version}",
                service.name,
                crate::server::hooks::id_part(&namespace)
            ),
            service: service.name.clone(),
            environment: namespace.clone(),
            version,
            sha: None,
            actor: Some("flagger".into()),
            description: (!message.is_empty()).then_some(message),
            url: None,
            ..DeployInfo::default()
        };
        let policy = match s
            .config
            .lock_policy(service, Vec::new(), &info, s.engine.now())
        {
            Ok(p) => p,
            Err(e) => return ApiError::bad_request(e).into_response(),
        };
        return match s.engine.start(info, policy, "flagger").await {
            Ok(a) => (
                StatusCode::ACCEPTED,
                axum::Json(
                    json!({"deploy_id": a.deploy.info.id, "state": a.deploy.state.as_str()}),
                ),
            )
                .into_response(),
            Err(e) => ApiError::from(e).into_response(),
        };
    };
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    let input = match phase.as_str() {
        "Succeeded" => Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: Some("flagger".into()),
            description: Some(format!("Flagger promoted the canary{said}")),
        },
        "Failed" => Input::Pipeline {
            event: PipelineEvent::RolledBack,
            actor: Some("flagger".into()),
            description: Some(format!("Flagger rolled the canary back{said}")),
        },
        _ => Input::Note {
            actor: "flagger".into(),
            text: format!("Flagger phase {phase}{said}"),
            announce: false,
        },
    };
    match s.engine.apply(&id, input, "flagger").await {
        Ok(a) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"deploy_id": id, "state": a.deploy.state.as_str()})),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
