//! Judging canary against baseline (issue 18): a dry-run criterion is judged, stored and shown,
//! and never breaches; a criterion warming up neither passes nor fails.

use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use serde_json::json;

on_both_backends!(
    a_dry_run_criterion_never_breaches_and_the_postmortem_says_when_it_would_have,
    a_warming_criterion_neither_passes_nor_fails_and_holds_the_window,
);

async fn a_dry_run_criterion_never_breaches_and_the_postmortem_says_when_it_would_have(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    // The deploy brings a criterion of its own to try: `dry_run`.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "8.0.0", "actor": "ci",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 2, "dry_run": true}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("deploy_id").to_string();
    for _ in 0..3 {
        let (status, body) = app
            .signed(
                "/hooks/metrics",
                &json!({"deploy_id": id, "samples": [
                    {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                    {"criterion": "p99 latency", "canary": 0.2, "baseline": 0.2},
                    {"criterion": "cold starts", "canary": 7.0, "baseline": 0.0},
                ]}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
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
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "8.1.0", "actor": "ci",
                    "criteria": [{"name": "cold starts", "max": 1.0, "failure_limit": 1, "initial_delay": "1h"}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("deploy_id").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..3 {
        let (status, body) = app
            .signed(
                "/hooks/metrics",
                &json!({"deploy_id": id, "samples": [
                    {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                    {"criterion": "p99 latency", "canary": 0.2, "baseline": 0.2},
                    {"criterion": "cold starts", "canary": 9.0, "baseline": 0.0},
                ]}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
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
