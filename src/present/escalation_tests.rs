//! The decide phase, bounded: reminders, pages and the automatic decision, read off the
//! timeline, without a runtime.

use super::tests::{Harness, executes, info, policy};
use crate::domain::*;
// The domain's answers in words, as the engine writes them.
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::{RenderedEffect as Effect, RenderedOutcome as Outcome};

fn escalating(pagers: &[&str]) -> Policy {
    let mut p = policy();
    p.escalation = Some(Escalation {
        remind_after_s: Some(300),
        page_after_s: Some(600),
        decide_after_s: Some(1200),
        default_decision: DefaultDecision::Rollback,
        pagers: pagers.iter().map(|s| s.to_string()).collect(),
    });
    p
}

/// Breaches the harness's deploy: p99 fails twice (`check` advances the clock 30 s each).
fn breach(h: &mut Harness) {
    h.check(0.002, 0.9);
    h.check(0.002, 0.9);
    assert_eq!(h.state(), State::Breached);
}

fn tick(h: &mut Harness, advance_ms: i64) -> Outcome {
    h.feed(Input::Tick, advance_ms)
}

fn pages(out: &Outcome) -> Vec<&crate::present::paging::PageMessage> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Page(p) => Some(p),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unanswered_breach_reminds_pages_then_rolls_back_once_each() {
    let mut h = Harness::new(escalating(&["pagerduty"]));
    breach(&mut h);
    // Nothing before the first step is due.
    assert!(tick(&mut h, 299_000).events.is_empty());

    let out = tick(&mut h, 1_000);
    assert_eq!(out.events[0].data.kind(), "escalation_reminded");
    let reminder = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::Reply { message }) => Some(message),
            _ => None,
        })
        .expect("a reminder in the thread");
    assert!(
        reminder.text.contains("Still waiting for a decision"),
        "{}",
        reminder.text
    );
    assert!(reminder.text.contains("Paging in 5m"), "{}", reminder.text);
    assert_eq!(reminder.mentions, policy().deciders);
    // Each decider gets a direct message; the adapters skip the groups.
    let directs: Vec<&str> = out
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Chat(ChatEffect::Direct { to, .. }) => Some(to.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(directs, ["slack:U01ALICE", "slack-group:S01SRE"]);
    // Once.
    assert!(tick(&mut h, 2_000).events.is_empty());

    let out = tick(&mut h, 298_000);
    assert_eq!(out.events[0].data.kind(), "paged");
    let sent = pages(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].dedup_key, info().id);
    assert_eq!(sent[0].providers, ["pagerduty"]);
    assert!(
        sent[0].summary.contains("checkout 2.4.1 in production"),
        "{}",
        sent[0].summary
    );
    assert!(tick(&mut h, 1_000).events.is_empty());

    let out = tick(&mut h, 600_000);
    let kinds: Vec<&str> = out.events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(kinds, ["decision", "page_resolved"]);
    assert_eq!(h.state(), State::RollingBack);
    let x = executes(&out);
    assert_eq!(x[0].decided_by, vec![BOT]);
    assert_eq!(x[0].reason, "no decision within 20m");
    let resolved = pages(&out);
    assert_eq!(resolved[0].action, PageAction::Resolve);
    assert!(tick(&mut h, 60_000).events.is_empty());
    // The postmortem and the page tell the decide phase as it went.
    let story = crate::present::postmortem::decide_story(&h.deploy().milestones, &h.events);
    assert_eq!(
        story.as_deref(),
        Some("reminded at 5m 00s, paged (pagerduty) at 10m 00s, decided by canarybot at 20m 01s")
    );
}

#[test]
fn a_vote_after_the_reminder_stops_the_rest_and_resolves_the_page() {
    let mut h = Harness::new(escalating(&["pagerduty", "opsgenie"]));
    breach(&mut h);
    tick(&mut h, 300_000);
    let out = tick(&mut h, 300_000);
    assert_eq!(pages(&out).len(), 1, "one page, naming both providers");
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(out.events.iter().any(|e| e.data.kind() == "page_resolved"));
    assert_eq!(pages(&out)[0].action, PageAction::Resolve);
    // No automatic decision after a person's.
    assert!(
        tick(&mut h, 3_600_000)
            .events
            .iter()
            .all(|e| e.data.kind() != "decision")
    );
    assert_eq!(h.kinds().iter().filter(|k| **k == "decision").count(), 1);
}

#[test]
fn the_steps_are_read_off_the_timeline_so_a_late_tick_runs_each_once() {
    let mut h = Harness::new(escalating(&["pagerduty"]));
    breach(&mut h);
    // The bot was down through every step: one tick runs them all, in order, once.
    let out = tick(&mut h, 3_600_000);
    let kinds: Vec<&str> = out.events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(
        kinds,
        ["escalation_reminded", "paged", "decision", "page_resolved"]
    );
    assert!(tick(&mut h, 1_000).events.is_empty());
}

#[test]
fn no_pager_means_no_page_and_none_means_no_automatic_decision() {
    let mut p = escalating(&[]);
    if let Some(e) = &mut p.escalation {
        e.default_decision = DefaultDecision::None;
    }
    let mut h = Harness::new(p);
    breach(&mut h);
    let out = tick(&mut h, 3_600_000);
    let kinds: Vec<&str> = out.events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(kinds, ["escalation_reminded"]);
    assert_eq!(h.state(), State::Breached);
}

#[test]
fn a_failed_rollback_pages_at_once_and_a_passed_window_only_reminds() {
    let mut h = Harness::new(escalating(&["opsgenie"]));
    breach(&mut h);
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    let decision_id = executes(&out)[0].decision_id.clone();
    let out = h.feed(
        Input::Executor {
            decision_id,
            outcome: ExecutorOutcome::Failed {
                error: "deploy system down".into(),
                attempts: 3,
            },
        },
        1_000,
    );
    assert_eq!(h.state(), State::RollbackFailed);
    assert!(out.events.iter().any(|e| matches!(
        e.data,
        EventData::Paged {
            reason: PageReason::RollbackFailed,
            ..
        }
    )));
    assert_eq!(pages(&out)[0].action, PageAction::Trigger);

    // A canary window passing with `on_pass = "ask"` gets the reminder only.
    let mut h = Harness::new(escalating(&["opsgenie"]));
    for _ in 0..31 {
        h.check(0.002, 0.2);
    }
    assert!(h.kinds().contains(&"canary_window_passed"));
    let out = tick(&mut h, 3_600_000);
    let kinds: Vec<&str> = out.events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(kinds, ["escalation_reminded"]);
    assert_eq!(h.state(), State::Canary);
}
