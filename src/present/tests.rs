//! The aggregate end to end, without a runtime, as people read it.

use crate::domain::timeline::phases;
use crate::domain::*;
// The domain's answers in words, as the engine writes them.
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::{
    RenderedEffect as Effect, RenderedOutcome as Outcome, handle, start,
};

pub(super) fn policy() -> Policy {
    Policy {
        criteria: vec![
            Criterion {
                name: "5xx ratio".into(),
                max: Some(0.01),
                max_ratio: Some(1.5),
                failure_limit: 3,
                ..Criterion::default()
            },
            Criterion {
                name: "p99 latency".into(),
                max: Some(0.5),
                failure_limit: 2,
                ..Criterion::default()
            },
        ],
        deciders: vec!["slack:U01ALICE".into(), "slack-group:S01SRE".into()],
        rollback_quorum: 1,
        promote_quorum: 1,
        on_breach: OnBreach::Ask,
        on_pass: OnPass::Ask,
        canary_window_s: 900,
        verify_checks: 2,
        executor: Some("webhook".into()),
        no_data_limit: 3,
        verify_timeout_s: 600,
        escalation: None,
        require_reason: false,
        forbid_self_promote: false,
        watch: None,
    }
}

pub(super) fn info() -> DeployInfo {
    DeployInfo {
        id: "checkout:production:2.4.1".into(),
        service: "checkout".into(),
        environment: "production".into(),
        version: "2.4.1".into(),
        sha: Some("abc123".into()),
        actor: Some("ci".into()),
        description: None,
        url: None,
        ..DeployInfo::default()
    }
}

/// A deploy plus its timeline, fed inputs the way the engine does.
pub(super) struct Harness {
    pub(super) events: Vec<Event>,
    pub(super) effects: Vec<Effect>,
    pub(super) now: i64,
}

impl Harness {
    pub(super) fn new(p: Policy) -> Self {
        let out = start(info(), p, 1_000_000, "test");
        Harness {
            events: out.events,
            effects: out.effects,
            now: 1_000_000,
        }
    }
    pub(super) fn deploy(&self) -> Deploy {
        Deploy::fold(&self.events).expect("fold")
    }
    /// The postmortem's markdown, with no samples, threads or configuration now.
    pub(super) fn postmortem(&self) -> String {
        crate::present::postmortem::to_markdown(&crate::present::postmortem::Postmortem {
            deploy: self.deploy(),
            events: self.events.clone(),
            samples: Default::default(),
            links: Default::default(),
            threads: Vec::new(),
            criteria_now: None,
        })
    }
    pub(super) fn feed(&mut self, input: Input, advance_ms: i64) -> Outcome {
        self.now += advance_ms;
        let out = handle(&self.deploy(), input, self.now, "test").expect("handle");
        self.events.extend(out.events.clone());
        self.effects.extend(out.effects.clone());
        out
    }
    pub(super) fn check(&mut self, five_xx: f64, p99: f64) -> Outcome {
        self.feed(
            Input::Check {
                at_ms: None,
                samples: vec![
                    Sample {
                        criterion: "5xx ratio".into(),
                        canary: Some(five_xx),
                        baseline: Some(0.004),
                        ..Sample::default()
                    },
                    Sample {
                        criterion: "p99 latency".into(),
                        canary: Some(p99),
                        baseline: Some(0.2),
                        ..Sample::default()
                    },
                ],
            },
            30_000,
        )
    }
    pub(super) fn vote(&mut self, who: &str, groups: &[&str], choice: Choice) -> Outcome {
        self.feed(
            Input::Vote(Vote {
                voter: Voter {
                    identity: who.into(),
                    name: who.into(),
                    groups: groups.iter().map(|s| s.to_string()).collect(),
                    person: None,
                    aliases: Vec::new(),
                    deploys_as: Vec::new(),
                },
                choice,
                reason: Some("p99 doubled".into()),
            }),
            5_000,
        )
    }
    pub(super) fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.data.kind()).collect()
    }
    pub(super) fn state(&self) -> State {
        self.deploy().state
    }
}

pub(super) fn executes(out: &Outcome) -> Vec<ExecuteRequest> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Execute(x) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn start_locks_criteria_and_opens_the_thread() {
    let h = Harness::new(policy());
    assert_eq!(h.kinds(), vec!["deploy_started", "criteria_locked"]);
    let EventData::CriteriaLocked { hash, .. } = &h.events[1].data else {
        panic!("second event")
    };
    assert_eq!(hash, &policy().hash());
    assert!(matches!(
        &h.effects[0],
        Effect::Chat(ChatEffect::PostRoot { root }) if root.text().contains("5xx ratio") && root.criteria[0].bounds == "≤ 0.01, ≤ baseline × 1.5"
    ));
    assert_eq!(h.state(), State::Canary);
}

#[test]
fn breach_after_failure_limit_then_vote_rollback_verify() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.2);
    assert_eq!(h.kinds().last(), Some(&"check_passed"));
    h.check(0.002, 0.9); // p99 fails 1/2
    assert_eq!(h.state(), State::Canary);
    let out = h.check(0.002, 0.9); // p99 fails 2/2 → breach
    assert_eq!(h.state(), State::Breached);
    let p99 = out
        .reports
        .iter()
        .find(|r| r.criterion == "p99 latency")
        .expect("report");
    assert_eq!(p99.consecutive_failures, 2);
    assert_eq!(p99.verdict, Verdict::Fail);
    assert!(h.kinds().contains(&"breach_detected"));

    // A non-decider is refused, privately, and it is on the record.
    let out = h.vote("slack:U09MALLORY", &[], Choice::Rollback);
    assert_eq!(out.events[0].data.kind(), "vote_denied");
    assert!(out.effects.iter().any(
        |e| matches!(e, Effect::Chat(ChatEffect::Notice { to, .. }) if to == "slack:U09MALLORY")
    ));
    assert_eq!(h.state(), State::Breached);

    // Pressing again records nothing new; the person is told privately.
    let again = h.vote("slack:U09MALLORY", &[], Choice::Rollback);
    assert!(again.events.is_empty());
    assert!(
        matches!(&again.effects[0], Effect::Chat(ChatEffect::Notice { text, .. }) if text.contains("already refused"))
    );

    // A group member decides.
    let out = h.vote("slack:U02BOB", &["slack-group:S01SRE"], Choice::Rollback);
    assert_eq!(h.state(), State::RollingBack);
    let x = executes(&out);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].decided_by, vec!["slack:U02BOB"]);
    assert_eq!(x[0].reason, "p99 doubled");

    let decision_id = x[0].decision_id.clone();
    h.feed(
        Input::Executor {
            decision_id: decision_id.clone(),
            outcome: ExecutorOutcome::Accepted {
                detail: "202".into(),
            },
        },
        1_000,
    );
    assert_eq!(h.kinds().last(), Some(&"rollback_started"));
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::RolledBack,
            actor: Some("argo".into()),
            description: None,
        },
        20_000,
    );
    assert_eq!(h.state(), State::RolledBack);
    h.check(0.009, 0.9); // baseline values: 5xx 0.004 ≤ 0.01, p99 baseline 0.2 ≤ 0.5 → pass
    assert_eq!(h.state(), State::RolledBack);
    h.check(0.009, 0.9);
    assert_eq!(h.state(), State::RollbackVerified);

    let ph = phases(&h.events);
    // start → breach: 3 checks of 30 s
    assert_eq!(ph.detect_s, Some(90.0));
    // breach → the deciding vote, after two refused presses (detection was the breach, earlier)
    assert_eq!(ph.decide_s, Some(15.0));
    assert_eq!(ph.execute_s, Some(21.0));
    assert_eq!(ph.verify_s, Some(60.0));
    assert_eq!(ph.total_s, Some(186.0));

    let md = super::postmortem::to_markdown(&super::postmortem::Postmortem {
        deploy: h.deploy(),
        events: h.events.clone(),
        samples: Default::default(),
        links: Default::default(),
        threads: vec![],
        criteria_now: Some(policy().criteria),
    });
    assert!(md.contains("rollback_verified"));
    assert!(
        md.contains("| Detect (start → breach or first rollback vote) | 1970-01-01 00:16:40.000 UTC | 1970-01-01 00:18:10.000 UTC | 1m 30s |"),
        "{md}"
    );
}

#[test]
fn failures_must_be_consecutive() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.9);
    h.check(0.002, 0.2); // recovered resets
    assert_eq!(h.kinds().last(), Some(&"recovered"));
    h.check(0.002, 0.9);
    assert_eq!(h.state(), State::Canary);
    let d = h.deploy();
    assert_eq!(d.criteria["p99 latency"].consecutive_failures, 1);
}

#[test]
fn no_data_is_shown_and_neither_passes_nor_resets() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.9);
    let out = h.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "p99 latency".into(),
                canary: None,
                baseline: None,
                ..Sample::default()
            }],
        },
        30_000,
    );
    assert_eq!(out.reports[0].verdict, Verdict::NoData);
    assert_eq!(out.events[0].data.kind(), "no_data");
    assert_eq!(h.deploy().criteria["p99 latency"].consecutive_failures, 1);
    // A second no_data in a row counts toward the no-data limit but is not posted again.
    let out = h.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "p99 latency".into(),
                canary: None,
                baseline: None,
                ..Sample::default()
            }],
        },
        30_000,
    );
    assert!(
        !out.effects
            .iter()
            .any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { .. }))),
        "the thread hears about no data once"
    );
    h.check(0.002, 0.9);
    assert_eq!(h.state(), State::Breached, "1 + 1 failures across no_data");
}

#[test]
fn unknown_criterion_is_rejected_by_name() {
    let h = Harness::new(policy());
    let err = h
        .deploy()
        .handle(
            Input::Check {
                at_ms: None,
                samples: vec![Sample {
                    criterion: "cpu".into(),
                    canary: Some(1.0),
                    baseline: None,
                    ..Sample::default()
                }],
            },
            2_000_000,
            "test",
        )
        .unwrap_err();
    assert!(err.to_string().contains("unknown criterion `cpu`"), "{err}");
    assert!(err.to_string().contains("5xx ratio, p99 latency"), "{err}");
}

#[test]
fn quorum_of_two_needs_two_people() {
    let mut p = policy();
    p.rollback_quorum = 2;
    let mut h = Harness::new(p);
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(executes(&out).is_empty());
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(out.events.is_empty(), "the same person twice counts once");
    assert_eq!(h.state(), State::Canary);
    let out = h.vote("slack:U02BOB", &["slack-group:S01SRE"], Choice::Rollback);
    assert_eq!(executes(&out).len(), 1);
    assert_eq!(h.state(), State::RollingBack);
    // People saw it before the criteria: detection is the first rollback vote.
    let ph = phases(&h.events);
    assert_eq!(ph.detect_s, Some(5.0));
    assert_eq!(ph.decide_s, Some(10.0));
    assert_eq!(ph.execute_s, None);
}

#[test]
fn on_breach_rollback_decides_at_once_as_canarybot() {
    let mut p = policy();
    p.on_breach = OnBreach::Rollback;
    let mut h = Harness::new(p);
    h.check(0.002, 0.9);
    let out = h.check(0.002, 0.9);
    assert_eq!(h.state(), State::RollingBack);
    assert_eq!(executes(&out)[0].decided_by, vec![BOT]);
}

#[test]
fn executor_failure_is_loud_and_a_new_vote_retries() {
    let mut h = Harness::new(policy());
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    let id = executes(&out)[0].decision_id.clone();
    let out = h.feed(
        Input::Executor {
            decision_id: id,
            outcome: ExecutorOutcome::Failed {
                error: "connection refused".into(),
                attempts: 4,
            },
        },
        10_000,
    );
    assert_eq!(h.state(), State::RollbackFailed);
    assert!(out.effects.iter().any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { message }) if message.loud && message.text.contains("ROLLBACK FAILED"))));
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert_eq!(executes(&out).len(), 1, "a fresh decision after a failure");
    assert_eq!(h.state(), State::RollingBack);
}

#[test]
fn done_from_the_executor_means_rolled_back() {
    let mut h = Harness::new(policy());
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    let id = executes(&out)[0].decision_id.clone();
    h.feed(
        Input::Executor {
            decision_id: id,
            outcome: ExecutorOutcome::Done {
                detail: "done".into(),
            },
        },
        1_000,
    );
    assert_eq!(h.state(), State::RolledBack);
    assert!(
        h.kinds()
            .ends_with(&["rollback_started", "rollback_succeeded"])
    );
}

#[test]
fn verification_needs_absolute_bounds() {
    let mut p = policy();
    for c in &mut p.criteria {
        c.max = None;
        c.max_ratio = Some(2.0);
    }
    let mut h = Harness::new(p);
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::RolledBack,
            actor: None,
            description: None,
        },
        1_000,
    );
    assert_eq!(h.state(), State::RolledBack);
    let EventData::Note { text, .. } = &h.events.last().expect("note").data else {
        panic!("expected a note")
    };
    assert!(text.contains("no criterion has absolute bounds"));
}

#[test]
fn a_failed_recovery_check_resets_the_streak() {
    let mut h = Harness::new(policy());
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::RolledBack,
            actor: None,
            description: None,
        },
        1_000,
    );
    let bad = |h: &mut Harness| {
        h.feed(
            Input::Check {
                at_ms: None,
                samples: vec![Sample {
                    criterion: "p99 latency".into(),
                    canary: None,
                    baseline: Some(0.9),
                    ..Sample::default()
                }],
            },
            30_000,
        )
    };
    h.check(0.0, 0.0);
    bad(&mut h);
    assert_eq!(h.deploy().verify_consecutive, 0);
    h.check(0.0, 0.0);
    assert_eq!(h.state(), State::RolledBack);
    h.check(0.0, 0.0);
    assert_eq!(h.state(), State::RollbackVerified);
}

#[test]
fn canary_window_with_everything_passing_asks_or_promotes() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.2);
    h.feed(Input::Tick, 869_000);
    assert!(
        !h.kinds().contains(&"canary_window_passed"),
        "window not over"
    );
    h.feed(Input::Tick, 1_000);
    assert_eq!(h.kinds().last(), Some(&"canary_window_passed"));
    assert_eq!(h.state(), State::Canary, "ask: people decide");
    let out = h.vote("slack:U01ALICE", &[], Choice::Promote);
    assert_eq!(h.state(), State::Promoted);
    assert_eq!(executes(&out)[0].action, Choice::Promote);

    let mut p = policy();
    p.on_pass = OnPass::Promote;
    p.executor = None;
    let mut h = Harness::new(p);
    h.check(0.002, 0.2);
    h.feed(Input::Tick, 900_000);
    assert_eq!(h.state(), State::Promoted);
    let ph = phases(&h.events);
    assert_eq!(ph.decide_s, Some(930.0));
}

#[test]
fn window_waits_for_every_criterion_to_pass() {
    let mut p = policy();
    p.on_pass = OnPass::Promote;
    let mut h = Harness::new(p);
    h.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "5xx ratio".into(),
                canary: Some(0.001),
                baseline: Some(0.001),
                ..Sample::default()
            }],
        },
        1_000_000,
    );
    assert_eq!(h.state(), State::Canary, "p99 never reported");
}

#[test]
fn votes_after_the_end_are_not_counted() {
    let mut h = Harness::new(policy());
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: Some("ci".into()),
            description: None,
        },
        1_000,
    );
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    assert!(out.events.is_empty());
    assert!(
        matches!(&out.effects[0], Effect::Chat(ChatEffect::Notice { text, .. }) if text.contains("promoted"))
    );
}

#[test]
fn the_fold_reproduces_state_from_stored_parts() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.9);
    h.check(0.002, 0.9);
    h.vote("slack:U01ALICE", &[], Choice::Rollback);
    // Round-trip each event through (kind, details) as the store keeps them.
    let restored: Vec<Event> = h
        .events
        .iter()
        .map(|e| Event {
            data: EventData::from_parts(e.data.kind(), &e.data.details_json()).expect("parts"),
            ..e.clone()
        })
        .collect();
    assert_eq!(Deploy::fold(&restored).expect("fold"), h.deploy());
    assert_eq!(h.deploy().state, State::RollingBack);
}

#[test]
fn no_data_for_the_limit_is_a_breach() {
    let mut h = Harness::new(policy());
    let silent = |h: &mut Harness| {
        h.feed(
            Input::Check {
                at_ms: None,
                samples: vec![Sample {
                    criterion: "p99 latency".into(),
                    canary: None,
                    baseline: None,
                    ..Sample::default()
                }],
            },
            30_000,
        )
    };
    let first = silent(&mut h);
    assert!(
        first
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { .. })))
    );
    let second = silent(&mut h);
    assert!(
        !second
            .effects
            .iter()
            .any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { .. }))),
        "said once"
    );
    assert_eq!(h.deploy().criteria["p99 latency"].consecutive_no_data, 2);
    assert_eq!(h.state(), State::Canary);
    silent(&mut h);
    assert_eq!(h.state(), State::Breached);
    let EventData::BreachDetected { criteria, .. } = &h.events.last().expect("breach").data else {
        panic!("breach expected")
    };
    assert_eq!(criteria, &vec!["p99 latency".to_string()]);
    // Further silence is not recorded again.
    let out = silent(&mut h);
    assert!(out.events.is_empty());
}

#[test]
fn a_metrics_outage_is_recorded_once() {
    let mut h = Harness::new(policy());
    let down = |h: &mut Harness| {
        h.feed(
            Input::MetricsUnavailable {
                error: "connection refused".into(),
            },
            30_000,
        )
    };
    assert_eq!(down(&mut h).events.len(), 1);
    assert!(down(&mut h).events.is_empty(), "once per outage");
    h.check(0.002, 0.2);
    assert!(h.kinds().contains(&"metrics_restored"));
    assert_eq!(
        down(&mut h).events.len(),
        1,
        "a new outage is recorded again"
    );
}

#[test]
fn a_firing_alert_is_a_breach_at_once() {
    let mut h = Harness::new(policy());
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert("summary".to_string(), "error budget burning".to_string());
    h.feed(
        Input::Alert {
            name: "HighErrorRate".into(),
            firing: true,
            annotations: annotations.clone(),
        },
        10_000,
    );
    assert_eq!(h.state(), State::Breached);
    assert_eq!(
        h.kinds(),
        vec![
            "deploy_started",
            "criteria_locked",
            "alert_firing",
            "breach_detected"
        ]
    );
    let repeat = h.feed(
        Input::Alert {
            name: "HighErrorRate".into(),
            firing: true,
            annotations: annotations.clone(),
        },
        10_000,
    );
    assert!(
        repeat.events.is_empty(),
        "a repeated notification records nothing"
    );
    h.feed(
        Input::Alert {
            name: "HighErrorRate".into(),
            firing: false,
            annotations,
        },
        10_000,
    );
    assert_eq!(h.kinds().last(), Some(&"alert_resolved"));
    // Round-trips through the store's (kind, details).
    let last = h.events.last().expect("event");
    let back = EventData::from_parts(last.data.kind(), &last.data.details_json()).expect("parts");
    assert_eq!(back, last.data);
}

#[test]
fn no_recovery_within_the_verify_timeout_is_called_out() {
    let mut h = Harness::new(policy());
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::RolledBack,
            actor: None,
            description: None,
        },
        1_000,
    );
    h.feed(Input::Tick, 599_000);
    assert!(!h.kinds().contains(&"verify_timed_out"));
    let out = h.feed(Input::Tick, 1_000);
    assert_eq!(out.events[0].data.kind(), "verify_timed_out");
    assert!(out.effects.iter().any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { message }) if message.loud && !message.mentions.is_empty())));
    assert!(h.feed(Input::Tick, 60_000).events.is_empty(), "said once");
}

/// A deploy that started during a freeze: the timeline keeps who froze and why, the thread says
/// it loudly and calls the deciders, and nothing else changes.
#[test]
fn a_deploy_started_during_a_freeze_is_called_out() {
    let mut h = Harness::new(policy());
    let out = h.feed(
        Input::StartedDuringFreeze {
            freeze: crate::domain::deploy::FrozenAtStart {
                scope: "all".into(),
                by: "alice".into(),
                reason: Some("incident <42>".into()),
                freeze_id: Some("fz-1".into()),
                when: None,
            },
        },
        1_000,
    );
    assert_eq!(h.state(), State::Canary);
    let event = h.events.last().expect("event");
    assert_eq!(event.data.kind(), "started_during_freeze");
    assert_eq!(
        event.summary,
        "started during a freeze of every service by alice: incident <42>"
    );
    let message = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::Reply { message }) => Some(message),
            _ => None,
        })
        .expect("a reply");
    assert!(message.loud);
    assert_eq!(message.mentions, ["slack:U01ALICE", "slack-group:S01SRE"]);
    assert!(
        message.text.contains(
            "*STARTED DURING A FREEZE*: checkout 2.4.1 was deployed while every service is frozen by alice: incident <42>."
        ),
        "{}",
        message.text
    );
}
