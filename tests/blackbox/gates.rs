//! The gate before a deploy: freezes by command (Slack, Discord) and by schedule, `/api/gate`,
//! `/api/freezes`, the service's own timeline, Flagger's confirm-rollout, a deploy announced during
//! a freeze, and `canarybot gate` / `canarybot timeline --service`.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::support::{Backend, FLAGGER_TOKEN, Setup, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

crate::on_both_backends!(
    freeze_from_slack_closes_the_gate_and_is_on_the_services_timeline,
    freeze_from_discord,
    the_gate_follows_the_services_deploys_and_promotions_upstream,
);

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");

/// `search` frozen by the configuration for as long as the test runs; `slack:U03CAROL` is a
/// freeze admin.
fn with_schedule(text: String) -> String {
    text + r#"
[freeze]
admins = ["slack:U03CAROL"]
[[freeze.schedule]]
services = ["search"]
from = "2020-01-01T00:00:00Z"
to = "2099-01-01T00:00:00Z"
reason = "search index migration"
"#
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let (status, text) = app.get(path).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("json")
}

async fn gate(app: &TestApp, service: &str, environment: &str) -> Value {
    get_json(
        app,
        &format!("/api/gate?service={service}&environment={environment}"),
    )
    .await
}

async fn slack_says(app: &TestApp, text: &str, user: &str) -> String {
    let (status, body) = app.slack_command("/canary", text, user, "C0CHECKOUT").await;
    assert_eq!(status, 200, "{body}");
    body["text"].as_str().unwrap_or_default().to_string()
}

/// Flagger's confirm-rollout for the canary test/podinfo (checkout).
async fn confirm_rollout(app: &TestApp) -> (u16, Value) {
    app.post_raw(
        "/hooks/flagger/gate/rollout",
        json!({"name": "podinfo", "namespace": "test", "phase": "Progressing",
               "metadata": {"token": FLAGGER_TOKEN}})
        .to_string()
        .as_bytes(),
        &[],
    )
    .await
}

async fn service_events(app: &TestApp, service: &str) -> Vec<Value> {
    get_json(app, &format!("/api/services/{service}/timeline")).await["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn freeze_from_slack_closes_the_gate_and_is_on_the_services_timeline(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        flagger: true,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn_with(b, setup, with_schedule).await else {
        return;
    };
    // Unauthenticated: 401, and nothing is asked or written.
    let resp = app
        .http
        .get(format!(
            "{}/api/gate?service=checkout&environment=production",
            app.url
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 401);

    let open = gate(&app, "checkout", "production").await;
    assert_eq!(
        (open["open"].as_bool(), &open["rule"]),
        (Some(true), &json!("open"))
    );
    // Flagger without its token is refused and writes nothing; an unknown canary is named.
    let (status, _) = app
        .post_raw(
            "/hooks/flagger/gate/rollout",
            br#"{"name": "podinfo", "namespace": "test", "phase": "Progressing"}"#,
            &[],
        )
        .await;
    assert_eq!(status, 401);
    assert!(service_events(&app, "checkout").await.is_empty());
    let (status, body) = app
        .post_raw(
            &format!("/hooks/flagger/gate/rollout?token={FLAGGER_TOKEN}"),
            br#"{"name": "other", "namespace": "test", "phase": "Progressing"}"#,
            &[],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("test/other"),
        "{body}"
    );
    let (status, body) = confirm_rollout(&app).await;
    assert_eq!(status, 200, "{body}");

    // A non-decider is refused, and nothing is stored.
    let text = slack_says(&app, "freeze checkout incident 42", "U09EVE").await;
    assert!(
        text.contains("Not frozen") && text.contains("only the deciders of checkout"),
        "{text}"
    );
    assert_eq!(get_json(&app, "/api/freezes").await["set"], json!([]));
    assert!(
        !service_events(&app, "checkout")
            .await
            .iter()
            .any(|e| e["kind"] == "freeze_set"),
        "a refused freeze is not on the timeline"
    );
    // Bob decides checkout (through S01SRE) but not search: he cannot freeze everything.
    let text = slack_says(&app, "freeze all release train", "U02BOB").await;
    assert!(text.contains("you do not decide search"), "{text}");
    assert_eq!(get_json(&app, "/api/freezes").await["set"], json!([]));

    // Alice, a decider, freezes checkout for two hours.
    let before = chrono::Utc::now().timestamp_millis();
    let text = slack_says(
        &app,
        "freeze checkout for 2h incident 42 in payments",
        "U01ALICE",
    )
    .await;
    assert!(text.contains("🧊 checkout frozen by"), "{text}");
    let freezes = get_json(&app, "/api/freezes").await;
    let set = freezes["set"].as_array().expect("set");
    assert_eq!(set.len(), 1, "{freezes}");
    assert_eq!(
        set[0]["scope"],
        json!({"scope": "service", "service": "checkout"})
    );
    assert_eq!(set[0]["by"], "slack:U01ALICE");
    assert_eq!(set[0]["reason"], "incident 42 in payments");
    let until = set[0]["until_ms"].as_i64().expect("until_ms");
    let two_hours = 2 * 3600 * 1000;
    assert!(
        (before + two_hours..=chrono::Utc::now().timestamp_millis() + two_hours).contains(&until),
        "`for 2h` lifts by itself two hours on: {until}"
    );
    let closed = gate(&app, "checkout", "production").await;
    assert_eq!(closed["open"], false, "{closed}");
    assert_eq!(closed["rule"], "frozen");
    let reason = closed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("checkout is frozen by u01alice")
            && reason.ends_with(": incident 42 in payments"),
        "{reason}"
    );
    assert_eq!(gate(&app, "search", "production").await["rule"], "frozen");

    // Flagger is refused while frozen; polling again writes no second row.
    let (status, body) = confirm_rollout(&app).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["rule"], "frozen");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("incident 42"),
        "{body}"
    );
    confirm_rollout(&app).await;
    let kinds: Vec<String> = service_events(&app, "checkout")
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["rollout_allowed", "freeze_set", "rollout_refused"],
        "one row per change of Flagger's answer, not per poll"
    );

    // A deploy announced during the freeze is accepted, and says so.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "9.9.9", "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["frozen"]["by"], "u01alice", "{body}");
    assert_eq!(body["frozen"]["reason"], "incident 42 in payments");
    assert_eq!(body["frozen"]["scope"], "checkout");
    let id = body["deploy_id"].as_str().expect("id").to_string();
    assert!(
        app.kinds(&id)
            .await
            .contains(&"started_during_freeze".to_string())
    );
    app.settle_chat().await;
    let loud = slack
        .calls_to("chat.postMessage")
        .into_iter()
        .map(|c| c.body.to_string())
        .find(|b| b.contains("STARTED DURING A FREEZE"))
        .expect("the thread says the deploy started during a freeze");
    assert!(
        loud.contains("checkout is frozen by u01alice") && loud.contains("incident 42 in payments"),
        "{loud}"
    );
    assert!(
        loud.contains("<@U01ALICE>"),
        "the deciders are called: {loud}"
    );
    // So does a canary Flagger starts without asking first.
    let (status, body) = app
        .post_raw(
            "/hooks/flagger/event",
            json!({"name": "podinfo", "namespace": "test", "phase": "Progressing",
                   "checksum": "85d557f47b", "metadata": {"token": FLAGGER_TOKEN}})
            .to_string()
            .as_bytes(),
            &[],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["frozen"]["by"], "u01alice", "{body}");
    let flagger_deploy = body["deploy_id"].as_str().expect("id").to_string();
    assert!(
        app.kinds(&flagger_deploy)
            .await
            .contains(&"started_during_freeze".to_string())
    );
    // Search is frozen by the schedule.
    let (_, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "search", "version": "1", "environment": "staging"}),
        )
        .await;
    assert_eq!(
        body["frozen"]["kind"], "scheduled",
        "search is frozen by schedule: {body}"
    );

    // The scheduled freeze is listed, active now.
    let freezes = get_json(&app, "/api/freezes").await;
    assert_eq!(freezes["scheduled"][0]["active_now"], true, "{freezes}");
    assert_eq!(freezes["scheduled"][0]["reason"], "search index migration");
    assert_eq!(freezes["frozen_now"]["search"]["kind"], "scheduled");
    let search = gate(&app, "search", "staging").await;
    assert!(
        search["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("frozen by the configuration"),
        "{search}"
    );

    // Alice lifts it: the gate and Flagger open again.
    let text = slack_says(&app, "unfreeze checkout", "U01ALICE").await;
    assert!(
        text.contains("☀️ The freeze of checkout is lifted"),
        "{text}"
    );
    assert_eq!(gate(&app, "checkout", "production").await["open"], true);
    assert_eq!(confirm_rollout(&app).await.0, 200);
    assert_eq!(get_json(&app, "/api/freezes").await["set"], json!([]));
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "10.0.0"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(body.get("frozen").is_none(), "not frozen any more: {body}");

    // A freeze admin may freeze everything.
    let text = slack_says(&app, "freeze all", "U03CAROL").await;
    assert!(text.contains("every service frozen by"), "{text}");
    assert_eq!(gate(&app, "checkout", "production").await["rule"], "frozen");
    slack_says(&app, "unfreeze all", "U03CAROL").await;
    assert_eq!(gate(&app, "checkout", "production").await["open"], true);

    // The service's own timeline: who set and lifted what.
    let events = service_events(&app, "checkout").await;
    let row = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
            .clone()
    };
    assert_eq!(row("freeze_set")["actor"], "slack:U01ALICE");
    assert!(
        row("freeze_set")["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("froze checkout for 2h 00m: incident 42 in payments"),
        "{events:?}"
    );
    assert_eq!(row("freeze_lifted")["actor"], "slack:U01ALICE");
    let (status, md) = app.get("/api/services/checkout/timeline.md").await;
    assert_eq!(status, 200);
    assert!(md.contains("# checkout: the service's timeline"), "{md}");
    assert!(
        md.contains("lifted the freeze of checkout | slack:U01ALICE |"),
        "{md}"
    );
    assert!(md.contains("froze every service"), "{md}");
    // The same rows on the service's web page, which says it is not frozen now.
    let (status, page) = app.get("/services/checkout").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Not frozen."), "{page}");
    assert!(page.contains("<tr data-kind=\"freeze_lifted\">"), "{page}");
    let (status, _) = app.get("/services/nope").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/api/services/nope/timeline").await;
    assert_eq!(status, 404);
    app.finish().await;
}

async fn freeze_from_discord(b: Backend) {
    let fake = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let canary = |id: &str, user: &str, sub: &str, options: Value| {
        json!({"id": id, "type": 2, "channel_id": "1111",
               "member": {"user": {"id": user, "username": format!("user{user}")}, "roles": []},
               "data": {"name": "canary", "type": 1,
                        "options": [{"type": 1, "name": sub, "options": options}]}})
    };
    let say = |answer: &Value| crate::discord::content(answer);
    // 5555 decides nothing.
    let (_, answer) = app
        .discord(&canary(
            "d-1",
            "5555",
            "freeze",
            json!([{"type": 3, "name": "target", "value": "checkout"}]),
        ))
        .await;
    assert!(say(&answer).contains("Not frozen"), "{answer}");
    assert_eq!(get_json(&app, "/api/freezes").await["set"], json!([]));
    let (_, answer) = app
        .discord(&canary(
            "d-2",
            "4455",
            "freeze",
            json!([{"type": 3, "name": "target", "value": "checkout"},
                   {"type": 3, "name": "reason", "value": "db failover"}]),
        ))
        .await;
    assert!(say(&answer).contains("🧊 checkout frozen by"), "{answer}");
    let closed = gate(&app, "checkout", "production").await;
    assert_eq!(closed["rule"], "frozen", "{closed}");
    assert!(
        closed["reason"]
            .as_str()
            .unwrap_or_default()
            .ends_with(": db failover"),
        "{closed}"
    );
    assert_eq!(
        get_json(&app, "/api/freezes").await["set"][0]["by"],
        "discord:4455"
    );
    let (_, answer) = app
        .discord(&canary(
            "d-3",
            "4455",
            "unfreeze",
            json!([{"type": 3, "name": "target", "value": "checkout"}]),
        ))
        .await;
    assert!(say(&answer).contains("is lifted"), "{answer}");
    assert_eq!(gate(&app, "checkout", "production").await["open"], true);
    let kinds: Vec<Value> = service_events(&app, "checkout")
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("freeze_set"), json!("freeze_lifted")]);

    // `duration: 2h` lifts by itself: on a clock two hours on, the gate is open again.
    let (_, answer) = app
        .discord(&canary(
            "d-4",
            "4455",
            "freeze",
            json!([{"type": 3, "name": "target", "value": "checkout"},
                   {"type": 3, "name": "duration", "value": "2h"}]),
        ))
        .await;
    assert!(say(&answer).contains("🧊 checkout frozen by"), "{answer}");
    assert_eq!(gate(&app, "checkout", "production").await["rule"], "frozen");
    let later: canarybot::Clock =
        std::sync::Arc::new(|| chrono::Utc::now().timestamp_millis() + 2 * 3600 * 1000 + 60_000);
    let app = app
        .restart_with(canarybot::app::Options {
            clock: later,
            ..canarybot::app::Options::default()
        })
        .await;
    let open = gate(&app, "checkout", "production").await;
    assert_eq!(open["open"], true, "the freeze ran out: {open}");
    assert_eq!(get_json(&app, "/api/freezes").await["set"], json!([]));
    app.finish().await;
}

/// Production waits for the same build promoted in staging.
fn production_after_staging(text: String) -> String {
    text.replacen(
        "\n[[service.criteria]]\nname = \"5xx ratio\"",
        "\n[service.gate]\nenvironments = [\"production\"]\nrequire_promoted_in = \"staging\"\n\n[[service.criteria]]\nname = \"5xx ratio\"",
        1,
    )
}

async fn the_gate_follows_the_services_deploys_and_promotions_upstream(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, Setup::default(), production_after_staging).await else {
        return;
    };
    let sha = "0123456789abcdef0123";
    let ask = |environment: &'static str, sha: Option<&'static str>| {
        let path = format!(
            "/api/gate?service=checkout&environment={environment}{}",
            sha.map(|s| format!("&sha={s}")).unwrap_or_default()
        );
        let app = &app;
        async move { get_json(app, &path).await }
    };
    let a = ask("production", Some(sha)).await;
    assert_eq!(
        (&a["open"], &a["rule"]),
        (&json!(false), &json!("not_promoted_upstream")),
        "{a}"
    );
    assert_eq!(
        a["reason"],
        "checkout 0123456789ab was not promoted in staging yet"
    );
    assert_eq!(ask("production", None).await["rule"], "no_sha");
    let staging = ask("staging", Some(sha)).await;
    assert_eq!(
        staging["open"], true,
        "the gate guards production only: {staging}"
    );

    // The build goes to staging and is promoted there by a decider.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "2.0.0",
                    "environment": "staging", "sha": sha}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let staged = body["deploy_id"].as_str().expect("id").to_string();
    assert_eq!(
        ask("production", Some(sha)).await["rule"],
        "not_promoted_upstream"
    );
    let (status, body) = app.vote(&staged, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(
        (status, &body["state"]),
        (202, &json!("promoted")),
        "{body}"
    );
    let a = ask("production", Some(sha)).await;
    assert_eq!(a["open"], true, "{a}");
    assert_eq!(a["deploy_id"], json!(staged));
    assert_eq!(
        ask("production", Some("ffffffffffffffff")).await["rule"],
        "not_promoted_upstream",
        "another build is not promoted"
    );

    // A deploy of the service breaches: the gate closes, in every environment it guards.
    let id = app.start_deploy("2.0.1").await;
    for _ in 0..3 {
        app.check(&id, 0.05, 0.2).await;
    }
    app.wait_state(&id, "breached").await;
    let a = ask("production", Some(sha)).await;
    assert_eq!(
        (&a["rule"], &a["deploy_id"]),
        (&json!("breached"), &json!(id)),
        "{a}"
    );
    assert_eq!(
        a["reason"],
        json!(format!("checkout deploy {id} is breached"))
    );
    // Rolling back keeps it closed; rolled back opens it.
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    app.wait_state(&id, "rolling_back").await;
    assert_eq!(ask("production", Some(sha)).await["rule"], "rolling_back");
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "rolled_back", "service": "checkout", "version": "2.0.1", "deploy_id": id}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let a = ask("production", Some(sha)).await;
    assert_eq!(a["open"], true, "{a}");
    // An unknown service is named.
    let (status, text) = app
        .get("/api/gate?service=nope&environment=production")
        .await;
    assert_eq!(status, 404);
    assert!(text.contains("unknown service `nope`"), "{text}");
    app.finish().await;
}

fn exits_with(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `canarybot gate`: exit 0 open, 3 closed with the reason on stderr, `--wait` until open, 1 for
/// anything else; `canarybot timeline --service` prints the service's own timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_and_service_timeline_from_the_command_line() {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(Backend::Sqlite, setup).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, &app.config_text).expect("write");
    let cli = |args: &[&str]| {
        let mut c = tokio::process::Command::new(BIN);
        c.args(args).arg("--config").arg(&config);
        c
    };
    let gate_args = |service: &'static str, more: &[&'static str]| {
        let mut a = vec![
            "gate",
            "--service",
            service,
            "--environment",
            "production",
            "--server",
            app.url.as_str(),
        ];
        a.extend_from_slice(more);
        a
    };
    let out = cli(&gate_args("checkout", &[]))
        .output()
        .await
        .expect("run");
    exits_with(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("open: every rule holds"));

    slack_says(
        &app,
        "freeze checkout deploy freeze for the audit",
        "U01ALICE",
    )
    .await;
    let out = cli(&gate_args("checkout", &[]))
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("closed: checkout is frozen by u01alice: deploy freeze for the audit"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // Waiting: the gate opens while the command waits.
    let waiting = cli(&gate_args(
        "checkout",
        &["--wait", "30s", "--poll", "200ms"],
    ))
    .output();
    let unfreeze = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        slack_says(&app, "unfreeze checkout", "U01ALICE").await
    };
    let (out, said) = tokio::join!(waiting, unfreeze);
    let out = out.expect("run");
    assert!(said.contains("lifted"), "{said}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("waiting (up to"),
        "it said what it waits for: {stderr}"
    );

    // A wait that runs out is closed.
    slack_says(&app, "freeze checkout", "U01ALICE").await;
    let out = cli(&gate_args("checkout", &["--wait", "1s", "--poll", "300ms"]))
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(3));

    // A pipeline without the configuration file gives the server and a token.
    let out = tokio::process::Command::new(BIN)
        .args(gate_args("search", &[]))
        .args(["--config", "/nonexistent/canarybot.toml"])
        .env("CANARYBOT_API_TOKEN", crate::support::TOKEN)
        .output()
        .await
        .expect("run");
    exits_with(&out, 0);
    let out = tokio::process::Command::new(BIN)
        .args(gate_args("search", &["--token", "wrong-token-0123456789"]))
        .args(["--config", "/nonexistent/canarybot.toml"])
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"));

    // Anything else is 1, with the error.
    let out = cli(&gate_args("nope", &[])).output().await.expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown service `nope`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[
        "gate",
        "--service",
        "checkout",
        "--environment",
        "production",
        "--server",
        "http://127.0.0.1:9",
    ])
    .output()
    .await
    .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach http://127.0.0.1:9"));

    // The service's own timeline, from the store.
    let out = cli(&["timeline", "--service", "checkout"])
        .output()
        .await
        .expect("run");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(md.contains("# checkout: the service's timeline"), "{md}");
    assert!(
        md.contains("froze checkout: deploy freeze for the audit | slack:U01ALICE |"),
        "{md}"
    );
    assert!(md.contains("lifted the freeze of checkout"), "{md}");
    let out = cli(&["timeline", "--service", "checkout", "--format", "json"])
        .output()
        .await
        .expect("run");
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["events"][0]["kind"], "freeze_set");
    let out = cli(&["timeline"]).output().await.expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name a deploy id, or --service"));
    let out = cli(&["timeline", "--service", "nope"])
        .output()
        .await
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service `nope`"));
    app.finish().await;
}
