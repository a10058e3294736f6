//! GitHub deployment protection rules end to end: a signed `deployment_protection_rule` event on
//! `POST /hooks/github`, the gate's decision, and the answer the worker sends to a fake GitHub API
//! (which verifies the App's JWT and the installation token) — approved, rejected, held until what
//! closed the gate clears, or decided from chat.

use crate::fake_github_app::FakeGithub;
use crate::fake_slack::FakeSlack;
use crate::github::{fixture, send};
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, GITHUB_SECRET, Setup, TestApp};
use serde_json::Value;
use std::time::Duration;

on_both_backends!(
    every_rule_holding_approves_with_a_comment,
    a_freeze_and_a_breach_reject_naming_why,
    a_held_review_is_approved_when_the_breach_is_resolved,
    a_decider_rejects_a_held_review_from_chat_and_no_one_else_may,
    production_needs_the_build_promoted_in_staging_first,
    the_example_payload_as_it_is_gets_nothing_sent_outside_api_url,
    a_redelivered_review_is_one_review_and_one_answer,
);

/// The installation the example payload names.
const INSTALLATION: u64 = 2311213;
/// The workflow run of the example payload's callback URL.
const RUN: u64 = 4711470234;

/// The app with the GitHub App answering through `fake`, checkout's `[service.gate]` keys, and
/// Slack when `slack` is given.
async fn spawn(
    b: Backend,
    fake: &FakeGithub,
    gate: Option<&'static str>,
    slack: Option<&FakeSlack>,
    executor: ExecutorMode,
) -> Option<TestApp> {
    TestApp::spawn(
        b,
        Setup {
            github: true,
            github_app: Some(fake.url.clone()),
            gate,
            slack_api: slack.map(|s| s.api_url.clone()),
            executor: Some(executor),
            ..Setup::default()
        },
    )
    .await
}

/// GitHub's example payload, changed only where a test must: the callback URL points at the fake
/// GitHub API (the example's is https://api.github.com/…, outside `api_url`), and, for a second
/// review, the deployment id.
fn payload(fake: &FakeGithub, deployment_id: u64) -> Value {
    let mut p = fixture("deployment_protection_rule.requested.payload.json");
    p["deployment_callback_url"] = fake.callback_url(RUN).into();
    p["deployment"]["id"] = deployment_id.into();
    p
}

/// The example's deployment id.
fn example_deployment() -> u64 {
    fixture("deployment_protection_rule.requested.payload.json")["deployment"]["id"]
        .as_u64()
        .expect("deployment.id")
}

async fn ask(app: &TestApp, delivery: &str, body: &Value) -> Value {
    let (status, answer) = send(
        app,
        "deployment_protection_rule",
        delivery,
        body,
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    answer
}

/// Asks, expects `decision` at once, and the worker to send it as the next callback; returns the
/// comment GitHub received.
async fn answered(
    app: &TestApp,
    fake: &FakeGithub,
    delivery: &str,
    body: &Value,
    decision: &str,
) -> String {
    let before = fake.callbacks().len();
    let answer = ask(app, delivery, body).await;
    assert_eq!(answer["decision"], decision, "{answer}");
    sent(fake, before + 1, decision).await
}

/// Waits for the `n`th callback, expects it to say `state`; returns its comment.
async fn sent(fake: &FakeGithub, n: usize, state: &str) -> String {
    let callbacks = wait_callbacks(fake, n).await;
    let body = &callbacks[n - 1].body;
    assert_eq!(body["state"], state, "{body}");
    body["comment"].as_str().unwrap_or_default().to_string()
}

/// checkout's own timeline: `(kind, summary)`, oldest first.
async fn service_events(app: &TestApp) -> Vec<(String, String)> {
    let (status, text) = app.get("/api/services/checkout/timeline").await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["summary"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The summaries of checkout's timeline events of `kind`.
async fn summaries(app: &TestApp, kind: &str) -> Vec<String> {
    service_events(app)
        .await
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, summary)| summary)
        .collect()
}

async fn count_kind(app: &TestApp, kind: &str) -> usize {
    summaries(app, kind).await.len()
}

/// Waits (up to 10 s; the worker looks every 2 s) for `n` callbacks to the fake.
async fn wait_callbacks(fake: &FakeGithub, n: usize) -> Vec<crate::fake_github_app::Callback> {
    for _ in 0..200 {
        if fake.callbacks().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let callbacks = fake.callbacks();
    assert_eq!(
        callbacks.len(),
        n,
        "{n} callbacks expected within 10 s: {callbacks:?}"
    );
    callbacks
}

/// Waits (up to 10 s) for an event of `kind` on checkout's timeline.
async fn wait_service_kind(app: &TestApp, kind: &str) {
    for _ in 0..200 {
        if count_kind(app, kind).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no `{kind}` on checkout's timeline within 10 s: {:?}",
        service_events(app).await
    );
}

/// Longer than one pass of the worker: what it would send, it has sent.
async fn one_worker_pass() {
    tokio::time::sleep(Duration::from_millis(2600)).await;
}

/// Failing samples until the deploy is breached.
async fn breach(app: &TestApp, id: &str) {
    for _ in 0..3 {
        app.check(id, 0.05, 0.2).await;
    }
    assert_eq!(app.state(id).await, "breached");
}

/// `/canary <words>` by `user` in checkout's Slack channel; what Slack shows them.
async fn canary(app: &TestApp, words: &str, user: &str) -> String {
    let (status, body) = app
        .slack_command("/canary", words, user, "C0CHECKOUT")
        .await;
    assert_eq!(status, 200, "{body}");
    body["text"].as_str().unwrap_or_default().to_string()
}

async fn every_rule_holding_approves_with_a_comment(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let Some(app) = spawn(b, &fake, None, None, ExecutorMode::Accept).await else {
        return;
    };
    let answer = ask(&app, "pr-1", &payload(&fake, example_deployment())).await;
    let review = format!("{}:production", example_deployment());
    assert_eq!(answer["review"], review.as_str(), "{answer}");
    assert_eq!(answer["decision"], "approved", "{answer}");

    let callbacks = wait_callbacks(&fake, 1).await;
    let c = &callbacks[0];
    assert_eq!(
        c.path,
        format!("/repos/Codertocat/Hello-World/actions/runs/{RUN}/deployment_protection_rule")
    );
    assert_eq!(c.body["state"], "approved", "{:?}", c.body);
    assert_eq!(c.body["environment_name"], "production");
    let comment = c.body["comment"].as_str().unwrap_or_default();
    assert!(comment.starts_with("canarybot approves"), "{comment}");
    assert!(comment.contains("every rule holds"), "{comment}");
    // The answer carried the installation token the App got for the payload's installation,
    // with a JWT the fake verified.
    let exchanges = fake.exchanges();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0].installation, INSTALLATION);
    assert_eq!(exchanges[0].jwt_problem, None, "{exchanges:?}");
    assert_eq!(
        c.authorization,
        format!("Bearer {}", exchanges[0].token.clone().expect("a token"))
    );

    let approved = summaries(&app, "gate_approved").await;
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert!(approved[0].contains(&review), "{approved:?}");
    // Answered once: another pass sends nothing more.
    one_worker_pass().await;
    assert_eq!(fake.callbacks().len(), 1);
    app.finish().await;
}

async fn a_freeze_and_a_breach_reject_naming_why(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let slack = FakeSlack::start().await;
    let Some(app) = spawn(b, &fake, None, Some(&slack), ExecutorMode::Accept).await else {
        return;
    };
    let froze = canary(&app, "freeze checkout incident 42", "U01ALICE").await;
    assert!(froze.contains("frozen"), "{froze}");
    let comment = answered(&app, &fake, "pr-1", &payload(&fake, 1001), "rejected").await;
    assert!(
        comment.starts_with("canarybot rejects") && comment.contains("frozen"),
        "{comment}"
    );
    assert!(
        comment.contains("incident 42"),
        "the freeze's reason: {comment}"
    );

    // Unfrozen, but a deploy of checkout is breached: rejected again, naming the deploy.
    let lifted = canary(&app, "unfreeze checkout", "U01ALICE").await;
    assert!(lifted.contains("lifted"), "{lifted}");
    let id = app.start_deploy("2.4.1").await;
    breach(&app, &id).await;
    let comment = answered(&app, &fake, "pr-2", &payload(&fake, 1002), "rejected").await;
    assert!(
        comment.starts_with("canarybot rejects") && comment.contains(&format!("{id} is breached")),
        "{comment}"
    );
    assert_eq!(count_kind(&app, "gate_rejected").await, 2);
    app.finish().await;
}

async fn a_held_review_is_approved_when_the_breach_is_resolved(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let Some(app) = spawn(b, &fake, Some("hold = true"), None, ExecutorMode::Done).await else {
        return;
    };
    // canarybot watches this deployment (GitHub's deployment event came first), and it breaches.
    let p = payload(&fake, example_deployment());
    let mut deployment = fixture("deployment.payload.json");
    deployment["deployment"] = p["deployment"].clone();
    let (status, opened) = send(&app, "deployment", "d-1", &deployment, GITHUB_SECRET).await;
    assert_eq!(status, 202, "{opened}");
    let id = opened["deploy_id"].as_str().expect("deploy_id").to_string();
    breach(&app, &id).await;

    let answer = ask(&app, "pr-1", &p).await;
    let review = format!("{}:production", example_deployment());
    assert_eq!(answer["decision"], "held", "{answer}");
    one_worker_pass().await;
    assert!(fake.callbacks().is_empty(), "held: GitHub is not told yet");
    let events = service_events(&app).await;
    assert!(
        events
            .iter()
            .any(|(k, s)| k == "gate_held" && s.contains(&review)),
        "{events:?}"
    );
    app.settle_chat().await;
    let hint = format!("/canary gate approve {review}");
    let replies = app.chat.replies();
    assert!(
        replies
            .iter()
            .any(|r| r.contains("held") && r.contains(&hint)),
        "the deploy's thread says it is held, and how to decide it: {replies:?}"
    );

    // The decider rolls back; once the deploy is no longer breached or rolling back, the worker
    // approves.
    let (status, vote) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{vote}");
    app.wait_state(&id, "rolled_back").await;
    let comment = sent(&fake, 1, "approved").await;
    assert!(
        comment.starts_with("canarybot approves: what held it has cleared"),
        "{comment}"
    );
    wait_service_kind(&app, "gate_released").await;
    one_worker_pass().await;
    assert_eq!(fake.callbacks().len(), 1, "answered once");
    app.finish().await;
}

async fn a_decider_rejects_a_held_review_from_chat_and_no_one_else_may(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let slack = FakeSlack::start().await;
    let Some(app) = spawn(
        b,
        &fake,
        Some("hold = true"),
        Some(&slack),
        ExecutorMode::Accept,
    )
    .await
    else {
        return;
    };
    let id = app.start_deploy("2.4.1").await;
    breach(&app, &id).await;
    let answer = ask(&app, "pr-1", &payload(&fake, 2001)).await;
    assert_eq!(answer["decision"], "held", "{answer}");
    let review = "2001:production";

    // Dan decides nothing for checkout.
    let refused = canary(&app, &format!("gate reject {review}"), "U05DAN").await;
    assert!(
        (refused).contains("only the deciders of checkout"),
        "{refused}"
    );
    one_worker_pass().await;
    assert!(fake.callbacks().is_empty(), "refused: nothing sent");
    assert_eq!(count_kind(&app, "gate_rejected").await, 0);

    let rejected = canary(&app, &format!("gate reject {review}"), "U01ALICE").await;
    assert!(rejected.contains("rejected"), "{rejected}");
    let comment = sent(&fake, 1, "rejected").await;
    assert!(
        comment.contains("rejects this deployment from chat") && comment.contains("is breached"),
        "{comment}"
    );
    assert_eq!(count_kind(&app, "gate_rejected").await, 1);

    // Decided: a second decision is refused and sends nothing.
    let again = canary(&app, &format!("gate approve {review}"), "U01ALICE").await;
    assert!(again.contains("is not held"), "{again}");
    one_worker_pass().await;
    assert_eq!(fake.callbacks().len(), 1);
    app.finish().await;
}

async fn production_needs_the_build_promoted_in_staging_first(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let Some(app) = spawn(
        b,
        &fake,
        Some("environments = [\"production\"]\nrequire_promoted_in = \"staging\""),
        None,
        ExecutorMode::Accept,
    )
    .await
    else {
        return;
    };
    let first = payload(&fake, 3001);
    let sha = first["sha"].as_str().expect("sha").to_string();
    let comment = answered(&app, &fake, "pr-1", &first, "rejected").await;
    assert!(
        comment.contains("f95f852") && comment.contains("was not promoted in staging"),
        "{comment}"
    );

    // The same build, deployed to staging and promoted there.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &serde_json::json!({"event": "started", "service": "checkout", "environment": "staging",
                "version": "main@f95f852", "sha": sha, "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let staging = body["deploy_id"].as_str().expect("deploy_id").to_string();
    let (status, vote) = app.vote(&staging, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202, "{vote}");
    assert_eq!(app.state(&staging).await, "promoted");

    // GitHub asks again, for a new deployment: approved.
    let comment = answered(&app, &fake, "pr-2", &payload(&fake, 3002), "approved").await;
    assert!(
        comment.starts_with("canarybot approves") && comment.contains("promoted in staging"),
        "{comment}"
    );
    app.finish().await;
}

async fn the_example_payload_as_it_is_gets_nothing_sent_outside_api_url(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let Some(app) = spawn(b, &fake, None, None, ExecutorMode::Accept).await else {
        return;
    };
    // GitHub's example, unchanged: its callback is https://api.github.com/…, not the fake's
    // `api_url`, so canarybot must not send the installation's token there.
    let example = fixture("deployment_protection_rule.requested.payload.json");
    let answer = ask(&app, "pr-1", &example).await;
    assert_eq!(answer["decision"], "approved", "{answer}");
    wait_service_kind(&app, "gate_answer_failed").await;
    let failed = summaries(&app, "gate_answer_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains(&format!("{}:production", example_deployment())),
        "{failed:?}"
    );
    assert!(failed[0].contains("api.github.com"), "{failed:?}");
    assert!(fake.exchanges().is_empty(), "no token was asked for");
    assert!(fake.callbacks().is_empty());
    // Final: not tried again.
    one_worker_pass().await;
    assert_eq!(count_kind(&app, "gate_answer_failed").await, 1);
    assert!(fake.exchanges().is_empty() && fake.callbacks().is_empty());
    // Counted: the URL came from a request body.
    assert_eq!(
        crate::paging::figure(&app, "canarybot_delivery_given_up_total", "github:review").await,
        1.0
    );
    app.finish().await;
}

async fn a_redelivered_review_is_one_review_and_one_answer(b: Backend) {
    let fake = FakeGithub::start_live().await;
    let Some(app) = spawn(b, &fake, None, None, ExecutorMode::Accept).await else {
        return;
    };
    let p = payload(&fake, example_deployment());
    let first = ask(&app, "pr-1", &p).await;
    assert_eq!(first["decision"], "approved", "{first}");
    // The same delivery again, and the same deployment under a new delivery id.
    let again = ask(&app, "pr-1", &p).await;
    assert_eq!(again["decision"], "approved", "{again}");
    let other = ask(&app, "pr-2", &p).await;
    assert_eq!(other["decision"], "approved", "{other}");
    assert_eq!(other["review"], first["review"]);
    wait_callbacks(&fake, 1).await;
    one_worker_pass().await;
    assert_eq!(fake.callbacks().len(), 1, "{:?}", fake.callbacks());
    assert_eq!(count_kind(&app, "gate_approved").await, 1);
    app.finish().await;
}
