//! Judging canary against baseline: dry runs, warm-up, too little traffic and the sequential
//! judge, without a runtime.

use super::tests::{Harness, policy};
use crate::domain::*;
// The domain's answers in words, as the engine writes them.
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::RenderedEffect as Effect;

#[test]
fn a_dry_run_criterion_is_judged_and_shown_but_never_breaches_or_holds_the_window() {
    let mut p = policy();
    p.criteria[1].dry_run = true; // p99 latency, failure limit 2
    let mut h = Harness::new(p);
    h.check(0.002, 0.9);
    let out = h.check(0.002, 0.9);
    assert_eq!(h.state(), State::Canary, "a dry run never breaches");
    assert!(h.kinds().contains(&"check_failed"), "its checks are stored");
    assert_eq!(
        out.events.last().map(|e| e.data.kind()),
        Some("would_have_breached")
    );
    assert!(out.effects.iter().any(|e| matches!(e,
        Effect::Chat(ChatEffect::Reply { message })
            if !message.loud && message.text.contains("Dry run: *p99 latency* would have breached now")
    )));
    // Once per failing streak, not at every later failure.
    let out = h.check(0.002, 0.9);
    assert!(
        out.events
            .iter()
            .all(|e| e.data.kind() != "would_have_breached")
    );
    // The root marks it.
    let root = crate::present::chat::root_view(&h.deploy());
    let row = root
        .criteria
        .iter()
        .find(|r| r.name == "p99 latency")
        .expect("row");
    assert!(
        row.verdict_cell().ends_with("(dry run)"),
        "{}",
        row.verdict_cell()
    );
    // The window passes while the dry run still fails.
    for _ in 0..30 {
        h.check(0.002, 0.9);
    }
    assert!(
        h.kinds().contains(&"canary_window_passed"),
        "{:?}",
        h.kinds()
    );
    // The postmortem says when it would have breached.
    let md = h.postmortem();
    assert!(md.contains("| p99 latency (dry run) |"), "{md}");
    assert!(
        md.contains("Dry run: p99 latency would have breached at 1970-01-01 00:17:40"),
        "{md}"
    );
}

#[test]
fn checks_within_the_initial_delay_are_warming_up_neither_pass_nor_fail() {
    let mut p = policy();
    p.canary_window_s = 60;
    p.criteria[1].initial_delay = Some(std::time::Duration::from_secs(120)); // p99, limit 2
    let mut h = Harness::new(p);
    // A cold canary: p99 is high for the first two minutes (`check` is every 30 s).
    for n in 0..3 {
        let out = h.check(0.002, 0.9);
        let r = out
            .reports
            .iter()
            .find(|r| r.criterion == "p99 latency")
            .expect("report");
        assert_eq!(r.verdict, Verdict::WarmingUp, "check {n}");
        assert_eq!(r.consecutive_failures, 0);
    }
    assert_eq!(h.state(), State::Canary, "warming up never breaches");
    assert_eq!(
        h.kinds().iter().filter(|k| **k == "warming_up").count(),
        1,
        "recorded once: {:?}",
        h.kinds()
    );
    let root = crate::present::chat::root_view(&h.deploy());
    let row = root
        .criteria
        .iter()
        .find(|r| r.name == "p99 latency")
        .expect("row");
    assert_eq!(row.verdict_cell(), "🌡️ warming up");
    // The window (60 s) has passed, but not while a criterion warms up.
    assert!(!h.kinds().contains(&"canary_window_passed"));
    // After the delay, checks count: a pass lets the window pass.
    h.check(0.002, 0.2);
    assert!(
        h.kinds().contains(&"canary_window_passed"),
        "{:?}",
        h.kinds()
    );

    // The same canary failing after the delay breaches as usual.
    let mut p = policy();
    p.criteria[1].initial_delay = Some(std::time::Duration::from_secs(60));
    let mut h = Harness::new(p);
    h.check(0.002, 0.9); // 30 s: warming up
    h.check(0.002, 0.9); // 60 s: counts, 1/2
    assert_eq!(h.state(), State::Canary);
    h.check(0.002, 0.9); // 2/2
    assert_eq!(h.state(), State::Breached);
}

#[test]
fn too_little_canary_traffic_is_insufficient_and_at_its_limit_asks_the_deciders() {
    let mut p = policy();
    p.criteria[1].min_requests = Some(200.0); // p99 latency, failure limit 2
    p.criteria[1].insufficient_limit = 3;
    let mut h = Harness::new(p);
    let thin = |h: &mut Harness, p99: f64, requests: f64| {
        h.feed(
            Input::Check {
                at_ms: None,
                samples: vec![Sample {
                    criterion: "p99 latency".into(),
                    canary: Some(p99),
                    baseline: Some(0.2),
                    canary_requests: Some(requests),
                    ..Sample::default()
                }],
            },
            30_000,
        )
    };
    // One real failure, then too little traffic: not a failure, and the count is kept.
    thin(&mut h, 0.9, 500.0);
    let out = thin(&mut h, 0.9, 37.0);
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Insufficient);
    assert_eq!(r.consecutive_failures, 1, "the failure count does not move");
    assert!(
        r.reasons[0].contains("37 requests, 200 needed"),
        "{:?}",
        r.reasons
    );
    thin(&mut h, 0.9, 40.0);
    assert_eq!(h.state(), State::Canary);
    let root = crate::present::chat::root_view(&h.deploy());
    let row = root
        .criteria
        .iter()
        .find(|r| r.name == "p99 latency")
        .expect("row");
    assert_eq!(row.verdict_cell(), "📉 too little traffic (40/200)");
    // The third in a row asks the deciders, loudly, instead of breaching.
    let out = thin(&mut h, 0.9, 12.0);
    assert_eq!(h.state(), State::Canary);
    let asked = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::Reply { message }) if message.loud => Some(message),
            _ => None,
        })
        .expect("the deciders are asked");
    assert!(
        asked.text.contains("Too little canary traffic to judge *p99 latency*: 12 requests (200 needed), 3 checks in a row"),
        "{}",
        asked.text
    );
    assert_eq!(asked.mentions, policy().deciders);
    // Enough traffic again: the kept failure count goes on; a second failure breaches.
    thin(&mut h, 0.9, 800.0);
    assert_eq!(h.state(), State::Breached);
}

#[test]
fn the_sequential_judge_fails_a_canary_whose_error_rate_is_worse_and_says_why() {
    let mut p = policy();
    p.criteria = vec![Criterion {
        name: "errors".into(),
        max_ratio: Some(1.0),
        failure_limit: 2,
        requests: Some("requests{track=\"{{track}}\"}".into()),
        judge: crate::domain::criteria::Judge::Sequential,
        errors: Some("errors{track=\"{{track}}\"}".into()),
        ..Criterion::default()
    }];
    let mut h = Harness::new(p);
    let counted = |h: &mut Harness, ce: f64, cr: f64, be: f64, br: f64| {
        h.feed(
            Input::Check {
                at_ms: None,
                samples: vec![Sample {
                    criterion: "errors".into(),
                    canary: Some(ce / cr),
                    baseline: Some(be / br),
                    counts: Some(crate::domain::stats::SequentialCounts {
                        canary_errors: ce,
                        canary_requests: cr,
                        baseline_errors: be,
                        baseline_requests: br,
                    }),
                    ..Sample::default()
                }],
            },
            30_000,
        )
    };
    // The same error rate on both tracks passes.
    let out = counted(&mut h, 10.0, 1_000.0, 90.0, 9_000.0);
    assert_eq!(out.reports[0].verdict, Verdict::Pass);
    // Twice the baseline's error rate, with enough errors to tell: fails, explained.
    let out = counted(&mut h, 60.0, 3_000.0, 270.0, 27_000.0);
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.reasons[0].starts_with("canary 60/3000 errors vs baseline 270/27000"),
        "{:?}",
        r.reasons
    );
    // ln Λ for 60 of 330 errors against p0 = 0.1, checked by numerical integration of the
    // Beta(1,1) mixture (the same figure docs/src/judges.md works through).
    assert!(
        r.reasons[0].contains("ln Λ 7.31 ≥ 4.61 (α 0.01)"),
        "{:?}",
        r.reasons
    );
    counted(&mut h, 80.0, 4_000.0, 360.0, 36_000.0);
    assert_eq!(h.state(), State::Breached);
    // Without counts a sequential check has no data.
    let mut p = policy();
    p.criteria[0].judge = crate::domain::criteria::Judge::Sequential;
    let mut h = Harness::new(p);
    let out = h.check(0.002, 0.2);
    assert_eq!(out.reports[0].verdict, Verdict::NoData);
}
