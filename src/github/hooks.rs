//! `POST /hooks/github`: `deployment` and `deployment_status` events, signed with
//! `X-Hub-Signature-256`, each `X-GitHub-Delivery` acted on once.

use crate::auth::verify;
use crate::config::{Config, ServiceConfig};
use crate::domain::{DeployInfo, Input, PipelineEvent};
use crate::engine::{Engine, EngineError};
use crate::server::hooks::{id_part, redelivery_response};
use crate::server::{ApiError, AppState, Counters};
use crate::store::DeliveryKey;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

#[derive(Clone)]
pub struct GithubHook {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
}

pub fn routes(state: GithubHook) -> Router<AppState> {
    Router::new()
        .route("/hooks/github", post(receive))
        .with_state(state)
}

/// `ref@sha7`: what GitHub deployed, readable and unique enough. Characters that cannot stand in
/// a deploy id (`release/2.4`'s slash) become `-`.
pub fn version_of(deployment: &Value) -> String {
    let sha = deployment["sha"].as_str().unwrap_or_default();
    // Seven characters, not bytes: a byte index could fall inside a character (found by fuzzing).
    let short = sha.char_indices().nth(7).map_or(sha, |(i, _)| &sha[..i]);
    let version = match deployment["ref"].as_str() {
        Some(r) if !r.is_empty() && r != sha => format!("{r}@{short}"),
        _ => short.to_string(),
    };
    id_part(&version)
}

/// Whether a deployment undoes another (`task: rollback`, or `payload.undoes` naming the deploy).
pub fn is_rollback(deployment: &Value) -> bool {
    deployment["task"] == "rollback" || deployment["payload"]["undoes"].is_string()
}

/// Lengths of the fields canarybot reads from a deployment or deployment_status payload.
fn github_limits(v: &Value) -> Result<(), ApiError> {
    use crate::limits as l;
    let d = &v["deployment"];
    let st = &v["deployment_status"];
    let mut c = l::FieldCheck::new();
    c.opt("deployment.ref", d["ref"].as_str(), l::GIT_REF)
        .opt("deployment.sha", d["sha"].as_str(), l::SHA)
        .opt(
            "deployment.environment",
            d["environment"].as_str(),
            l::ENVIRONMENT,
        )
        .opt(
            "deployment.description",
            d["description"].as_str(),
            l::DESCRIPTION,
        )
        .opt(
            "deployment.creator.login",
            d["creator"]["login"].as_str(),
            l::ACTOR,
        )
        .opt(
            "deployment.payload.undoes",
            d["payload"]["undoes"].as_str(),
            l::DEPLOY_ID,
        )
        .opt("deployment_status.state", st["state"].as_str(), l::STATUS)
        .opt(
            "deployment_status.description",
            st["description"].as_str(),
            l::DESCRIPTION,
        )
        .opt(
            "deployment_status.creator.login",
            st["creator"]["login"].as_str(),
            l::ACTOR,
        );
    c.into_result().map_err(ApiError::bad_request)
}

impl GithubHook {
    /// The configured service this repository and environment belong to, or why none does.
    fn service(&self, repo: &str, environment: &str) -> Result<&ServiceConfig, String> {
        self.config
            .services
            .iter()
            .find(|s| {
                s.github.as_ref().is_some_and(|g| {
                    g.repo.eq_ignore_ascii_case(repo)
                        && (g.environments.is_empty()
                            || g.environments.iter().any(|e| e == environment))
                })
            })
            .ok_or_else(|| {
                format!("no service is configured for repository {repo}, environment {environment}")
            })
    }

    /// The deploy a rollback deployment undoes: named in its payload, else the service's latest
    /// deploy in that environment.
    async fn undone(&self, service: &str, environment: &str, deployment: &Value) -> Option<String> {
        if let Some(id) = deployment["payload"]["undoes"].as_str() {
            return Some(id.to_string());
        }
        let rows = self
            .engine
            .store()
            .deploys_where(Some(service), None, crate::store::Drills::Exclude, 20)
            .await
            .ok()?;
        rows.into_iter()
            .find(|r| r.environment == environment)
            .map(|r| r.id)
    }

    async fn handle(
        &self,
        event: &str,
        v: &Value,
        delivery: Option<&str>,
    ) -> Result<(StatusCode, Value), ApiError> {
        if event == "ping" {
            return Ok((StatusCode::OK, json!({"ok": true, "zen": v["zen"]})));
        }
        if event != "deployment" && event != "deployment_status" {
            return Ok((
                StatusCode::ACCEPTED,
                json!({"ignored": format!("event `{event}` is not one canarybot reads")}),
            ));
        }
        let deployment = &v["deployment"];
        github_limits(v)?;
        let repo = v["repository"]["full_name"].as_str().unwrap_or_default();
        let environment = deployment["environment"]
            .as_str()
            .unwrap_or("production")
            .to_string();
        let service = match self.service(repo, &environment) {
            Ok(s) => s,
            Err(reason) => return Ok((StatusCode::ACCEPTED, json!({"ignored": reason}))),
        };
        let version = version_of(deployment);
        // Environments are free text on GitHub: the id keeps only what a link can carry.
        let deploy_id = format!("{}:{}:{}", service.name, id_part(&environment), version);
        let actor = deployment["creator"]["login"].as_str().map(str::to_string);
        if event == "deployment" {
            if is_rollback(deployment) {
                return Ok((
                    StatusCode::ACCEPTED,
                    json!({"noted": "rollback deployment; its status reports the rollback"}),
                ));
            }
            let info = DeployInfo {
                id: deploy_id.clone(),
                service: service.name.clone(),
                environment: environment.clone(),
                version,
                sha: deployment["sha"].as_str().map(str::to_string),
                actor,
                description: deployment["description"].as_str().map(str::to_string),
                url: v["repository"]["html_url"]
                    .as_str()
                    .map(|u| format!("{u}/deployments")),
                ..DeployInfo::default()
            };
            let policy = self
                .config
                .lock_policy(service, Vec::new(), &info, self.engine.now())
                .map_err(ApiError::bad_request)?;
            let applied = self.engine.start(info, policy, "github").await?;
            return Ok((
                StatusCode::ACCEPTED,
                json!({"deploy_id": applied.deploy.info.id, "state": applied.deploy.state.as_str(), "created": applied.created}),
            ));
        }
        // deployment_status
        let state = v["deployment_status"]["state"].as_str().unwrap_or_default();
        let actor_name = v["deployment_status"]["creator"]["login"]
            .as_str()
            .or(actor.as_deref())
            .unwrap_or("github")
            .to_string();
        let (target, input) = if is_rollback(deployment) {
            let Some(target) = self.undone(&service.name, &environment, deployment).await else {
                return Ok((
                    StatusCode::ACCEPTED,
                    json!({"ignored": "no deploy for this rollback to undo"}),
                ));
            };
            let event = match state {
                "success" => Some(PipelineEvent::RolledBack),
                "failure" | "error" => Some(PipelineEvent::Failed),
                _ => None,
            };
            let input = match event {
                Some(event) => Input::Pipeline {
                    event,
                    actor: Some(actor_name),
                    description: Some(format!("GitHub rollback deployment {state}")),
                },
                None => Input::Note {
                    actor: actor_name,
                    text: format!("GitHub rollback deployment {state}"),
                    announce: false,
                },
            };
            (target, input)
        } else {
            let input = match state {
                "failure" | "error" => Input::Pipeline {
                    event: PipelineEvent::Failed,
                    actor: Some(actor_name),
                    description: Some(format!(
                        "GitHub deployment {state}{}",
                        v["deployment_status"]["description"]
                            .as_str()
                            .filter(|d| !d.is_empty())
                            .map(|d| format!(": {d}"))
                            .unwrap_or_default()
                    )),
                },
                "success" => Input::Note {
                    actor: actor_name,
                    text: "GitHub reports the rollout done; canary watching continues".into(),
                    announce: true,
                },
                other => Input::Note {
                    actor: actor_name,
                    text: format!("GitHub deployment {other}"),
                    announce: false,
                },
            };
            (deploy_id, input)
        };
        let key = delivery.map(|id| DeliveryKey {
            source: "github",
            id,
        });
        let applied = match self.engine.apply_once(&target, input, "github", key).await {
            Ok(a) => a,
            Err(EngineError::UnknownDeploy(id)) => {
                return Ok((
                    StatusCode::ACCEPTED,
                    json!({"ignored": format!("unknown deploy `{id}` (its deployment event was not seen)")}),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        Ok((
            StatusCode::ACCEPTED,
            json!({"deploy_id": target, "state": applied.deploy.state.as_str()}),
        ))
    }
}

/// Parses a GitHub webhook body (any event) into JSON; the error is the answer to give.
pub fn parse_payload(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed GitHub payload: {e}")))
}

async fn receive(State(s): State<GithubHook>, headers: HeaderMap, body: Bytes) -> Response {
    let secrets = s
        .config
        .github
        .as_ref()
        .map(|g| g.webhook_secrets.clone())
        .unwrap_or_default();
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = verify(SIGNATURE_HEADER, sig, &secrets, &body) {
        s.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()).into_response();
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let delivery = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let store = s.engine.store();
    if let Some(id) = &delivery
        && let Ok(Some((status, body))) = store.delivery("github", id).await
    {
        s.counters.redeliveries.fetch_add(1, Ordering::Relaxed);
        s.engine.telemetry.duplicate();
        return redelivery_response(status, body);
    }
    let v = match parse_payload(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let (status, answer) = match s.handle(&event, &v, delivery.as_deref()).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::ALREADY_REPORTED => {
            s.engine.telemetry.duplicate();
            let stored = match &delivery {
                Some(id) => store.delivery("github", id).await.ok().flatten(),
                None => None,
            };
            let (status, body) = stored.unwrap_or((0, String::new()));
            return redelivery_response(status, body);
        }
        Err(e) => (e.status, json!({"error": e.message})),
    };
    if let Some(id) = &delivery
        && !status.is_server_error()
    {
        let _ = store
            .record_delivery(
                "github",
                id,
                status.as_u16(),
                &answer.to_string(),
                s.engine.now(),
            )
            .await;
    }
    (status, axum::Json(answer)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_ref_at_short_sha() {
        let d = json!({"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "release/2.4"});
        assert_eq!(version_of(&d), "release-2.4@f95f852");
        let d = json!({"sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", "ref": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"});
        assert_eq!(version_of(&d), "f95f852");
        assert_eq!(version_of(&json!({"sha": "abc"})), "abc");
    }

    /// Fuzzing (`github_webhook` target): a sha with a multi-byte character across its seventh
    /// byte made the short sha slice panic.
    #[test]
    fn short_sha_of_a_non_ascii_sha() {
        let body = "{\"deployment\": {\"sha\": \"01234\u{202f}56788abcdef\", \"ref\": \"release/2.failur_elimi.githubuse1  z_namesollba  ck\", \"payloaavatar_urd\":  \"acme/checkout\"}}";
        let v = parse_payload(body.as_bytes()).expect("JSON");
        assert_eq!(
            version_of(&v["deployment"]),
            "release-2.failur_elimi.githubuse1--z_namesollba--ck@01234-5"
        );
        assert_eq!(version_of(&json!({"sha": "ééééééééé"})), "ééééééé");
    }
}
