//! No surprise rollbacks: a rollback decided while a newer deploy of the same service and
//! environment runs is held until a decider confirms it, as the thread and the timeline show it.

use super::tests::{Harness, executes, info, policy};
use crate::domain::*;
use crate::present::chat::{ChatMessage, RenderedChat};
use crate::present::outcome::{RenderedEffect, RenderedOutcome, handle_in};

const NEWER_ID: &str = "checkout:production:2.4.2";

/// What the engine finds in the store: 2.4.2 started after this deploy (2.4.1).
fn newer() -> Context {
    Context {
        newer_deploy: Some(NewerDeploy {
            id: NEWER_ID.into(),
            version: "2.4.2".into(),
            started_at_ms: 1_100_000,
        }),
        ..Context::default()
    }
}

fn voter(identity: &str, groups: &[&str]) -> Voter {
    Voter {
        identity: identity.into(),
        name: identity.trim_start_matches("slack:").into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        person: None,
        aliases: Vec::new(),
        deploys_as: Vec::new(),
    }
}

/// Feeds `input` the way the engine does when it found a newer deploy (or not).
fn feed_in(h: &mut Harness, input: Input, context: &Context) -> RenderedOutcome {
    h.now += 5_000;
    let out = handle_in(&h.deploy(), input, context, h.now, "test").expect("handle");
    h.events.extend(out.events.clone());
    h.effects.extend(out.effects.clone());
    out
}

fn vote_rollback(h: &mut Harness, context: &Context) -> RenderedOutcome {
    let vote = Vote {
        voter: voter("slack:U01ALICE", &[]),
        choice: Choice::Rollback,
        reason: Some("p99 doubled".into()),
    };
    feed_in(h, Input::Vote(vote), context)
}

fn confirm(h: &mut Harness, by: Voter) -> RenderedOutcome {
    feed_in(h, Input::ConfirmRollback { by }, &Context::default())
}

fn replies(out: &RenderedOutcome) -> Vec<ChatMessage> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Reply { message }) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn notices(out: &RenderedOutcome) -> Vec<String> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Notice { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn kinds(out: &RenderedOutcome) -> Vec<&'static str> {
    out.events.iter().map(|e| e.data.kind()).collect()
}

#[test]
fn a_rollback_with_a_newer_deploy_calls_nothing_and_says_why() {
    let mut h = Harness::new(policy());
    let out = vote_rollback(&mut h, &newer());
    assert!(executes(&out).is_empty(), "the deploy system is not called");
    assert_eq!(
        kinds(&out),
        vec!["vote_cast", "decision", "rollback_held_for_newer_deploy"]
    );
    let held = replies(&out)
        .into_iter()
        .find(|m| m.confirm_rollback)
        .expect("a message with the Confirm button");
    assert_eq!(
        held.text,
        "✋ Rolling back 2.4.1 would also undo 2.4.2 (deploy checkout:production:2.4.2), started after it. A decider must confirm: `/canary rollback checkout:production:2.4.1 confirm` or the Confirm button."
    );
    assert_eq!(held.mentions, policy().deciders, "the deciders are called");
    let decided = &replies(&out)[1];
    assert!(
        decided
            .text
            .contains("Held: a newer deploy started after it."),
        "{}",
        decided.text
    );
    let summary = &out.events[2].summary;
    assert!(summary.contains("would also undo 2.4.2"), "{summary}");
    // The decision is made; the rollback waits. A Flagger gate stays shut meanwhile.
    let d = h.deploy();
    assert_eq!(d.state, State::RollingBack);
    assert!(!d.gate_open(Choice::Rollback));
    let root = crate::present::chat::root_view(&d);
    assert!(
        root.outcome
            .as_deref()
            .is_some_and(|o| o.contains("waiting for a decider to confirm")),
        "{:?}",
        root.outcome
    );
    let phases = crate::domain::timeline::phases(&h.events);
    assert!(phases.decide_s.is_some() && phases.execute_s.is_none());
}

#[test]
fn a_decider_confirms_and_the_deploy_system_is_called_once() {
    let mut h = Harness::new(policy());
    vote_rollback(&mut h, &newer());
    let decision_id = h.deploy().current_decision.expect("decided").id;
    // A member of a deciding group confirms.
    let out = confirm(&mut h, voter("slack:U02BOB", &["slack-group:S01SRE"]));
    assert_eq!(kinds(&out), vec!["rollback_confirmed"]);
    let e = &out.events[0];
    assert_eq!(e.actor, "slack:U02BOB", "the confirmation's author");
    assert!(matches!(
        &e.data,
        EventData::RollbackConfirmed { by, authorized_by, decision_id: id, .. }
            if by == "slack:U02BOB" && authorized_by == "slack-group:S01SRE" && *id == decision_id
    ));
    assert_eq!(
        e.summary,
        "rollback confirmed by U02BOB: calling the deploy system"
    );
    let calls = executes(&out);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].decision_id, decision_id,
        "the decision held is executed"
    );
    assert_eq!(calls[0].decided_by, vec!["slack:U01ALICE"]);
    assert!(h.deploy().gate_open(Choice::Rollback));
    let said = replies(&out);
    assert!(
        said[0]
            .text
            .contains("confirmed the rollback of checkout 2.4.1")
    );
    // A second press: nothing is held any more.
    let again = confirm(&mut h, voter("slack:U01ALICE", &[]));
    assert!(again.events.is_empty() && executes(&again).is_empty());
    assert!(notices(&again)[0].starts_with("Nothing to confirm"));
    // The deploy system's answer finishes the rollback as ever.
    feed_in(
        &mut h,
        Input::Executor {
            decision_id,
            outcome: ExecutorOutcome::Done {
                detail: "reverted".into(),
            },
        },
        &Context::default(),
    );
    assert_eq!(h.state(), State::RolledBack);
}

#[test]
fn someone_who_is_not_a_decider_cannot_confirm() {
    let mut h = Harness::new(policy());
    vote_rollback(&mut h, &newer());
    let out = confirm(&mut h, voter("slack:U09MALLORY", &[]));
    assert!(executes(&out).is_empty());
    assert_eq!(
        kinds(&out),
        vec!["vote_denied"],
        "refused as a vote would be"
    );
    assert!(notices(&out)[0].starts_with("You are not a decider for checkout"));
    assert!(h.deploy().rollback_held().is_some(), "still held");
    let again = confirm(&mut h, voter("slack:U09MALLORY", &[]));
    assert!(again.events.is_empty(), "the refusal is on record once");
}

#[test]
fn a_confirmation_with_nothing_held_changes_nothing() {
    let mut h = Harness::new(policy());
    let out = confirm(&mut h, voter("slack:U01ALICE", &[]));
    assert!(out.events.is_empty() && executes(&out).is_empty());
    assert_eq!(
        notices(&out),
        vec![
            "Nothing to confirm: no rollback of checkout 2.4.1 is waiting for confirmation (it is canary)."
        ]
    );
}

#[test]
fn without_a_newer_deploy_the_rollback_runs_as_before() {
    let mut h = Harness::new(policy());
    let out = vote_rollback(&mut h, &Context::default());
    assert_eq!(executes(&out).len(), 1);
    assert!(!kinds(&out).contains(&"rollback_held_for_newer_deploy"));
    assert!(replies(&out).iter().all(|m| !m.confirm_rollback));
}

#[test]
fn a_breach_that_rolls_back_at_once_is_held_too() {
    let mut p = policy();
    p.on_breach = OnBreach::Rollback;
    let mut h = Harness::new(p);
    h.check(0.002, 0.9);
    let sample = |v: f64| Sample {
        criterion: "p99 latency".into(),
        canary: Some(v),
        baseline: Some(0.2),
        ..Sample::default()
    };
    let out = feed_in(
        &mut h,
        Input::Check {
            samples: vec![sample(0.9)],
            at_ms: None,
        },
        &newer(),
    );
    assert!(kinds(&out).contains(&"rollback_held_for_newer_deploy"));
    assert!(executes(&out).is_empty());
}

#[test]
fn a_drill_rolls_back_whatever_deploys_followed() {
    let drill_info = DeployInfo {
        drill: Some(Drill {
            breach_after_s: 60,
            page: false,
        }),
        ..info()
    };
    let start = crate::present::outcome::start(drill_info, policy(), 1_000_000, "test");
    let mut h = Harness {
        events: start.events,
        effects: start.effects,
        now: 1_000_000,
    };
    let out = vote_rollback(&mut h, &newer());
    assert_eq!(executes(&out).len(), 1, "a drill undoes nothing real");
}

#[test]
fn the_held_rollback_and_its_confirmation_read_back_from_the_store() {
    let mut h = Harness::new(policy());
    vote_rollback(&mut h, &newer());
    confirm(&mut h, voter("slack:U01ALICE", &[]));
    for e in &h.events {
        let back = EventData::from_parts(e.data.kind(), &e.data.details_json()).expect("reads");
        assert_eq!(back, e.data);
    }
    let d = h.deploy();
    assert!(d.rollback_held().is_none());
    assert_eq!(d.state, State::RollingBack);
}
