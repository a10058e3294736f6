//! What deploy systems and Alertmanager report: promotions, rollbacks, failures, gates, alerts.

use super::Work;
use crate::domain::decision::Choice;
use crate::domain::deploy::effect::Said;
use crate::domain::deploy::event::{BreachCause, EventData};
use crate::domain::deploy::model::{PipelineEvent, State};
use std::collections::BTreeMap;

impl Work {
    pub(super) fn pipeline(
        &mut self,
        event: PipelineEvent,
        actor: Option<String>,
        description: Option<String>,
    ) {
        let actor = actor.unwrap_or_else(|| "pipeline".to_string());
        let said = description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        match (event, self.d.state) {
            (PipelineEvent::RolledBack, State::RolledBack | State::RollbackVerified) => {}
            (PipelineEvent::RolledBack, _) => {
                let decision_id = self.d.rollback_decision_id();
                let detail = if decision_id.is_some() {
                    format!("deploy system reports the rollback done{said}")
                } else {
                    format!("rolled back by {actor} outside canarybot{said}")
                };
                self.rollback_succeeded(&actor, decision_id, detail);
            }
            (PipelineEvent::Promoted, State::Promoted) => {}
            (PipelineEvent::Promoted, State::Canary | State::Breached) => {
                self.emit(
                    &actor,
                    EventData::Promoted {
                        decision_id: None,
                        description: description.clone(),
                    },
                );
                self.say(Said::PromotedByPipeline { actor, description });
            }
            (PipelineEvent::Promoted, state) => {
                let text = format!(
                    "{actor} reported a promotion while the deploy is {}{said}; state unchanged",
                    state.as_str()
                );
                self.emit(&actor, EventData::note(text.clone()));
                self.say(Said::Warning { text });
            }
            (PipelineEvent::Failed, State::RollingBack) => {
                let decision_id = self.d.rollback_decision_id();
                let error = format!("deploy system reports failure{said}");
                self.rollback_failed(&actor, decision_id, error, 0);
            }
            (PipelineEvent::Failed, State::Failed) => {}
            (PipelineEvent::Failed, _) => {
                let reason = if said.is_empty() {
                    "reported failed".to_string()
                } else {
                    said.trim_start_matches(": ").to_string()
                };
                self.emit(
                    &actor,
                    EventData::DeployFailed {
                        reason: reason.clone(),
                    },
                );
                self.say(Said::DeployFailed { actor, reason });
            }
        }
    }

    pub(super) fn alert(
        &mut self,
        name: String,
        firing: bool,
        annotations: BTreeMap<String, String>,
    ) {
        // Alertmanager repeats firing alerts every repeat_interval: record changes only.
        if firing == self.d.firing_alerts.contains(&name) {
            return;
        }
        let summary = annotations
            .get("summary")
            .or_else(|| annotations.get("description"))
            .cloned()
            .unwrap_or_default();
        self.emit(
            "alertmanager",
            EventData::Alert {
                name: name.clone(),
                firing,
                annotations,
            },
        );
        if firing && self.d.state == State::Canary {
            self.breach(
                vec![format!("alert:{name}")],
                BreachCause::AlertFiring { summary },
            );
        } else if firing
            && self.d.state == State::Promoted
            && self.d.watch.open()
            && let Some(promoted_at) = self.d.watch.started_at_ms
        {
            // Not a breach and not a drift: the link between the alert and the latest change.
            self.say(Said::AlertDuringWatch {
                name,
                summary,
                after_s: (self.now_ms.saturating_sub(promoted_at) / 1000).max(0) as u64,
                newer: self.newer_deploy.clone(),
            });
        } else {
            self.say(Said::Alert {
                name,
                firing,
                summary,
            });
        }
    }

    /// A gate opens when the deciders decided that very action; its answer is recorded when it
    /// changes, not every time the deploy system asks.
    pub(super) fn gate(&mut self, gate: Choice, asked_by: String) {
        let open = self.d.gate_open(gate);
        if self.d.gates.get(&gate) == Some(&open) {
            return;
        }
        self.emit(
            &asked_by,
            EventData::GateAnswered {
                gate,
                open,
                asked_by: asked_by.clone(),
            },
        );
    }
}
