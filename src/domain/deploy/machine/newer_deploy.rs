//! No surprise rollbacks: a rollback decided while a newer deploy of the same service and
//! environment has started after this one would undo that one too, so it is held until a decider
//! confirms it. The decision stands (decide is over); only the call to the deploy system waits.

use super::Work;
use crate::domain::decision::{Choice, Voter, authorizing_entry};
use crate::domain::deploy::effect::{Effect, ExecuteRequest, Notice, Said};
use crate::domain::deploy::event::EventData;
use crate::domain::deploy::input::NewerDeploy;
use crate::domain::deploy::model::BOT;

impl Work {
    /// Holds the rollback `decision_id` instead of calling the deploy system, and asks the
    /// deciders to confirm.
    pub(super) fn hold_rollback(&mut self, decision_id: String, newer: NewerDeploy) {
        self.emit(
            BOT,
            EventData::RollbackHeldForNewerDeploy {
                decision_id,
                newer_id: newer.id.clone(),
                newer_version: newer.version.clone(),
            },
        );
        self.say(Said::RollbackHeld {
            newer_id: newer.id,
            newer_version: newer.version,
        });
    }

    /// A decider confirms the held rollback: on the timeline with its author, then the deploy
    /// system is called as for any rollback. Anyone else is refused as a vote would be.
    pub(super) fn confirm_rollback(&mut self, by: Voter) {
        let reply_to = by.identity.clone();
        let (Some(held), Some(decision)) = (
            self.d.rollback_held().cloned(),
            self.d.current_decision.clone(),
        ) else {
            self.notice(
                &reply_to,
                Notice::NothingToConfirm {
                    state: self.d.state,
                },
            );
            return;
        };
        let Some(entry) = authorizing_entry(&self.d.policy.deciders, &by).map(str::to_string)
        else {
            self.refuse_non_decider(&by, Choice::Rollback);
            return;
        };
        let who = by.key();
        self.emit(
            &who,
            EventData::RollbackConfirmed {
                decision_id: held.decision_id.clone(),
                by: who.clone(),
                name: by.name.clone(),
                authorized_by: entry,
            },
        );
        self.say(Said::RollbackConfirmed {
            identity: reply_to,
            name: by.name,
        });
        self.out.effects.push(Effect::Execute(ExecuteRequest {
            decision_id: held.decision_id,
            action: Choice::Rollback,
            reason: decision.reason,
            decided_by: decision.decided_by,
        }));
    }
}
