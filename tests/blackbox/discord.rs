//! Discord end to end against a fake Discord REST API, with interactions signed by a test key.

use crate::fake_discord::{FakeDiscord, public_key_hex, sign};
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    ping_and_signatures,
    root_thread_and_edits,
    commands_buttons_roles_and_duplicates,
    one_person_one_vote_across_platforms,
    both_threads_kept_in_step,
    drills_by_role,
    service_option_reads_like_slack_words,
    a_deploy_being_verified_is_active,
);

/// While recovery is verified (`rolled_back`), a bare `/canary status` shows that deploy.
async fn a_deploy_being_verified_is_active(b: Backend) {
    let Some((app, _discord)) = discord_app(
        b,
        Setup {
            executor: Some(ExecutorMode::Done),
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let id = app.start_deploy("2.4.0").await;
    let (_, answer) = app
        .discord(&slash(
            "v-1",
            "4455",
            &[],
            "rollback",
            json!([{"type": 3, "name": "reason", "value": "p99 doubled"}]),
        ))
        .await;
    assert!(content(&answer).contains("That decides it"), "{answer}");
    app.wait_state(&id, "rolled_back").await;
    let (_, answer) = app
        .discord(&slash(
            "v-2",
            "5555",
            &[],
            "canary",
            json!([{"type": 1, "name": "status"}]),
        ))
        .await;
    let text = content(&answer);
    assert!(
        !text.contains("No active canary") && text.contains("checkout") && text.contains("2.4.0"),
        "{text}"
    );
    app.finish().await;
}

/// The `service` option is read as Slack reads its first word: a configured service in any case
/// is the service, anything else is the reason.
async fn service_option_reads_like_slack_words(b: Backend) {
    let setup = Setup {
        rollback_quorum: 2,
        ..Setup::default()
    };
    let Some((app, _discord)) = discord_app(b, setup).await else {
        return;
    };
    let id = app.start_deploy("2.1.0").await;
    app.check(&id, 0.02, 0.2).await;
    let service = |v: &str| json!([{"type": 3, "name": "service", "value": v}]);
    let (status, answer) = app
        .discord(&slash(
            "s-1",
            "5555",
            &[],
            "canary",
            json!([{"type": 1, "name": "status", "options": service("Checkout")}]),
        ))
        .await;
    assert_eq!(status, 200);
    assert!(
        content(&answer).contains("baseline") && content(&answer).contains("0.02"),
        "status of Checkout: {answer}"
    );
    let (_, answer) = app
        .discord(&slash("s-2", "4455", &[], "rollback", service("CHECKOUT")))
        .await;
    assert!(
        content(&answer).contains(&format!("Counted: rollback on `{id}` (1/2)")),
        "{answer}"
    );
    let (_, answer) = app
        .discord(&slash(
            "s-3",
            "8888",
            &["6677"],
            "rollback",
            service("p99 doubled"),
        ))
        .await;
    assert!(content(&answer).contains("That decides it"), "{answer}");
    let t = app.timeline(&id).await;
    let decision = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "decision")
        .cloned()
        .expect("decision");
    assert_eq!(decision["details"]["reason"], "p99 doubled", "{decision}");
    app.finish().await;
}

/// `/canary drill` is for deciders (here by role); `/canary drills` for anyone.
async fn drills_by_role(b: Backend) {
    let Some((app, _discord)) = discord_app(b, Setup::default()).await else {
        return;
    };
    let drill = |id: &str, user: &str, roles: &[&str]| {
        slash(
            id,
            user,
            roles,
            "canary",
            json!([{"type": 1, "name": "drill", "options": [{"type": 3, "name": "service", "value": "checkout"}]}]),
        )
    };
    let (status, answer) = app.discord(&drill("d-1", "9999", &["1234"])).await;
    assert_eq!(status, 200);
    assert!(
        content(&answer).contains("Only the deciders of checkout"),
        "{answer}"
    );
    let (_, list) = app.get("/api/deploys?drills=only").await;
    assert_eq!(list.trim(), "[]", "nothing was started");
    let (_, answer) = app.discord(&drill("d-2", "9999", &["6677"])).await;
    assert_eq!(answer["data"]["flags"], 64, "private");
    assert!(
        content(&answer).contains("Drill `drill-checkout-"),
        "{answer}"
    );
    let (_, list) = app.get("/api/deploys?drills=only").await;
    let list: Value = serde_json::from_str(&list).expect("json");
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert_eq!(app.timeline(&id).await["events"][0]["source"], "discord");
    let (_, answer) = app
        .discord(&slash(
            "d-3",
            "5555",
            &[],
            "canary",
            json!([{"type": 1, "name": "drills"}]),
        ))
        .await;
    assert!(
        content(&answer).contains("checkout — 1 drill, 0 completed"),
        "{answer}"
    );
    app.finish().await;
}

async fn discord_app(b: Backend, setup: Setup) -> Option<(TestApp, FakeDiscord)> {
    let fake = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        ..setup
    };
    Some((TestApp::spawn(b, setup).await?, fake))
}

fn member(user: &str, roles: &[&str]) -> Value {
    json!({"user": {"id": user, "username": format!("user{user}")}, "roles": roles})
}

fn slash(id: &str, user: &str, roles: &[&str], name: &str, options: Value) -> Value {
    json!({"id": id, "type": 2, "channel_id": "1111", "member": member(user, roles),
           "data": {"name": name, "type": 1, "options": options}})
}

/// A press on a button of the thread, as Discord sends it.
pub fn button(id: &str, user: &str, roles: &[&str], custom_id: &str) -> Value {
    json!({"id": id, "type": 3, "channel_id": "1111", "member": member(user, roles),
           "message": {"id": "1"}, "data": {"custom_id": custom_id, "component_type": 2}})
}

/// The text of an interaction's answer.
pub fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn ping_and_signatures(b: Backend) {
    let Some((app, _discord)) = discord_app(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    let (status, body) = app.discord(&json!({"id": "1", "type": 1})).await;
    assert_eq!((status, body), (200, json!({"type": 1})));
    assert_eq!(public_key_hex().len(), 64);

    let vote = button("i-1", "4455", &[], &format!("canary_rollback:{id}"));
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let now = chrono::Utc::now().timestamp();
    let (status, _) = app.discord_at(&vote, &other_key, now).await;
    assert_eq!(status, 401, "signed by another key");
    let (status, body) = app
        .discord_at(&vote, &crate::fake_discord::signing_key(), now - 600)
        .await;
    assert_eq!(status, 401, "stale");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("replay window")
    );
    let resp = app
        .http
        .post(format!("{}/discord/interactions", app.url))
        .header("content-type", "application/json")
        .body(vote.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 401, "unsigned");
    // A signature over another body.
    let ts = now.to_string();
    let sig = sign(&crate::fake_discord::signing_key(), &ts, "{}");
    let resp = app
        .http
        .post(format!("{}/discord/interactions", app.url))
        .header("x-signature-ed25519", sig)
        .header("x-signature-timestamp", ts)
        .body(vote.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        app.kinds(&id).await,
        vec!["deploy_started", "criteria_locked"],
        "nothing recorded"
    );
    app.finish().await;
}

async fn root_thread_and_edits(b: Backend) {
    let Some((app, discord)) = discord_app(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    discord
        .wait_for("root and thread", |c| {
            c.iter().any(|c| c.path.ends_with("/threads"))
        })
        .await;
    let calls = discord.calls();
    let root = &calls[0];
    assert_eq!(
        (root.method.as_str(), root.path.as_str()),
        ("POST", "/api/v10/channels/1111/messages")
    );
    assert_eq!(
        root.authorization.as_deref(),
        Some("Bot discord-test-token")
    );
    let embed = &root.body["embeds"][0];
    assert_eq!(embed["title"], "Canary · checkout v1.0.0 → production");
    let fields = embed["fields"].to_string();
    assert!(
        fields.contains("5xx ratio") && fields.contains("≤ 0.01, ≤ baseline × 1.5"),
        "{fields}"
    );
    assert!(
        fields.contains("<@4455>") && fields.contains("<@&6677>"),
        "who decides: {fields}"
    );
    let buttons = &root.body["components"][0]["components"];
    assert_eq!(buttons[0]["custom_id"], format!("canary_rollback:{id}"));
    assert_eq!(buttons[0]["style"], 4, "danger");
    assert_eq!(buttons[1]["custom_id"], format!("canary_proceed:{id}"));
    let root_id = "900000000000000001";
    let thread_call = &calls[1];
    assert_eq!(
        thread_call.path,
        format!("/api/v10/channels/1111/messages/{root_id}/threads")
    );
    assert!(
        thread_call.body["name"]
            .as_str()
            .unwrap_or_default()
            .contains("checkout")
    );
    // A thread started from a message has the message's id.
    let thread_id = root_id;

    // The breach goes to the thread and pings the deciders; the root is edited in place.
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    discord
        .wait_for("the breach", |c| {
            c.iter().any(|c| {
                c.body["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("BREACH")
            })
        })
        .await;
    let breach = discord
        .calls()
        .into_iter()
        .find(|c| {
            c.body["content"]
                .as_str()
                .unwrap_or_default()
                .contains("BREACH")
        })
        .expect("breach");
    assert_eq!(
        breach.path,
        format!("/api/v10/channels/{thread_id}/messages")
    );
    let text = breach.body["content"].as_str().unwrap_or_default();
    assert!(
        text.contains("<@4455>") && text.contains("<@&6677>"),
        "{text}"
    );
    assert!(
        !text.contains("U01ALICE"),
        "Slack people are not mentioned on Discord: {text}"
    );
    assert_eq!(breach.body["allowed_mentions"]["users"], json!(["4455"]));
    assert_eq!(breach.body["allowed_mentions"]["roles"], json!(["6677"]));
    let edit_path = format!("/api/v10/channels/1111/messages/{root_id}");
    discord
        .wait_for("a root edit", |c| {
            c.iter().any(|c| c.method == "PATCH" && c.path == edit_path)
        })
        .await;

    // Once decided, the buttons are disabled.
    let (_, answer) = app
        .discord(&button(
            "i-2",
            "4455",
            &[],
            &format!("canary_rollback:{id}"),
        ))
        .await;
    assert!(content(&answer).contains("That decides it"), "{answer}");
    discord
        .wait_for("disabled buttons", |c| {
            c.iter().any(|c| {
                c.method == "PATCH" && c.body["components"][0]["components"][0]["disabled"] == true
            })
        })
        .await;
    app.finish().await;
}

async fn commands_buttons_roles_and_duplicates(b: Backend) {
    let setup = Setup {
        rollback_quorum: 2,
        ..Setup::default()
    };
    let Some((app, _discord)) = discord_app(b, setup).await else {
        return;
    };
    let id = app.start_deploy("2.0.0").await;
    app.check(&id, 0.02, 0.2).await;

    let (status, answer) = app
        .discord(&slash(
            "c-1",
            "5555",
            &[],
            "canary",
            json!([{"type": 1, "name": "status"}]),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64, "private");
    assert!(
        content(&answer).contains("baseline") && content(&answer).contains("0.02"),
        "{answer}"
    );
    let (_, answer) = app
        .discord(&slash(
            "c-2",
            "5555",
            &[],
            "canary",
            json!([{"type": 1, "name": "help"}]),
        ))
        .await;
    assert!(content(&answer).contains("/canary status"));
    assert!(
        !content(&answer).contains("mention the bot"),
        "no gateway, no mentions"
    );
    // Not a decider: refused privately, and on record.
    let (_, answer) = app
        .discord(&slash(
            "c-3",
            "9999",
            &["1234"],
            "rollback",
            json!([{"type": 3, "name": "reason", "value": "scary"}]),
        ))
        .await;
    assert!(content(&answer).contains("not a decider"), "{answer}");
    assert_eq!(answer["data"]["flags"], 64);
    assert!(app.kinds(&id).await.contains(&"vote_denied".to_string()));

    // A member with a decider role counts; the same interaction delivered twice counts once.
    let press = button("b-1", "8888", &["6677"], &format!("canary_rollback:{id}"));
    let (_, first) = app.discord(&press).await;
    let (_, again) = app.discord(&press).await;
    assert_eq!(first, again);
    assert!(
        content(&first).contains("Counted: rollback") && content(&first).contains("(1/2)"),
        "{first}"
    );
    let t = app.timeline(&id).await;
    let casts: Vec<&Value> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "vote_cast")
        .collect();
    assert_eq!(casts.len(), 1);
    assert_eq!(casts[0]["details"]["authorized_by"], "discord-role:6677");
    assert_eq!(casts[0]["actor"], "discord:8888");
    // The same person pressing again (a new interaction) changes nothing.
    let (_, answer) = app
        .discord(&button(
            "b-2",
            "8888",
            &["6677"],
            &format!("canary_rollback:{id}"),
        ))
        .await;
    assert!(content(&answer).contains("already counted"), "{answer}");

    // A named decider decides with a slash command and a reason.
    let (_, answer) = app
        .discord(&slash("c-4", "4455", &[], "canary", json!([{"type": 1, "name": "rollback", "options": [
            {"type": 3, "name": "service", "value": "checkout"}, {"type": 3, "name": "reason", "value": "p99 doubled"}]}])))
        .await;
    assert!(content(&answer).contains("That decides it"), "{answer}");
    app.wait_state(&id, "rolling_back").await;
    let t = app.timeline(&id).await;
    let decision = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "decision")
        .cloned()
        .expect("decision");
    assert_eq!(decision["details"]["reason"], "p99 doubled");
    app.finish().await;
}

async fn one_person_one_vote_across_platforms(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        rollback_quorum: 2,
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let Some((app, _discord)) = discord_app(b, setup).await else {
        return;
    };
    let id = app.start_deploy("3.0.0").await;
    let (_, body) = app
        .slack_command("/rollback", "checkout", "U01ALICE", "C0CHECKOUT")
        .await;
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Counting"),
        "{body}"
    );
    app.wait_kind(&id, "vote_cast").await;
    // Alice again, from Discord: the same person.
    let (_, answer) = app
        .discord(&button(
            "x-1",
            "4455",
            &[],
            &format!("canary_rollback:{id}"),
        ))
        .await;
    assert!(content(&answer).contains("already counted"), "{answer}");
    assert_eq!(app.state(&id).await, "canary");
    let t = app.timeline(&id).await;
    let cast = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "vote_cast")
        .cloned()
        .expect("cast");
    assert_eq!(cast["actor"], "person:alice");
    assert_eq!(cast["details"]["name"], "alice");
    assert!(
        cast["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("alice votes rollback (1/2)")
    );
    // A second person makes the quorum.
    let (_, answer) = app
        .discord(&button(
            "x-2",
            "8888",
            &["6677"],
            &format!("canary_rollback:{id}"),
        ))
        .await;
    assert!(content(&answer).contains("That decides it"), "{answer}");
    app.finish().await;
}

async fn both_threads_kept_in_step(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let Some((app, discord)) = discord_app(b, setup).await else {
        return;
    };
    let id = app.start_deploy("4.0.0").await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    let (status, _) = app.slack_button("U01ALICE", "canary_rollback", &id).await;
    assert_eq!(status, 200);
    app.wait_state(&id, "rolling_back").await;
    app.settle_chat().await;
    let said = |texts: Vec<String>, needle: &str| texts.iter().any(|t| t.contains(needle));
    let slack_texts: Vec<String> = slack
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let discord_texts: Vec<String> = discord
        .calls()
        .iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
        .map(|c| c.body["content"].as_str().unwrap_or_default().to_string())
        .collect();
    for needle in [
        "failing (1/2)",
        "BREACH",
        "votes *rollback*",
        "Decision: *roll back*",
    ] {
        assert!(
            said(slack_texts.clone(), needle),
            "Slack lacks `{needle}`: {slack_texts:?}"
        );
        let d = needle.replace('*', "**");
        assert!(
            said(discord_texts.clone(), &d),
            "Discord lacks `{d}`: {discord_texts:?}"
        );
    }
    assert!(slack.calls_to("chat.update").len() >= 2);
    assert!(
        discord
            .calls()
            .iter()
            .filter(|c| c.method == "PATCH")
            .count()
            >= 2
    );
    app.finish().await;
}
