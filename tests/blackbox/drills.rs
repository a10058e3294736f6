//! Rollback drills end to end: a synthetic breach, deciders called, a vote, the executor called
//! with `"drill": true` (or the drill executor), recovery verified, phases timed; the history.

use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ChatOp, ExecutorMode, FakeExecutor, Setup, TOKEN, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    drill_end_to_end_and_history,
    drill_executor_takes_the_drills,
    drills_from_slack_are_for_deciders,
);

async fn post_drill(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}/api/drills", app.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Runs one drill to a verified rollback and returns its id.
async fn run_drill(app: &TestApp) -> String {
    let (status, started) = post_drill(
        app,
        json!({"service": "checkout", "breach_after": "0s", "actor": "alice"}),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("drill-checkout-"), "{id}");
    // The synthetic breach comes on the next tick; the deciders are called.
    app.wait_state(&id, "breached").await;
    let kinds = app.kinds(&id).await;
    assert!(kinds.contains(&"check_failed".to_string()), "{kinds:?}");
    let (status, vote) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{vote}");
    app.wait_state(&id, "rollback_verified").await;
    id
}

async fn drill_end_to_end_and_history(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let real = app.start_deploy("2.4.1").await;

    // Bad requests change nothing.
    let (status, body) = post_drill(&app, json!({"service": "nosuch"})).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("checkout")
    );
    let (status, body) =
        post_drill(&app, json!({"service": "checkout", "breach_after": "soon"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("breach_after")
    );
    let unauthenticated = app
        .http
        .post(format!("{}/api/drills", app.url))
        .json(&json!({"service": "checkout"}))
        .send()
        .await
        .expect("post");
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let (_, drills) = app.get("/api/drills").await;
    let drills: Value = serde_json::from_str(&drills).expect("json");
    assert_eq!(drills["services"], json!([]), "nothing was started");

    let first = run_drill(&app).await;

    // DRILL everywhere: the thread title, the API, the timeline.
    app.settle_chat().await;
    let roots: Vec<String> = app
        .chat
        .ops()
        .into_iter()
        .filter_map(|o| match o {
            ChatOp::Root(t) => Some(t),
            _ => None,
        })
        .collect();
    assert!(
        roots
            .iter()
            .any(|t| t.contains("DRILL") && t.contains("checkout")),
        "{roots:?}"
    );
    let deciders_called = app
        .chat
        .ops()
        .into_iter()
        .any(|o| matches!(o, ChatOp::Reply { text, loud: true } if text.contains("drill")));
    assert!(deciders_called, "{:?}", app.chat.ops());
    let timeline = app.timeline(&first).await;
    assert_eq!(timeline["deploy"]["drill"], true);
    assert_eq!(timeline["criteria"][0]["name"], "drill");
    let phases = &timeline["phases"];
    for p in ["detect_s", "decide_s", "execute_s", "verify_s", "total_s"] {
        assert!(phases[p].is_number(), "{p} timed: {phases}");
    }
    let (_, md) = app.get(&format!("/api/deploys/{first}/timeline.md")).await;
    assert!(md.starts_with("# Postmortem: DRILL: checkout"), "{md}");
    assert!(md.contains("🧯 **DRILL.**"));
    assert!(
        app.chat
            .replies()
            .iter()
            .any(|r| r.starts_with("🏁 Drill finished")),
        "{:?}",
        app.chat.replies()
    );

    // The executor was called once, told it is a drill.
    let calls = app.executor.as_ref().expect("executor").calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["drill"], true, "{}", calls[0].body);

    // Drills stay out of the deploys list unless asked.
    let (_, list) = app.get("/api/deploys").await;
    let list: Value = serde_json::from_str(&list).expect("json");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, vec![real.as_str()]);
    let (_, list) = app.get("/api/deploys?drills=include").await;
    assert!(list.contains(&first));
    let (_, list) = app.get("/api/deploys?drills=only").await;
    assert!(list.contains(&first) && !list.contains(&real));
    let (status, _) = app.get("/api/deploys?drills=maybe").await;
    assert_eq!(status, 400);
    let (_, page) = app.get("/deploys").await;
    assert!(!page.contains(&first) && page.contains(&real));

    // A second drill; the history compares it with the first.
    let second = run_drill(&app).await;
    let (status, body) = app.get("/api/drills?service=checkout").await;
    assert_eq!(status, 200, "{body}");
    let h: Value = serde_json::from_str(&body).expect("json");
    let s = &h["services"][0];
    assert_eq!(s["service"], "checkout");
    assert_eq!(s["completed"], 2);
    assert_eq!(s["drills"].as_array().map(Vec::len), Some(2));
    assert_eq!(s["latest"]["id"], second.as_str());
    for p in ["detect_s", "decide_s", "execute_s", "verify_s", "total_s"] {
        assert!(
            s["median"][p].is_number() && s["best"][p].is_number(),
            "{s}"
        );
    }
    let trend = s["trend"].as_array().expect("trend");
    let decide = trend
        .iter()
        .find(|t| t["phase"] == "decide")
        .expect("decide trend");
    let change = decide["change_s"].as_f64().expect("change");
    let text = decide["text"].as_str().expect("text");
    assert!(text.starts_with("decide: "), "{text}");
    assert!(
        text.ends_with(if change.abs() < 0.5 {
            "same as last time"
        } else if change > 0.0 {
            "slower than last time"
        } else {
            "faster than last time"
        }),
        "{text} for {change}"
    );
    let (status, _) = app.get("/api/drills?service=nosuch").await;
    assert_eq!(status, 404);
    app.finish().await;
}

async fn drill_executor_takes_the_drills(b: Backend) {
    let twin = FakeExecutor::start(ExecutorMode::Done).await;
    let main = FakeExecutor::start(ExecutorMode::Done).await;
    let setup = Setup {
        executor: None,
        rollback_toml: Some(format!(
            "[service.rollback]\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"2s\"\n\n[service.drill_executor]\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"2s\"\n",
            main.url, twin.url
        )),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = run_drill(&app).await;
    assert_eq!(main.calls().len(), 0, "the real executor is left alone");
    let calls = twin.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].body["drill"], true);
    // A second drill while one runs is refused.
    let (status, _) = post_drill(&app, json!({"service": "checkout", "breach_after": "10m"})).await;
    assert_eq!(status, 201);
    let (status, body) = post_drill(&app, json!({"service": "checkout"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already running")
    );
    let _ = id;
    app.finish().await;
}

async fn drills_from_slack_are_for_deciders(b: Backend) {
    let fake = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(fake.api_url.clone()),
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let (status, body) = app
        .slack_command("/canary", "drill checkout", "U09EVE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 200);
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("Only the deciders of checkout"), "{text}");
    let (_, list) = app.get("/api/deploys?drills=only").await;
    assert_eq!(list.trim(), "[]", "nothing was started");

    let (_, body) = app
        .slack_command("/canary", "drill nosuch", "U01ALICE", "C0CHECKOUT")
        .await;
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("I don't know service `nosuch`")
    );
    let (_, body) = app
        .slack_command("/canary", "drill checkout", "U01ALICE", "C0CHECKOUT")
        .await;
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("Drill `drill-checkout-"), "{text}");
    let (_, list) = app.get("/api/deploys?drills=only").await;
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let id = list[0]["id"].as_str().expect("id").to_string();
    let timeline = app.timeline(&id).await;
    assert_eq!(timeline["events"][0]["actor"], "U01ALICE".to_lowercase());
    assert_eq!(timeline["events"][0]["source"], "slack");

    let (_, body) = app
        .slack_command("/canary", "drills checkout", "U09EVE", "C0CHECKOUT")
        .await;
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("checkout — 1 drill, 0 completed") && text.contains(&id),
        "{text}"
    );
    app.finish().await;
}
