//! The gate before a deploy, as the API, the CLI, chat, Flagger and GitHub ask it: gathers the
//! facts (freezes, the service's deploys in trouble, the build promoted upstream) and lets
//! `domain::gate` decide; sets and lifts freezes for the people allowed to, and keeps each
//! service's own timeline of both.

use crate::config::Config;
use crate::domain::decision::authorizing_entry;
use crate::domain::deploy::{FrozenAtStart, Input};
use crate::domain::freeze::{Freeze, FreezeCause, FreezeScope, covering};
use crate::domain::gate::{GateAnswer, GateFacts, Upstream, decide};
use crate::domain::{State, Voter};
use crate::engine::{Engine, EngineError};
use crate::present::words::{duration, timestamp};
use crate::store::{GateReview, ServiceEvent, Store, StoreError};
use serde_json::json;
use std::hash::{BuildHasher, Hasher};

/// The states in which a deploy keeps the service's gate closed.
const TROUBLED: [State; 3] = [State::Breached, State::RollingBack, State::RollbackFailed];

/// Why the gate could not be asked, or a freeze not set.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("unknown service `{service}` (services: {known})")]
    UnknownService { service: String, known: String },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unknown(config: &Config, service: &str) -> GateError {
    GateError::UnknownService {
        service: service.to_string(),
        known: config.service_names().join(", "),
    }
}

/// The freeze covering `service` now, if any.
pub async fn frozen(
    store: &Store,
    config: &Config,
    service: &str,
    now_ms: i64,
) -> Result<Option<FreezeCause>, StoreError> {
    let set = store.active_freezes(now_ms).await?;
    Ok(covering(service, now_ms, &set, &config.freeze.scheduled()))
}

/// A deploy that just started while a freeze covers its service: its thread says so loudly (who
/// froze and why, the deciders called) and its timeline keeps it. Returns the freeze, for the
/// answer to whoever announced the deploy. Call it once, when the deploy was created.
pub async fn note_if_frozen(
    engine: &Engine,
    config: &Config,
    deploy_id: &str,
    service: &str,
    source: &str,
) -> Result<Option<FreezeCause>, EngineError> {
    let Some(cause) = frozen(engine.store(), config, service, engine.now()).await? else {
        return Ok(None);
    };
    engine
        .apply(
            deploy_id,
            Input::StartedDuringFreeze {
                freeze: FrozenAtStart::from(&cause),
            },
            source,
        )
        .await?;
    Ok(Some(cause))
}

/// May a deploy of `service` start in `environment` now (with this build, when known)?
pub async fn ask(
    store: &Store,
    config: &Config,
    service: &str,
    environment: &str,
    sha: Option<&str>,
    now_ms: i64,
) -> Result<GateAnswer, GateError> {
    let svc = config
        .service(service)
        .ok_or_else(|| unknown(config, service))?;
    let gate = svc.gate.clone().unwrap_or_default();
    if !gate.guards(environment) {
        return Ok(GateAnswer {
            open: true,
            rule: crate::domain::gate::GateRule::Open,
            reason: format!(
                "{service}'s gate guards {} only",
                gate.environments.join(", ")
            ),
            deploy_id: None,
            freeze: None,
        });
    }
    let troubled = store
        .active(&TROUBLED)
        .await?
        .into_iter()
        .filter(|r| r.service == service && r.drill == 0)
        .map(|r| (r.id, r.state))
        .collect();
    let upstream = match gate.require_promoted_in.as_deref() {
        Some(up) if up != environment => Some(Upstream {
            environment: up.to_string(),
            promoted_by: match sha {
                Some(sha) => store.promoted_build(service, up, sha).await?,
                None => None,
            },
        }),
        _ => None,
    };
    Ok(decide(&GateFacts {
        service: service.to_string(),
        environment: environment.to_string(),
        sha: sha.map(str::to_string),
        frozen: frozen(store, config, service, now_ms).await?,
        troubled,
        upstream,
    }))
}

/// Whether `who` may freeze or unfreeze `scope`: a decider of the service, or for `all` a decider
/// of every service; a `[freeze] admins` entry may do both.
fn may_freeze(config: &Config, scope: &FreezeScope, who: &Voter) -> Result<(), GateError> {
    if authorizing_entry(&config.freeze.admins, who).is_some() {
        return Ok(());
    }
    match scope {
        FreezeScope::Service(s) => {
            let svc = config.service(s).ok_or_else(|| unknown(config, s))?;
            if authorizing_entry(&svc.deciders, who).is_some() {
                Ok(())
            } else {
                Err(GateError::Refused(format!(
                    "only the deciders of {s} ({}) or a freeze admin may freeze or unfreeze it",
                    svc.deciders.join(", ")
                )))
            }
        }
        FreezeScope::All => {
            let not: Vec<&str> = config
                .services
                .iter()
                .filter(|s| authorizing_entry(&s.deciders, who).is_none())
                .map(|s| s.name.as_str())
                .collect();
            if not.is_empty() {
                Ok(())
            } else {
                Err(GateError::Refused(format!(
                    "freezing all needs a decider of every service or a freeze admin ([freeze] admins); you do not decide {}",
                    not.join(", ")
                )))
            }
        }
    }
}

/// The services a scope covers, as configured.
fn services_of(config: &Config, scope: &FreezeScope) -> Vec<String> {
    match scope {
        FreezeScope::All => config.services.iter().map(|s| s.name.clone()).collect(),
        FreezeScope::Service(s) => vec![s.clone()],
    }
}

/// A new freeze's id: the time and a random part, readable in a command (`fz-…`).
fn freeze_id(now_ms: i64) -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("fz-{now_ms}-{:04x}", random & 0xffff)
}

/// Freezes `scope` for `who`, until unfrozen or for `lasting`.
pub async fn freeze(
    store: &Store,
    config: &Config,
    scope: FreezeScope,
    who: &Voter,
    reason: Option<String>,
    lasting: Option<std::time::Duration>,
    now_ms: i64,
) -> Result<Freeze, GateError> {
    may_freeze(config, &scope, who)?;
    let f = Freeze {
        id: freeze_id(now_ms),
        scope,
        by: who.identity.clone(),
        by_name: who.name.clone(),
        reason,
        at_ms: now_ms,
        until_ms: lasting.map(|d| now_ms.saturating_add(d.as_millis() as i64)),
    };
    store.add_freeze(&f).await?;
    let summary = format!(
        "{} froze {}{}{}",
        who.name,
        scope_words(&f.scope),
        lasting
            .map(|d| format!(" for {}", duration(d.as_secs_f64())))
            .unwrap_or_default(),
        f.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    for service in services_of(config, &f.scope) {
        store
            .append_service_event(
                &service,
                now_ms,
                "freeze_set",
                &who.identity,
                &summary,
                &json!({"freeze": f}),
            )
            .await?;
    }
    Ok(f)
}

/// What an unfreeze did: how many freezes it lifted, and what still covers the scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfrozen {
    pub lifted: u64,
    /// For one service: a freeze that still covers it (of `all`, or scheduled).
    pub still: Option<FreezeCause>,
}

pub async fn unfreeze(
    store: &Store,
    config: &Config,
    scope: FreezeScope,
    who: &Voter,
    now_ms: i64,
) -> Result<Unfrozen, GateError> {
    may_freeze(config, &scope, who)?;
    let lifted = store.lift_freezes(&scope, &who.identity, now_ms).await?;
    if lifted > 0 {
        let summary = format!("{} lifted the freeze of {}", who.name, scope_words(&scope));
        for service in services_of(config, &scope) {
            store
                .append_service_event(
                    &service,
                    now_ms,
                    "freeze_lifted",
                    &who.identity,
                    &summary,
                    &json!({"scope": scope.label(), "lifted": lifted}),
                )
                .await?;
        }
    }
    let still = match &scope {
        FreezeScope::Service(s) => frozen(store, config, s, now_ms).await?,
        FreezeScope::All => None,
    };
    Ok(Unfrozen { lifted, still })
}

/// `checkout`, `every service`
pub fn scope_words(scope: &FreezeScope) -> String {
    match scope {
        FreezeScope::All => "every service".to_string(),
        FreezeScope::Service(s) => s.clone(),
    }
}

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

/// Records Flagger's confirm-rollout answer for `canary` (`namespace/name`) on the service's
/// timeline, only when it differs from the last one recorded for that canary: Flagger asks again
/// every interval, and a row per poll would bury the timeline.
pub async fn record_rollout_answer(
    store: &Store,
    service: &str,
    canary: &str,
    answer: &GateAnswer,
    now_ms: i64,
) -> Result<(), StoreError> {
    const KINDS: [&str; 2] = ["rollout_allowed", "rollout_refused"];
    let last = store
        .service_events(service, 200)
        .await?
        .into_iter()
        .rev()
        .find(|e| KINDS.contains(&e.kind.as_str()) && e.details["canary"] == canary);
    let rule = json!(answer.rule);
    if last.is_some_and(|e| e.details["rule"] == rule) {
        return Ok(());
    }
    let (kind, summary) = if answer.open {
        (
            KINDS[0],
            format!("Flagger may roll out {canary}: {}", answer.reason),
        )
    } else {
        (
            KINDS[1],
            format!("Flagger's rollout of {canary} refused: {}", answer.reason),
        )
    };
    store
        .append_service_event(
            service,
            now_ms,
            kind,
            "flagger",
            &summary,
            &json!({"canary": canary, "rule": rule, "open": answer.open, "reason": answer.reason}),
        )
        .await
}

/// A service's own timeline as Markdown: when, what, who.
pub fn service_timeline_markdown(service: &str, events: &[ServiceEvent]) -> String {
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut md = format!("# {}: the service's timeline\n\n", cell(service));
    if events.is_empty() {
        md.push_str("Nothing yet: no freezes and no gate reviews.\n");
        return md;
    }
    md.push_str("| When | What | Who |\n|---|---|---|\n");
    for e in events {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            timestamp(e.at_ms),
            cell(&e.summary),
            cell(&e.actor)
        ));
    }
    md
}

/// `canarybot timeline --service`: the service's own timeline from the store, as Markdown or
/// (`json`) as the API gives it.
pub async fn service_timeline_text(
    config: &Config,
    service: &str,
    json: bool,
) -> Result<String, GateError> {
    if config.service(service).is_none() {
        return Err(unknown(config, service));
    }
    let store = Store::connect(&config.database.url).await?;
    let events = store.service_events(service, 1000).await;
    store.close().await;
    let events = events?;
    Ok(if json {
        let mut text = serde_json::to_string_pretty(&json!({"service": service, "events": events}))
            .unwrap_or_default();
        text.push('\n');
        text
    } else {
        service_timeline_markdown(service, &events)
    })
}
