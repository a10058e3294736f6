//! GitHub protection-rule reviews on the service's and the deploy's timelines, and a held
//! review decided from chat.

use super::*;

/// `gate_approved`, `gate_rejected`, `gate_held` on the service's timeline, and a note on the
/// deploy's when the deployment is one canarybot watches (held: said in its thread).
pub async fn record_review(
    engine: &Engine,
    r: &GateReview,
    kind: &str,
    actor: &str,
    summary: &str,
) {
    let store = engine.store();
    if let Err(e) = store
        .append_service_event(
            &r.service,
            engine.now(),
            kind,
            actor,
            summary,
            &json!({"review": r.id, "environment": r.environment, "sha": r.sha, "decision": r.decision}),
        )
        .await
    {
        tracing::warn!(error = %e, review = %r.id, "cannot record a gate review on the service timeline");
    }
    if let Some(id) = &r.deploy_id {
        let note = Input::Note {
            actor: actor.to_string(),
            text: summary.to_string(),
            announce: kind == "gate_held" || kind == "gate_released",
        };
        if let Err(e) = engine.apply(id, note, "github").await {
            tracing::debug!(error = %e, deploy = %id, "gate review not noted on the deploy");
        }
    }
}

/// `/canary gate approve|reject <id>` by a decider of the review's service (or a freeze admin).
pub async fn release_review(
    engine: &Engine,
    config: &Config,
    id: &str,
    approve: bool,
    who: &crate::domain::Voter,
) -> Result<String, String> {
    let store = engine.store();
    let r = store
        .review(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no GitHub review `{id}`"))?;
    let svc = config
        .service(&r.service)
        .ok_or_else(|| format!("review `{id}` is for an unknown service"))?;
    let allowed = crate::domain::decision::authorizing_entry(&svc.deciders, who).is_some()
        || crate::domain::decision::authorizing_entry(&config.freeze.admins, who).is_some();
    if !allowed {
        return Err(format!(
            "only the deciders of {} ({}) may decide its GitHub reviews",
            r.service,
            svc.deciders.join(", ")
        ));
    }
    if r.decision != "held" {
        return Err(format!("review `{id}` is not held: it was {}", r.decision));
    }
    let (decision, verb) = if approve {
        ("approved", "approves")
    } else {
        ("rejected", "rejects")
    };
    let comment = with_link(
        engine,
        format!(
            "{} {verb} this deployment from chat (it was held: {})",
            who.name, r.comment
        ),
        r.deploy_id.as_deref(),
    );
    if !store
        .decide_review(id, decision, &comment, &who.identity, engine.now())
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("review `{id}` was decided meanwhile"));
    }
    let mut done = r.clone();
    done.decision = decision.to_string();
    record_review(
        engine,
        &done,
        &format!("gate_{decision}"),
        &who.identity,
        &format!("GitHub review {id}: {} {verb} it from chat", who.name),
    )
    .await;
    Ok(format!(
        "GitHub review `{id}` {decision} by {}; GitHub is told within seconds.",
        who.name
    ))
}

/// The deploy page, when the server's public URL is known, for GitHub's comment.
pub fn with_link(engine: &Engine, comment: String, deploy_id: Option<&str>) -> String {
    match deploy_id.and_then(|id| engine.page_url(id)) {
        Some(url) => format!("{comment} — {url}"),
        None => comment,
    }
}
