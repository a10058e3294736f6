//! GitHub deployment protection rules: a workflow asks whether it may deploy to an environment;
//! canarybot asks its gate (`crate::gate`), records the review, and answers GitHub through the
//! GitHub App — at once, or, with `[service.gate] hold = true`, once what closed the gate clears
//! (a freeze lifted, a breach resolved) or a decider releases it (`/canary gate approve <id>`).
//!
//! Answers are sent by [`run_reviews`] from the `gate_reviews` table, so a crash between deciding
//! and telling GitHub answers after the restart; each answer is sent under a lease, once.

use super::app::{GithubApp, GithubAppError, ReviewState};
use super::payload::ProtectionRuleEvent;
use crate::config::Config;
use crate::domain::gate::GateAnswer;
use crate::engine::Engine;
use crate::http::ApiError;
use crate::store::GateReview;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often held reviews are looked at again, and unsent answers retried.
const REVIEW_EVERY: Duration = Duration::from_secs(2);
/// The `/metrics` target of answers to GitHub.
pub const REVIEW_TARGET: &str = "github:review";
/// How long one replica holds the right to answer one review.
const ANSWER_LEASE_MS: i64 = 60_000;

/// What a review decided, and in which words.
fn decided(answer: &GateAnswer, hold: bool) -> (&'static str, String) {
    if answer.open {
        ("approved", format!("canarybot approves: {}", answer.reason))
    } else if hold && answer.rule.may_clear() {
        (
            "held",
            format!(
                "canarybot holds this deployment: {}. It is approved when that clears, or when a decider releases it.",
                answer.reason
            ),
        )
    } else {
        ("rejected", format!("canarybot rejects: {}", answer.reason))
    }
}

/// A `deployment_protection_rule` event: record the review and decide it (the worker answers).
pub async fn review(
    engine: &Engine,
    config: &Config,
    app: Option<&GithubApp>,
    service: Option<&str>,
    deploy_id: Option<String>,
    e: &ProtectionRuleEvent,
) -> Result<(StatusCode, Value), ApiError> {
    if e.action.as_deref() != Some("requested") {
        return Ok((
            StatusCode::ACCEPTED,
            json!({"ignored": format!("deployment_protection_rule action `{}` is not one canarybot answers", e.action.as_deref().unwrap_or(""))}),
        ));
    }
    {
        use crate::limits as l;
        let mut c = l::FieldCheck::new();
        c.opt("environment", e.environment.as_deref(), l::ENVIRONMENT)
            .opt("sha", e.sha.as_deref(), l::SHA)
            .opt(
                "deployment_callback_url",
                e.deployment_callback_url.as_deref(),
                l::URL,
            );
        c.into_result().map_err(ApiError::bad_request)?;
    }
    let (Some(environment), Some(callback_url), Some(installation)) = (
        e.environment.as_deref(),
        e.deployment_callback_url.as_deref(),
        e.installation.as_ref(),
    ) else {
        return Err(ApiError::bad_request(
            "deployment_protection_rule needs environment, deployment_callback_url and installation.id",
        ));
    };
    if app.is_none() {
        return Ok((
            StatusCode::ACCEPTED,
            json!({"ignored": "no GitHub App is configured ([github] app_id): canarybot cannot answer protection rules"}),
        ));
    }
    let now = engine.now();
    let deployment_id = e.deployment.as_ref().map_or(0, |d| d.id);
    let id = format!("{deployment_id}:{}", crate::limits::id_part(environment));
    let repo = e.repository.as_ref().map_or("", |r| r.full_name.as_str());
    let (service_name, decision, comment, rule) = match service.and_then(|s| config.service(s)) {
        None => (
            String::new(),
            "rejected",
            format!(
                "canarybot rejects: no service is configured for repository {repo}, environment {environment}"
            ),
            "no_service".to_string(),
        ),
        Some(svc) => {
            let answer = crate::gate::ask(
                engine.store(),
                config,
                &svc.name,
                environment,
                e.sha.as_deref(),
                now,
            )
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            let hold = svc.gate.as_ref().is_some_and(|g| g.hold);
            let (decision, comment) = decided(&answer, hold);
            let link = answer.deploy_id.clone().or(deploy_id.clone());
            (
                svc.name.clone(),
                decision,
                crate::gate::with_link(engine, comment, link.as_deref()),
                serde_json::to_value(answer.rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            )
        }
    };
    let r = GateReview {
        id: id.clone(),
        service: service_name,
        environment: environment.to_string(),
        sha: e.sha.clone(),
        callback_url: callback_url.to_string(),
        installation_id: i64::try_from(installation.id).unwrap_or(i64::MAX),
        deploy_id,
        decision: decision.to_string(),
        comment: comment.clone(),
        decided_by: "canarybot".into(),
        requested_at_ms: now,
        answered_at_ms: None,
        attempts: 0,
        last_error: None,
    };
    let fresh = engine
        .store()
        .insert_review(&r)
        .await
        .map_err(|e| ApiError::from(crate::engine::EngineError::Store(e)))?;
    if !fresh {
        let existing = engine.store().review(&id).await.ok().flatten();
        return Ok((
            StatusCode::ACCEPTED,
            json!({"review": id, "duplicate": true, "decision": existing.map(|r| r.decision)}),
        ));
    }
    if !r.service.is_empty() {
        let sender = e
            .sender
            .as_ref()
            .and_then(|s| s.login.clone())
            .unwrap_or_else(|| "github".into());
        let summary = format!(
            "GitHub review {} of {} {} for {environment} (asked by {sender}): {decision} — {comment}{}",
            r.id,
            r.service,
            r.sha
                .as_deref()
                .map(|s| s.get(..12).unwrap_or(s))
                .unwrap_or("?"),
            if decision == "held" {
                format!(
                    " `/canary gate approve {}` or `/canary gate reject {}` decides it now.",
                    r.id, r.id
                )
            } else {
                String::new()
            }
        );
        crate::gate::record_review(
            engine,
            &r,
            &format!("gate_{decision}"),
            "canarybot",
            &summary,
        )
        .await;
    }
    Ok((
        StatusCode::ACCEPTED,
        json!({"review": id, "decision": decision, "rule": rule, "comment": comment}),
    ))
}

/// Held reviews are looked at again; decided ones are answered to GitHub.
pub async fn run_reviews(
    engine: Arc<Engine>,
    config: Arc<Config>,
    app: Arc<GithubApp>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = review_pass(&engine, &config, &app).await {
            tracing::warn!(error = %e, "gate review pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(REVIEW_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: re-asks the gate for held reviews, then answers every decided, unanswered one.
pub async fn review_pass(
    engine: &Engine,
    config: &Config,
    app: &GithubApp,
) -> Result<(), crate::store::StoreError> {
    let store = engine.store();
    for r in store.open_reviews().await? {
        let now = engine.now();
        let mut r = r;
        if r.decision == "held" {
            let Ok(answer) = crate::gate::ask(
                store,
                config,
                &r.service,
                &r.environment,
                r.sha.as_deref(),
                now,
            )
            .await
            else {
                continue;
            };
            if !answer.open {
                continue;
            }
            let comment = crate::gate::with_link(
                engine,
                format!(
                    "canarybot approves: what held it has cleared ({})",
                    answer.reason
                ),
                r.deploy_id.as_deref(),
            );
            if !store
                .decide_review(&r.id, "approved", &comment, "canarybot", now)
                .await?
            {
                continue;
            }
            r.decision = "approved".into();
            r.comment = comment.clone();
            crate::gate::record_review(
                engine,
                &r,
                "gate_released",
                "canarybot",
                &format!("GitHub review {} released: {comment}", r.id),
            )
            .await;
        }
        let state = match r.decision.as_str() {
            "approved" => ReviewState::Approved,
            "rejected" => ReviewState::Rejected,
            _ => continue,
        };
        let slot = format!("gate-review:{}", r.id);
        if !store
            .lease(&slot, engine.replica(), now, now + ANSWER_LEASE_MS, false)
            .await?
        {
            continue;
        }
        // Another replica may have answered it since the list was read, and released the lease.
        let answered = store
            .review(&r.id)
            .await?
            .is_none_or(|now| now.answered_at_ms.is_some());
        if answered {
            store.release_lease(&slot, engine.replica()).await?;
            continue;
        }
        let sent = app
            .answer_protection_rule(
                &r.callback_url,
                u64::try_from(r.installation_id).unwrap_or_default(),
                &r.environment,
                state,
                &r.comment,
            )
            .await;
        // Counted in /metrics as the `github:review` target: a refusal (an outside callback
        // URL) as given up.
        match sent {
            Ok(()) => {
                engine
                    .telemetry
                    .delivered(REVIEW_TARGET, engine.now() - r.requested_at_ms);
                store.review_answered(&r.id, engine.now(), None).await?
            }
            Err(
                e @ (GithubAppError::CallbackOutsideApi { .. } | GithubAppError::Refused { .. }),
            ) => {
                // Final: the URL came from a request body, or GitHub refused for good.
                tracing::warn!(review = %r.id, error = %e, "gate review answer refused; not retried");
                engine.telemetry.given_up(REVIEW_TARGET);
                store
                    .review_answered(&r.id, engine.now(), Some(e.to_string()))
                    .await?;
                crate::gate::record_review(
                    engine,
                    &r,
                    "gate_answer_failed",
                    "canarybot",
                    &format!("GitHub was not told of review {}: {e}", r.id),
                )
                .await;
            }
            Err(e) => {
                engine.telemetry.retried(REVIEW_TARGET, false);
                store.review_failed(&r.id, &e.to_string()).await?;
                // The last try: the review leaves the worker's list, so a person must see it.
                if r.attempts + 1 >= crate::store::MAX_ANSWER_ATTEMPTS {
                    crate::gate::record_review(
                        engine,
                        &r,
                        "gate_answer_failed",
                        "canarybot",
                        &format!(
                            "GitHub was not told of review {} after {} tries: {e}",
                            r.id,
                            r.attempts + 1
                        ),
                    )
                    .await;
                }
            }
        }
        store.release_lease(&slot, engine.replica()).await?;
    }
    Ok(())
}
