//! How long one chart image takes to draw (issue 23): the p99 chart of a breached canary, 30
//! minutes of checks a minute apart, three failing, rendered to PNG by `present::chart_png` (the
//! SVG built, parsed by usvg with the embedded font, rasterized by tiny-skia, encoded as PNG).
//!
//! `cargo bench --bench chart` (release); `CHART_RUNS` changes the number of renders (default 200).

use canarybot::domain::deploy::{DeployInfo, Input, OnBreach, OnPass, Policy, Sample};
use canarybot::domain::{Criterion, Deploy};
use canarybot::present::chart_png::criterion_png;
use canarybot::present::outcome::{handle, start};
use canarybot::present::postmortem::{ChartPoint, Postmortem};
use std::collections::BTreeMap;
use std::time::Instant;

const T0: i64 = 1_800_000_000_000;

fn postmortem() -> Postmortem {
    let policy = Policy {
        criteria: vec![Criterion {
            name: "p99 latency".into(),
            max: Some(0.5),
            failure_limit: 3,
            unit: Some("s".into()),
            ..Criterion::default()
        }],
        deciders: vec!["slack:U01ALICE".into()],
        rollback_quorum: 1,
        promote_quorum: 1,
        on_breach: OnBreach::Ask,
        on_pass: OnPass::Ask,
        canary_window_s: 3600,
        verify_checks: 2,
        executor: None,
        no_data_limit: 3,
        verify_timeout_s: 600,
        escalation: None,
        require_reason: false,
        forbid_self_promote: false,
        watch: None,
    };
    let info = DeployInfo {
        id: "checkout:production:2.4.1".into(),
        service: "checkout".into(),
        environment: "production".into(),
        version: "2.4.1".into(),
        ..DeployInfo::default()
    };
    let mut events = start(info, policy, T0, "bench").events;
    let mut points = Vec::new();
    for i in 1..=31i64 {
        let at = T0 + i * 60_000;
        // Flat, then climbing past the bound for the last three checks.
        let canary = if i < 20 {
            0.24 + (i % 3) as f64 * 0.01
        } else {
            0.24 + (i - 19) as f64 * 0.025
        };
        points.push(ChartPoint {
            at_ms: at,
            canary: Some(canary),
            baseline: Some(0.24),
        });
        let d = Deploy::fold(&events).expect("fold");
        let input = Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "p99 latency".into(),
                canary: Some(canary),
                baseline: Some(0.24),
                ..Sample::default()
            }],
        };
        events.extend(handle(&d, input, at, "bench").expect("handle").events);
    }
    Postmortem {
        deploy: Deploy::fold(&events).expect("fold"),
        events,
        samples: BTreeMap::from([("p99 latency".to_string(), points)]),
        threads: Vec::new(),
        links: BTreeMap::new(),
        criteria_now: None,
    }
}

fn main() {
    let runs: usize = std::env::var("CHART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let pm = postmortem();
    // The first render loads the embedded font once.
    let started = Instant::now();
    let first = criterion_png(&pm, "p99 latency", None).expect("image");
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let image = criterion_png(&pm, "p99 latency", None).expect("image");
            assert_eq!(image.png.len(), first.png.len(), "the same image each time");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "chart image: {runs} renders of {} bytes; first {first_ms:.1} ms (font loaded); median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        first.png.len(),
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
}
