//! `POST /hooks/github`: `deployment` and `deployment_status` events, signed with
//! `X-Hub-Signature-256`, each `X-GitHub-Delivery` acted on once.

use super::payload::{
    Deployment, DeploymentEvent, DeploymentStatus, DeploymentStatusEvent, GithubEvent, Repository,
    parse_payload,
};
use crate::auth::verify;
use crate::config::{Config, ServiceConfig};
use crate::domain::{DeployInfo, Input, PipelineEvent};
use crate::engine::{Engine, EngineError};
use crate::http::redelivery_response;
use crate::http::{ApiError, AppState, Counters};
use crate::limits::id_part;
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
    /// Answers deployment protection rules, when `[github] app_id` is set.
    pub app: Option<Arc<super::GithubApp>>,
}

pub fn routes(state: GithubHook) -> Router<AppState> {
    Router::new()
        .route("/hooks/github", post(receive))
        .with_state(state)
}

/// Lengths of the fields canarybot reads from a deployment or deployment_status payload.
fn github_limits(d: &Deployment, st: Option<&DeploymentStatus>) -> Result<(), ApiError> {
    use crate::limits as l;
    let mut c = l::FieldCheck::new();
    c.opt("deployment.ref", d.git_ref.as_deref(), l::GIT_REF)
        .opt("deployment.sha", d.sha.as_deref(), l::SHA)
        .opt(
            "deployment.environment",
            d.environment.as_deref(),
            l::ENVIRONMENT,
        )
        .opt(
            "deployment.description",
            d.description.as_deref(),
            l::DESCRIPTION,
        )
        .opt("deployment.creator.login", d.creator_login(), l::ACTOR)
        .opt("deployment.payload.undoes", d.undoes(), l::DEPLOY_ID);
    if let Some(st) = st {
        c.text("deployment_status.state", &st.state, l::STATUS)
            .opt(
                "deployment_status.description",
                st.description.as_deref(),
                l::DESCRIPTION,
            )
            .opt(
                "deployment_status.creator.login",
                st.creator_login(),
                l::ACTOR,
            );
    }
    c.into_result().map_err(ApiError::bad_request)
}

/// What a deployment names: its service, environment and deploy id, or why it is ignored.
struct Target<'a> {
    service: &'a ServiceConfig,
    environment: String,
    deploy_id: String,
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
    async fn undone(
        &self,
        service: &str,
        environment: &str,
        deployment: &Deployment,
    ) -> Option<String> {
        if let Some(id) = deployment.undoes() {
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

    /// The service, environment and deploy id a deployment names; the error is why it is
    /// ignored.
    fn target(
        &self,
        deployment: &Deployment,
        repository: Option<&Repository>,
    ) -> Result<Target<'_>, String> {
        let repo = repository.map_or("", |r| r.full_name.as_str());
        let environment = deployment
            .environment
            .clone()
            .unwrap_or_else(|| "production".into());
        let service = self.service(repo, &environment)?;
        // Environments are free text on GitHub: the id keeps only what a link can carry.
        let deploy_id = format!(
            "{}:{}:{}",
            service.name,
            id_part(&environment),
            deployment.version()
        );
        Ok(Target {
            service,
            environment,
            deploy_id,
        })
    }

    async fn handle(
        &self,
        event: &GithubEvent,
        delivery: Option<&str>,
    ) -> Result<(StatusCode, Value), ApiError> {
        match event {
            GithubEvent::Ping(ping) => Ok((StatusCode::OK, json!({"ok": true, "zen": ping.zen}))),
            GithubEvent::Other(name) => Ok((
                StatusCode::ACCEPTED,
                json!({"ignored": format!("event `{name}` is not one canarybot reads")}),
            )),
            GithubEvent::Deployment(e) => self.deployment(e).await,
            GithubEvent::DeploymentStatus(e) => self.deployment_status(e, delivery).await,
            GithubEvent::ProtectionRule(e) => {
                let environment = e.environment.clone().unwrap_or_default();
                let repo = e.repository.as_ref().map_or("", |r| r.full_name.as_str());
                let service = self
                    .service(repo, &environment)
                    .ok()
                    .map(|s| s.name.clone());
                // The deploy canarybot opened for this deployment, if its event was seen.
                let deploy_id = match &e.deployment {
                    Some(d) => match self.target(&d.deployment, e.repository.as_ref()) {
                        Ok(t) if self.engine.deploy(&t.deploy_id).await.is_ok() => {
                            Some(t.deploy_id)
                        }
                        _ => None,
                    },
                    None => None,
                };
                super::protection::review(
                    &self.engine,
                    &self.config,
                    self.app.as_deref(),
                    service.as_deref(),
                    deploy_id,
                    e,
                )
                .await
            }
        }
    }

    /// A deployment was created: a deploy starts (a rollback deployment waits for its status).
    async fn deployment(&self, e: &DeploymentEvent) -> Result<(StatusCode, Value), ApiError> {
        let deployment = &e.deployment;
        github_limits(deployment, None)?;
        let target = match self.target(deployment, e.repository.as_ref()) {
            Ok(t) => t,
            Err(reason) => return Ok((StatusCode::ACCEPTED, json!({"ignored": reason}))),
        };
        if deployment.is_rollback() {
            return Ok((
                StatusCode::ACCEPTED,
                json!({"noted": "rollback deployment; its status reports the rollback"}),
            ));
        }
        let service = target.service;
        let info = DeployInfo {
            id: target.deploy_id,
            service: service.name.clone(),
            environment: target.environment,
            version: deployment.version(),
            sha: deployment.sha.clone(),
            actor: deployment.creator_login().map(str::to_string),
            description: deployment.description.clone(),
            url: e
                .repository
                .as_ref()
                .and_then(|r| r.html_url.as_ref())
                .map(|u| format!("{u}/deployments")),
            ..DeployInfo::default()
        };
        let policy = self
            .config
            .lock_policy(service, Vec::new(), &info, self.engine.now())
            .map_err(ApiError::bad_request)?;
        let applied = self.engine.start(info, policy, "github").await?;
        // Deployed while frozen (a job without the protection rule, say): called out loudly.
        let frozen = if applied.created {
            crate::gate::note_if_frozen(
                &self.engine,
                &self.config,
                &applied.deploy.info.id,
                &service.name,
                "github",
            )
            .await?
        } else {
            None
        };
        let mut answer = json!({"deploy_id": applied.deploy.info.id, "state": applied.deploy.state.as_str(), "created": applied.created});
        if let Some(f) = frozen {
            answer["frozen"] = json!(f);
        }
        Ok((StatusCode::ACCEPTED, answer))
    }

    /// A deployment's status changed: a failure or a rollback's outcome changes the deploy,
    /// anything else is noted.
    async fn deployment_status(
        &self,
        e: &DeploymentStatusEvent,
        delivery: Option<&str>,
    ) -> Result<(StatusCode, Value), ApiError> {
        let deployment = &e.deployment;
        let status = &e.deployment_status;
        github_limits(deployment, Some(status))?;
        let target = match self.target(deployment, e.repository.as_ref()) {
            Ok(t) => t,
            Err(reason) => return Ok((StatusCode::ACCEPTED, json!({"ignored": reason}))),
        };
        let state = status.state.as_str();
        let actor_name = status
            .creator_login()
            .or(deployment.creator_login())
            .unwrap_or("github")
            .to_string();
        let (target, input) = if deployment.is_rollback() {
            let Some(undone) = self
                .undone(&target.service.name, &target.environment, deployment)
                .await
            else {
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
            (undone, input)
        } else {
            let input = match state {
                "failure" | "error" => Input::Pipeline {
                    event: PipelineEvent::Failed,
                    actor: Some(actor_name),
                    description: Some(format!(
                        "GitHub deployment {state}{}",
                        status
                            .description
                            .as_deref()
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
            (target.deploy_id, input)
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
    let payload = match parse_payload(&event, &body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (status, answer) = match s.handle(&payload, delivery.as_deref()).await {
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
