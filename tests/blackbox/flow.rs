//! The whole loop over HTTP: breach → vote → rollback → verify, and its other endings.

use crate::on_both_backends;
use crate::support::{Backend, ChatOp, ExecutorMode, SECRET, Setup, TestApp};
use canarybot::auth::verify;
use serde_json::json;

on_both_backends!(
    breach_vote_rollback_verify,
    denied_vote_is_refused_privately_and_recorded,
    quorum_of_two,
    promote_by_vote_and_by_pipeline,
    canary_window_promotes_by_itself,
    executor_failure_is_rollback_failed,
    executor_done_means_rolled_back,
    on_breach_rollback_needs_no_vote,
    pipeline_failure_is_recorded,
);

async fn breach_vote_rollback_verify(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("2.4.1").await;
    app.check(&id, 0.004, 0.2).await;
    app.check(&id, 0.02, 0.2).await;
    app.check(&id, 0.03, 0.2).await;
    assert_eq!(app.state(&id).await, "canary");
    let last = app.check(&id, 0.05, 0.2).await;
    assert_eq!(last["state"], "breached");
    assert_eq!(last["criteria"][0]["consecutive_failures"], 3);

    let (status, vote) = app
        .vote(&id, "slack:U02BOB", &["slack-group:S01SRE"], "rollback")
        .await;
    assert_eq!(status, 202, "{vote}");
    assert_eq!(vote["counted"], true);
    assert_eq!(vote["decision"]["action"], "rollback");
    let decision_id = vote["decision"]["id"]
        .as_str()
        .expect("decision id")
        .to_string();

    // The deploy system is called, signed, with the decision id as the delivery id.
    app.wait_state(&id, "rolling_back").await;
    let executor = app.executor.as_ref().expect("executor");
    app.wait_kind(&id, "rollback_started").await;
    let calls = executor.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.delivery.as_deref(), Some(decision_id.as_str()));
    assert!(
        verify(
            "sig",
            call.signature.as_deref(),
            &[SECRET.to_string()],
            &call.raw
        )
        .is_ok()
    );
    assert_eq!(call.body["deploy_id"], id.as_str());
    assert_eq!(call.body["service"], "checkout");
    assert_eq!(call.body["environment"], "production");
    assert_eq!(call.body["version"], "2.4.1");
    assert_eq!(call.body["sha"], "abc1234");
    assert_eq!(call.body["action"], "rollback");
    assert_eq!(call.body["reason"], "p99 doubled");
    assert_eq!(call.body["decided_by"], json!(["slack:U02BOB"]));
    assert_eq!(call.body["drill"], false);
    assert_eq!(
        app.state(&id).await,
        "rolling_back",
        "202 is started, not done"
    );

    // The pipeline reports the rollback done.
    let (status, body) = app
        .signed("/hooks/deploy", &json!({"event": "rolled_back", "service": "checkout", "version": "2.4.1", "actor": "argo"}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "rolled_back");

    // Recovery: baseline values within the absolute bounds, twice in a row.
    let verify_check = json!({"deploy_id": id, "samples": [
        {"criterion": "5xx ratio", "baseline": 0.004}, {"criterion": "p99 latency", "baseline": 0.2}]});
    let (_, first) = app.signed("/hooks/metrics", &verify_check).await;
    assert_eq!(first["state"], "rolled_back");
    let (_, second) = app.signed("/hooks/metrics", &verify_check).await;
    assert_eq!(second["state"], "rollback_verified");

    let t = app.timeline(&id).await;
    let kinds: Vec<&str> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "deploy_started",
            "criteria_locked",
            "check_passed",
            "check_passed",
            "check_failed",
            "check_failed",
            "check_failed",
            "breach_detected",
            "vote_cast",
            "decision",
            "rollback_started",
            "rollback_succeeded",
            "verify_check",
            "verify_check",
            "rollback_verified",
        ]
    );
    let decision = &t["events"][9];
    assert_eq!(decision["actor"], "slack:U02BOB");
    assert_eq!(decision["details"]["decided_by"], json!(["slack:U02BOB"]));
    assert!(decision["at"].as_str().unwrap_or_default().ends_with('Z'));
    // Phases: all reached, and they add up to the total.
    let p = &t["phases"];
    let get = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} is null: {p}"));
    let sum = get("detect_s") + get("decide_s") + get("execute_s") + get("verify_s");
    assert!((sum - get("total_s")).abs() < 0.0011, "{p}");
    assert!(get("total_s") > 0.0);

    // The thread: root with the criteria, breach called loudly, decision, recovery.
    app.settle_chat().await;
    let ops = app.chat.ops();
    assert!(
        matches!(&ops[0], ChatOp::Root(text) if text.contains("5xx ratio") && text.contains("slack-group:S01SRE")),
        "{ops:?}"
    );
    assert!(
        ops.iter()
            .any(|o| matches!(o, ChatOp::Reply { text, loud: true } if text.contains("BREACH")))
    );
    let replies = app.chat.replies();
    assert!(
        replies.iter().any(|r| r.contains("Recovery verified")),
        "{replies:?}"
    );
    assert!(
        ops.iter()
            .any(|o| matches!(o, ChatOp::Update(text) if text.contains("recovery verified")))
    );

    // The Markdown timeline names the phases with date, time and zone.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    assert!(md.contains("| Decide (→ decision) |"), "{md}");
    assert!(md.contains(" UTC |"), "{md}");
    assert!(md.contains("rollback_verified"));
    app.finish().await;
}

async fn denied_vote_is_refused_privately_and_recorded(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("5.0.0").await;
    let (status, body) = app
        .vote(
            &id,
            "slack:U09MALLORY",
            &["slack-group:S99OTHER"],
            "rollback",
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not a decider"),
        "{body}"
    );
    // Same id, other platform: still not Alice.
    let (status, _) = app.vote(&id, "discord:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 403);
    let t = app.timeline(&id).await;
    let denied = &t["events"][2];
    assert_eq!(denied["kind"], "vote_denied");
    assert_eq!(denied["actor"], "slack:U09MALLORY");
    assert_eq!(t["deploy"]["state"], "canary");
    assert!(app.executor.as_ref().expect("executor").calls().is_empty());
    app.settle_chat().await;
    assert!(app.chat.ops().iter().any(|o| matches!(o, ChatOp::Notice { to, text } if to == "slack:U09MALLORY" && text.contains("not a decider"))));
    // A malformed identity is a 400, not a denial.
    let (status, _) = app.vote(&id, "U01ALICE", &[], "rollback").await;
    assert_eq!(status, 400);
    app.finish().await;
}

async fn quorum_of_two(b: Backend) {
    let setup = Setup {
        rollback_quorum: 2,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("6.0.0").await;
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    assert_eq!(body["decision"], serde_json::Value::Null);
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 409, "the same person twice: {body}");
    assert!(
        body["notice"]
            .as_str()
            .unwrap_or_default()
            .contains("already counted")
    );
    assert_eq!(app.state(&id).await, "canary");
    let (status, body) = app.vote(&id, "discord:4455", &[], "rollback").await;
    assert_eq!(status, 202);
    assert_eq!(body["decision"]["action"], "rollback");
    assert_eq!(body["state"], "rolling_back");
    let t = app.timeline(&id).await;
    // People saw it before the criteria did: detection is the first rollback vote.
    assert!(t["phases"]["detect_s"].as_f64().is_some());
    assert!(t["phases"]["decide_s"].as_f64().is_some());
    assert!(t["phases"]["verify_s"].is_null());
    app.finish().await;
}

async fn promote_by_vote_and_by_pipeline(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("7.0.0").await;
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "promoted");
    let kinds = app.kinds(&id).await;
    assert_eq!(&kinds[2..], &["vote_cast", "decision", "promoted"]);
    // The deploy system hears about the promotion.
    app.executor
        .as_ref()
        .expect("executor")
        .wait_for_calls(1)
        .await;
    assert_eq!(
        app.executor.as_ref().expect("executor").calls()[0].body["action"],
        "promote"
    );
    // Votes after the end are not counted.
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 409);
    assert!(
        body["notice"]
            .as_str()
            .unwrap_or_default()
            .contains("promoted")
    );

    let other = app.start_deploy("7.0.1").await;
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "promoted", "service": "checkout", "version": "7.0.1", "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["state"], "promoted");
    let t = app.timeline(&other).await;
    assert_eq!(t["events"][2]["actor"], "ci");
    app.finish().await;
}

async fn canary_window_promotes_by_itself(b: Backend) {
    let setup = Setup {
        on_pass: "promote",
        canary_window: "1s",
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("8.0.0").await;
    app.check(&id, 0.004, 0.2).await;
    // No further samples: the clock closes the window.
    app.wait_state(&id, "promoted").await;
    let kinds = app.kinds(&id).await;
    assert!(
        kinds.ends_with(&[
            "canary_window_passed".to_string(),
            "decision".into(),
            "promoted".into()
        ]),
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    assert_eq!(t["events"][kinds.len() - 2]["actor"], "canarybot");
    app.finish().await;
}

async fn executor_failure_is_rollback_failed(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Fail),
        retries: 2,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("9.0.0").await;
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "rollback_failed").await;
    let calls = app.executor.as_ref().expect("executor").calls();
    assert_eq!(calls.len(), 3, "first try and two retries");
    assert!(
        calls.iter().all(|c| c.delivery == calls[0].delivery),
        "same delivery id on every retry"
    );
    let t = app.timeline(&id).await;
    let failed = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "rollback_failed")
        .expect("rollback_failed")
        .clone();
    assert_eq!(failed["details"]["attempts"], 3);
    assert!(
        failed["details"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{failed}"
    );
    app.settle_chat().await;
    assert!(app.chat.ops().iter().any(
        |o| matches!(o, ChatOp::Reply { text, loud: true } if text.contains("ROLLBACK FAILED"))
    ));

    // The deploy system recovers; a decider retries.
    *app.executor
        .as_ref()
        .expect("executor")
        .mode
        .lock()
        .expect("mode") = ExecutorMode::Done;
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    app.wait_state(&id, "rolled_back").await;
    app.finish().await;
}

async fn executor_done_means_rolled_back(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("10.0.0").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rolled_back").await;
    let kinds = app.kinds(&id).await;
    assert!(
        kinds.ends_with(&["rollback_started".to_string(), "rollback_succeeded".into()]),
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    assert!(t["phases"]["execute_s"].as_f64().is_some());
    assert!(t["phases"]["verify_s"].is_null());
    app.finish().await;
}

async fn on_breach_rollback_needs_no_vote(b: Backend) {
    let setup = Setup {
        on_breach: "rollback",
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("11.0.0").await;
    app.check(&id, 0.004, 0.9).await;
    let body = app.check(&id, 0.004, 0.9).await;
    assert_eq!(body["state"], "rolling_back");
    app.wait_state(&id, "rolled_back").await;
    let t = app.timeline(&id).await;
    let decision = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "decision")
        .expect("decision")
        .clone();
    assert_eq!(decision["actor"], "canarybot");
    assert_eq!(
        app.executor.as_ref().expect("executor").calls()[0].body["decided_by"],
        json!(["canarybot"])
    );
    app.finish().await;
}

async fn pipeline_failure_is_recorded(b: Backend) {
    let setup = Setup {
        executor: None,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("12.0.0").await;
    let (status, body) = app
        .signed("/hooks/deploy", &json!({"event": "failed", "service": "checkout", "version": "12.0.0", "description": "image pull backoff"}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["state"], "failed");
    let t = app.timeline(&id).await;
    assert_eq!(t["events"][2]["details"]["reason"], "image pull backoff");

    // Without an executor a rollback decision waits for people to roll back by hand.
    let other = app.start_deploy("12.0.1").await;
    let (_, body) = app.vote(&other, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(body["state"], "rolling_back");
    app.settle_chat().await;
    assert!(
        app.chat
            .replies()
            .iter()
            .any(|r| r.contains("No rollback executor is configured"))
    );
    app.finish().await;
}

on_both_backends!(concurrent_checks_lose_nothing);

/// Many pipelines and metric pushers at once: every failing check is counted exactly once.
async fn concurrent_checks_lose_nothing(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut ids = Vec::new();
    for v in 0..4 {
        ids.push(app.start_deploy(&format!("20.0.{v}")).await);
    }
    let mut tasks = Vec::new();
    for id in &ids {
        for _ in 0..6 {
            let (app, id) = (app.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let (status, body) = app
                    .signed("/hooks/metrics", &json!({"deploy_id": id, "samples": [{"criterion": "5xx ratio", "canary": 0.5, "baseline": 0.004}]}))
                    .await;
                assert_eq!(status, 202, "{body}");
            }));
        }
    }
    for t in tasks {
        t.await.expect("task");
    }
    for id in &ids {
        let t = app.timeline(id).await;
        let events = t["events"].as_array().expect("events");
        let counts: Vec<i64> = events
            .iter()
            .filter(|e| e["kind"] == "check_failed")
            .filter_map(|e| e["details"]["consecutive"].as_i64())
            .collect();
        assert_eq!(counts, vec![1, 2, 3, 4, 5, 6], "{id}");
        let seqs: Vec<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "seq has no gaps"
        );
        assert_eq!(t["deploy"]["state"], "breached");
        assert_eq!(
            events
                .iter()
                .filter(|e| e["kind"] == "breach_detected")
                .count(),
            1
        );
    }
    match std::sync::Arc::try_unwrap(app) {
        Ok(app) => app.finish().await,
        Err(_) => panic!("app still shared"),
    }
}

on_both_backends!(failing_chat_blocks_nothing_and_loses_nothing);

/// A rate-limited chat platform holds up neither the decision nor the rollback; its messages
/// arrive later, in order, even across a restart.
async fn failing_chat_blocks_nothing_and_loses_nothing(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    app.chat
        .fail_next
        .store(u32::MAX, std::sync::atomic::Ordering::SeqCst);
    let id = app.start_deploy("30.0.0").await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "rolled_back").await;
    assert!(
        app.chat.ops().is_empty(),
        "the platform accepted nothing: {:?}",
        app.chat.ops()
    );

    // canarybot restarts; the platform works again; everything queued arrives, in order.
    let app = app
        .restart(std::sync::Arc::new(crate::support::RecordingChat::default()))
        .await;
    app.settle_chat().await;
    let ops = app.chat.ops();
    assert!(matches!(&ops[0], ChatOp::Root(_)), "{ops:?}");
    let replies = app.chat.replies();
    let order = [
        "failing (1/2)",
        "BREACH",
        "votes *rollback*",
        "Decision",
        "Rolled back",
    ];
    let mut at = 0;
    for needle in order {
        let found = replies[at..]
            .iter()
            .position(|r| r.contains(needle))
            .map(|p| p + at);
        at = found.unwrap_or_else(|| panic!("`{needle}` missing or out of order in {replies:?}"))
            + 1;
    }
    app.finish().await;
}
