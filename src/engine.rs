//! The engine applies one input to one deploy: load the timeline, run the pure core, word what it
//! produced (`crate::present`), store the new events and the effects they cause in one
//! transaction, then wake the workers.

use crate::Clock;
use crate::domain::{self, Deploy, DeployInfo, DomainError, ExecuteRequest, Input, Policy};
use crate::present::chat::RenderedChat;
use crate::present::outcome::{RenderedEffect, RenderedOutcome, render};
use crate::present::paging::{ChangeMessage, PageMessage};
use crate::store::{Append, DeliveryKey, NewOutbox, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};

/// What the engine writes to the outbox for each chat platform (`chat::outbox` delivers it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatItem {
    pub service: String,
    pub effect: RenderedChat,
    /// The event the message is posted for, which the timeline links to it (see
    /// [`caused_by`]); absent in rows written before messages were recorded, and when the input
    /// wrote no event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

/// The event a chat effect is posted for, among the events of the input that produced it: the
/// root goes with the first (the deploy's start), every other message with the last — the
/// outcome of the input (a decision after the vote that made it, the verdict after a check),
/// since an effect does not say which of its input's events it words.
pub fn caused_by(effect: &RenderedChat, events: &[domain::Event]) -> Option<i64> {
    match effect {
        RenderedChat::PostRoot { .. } => events.first(),
        _ => events.last(),
    }
    .map(|e| e.seq)
}

/// The outbox target of a chat platform's effects.
pub fn target_of(platform: &str) -> String {
    format!("chat:{platform}")
}

/// What the engine writes to the outbox for each paging provider a page goes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageItem {
    pub provider: String,
    pub page: PageMessage,
}

/// What the engine writes to the outbox for each provider that takes change events (a deploy
/// started, promoted, rolled back); delivered in order with the provider's pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeItem {
    pub provider: String,
    pub change: ChangeMessage,
}

/// The outbox target of a paging provider's pages (`page:pagerduty`).
pub fn page_target(provider: &str) -> String {
    format!("page:{provider}")
}

/// The outbox target of executor calls.
pub const EXECUTOR_TARGET: &str = "executor";

/// What the engine writes for an executor call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecItem {
    pub service: String,
    pub request: ExecuteRequest,
    #[serde(default)]
    pub drill: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("unknown deploy `{0}`")]
    UnknownDeploy(String),
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("deploy {0} is being changed by others; try again")]
    Busy(String),
    /// The inbound delivery was acted on before (a redelivery racing the first, or after a crash).
    #[error("delivery {0} was already processed")]
    Duplicate(String),
}

impl From<DomainError> for EngineError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::BadInput(m) => EngineError::BadInput(m),
            DomainError::Corrupt(m) => EngineError::Store(StoreError::Corrupt(m)),
        }
    }
}

/// The deploy after an input, and what the input produced, in words.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The deploy after the input, shared with the engine's snapshot.
    pub deploy: Arc<Deploy>,
    pub outcome: RenderedOutcome,
    /// False when a `started` named a deploy that already existed.
    pub created: bool,
}

pub struct Engine {
    store: Store,
    chat_platforms: Vec<String>,
    clock: Clock,
    /// Striped per-deploy locks: inputs to one deploy queue here instead of racing in the store.
    locks: Vec<Mutex<()>>,
    pub chat_wake: Arc<Notify>,
    pub executor_wake: Arc<Notify>,
    pub page_wake: Arc<Notify>,
    /// The paging providers that hear of deploys starting, promoted and rolled back.
    change_providers: Vec<String>,
    /// The server's public URL: each deploy's page link is made from it.
    public_url: Option<String>,
    /// Delivery figures the workers keep, for `/metrics`.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// This process among the replicas sharing the store: the holder named in its leases.
    replica: String,
    /// Deploy states as of their last seq: an input reads only the events after it (none, unless
    /// another replica appended) instead of the whole timeline, and folds only those.
    snapshots: std::sync::Mutex<HashMap<String, Arc<Deploy>>>,
}

/// How many deploy states are kept; beyond it finished deploys go first, then all.
const SNAPSHOTS: usize = 4096;

const STRIPES: usize = 64;
/// Tries of an input that keeps meeting appends of other replicas to the same deploy (a burst of
/// votes spread over replicas), each after a short, growing, jittered pause.
const APPEND_ATTEMPTS: u32 = 12;

/// The pause before try `attempt` (1-based) after a concurrent append: up to 2^attempt ms
/// (capped at 64 ms), jittered so that two replicas do not retry in step.
fn conflict_pause(attempt: u32) -> std::time::Duration {
    let cap_us = (1u64 << attempt.min(6)) * 1000;
    let jitter = (crate::retry::jitter() * cap_us as f64) as u64;
    std::time::Duration::from_micros(500 + jitter.min(cap_us - 1))
}

impl Engine {
    pub fn new(store: Store, chat_platforms: Vec<String>, clock: Clock) -> Self {
        let replica = store.holder().to_string();
        Engine {
            store,
            chat_platforms,
            clock,
            locks: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            chat_wake: Arc::new(Notify::new()),
            executor_wake: Arc::new(Notify::new()),
            page_wake: Arc::new(Notify::new()),
            change_providers: Vec::new(),
            public_url: None,
            telemetry: Arc::new(crate::telemetry::Telemetry::default()),
            replica,
            snapshots: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Deploys opened from now on carry a link to their page under `url`.
    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url.map(|u| u.trim_end_matches('/').to_string());
        self
    }

    /// These paging providers hear of each deploy started, promoted and rolled back (PagerDuty
    /// `change_events = true`).
    pub fn with_change_events(mut self, providers: Vec<String>) -> Self {
        self.change_providers = providers;
        self
    }

    /// The page of a deploy, when the public URL is known.
    pub fn page_url(&self, deploy_id: &str) -> Option<String> {
        self.public_url.as_ref().map(|u| {
            format!(
                "{u}/deploys/{}",
                crate::present::postmortem::path_segment(deploy_id)
            )
        })
    }

    /// This replica's name, as its leases name it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    fn lock_for(&self, deploy_id: &str) -> &Mutex<()> {
        let mut h = DefaultHasher::new();
        deploy_id.hash(&mut h);
        &self.locks[(h.finish() as usize) % STRIPES]
    }

    /// The deploy as it is now, without reading its whole timeline when it was seen before.
    pub async fn deploy(&self, deploy_id: &str) -> Result<Deploy, EngineError> {
        Ok(Arc::unwrap_or_clone(self.current(deploy_id).await?))
    }

    /// [`Self::deploy`], shared with the snapshot: copied only when newer events change it.
    async fn current(&self, deploy_id: &str) -> Result<Arc<Deploy>, EngineError> {
        let Some(mut deploy) = self.snapshot(deploy_id) else {
            let (deploy, _) = self.load(deploy_id).await?;
            let deploy = Arc::new(deploy);
            self.remember(deploy.clone());
            return Ok(deploy);
        };
        let newer = self.store.events_after(deploy_id, deploy.last_seq).await?;
        if !newer.is_empty() {
            let d = Arc::make_mut(&mut deploy);
            for e in &newer {
                d.apply(e);
            }
            self.remember(deploy.clone());
        }
        Ok(deploy)
    }

    /// Applies `input` unless the deploy's snapshot, current at `last_seq`, says it would change
    /// nothing: the ticker asks every canary every two seconds, and almost always nothing is due.
    pub async fn apply_if_due(
        &self,
        deploy_id: &str,
        last_seq: i64,
        input: Input,
        source: &str,
    ) -> Result<Option<Applied>, EngineError> {
        let current = self.snapshot(deploy_id).filter(|d| d.last_seq == last_seq);
        if let Some(deploy) = current {
            let outcome = deploy.handle(input.clone(), self.now(), source)?;
            if outcome.events.is_empty() && outcome.effects.is_empty() {
                return Ok(None);
            }
        }
        self.apply(deploy_id, input, source).await.map(Some)
    }

    /// The deploy as this engine last saw it (perhaps behind the store).
    fn snapshot(&self, deploy_id: &str) -> Option<Arc<Deploy>> {
        self.snapshots.lock().ok()?.get(deploy_id).cloned()
    }

    fn remember(&self, deploy: Arc<Deploy>) {
        let Ok(mut snapshots) = self.snapshots.lock() else {
            return;
        };
        if snapshots.len() >= SNAPSHOTS && !snapshots.contains_key(&deploy.info.id) {
            snapshots.retain(|_, d| !d.state.is_final());
            if snapshots.len() >= SNAPSHOTS {
                snapshots.clear();
            }
        }
        snapshots.insert(deploy.info.id.clone(), deploy);
    }

    /// The deploy and its timeline.
    pub async fn load(&self, deploy_id: &str) -> Result<(Deploy, Vec<domain::Event>), EngineError> {
        let events = self
            .store
            .events(deploy_id)
            .await?
            .ok_or_else(|| EngineError::UnknownDeploy(deploy_id.to_string()))?;
        let deploy = Deploy::fold(&events)?;
        Ok((deploy, events))
    }

    /// Opens a deploy. A deploy that already exists is returned as it is (`created: false`).
    pub async fn start(
        &self,
        mut info: DeployInfo,
        policy: Policy,
        source: &str,
    ) -> Result<Applied, EngineError> {
        info.page_url = self.page_url(&info.id);
        let _guard = self.lock_for(&info.id).lock().await;
        // A deploy seen before is known here; any other is written as new, and the store's
        // refusal (it exists) is the check — no read before each new deploy.
        if let Some(deploy) = self.snapshot(&info.id) {
            return Ok(Applied {
                deploy,
                outcome: RenderedOutcome::default(),
                created: false,
            });
        }
        let now = self.now();
        let outcome = domain::deploy::start(info.clone(), policy, now, source);
        let deploy = Deploy::fold(&outcome.events)?;
        let outcome = render(outcome);
        let outbox = self.outbox_rows(&info, &outcome.events, &outcome.effects);
        let result = self
            .store
            .append(Append {
                deploy_id: &info.id,
                new_deploy: Some(&info),
                expected_last_seq: 0,
                events: &outcome.events,
                state: deploy.state,
                outbox: &outbox,
                samples: &[],
                samples_at_ms: now,
                now_ms: now,
                delivery: None,
            })
            .await;
        match result {
            Ok(()) => {
                let deploy = Arc::new(deploy);
                self.wake(&outcome);
                self.remember(deploy.clone());
                Ok(Applied {
                    deploy,
                    outcome,
                    created: true,
                })
            }
            // Another replica opened it first.
            Err(StoreError::Conflict(_)) => {
                let deploy = self.current(&info.id).await?;
                Ok(Applied {
                    deploy,
                    outcome: RenderedOutcome::default(),
                    created: false,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies one input to an existing deploy.
    pub async fn apply(
        &self,
        deploy_id: &str,
        input: Input,
        source: &str,
    ) -> Result<Applied, EngineError> {
        self.apply_once(deploy_id, input, source, None).await
    }

    /// Applies one input, storing `delivery` with what it writes: a second delivery of the same id
    /// fails with `Duplicate` and writes nothing, across restarts.
    pub async fn apply_once(
        &self,
        deploy_id: &str,
        input: Input,
        source: &str,
        delivery: Option<DeliveryKey<'_>>,
    ) -> Result<Applied, EngineError> {
        let _guard = self.lock_for(deploy_id).lock().await;
        for attempt in 0..APPEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(conflict_pause(attempt)).await;
            }
            let deploy = self.current(deploy_id).await?;
            let now = self.now();
            let (samples, samples_at_ms) = match &input {
                Input::Check { samples, at_ms } => (
                    samples
                        .iter()
                        .map(crate::domain::Sample::with_medians)
                        .collect(),
                    at_ms.unwrap_or(now),
                ),
                // A watch check keeps its readings as samples under `watch:<criterion>`: the
                // value now, and the reference it was held to (the higher of 1 and 7 days ago).
                // Their count is the watch's checks. Only while the watch runs.
                Input::WatchCheck { readings, at_ms }
                    if deploy.watch.open()
                        && deploy.watch.until_ms.is_some_and(|u| *at_ms < u && now < u) =>
                {
                    (
                        readings
                            .iter()
                            .map(|r| crate::domain::Sample {
                                criterion: format!("watch:{}", r.criterion),
                                canary: r.value,
                                baseline: match (r.day_ago, r.week_ago) {
                                    (Some(a), Some(b)) => Some(a.max(b)),
                                    (a, b) => a.or(b),
                                },
                                ..crate::domain::Sample::default()
                            })
                            .collect(),
                        *at_ms,
                    )
                }
                _ => (Vec::new(), now),
            };
            let outcome = self.guarded(&deploy, &input, now, source).await?;
            // The snapshot is the fold of the timeline: the outcome's own deploy also holds live
            // values no event records.
            let mut after = Deploy::clone(&deploy);
            for e in &outcome.events {
                after.apply(e);
            }
            let after = Arc::new(after);
            // Worded here, written with the events below.
            let outcome = render(outcome);
            if outcome.events.is_empty() && outcome.effects.is_empty() && samples.is_empty() {
                return Ok(Applied {
                    deploy: after,
                    outcome,
                    created: false,
                });
            }
            let outbox = self.outbox_rows(&deploy.info, &outcome.events, &outcome.effects);
            let result = self
                .store
                .append(Append {
                    deploy_id,
                    new_deploy: None,
                    expected_last_seq: deploy.last_seq,
                    events: &outcome.events,
                    state: after.state,
                    outbox: &outbox,
                    samples: &samples,
                    samples_at_ms,
                    now_ms: now,
                    delivery,
                })
                .await;
            match result {
                Ok(()) => {
                    self.wake(&outcome);
                    self.remember(after.clone());
                    return Ok(Applied {
                        deploy: after,
                        outcome,
                        created: false,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::Duplicate(key)) => return Err(EngineError::Duplicate(key)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Busy(deploy_id.to_string()))
    }

    /// Runs `input` against `deploy`. When that decides a rollback the deploy system would be
    /// called for, the store is asked whether a newer deploy of the same service and environment
    /// started after it, and if so the input runs again knowing it: the domain then holds the
    /// rollback for a decider's confirmation. Asked only then, so ticks and checks cost no query.
    async fn guarded(
        &self,
        deploy: &Deploy,
        input: &Input,
        now: i64,
        source: &str,
    ) -> Result<domain::Outcome, EngineError> {
        let outcome = deploy.handle(input.clone(), now, source)?;
        // The watch after promotion: a drift (and an alert during the watch) says whether a
        // newer deploy is live; the watch's end says how many checks were made.
        let about_watch = deploy.state == domain::State::Promoted
            && outcome.events.iter().any(|e| {
                matches!(
                    e.data,
                    domain::EventData::DriftDetected { .. }
                        | domain::EventData::Alert { firing: true, .. }
                )
            });
        let watch_ended = outcome
            .events
            .iter()
            .any(|e| matches!(e.data, domain::EventData::WatchEnded { .. }));
        let rollback = !deploy.info.is_drill() && calls_rollback_on_decision(&outcome);
        if !(rollback || about_watch || watch_ended) {
            return Ok(outcome);
        }
        let mut context = domain::Context::default();
        if watch_ended {
            context.watch_checks = Some(self.store.watch_checks(&deploy.info.id).await?);
        }
        if (rollback || about_watch) && !deploy.info.is_drill() {
            let info = &deploy.info;
            context.newer_deploy = self
                .store
                .newer_deploy(
                    &info.id,
                    &info.service,
                    &info.environment,
                    deploy.started_at_ms,
                )
                .await?;
        }
        if context == domain::Context::default() {
            return Ok(outcome);
        }
        Ok(deploy.handle_in(input.clone(), &context, now, source)?)
    }

    fn wake(&self, outcome: &RenderedOutcome) {
        if !self.change_providers.is_empty() && !outcome.events.is_empty() {
            self.page_wake.notify_waiters();
        }
        for e in &outcome.effects {
            match e {
                RenderedEffect::Chat(_) => self.chat_wake.notify_waiters(),
                RenderedEffect::Execute(_) => self.executor_wake.notify_waiters(),
                RenderedEffect::Page(_) => self.page_wake.notify_waiters(),
            }
        }
    }

    fn outbox_rows(
        &self,
        info: &DeployInfo,
        events: &[domain::Event],
        effects: &[RenderedEffect],
    ) -> Vec<NewOutbox> {
        let service = info.service.as_str();
        let mut rows = Vec::new();
        if !self.change_providers.is_empty() {
            for change in events
                .iter()
                .filter_map(|e| crate::present::paging::change(e, info))
            {
                for provider in &self.change_providers {
                    let item = ChangeItem {
                        provider: provider.clone(),
                        change: change.clone(),
                    };
                    rows.push(NewOutbox {
                        target: page_target(provider),
                        payload: serde_json::to_string(&item).unwrap_or_default(),
                    });
                }
            }
        }
        for effect in effects {
            match effect {
                RenderedEffect::Chat(chat) => {
                    for platform in &self.chat_platforms {
                        let item = ChatItem {
                            service: service.to_string(),
                            effect: chat.clone(),
                            seq: caused_by(chat, events),
                        };
                        rows.push(NewOutbox {
                            target: target_of(platform),
                            payload: serde_json::to_string(&item).unwrap_or_default(),
                        });
                    }
                }
                RenderedEffect::Page(page) => {
                    for provider in &page.providers {
                        let item = PageItem {
                            provider: provider.clone(),
                            page: page.clone(),
                        };
                        rows.push(NewOutbox {
                            target: page_target(provider),
                            payload: serde_json::to_string(&item).unwrap_or_default(),
                        });
                    }
                }
                RenderedEffect::Execute(request) => {
                    let item = ExecItem {
                        service: service.to_string(),
                        request: request.clone(),
                        drill: info.is_drill(),
                    };
                    rows.push(NewOutbox {
                        target: EXECUTOR_TARGET.to_string(),
                        payload: serde_json::to_string(&item).unwrap_or_default(),
                    });
                }
            }
        }
        rows
    }
}

/// Whether `outcome` decides a rollback and calls the deploy system for it in the same input.
fn calls_rollback_on_decision(outcome: &domain::Outcome) -> bool {
    let decided = outcome.events.iter().any(|e| {
        matches!(
            e.data,
            domain::EventData::Decision {
                action: domain::Choice::Rollback,
                ..
            }
        )
    });
    decided
        && outcome.effects.iter().any(|e| {
            matches!(
                e,
                domain::Effect::Execute(ExecuteRequest {
                    action: domain::Choice::Rollback,
                    ..
                })
            )
        })
}
