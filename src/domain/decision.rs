//! Who may decide, and when enough of them have.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a responder asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Rollback,
    Promote,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Rollback => "rollback",
            Choice::Promote => "promote",
        }
    }
}

// Identities (`slack:U…`, `slack-group:S…`) are opaque here: which kinds exist and what their
// ids look like is the chat platforms' to say (`crate::registry`), and the domain knows no platform.

/// A person casting a vote, as a chat adapter (or the votes API) identified them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voter {
    /// Platform identity, e.g. `slack:U01ALICE`.
    pub identity: String,
    /// Display name for the thread and the timeline.
    pub name: String,
    /// Groups/roles the platform says this person belongs to, e.g. `slack-group:S01SRE`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The configured person these identities belong to (`[[people]]`), if any.
    #[serde(default)]
    pub person: Option<String>,
    /// The person's identities on other platforms: any of them may authorize, and all of them
    /// together are one vote.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Other names a deploy's `actor` may give the person (their GitHub login, aliases such as
    /// `ci-alice`): with their identities, what four eyes matches the deployer against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploys_as: Vec<String>,
}

impl Voter {
    /// Whom a vote is counted for: the person when identities are tied, else the identity.
    pub fn key(&self) -> String {
        match &self.person {
            Some(p) => format!("person:{p}"),
            None => self.identity.clone(),
        }
    }
}

/// One vote: a person, the choice, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub voter: Voter,
    pub choice: Choice,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Returns the `deciders` entry that authorizes this voter, if any.
pub fn authorizing_entry<'a>(deciders: &'a [String], voter: &Voter) -> Option<&'a str> {
    deciders
        .iter()
        .find(|d| {
            **d == voter.identity
                || voter.aliases.iter().any(|a| a == *d)
                || voter.groups.iter().any(|g| g == *d)
        })
        .map(String::as_str)
}

/// Whether the deploy's `actor` names this voter: their identity, their other identities, or one
/// of the names they deploy as. Compared trimmed and without regard to case (GitHub logins are
/// case-insensitive, and for four eyes a refusal too many is the safe side).
pub fn is_deployer(actor: &str, voter: &Voter) -> bool {
    let actor = actor.trim();
    !actor.is_empty()
        && std::iter::once(&voter.identity)
            .chain(&voter.aliases)
            .chain(&voter.deploys_as)
            .any(|n| n.trim().eq_ignore_ascii_case(actor))
}

/// Counts each person's latest vote once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    latest: BTreeMap<String, Choice>,
}

impl Tally {
    pub fn record(&mut self, identity: &str, choice: Choice) {
        self.latest.insert(identity.to_string(), choice);
    }

    pub fn choice_of(&self, identity: &str) -> Option<Choice> {
        self.latest.get(identity).copied()
    }

    pub fn count(&self, choice: Choice) -> u32 {
        self.latest.values().filter(|c| **c == choice).count() as u32
    }

    pub fn voters_for(&self, choice: Choice) -> Vec<String> {
        self.latest
            .iter()
            .filter(|(_, c)| **c == choice)
            .map(|(v, _)| v.clone())
            .collect()
    }

    pub fn clear(&mut self) {
        self.latest.clear();
    }

    /// True when the votes for `choice` reach `quorum`.
    pub fn reaches(&self, choice: Choice, quorum: u32) -> bool {
        self.count(choice) >= quorum.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(id: &str, groups: &[&str]) -> Voter {
        Voter {
            identity: id.into(),
            name: id.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            person: None,
            aliases: Vec::new(),
            deploys_as: Vec::new(),
        }
    }

    #[test]
    fn the_deployer_is_found_by_identity_tied_identity_login_or_alias() {
        let alice = Voter {
            person: Some("alice".into()),
            aliases: vec!["slack:U01ALICE".into()],
            deploys_as: vec!["alice-gh".into(), "ci-alice".into()],
            ..voter("discord:4455", &[])
        };
        for actor in ["discord:4455", "slack:U01ALICE", "Alice-GH", " ci-alice "] {
            assert!(is_deployer(actor, &alice), "{actor}");
        }
        for actor in ["ci", "alice", "", "  "] {
            assert!(!is_deployer(actor, &alice), "{actor:?}");
        }
        assert!(!is_deployer("ci-alice", &voter("slack:U02BOB", &[])));
    }

    #[test]
    fn a_tied_identity_authorizes_and_counts_as_the_person() {
        let deciders = vec!["slack:U01ALICE".to_string()];
        let alice_on_discord = Voter {
            person: Some("alice".into()),
            aliases: vec!["slack:U01ALICE".into()],
            ..voter("discord:4455", &[])
        };
        assert_eq!(
            authorizing_entry(&deciders, &alice_on_discord),
            Some("slack:U01ALICE")
        );
        assert_eq!(alice_on_discord.key(), "person:alice");
        assert_eq!(voter("discord:4455", &[]).key(), "discord:4455");
    }

    #[test]
    fn deciders_are_people_or_groups() {
        let deciders = vec![
            "slack:U01ALICE".to_string(),
            "slack-group:S01SRE".to_string(),
        ];
        assert_eq!(
            authorizing_entry(&deciders, &voter("slack:U01ALICE", &[])),
            Some("slack:U01ALICE")
        );
        assert_eq!(
            authorizing_entry(&deciders, &voter("slack:U02BOB", &["slack-group:S01SRE"])),
            Some("slack-group:S01SRE")
        );
        assert_eq!(
            authorizing_entry(&deciders, &voter("slack:U03EVE", &[])),
            None
        );
        // Same id on another platform is another person.
        assert_eq!(
            authorizing_entry(&deciders, &voter("discord:U01ALICE", &[])),
            None
        );
    }

    #[test]
    fn quorum_counts_each_person_once_with_their_latest_choice() {
        let mut t = Tally::default();
        t.record("slack:A", Choice::Rollback);
        t.record("slack:A", Choice::Rollback);
        assert_eq!(t.count(Choice::Rollback), 1);
        assert!(!t.reaches(Choice::Rollback, 2));
        t.record("slack:B", Choice::Rollback);
        assert!(t.reaches(Choice::Rollback, 2));
        t.record("slack:B", Choice::Promote);
        assert!(!t.reaches(Choice::Rollback, 2));
        assert_eq!(t.voters_for(Choice::Promote), vec!["slack:B"]);
    }
}
