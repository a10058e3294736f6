//! `POST /hooks/flagger/event`, `/hooks/flagger/gate/promote`, `/hooks/flagger/gate/rollback`,
//! `/hooks/flagger/gate/rollout` (confirm-rollout: may the canary start at all?).
//! Authenticated by a token in `metadata.token` or `?token=`.

use crate::auth::matches_any;
use crate::config::{Config, ServiceConfig};
use crate::domain::{Choice, DeployInfo, Input, PipelineEvent};
use crate::engine::Engine;
use crate::http::{ApiError, AppState, Counters};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
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
        .route("/hooks/flagger/gate/rollout", post(gate_rollout))
        .with_state(state)
}

type Q = Query<HashMap<String, String>>;

/// A Flagger webhook body (`CanaryWebhookPayload` in Flagger's source): the canary, its phase,
/// the hash of its config and free-form `metadata`. Keys canarybot does not read are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlaggerPayload {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub phase: String,
    /// The canary's config hash: every webhook about one rollout of the canary carries the same.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub metadata: FlaggerMetadata,
}

/// The `metadata` keys canarybot reads: Flagger's `eventMessage`, and what the canary's webhook
/// definition may add (`token`, `revision`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlaggerMetadata {
    pub token: Option<String>,
    #[serde(rename = "eventMessage")]
    pub event_message: Option<String>,
    pub revision: Option<String>,
}

impl FlaggerPayload {
    /// The version a deploy started by this canary gets: the `revision` its webhook names, else
    /// the config `checksum` (a re-sent phase maps to the same deploy), else `canary-<Unix
    /// seconds>` of `now_ms`.
    pub fn version(&self, now_ms: i64) -> String {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| !v.trim().is_empty())
        }
        given(&self.metadata.revision)
            .or_else(|| given(&self.checksum))
            .map(crate::limits::id_part)
            .unwrap_or_else(|| format!("canary-{}", now_ms / 1000))
    }
}

/// Only the token of a body, read apart from the rest: a body that is otherwise malformed is
/// answered 400 to the holder of a token, and 401 to anyone else.
#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    metadata: Option<TokenMetadata>,
}

#[derive(Deserialize)]
struct TokenMetadata {
    #[serde(default)]
    token: Option<String>,
}

/// Reads a Flagger webhook body and checks its token (`metadata.token`, else `?token=`): 401
/// when the token is missing or wrong, 400 when the body is not a Flagger payload.
pub fn read_payload(
    query_token: Option<&str>,
    body: &[u8],
    tokens: &[String],
) -> Result<FlaggerPayload, ApiError> {
    let body_token = serde_json::from_slice::<TokenOnly>(body)
        .ok()
        .and_then(|t| t.metadata?.token);
    let token = body_token.as_deref().or(query_token);
    if !token.is_some_and(|t| matches_any(t.trim().as_bytes(), tokens)) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong Flagger token (metadata.token or ?token=)",
        ));
    }
    let payload: FlaggerPayload = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed Flagger payload: {e}")))?;
    use crate::limits as l;
    let mut c = l::FieldCheck::new();
    c.text("name", &payload.name, l::K8S_NAME)
        .text("namespace", &payload.namespace, l::K8S_NAME)
        .text("phase", &payload.phase, l::STATUS)
        .opt("checksum", payload.checksum.as_deref(), l::VERSION)
        .opt(
            "metadata.eventMessage",
            payload.metadata.event_message.as_deref(),
            l::DESCRIPTION,
        )
        .opt(
            "metadata.revision",
            payload.metadata.revision.as_deref(),
            l::VERSION,
        );
    c.into_result().map_err(ApiError::bad_request)?;
    Ok(payload)
}

impl FlaggerHooks {
    /// Token check, then the body; the error is the answer to give.
    fn open(
        &self,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<FlaggerPayload, ApiError> {
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

    fn service(&self, v: &FlaggerPayload) -> Result<&ServiceConfig, ApiError> {
        let (name, namespace) = (&v.name, &v.namespace);
        self.config
            .services
            .iter()
            .find(|s| {
                s.flagger
                    .as_ref()
                    .is_some_and(|f| &f.name == name && &f.namespace == namespace)
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("no service is configured for Flagger canary {namespace}/{name}"),
                )
            })
    }

    /// Token, body, then the service the canary is.
    fn open_for_service(
        &self,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Result<(FlaggerPayload, &ServiceConfig), ApiError> {
        let v = self.open(query, body)?;
        let service = self.service(&v)?;
        Ok((v, service))
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
        let (v, service) = match self.open_for_service(query, body) {
            Ok(found) => found,
            Err(e) => return e.into_response(),
        };
        let Some((id, _)) = self.current(&service.name, &v.namespace).await else {
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

/// Flagger's `confirm-rollout`, asked before each step of starting a canary and polled every
/// interval while it is refused: 200 when the service's gate is open, 403 with the reason when
/// not. The canary's environment is its namespace (as for the deploys it starts); Flagger names no
/// build, so a `require_promoted_in` rule keeps it closed (`no_sha`).
async fn gate_rollout(State(s): State<FlaggerHooks>, Query(q): Q, body: Bytes) -> Response {
    let (v, service) = match s.open_for_service(&q, &body) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let answer = match crate::gate::ask(
        s.engine.store(),
        &s.config,
        &service.name,
        &v.namespace,
        None,
        s.engine.now(),
    )
    .await
    {
        Ok(a) => a,
        Err(crate::gate::GateError::Store(e)) => {
            return ApiError::from(crate::engine::EngineError::Store(e)).into_response();
        }
        Err(e) => {
            return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let canary = format!("{}/{}", v.namespace, v.name);
    if let Err(e) = crate::gate::record_rollout_answer(
        s.engine.store(),
        &service.name,
        &canary,
        &answer,
        s.engine.now(),
    )
    .await
    {
        tracing::error!(error = %e, canary, "cannot record the confirm-rollout answer");
    }
    let status = if answer.open {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let mut body = json!({
        "service": service.name,
        "environment": v.namespace,
        "open": answer.open,
        "rule": answer.rule,
        "reason": answer.reason,
    });
    if !answer.open {
        body["error"] = json!(answer.reason);
    }
    (status, axum::Json(body)).into_response()
}

async fn event(State(s): State<FlaggerHooks>, Query(q): Q, body: Bytes) -> Response {
    let (v, service) = match s.open_for_service(&q, &body) {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let namespace = v.namespace.clone();
    let phase = v.phase.clone();
    let message = v.metadata.event_message.clone().unwrap_or_default();
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
        let version = v.version(s.engine.now());
        let info = DeployInfo {
            id: format!(
                "{}:{}:{version}",
                service.name,
                crate::limits::id_part(&namespace)
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
        let a = match s.engine.start(info, policy, "flagger").await {
            Ok(a) => a,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let mut answer = json!({"deploy_id": a.deploy.info.id, "state": a.deploy.state.as_str()});
        // Without a confirm-rollout webhook Flagger starts canaries during a freeze too: the
        // thread says so, as for any deploy announced during one.
        if a.created {
            let frozen = crate::gate::note_if_frozen(
                &s.engine,
                &s.config,
                &a.deploy.info.id,
                &service.name,
                "flagger",
            )
            .await;
            match frozen {
                Ok(Some(cause)) => answer["frozen"] = json!(cause),
                Ok(None) => {}
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
        return (StatusCode::ACCEPTED, axum::Json(answer)).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "flagger-token-0123456789";

    fn read(body: &str, query: Option<&str>) -> Result<FlaggerPayload, ApiError> {
        read_payload(query, body.as_bytes(), &[TOKEN.to_string()])
    }

    /// Flagger's own body carries the canary's config hash in `checksum`: a deploy it starts is
    /// named by it, so every webhook about that rollout names the same deploy.
    #[test]
    fn version_is_the_revision_else_the_checksum() {
        let body = r#"{"name": "podinfo", "namespace": "test", "phase": "Progressing",
                       "checksum": "85d557f47b", "metadata": {"eventMessage": "New revision detected",
                       "eventType": "Normal", "timestamp": "1578917233"}}"#;
        let p = read(body, Some(TOKEN)).expect("a Flagger payload");
        assert_eq!(p.version(1_700_000_000_000), "85d557f47b");
        assert_eq!(p.version(1_800_000_000_000), "85d557f47b", "not the clock");
        let p = FlaggerPayload {
            metadata: FlaggerMetadata {
                revision: Some("podinfo/7d9f".into()),
                ..FlaggerMetadata::default()
            },
            ..p
        };
        assert_eq!(p.version(0), "podinfo-7d9f", "a named revision comes first");
        let p = FlaggerPayload::default();
        assert_eq!(p.version(1_700_000_000_999), "canary-1700000000");
        let blank = FlaggerPayload {
            checksum: Some(" ".into()),
            ..FlaggerPayload::default()
        };
        assert_eq!(blank.version(1_700_000_000_999), "canary-1700000000");
    }

    /// The token is checked before the body is judged: a malformed body is a 400 only for the
    /// holder of a token.
    #[test]
    fn token_first_then_the_body() {
        let err = |r: Result<FlaggerPayload, ApiError>| r.expect_err("refused");
        assert_eq!(err(read("not json", None)).status, 401);
        assert_eq!(err(read("not json", Some("wrong"))).status, 401);
        let e = err(read("not json", Some(TOKEN)));
        assert_eq!(e.status, 400);
        assert!(
            e.message.starts_with("malformed Flagger payload: "),
            "{}",
            e.message
        );
        // The token in the body opens even a body whose other fields are wrong, which is named.
        let e = err(read(
            &format!(r#"{{"name": 7, "metadata": {{"token": "{TOKEN}"}}}}"#),
            None,
        ));
        assert_eq!(e.status, 400);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        // The body's token wins over the query's.
        let body = r#"{"name": "podinfo", "metadata": {"token": "wrong"}}"#;
        assert_eq!(err(read(body, Some(TOKEN))).status, 401);
        // Keys canarybot does not read may hold anything.
        let body = format!(
            r#"{{"name": "podinfo", "namespace": "test", "phase": "Failed",
                 "metadata": {{"token": " {TOKEN} ", "retries": 3}}}}"#
        );
        let p = read(&body, None).expect("accepted");
        assert_eq!((p.name.as_str(), p.phase.as_str()), ("podinfo", "Failed"));
        let long = format!(r#"{{"checksum": "{}"}}"#, "c".repeat(129));
        let e = err(read(&long, Some(TOKEN)));
        assert!(e.message.contains("checksum"), "{}", e.message);
    }
}
