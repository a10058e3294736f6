//! The state machine: one input against the current state gives new events and effects. Split by
//! concern: checks and breaches, votes and decisions, the rollback and its verification, the
//! deploy system's reports, and the passing of time.

mod checks;
mod escalation;
mod newer_deploy;
mod normal;
mod notes;
mod pipeline;
mod rollback;
mod ticks;
mod votes;
mod watch;

pub use watch::{WatchVerdict, judge as judge_watch};

use super::effect::{ChatEffect, Effect, Notice, Said};
use super::event::{Event, EventData, PageReason};
use super::fold::{Deploy, DomainError};
use super::input::{Context, Input, NewerDeploy};
use super::model::{BOT, DeployInfo, Policy, State};
use crate::domain::criteria::Verdict;
use serde::Serialize;

/// The report of one criterion after a check, for the caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionReport {
    pub criterion: String,
    pub verdict: Verdict,
    pub consecutive_failures: u32,
    pub failure_limit: u32,
    pub reasons: Vec<String>,
}

/// What one input produced. Events carry no `summary` yet: the presentation words them, and the
/// chat effects, against `deploy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    pub reports: Vec<CriterionReport>,
    /// The deploy as the thread shows it after the input: the new events applied, and the latest
    /// values of each criterion checked (shown live, though no event records a plain pass).
    pub deploy: Deploy,
}

/// What the steps of one input produce, gathered as they go.
#[derive(Debug, Default)]
struct Produced {
    events: Vec<Event>,
    effects: Vec<Effect>,
    reports: Vec<CriterionReport>,
}

/// Opens a deploy: `deploy_started`, `criteria_locked`, and the canary thread.
pub fn start(info: DeployInfo, policy: Policy, now_ms: i64, source: &str) -> Outcome {
    let actor = info.actor.clone().unwrap_or_else(|| "pipeline".to_string());
    let hash = policy.hash();
    let started = Event {
        seq: 1,
        at_ms: now_ms,
        actor,
        source: source.to_string(),
        summary: String::new(),
        data: EventData::DeployStarted {
            deploy: info.clone(),
        },
    };
    let deploy = Deploy::opened(&started, &info, &policy, &hash, 2);
    let locked = Event {
        seq: 2,
        at_ms: now_ms,
        actor: BOT.to_string(),
        source: source.to_string(),
        summary: String::new(),
        data: EventData::CriteriaLocked { policy, hash },
    };
    Outcome {
        events: vec![started, locked],
        effects: vec![Effect::Chat(ChatEffect::PostRoot)],
        reports: Vec::new(),
        deploy,
    }
}

impl Deploy {
    /// Runs one input against the current state, knowing nothing of other deploys.
    pub fn handle(&self, input: Input, now_ms: i64, source: &str) -> Result<Outcome, DomainError> {
        self.handle_in(input, &Context::default(), now_ms, source)
    }

    /// Runs one input against the current state, with what the shell knows of other deploys.
    pub fn handle_in(
        &self,
        input: Input,
        context: &Context,
        now_ms: i64,
        source: &str,
    ) -> Result<Outcome, DomainError> {
        let mut w = Work {
            d: self.clone(),
            out: Produced::default(),
            now_ms,
            source: source.to_string(),
            newer_deploy: context.newer_deploy.clone(),
            watch_checks: context.watch_checks,
        };
        match input {
            Input::Pipeline {
                event,
                actor,
                description,
            } => w.pipeline(event, actor, description),
            Input::Check { samples, .. } => {
                w.check(samples)?;
                w.window();
            }
            Input::Vote(vote) => w.vote(vote),
            Input::ConfirmRollback { by } => w.confirm_rollback(by),
            Input::Executor {
                decision_id,
                outcome,
            } => w.executor(decision_id, outcome),
            Input::Tick => {
                w.window();
                w.verify_deadline();
                w.watch_deadline();
                w.escalate();
            }
            Input::WatchCheck { readings, at_ms } => w.watch_check(readings, at_ms),
            Input::PageFailed { provider, error } => w.page_failed(provider, error),
            Input::MetricsUnavailable { error } => w.metrics_unavailable(error),
            Input::Gate { gate, asked_by } => w.gate(gate, asked_by),
            Input::Note {
                actor,
                text,
                announce,
            } => {
                w.emit(&actor, EventData::note(text.clone()));
                if announce {
                    w.say(Said::Note { text });
                }
            }
            Input::AddNote { text, note } => w.add_note(text, note),
            Input::WithdrawNote { message, by } => w.withdraw_note(message, by),
            Input::Alert {
                name,
                firing,
                annotations,
            } => w.alert(name, firing, annotations),
            Input::NormalFetched(normals) => w.normal_fetched(normals),
            Input::StartedDuringFreeze { freeze } => {
                w.emit("gate", EventData::StartedDuringFreeze(freeze.clone()));
                w.say(Said::StartedDuringFreeze(freeze));
            }
        }
        // A page is resolved once a decision is recorded or the deploy ends; the rollback failing
        // or recovery overdue pages at once.
        let last = |kind: fn(&EventData) -> bool| w.out.events.iter().rposition(|e| kind(&e.data));
        let paged_at = last(|d| matches!(d, EventData::Paged { .. }));
        let decided_at = last(|d| matches!(d, EventData::Decision { .. }));
        // A decision recorded after the page resolves it; a page sent after the decision (the
        // rollback it called failed) stays open.
        let decided_since_page = match (decided_at, paged_at) {
            (Some(d), Some(p)) => d > p,
            (Some(_), None) => true,
            (None, _) => false,
        };
        // A promoted deploy is final, but a drift during its watch is a decision waiting.
        let waiting = w.drift_vote_open();
        if w.d.escalation.open_page.is_some()
            && (decided_since_page || (w.d.state.is_final() && !waiting))
        {
            w.resolve_page(PageReason::NoDecision);
        }
        if self.state != State::RollbackFailed && w.d.state == State::RollbackFailed {
            w.page(PageReason::RollbackFailed);
        }
        if !self.verify_timed_out && w.d.verify_timed_out {
            w.page(PageReason::VerifyTimedOut);
        }
        if !self.state.is_final() && w.d.state.is_final() {
            w.say(Said::Closed);
            // The closing summary shows the breached criteria over the whole deploy.
            let breached = w.d.breached_criteria.clone();
            w.charts(&breached);
        }
        // Watching after promotion starts in one place, whichever path promoted the deploy; a
        // rollback of the promoted deploy ends it.
        w.start_watch(self.state);
        if self.state == State::Promoted && w.d.state != State::Promoted {
            w.end_watch(super::event::WatchEnd::RolledBack);
        }
        if w.d.root_facts() != self.root_facts() {
            w.out.effects.push(Effect::Chat(ChatEffect::UpdateRoot));
        }
        Ok(Outcome {
            events: w.out.events,
            effects: w.out.effects,
            reports: w.out.reports,
            deploy: w.d,
        })
    }
}

/// A working copy: every emitted event is applied at once, so later steps see it.
struct Work {
    d: Deploy,
    out: Produced,
    now_ms: i64,
    source: String,
    /// A deploy of the same service and environment started after this one, if the shell found
    /// one: a rollback decided now is held for confirmation instead of executed.
    newer_deploy: Option<NewerDeploy>,
    /// The watch checks stored so far, when the shell counted them.
    watch_checks: Option<u32>,
}

impl Work {
    pub(super) fn emit(&mut self, actor: &str, data: EventData) {
        let e = Event {
            seq: self.d.last_seq + 1,
            at_ms: self.now_ms,
            actor: actor.to_string(),
            source: self.source.clone(),
            summary: String::new(),
            data,
        };
        self.d.apply(&e);
        self.out.events.push(e);
    }

    /// Tells the thread.
    pub(super) fn say(&mut self, said: Said) {
        self.out
            .effects
            .push(Effect::Chat(ChatEffect::Reply { said }));
    }

    /// Charts of `criteria` in the thread, as they stand now; alerts (`alert:Name`) have none.
    pub(super) fn charts(&mut self, criteria: &[String]) {
        let charted: Vec<String> = criteria
            .iter()
            .filter(|c| !c.starts_with("alert:"))
            .cloned()
            .collect();
        for criterion in &charted {
            self.out.effects.push(Effect::Chat(ChatEffect::Chart {
                criterion: criterion.clone(),
                with: charted.clone(),
                until_ms: self.now_ms,
            }));
        }
    }

    /// Answers one person privately.
    pub(super) fn notice(&mut self, to: &str, notice: Notice) {
        self.out.effects.push(Effect::Chat(ChatEffect::Notice {
            to: to.to_string(),
            notice,
        }));
    }
}
