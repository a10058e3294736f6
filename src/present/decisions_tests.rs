//! Reasons asked for, and four eyes: the votes as the aggregate counts them and people read
//! them, without a runtime.

use crate::domain::*;
use crate::present::chat::RenderedChat;
use crate::present::outcome::{RenderedEffect, RenderedOutcome, handle, start};

fn policy(require_reason: bool, forbid_self_promote: bool) -> Policy {
    Policy {
        criteria: vec![Criterion {
            name: "5xx ratio".into(),
            max: Some(0.01),
            failure_limit: 1,
            ..Criterion::default()
        }],
        deciders: vec!["slack:U01ALICE".into(), "slack:U02BOB".into()],
        require_reason,
        forbid_self_promote,
        watch: None,
        ..crate::present::tests::policy()
    }
}

/// A deploy by `ci-alice`, and its timeline.
struct Deploying {
    events: Vec<Event>,
    now: i64,
}

impl Deploying {
    fn new(p: Policy) -> Self {
        let info = DeployInfo {
            id: "checkout:production:2.4.1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "2.4.1".into(),
            actor: Some("ci-alice".into()),
            ..DeployInfo::default()
        };
        Deploying {
            events: start(info, p, 1_000_000, "test").events,
            now: 1_000_000,
        }
    }

    fn vote(&mut self, voter: Voter, choice: Choice, reason: Option<&str>) -> RenderedOutcome {
        self.now += 1_000;
        let d = Deploy::fold(&self.events).expect("fold");
        let input = Input::Vote(Vote {
            voter,
            choice,
            reason: reason.map(str::to_string),
        });
        let out = handle(&d, input, self.now, "test").expect("handle");
        self.events.extend(out.events.clone());
        out
    }

    fn state(&self) -> State {
        Deploy::fold(&self.events).expect("fold").state
    }
}

/// Alice as `Config::voter` makes her from `[[people]]` with `aliases = ["ci-alice"]`.
fn alice() -> Voter {
    Voter {
        identity: "slack:U01ALICE".into(),
        name: "alice".into(),
        groups: vec![],
        person: Some("alice".into()),
        aliases: vec!["discord:4455".into()],
        deploys_as: vec!["alice-gh".into(), "ci-alice".into()],
    }
}

fn bob() -> Voter {
    Voter {
        identity: "slack:U02BOB".into(),
        name: "bob".into(),
        groups: vec![],
        person: None,
        aliases: vec![],
        deploys_as: vec![],
    }
}

/// The private notices of an outcome, as (to, text).
fn notices(out: &RenderedOutcome) -> Vec<(String, String)> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Notice { to, text }) => {
                Some((to.clone(), text.clone()))
            }
            _ => None,
        })
        .collect()
}

fn thread(out: &RenderedOutcome) -> Vec<String> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Reply { message }) => Some(message.text.clone()),
            _ => None,
        })
        .collect()
}

fn kinds(out: &RenderedOutcome) -> Vec<&'static str> {
    out.events.iter().map(|e| e.data.kind()).collect()
}

#[test]
fn a_vote_without_a_reason_is_not_counted_and_is_told_how_to_give_one() {
    let mut d = Deploying::new(policy(true, false));
    for reason in [None, Some(""), Some("   \n")] {
        let out = d.vote(bob(), Choice::Rollback, reason);
        // Nothing on the record: an unfinished vote, not a refusal.
        assert!(out.events.is_empty(), "{reason:?}: {:?}", kinds(&out));
        assert!(thread(&out).is_empty(), "{reason:?}");
        let n = notices(&out);
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0].0, "slack:U02BOB");
        assert!(n[0].1.contains("asks for a reason"), "{}", n[0].1);
        assert!(n[0].1.contains("/rollback checkout <reason>"), "{}", n[0].1);
    }
    assert_eq!(d.state(), State::Canary);
    // With the reason, the same person's vote counts and decides, the reason in the thread.
    let out = d.vote(bob(), Choice::Rollback, Some("p99 doubled"));
    assert_eq!(kinds(&out)[..2], ["vote_cast", "decision"]);
    assert!(
        thread(&out).iter().any(|t| t.contains("p99 doubled")),
        "{:?}",
        thread(&out)
    );
    assert_eq!(d.state(), State::RollingBack);
}

#[test]
fn without_require_reason_a_bare_vote_counts() {
    let mut d = Deploying::new(policy(false, false));
    let out = d.vote(bob(), Choice::Rollback, None);
    assert_eq!(kinds(&out)[0], "vote_cast");
}

#[test]
fn the_deployer_cannot_promote_but_their_rollback_counts() {
    let mut d = Deploying::new(policy(false, true));
    let out = d.vote(alice(), Choice::Promote, Some("looks fine"));
    assert_eq!(kinds(&out), ["vote_denied"]);
    let EventData::VoteDenied { voter, why, .. } = &out.events[0].data else {
        panic!("a vote_denied");
    };
    assert_eq!(voter, "person:alice");
    assert!(
        why.contains("ci-alice") && why.contains("someone else"),
        "{why}"
    );
    // Private: told, and nothing said in the thread.
    assert!(thread(&out).is_empty(), "{:?}", thread(&out));
    let n = notices(&out);
    assert_eq!(n.len(), 1);
    assert!(n[0].1.contains("you deployed checkout 2.4.1"), "{}", n[0].1);
    assert_eq!(d.state(), State::Canary);
    // Pressed again: told again, recorded once.
    let out = d.vote(alice(), Choice::Promote, Some("looks fine"));
    assert!(out.events.is_empty(), "{:?}", kinds(&out));
    assert_eq!(notices(&out).len(), 1);
    // Her rollback vote counts.
    let out = d.vote(alice(), Choice::Rollback, Some("p99 doubled"));
    assert_eq!(kinds(&out)[..2], ["vote_cast", "decision"]);
    assert_eq!(d.state(), State::RollingBack);
}

#[test]
fn someone_else_promotes_and_without_four_eyes_the_deployer_does() {
    let mut d = Deploying::new(policy(false, true));
    let out = d.vote(bob(), Choice::Promote, Some("looks fine"));
    assert_eq!(kinds(&out)[..2], ["vote_cast", "decision"]);
    assert_eq!(d.state(), State::Promoted);

    let mut d = Deploying::new(policy(false, false));
    let out = d.vote(alice(), Choice::Promote, Some("looks fine"));
    assert_eq!(kinds(&out)[..2], ["vote_cast", "decision"]);
}

#[test]
fn the_deployer_is_refused_from_another_identity_and_a_stranger_is_not_a_decider() {
    // Alice on Discord: her tied identity, her aliases come with it.
    let mut d = Deploying::new(policy(true, true));
    let on_discord = Voter {
        identity: "discord:4455".into(),
        aliases: vec!["slack:U01ALICE".into()],
        ..alice()
    };
    let out = d.vote(on_discord, Choice::Promote, Some("ship it"));
    assert_eq!(kinds(&out), ["vote_denied"]);
    // Four eyes comes before the reason: a reason would not change the answer.
    let out = Deploying::new(policy(true, true)).vote(alice(), Choice::Promote, None);
    assert_eq!(kinds(&out), ["vote_denied"]);
    // Authority comes first: a stranger is refused as not a decider, reason or not.
    let stranger = Voter {
        identity: "slack:U09EVE".into(),
        deploys_as: vec!["ci-alice".into()],
        person: None,
        ..bob()
    };
    let out = Deploying::new(policy(true, true)).vote(stranger, Choice::Rollback, None);
    assert_eq!(kinds(&out), ["vote_denied"]);
    assert!(notices(&out)[0].1.contains("not a decider"));
}
