//! No surprise rollbacks, end to end on Slack: a rollback decided on a deploy while a newer deploy
//! of the same service and environment runs calls nothing until a decider confirms it, by the
//! thread's button or by `/canary rollback <deploy id> confirm`.

use crate::discord::{button, content};
use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    the_confirm_button_of_a_decider_rolls_back_a_deploy_a_newer_one_followed,
    the_slash_command_confirms_a_held_rollback,
    a_newer_deploy_elsewhere_holds_nothing,
    the_discord_confirm_button_rolls_back_for_a_decider,
);

async fn slack_app(b: Backend) -> Option<(TestApp, FakeSlack)> {
    let fake = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(fake.api_url.clone()),
        executor: Some(ExecutorMode::Accept),
        ..Setup::default()
    };
    let app = TestApp::spawn(b, setup).await?;
    Some((app, fake))
}

/// 3.0.0, then 3.0.1 of checkout in production a moment later; the first breaches.
async fn older_breached_then_newer(app: &TestApp) -> (String, String) {
    let older = app.start_deploy("3.0.0").await;
    // "Started after" is to the millisecond.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newer = app.start_deploy("3.0.1").await;
    for _ in 0..3 {
        app.check(&older, 0.2, 0.9).await;
    }
    app.wait_state(&older, "breached").await;
    (older, newer)
}

/// What the thread was told about the held rollback, with its buttons.
async fn held_message(slack: &FakeSlack) -> Value {
    let held = |c: &crate::fake_slack::SlackCall| {
        c.method == "chat.postMessage"
            && c.body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("would also undo")
    };
    slack
        .wait_for("the held rollback's message", |calls| {
            calls.iter().any(held)
        })
        .await;
    let call = slack.calls().into_iter().find(held).expect("held message");
    call.body
}

fn events_of(timeline: &Value, kind: &str) -> Vec<Value> {
    timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// A rollback vote on 3.0.0 after 3.0.1 started: no call, the thread says why and offers *Confirm
/// rollback*; a press by someone who is not a decider is refused and calls nothing; Alice's press
/// calls the deploy system once, and the timeline names her.
async fn the_confirm_button_of_a_decider_rolls_back_a_deploy_a_newer_one_followed(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    let executor = app.executor.as_ref().expect("executor");
    let (older, newer) = older_breached_then_newer(&app).await;
    let (status, _) = app
        .slack_button("U01ALICE", "canary_rollback", &older)
        .await;
    assert_eq!(status, 200);
    app.wait_kind(&older, "rollback_held_for_newer_deploy")
        .await;
    let held = held_message(&slack).await;
    let text = held["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!(
            "Rolling back 3.0.0 would also undo 3.0.1 (deploy {newer}), started after it. A decider must confirm: `/canary rollback {older} confirm` or the Confirm button."
        )),
        "{text}"
    );
    let blocks = held["blocks"].to_string();
    assert!(
        blocks.contains("canary_confirm_rollback") && blocks.contains(&older),
        "the Confirm rollback button carries the deploy: {blocks}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(executor.calls().is_empty(), "nothing was called");

    // Dan is no decider: refused as a vote would be, and still nothing is called.
    app.slack_button("U05DAN", "canary_confirm_rollback", &older)
        .await;
    app.wait_kind(&older, "vote_denied").await;
    assert!(
        executor.calls().is_empty(),
        "a refused confirmation calls nothing"
    );

    app.slack_button("U01ALICE", "canary_confirm_rollback", &older)
        .await;
    executor.wait_for_calls(1).await;
    app.wait_kind(&older, "rollback_confirmed").await;
    let timeline = app.timeline(&older).await;
    let confirmed = events_of(&timeline, "rollback_confirmed");
    assert_eq!(confirmed.len(), 1, "{timeline}");
    assert_eq!(confirmed[0]["actor"], "slack:U01ALICE");
    assert_eq!(confirmed[0]["details"]["by"], "slack:U01ALICE");
    let decision = events_of(&timeline, "decision");
    let calls = executor.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].delivery.as_deref(),
        decision[0]["details"]["id"].as_str(),
        "the decision held is the one carried out"
    );
    assert_eq!(calls[0].body["deploy_id"], older.as_str());
    // A second press finds nothing held: still one call.
    app.slack_button("U01ALICE", "canary_confirm_rollback", &older)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        executor.calls().len(),
        1,
        "one rollback, however often pressed"
    );
    assert_eq!(
        app.state(&newer).await,
        "canary",
        "the newer deploy is untouched"
    );
    app.finish().await;
}

/// `/canary rollback <deploy id> confirm`: with nothing held it says so privately; once held, a
/// decider's command calls the deploy system.
async fn the_slash_command_confirms_a_held_rollback(b: Backend) {
    let Some((app, slack)) = slack_app(b).await else {
        return;
    };
    let executor = app.executor.as_ref().expect("executor");
    let (older, _newer) = older_breached_then_newer(&app).await;
    let confirm = format!("rollback {older} confirm");
    app.slack_command("/canary", &confirm, "U01ALICE", "C0CHECKOUT")
        .await;
    slack
        .wait_for("the nothing-to-confirm notice", |c| {
            c.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.body["text"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("Nothing to confirm")
            })
        })
        .await;
    // The votes API decides it (`/rollback checkout` would mean the latest deploy, 3.0.1), and
    // its answer says the rollback is held and for which deploy.
    let (status, body) = app.vote(&older, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "rolling_back");
    assert_eq!(body["rollback_held_for"]["version"], "3.0.1", "{body}");
    app.wait_kind(&older, "rollback_held_for_newer_deploy")
        .await;
    held_message(&slack).await;
    assert!(executor.calls().is_empty());
    let (status, body) = app
        .slack_command("/canary", &confirm, "U01ALICE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 200);
    let answer = body["text"].as_str().unwrap_or_default();
    assert!(
        answer.contains("Counting your rollback confirmation"),
        "{answer}"
    );
    executor.wait_for_calls(1).await;
    assert_eq!(executor.calls().len(), 1);
    let timeline = app.timeline(&older).await;
    assert_eq!(
        events_of(&timeline, "rollback_confirmed")[0]["details"]["by"],
        "slack:U01ALICE"
    );
    app.finish().await;
}

/// A newer deploy of checkout in staging does not hold a production rollback.
async fn a_newer_deploy_elsewhere_holds_nothing(b: Backend) {
    let Some((app, _slack)) = slack_app(b).await else {
        return;
    };
    let executor = app.executor.as_ref().expect("executor");
    let older = app.start_deploy("3.0.0").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "environment": "staging", "version": "3.1.0", "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.slack_command(
        "/rollback",
        "checkout p99 doubled",
        "U01ALICE",
        "C0CHECKOUT",
    )
    .await;
    executor.wait_for_calls(1).await;
    assert_eq!(executor.calls().len(), 1);
    assert!(
        !app.kinds(&older)
            .await
            .iter()
            .any(|k| k == "rollback_held_for_newer_deploy")
    );
    app.finish().await;
}

/// On Discord: the held rollback's message carries *Confirm rollback*; a press by someone who is
/// not a decider is refused privately; Alice's press (discord 4455) calls the deploy system once.
async fn the_discord_confirm_button_rolls_back_for_a_decider(b: Backend) {
    let fake = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        executor: Some(ExecutorMode::Accept),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let executor = app.executor.as_ref().expect("executor");
    let (older, _newer) = older_breached_then_newer(&app).await;
    let (status, body) = app
        .discord(&button(
            "i1",
            "4455",
            &[],
            &format!("canary_rollback:{older}"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_kind(&older, "rollback_held_for_newer_deploy")
        .await;
    let confirm_id = format!("canary_confirm_rollback:{older}");
    fake.wait_for("the held rollback's message", |calls| {
        calls.iter().any(|c| {
            c.method == "POST"
                && c.body["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("would also undo 3.0.1")
                && c.body["components"].to_string().contains(&confirm_id)
        })
    })
    .await;
    assert!(executor.calls().is_empty(), "nothing was called");

    let (_, body) = app.discord(&button("i2", "9999", &[], &confirm_id)).await;
    assert!(
        content(&body).starts_with("You are not a decider for checkout"),
        "{body}"
    );
    assert!(
        executor.calls().is_empty(),
        "a refused confirmation calls nothing"
    );

    let (_, body) = app.discord(&button("i3", "4455", &[], &confirm_id)).await;
    assert!(content(&body).starts_with("⏪ Confirmed"), "{body}");
    executor.wait_for_calls(1).await;
    assert_eq!(executor.calls().len(), 1);
    let timeline = app.timeline(&older).await;
    let confirmed = events_of(&timeline, "rollback_confirmed");
    assert_eq!(confirmed.len(), 1, "{timeline}");
    assert_eq!(confirmed[0]["details"]["by"], "person:alice");
    app.finish().await;
}
