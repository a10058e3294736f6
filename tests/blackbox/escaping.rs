//! Text from outside is data: hostile strings sent through every input surface reach Slack and
//! Discord as words, never as a mention, a broadcast, a channel reference or a disguised link.
//! Every payload the fakes receive (and every answer Slack and Discord are given) is scanned.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::github::{fixture, send};
use crate::on_both_backends;
use crate::support::{
    ALERTMANAGER_TOKEN, Backend, FLAGGER_TOKEN, GITHUB_SECRET, Setup, TOKEN, TestApp,
};
use serde_json::{Value, json};

on_both_backends!(
    hostile_text_reaches_chat_as_words,
    voters_are_shown_as_the_platforms_mention,
    pages_forbid_scripts
);

/// The forms a person could smuggle in: Slack broadcasts, mentions, channel and group references
/// and disguised links; Discord mentions, role and channel references, masked links, @everyone.
const PAYLOAD: &str = "<!channel> URGENT <https://evil.example|status page> & <!here> <@U0EVIL> <#C0EVIL> <!subteam^S0EVIL> [status page](https://evil.example) @everyone <@999> <@&777> <#888> <t:1:R>";

/// The hostile string of one surface: its own marker, so the test can tell it reached chat.
fn hostile(surface: &str) -> String {
    format!("{surface}~ {PAYLOAD}")
}

/// A hostile string that fits a criterion name (100 characters) or a person's name (128).
fn hostile_short(surface: &str) -> String {
    format!("{surface}~ <!channel> <https://evil.example|status> <@U0EVIL> [x](https://e.ex) @here")
}

/// Every surface and where its text goes in.
const SURFACES: &[&str] = &[
    "deploy-description",
    "deploy-actor",
    "deploy-criterion",
    "metrics-no-data",
    "pipeline-event",
    "github-description",
    "github-status",
    "flagger-message",
    "alert-summary",
    "slack-name",
    "slack-reason",
    "discord-name",
    "discord-reason",
    "api-name",
    "api-reason",
];

async fn hostile_text_reaches_chat_as_words(b: Backend) {
    let slack = FakeSlack::start().await;
    let discord = FakeDiscord::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        github: true,
        flagger: true,
        alertmanager: true,
        rollback_quorum: 3,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    // Answers Slack and Discord get straight back are payloads on those platforms too.
    let mut slack_answers: Vec<Value> = Vec::new();
    let mut discord_answers: Vec<Value> = Vec::new();

    // Deploy webhook: description, actor, an extra criterion's name, a pipeline link.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "5.0.0",
                    "actor": hostile("deploy-actor"), "description": hostile("deploy-description"),
                    "url": "https://ci.example/run/1|<!channel>",
                    "criteria": [{"name": hostile_short("deploy-criterion"), "max": 1.0}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("deploy_id").to_string();

    // Metrics webhook: why a value is missing.
    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [
                {"criterion": hostile_short("deploy-criterion"), "no_data_reason": hostile("metrics-no-data")},
                {"criterion": "5xx ratio", "canary": 0.002, "baseline": 0.002},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // A person who is no decider, with a hostile display name, on each platform and the API.
    let (status, answer) = slack_button(&app, "U0BOB", &hostile_short("slack-name"), &id).await;
    assert_eq!(status, 200, "{answer}");
    let (_, answer) = app
        .discord(&json!({"id": "e-1", "type": 3, "channel_id": "1111",
            "member": {"user": {"id": "9999", "username": "mallory", "global_name": hostile_short("discord-name")}, "roles": []},
            "message": {"id": "1"}, "data": {"custom_id": format!("canary_rollback:{id}"), "component_type": 2}}))
        .await;
    discord_answers.push(answer);
    let (status, body) =
        api_vote(&app, &id, "console:mallory", &hostile_short("api-name"), "").await;
    assert_eq!(status, 403, "{body}");

    // Deciders with hostile reasons: Slack, the API, then Discord (the quorum of three).
    let (status, answer) = app
        .slack_command(
            "/rollback",
            &format!("checkout {}", hostile("slack-reason")),
            "U01ALICE",
            "C0CHECKOUT",
        )
        .await;
    assert_eq!(status, 200);
    slack_answers.push(answer);
    app.wait_kind(&id, "vote_cast").await;
    let (status, body) = api_vote_in(
        &app,
        &id,
        "slack:U0CAROL",
        &["slack-group:S01SRE"],
        "carol",
        &hostile("api-reason"),
    )
    .await;
    assert!(status < 300, "{status} {body}");
    let (_, answer) = app
        .discord(&json!({"id": "e-2", "type": 2, "channel_id": "1111",
            "member": {"user": {"id": "8888", "username": "sre", "global_name": hostile_short("discord-name")}, "roles": ["6677"]},
            "data": {"name": "canary", "type": 1, "options": [{"type": 1, "name": "rollback", "options": [
                {"type": 3, "name": "service", "value": "checkout"},
                {"type": 3, "name": "reason", "value": hostile("discord-reason")}]}]}}))
        .await;
    discord_answers.push(answer);
    app.wait_state(&id, "rolling_back").await;

    // The pipeline reports the rollback with its own words.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "rolled_back", "service": "checkout", "version": "5.0.0",
                    "deploy_id": id, "description": hostile("pipeline-event")}),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    // GitHub: a deployment and its status, with hostile descriptions.
    let mut deployment = fixture("deployment.payload.json");
    deployment["deployment"]["description"] = hostile("github-description").into();
    let (status, body) = send(&app, "deployment", "g-1", &deployment, GITHUB_SECRET).await;
    assert!(status < 300, "{status} {body}");
    let mut deployment_status = fixture("deployment_status.payload.json");
    deployment_status["deployment_status"]["state"] = "failure".into();
    deployment_status["deployment_status"]["description"] = hostile("github-status").into();
    let (status, body) = send(
        &app,
        "deployment_status",
        "g-2",
        &deployment_status,
        GITHUB_SECRET,
    )
    .await;
    assert!(status < 300, "{status} {body}");

    // Flagger: its event message.
    let resp = app
        .http
        .post(format!("{}/hooks/flagger/event", app.url))
        .json(
            &json!({"name": "podinfo", "namespace": "test", "phase": "Progressing",
            "metadata": {"eventMessage": hostile("flagger-message"), "eventType": "Warning",
                         "timestamp": "1700000000000", "revision": "r9", "token": FLAGGER_TOKEN}}),
        )
        .send()
        .await
        .expect("flagger");
    assert!(resp.status().is_success(), "{}", resp.status());

    // Alertmanager: a firing alert's name and summary, against the Flagger canary now running.
    let resp = app
        .http
        .post(format!("{}/hooks/alertmanager", app.url))
        .bearer_auth(ALERTMANAGER_TOKEN)
        .json(&json!({"version": "4", "groupKey": "g", "status": "firing", "receiver": "canarybot",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing",
                "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "page"},
                "annotations": {"summary": hostile("alert-summary")},
                "startsAt": chrono::Utc::now().to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus", "fingerprint": "f1"}]}))
        .send()
        .await
        .expect("alertmanager");
    assert!(resp.status().is_success(), "{}", resp.status());

    // A Slack mention that is not a command echoes nothing as markup either.
    let event = json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention",
        "user": "U0BOB", "channel": "C0CHECKOUT", "ts": "1700000000.000100",
        "text": format!("<@UBOT> {}", hostile("slack-mention"))}});
    let (status, _) = app
        .slack_post("/slack/events", &event.to_string(), "application/json")
        .await;
    assert_eq!(status, 200);

    app.settle_chat().await;
    // The mention's answer is posted directly, not through the outbox.
    slack
        .wait_for("the answer to the mention", |calls| {
            calls
                .iter()
                .any(|c| c.body.to_string().contains("slack-mention~"))
        })
        .await;

    let slack_payloads: Vec<Value> = slack
        .calls()
        .into_iter()
        .map(|c| c.body)
        .chain(slack_answers)
        .collect();
    let discord_payloads: Vec<Value> = discord
        .calls()
        .into_iter()
        .map(|c| c.body)
        .chain(discord_answers)
        .collect();
    assert!(!slack_payloads.is_empty() && !discord_payloads.is_empty());

    let mut problems = Vec::new();
    for p in &slack_payloads {
        for s in strings(p) {
            problems.extend(slack_markup_not_ours(&s));
        }
    }
    for p in &discord_payloads {
        for s in strings(p) {
            problems.extend(discord_markup_not_ours(&s));
        }
    }
    assert!(
        problems.is_empty(),
        "markup canarybot did not make:\n{}",
        problems.join("\n")
    );

    // Not vacuous: every surface's words arrived somewhere, escaped.
    let all: String = slack_payloads
        .iter()
        .chain(&discord_payloads)
        .flat_map(strings)
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<&&str> = SURFACES
        .iter()
        .filter(|s| !all.contains(&format!("{s}~")))
        .collect();
    assert!(missing.is_empty(), "never shown in chat: {missing:?}");
    assert!(
        all.contains("&lt;!channel&gt; URGENT"),
        "Slack shows the words"
    );
    assert!(
        all.contains("<\u{200B}!channel> URGENT"),
        "Discord shows the words"
    );
    // Discord: every message or edit canarybot sends says whom it may ping.
    for call in discord.calls() {
        let is_message = call.method != "GET"
            && (call.path.ends_with("/messages") || call.path.contains("/messages/"))
            && !call.path.contains("/threads");
        if is_message {
            assert!(
                call.body.get("allowed_mentions").is_some(),
                "{} {} has no allowed_mentions: {}",
                call.method,
                call.path,
                call.body
            );
        }
    }
    app.finish().await;
}

/// A vote by `@canarybot` mention carries no name, only Slack's user id: the thread mentions the
/// person (`<@U01ALICE>`), so Slack shows their name. A Discord voter is mentioned in the Discord
/// thread (without a ping) and named, as data, in the Slack one.
async fn voters_are_shown_as_the_platforms_mention(b: Backend) {
    let slack = FakeSlack::start().await;
    let discord = FakeDiscord::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(
        b,
        Setup {
            rollback_quorum: 2,
            ..setup
        },
    )
    .await
    else {
        return;
    };
    let id = app.start_deploy("6.0.0").await;
    let event = json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_mention",
        "user": "U01ALICE", "channel": "C0CHECKOUT", "ts": "1700000000.000200",
        "text": "<@UBOT> rollback checkout p99 doubled"}});
    let (status, _) = app
        .slack_post("/slack/events", &event.to_string(), "application/json")
        .await;
    assert_eq!(status, 200);
    app.wait_kind(&id, "vote_cast").await;
    let (_, answer) = app
        .discord(&json!({"id": "m-1", "type": 3, "channel_id": "1111",
            "member": {"user": {"id": "8888", "username": "sre", "global_name": "Sam <3"}, "roles": ["6677"]},
            "message": {"id": "1"}, "data": {"custom_id": format!("canary_rollback:{id}"), "component_type": 2}}))
        .await;
    assert!(answer.to_string().contains("(2/2)"), "{answer}");
    app.settle_chat().await;

    let root = slack.roots().into_iter().next().expect("a Slack root");
    let slack_replies: Vec<String> = slack
        .replies(&root.ts)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(
        slack_replies
            .iter()
            .any(|t| t.starts_with("🗳️ <@U01ALICE> votes *rollback* (1/2): p99 doubled")),
        "{slack_replies:#?}"
    );
    assert!(
        slack_replies
            .iter()
            .any(|t| t.starts_with("🗳️ Sam &lt;3 votes *rollback* (2/2)")),
        "{slack_replies:#?}"
    );
    let discord_replies: Vec<Value> = discord
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
        .map(|c| c.body)
        .collect();
    let vote = discord_replies
        .iter()
        .find(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.starts_with("🗳️ <@8888> votes **rollback** (2/2)"))
        })
        .unwrap_or_else(|| panic!("{discord_replies:#?}"));
    assert_eq!(
        vote["allowed_mentions"]["users"],
        json!([]),
        "shown, not pinged: {vote}"
    );
    assert!(
        discord_replies.iter().any(|m| m["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("🗳️ alice votes **rollback** (1/2)"))),
        "{discord_replies:#?}"
    );
    app.finish().await;
}

/// Every page and API answer tells the browser to run no script, load nothing from elsewhere,
/// and never be framed.
async fn pages_forbid_scripts(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    for path in [
        format!("/deploys/{id}"),
        "/deploys".to_string(),
        format!("/deploys/{id}?token=wrong"),
        "/api/deploys".to_string(),
        "/no-such-page".to_string(),
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth(if path.contains("wrong") {
                "wrong"
            } else {
                TOKEN
            })
            .send()
            .await
            .expect("get");
        let h = resp.headers();
        assert_eq!(
            h.get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
            ),
            "{path}"
        );
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
    }
    app.finish().await;
}

async fn slack_button(app: &TestApp, user: &str, name: &str, deploy_id: &str) -> (u16, Value) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name},
        "channel": {"id": "C0CHECKOUT"},
        "container": {"type": "message", "channel_id": "C0CHECKOUT", "message_ts": "1700000000.000001"},
        "actions": [{"action_id": "canary_rollback", "value": deploy_id, "type": "button"}],
    });
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
    app.slack_post(
        "/slack/interactions",
        &form,
        "application/x-www-form-urlencoded",
    )
    .await
}

async fn api_vote(
    app: &TestApp,
    deploy_id: &str,
    identity: &str,
    name: &str,
    reason: &str,
) -> (u16, Value) {
    api_vote_in(app, deploy_id, identity, &[], name, reason).await
}

async fn api_vote_in(
    app: &TestApp,
    deploy_id: &str,
    identity: &str,
    groups: &[&str],
    name: &str,
    reason: &str,
) -> (u16, Value) {
    let mut body =
        json!({"identity": identity, "name": name, "groups": groups, "choice": "rollback"});
    if !reason.is_empty() {
        body["reason"] = reason.into();
    }
    let resp = app
        .http
        .post(format!("{}/api/deploys/{deploy_id}/votes", app.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("vote");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every string in a JSON value.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Slack's control sequences `<…>` in a text, except the ones canarybot makes: mentions of the
/// configured deciders and of people who acted (Slack ids from Slack's own signed payloads), and
/// links with canarybot's own labels.
fn slack_markup_not_ours(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let inner = &after[..end];
        let ours = match inner.split_once('|') {
            Some((url, label)) => {
                url.starts_with("http")
                    && ["pipeline", "5xx ratio", "p99 latency", "errors"].contains(&label)
            }
            None => {
                ["@U01ALICE", "@U0BOB", "@U0CAROL", "!subteam^S01SRE"].contains(&inner)
                    || (inner.starts_with("http") && !inner.contains("evil"))
            }
        };
        if !ours {
            found.push(format!("Slack: <{inner}> in {s:?}"));
        }
        rest = &after[end..];
    }
    found
}

/// Discord's references (`<@…>`, `<@&…>`, `<#…>`, `<t:…>`, `</…>`, and `<!…>` for good measure),
/// masked links and @everyone/@here, except canarybot's own: mentions of the configured deciders
/// and of people who acted, and its `side by side` links.
fn discord_markup_not_ours(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let inner = &after[..end];
        let is_reference = inner.starts_with(['@', '#', '!', '/']) || inner.starts_with("t:");
        let ours = ["@4455", "@&6677", "@8888", "@9999"].contains(&inner);
        if is_reference && !ours {
            found.push(format!("Discord: <{inner}> in {s:?}"));
        }
        rest = &after[end..];
    }
    let mut rest = s;
    while let Some(at) = rest.find("](") {
        let label_start = rest[..at].rfind('[').map(|i| i + 1).unwrap_or(0);
        if &rest[label_start..at] != "side by side" {
            found.push(format!(
                "Discord: masked link [{}] in {s:?}",
                &rest[label_start..at]
            ));
        }
        rest = &rest[at + 2..];
    }
    for word in ["@everyone", "@here"] {
        if s.contains(word) {
            found.push(format!("Discord: {word} in {s:?}"));
        }
    }
    found
}
