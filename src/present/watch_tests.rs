//! Watching after promotion, without a runtime: the watch starts with the promotion, a drift of
//! `watch_failure_limit` checks calls the deciders with *Roll back*, a recovery before it says
//! nothing, the vote it opens rolls back, and the watch ends on time.

use super::tests::{Harness, info, policy};
use crate::domain::*;
use crate::present::chat::{ChatMessage, RenderedChat};
use crate::present::outcome::{RenderedEffect, RenderedOutcome, handle_in};

const MIN: i64 = 60_000;

fn watched_policy() -> Policy {
    let mut p = policy();
    p.criteria[1].watch_query = Some("histogram_quantile(0.99, x{service=\"{{service}}\"})".into());
    p.criteria[1].unit = Some("ms".into());
    p.criteria[1].watch_failure_limit = Some(3);
    p.watch = Some(WatchPolicy {
        after_promotion_s: 48 * 3600,
        interval_s: 300,
    });
    p
}

fn promoted() -> Harness {
    let mut h = Harness::new(watched_policy());
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: Some("ci".into()),
            description: None,
        },
        60_000,
    );
    h
}

fn reading(value: f64, day: f64, week: f64) -> Vec<WatchReading> {
    vec![WatchReading {
        criterion: "p99 latency".into(),
        value: Some(value),
        day_ago: Some(day),
        week_ago: Some(week),
        no_data_reason: None,
    }]
}

fn watch(h: &mut Harness, value: f64, day: f64, week: f64) -> RenderedOutcome {
    let at = h.now + 5 * MIN;
    h.feed(
        Input::WatchCheck {
            readings: reading(value, day, week),
            at_ms: at,
        },
        5 * MIN,
    )
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

#[test]
fn the_judge_fails_only_above_every_reference_that_has_data() {
    let r = |v, d, w| WatchReading {
        criterion: "x".into(),
        value: v,
        day_ago: d,
        week_ago: w,
        no_data_reason: None,
    };
    use crate::domain::deploy::{WatchVerdict, judge_watch as judge};
    assert_eq!(
        judge(&r(Some(420.0), Some(220.0), Some(230.0)), 1.5),
        WatchVerdict::Fail
    );
    // Above yesterday, not above last week (a weekly pattern): a pass.
    assert_eq!(
        judge(&r(Some(420.0), Some(220.0), Some(300.0)), 1.5),
        WatchVerdict::Pass
    );
    assert_eq!(
        judge(&r(Some(420.0), None, Some(230.0)), 1.5),
        WatchVerdict::Fail
    );
    assert_eq!(
        judge(&r(Some(420.0), None, None), 1.5),
        WatchVerdict::NoData
    );
    assert_eq!(
        judge(&r(None, Some(1.0), Some(1.0)), 1.5),
        WatchVerdict::NoData
    );
    // Exactly at the ratio is not above it.
    assert_eq!(
        judge(&r(Some(330.0), Some(220.0), None), 1.5),
        WatchVerdict::Pass
    );
}

#[test]
fn promotion_starts_the_watch_and_says_so() {
    let h = promoted();
    let d = h.deploy();
    assert!(d.watch.open());
    assert_eq!(d.watch.until_ms, Some(h.now + 48 * 3600 * 1000));
    let text: Vec<String> = h
        .effects
        .iter()
        .filter_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Reply { message }) => Some(message.text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        text.iter().any(|t| t
            == "👀 Watching checkout for 48h after promotion: p99 latency against 1 and 7 days ago."),
        "{text:?}"
    );
    // Without a watch, nothing of it.
    let mut plain = Harness::new(policy());
    plain.feed(
        Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: None,
            description: None,
        },
        1,
    );
    assert!(!plain.kinds().contains(&"watch_started"));
}

#[test]
fn a_drift_at_the_limit_calls_the_deciders_with_roll_back_and_the_vote_rolls_back() {
    let mut h = promoted();
    assert!(replies(&watch(&mut h, 420.0, 220.0, 230.0)).is_empty());
    assert!(replies(&watch(&mut h, 420.0, 220.0, 230.0)).is_empty());
    let out = watch(&mut h, 420.0, 220.0, 230.0);
    let said = replies(&out);
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(
        said[0].text,
        "📈 *DRIFT* on checkout 2.4.1 after promotion: p99 latency 420ms is 1.9× yesterday's 220ms and 1.8× last week's 230ms at this hour, for 3 checks (15m). It is still the latest deploy of checkout in production. Deciders: *Roll back* (1 vote decides)."
    );
    assert_eq!(said[0].buttons, vec![Choice::Rollback]);
    assert_eq!(said[0].mentions, policy().deciders);
    let drift = h
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::DriftDetected { criteria } => Some(criteria.clone()),
            _ => None,
        })
        .expect("drift_detected");
    assert_eq!(
        (
            drift[0].value,
            drift[0].day_ago,
            drift[0].week_ago,
            drift[0].consecutive
        ),
        (420.0, Some(220.0), Some(230.0), 3)
    );
    // A fourth failing check: recorded, not posted again.
    assert!(replies(&watch(&mut h, 430.0, 220.0, 230.0)).is_empty());
    // The rollback vote counts now, and decides.
    h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert_eq!(h.state(), State::RollingBack);
    let kinds = h.kinds();
    assert!(kinds.contains(&"decision"));
    assert_eq!(kinds.last(), Some(&"watch_ended"), "{kinds:?}");
    // Promote stays closed after promotion.
    let mut again = promoted();
    let out = again.vote("slack:U01ALICE", &[], Choice::Promote);
    assert!(out.events.is_empty());
}

#[test]
fn a_rollback_vote_without_a_drift_is_not_counted_on_a_promoted_deploy() {
    let mut h = promoted();
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(h.state(), State::Promoted);
}

#[test]
fn a_drift_that_recovers_before_the_limit_posts_nothing_and_records_the_recovery() {
    let mut h = promoted();
    let before = h.effects.len();
    watch(&mut h, 420.0, 220.0, 230.0);
    watch(&mut h, 420.0, 220.0, 230.0);
    watch(&mut h, 200.0, 220.0, 230.0);
    // No data neither fails nor resets.
    watch(&mut h, 420.0, 220.0, 230.0);
    h.feed(
        Input::WatchCheck {
            readings: vec![WatchReading {
                criterion: "p99 latency".into(),
                no_data_reason: Some("empty result".into()),
                ..WatchReading::default()
            }],
            at_ms: h.now,
        },
        5 * MIN,
    );
    watch(&mut h, 420.0, 220.0, 230.0);
    let posted: Vec<_> = h.effects[before..]
        .iter()
        .filter(|e| matches!(e, RenderedEffect::Chat(RenderedChat::Reply { .. })))
        .collect();
    assert!(posted.is_empty(), "{posted:?}");
    let kinds = h.kinds();
    assert!(kinds.contains(&"watch_recovered"));
    assert!(!kinds.contains(&"drift_detected"));
    assert_eq!(h.deploy().watch.failing.get("p99 latency"), Some(&2));
}

#[test]
fn a_newer_deploy_means_no_button_and_names_it() {
    let mut h = promoted();
    watch(&mut h, 420.0, 220.0, 230.0);
    watch(&mut h, 420.0, 220.0, 230.0);
    let context = Context {
        newer_deploy: Some(NewerDeploy {
            id: "checkout:production:2.4.2".into(),
            version: "2.4.2".into(),
            started_at_ms: h.now,
        }),
        ..Context::default()
    };
    h.now += 5 * MIN;
    let out = handle_in(
        &h.deploy(),
        Input::WatchCheck {
            readings: reading(420.0, 220.0, 230.0),
            at_ms: h.now,
        },
        &context,
        h.now,
        "test",
    )
    .expect("handle");
    let said = replies(&out);
    assert!(said[0].buttons.is_empty());
    assert!(
        said[0]
            .text
            .contains("A newer deploy is live: checkout 2.4.2 (deploy checkout:production:2.4.2)"),
        "{}",
        said[0].text
    );
}

#[test]
fn the_watch_ends_on_time_with_its_closing_line_and_later_checks_are_ignored() {
    let mut h = promoted();
    watch(&mut h, 200.0, 220.0, 230.0);
    let nothing = h.feed(Input::Tick, MIN);
    assert!(nothing.events.is_empty());
    let context = Context {
        watch_checks: Some(576),
        ..Context::default()
    };
    h.now += 48 * 3600 * 1000;
    let out = handle_in(&h.deploy(), Input::Tick, &context, h.now, "test").expect("tick");
    h.events.extend(out.events.clone());
    assert_eq!(
        replies(&out)[0].text,
        "👋 Stopped watching checkout 2.4.1: 48h after promotion, 576 checks, no drift."
    );
    assert!(!h.deploy().watch.open());
    let after = watch(&mut h, 900.0, 220.0, 230.0);
    assert!(after.events.is_empty() && after.effects.is_empty());
    let md = h.postmortem();
    assert!(md.contains("## Watch after promotion"), "{md}");
    assert!(md.contains("576 checks, no drift"), "{md}");
}

#[test]
fn an_alert_during_the_watch_says_how_long_after_the_promotion_it_fired() {
    let mut h = promoted();
    h.now += 26 * 3600 * 1000;
    let out = h.feed(
        Input::Alert {
            name: "HighLatency".into(),
            firing: true,
            annotations: Default::default(),
        },
        0,
    );
    assert_eq!(
        replies(&out)[0].text,
        "🔔 Alert *HighLatency* fired 26 h after 2.4.1 was promoted; it is the latest change to checkout."
    );
    assert!(
        out.events[0]
            .summary
            .contains("26 h after checkout 2.4.1 was promoted"),
        "{}",
        out.events[0].summary
    );
    assert_eq!(h.state(), State::Promoted, "not a breach");
}

#[test]
fn drills_never_watch() {
    let p = crate::domain::drill::policy(watched_policy(), 30);
    assert!(p.watch.is_none());
    let _ = info();
}

#[test]
fn a_drift_escalates_like_a_breach_and_the_default_decision_rolls_back() {
    let mut p = watched_policy();
    p.escalation = Some(Escalation {
        remind_after_s: Some(300),
        page_after_s: Some(600),
        decide_after_s: Some(1200),
        default_decision: DefaultDecision::Rollback,
        pagers: vec!["pagerduty".into()],
    });
    let mut h = Harness::new(p);
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: None,
            description: None,
        },
        1,
    );
    for _ in 0..3 {
        watch(&mut h, 420.0, 220.0, 230.0);
    }
    assert!(h.kinds().contains(&"drift_detected"));
    let reminded = h.feed(Input::Tick, 5 * MIN);
    let said = replies(&reminded);
    assert!(
        said[0].text.starts_with("⏰ Still waiting for a decision"),
        "{said:?}"
    );
    assert_eq!(said[0].buttons, vec![Choice::Rollback]);
    // Paged, and the page stays open while the drift waits (a promoted deploy is final).
    h.feed(Input::Tick, 5 * MIN);
    assert!(h.kinds().contains(&"paged"));
    assert!(!h.kinds().contains(&"page_resolved"), "{:?}", h.kinds());
    assert!(h.deploy().escalation.open_page.is_some());
    h.feed(Input::Tick, 10 * MIN);
    assert_eq!(h.state(), State::RollingBack);
    let kinds = h.kinds();
    assert!(
        kinds.contains(&"decision") && kinds.contains(&"watch_ended"),
        "{kinds:?}"
    );
}

#[test]
fn a_drift_that_recovers_closes_the_ask() {
    let mut h = promoted();
    for _ in 0..3 {
        watch(&mut h, 420.0, 220.0, 230.0);
    }
    assert!(h.deploy().watch.drift_open);
    let out = watch(&mut h, 200.0, 220.0, 230.0);
    assert!(
        replies(&out)[0]
            .text
            .starts_with("✅ *p99 latency* back within its references")
    );
    assert!(!h.deploy().watch.drift_open);
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(
        out.events.is_empty(),
        "no open drift: the vote is not counted"
    );
}
