//! Signed webhooks: deploy events from pipelines and metric samples.

use crate::auth::verify;
use crate::config::criteria_problems;
use crate::domain::{Criterion, DeployInfo, Input, PipelineEvent, Sample};
use crate::http::{ApiError, AppState, HookSource, PathMatch, Surface, redelivery_response};
use crate::limits::unfit_for_id;
use crate::limits::{is_format_char, is_unprintable};
use crate::store::DeliveryKey;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

pub const SIGNATURE_HEADER: &str = "X-Canarybot-Signature";
pub const DELIVERY_HEADER: &str = "X-Canarybot-Delivery";

/// `POST /hooks/deploy`: any pipeline, signed with `[webhooks] secrets`.
pub static DEPLOY_WEBHOOK: HookSource = HookSource {
    name: "deploy",
    surface: Surface {
        label: "deploy",
        paths: &[PathMatch::Exact("/hooks/deploy")],
    },
    configured: |_| true,
    routes: |_| deploy_routes(),
};

/// `POST /hooks/metrics`: samples pushed by anything, signed with `[webhooks] secrets`.
pub static PUSHED_SAMPLES: HookSource = HookSource {
    name: "metrics",
    surface: Surface {
        label: "metrics",
        paths: &[PathMatch::Exact("/hooks/metrics")],
    },
    configured: |_| true,
    routes: |_| metric_routes(),
};

/// The generic deploy webhook (a deploy source).
pub fn deploy_routes() -> Router<AppState> {
    Router::new().route("/hooks/deploy", post(deploy_hook))
}

/// Metric samples pushed over HTTP (a metric source).
pub fn metric_routes() -> Router<AppState> {
    Router::new().route("/hooks/metrics", post(metrics_hook))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployEventKind {
    Started,
    Promoted,
    RolledBack,
    Failed,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployHook {
    pub event: DeployEventKind,
    pub service: String,
    pub version: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub sha: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub deploy_id: Option<String>,
    #[serde(default)]
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsHook {
    pub deploy_id: String,
    #[serde(default)]
    pub at: Option<String>,
    pub samples: Vec<Sample>,
}

/// A `POST /hooks/deploy` body, parsed and checked as far as that needs no config: the handler
/// (and the fuzz target) start here.
#[derive(Debug)]
pub struct DeployRequest {
    pub hook: DeployHook,
    /// `environment`, or `production` when absent or blank.
    pub environment: String,
    /// `deploy_id`, or `service:environment:version`; checked by `check_deploy_id`.
    pub deploy_id: String,
}

/// Parses and checks a deploy webhook body (everything before the service lookup).
pub fn parse_deploy_hook(body: &[u8]) -> Result<DeployRequest, ApiError> {
    let hook: DeployHook = parse(body)?;
    deploy_limits(&hook)?;
    required("service", &hook.service)?;
    required("version", &hook.version)?;
    check_printable("service", &hook.service)?;
    check_printable("version", &hook.version)?;
    if let Some(environment) = &hook.environment {
        check_printable("environment", environment)?;
    }
    let environment = hook
        .environment
        .clone()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "production".to_string());
    let deploy_id = hook
        .deploy_id
        .clone()
        .unwrap_or_else(|| format!("{}:{}:{}", hook.service, environment, hook.version));
    check_deploy_id(&deploy_id)?;
    Ok(DeployRequest {
        hook,
        environment,
        deploy_id,
    })
}

/// The problems with the criteria a `started` deploy brings, as `criteria[i].field: problem`;
/// a criterion with a `query` needs a `[prometheus]` on this server.
pub fn started_criteria_problems(criteria: &[Criterion], has_prometheus: bool) -> Vec<String> {
    let mut problems = criteria_problems("", criteria);
    if !has_prometheus {
        for (i, c) in criteria.iter().enumerate() {
            if c.query.is_some() {
                problems.push(format!(
                    ".criteria[{i}].query: this server has no [prometheus] to run it"
                ));
            }
            if c.requests.is_some() {
                problems.push(format!(
                    ".criteria[{i}].requests: this server has no [prometheus] to run it"
                ));
            }
            if c.errors.is_some() {
                problems.push(format!(
                    ".criteria[{i}].errors: this server has no [prometheus] to run it"
                ));
            }
        }
    }
    problems
        .iter()
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

/// A `POST /hooks/metrics` body, parsed and checked.
#[derive(Debug)]
pub struct MetricsRequest {
    pub deploy_id: String,
    pub samples: Vec<Sample>,
    /// `at` in milliseconds since the epoch, when given.
    pub at_ms: Option<i64>,
}

/// Parses and checks a metrics webhook body: JSON, the RFC 3339 `at`, the deploy id.
pub fn parse_metrics_hook(body: &[u8]) -> Result<MetricsRequest, ApiError> {
    let hook: MetricsHook = parse(body)?;
    metrics_limits(&hook)?;
    let at_ms = match &hook.at {
        None => None,
        Some(at) => Some(
            chrono::DateTime::parse_from_rfc3339(at)
                .map_err(|e| {
                    ApiError::bad_request(format!("at: `{at}` is not an RFC 3339 time ({e})"))
                })?
                .timestamp_millis(),
        ),
    };
    check_deploy_id(&hook.deploy_id)?;
    Ok(MetricsRequest {
        deploy_id: hook.deploy_id,
        samples: hook.samples,
        at_ms,
    })
}

/// How long before its deploy started a pushed sample may be dated (a baseline read just before).
pub const SAMPLE_BEFORE_START_MS: i64 = 5 * 60_000;
/// How far ahead of this server's clock a sample may be dated (the sender's clock runs fast).
pub const SAMPLE_CLOCK_SKEW_MS: i64 = 2 * 60_000;

/// A sample's `at` must fall within its deploy's life: from a little before the deploy started
/// to now, give or take clock skew. Anything else (year 0000, 9999) would be stored and stretch
/// the charts over millennia.
pub fn check_sample_time(at_ms: i64, started_at_ms: i64, now_ms: i64) -> Result<(), ApiError> {
    let from = started_at_ms.saturating_sub(SAMPLE_BEFORE_START_MS);
    let to = now_ms.saturating_add(SAMPLE_CLOCK_SKEW_MS);
    if (from..=to).contains(&at_ms) {
        return Ok(());
    }
    use crate::present::words::rfc3339;
    Err(ApiError::bad_request(format!(
        "at: {} is outside this deploy's window: from {} (5 minutes before it started) to {} (2 minutes after now)",
        rfc3339(at_ms),
        rfc3339(from),
        rfc3339(to)
    )))
}

/// Checks the signature; counts and refuses failures before anything is parsed.
fn authenticate(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    verify(SIGNATURE_HEADER, header, &s.config.webhooks.secrets, body).map_err(|e| {
        s.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "webhook refused");
        ApiError::new(StatusCode::UNAUTHORIZED, e.to_string())
    })
}

/// Field lengths and counts of a deploy webhook (see `crate::limits`).
fn deploy_limits(h: &DeployHook) -> Result<(), ApiError> {
    use crate::limits as l;
    let mut c = l::FieldCheck::new();
    c.text("service", &h.service, l::SERVICE)
        .text("version", &h.version, l::VERSION)
        .opt("environment", h.environment.as_deref(), l::ENVIRONMENT)
        .opt("sha", h.sha.as_deref(), l::SHA)
        .opt("actor", h.actor.as_deref(), l::ACTOR)
        .opt("description", h.description.as_deref(), l::DESCRIPTION)
        .opt("url", h.url.as_deref(), l::URL)
        .opt("deploy_id", h.deploy_id.as_deref(), l::DEPLOY_ID)
        .count("criteria", h.criteria.len(), l::CRITERIA_PER_DEPLOY);
    criteria_limits(&mut c, &h.criteria);
    c.into_result().map_err(ApiError::bad_request)
}

/// Field lengths of extra criteria (a deploy webhook's, or GitHub's deployment payload).
fn criteria_limits(c: &mut crate::limits::FieldCheck, criteria: &[Criterion]) {
    use crate::limits as l;
    for (i, k) in criteria.iter().enumerate() {
        c.text(&format!("criteria[{i}].name"), &k.name, l::CRITERION)
            .opt(
                &format!("criteria[{i}].query"),
                k.query.as_deref(),
                l::QUERY,
            )
            .opt(
                &format!("criteria[{i}].requests"),
                k.requests.as_deref(),
                l::QUERY,
            )
            .opt(
                &format!("criteria[{i}].errors"),
                k.errors.as_deref(),
                l::QUERY,
            )
            .opt(&format!("criteria[{i}].unit"), k.unit.as_deref(), l::UNIT)
            .opt(&format!("criteria[{i}].link"), k.link.as_deref(), l::URL);
    }
}

/// Field lengths and counts of a metric push.
fn metrics_limits(h: &MetricsHook) -> Result<(), ApiError> {
    use crate::limits as l;
    let mut c = l::FieldCheck::new();
    c.text("deploy_id", &h.deploy_id, l::DEPLOY_ID)
        .opt("at", h.at.as_deref(), l::STATUS)
        .count("samples", h.samples.len(), l::SAMPLES_PER_PUSH);
    for (i, sample) in h.samples.iter().enumerate() {
        c.text(
            &format!("samples[{i}].criterion"),
            &sample.criterion,
            l::CRITERION,
        )
        .opt(
            &format!("samples[{i}].no_data_reason"),
            sample.no_data_reason.as_deref(),
            l::NO_DATA_REASON,
        );
    }
    let mut problems = c.into_result().err().map(|e| vec![e]).unwrap_or_default();
    for (i, sample) in h.samples.iter().enumerate() {
        if let Some(n) = sample.canary_requests
            && !(n.is_finite() && n >= 0.0)
        {
            problems.push(format!(
                "samples[{i}].canary_requests: must be a count >= 0, not {n}"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(problems.join("; ")))
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed body: {e}")))
}

/// The delivery id a sender put in `X-Canarybot-Delivery`, if any.
fn delivery_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
}

/// Runs `handle` once per delivery id: a redelivery gets the first answer and changes nothing.
/// `handle` gets the id to store with what it writes, so that a crash between writing and
/// recording the answer cannot make a redelivery act twice.
async fn once_per_delivery<F, Fut>(
    s: &AppState,
    source: &'static str,
    headers: &HeaderMap,
    handle: F,
) -> Response
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let delivery = delivery_id(headers);
    let store = s.engine.store();
    if let Some(id) = &delivery {
        match store.delivery(source, id).await {
            Ok(Some((status, body))) => {
                s.counters.redeliveries.fetch_add(1, Ordering::Relaxed);
                s.engine.telemetry.duplicate();
                return redelivery_response(status, body);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "delivery lookup failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal store error; see the server log",
                )
                .into_response();
            }
        }
    }
    let (status, body) = match handle(delivery.clone()).await {
        Ok((status, body)) => (status, body),
        // Another delivery of the same id got there first.
        Err(e) if e.status == StatusCode::ALREADY_REPORTED => {
            s.counters.redeliveries.fetch_add(1, Ordering::Relaxed);
            s.engine.telemetry.duplicate();
            let (status, body) = match &delivery {
                Some(id) => store.delivery(source, id).await.ok().flatten(),
                None => None,
            }
            .unwrap_or((0, String::new()));
            return redelivery_response(status, body);
        }
        Err(e) => (e.status, json!({"error": e.message})),
    };
    if let Some(id) = &delivery {
        // Server errors are not recorded: the sender should be able to retry them.
        if !status.is_server_error() {
            let text = body.to_string();
            if let Err(e) = store
                .record_delivery(source, id, status.as_u16(), &text, s.engine.now())
                .await
            {
                tracing::error!(error = %e, "cannot record delivery");
            }
        }
    }
    if status.is_success() {
        s.counters.webhooks_accepted.fetch_add(1, Ordering::Relaxed);
    }
    (status, axum::Json(body)).into_response()
}

/// `U+202E (a format character)`: a character named so that the message shows it.
fn describe(c: char) -> String {
    let kind = if c.is_control() {
        "a control character"
    } else if is_format_char(c) {
        "an invisible format character"
    } else if c.is_whitespace() {
        "white space"
    } else {
        "a character links cannot hold"
    };
    if c.is_ascii_graphic() {
        format!("`{c}` ({kind})")
    } else {
        format!("U+{:04X} ({kind})", c as u32)
    }
}

/// Services, versions and environments are shown in thread titles: refuse control and format
/// characters, naming the field and the character.
pub fn check_printable(field: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().find(|c| is_unprintable(*c)) {
        Some(c) => Err(ApiError::bad_request(format!(
            "{field}: contains {}; use printable characters (letters, digits, punctuation, spaces)",
            describe(c)
        ))),
        None => Ok(()),
    }
}

/// Deploy ids end up in URLs and chat: keep them printable and path-safe.
pub fn check_deploy_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > crate::limits::DEPLOY_ID {
        return Err(ApiError::bad_request(format!(
            "deploy_id: must be 1 to {} characters (it is service:environment:version unless given)",
            crate::limits::DEPLOY_ID
        )));
    }
    if let Some(c) = id.chars().find(|c| unfit_for_id(*c)) {
        return Err(ApiError::bad_request(format!(
            "deploy_id: `{}` contains {}; a deploy id may hold any printable character except white space and / ? # % \\ (it is service:environment:version unless given)",
            id.escape_debug(),
            describe(c)
        )));
    }
    Ok(())
}

fn required(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::bad_request(format!("{field}: must not be empty")))
    } else {
        Ok(())
    }
}

async fn deploy_hook(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authenticate(&s, &headers, &body) {
        return e.into_response();
    }
    let s2 = s.clone();
    once_per_delivery(&s, "deploy", &headers, |delivery| async move {
        handle_deploy(&s2, &body, delivery.as_deref()).await
    })
    .await
}

async fn handle_deploy(
    s: &AppState,
    body: &[u8],
    delivery: Option<&str>,
) -> Result<(StatusCode, Value), ApiError> {
    let DeployRequest {
        hook,
        environment,
        deploy_id,
    } = parse_deploy_hook(body)?;
    let Some(service) = s.config.service(&hook.service) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "unknown service `{}`; known services: {}",
                hook.service,
                s.config.service_names().join(", ")
            ),
        ));
    };
    let engine = &s.engine;
    // A deploy announced during a freeze is accepted (the pipeline already shipped it); the
    // answer and the thread say it started frozen.
    let mut frozen = None;
    let applied = match hook.event {
        DeployEventKind::Started => {
            let problems = started_criteria_problems(&hook.criteria, s.config.prometheus.is_some());
            if !problems.is_empty() {
                return Err(ApiError::bad_request(problems.join("; ")));
            }
            let info = DeployInfo {
                id: deploy_id.clone(),
                service: hook.service.clone(),
                environment,
                version: hook.version.clone(),
                sha: hook.sha,
                actor: hook.actor,
                description: hook.description,
                url: hook.url,
                ..DeployInfo::default()
            };
            let policy = s
                .config
                .lock_policy(service, hook.criteria, &info, engine.now())
                .map_err(ApiError::bad_request)?;
            let applied = engine.start(info, policy, "deploy-webhook").await?;
            if !applied.created && applied.deploy.info.service != hook.service {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!(
                        "deploy_id: `{deploy_id}` already exists for service {}",
                        applied.deploy.info.service
                    ),
                ));
            }
            if applied.created {
                frozen = crate::gate::note_if_frozen(
                    engine,
                    &s.config,
                    &deploy_id,
                    &hook.service,
                    "deploy-webhook",
                )
                .await?;
            }
            applied
        }
        kind => {
            let event = match kind {
                DeployEventKind::Promoted => PipelineEvent::Promoted,
                DeployEventKind::RolledBack => PipelineEvent::RolledBack,
                _ => PipelineEvent::Failed,
            };
            let existing = engine.deploy(&deploy_id).await.map_err(|e| match e {
                crate::engine::EngineError::UnknownDeploy(_) => ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("unknown deploy `{deploy_id}`; send event=started first"),
                ),
                other => other.into(),
            })?;
            if existing.info.service != hook.service {
                return Err(ApiError::bad_request(format!(
                    "service: deploy `{deploy_id}` belongs to {}, not {}",
                    existing.info.service, hook.service
                )));
            }
            let input = Input::Pipeline {
                event,
                actor: hook.actor,
                description: hook.description,
            };
            let key = delivery.map(|id| DeliveryKey {
                source: "deploy",
                id,
            });
            engine
                .apply_once(&deploy_id, input, "deploy-webhook", key)
                .await?
        }
    };
    let mut answer = json!({
        "deploy_id": applied.deploy.info.id,
        "state": applied.deploy.state.as_str(),
        "created": applied.created,
    });
    if let Some(cause) = frozen {
        answer["frozen"] = json!(cause);
    }
    Ok((StatusCode::ACCEPTED, answer))
}

async fn metrics_hook(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = authenticate(&s, &headers, &body) {
        return e.into_response();
    }
    let s2 = s.clone();
    once_per_delivery(&s, "metrics", &headers, |delivery| async move {
        handle_metrics(&s2, &body, delivery.as_deref()).await
    })
    .await
}

async fn handle_metrics(
    s: &AppState,
    body: &[u8],
    delivery: Option<&str>,
) -> Result<(StatusCode, Value), ApiError> {
    let hook = parse_metrics_hook(body)?;
    if let Some(at_ms) = hook.at_ms {
        let deploy = s.engine.deploy(&hook.deploy_id).await?;
        check_sample_time(at_ms, deploy.started_at_ms, s.engine.now())?;
    }
    let applied = s
        .engine
        .apply_once(
            &hook.deploy_id,
            Input::Check {
                samples: hook.samples,
                at_ms: hook.at_ms,
            },
            "metrics-webhook",
            delivery.map(|id| DeliveryKey {
                source: "metrics",
                id,
            }),
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        json!({
            "deploy_id": applied.deploy.info.id,
            "state": applied.deploy.state.as_str(),
            "criteria": applied.outcome.reports,
        }),
    ))
}

#[cfg(test)]
mod id_tests {
    use super::*;
    use crate::limits::id_part;

    #[test]
    fn id_parts_from_other_systems_are_path_safe() {
        let part = id_part("prod/eu west?#1%\\x\tz");
        assert_eq!(part, "prod-eu-west--1--x-z");
        assert_eq!(id_part("1.0\u{202e}gpj\u{200b}"), "1.0-gpj-");
        assert!(check_deploy_id(&format!("checkout:{part}:1.0")).is_ok());
        assert_eq!(id_part("production"), "production");
    }
}
