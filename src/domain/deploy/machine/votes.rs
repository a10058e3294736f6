//! Votes, authority and quorum, and the decisions they make.

use super::Work;
use crate::domain::decision::{Choice, Vote, authorizing_entry};
use crate::domain::deploy::effect::{Effect, ExecuteRequest};
use crate::domain::deploy::event::EventData;
use crate::domain::deploy::model::State;

impl Work {
    pub(super) fn vote(&mut self, vote: Vote) {
        // One person is one vote, whichever platform they vote from; private answers go back to
        // the identity that voted.
        let who = vote.voter.key();
        let reply_to = vote.voter.identity.clone();
        let name = vote.voter.name.clone();
        let open = match vote.choice {
            Choice::Rollback => matches!(
                self.d.state,
                State::Canary | State::Breached | State::RollbackFailed
            ),
            Choice::Promote => matches!(self.d.state, State::Canary | State::Breached),
        };
        if !open {
            self.notice(
                &reply_to,
                format!(
                    "Your {} vote was not counted: {} {} is {}.",
                    vote.choice.as_str(),
                    self.d.info.service,
                    self.d.info.version,
                    self.d.state.as_str()
                ),
            );
            return;
        }
        let Some(entry) =
            authorizing_entry(&self.d.policy.deciders, &vote.voter).map(str::to_string)
        else {
            if self.d.denied.contains(&(who.clone(), vote.choice)) {
                // A double click or a retry: the refusal is on record already.
                self.notice(
                    &reply_to,
                    format!(
                        "Your {} vote was already refused: you are not a decider for {}.",
                        vote.choice.as_str(),
                        self.d.info.service
                    ),
                );
                return;
            }
            let why = format!(
                "{who} is not among the deciders for {}",
                self.d.info.service
            );
            self.emit(
                &who,
                format!("{} vote by {name} refused: {why}", vote.choice.as_str()),
                EventData::VoteDenied {
                    voter: who.clone(),
                    name: name.clone(),
                    choice: vote.choice,
                    why: why.clone(),
                },
            );
            self.reply_about(
                &reply_to,
                &name,
                "⛔ ",
                format!(
                    "'s {} vote was not counted: not a decider",
                    vote.choice.as_str()
                ),
            );
            self.notice(
                &reply_to,
                format!(
                    "You are not a decider for {}, so your {} vote was not counted. Deciders: {}.",
                    self.d.info.service,
                    vote.choice.as_str(),
                    self.d.policy.deciders.join(", ")
                ),
            );
            return;
        };
        if self.d.tally.choice_of(&who) == Some(vote.choice) {
            self.notice(
                &reply_to,
                format!("Your {} vote is already counted.", vote.choice.as_str()),
            );
            return;
        }
        let quorum = match vote.choice {
            Choice::Rollback => self.d.policy.rollback_quorum,
            Choice::Promote => self.d.policy.promote_quorum,
        }
        .max(1);
        let mut tally = self.d.tally.clone();
        tally.record(&who, vote.choice);
        let count = tally.count(vote.choice);
        let why = vote
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        self.emit(
            &who,
            format!(
                "{name} votes {} ({count}/{quorum}){why}",
                vote.choice.as_str()
            ),
            EventData::VoteCast {
                voter: who.clone(),
                name: name.clone(),
                choice: vote.choice,
                reason: vote.reason.clone(),
                authorized_by: entry,
                tally: count,
                quorum,
            },
        );
        self.reply_about(
            &reply_to,
            &name,
            "🗳️ ",
            format!(" votes *{}* ({count}/{quorum}){why}", vote.choice.as_str()),
        );
        if count >= quorum {
            let decided_by = self.d.tally.voters_for(vote.choice);
            let reason = vote
                .reason
                .clone()
                .unwrap_or_else(|| format!("{} quorum reached", vote.choice.as_str()));
            self.decide(vote.choice, decided_by, reason, &who);
        }
    }

    pub(super) fn decide(
        &mut self,
        action: Choice,
        decided_by: Vec<String>,
        reason: String,
        actor: &str,
    ) {
        let id = format!("{}/decision-{}", self.d.info.id, self.d.last_seq + 1);
        self.emit(
            actor,
            format!(
                "decision: {} by {} ({reason})",
                action.as_str(),
                decided_by.join(", ")
            ),
            EventData::Decision {
                id: id.clone(),
                action,
                decided_by: decided_by.clone(),
                reason: reason.clone(),
            },
        );
        let has_executor = self.d.policy.executor.is_some();
        match action {
            Choice::Rollback => {
                self.reply(
                    format!(
                        "⏪ Decision: *roll back* {} {} (by {}; {reason}).{}",
                        self.d.info.service,
                        self.d.info.version,
                        decided_by.join(", "),
                        if has_executor {
                            " Calling the deploy system…"
                        } else {
                            " No rollback executor is configured: roll back by hand, then announce `rolled_back`."
                        }
                    ),
                    vec![],
                    true,
                );
            }
            Choice::Promote => {
                self.emit(
                    actor,
                    format!("{} {} promoted", self.d.info.service, self.d.info.version),
                    EventData::Promoted {
                        decision_id: Some(id.clone()),
                    },
                );
                self.reply(
                    format!(
                        "✅ Decision: *promote* {} {} (by {}; {reason}).",
                        self.d.info.service,
                        self.d.info.version,
                        decided_by.join(", ")
                    ),
                    vec![],
                    false,
                );
            }
        }
        if has_executor {
            self.out.effects.push(Effect::Execute(ExecuteRequest {
                decision_id: id,
                action,
                reason,
                decided_by,
            }));
        }
    }
}
