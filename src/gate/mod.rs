//! The gate before a deploy, as the API, the CLI, chat, Flagger and GitHub ask it: gathers the
//! facts (freezes, the service's deploys in trouble, the build promoted upstream) and lets
//! `domain::gate` decide; sets and lifts freezes for the people allowed to, and keeps each
//! service's own timeline of both.
//!
//! - this file: asking the gate, and calling out a deploy started during a freeze;
//! - `freezes.rs`: setting and lifting freezes, for those allowed to;
//! - `reviews.rs`: GitHub protection-rule reviews on the timelines, and decided from chat;
//! - `timeline.rs`: a service's own timeline (Flagger's answers, Markdown, the CLI's text).

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

mod freezes;
mod reviews;
mod timeline;

pub use freezes::{Unfrozen, freeze, scope_words, unfreeze};
pub use reviews::{record_review, release_review, with_link};
use std::hash::{BuildHasher, Hasher};
pub use timeline::{record_rollout_answer, service_timeline_markdown, service_timeline_text};

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
