//! Judging canary against baseline (issue 18): a dry-run criterion is judged, stored and shown,
//! and never breaches; a criterion warming up neither passes nor fails.

use crate::fake_prometheus::{FakePrometheus, errors_query, latency_query};
use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use serde_json::json;

on_both_backends!(
    a_dry_run_criterion_never_breaches_and_the_postmortem_says_when_it_would_have,
    a_warming_criterion_neither_passes_nor_fails_and_holds_the_window,
    too_little_pushed_traffic_is_insufficient_then_the_deciders_are_asked,
    prometheus_counts_the_canary_traffic_of_a_criterion,
    the_sequential_judge_breaches_on_a_doubled_error_rate_and_explains_it,
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
