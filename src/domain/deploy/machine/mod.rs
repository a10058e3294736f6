//! The state machine: one input against the current state gives new events and effects. Split by
//! concern: checks and breaches, votes and decisions, the rollback and its verification, the
//! deploy system's reports, and the passing of time.

mod checks;
mod pipeline;
mod rollback;
mod ticks;
mod votes;

use super::effect::{ChatEffect, ChatMessage, Effect, NamedPerson};
use super::event::{Event, EventData};
use super::fold::{Deploy, DomainError};
use super::input::Input;
use super::model::{BOT, DeployInfo, Policy};
use crate::domain::criteria::Verdict;
use crate::domain::decision::Choice;
use crate::present::chat::{closing_summary, root_view};
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

/// What one input produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    pub reports: Vec<CriterionReport>,
}

/// Opens a deploy: `deploy_started`, `criteria_locked`, and the canary thread.
pub fn start(info: DeployInfo, policy: Policy, now_ms: i64, source: &str) -> Outcome {
    let actor = info.actor.clone().unwrap_or_else(|| "pipeline".to_string());
    let hash = policy.hash();
    let mut out = Outcome::default();
    out.events.push(Event {
        seq: 1,
        at_ms: now_ms,
        actor: actor.clone(),
        source: source.to_string(),
        summary: format!(
            "{} {} started in {}",
            info.service, info.version, info.environment
        ),
        data: EventData::DeployStarted { deploy: info },
    });
    out.events.push(Event {
        seq: 2,
        at_ms: now_ms,
        actor: BOT.to_string(),
        source: source.to_string(),
        summary: format!(
            "criteria locked: {} (hash {})",
            policy
                .criteria
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            &hash[..12]
        ),
        data: EventData::CriteriaLocked { policy, hash },
    });
    if let Ok(deploy) = Deploy::fold(&out.events) {
        out.effects.push(Effect::Chat(ChatEffect::PostRoot {
            root: Box::new(root_view(&deploy)),
        }));
    }
    out
}

impl Deploy {
    /// Runs one input against the current state.
    pub fn handle(&self, input: Input, now_ms: i64, source: &str) -> Result<Outcome, DomainError> {
        let mut w = Work {
            d: self.clone(),
            out: Outcome::default(),
            now_ms,
            source: source.to_string(),
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
            Input::Executor {
                decision_id,
                outcome,
            } => w.executor(decision_id, outcome),
            Input::Tick => {
                w.window();
                w.verify_deadline();
            }
            Input::MetricsUnavailable { error } => w.metrics_unavailable(error),
            Input::Gate { gate, asked_by } => w.gate(gate, asked_by),
            Input::Note {
                actor,
                text,
                announce,
            } => {
                w.emit(&actor, text.clone(), EventData::Note { text: text.clone() });
                if announce {
                    w.reply(format!("ℹ️ {text}"), vec![], false);
                }
            }
            Input::Alert {
                name,
                firing,
                annotations,
            } => w.alert(name, firing, annotations),
        }
        if !self.state.is_final() && w.d.state.is_final() {
            let summary = closing_summary(&w.d);
            w.reply(summary, vec![], false);
        }
        let root = root_view(&w.d);
        if root != root_view(self) {
            w.out.effects.push(Effect::Chat(ChatEffect::UpdateRoot {
                root: Box::new(root),
            }));
        }
        Ok(w.out)
    }
}

/// A working copy: every emitted event is applied at once, so later steps see it.
struct Work {
    d: Deploy,
    out: Outcome,
    now_ms: i64,
    source: String,
}

impl Work {
    pub(super) fn emit(&mut self, actor: &str, summary: String, data: EventData) {
        let e = Event {
            seq: self.d.last_seq + 1,
            at_ms: self.now_ms,
            actor: actor.to_string(),
            source: self.source.clone(),
            summary,
            data,
        };
        self.d.apply(&e);
        self.out.events.push(e);
    }

    pub(super) fn reply(&mut self, text: String, buttons: Vec<Choice>, loud: bool) {
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text,
                buttons,
                loud,
                mentions: Vec::new(),
                person: None,
            },
        }));
    }

    /// A reply that names a person: `before`, their name, `after`.
    pub(super) fn reply_about(&mut self, identity: &str, name: &str, before: &str, after: String) {
        let start = before.len();
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text: format!("{before}{name}{after}"),
                buttons: Vec::new(),
                loud: false,
                mentions: Vec::new(),
                person: Some(NamedPerson {
                    identity: identity.to_string(),
                    start,
                    end: start + name.len(),
                }),
            },
        }));
    }

    /// A loud reply that calls the deciders by name.
    pub(super) fn call_deciders(&mut self, text: String, buttons: Vec<Choice>) {
        let mentions = self.d.policy.deciders.clone();
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text,
                buttons,
                loud: true,
                mentions,
                person: None,
            },
        }));
    }

    pub(super) fn notice(&mut self, to: &str, text: String) {
        self.out.effects.push(Effect::Chat(ChatEffect::Notice {
            to: to.to_string(),
            text,
        }));
    }
}
