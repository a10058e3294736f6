//! The Mann-Whitney judge, from points to the words in the thread and the postmortem, without a
//! runtime.

use super::tests::{Harness, policy};
use crate::domain::criteria::{Judge, TestResult, TrackPoints};
use crate::domain::stats::Direction;
use crate::domain::*;
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::{RenderedEffect as Effect, RenderedOutcome as Outcome};

/// A latency criterion judged by Mann-Whitney (defaults but the points needed).
fn latency() -> Criterion {
    Criterion {
        name: "latency".into(),
        failure_limit: 2,
        query: Some("p99{track=\"{{track}}\"}".into()),
        unit: Some("ms".into()),
        judge: Judge::MannWhitney,
        min_points: Some(20),
        ..Criterion::default()
    }
}

fn harness(c: Criterion) -> Harness {
    let mut p = policy();
    p.criteria = vec![c];
    Harness::new(p)
}

/// `from`, `from + 1`, … `to`: 41 points of a flat spread around their median.
fn spread(from: i32, to: i32) -> Vec<f64> {
    (from..=to).map(f64::from).collect()
}

fn points(h: &mut Harness, canary: Vec<f64>, baseline: Vec<f64>) -> Outcome {
    h.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "latency".into(),
                points: Some(TrackPoints { canary, baseline }),
                ..Sample::default()
            }],
        },
        30_000,
    )
}

fn replies(out: &Outcome) -> Vec<String> {
    out.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Chat(ChatEffect::Reply { message }) => Some(message.text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_slower_canary_fails_with_its_p_value_and_medians_in_the_thread_and_the_event() {
    let mut h = harness(latency());
    let out = points(&mut h, spread(392, 432), spread(230, 270));
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(
        r.reasons,
        vec![
            "p < 0.0001, canary median 412ms vs 250ms (+65 %) over 41 vs 41 points: worse with p < 0.05 and by ≥ 10 %"
        ]
    );
    // The event keeps the test: statistic, p-value, medians, effect, points.
    let failed = out
        .events
        .iter()
        .find_map(|e| match &e.data {
            EventData::CheckFailed {
                test: Some(TestResult::MannWhitney(t)),
                canary,
                baseline,
                ..
            } => Some((t.clone(), *canary, *baseline)),
            _ => None,
        })
        .expect("a check_failed event with the test");
    let (t, canary, baseline) = failed;
    // Every canary point above every baseline point: U = 41 × 41.
    assert_eq!(t.u, 1681.0);
    assert!(t.p_value < 1e-4, "{t:?}");
    assert_eq!((t.canary_median, t.baseline_median), (412.0, 250.0));
    assert_eq!(
        (canary, baseline),
        (Some(412.0), Some(250.0)),
        "the medians are the values shown"
    );
    assert_eq!((t.canary_points, t.baseline_points), (41, 41));
    assert!((t.effect.expect("effect") - 0.648).abs() < 1e-9);
    let stored: Vec<_> = out
        .events
        .iter()
        .map(|e| serde_json::to_value(&e.data).expect("json"))
        .collect();
    let stored = serde_json::Value::Array(stored);
    assert!(
        stored.to_string().contains("\"test\":\"mann_whitney\""),
        "{stored}"
    );
    // The thread hears it failing, with the numbers.
    assert!(
        replies(&out).iter().any(|t| t
            .contains("*latency* failing (1/2): p < 0.0001, canary median 412ms vs 250ms (+65 %)")),
        "{:?}",
        replies(&out)
    );
    // The root's status table shows the test under the table.
    let root = crate::present::chat::root_view(&h.deploy());
    let table = root.status_table();
    assert!(
        table.ends_with("```\nlatency: p < 0.0001, canary median 412ms vs 250ms (+65 %) over 41 vs 41 points: worse with p < 0.05 and by ≥ 10 %"),
        "{table}"
    );
    assert!(table.contains("412ms"), "{table}");
    assert!(
        root.text().contains("  p < 0.0001, canary median 412ms"),
        "{}",
        root.text()
    );
    points(&mut h, spread(392, 432), spread(230, 270));
    assert_eq!(h.state(), State::Breached);
    // The postmortem's criteria section names the judge and what the last check found.
    let md = h.postmortem();
    assert!(
        md.contains("| ms | mann-whitney: median < baseline +10 % (Mann-Whitney, 95 % confidence, 10m window) |"),
        "{md}"
    );
    assert!(
        md.contains("- latency — fail: p < 0.0001, canary median 412ms vs 250ms (+65 %)"),
        "{md}"
    );
}

#[test]
fn the_same_distribution_passes_and_says_there_is_no_significant_difference() {
    let mut h = harness(latency());
    let out = points(&mut h, spread(230, 270), spread(230, 270));
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Pass);
    // Identical samples: U = n²/2 and the one-sided p-value is 0.5 (continuity-corrected).
    assert!(
        r.reasons[0].starts_with("p = 0.5, canary median 250ms vs 250ms (+0 %)")
            && r.reasons[0].ends_with(": no significant difference (p ≥ 0.05)"),
        "{:?}",
        r.reasons
    );
    // The first pass is recorded with its test.
    assert!(out.events.iter().any(|e| matches!(&e.data,
        EventData::CheckPassed { test: Some(TestResult::MannWhitney(t)), reasons, .. }
            if t.u == 840.5 && reasons[0].contains("no significant difference"))));
}

#[test]
fn a_significant_but_small_shift_passes_within_the_effect_size() {
    let mut h = harness(latency());
    // 200 points each, the canary 30 higher: about 2.7 % on a median near 1100.
    let baseline: Vec<f64> = (0..200).map(|i| 1000.0 + f64::from(i)).collect();
    let canary: Vec<f64> = baseline.iter().map(|v| v + 30.0).collect();
    let out = points(&mut h, canary.clone(), baseline.clone());
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.reasons);
    assert!(
        r.reasons[0].contains("(+2.7 %)")
            && r.reasons[0].ends_with(": significant, but within the 10 % effect size"),
        "{:?}",
        r.reasons
    );
    // With no effect size at all, the same shift fails.
    let mut h = harness(Criterion {
        effect_size: Some(0.0),
        ..latency()
    });
    let out = points(&mut h, canary, baseline);
    assert_eq!(out.reports[0].verdict, Verdict::Fail);
}

#[test]
fn the_direction_says_which_way_is_worse() {
    // Throughput: lower is worse.
    let throughput = Criterion {
        direction: Some(Direction::Decrease),
        unit: Some("req/s".into()),
        ..latency()
    };
    let mut h = harness(throughput.clone());
    let out = points(&mut h, spread(130, 170), spread(230, 270));
    assert_eq!(out.reports[0].verdict, Verdict::Fail);
    assert!(
        out.reports[0].reasons[0].contains("canary median 150 req/s vs 250 req/s (−40 %)"),
        "{:?}",
        out.reports[0].reasons
    );
    // A faster canary is no failure when higher is worse…
    let mut h = harness(latency());
    let out = points(&mut h, spread(130, 170), spread(230, 270));
    assert_eq!(out.reports[0].verdict, Verdict::Pass);
    // …and is one when either way is.
    let mut h = harness(Criterion {
        direction: Some(Direction::Either),
        ..latency()
    });
    let out = points(&mut h, spread(130, 170), spread(230, 270));
    assert_eq!(out.reports[0].verdict, Verdict::Fail);
    // A baseline median of 0 has no relative change: any move the bad way counts.
    let mut h = harness(latency());
    let out = points(&mut h, vec![1.0; 30], vec![0.0; 30]);
    assert_eq!(
        out.reports[0].verdict,
        Verdict::Fail,
        "{:?}",
        out.reports[0].reasons
    );
}

#[test]
fn too_few_points_are_insufficient_keep_the_failure_count_and_ask_at_the_limit() {
    let mut h = harness(Criterion {
        min_points: None, // 50
        insufficient_limit: 2,
        ..latency()
    });
    // One failing check with enough points (limit 2)…
    let h_points =
        |h: &mut Harness, n: i32| points(h, spread(392, 392 + n - 1), spread(230, 230 + n - 1));
    assert_eq!(h_points(&mut h, 60).reports[0].verdict, Verdict::Fail);
    // …then the window holds too few: neither pass nor fail.
    let out = points(&mut h, spread(392, 411), spread(230, 249));
    let r = &out.reports[0];
    assert_eq!(r.verdict, Verdict::Insufficient);
    assert_eq!(
        r.reasons,
        vec!["too few points to judge: canary 20, baseline 20, 50 needed"]
    );
    assert!(out.events.iter().any(|e| matches!(&e.data,
        EventData::Insufficient { requests, min_requests, points: true, consecutive: 1, .. }
            if *requests == 20.0 && *min_requests == 50.0)));
    let root = crate::present::chat::root_view(&h.deploy());
    assert_eq!(root.criteria[0].verdict_cell(), "📉 too few points (20/50)");
    assert_eq!(h.state(), State::Canary);
    // The second in a row asks the deciders instead of breaching.
    let out = points(&mut h, spread(392, 411), spread(230, 249));
    assert!(
        replies(&out).iter().any(|t| t.starts_with(
            "📉 Too few points over the window to judge *latency*: 20 points (50 needed), 2 checks in a row."
        )),
        "{:?}",
        replies(&out)
    );
    assert_eq!(h.state(), State::Canary);
    // Enough points again: the kept failure count goes on, and the second failure breaches.
    h_points(&mut h, 60);
    assert_eq!(h.state(), State::Breached);
    // No points at all is no data, with the source's reason when it gave one.
    let out = h.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "latency".into(),
                no_data_reason: Some("canary: empty result".into()),
                ..Sample::default()
            }],
        },
        30_000,
    );
    assert_eq!(out.reports[0].verdict, Verdict::NoData);
    assert_eq!(out.reports[0].reasons, vec!["canary: empty result"]);
}

#[test]
fn a_sample_of_points_is_stored_as_the_two_medians() {
    let s = Sample {
        criterion: "latency".into(),
        points: Some(TrackPoints {
            canary: vec![f64::NAN, 3.0, 1.0, 2.0],
            baseline: vec![4.0, 1.0],
        }),
        ..Sample::default()
    };
    let stored = s.with_medians();
    assert_eq!((stored.canary, stored.baseline), (Some(2.0), Some(2.5)));
    assert_eq!(stored.points, None, "the points are not kept");
}
