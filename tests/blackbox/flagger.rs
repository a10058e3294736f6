//! Flagger: its events in the timeline, and its gates answered from the deciders' decision.

use crate::on_both_backends;
use crate::support::{Backend, FLAGGER_TOKEN, Setup, TestApp};
use serde_json::{Value, json};

on_both_backends!(events_and_gates, a_resent_progressing_is_the_same_deploy);

fn payload(phase: &str, token: Option<&str>, revision: &str) -> Value {
    let mut metadata = json!({"eventMessage": format!("{phase} canary analysis"), "eventType": "Normal",
                              "timestamp": "1700000000000", "revision": revision});
    if let Some(t) = token {
        metadata["token"] = t.into();
    }
    json!({"name": "podinfo", "namespace": "test", "phase": phase, "metadata": metadata})
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}{path}", app.url))
        .json(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn events_and_gates(b: Backend) {
    let setup = Setup {
        flagger: true,
        executor: None,
        rollback_toml: Some("[service.rollback]\nkind = \"flagger\"\n".into()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let (status, _) = post(
        &app,
        "/hooks/flagger/event",
        &payload("Progressing", Some("wrong-token-000000000"), "r1"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &app,
        "/hooks/flagger/gate/rollback",
        &payload("Progressing", None, "r1"),
    )
    .await;
    assert_eq!(status, 401);
    let (_, list) = app.get("/api/deploys").await;
    assert_eq!(list, "[]");

    // Flagger starts analysing: a deploy.
    let (status, body) = post(
        &app,
        "/hooks/flagger/event",
        &payload("Progressing", Some(FLAGGER_TOKEN), "podinfo-7d9f"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = "checkout:test:podinfo-7d9f";
    assert_eq!(body["deploy_id"], id);
    // The token may also come in the query string.
    let (status, _) = post(
        &app,
        &format!("/hooks/flagger/event?token={FLAGGER_TOKEN}"),
        &payload("Progressing", None, "podinfo-7d9f"),
    )
    .await;
    assert_eq!(status, 202);

    // No decision: both gates stay shut, and asking twice records the answer once.
    for _ in 0..2 {
        let (status, body) = post(
            &app,
            "/hooks/flagger/gate/rollback",
            &payload("Progressing", Some(FLAGGER_TOKEN), ""),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("no rollback decision"),
            "{body}"
        );
    }
    let (status, _) = post(
        &app,
        "/hooks/flagger/gate/promote",
        &payload("WaitingPromotion", Some(FLAGGER_TOKEN), ""),
    )
    .await;
    assert_eq!(status, 403);
    let gates = |kinds: Vec<String>| kinds.iter().filter(|k| *k == "gate_answered").count();
    assert_eq!(
        gates(app.kinds(id).await),
        2,
        "rollback closed, promote closed: once each"
    );

    // The deciders decide a rollback: the rollback gate opens; Flagger rolls back and says so.
    app.vote(id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_kind(id, "rollback_started").await;
    let (status, body) = post(
        &app,
        "/hooks/flagger/gate/rollback",
        &payload("Progressing", Some(FLAGGER_TOKEN), ""),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(
        &app,
        "/hooks/flagger/gate/promote",
        &payload("Progressing", Some(FLAGGER_TOKEN), ""),
    )
    .await;
    assert_eq!(
        status, 403,
        "a rollback decision never opens the promote gate"
    );
    let (_, body) = post(
        &app,
        "/hooks/flagger/event",
        &payload("Failed", Some(FLAGGER_TOKEN), ""),
    )
    .await;
    assert_eq!(body["state"], "rolled_back");

    // The next canary is promoted by the deciders through the promote gate.
    let (_, body) = post(
        &app,
        "/hooks/flagger/event",
        &payload("Progressing", Some(FLAGGER_TOKEN), "podinfo-8e0a"),
    )
    .await;
    let next = body["deploy_id"].as_str().expect("id").to_string();
    assert_eq!(next, "checkout:test:podinfo-8e0a");
    app.vote(&next, "slack:U01ALICE", &[], "promote").await;
    let (status, _) = post(
        &app,
        "/hooks/flagger/gate/promote",
        &payload("WaitingPromotion", Some(FLAGGER_TOKEN), ""),
    )
    .await;
    assert_eq!(status, 200);
    app.finish().await;
}

/// Flagger's own event body: no `revision`, but the canary's config hash in `checksum`.
fn flagger_event(phase: &str, checksum: &str) -> Value {
    json!({"name": "podinfo", "namespace": "test", "phase": phase, "checksum": checksum,
           "metadata": {"eventMessage": format!("{phase} canary analysis"), "eventType": "Normal",
                        "timestamp": "1700000000000", "token": FLAGGER_TOKEN}})
}

/// A deploy Flagger starts is named by the canary's `checksum`, so a Progressing sent again for
/// the same rollout (after the deploy ended, or to another replica) maps to the same deploy
/// rather than a new `canary-<seconds>` one; a new rollout (new checksum) is a new deploy.
async fn a_resent_progressing_is_the_same_deploy(b: Backend) {
    let setup = Setup {
        flagger: true,
        executor: None,
        rollback_toml: Some("[service.rollback]\nkind = \"flagger\"\n".into()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = "checkout:test:85d557f47b";
    let (status, body) = post(
        &app,
        "/hooks/flagger/event",
        &flagger_event("Progressing", "85d557f47b"),
    )
    .await;
    assert_eq!((status, &body["deploy_id"]), (202, &json!(id)), "{body}");
    let (_, body) = post(
        &app,
        "/hooks/flagger/event",
        &flagger_event("Failed", "85d557f47b"),
    )
    .await;
    assert_eq!(body["state"], "rolled_back", "{body}");
    let (status, body) = post(
        &app,
        "/hooks/flagger/event",
        &flagger_event("Progressing", "85d557f47b"),
    )
    .await;
    assert_eq!((status, &body["deploy_id"]), (202, &json!(id)), "{body}");
    assert_eq!(body["state"], "rolled_back", "the same deploy, as it is");
    let (_, list) = app.get("/api/deploys").await;
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    let (_, body) = post(
        &app,
        "/hooks/flagger/event",
        &flagger_event("Progressing", "9a7c1e2f30"),
    )
    .await;
    assert_eq!(body["deploy_id"], "checkout:test:9a7c1e2f30", "{body}");
    app.finish().await;
}
