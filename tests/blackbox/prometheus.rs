//! The bot watching by itself: scheduled Prometheus queries against a fake Prometheus API.

use crate::fake_prometheus::{FakePrometheus, errors_query, latency_query};
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::json;

on_both_backends!(
    both_tracks_are_queried_and_a_breach_is_detected,
    silence_for_the_no_data_limit_is_a_breach,
    prometheus_down_is_recorded_once,
    the_window_passes_and_promotes,
    recovery_is_verified_after_the_rollback,
    a_restart_resumes_checking,
    no_recovery_in_time_is_called_out,
);

async fn no_recovery_in_time_is_called_out(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some((app, prom)) = prom_app(b, setup).await else {
        return;
    };
    healthy(&prom);
    prom.set(&errors_query("canary"), Some(0.3));
    let id = start_api(&app, "9.0.0").await;
    app.wait_state(&id, "breached").await;
    // The stable track is sick too: rolling back does not help.
    prom.set(&errors_query("stable"), Some(0.3));
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "rolled_back").await;
    app.wait_kind(&id, "verify_timed_out").await;
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "verify_timed_out").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(app.state(&id).await, "rolled_back");
    app.settle_chat().await;
    assert!(app.chat.ops().iter().any(|o| matches!(o, crate::support::ChatOp::Reply { text, loud: true } if text.contains("No recovery"))));
    app.finish().await;
}

async fn prom_app(b: Backend, setup: Setup) -> Option<(TestApp, FakePrometheus)> {
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..setup
    };
    Some((TestApp::spawn(b, setup).await?, prom))
}

async fn start_api(app: &TestApp, version: &str) -> String {
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": version}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["deploy_id"].as_str().expect("id").to_string()
}

fn healthy(prom: &FakePrometheus) {
    prom.set(&errors_query("canary"), Some(0.01));
    prom.set(&errors_query("stable"), Some(0.01));
    prom.set(&latency_query("canary"), Some(0.2));
    prom.set(&latency_query("stable"), Some(0.2));
}

async fn both_tracks_are_queried_and_a_breach_is_detected(b: Backend) {
    let Some((app, prom)) = prom_app(b, Setup::default()).await else {
        return;
    };
    healthy(&prom);
    prom.set(&errors_query("canary"), Some(0.2)); // > max 0.05 and > 3 × baseline
    let id = start_api(&app, "1.0.0").await;
    app.wait_state(&id, "breached").await;
    let seen = prom.seen();
    for q in [
        errors_query("canary"),
        errors_query("stable"),
        latency_query("canary"),
        latency_query("stable"),
    ] {
        assert!(
            seen.iter().any(|(s, _)| *s == q),
            "{q} not queried: {seen:?}"
        );
    }
    // Canary and baseline of one check are read at the same evaluation time.
    let time_of = |q: &str| seen.iter().find(|(s, _)| s == q).map(|(_, t)| t.clone());
    assert_eq!(
        time_of(&errors_query("canary")),
        time_of(&errors_query("stable"))
    );
    let t = app.timeline(&id).await;
    let failed: Vec<_> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "check_failed")
        .cloned()
        .collect();
    assert_eq!(failed.len(), 2, "failure limit 2");
    assert_eq!(failed[0]["details"]["canary"], 0.2);
    assert_eq!(failed[0]["details"]["baseline"], 0.01);
    assert_eq!(failed[0]["source"], "prometheus");
    let breach = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "breach_detected")
        .cloned()
        .expect("breach");
    assert_eq!(breach["details"]["criteria"], json!(["error ratio"]));
    // The thread links each criterion to a graph of canary and baseline side by side.
    app.settle_chat().await;
    let root = app
        .chat
        .ops()
        .into_iter()
        .find_map(|o| match o {
            crate::support::ChatOp::Root(t) => Some(t),
            _ => None,
        })
        .expect("root");
    assert!(
        root.contains(&format!("{}/graph?g0.expr=", prom.url)),
        "{root}"
    );
    assert!(
        root.contains("track%3D%22canary%22") && root.contains("track%3D%22stable%22"),
        "{root}"
    );
    // Every check's values are stored.
    let samples = app
        .running
        .engine
        .store()
        .samples(&id)
        .await
        .expect("samples");
    assert!(samples.len() >= 4, "{samples:?}");
    app.finish().await;
}

async fn silence_for_the_no_data_limit_is_a_breach(b: Backend) {
    let Some((app, prom)) = prom_app(b, Setup::default()).await else {
        return;
    };
    healthy(&prom);
    prom.set(&latency_query("canary"), None); // empty result
    let id = start_api(&app, "2.0.0").await;
    app.wait_state(&id, "breached").await;
    let t = app.timeline(&id).await;
    let events = t["events"].as_array().expect("events");
    let no_data: Vec<_> = events.iter().filter(|e| e["kind"] == "no_data").collect();
    assert_eq!(no_data.len(), 3);
    assert!(
        no_data[0]["details"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("canary: empty result"),
        "{:?}",
        no_data[0]
    );
    let breach = events
        .iter()
        .find(|e| e["kind"] == "breach_detected")
        .expect("breach");
    assert!(
        breach["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("no data for 3 checks"),
        "{breach}"
    );
    app.finish().await;
}

async fn prometheus_down_is_recorded_once(b: Backend) {
    let Some((app, prom)) = prom_app(b, Setup::default()).await else {
        return;
    };
    healthy(&prom);
    prom.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let id = start_api(&app, "3.0.0").await;
    let before = prom.seen().len();
    prom.wait_for_queries(before + 8).await; // several checks while it is down
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "metrics_unavailable").count(),
        1,
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    let down = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "metrics_unavailable")
        .cloned()
        .expect("down");
    assert!(
        down["details"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{down}"
    );
    prom.down.store(false, std::sync::atomic::Ordering::SeqCst);
    app.wait_kind(&id, "metrics_restored").await;
    assert!(
        app.kinds(&id)
            .await
            .contains(&"metrics_restored".to_string())
    );
    assert_eq!(app.state(&id).await, "canary");
    app.finish().await;
}

async fn the_window_passes_and_promotes(b: Backend) {
    let setup = Setup {
        on_pass: "promote",
        canary_window: "2s",
        executor: None,
        ..Setup::default()
    };
    let Some((app, prom)) = prom_app(b, setup).await else {
        return;
    };
    healthy(&prom);
    let id = start_api(&app, "4.0.0").await;
    app.wait_state(&id, "promoted").await;
    let kinds = app.kinds(&id).await;
    assert!(
        kinds.contains(&"canary_window_passed".to_string()),
        "{kinds:?}"
    );
    app.finish().await;

    let setup = Setup {
        on_pass: "ask",
        canary_window: "2s",
        ..Setup::default()
    };
    let Some((app, prom)) = prom_app(b, setup).await else {
        return;
    };
    healthy(&prom);
    let id = start_api(&app, "4.0.1").await;
    app.wait_kind(&id, "canary_window_passed").await;
    assert!(
        app.kinds(&id)
            .await
            .contains(&"canary_window_passed".to_string())
    );
    assert_eq!(app.state(&id).await, "canary", "ask: the deciders promote");
    app.settle_chat().await;
    assert!(
        app.chat
            .replies()
            .iter()
            .any(|r| r.contains("Canary window passed"))
    );
    app.finish().await;
}

async fn recovery_is_verified_after_the_rollback(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some((app, prom)) = prom_app(b, setup).await else {
        return;
    };
    healthy(&prom);
    prom.set(&errors_query("canary"), Some(0.3));
    let id = start_api(&app, "5.0.0").await;
    app.wait_state(&id, "breached").await;
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    // After the rollback the canary series is gone; the stable track is healthy.
    prom.set(&errors_query("canary"), None);
    prom.set(&latency_query("canary"), None);
    app.wait_state(&id, "rollback_verified").await;
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "verify_check").count(),
        2,
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    assert!(t["phases"]["verify_s"].as_f64().is_some());
    app.finish().await;
}

async fn a_restart_resumes_checking(b: Backend) {
    let Some((app, prom)) = prom_app(b, Setup::default()).await else {
        return;
    };
    healthy(&prom);
    let id = start_api(&app, "6.0.0").await;
    prom.wait_for_queries(4).await;
    let app = app
        .restart(std::sync::Arc::new(crate::support::RecordingChat::default()))
        .await;
    // The canary goes bad after the restart: the restarted bot, reading the store, catches it.
    prom.set(&errors_query("canary"), Some(0.4));
    app.wait_state(&id, "breached").await;
    app.finish().await;
}
