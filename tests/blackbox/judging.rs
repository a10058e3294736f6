//! Judging canary against baseline (issue 18): a dry-run criterion is judged, stored and shown,
//! and never breaches; a criterion warming up neither passes nor fails.

use crate::fake_prometheus::{FakePrometheus, RangeAsk, errors_query, latency_query, noise};
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ChatOp, RecordingChat, Setup, TestApp};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    a_dry_run_criterion_never_breaches_and_the_postmortem_says_when_it_would_have,
    a_warming_criterion_neither_passes_nor_fails_and_holds_the_window,
    too_little_pushed_traffic_is_insufficient_then_the_deciders_are_asked,
    prometheus_counts_the_canary_traffic_of_a_criterion,
    the_sequential_judge_breaches_on_a_doubled_error_rate_and_explains_it,
    the_mann_whitney_judge_breaches_on_a_slower_canary_and_shows_its_test,
    the_mann_whitney_judge_passes_the_same_distribution_and_a_tiny_significant_shift,
    too_few_points_over_the_window_are_insufficient_then_the_deciders_are_asked,
    a_restart_keeps_the_failing_and_insufficient_streaks_of_pushed_checks,
    a_restart_keeps_the_mann_whitney_failing_streak,
    a_checker_whose_clock_is_behind_the_deploys_start_reads_no_inverted_window,
    pushed_points_are_judged_and_a_recovery_says_what_held,
    a_criterion_short_of_points_holds_the_canary_window_until_it_is_judged,
);

async fn a_dry_run_criterion_never_breaches_and_the_postmortem_says_when_it_would_have(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    // The deploy brings a criterion of its own to try: `dry_run`.
    let id = start(&app, json!({"event": "started", "service": "checkout", "version": "8.0.0", "actor": "ci",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 2, "dry_run": true}]})).await;
    for _ in 0..3 {
        let body = push(
            &app,
            json!({"deploy_id": id, "samples": [
                {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                {"criterion": "p99 latency", "canary": 0.2, "baseline": 0.2},
                {"criterion": "cold starts", "canary": 7.0, "baseline": 0.0},
            ]}),
        )
        .await;
        let cold = body["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .find(|c| c["criterion"] == "cold starts")
            .cloned()
            .expect("the dry run is judged");
        assert_eq!(cold["verdict"], "fail");
    }
    assert_eq!(app.state(&id).await, "canary", "a dry run never breaches");
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "would_have_breached").count(),
        1,
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    let locked = &t["criteria"];
    assert!(
        locked
            .as_array()
            .expect("criteria")
            .iter()
            .any(|c| c["name"] == "cold starts" && c["dry_run"] == true),
        "the dry run is locked with the criteria: {locked}"
    );
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    assert!(md.contains("| cold starts (dry run) |"), "{md}");
    assert!(
        md.contains("Dry run: cold starts would have breached at "),
        "{md}"
    );
    app.finish().await;
}

async fn a_warming_criterion_neither_passes_nor_fails_and_holds_the_window(b: Backend) {
    let setup = Setup {
        canary_window: "1s",
        on_pass: "promote",
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = start(&app, json!({"event": "started", "service": "checkout", "version": "8.1.0", "actor": "ci",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 1, "initial_delay": "1h"}]})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let body = push(
            &app,
            json!({"deploy_id": id, "samples": [
                {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                {"criterion": "p99 latency", "canary": 0.2, "baseline": 0.2},
                {"criterion": "cold starts", "canary": 9.0, "baseline": 0.0},
            ]}),
        )
        .await;
        let cold = body["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .find(|c| c["criterion"] == "cold starts")
            .cloned()
            .expect("reported");
        assert_eq!(cold["verdict"], "warming_up", "{cold}");
    }
    // Failing far above its bound with failure_limit 1, yet no breach; the 1 s window has passed
    // with every other criterion passing, yet no promotion while it warms up.
    assert_eq!(app.state(&id).await, "canary");
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "warming_up").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        !kinds.iter().any(|k| k == "canary_window_passed"),
        "{kinds:?}"
    );
    app.finish().await;
}

async fn too_little_pushed_traffic_is_insufficient_then_the_deciders_are_asked(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = start(
        &app,
        json!({"event": "started", "service": "checkout", "version": "8.2.0", "actor": "ci",
                    "criteria": [{"name": "checkout errors", "max": 0.01, "failure_limit": 1,
                                  "min_requests": 200, "insufficient_limit": 2}]}),
    )
    .await;
    // A negative count is refused by name, and changes nothing.
    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [
                {"criterion": "checkout errors", "canary": 0.5, "baseline": 0.0, "canary_requests": -3}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("samples[0].canary_requests"),
        "{body}"
    );
    for n in [37, 41] {
        let body = push(&app, json!({"deploy_id": id, "samples": [
                    {"criterion": "checkout errors", "canary": 0.5, "baseline": 0.0, "canary_requests": n}]})).await;
        assert_eq!(body["criteria"][0]["verdict"], "insufficient", "{body}");
    }
    // Failing far above its bound with failure_limit 1, on 37 and 41 requests: no breach.
    assert_eq!(app.state(&id).await, "canary");
    let t = app.timeline(&id).await;
    let thin: Vec<&serde_json::Value> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "insufficient")
        .collect();
    assert_eq!(thin.len(), 2, "{thin:?}");
    assert_eq!(thin[1]["details"]["requests"], 41.0);
    assert_eq!(thin[1]["details"]["consecutive"], 2);
    app.settle_chat().await;
    assert!(
        app.chat.ops().iter().any(|o| matches!(o,
            crate::support::ChatOp::Reply { text, loud: true }
                if text.contains("Too little canary traffic to judge *checkout errors*: 41 requests (200 needed), 2 checks in a row"))),
        "the deciders are asked: {:?}",
        app.chat.ops()
    );
    // With enough traffic the same value fails at once.
    push(&app, json!({"deploy_id": id, "samples": [
                {"criterion": "checkout errors", "canary": 0.5, "baseline": 0.0, "canary_requests": 900}]})).await;
    assert_eq!(app.state(&id).await, "breached");
    app.finish().await;
}

async fn prometheus_counts_the_canary_traffic_of_a_criterion(b: Backend) {
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    for track in ["canary", "stable"] {
        prom.set(&errors_query(track), Some(0.01));
        prom.set(&latency_query(track), Some(0.2));
        prom.set(&format!("cold_starts{{track=\"{track}\"}}"), Some(9.0));
    }
    prom.set(
        "sum(increase(requests_total{track=\"canary\"}[10m]))",
        Some(37.0),
    );
    let id = start(&app, json!({"event": "started", "service": "api", "version": "3.3.0",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 1,
                                  "query": "cold_starts{track=\"{{track}}\"}",
                                  "requests": "sum(increase(requests_total{track=\"{{track}}\"}[10m]))",
                                  "min_requests": 200}]})).await;
    app.wait_kind(&id, "insufficient").await;
    assert_eq!(
        app.state(&id).await,
        "canary",
        "37 requests are too few to judge"
    );
    let seen = prom.seen.lock().expect("seen").clone();
    assert!(
        seen.iter()
            .any(|(q, _)| q == "sum(increase(requests_total{track=\"canary\"}[10m]))"),
        "the canary's traffic was queried: {seen:?}"
    );
    // Traffic arrives: the criterion is judged, and breaches.
    prom.set(
        "sum(increase(requests_total{track=\"canary\"}[10m]))",
        Some(4000.0),
    );
    app.wait_state(&id, "breached").await;
    app.finish().await;
}

async fn the_sequential_judge_breaches_on_a_doubled_error_rate_and_explains_it(b: Backend) {
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    for track in ["canary", "stable"] {
        prom.set(&errors_query(track), Some(0.01));
        prom.set(&latency_query(track), Some(0.2));
    }
    let errors = |t: &str| format!("sum(increase(errors_total{{track=\"{t}\"}}[1h]))");
    let requests = |t: &str| format!("sum(increase(requests_total{{track=\"{t}\"}}[1h]))");
    // So far the same error rate on both tracks: 1 %.
    prom.set(&errors("canary"), Some(10.0));
    prom.set(&requests("canary"), Some(1_000.0));
    prom.set(&errors("stable"), Some(90.0));
    prom.set(&requests("stable"), Some(9_000.0));
    let id = start(&app, json!({"event": "started", "service": "api", "version": "4.0.0",
                    "criteria": [{"name": "error rate", "judge": "sequential", "failure_limit": 2,
                                  "errors": "sum(increase(errors_total{track=\"{{track}}\"}[1h]))",
                                  "requests": "sum(increase(requests_total{track=\"{{track}}\"}[1h]))"}]})).await;
    // A few checks (every second) of equal rates: no breach.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(app.state(&id).await, "canary");
    // The canary's error rate doubles: 2 % against 1 %.
    prom.set(&errors("canary"), Some(60.0));
    prom.set(&requests("canary"), Some(3_000.0));
    prom.set(&errors("stable"), Some(270.0));
    prom.set(&requests("stable"), Some(27_000.0));
    app.wait_state(&id, "breached").await;
    let t = app.timeline(&id).await;
    let failed = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "check_failed" && e["details"]["criterion"] == "error rate")
        .cloned()
        .expect("a failed check");
    let why = failed["details"]["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.starts_with("canary 60/3000 errors vs baseline 270/27000"),
        "{why}"
    );
    assert!(why.contains("(α 0.01)"), "{why}");
    // The charts draw the error rates.
    assert!((failed["details"]["canary"].as_f64().unwrap_or(0.0) - 0.02).abs() < 1e-9);
    let seen = prom.seen.lock().expect("seen").clone();
    for q in [
        errors("canary"),
        requests("canary"),
        errors("stable"),
        requests("stable"),
    ] {
        assert!(seen.iter().any(|(s, _)| *s == q), "{q} was queried");
    }
    app.finish().await;
}

/// Starts a deploy from `started` (a signed deploy webhook); returns its id.
async fn start(app: &TestApp, started: serde_json::Value) -> String {
    let (status, body) = app.signed("/hooks/deploy", &started).await;
    assert_eq!(status, 202, "{body}");
    body["deploy_id"].as_str().expect("deploy_id").to_string()
}

/// One signed push of samples, accepted; returns the answer (each criterion's verdict).
async fn push(app: &TestApp, samples: serde_json::Value) -> serde_json::Value {
    let (status, body) = app.signed("/hooks/metrics", &samples).await;
    assert_eq!(status, 202, "{body}");
    body
}

/// The Mann-Whitney criteria's query, per track.
const LATENCY_MS: &str = "app_latency_ms{service=\"api\",track=\"{{track}}\"}";

fn latency_ms(track: &str) -> String {
    LATENCY_MS.replace("{{track}}", track)
}

/// The `api` service's own two criteria pass.
/// A test app reading a fake Prometheus, the service's own criteria answered healthy.
async fn app_with_prometheus(b: Backend, setup: Setup) -> Option<(FakePrometheus, TestApp)> {
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..setup
    };
    let app = TestApp::spawn(b, setup).await?;
    healthy(&prom);
    Some((prom, app))
}

fn healthy(prom: &FakePrometheus) {
    for track in ["canary", "stable"] {
        prom.set(&errors_query(track), Some(0.01));
        prom.set(&latency_query(track), Some(0.2));
    }
}

/// `center` ± `spread` (a fraction), noisy by stream `seed`, to 0.1.
fn noisy(center: f64, spread: f64, seed: u64, i: usize) -> f64 {
    (center * (1.0 + spread * noise(seed, i)) * 10.0).round() / 10.0
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// The events of `kind` about `criterion`, oldest first.
async fn events_of(app: &TestApp, id: &str, kind: &str, criterion: &str) -> Vec<Value> {
    app.timeline(id).await["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind && e["details"]["criterion"] == criterion)
        .cloned()
        .collect()
}

/// The events of `kind` about `criterion` up to the breach (checks go on after it).
async fn events_to_breach(app: &TestApp, id: &str, kind: &str, criterion: &str) -> Vec<Value> {
    let t = app.timeline(id).await;
    let events = t["events"].as_array().expect("events");
    let breach = events
        .iter()
        .position(|e| e["kind"] == "breach_detected")
        .expect("a breach");
    events[..breach]
        .iter()
        .filter(|e| e["kind"] == kind && e["details"]["criterion"] == criterion)
        .cloned()
        .collect()
}

/// Waits (up to `within`) for `n` events of `kind` about `criterion`; fails naming what came.
async fn wait_events(
    app: &TestApp,
    id: &str,
    kind: &str,
    criterion: &str,
    n: usize,
    within: Duration,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let found = events_of(app, id, kind, criterion).await;
        if found.len() >= n {
            return found;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{criterion}: {} `{kind}` events within {within:?}, {n} expected; kinds: {:?}",
                found.len(),
                app.kinds(id).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every range query of the two tracks' queries: each canary read has a baseline read over the
/// same start, end and step, and the other way round; returns the canary reads. (A check's two
/// reads are concurrent: one caught between them is given a moment to complete.)
async fn both_tracks_over_the_same_times(
    prom: &FakePrometheus,
    canary: &str,
    baseline: &str,
) -> Vec<RangeAsk> {
    let span = |a: &RangeAsk| (a.start.clone(), a.end.clone(), a.step.clone());
    let mut tries = 0;
    loop {
        let asks = prom.check_asks();
        let of = |q: &str| {
            let mut spans: Vec<_> = asks.iter().filter(|a| a.query == q).map(span).collect();
            spans.sort();
            spans
        };
        let (c, b) = (of(canary), of(baseline));
        assert!(
            !c.is_empty(),
            "the canary was never read over a range: {asks:?}"
        );
        tries += 1;
        if c == b || tries == 5 {
            assert_eq!(c, b, "canary and baseline were read over different times");
            return asks.into_iter().filter(|a| a.query == canary).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The thread's root as last posted or updated (plain text).
fn last_root(app: &TestApp) -> String {
    app.chat
        .ops()
        .into_iter()
        .rev()
        .find_map(|o| match o {
            ChatOp::Root(t) | ChatOp::Update(t) => Some(t),
            _ => None,
        })
        .expect("a root")
}

/// Slack's root of the one thread, as last posted or updated: the live-status section's text.
fn slack_live_status(slack: &FakeSlack) -> String {
    let roots: Vec<String> = slack
        .calls()
        .iter()
        .filter(|c| matches!(c.method.as_str(), "chat.postMessage" | "chat.update"))
        .filter(|c| c.body["thread_ts"].is_null())
        .filter_map(|c| {
            c.body["blocks"].as_array().and_then(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b["text"]["text"].as_str())
                    .find(|t| t.starts_with("*Live status*"))
                    .map(str::to_string)
            })
        })
        .collect();
    roots
        .last()
        .cloned()
        .expect("a root with a live status was posted to Slack")
}

async fn the_mann_whitney_judge_breaches_on_a_slower_canary_and_shows_its_test(b: Backend) {
    let prom = FakePrometheus::start().await;
    let slack = FakeSlack::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    // The api service's thread goes to Slack too.
    let Some(app) = TestApp::spawn_with(b, setup, |text| {
        text.replace(
            "name = \"api\"\n",
            "name = \"api\"\nslack_channel = \"C0CHECKOUT\"\n",
        )
    })
    .await
    else {
        return;
    };
    healthy(&prom);
    // The canary is 60 % slower; both tracks vary ±30 % around their level.
    prom.set_series(&latency_ms("canary"), |i, _| Some(noisy(400.0, 0.3, 1, i)));
    prom.set_series(&latency_ms("stable"), |i, _| Some(noisy(250.0, 0.3, 2, i)));
    let before = now_s();
    let id = start(&app, json!({"event": "started", "service": "api", "version": "9.0.0",
                    "criteria": [{"name": "checkout latency", "judge": "mann-whitney", "query": LATENCY_MS,
                                  "unit": "ms", "window": "1m", "step": "100ms", "min_points": 20,
                                  "failure_limit": 2}]})).await;
    app.wait_state(&id, "breached").await;
    let t = app.timeline(&id).await;
    let breach = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "breach_detected")
        .cloned()
        .expect("a breach");
    assert_eq!(
        breach["details"]["criteria"],
        json!(["checkout latency"]),
        "{breach}"
    );
    let failed = events_to_breach(&app, &id, "check_failed", "checkout latency").await;
    assert_eq!(
        failed.len(),
        2,
        "two failing checks make the breach: {failed:?}"
    );
    assert_eq!(failed[1]["details"]["consecutive"], 2);
    for f in &failed {
        let d = &f["details"];
        let test = &d["test"];
        assert_eq!(test["test"], "mann_whitney", "{d}");
        let p = test["p_value"].as_f64().expect("p_value");
        assert!(p < 0.05, "worse with confidence: p = {p}");
        let canary = test["canary_median"].as_f64().expect("canary median");
        let baseline = test["baseline_median"].as_f64().expect("baseline median");
        assert!((280.0..=520.0).contains(&canary), "canary median {canary}");
        assert!(
            (175.0..=325.0).contains(&baseline),
            "baseline median {baseline}"
        );
        let effect = test["effect"].as_f64().expect("effect");
        assert!(
            (effect - (canary / baseline - 1.0)).abs() < 1e-9 && effect >= 0.1,
            "effect {effect} from medians {canary} vs {baseline}"
        );
        let points = test["canary_points"].as_u64().expect("canary points");
        assert!(points >= 20, "judged on at least min_points: {points}");
        assert_eq!(test["baseline_points"].as_u64(), Some(points), "{test}");
        // The charts draw the medians compared.
        assert_eq!(d["canary"].as_f64(), Some(canary));
        assert_eq!(d["baseline"].as_f64(), Some(baseline));
        let why = d["reasons"][0].as_str().unwrap_or_default();
        assert!(
            why.starts_with("p = ") || why.starts_with("p < 0.0001"),
            "{why}"
        );
        assert!(
            why.contains(&format!("canary median {}ms vs {}ms", canary, baseline)),
            "{why}"
        );
        assert!(
            why.contains(&format!("over {points} vs {points} points")),
            "{why}"
        );
        assert!(
            why.ends_with(": worse with p < 0.05 and by ≥ 10 %"),
            "{why}"
        );
    }
    // Both tracks read over the same times, at the criterion's step, never before the deploy
    // started and never more than the window back.
    let asks =
        both_tracks_over_the_same_times(&prom, &latency_ms("canary"), &latency_ms("stable")).await;
    for a in &asks {
        let (start, end, step) = a.span();
        assert_eq!(a.step, "0.100", "{a:?}");
        assert!(step > 0.0 && start <= end, "{a:?}");
        assert!(
            start >= before - 0.001,
            "{a:?} starts before the deploy did ({before})"
        );
        assert!(
            end - start <= 60.0 + 0.001,
            "{a:?} is longer than the 1m window"
        );
    }
    // The thread shows the test under the live status table.
    app.settle_chat().await;
    let live = slack_live_status(&slack);
    let under = live
        .rsplit("```")
        .next()
        .and_then(|after| {
            after
                .lines()
                .find(|l| l.starts_with("checkout latency: p "))
        })
        .unwrap_or_else(|| panic!("no test line under the table: {live}"));
    assert!(under.contains(", canary median "), "{under}");
    assert!(under.contains("ms vs "), "{under}");
    assert!(
        under.ends_with("points: worse with p &lt; 0.05 and by ≥ 10 %"),
        "{under}"
    );
    app.finish().await;
}

async fn the_mann_whitney_judge_passes_the_same_distribution_and_a_tiny_significant_shift(
    b: Backend,
) {
    let Some((prom, app)) = app_with_prometheus(b, Setup::default()).await else {
        return;
    };
    let same = |t: &str| format!("same_ms{{track=\"{t}\"}}");
    let shifted = |t: &str| format!("shifted_ms{{track=\"{t}\"}}");
    // The same points on both tracks, in another order: the same distribution, noisy ±20 %.
    prom.set_series(&same("canary"), |i, _| Some(noisy(250.0, 0.2, 3, i)));
    prom.set_series(&same("stable"), |i, n| {
        Some(noisy(250.0, 0.2, 3, n - 1 - i))
    });
    // 3 % slower, with ±1 % noise: certainly slower, but by less than the 10 % that counts.
    prom.set_series(&shifted("canary"), |i, _| Some(noisy(257.5, 0.01, 4, i)));
    prom.set_series(&shifted("stable"), |i, _| Some(noisy(250.0, 0.01, 5, i)));
    let criterion = |name: &str, query: &str| {
        json!({"name": name, "judge": "mann-whitney", "query": query, "unit": "ms",
               "window": "1m", "step": "100ms", "min_points": 20, "failure_limit": 1})
    };
    let id = start(
        &app,
        json!({"event": "started", "service": "api", "version": "9.1.0",
                    "criteria": [criterion("same latency", "same_ms{track=\"{{track}}\"}"),
                                 criterion("shifted latency", "shifted_ms{track=\"{{track}}\"}")]}),
    )
    .await;
    let within = Duration::from_secs(15);
    let same_passed = wait_events(&app, &id, "check_passed", "same latency", 1, within).await;
    let shifted_passed = wait_events(&app, &id, "check_passed", "shifted latency", 1, within).await;
    // A few more checks (every second): still no failure, with failure_limit 1.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.state(&id).await, "canary");
    for name in ["same latency", "shifted latency"] {
        let failed = events_of(&app, &id, "check_failed", name).await;
        assert!(failed.is_empty(), "{name} never fails: {failed:?}");
    }

    let d = &same_passed[0]["details"];
    assert_eq!(d["test"]["test"], "mann_whitney", "{d}");
    assert!(d["test"]["p_value"].as_f64().expect("p") >= 0.05, "{d}");
    assert_eq!(
        d["test"]["canary_median"], d["test"]["baseline_median"],
        "{d}"
    );
    let why = d["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.ends_with(": no significant difference (p ≥ 0.05)"),
        "{why}"
    );

    let d = &shifted_passed[0]["details"];
    assert_eq!(d["test"]["test"], "mann_whitney", "{d}");
    let p = d["test"]["p_value"].as_f64().expect("p");
    assert!(p < 0.05, "the shift is significant: p = {p}");
    let effect = d["test"]["effect"].as_f64().expect("effect");
    assert!((0.02..0.04).contains(&effect), "about +3 %: {effect}");
    let why = d["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.ends_with(": significant, but within the 10 % effect size"),
        "{why}"
    );
    assert!(
        why.contains("(+3 %)") || why.contains("(+2.") || why.contains("(+3."),
        "{why}"
    );

    // The root shows each test under the table.
    app.settle_chat().await;
    let root = last_root(&app);
    assert!(
        root.contains("no significant difference (p ≥ 0.05)"),
        "{root}"
    );
    assert!(
        root.contains("significant, but within the 10 % effect size"),
        "{root}"
    );
    app.finish().await;
}

async fn too_few_points_over_the_window_are_insufficient_then_the_deciders_are_asked(b: Backend) {
    let Some((prom, app)) = app_with_prometheus(b, Setup::default()).await else {
        return;
    };
    // Five points a track however long the window (a scrape that mostly fails), the canary far
    // slower: judged, it would fail at once.
    prom.set_range(
        &latency_ms("canary"),
        vec![900.0, 950.0, 910.0, 990.0, 905.0],
    );
    prom.set_range(
        &latency_ms("stable"),
        vec![200.0, 210.0, 190.0, 205.0, 195.0],
    );
    let id = start(
        &app,
        json!({"event": "started", "service": "api", "version": "9.2.0",
                    "criteria": [{"name": "latency", "judge": "mann-whitney", "query": LATENCY_MS,
                                  "unit": "ms", "failure_limit": 1, "insufficient_limit": 2}]}),
    )
    .await;
    let thin = wait_events(
        &app,
        &id,
        "insufficient",
        "latency",
        2,
        Duration::from_secs(10),
    )
    .await;
    for (n, e) in thin.iter().enumerate() {
        let d = &e["details"];
        assert_eq!(d["points"], true, "{d}");
        assert_eq!(d["requests"], 5.0, "{d}");
        assert_eq!(d["min_requests"], 50.0, "{d}");
        assert_eq!(d["consecutive"], n as u64 + 1, "{d}");
    }
    // More checks (every second): still insufficient, never a failure, no breach.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.state(&id).await, "canary");
    let kinds = app.kinds(&id).await;
    assert!(
        !kinds
            .iter()
            .any(|k| k == "check_failed" || k == "breach_detected"),
        "{kinds:?}"
    );
    // The default window (10m at 10s) was asked for, from the deploy's start.
    let asks =
        both_tracks_over_the_same_times(&prom, &latency_ms("canary"), &latency_ms("stable")).await;
    assert!(asks.iter().all(|a| a.step == "10.000"), "{asks:?}");
    app.settle_chat().await;
    let asked: Vec<String> = app
        .chat
        .ops()
        .into_iter()
        .filter_map(|o| match o {
            ChatOp::Reply { text, loud: true }
                if text.contains("Too few points over the window") =>
            {
                Some(text)
            }
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1, "the deciders are asked once: {asked:?}");
    assert!(
        asked[0].contains("Too few points over the window to judge *latency*: 5 points (50 needed), 2 checks in a row"),
        "{}",
        asked[0]
    );
    let root = last_root(&app);
    assert!(root.contains("too few points (5/50)"), "{root}");
    app.finish().await;
}

async fn a_restart_keeps_the_failing_and_insufficient_streaks_of_pushed_checks(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = start(
        &app,
        json!({"event": "started", "service": "checkout", "version": "9.3.0", "actor": "ci",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 3},
                                 {"name": "checkout errors", "max": 0.01, "failure_limit": 1,
                                  "min_requests": 200, "insufficient_limit": 3}]}),
    )
    .await;
    let check = json!({"deploy_id": id, "samples": [
        {"criterion": "cold starts", "canary": 7.0, "baseline": 0.0},
        {"criterion": "checkout errors", "canary": 0.5, "baseline": 0.0, "canary_requests": 37}]});
    for n in 1..=2 {
        let body = push(&app, check.clone()).await;
        let cold = &body["criteria"][0];
        assert_eq!(
            (cold["criterion"].as_str(), cold["verdict"].as_str()),
            (Some("cold starts"), Some("fail")),
            "{body}"
        );
        assert_eq!(cold["consecutive_failures"], n, "{body}");
        assert_eq!(body["criteria"][1]["verdict"], "insufficient", "{body}");
    }
    assert_eq!(app.state(&id).await, "canary");
    // canarybot restarts (a crash, or a deploy of itself) on the same database.
    let app = app.restart(Arc::new(RecordingChat::default())).await;
    assert_eq!(app.state(&id).await, "canary");
    let body = push(&app, check).await;
    assert_eq!(body["criteria"][0]["consecutive_failures"], 3, "{body}");
    assert_eq!(
        app.state(&id).await,
        "breached",
        "the third failing check in a row breaches"
    );
    let failed = events_of(&app, &id, "check_failed", "cold starts").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[2]["details"]["consecutive"], 3);
    let thin = events_of(&app, &id, "insufficient", "checkout errors").await;
    assert_eq!(thin.len(), 3, "{thin:?}");
    assert_eq!(thin[2]["details"]["consecutive"], 3);
    app.settle_chat().await;
    assert!(
        app.chat.ops().iter().any(|o| matches!(o,
            ChatOp::Reply { text, loud: true }
                if text.contains("Too little canary traffic to judge *checkout errors*: 37 requests (200 needed), 3 checks in a row"))),
        "the third insufficient check in a row asks the deciders: {:?}",
        app.chat.ops()
    );
    app.finish().await;
}

async fn a_restart_keeps_the_mann_whitney_failing_streak(b: Backend) {
    let Some((prom, app)) = app_with_prometheus(b, Setup::default()).await else {
        return;
    };
    let canary: Vec<f64> = (0..30).map(|i| noisy(400.0, 0.2, 6, i)).collect();
    let stable: Vec<f64> = (0..30).map(|i| noisy(250.0, 0.2, 7, i)).collect();
    prom.set_range(&latency_ms("canary"), canary);
    prom.set_range(&latency_ms("stable"), stable);
    // Prometheus answers two checks' range queries (canary and baseline each), then is down.
    prom.set_range_budget(Some(4));
    let id = start(
        &app,
        json!({"event": "started", "service": "api", "version": "9.4.0",
                    "criteria": [{"name": "latency", "judge": "mann-whitney", "query": LATENCY_MS,
                                  "unit": "ms", "min_points": 20, "failure_limit": 3}]}),
    )
    .await;
    app.wait_kind(&id, "metrics_unavailable").await;
    let failed = events_of(&app, &id, "check_failed", "latency").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[1]["details"]["consecutive"], 2);
    assert_eq!(app.state(&id).await, "canary");
    let app = app.restart(Arc::new(RecordingChat::default())).await;
    prom.set_range_budget(None);
    app.wait_state(&id, "breached").await;
    // One more failing check after the restart breached: the streak of two survived it.
    let failed = events_to_breach(&app, &id, "check_failed", "latency").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[2]["details"]["consecutive"], 3);
    assert_eq!(failed[2]["details"]["test"]["test"], "mann_whitney");
    let kinds = app.kinds(&id).await;
    assert!(kinds.iter().any(|k| k == "metrics_restored"), "{kinds:?}");
    app.finish().await;
}

async fn a_checker_whose_clock_is_behind_the_deploys_start_reads_no_inverted_window(b: Backend) {
    let Some((prom, mut app)) = app_with_prometheus(b, Setup::default()).await else {
        return;
    };
    prom.set_series(&latency_ms("canary"), |i, _| Some(noisy(250.0, 0.2, 8, i)));
    prom.set_series(&latency_ms("stable"), |i, _| Some(noisy(250.0, 0.2, 9, i)));
    let id = start(&app, json!({"event": "started", "service": "api", "version": "9.5.0",
                    "criteria": [{"name": "latency", "judge": "mann-whitney", "query": LATENCY_MS,
                                  "unit": "ms", "window": "1m", "step": "100ms", "min_points": 5}]})).await;
    let checked = prom.check_asks().len();
    // The checks move to a replica (here: canarybot restarted on a host) whose clock is 30 s
    // behind the one that started the deploy: its "now" is before the deploy's start.
    app.running.stop().await;
    let config = canarybot::registry::config_from_toml(&app.config_text, &|_| None)
        .expect("test config is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let behind: canarybot::Clock = Arc::new(|| chrono::Utc::now().timestamp_millis() - 30_000);
    let chat = Arc::new(RecordingChat::default());
    let options = canarybot::app::Options {
        chat: vec![chat.clone() as Arc<dyn canarybot::chat::ChatPort>],
        clock: behind,
    };
    app.running = canarybot::app::start(config, listener, options)
        .await
        .expect("app restarts");
    app.url = app.running.url();
    app.chat = chat;
    for _ in 0..100 {
        if prom.check_asks().len() >= checked + 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let asks = prom.check_asks();
    assert!(
        asks.len() >= checked + 6,
        "three checks after the restart: {asks:?}"
    );
    // Never a range ending before it starts (Prometheus refuses those), so never "metrics
    // unavailable" for a healthy Prometheus: the window so far is too short to judge.
    for a in &asks {
        let (start, end, _) = a.span();
        assert!(start <= end, "a range ending before it starts: {a:?}");
    }
    let kinds = app.kinds(&id).await;
    assert!(
        !kinds.iter().any(|k| k == "metrics_unavailable"),
        "{kinds:?}"
    );
    assert_eq!(app.state(&id).await, "canary");
    app.finish().await;
}

async fn pushed_points_are_judged_and_a_recovery_says_what_held(b: Backend) {
    // A Mann-Whitney criterion needs a query, so this server has a Prometheus; checkout is
    // checked every 30 s, and the test's pushes come in between.
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = start(&app, json!({"event": "started", "service": "checkout", "version": "9.6.0", "actor": "ci",
                    "criteria": [{"name": "render time", "judge": "mann-whitney", "query": "render_ms{track=\"{{track}}\"}",
                                  "unit": "ms", "min_points": 20, "failure_limit": 2}]})).await;
    let points = |canary: f64, seed: u64, n: usize| {
        json!({"canary": (0..n).map(|i| noisy(canary, 0.2, seed, i)).collect::<Vec<_>>(),
               "baseline": (0..n).map(|i| noisy(250.0, 0.2, seed + 1, i)).collect::<Vec<_>>()})
    };
    let verdict = |body: &Value| {
        body["criteria"]
            .as_array()
            .expect("criteria")
            .iter()
            .find(|c| c["criterion"] == "render time")
            .cloned()
            .expect("render time is judged")
    };
    // Too few points: insufficient, not a failure.
    let body = push(
        &app,
        json!({"deploy_id": id, "samples": [
        {"criterion": "render time", "points": points(500.0, 20, 10)}]}),
    )
    .await;
    assert_eq!(verdict(&body)["verdict"], "insufficient", "{body}");
    // Twice as slow over 40 points: failing 1/2.
    let body = push(
        &app,
        json!({"deploy_id": id, "samples": [
        {"criterion": "render time", "points": points(500.0, 22, 40)}]}),
    )
    .await;
    let v = verdict(&body);
    assert_eq!(v["verdict"], "fail", "{body}");
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap_or_default()
            .contains("over 40 vs 40 points"),
        "{v}"
    );
    // As fast as the baseline again: recovered, and the event says what held.
    let body = push(
        &app,
        json!({"deploy_id": id, "samples": [
        {"criterion": "render time", "points": points(250.0, 24, 40)}]}),
    )
    .await;
    assert_eq!(verdict(&body)["verdict"], "pass", "{body}");
    let recovered = events_of(&app, &id, "recovered", "render time").await;
    assert_eq!(recovered.len(), 1, "{:?}", app.kinds(&id).await);
    let d = &recovered[0]["details"];
    assert_eq!(d["test"]["test"], "mann_whitney", "{d}");
    assert_eq!(d["test"]["canary_points"], 40, "{d}");
    let why = d["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("canary median") && why.contains(": no significant difference"),
        "{why}"
    );
    // Slow again twice in a row: breached.
    for seed in [26, 28] {
        push(
            &app,
            json!({"deploy_id": id, "samples": [
            {"criterion": "render time", "points": points(500.0, seed, 40)}]}),
        )
        .await;
    }
    assert_eq!(app.state(&id).await, "breached");
    let failed = events_of(&app, &id, "check_failed", "render time").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(
        failed[2]["details"]["consecutive"], 2,
        "the recovery reset the streak"
    );
    app.finish().await;
}

async fn a_criterion_short_of_points_holds_the_canary_window_until_it_is_judged(b: Backend) {
    let setup = Setup {
        canary_window: "1s",
        on_pass: "promote",
        executor: Some(crate::support::ExecutorMode::Done),
        ..Setup::default()
    };
    let Some((prom, app)) = app_with_prometheus(b, setup).await else {
        return;
    };
    // Five points a track: never enough to judge.
    prom.set_range(
        &latency_ms("canary"),
        vec![250.0, 251.0, 249.0, 252.0, 248.0],
    );
    prom.set_range(
        &latency_ms("stable"),
        vec![250.0, 249.0, 251.0, 248.0, 252.0],
    );
    let id = start(
        &app,
        json!({"event": "started", "service": "api", "version": "9.7.0",
                    "criteria": [{"name": "latency", "judge": "mann-whitney", "query": LATENCY_MS,
                                  "unit": "ms", "min_points": 20}]}),
    )
    .await;
    app.wait_kind(&id, "insufficient").await;
    // The 1 s window is long over, the service's own criteria pass: the unjudged one holds it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let kinds = app.kinds(&id).await;
    assert!(
        !kinds.iter().any(|k| k == "canary_window_passed"),
        "{kinds:?}"
    );
    assert_eq!(app.state(&id).await, "canary");
    // Enough points, the same on both tracks: judged passing, and the window passes.
    let same: Vec<f64> = (0..30).map(|i| noisy(250.0, 0.2, 10, i)).collect();
    let mut reversed = same.clone();
    reversed.reverse();
    prom.set_range(&latency_ms("canary"), same);
    prom.set_range(&latency_ms("stable"), reversed);
    app.wait_state(&id, "promoted").await;
    let t = app.timeline(&id).await;
    let events = t["events"].as_array().expect("events");
    let passed = events
        .iter()
        .position(|e| e["kind"] == "check_passed" && e["details"]["criterion"] == "latency");
    let window = events
        .iter()
        .position(|e| e["kind"] == "canary_window_passed");
    assert!(
        passed.is_some() && window.is_some() && passed < window,
        "latency judged passing before the window passed: {:?}",
        app.kinds(&id).await
    );
    app.finish().await;
}
