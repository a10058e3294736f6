//! What people said, end to end: a 📌 on a Slack message in a canary thread (Events API
//! `reaction_added`/`reaction_removed`, signed, with the fake `conversations.replies`), Discord's
//! "Add to timeline" message command (signed, with `data.resolved.messages`), and `/canary note`
//! on both platforms become notes in the timeline at the time they were said, in the Markdown
//! postmortem's "What people said" and on the page — outside text escaped everywhere.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::{FakeSlack, SlackMessage};
use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    a_pinned_slack_message_is_a_note_once_and_can_be_withdrawn,
    add_to_timeline_on_discord_records_the_resolved_message,
    canary_note_on_both_platforms,
    a_pin_over_socket_mode_with_another_emoji,
);

const REACTION_FIXTURE: &str = include_str!("../fixtures/slack/events.reaction_added.json");
const MESSAGE_COMMAND_FIXTURE: &str =
    include_str!("../fixtures/discord/interaction.message_command.json");

/// The fixture's `reaction_added`, as `kind` (`reaction_added`/`reaction_removed`), by `user`
/// with `emoji` on the message `ts` in `channel`, under `event_id`.
fn reaction(
    kind: &str,
    event_id: &str,
    user: &str,
    emoji: &str,
    channel: &str,
    ts: &str,
) -> String {
    let mut e: Value = serde_json::from_str(REACTION_FIXTURE).expect("fixture");
    e["event_id"] = json!(event_id);
    e["event"]["type"] = json!(kind);
    e["event"]["user"] = json!(user);
    e["event"]["reaction"] = json!(emoji);
    e["event"]["item"]["channel"] = json!(channel);
    e["event"]["item"]["ts"] = json!(ts);
    e.to_string()
}

/// Notes of the deploy's timeline (`kind` `note` with a person's `chat`).
async fn person_notes(app: &TestApp, id: &str) -> Vec<Value> {
    app.timeline(id).await["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "note" && !e["details"]["chat"].is_null())
        .cloned()
        .collect()
}

/// Waits until `n` single-message `conversations.replies` calls were made, then a little for
/// what each leads to to be stored.
async fn replies_asked(slack: &FakeSlack, n: usize) {
    slack
        .wait_for("the pinned messages read", |c| {
            c.iter()
                .filter(|c| c.method == "conversations.replies" && !c.body["latest"].is_null())
                .count()
                >= n
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn a_pinned_slack_message_is_a_note_once_and_can_be_withdrawn(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("3.1.0").await;
    slack
        .wait_for("the root", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let root = slack.roots()[0].ts.clone();
    // Bob's reply in the canary thread (Slack escapes <, > and & in text), with a screenshot,
    // said now; a check fails after it, then Carol pins it.
    let said_ms = chrono::Utc::now().timestamp_millis();
    let said = format!("{}.{:06}", said_ms / 1000, (said_ms % 1000) * 1000);
    let said = said.as_str();
    slack.seed(SlackMessage {
        channel: "C0CHECKOUT".into(),
        ts: said.into(),
        thread_ts: Some(root.clone()),
        text: "it is &lt;b&gt;the payment provider&lt;/b&gt; | not us [x](javascript:alert(1))"
            .into(),
        metadata: Value::Null,
        extra: json!({"user": "U03BOB", "user_profile": {"display_name": "Bob"},
            "files": [{"id": "F0001", "name": "grafana.png", "title": "grafana.png",
                "url_private": "https://files.slack.com/files-pri/T1-F0001/grafana.png",
                "permalink": "https://acme.slack.com/files/U03BOB/F0001/grafana.png"}]}),
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.check(&id, 0.02, 0.2).await;
    // A message outside any canary thread.
    slack.seed(SlackMessage {
        channel: "C0CHECKOUT".into(),
        ts: "1700000200.000300".into(),
        thread_ts: None,
        text: "lunch?".into(),
        metadata: Value::Null,
        extra: json!({"user": "U03BOB"}),
    });
    let post = |body: String| {
        let app = &app;
        async move {
            let (status, _) = app
                .slack_post("/slack/events", &body, "application/json")
                .await;
            assert_eq!(status, 200);
        }
    };
    // Carol pins Bob's message; Slack redelivers the event; Dan pins it too; someone reacts with
    // another emoji; Carol pins the message outside canary threads.
    let pinned = reaction(
        "reaction_added",
        "Ev01",
        "U02CAROL",
        "pushpin",
        "C0CHECKOUT",
        said,
    );
    post(pinned.clone()).await;
    post(pinned).await;
    post(reaction(
        "reaction_added",
        "Ev02",
        "U04DAN",
        "pushpin",
        "C0CHECKOUT",
        said,
    ))
    .await;
    post(reaction(
        "reaction_added",
        "Ev03",
        "U04DAN",
        "eyes",
        "C0CHECKOUT",
        said,
    ))
    .await;
    post(reaction(
        "reaction_added",
        "Ev04",
        "U02CAROL",
        "pushpin",
        "C0CHECKOUT",
        "1700000200.000300",
    ))
    .await;
    replies_asked(&slack, 3).await;
    let reads = |slack: &FakeSlack| {
        slack
            .calls_to("conversations.replies")
            .iter()
            .filter(|c| !c.body["latest"].is_null())
            .count()
    };
    assert_eq!(
        reads(&slack),
        3,
        "the redelivery and the other emoji are not even read"
    );
    let notes = person_notes(&app, &id).await;
    assert_eq!(notes.len(), 1, "one note for one message: {notes:#?}");
    let chat = &notes[0]["details"]["chat"];
    assert_eq!(
        notes[0]["details"]["text"],
        "it is <b>the payment provider</b> | not us [x](javascript:alert(1))"
    );
    assert_eq!(
        chat["author"],
        json!({"identity": "slack:U03BOB", "name": "Bob"})
    );
    assert_eq!(chat["added_by"]["identity"], "slack:U02CAROL");
    assert_eq!(chat["said_at_ms"], said_ms);
    assert_eq!(
        chat["files"],
        json!([{"name": "grafana.png", "url": "https://acme.slack.com/files/U03BOB/F0001/grafana.png"}])
    );
    assert_eq!(
        chat["message"],
        json!({"platform": "slack", "thread": format!("C0CHECKOUT/{root}"), "message": said})
    );
    assert_eq!(notes[0]["actor"], "slack:U02CAROL");
    let ask = slack
        .calls_to("conversations.replies")
        .into_iter()
        .find(|c| !c.body["latest"].is_null())
        .expect("a single-message read");
    assert_eq!(
        (
            ask.body["channel"].as_str(),
            ask.body["ts"].as_str(),
            ask.body["inclusive"].as_str(),
            ask.body["limit"].as_str()
        ),
        (Some("C0CHECKOUT"), Some(said), Some("true"), Some("1"))
    );

    // The postmortem: "What people said" with the note at its time, escaped; the page too.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    let section = md
        .split("## What people said")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_else(|| panic!("no What people said: {md}"));
    assert!(
        section.contains("**Bob** (`slack:U03BOB`), added by U02CAROL at"),
        "{section}"
    );
    let said_words = canarybot::present::words::timestamp(said_ms);
    assert!(section.contains(&said_words), "{section}");
    assert!(
        section.contains("&lt;b&gt;the payment provider&lt;/b&gt;"),
        "{section}"
    );
    assert!(
        !section.contains("<b>") && !section.contains("[x](javascript"),
        "{section}"
    );
    assert!(
        section.contains("[grafana.png](https://acme.slack.com/files/U03BOB/F0001/grafana.png)"),
        "{section}"
    );
    // In the timeline at the time it was said: before the check that failed after it; its
    // outside text escaped there too.
    let timeline = md.split("## Timeline").nth(1).expect("timeline");
    let row = |kind: &str| {
        timeline
            .lines()
            .position(|l| l.contains(&format!("| {kind} |")))
            .unwrap_or_else(|| panic!("no {kind} row: {timeline}"))
    };
    assert!(row("note") < row("check_failed"), "{timeline}");
    assert!(
        timeline.contains(&format!(
            "| {said_words} | slack:U02CAROL | slack | note | Bob said at {said_words}"
        )),
        "{timeline}"
    );
    assert!(
        !timeline.contains("<b>") && !timeline.contains("[x](javascript"),
        "{timeline}"
    );
    let (status, page) = app.get(&format!("/deploys/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<section id=\"notes\">"), "{page}");
    assert!(page.contains("&lt;b&gt;the payment provider&lt;/b&gt;"));
    assert!(!page.contains("<b>the payment"));
    assert!(page.contains("href=\"https://acme.slack.com/files/U03BOB/F0001/grafana.png\""));
    assert!(
        page.contains(&format!("class=\"marker note\" data-at=\"{said_ms}\"")),
        "a chart marker"
    );

    // Dan takes his 📌 off: Carol's still stands. Carol takes hers off: withdrawn.
    post(reaction(
        "reaction_removed",
        "Ev05",
        "U04DAN",
        "pushpin",
        "C0CHECKOUT",
        said,
    ))
    .await;
    replies_asked(&slack, 4).await;
    assert!(!app.kinds(&id).await.iter().any(|k| k == "note_withdrawn"));
    post(reaction(
        "reaction_removed",
        "Ev06",
        "U02CAROL",
        "pushpin",
        "C0CHECKOUT",
        said,
    ))
    .await;
    app.wait_kind(&id, "note_withdrawn").await;
    let (_, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert!(md.contains("## What people said\n\nNobody added"), "{md}");
    assert!(
        md.contains("| note_withdrawn |"),
        "the timeline keeps both: {md}"
    );
    let (_, page) = app.get(&format!("/deploys/{id}")).await;
    assert!(!page.contains("the payment provider&lt;/b&gt;</blockquote>"));
    app.finish().await;
}

async fn add_to_timeline_on_discord_records_the_resolved_message(b: Backend) {
    let discord = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("3.2.0").await;
    discord
        .wait_for("the thread", |c| {
            c.iter().any(|c| c.path.ends_with("/threads"))
        })
        .await;
    app.settle_chat().await;
    let thread = discord.threads.lock().expect("threads")[0].clone();
    // As Discord sends it, outside any canary thread: nothing is added.
    let fixture: Value = serde_json::from_str(MESSAGE_COMMAND_FIXTURE).expect("fixture");
    let (status, answer) = app.discord(&fixture).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["flags"], 64, "private");
    assert!(content(&answer).contains("not one"), "{answer}");
    // The same message command in the canary thread.
    let mut in_thread = fixture.clone();
    // Another interaction (the first one's id is answered as before, and acted on once).
    in_thread["id"] = json!("1300000000000000004");
    in_thread["channel_id"] = json!(thread);
    in_thread["channel"]["id"] = json!(thread);
    in_thread["data"]["resolved"]["messages"]["1160000000000000000"]["channel_id"] = json!(thread);
    let (_, answer) = app.discord(&in_thread).await;
    assert!(
        content(&answer).contains("Added to the timeline of"),
        "{answer}"
    );
    // Pressed again by someone else: already there.
    let mut again = in_thread.clone();
    again["id"] = json!("1300000000000000003");
    let (_, answer) = app.discord(&again).await;
    assert!(
        content(&answer).contains("already in the timeline"),
        "{answer}"
    );
    let notes = person_notes(&app, &id).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let d = &notes[0]["details"];
    assert_eq!(d["text"], "it is the payment provider, not us");
    assert_eq!(
        d["chat"]["author"],
        json!({"identity": "discord:445566778899001133", "name": "Bob"})
    );
    assert_eq!(
        d["chat"]["added_by"],
        json!({"identity": "discord:445566778899001122", "name": "Alice"})
    );
    let said = chrono::DateTime::parse_from_rfc3339("2026-11-30T14:15:20.512000+00:00")
        .expect("the fixture's time")
        .timestamp_millis();
    assert_eq!(d["chat"]["said_at_ms"], said);
    assert_eq!(d["chat"]["files"][0]["name"], "grafana.png");
    assert_eq!(
        d["chat"]["message"],
        json!({"platform": "discord", "thread": thread, "message": "1160000000000000000"})
    );
    let (_, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert!(
        md.contains("**Bob** (`discord:445566778899001133`), added by Alice at"),
        "{md}"
    );
    assert!(
        md.contains("[grafana.png](https://cdn.discordapp.com/attachments/"),
        "{md}"
    );
    app.finish().await;
}

async fn canary_note_on_both_platforms(b: Backend) {
    let (slack, discord) = (FakeSlack::start().await, FakeDiscord::start().await);
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("3.3.0").await;
    // Slack: from another channel, naming the service.
    let (_, body) = app
        .slack_command(
            "/canary",
            "note checkout the payment provider is down <!channel>",
            "U05DAVE",
            "C0ELSEWHERE",
        )
        .await;
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.contains("Added to the timeline of"), "{body}");
    // An empty note is answered, not recorded.
    let (_, body) = app
        .slack_command("/canary", "note checkout", "U05DAVE", "C0ELSEWHERE")
        .await;
    assert!(
        body["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Write the note"),
        "{body}"
    );
    // Discord: in the service's channel, where its canary is the active one.
    let note = json!({"id": "n-1", "type": 2, "channel_id": "1111",
        "member": {"user": {"id": "4455", "username": "alice4455"}, "roles": []},
        "data": {"name": "canary", "type": 1, "options": [{"type": 1, "name": "note", "options": [
            {"type": 3, "name": "text", "value": "customers saw **errors** for 4 minutes"}]}]}});
    let (_, answer) = app.discord(&note).await;
    assert!(
        content(&answer).contains("Added to the timeline of"),
        "{answer}"
    );
    let notes = person_notes(&app, &id).await;
    let said: Vec<(&str, &str)> = notes
        .iter()
        .map(|n| {
            (
                n["details"]["chat"]["author"]["identity"]
                    .as_str()
                    .unwrap_or_default(),
                n["details"]["text"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("slack:U05DAVE", "the payment provider is down <!channel>"),
            ("discord:4455", "customers saw **errors** for 4 minutes")
        ]
    );
    assert_eq!(
        notes[1]["details"]["chat"]["author"]["name"], "alice",
        "the configured name"
    );
    let (_, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert!(
        md.contains("customers saw \\*\\*errors\\*\\* for 4 minutes"),
        "{md}"
    );
    assert!(md.contains("&lt;!channel&gt;"), "{md}");
    app.finish().await;
}

/// Socket Mode brings the same events to the same handler; `[slack] note_reaction` picks the
/// emoji (🔖 here, so a 📌 does nothing).
async fn a_pin_over_socket_mode_with_another_emoji(b: Backend) {
    use crate::fake_slack_socket::{APP_TOKEN, FakeSocket, envelope};
    let slack = FakeSlack::start().await;
    let mut socket = FakeSocket::start(&slack).await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let socket_mode = |text: String| {
        let secrets = format!(
            "signing_secrets = [\"{}\", \"{}\"]\n",
            crate::support::SLACK_SECRET,
            crate::support::SLACK_OLD_SECRET
        );
        assert!(text.contains(&secrets), "the test config's [slack] changed");
        text.replacen(
            &secrets,
            &format!("app_token = \"{APP_TOKEN}\"\nnote_reaction = \":bookmark:\"\n"),
            1,
        )
    };
    let Some(app) = TestApp::spawn_with(b, setup, socket_mode).await else {
        return;
    };
    let mut conn = socket.connection().await;
    let id = app.start_deploy("3.4.0").await;
    slack
        .wait_for("the root", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
    let root = slack.roots()[0].ts.clone();
    // A reply in the thread gets a 📌 (not this app's emoji); the root itself gets the 🔖: its own
    // ts is the thread.
    let reply = "1700000000.500000";
    slack.seed(SlackMessage {
        channel: "C0CHECKOUT".into(),
        ts: reply.into(),
        thread_ts: Some(root.clone()),
        text: "a reply".into(),
        metadata: Value::Null,
        extra: json!({"user": "U03BOB"}),
    });
    for (event_id, emoji, ts) in [("EvS1", "pushpin", reply), ("EvS2", "bookmark", &root)] {
        let callback: Value = serde_json::from_str(&reaction(
            "reaction_added",
            event_id,
            "U02CAROL",
            emoji,
            "C0CHECKOUT",
            ts,
        ))
        .expect("json");
        let sent = envelope("events_api", callback);
        let (ack, _) = conn.deliver(&sent).await;
        assert_eq!(ack, json!({"envelope_id": sent["envelope_id"]}));
    }
    app.wait_kind(&id, "note").await;
    replies_asked(&slack, 1).await;
    let notes = person_notes(&app, &id).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(
        notes[0]["details"]["chat"]["message"]["thread"],
        format!("C0CHECKOUT/{root}")
    );
    assert_eq!(
        notes[0]["details"]["chat"]["message"]["message"],
        root.as_str()
    );
    app.finish().await;
}

fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
