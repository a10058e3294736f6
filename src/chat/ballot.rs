//! What a person's press or command asks of a deploy: a vote, or confirming a rollback held
//! because a newer deploy started after it. Each platform works out who the person is (their
//! groups or roles); this turns them and what they asked into the deploy's input.

use crate::domain::{Choice, Input, Vote, Voter};

#[derive(Debug, Clone, PartialEq)]
pub enum Ballot {
    Vote {
        choice: Choice,
        reason: Option<String>,
    },
    ConfirmRollback,
}

impl Ballot {
    /// The input for the deploy, cast by `voter`.
    pub fn input(self, voter: Voter) -> Input {
        match self {
            Ballot::Vote { choice, reason } => Input::Vote(Vote {
                voter,
                choice,
                reason,
            }),
            Ballot::ConfirmRollback => Input::ConfirmRollback { by: voter },
        }
    }

    /// What the person asked for, as answers name it: `rollback vote`, `rollback confirmation`.
    pub fn what(&self) -> String {
        match self {
            Ballot::Vote { choice, .. } => format!("{} vote", choice.as_str()),
            Ballot::ConfirmRollback => "rollback confirmation".to_string(),
        }
    }
}
