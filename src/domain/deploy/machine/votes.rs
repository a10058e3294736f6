//! Votes, authority and quorum, and the decisions they make.

use super::Work;
use crate::domain::decision::{Choice, Vote, Voter, authorizing_entry, is_deployer};
use crate::domain::deploy::effect::{Effect, ExecuteRequest, Notice, Said};
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
            Choice::Rollback => {
                matches!(
                    self.d.state,
                    State::Canary | State::Breached | State::RollbackFailed
                ) || self.drift_vote_open()
            }
            Choice::Promote => matches!(self.d.state, State::Canary | State::Breached),
        };
        if !open {
            self.notice(
                &reply_to,
                Notice::VoteNotOpen {
                    choice: vote.choice,
                    state: self.d.state,
                },
            );
            return;
        }
        let Some(entry) =
            authorizing_entry(&self.d.policy.deciders, &vote.voter).map(str::to_string)
        else {
            self.refuse_non_decider(&vote.voter, vote.choice);
            return;
        };
        // Four eyes: the person who deployed cannot count toward promote. A refusal of authority,
        // so it is on the record (`vote_denied`, with why) and answered privately; their rollback
        // votes count.
        if vote.choice == Choice::Promote
            && self.d.policy.forbid_self_promote
            && let Some(actor) = self.d.info.actor.clone()
            && is_deployer(&actor, &vote.voter)
        {
            if !self.d.denied.contains(&(who.clone(), Choice::Promote)) {
                let why = format!(
                    "{who} deployed {} {} (actor `{actor}`), and someone else must promote it",
                    self.d.info.service, self.d.info.version
                );
                self.emit(
                    &who,
                    EventData::VoteDenied {
                        voter: who.clone(),
                        name,
                        choice: vote.choice,
                        why,
                    },
                );
            }
            self.notice(&reply_to, Notice::SelfPromote);
            return;
        }
        if self.d.tally.choice_of(&who) == Some(vote.choice) {
            self.notice(
                &reply_to,
                Notice::VoteAlreadyCounted {
                    choice: vote.choice,
                },
            );
            return;
        }
        // A vote without a reason where one is required is not counted, and nothing is recorded:
        // it is an unfinished vote, not a refusal. The person may decide and is only asked how
        // (the buttons ask in a modal before a vote reaches here; this is the API's and a
        // command's way in). A `vote_denied` would also mark the person refused for this choice,
        // and their next try, with the reason, must count.
        if self.d.policy.require_reason
            && vote.reason.as_deref().is_none_or(|r| r.trim().is_empty())
        {
            self.notice(
                &reply_to,
                Notice::ReasonRequired {
                    choice: vote.choice,
                },
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
        self.emit(
            &who,
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
        self.say(Said::VoteCast {
            identity: reply_to,
            name,
            choice: vote.choice,
            count,
            quorum,
            reason: vote.reason.clone(),
        });
        if count >= quorum {
            let decided_by = self.d.tally.voters_for(vote.choice);
            let reason = vote
                .reason
                .clone()
                .unwrap_or_else(|| format!("{} quorum reached", vote.choice.as_str()));
            self.decide(vote.choice, decided_by, reason, &who);
        }
    }

    /// Someone who is not a decider asked for `choice`: recorded (`vote_denied`) once, said in
    /// the thread, and answered privately.
    pub(super) fn refuse_non_decider(&mut self, voter: &Voter, choice: Choice) {
        let who = voter.key();
        let reply_to = voter.identity.clone();
        if self.d.denied.contains(&(who.clone(), choice)) {
            // A double click or a retry: the refusal is on record already.
            self.notice(&reply_to, Notice::VoteAlreadyRefused { choice });
            return;
        }
        let why = format!(
            "{who} is not among the deciders for {}",
            self.d.info.service
        );
        self.emit(
            &who,
            EventData::VoteDenied {
                voter: who.clone(),
                name: voter.name.clone(),
                choice,
                why,
            },
        );
        self.say(Said::VoteRefused {
            identity: reply_to.clone(),
            name: voter.name.clone(),
            choice,
        });
        self.notice(&reply_to, Notice::NotADecider { choice });
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
            EventData::Decision {
                id: id.clone(),
                action,
                decided_by: decided_by.clone(),
                reason: reason.clone(),
            },
        );
        if action == Choice::Promote {
            self.emit(
                actor,
                EventData::Promoted {
                    decision_id: Some(id.clone()),
                    description: None,
                },
            );
        }
        self.say(Said::Decided {
            action,
            decided_by: decided_by.clone(),
            reason: reason.clone(),
        });
        if self.d.policy.executor.is_some() {
            // A drill undoes nothing real; any other rollback would also undo a newer deploy.
            if action == Choice::Rollback
                && !self.d.info.is_drill()
                && let Some(newer) = self.newer_deploy.clone()
            {
                self.hold_rollback(id, newer);
                return;
            }
            self.out.effects.push(Effect::Execute(ExecuteRequest {
                decision_id: id,
                action,
                reason,
                decided_by,
            }));
        }
    }
}
