//! Links to each message: every event that made canarybot post in a canary thread links to that
//! message, on Slack and on Discord, in the timeline JSON and in the Markdown postmortem.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::{FakeSlack, WORKSPACE_URL};
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

on_both_backends!(
    every_posted_event_links_to_its_messages,
    auth_test_says_where_the_workspace_is_once_per_start,
    a_failing_auth_test_leaves_slack_links_off,
    a_retried_post_records_the_message_it_found,
);

const WORKSPACE: &str = "https://acme.slack.com";
const GUILD: &str = "9999";

/// Slack and Discord fakes, `[slack] workspace_url` when `workspace` says so, `[discord]
/// guild_id`, and `extra` at the end of the configuration.
async fn app(
    b: Backend,
    workspace: bool,
    extra: &'static str,
) -> Option<(TestApp, FakeSlack, FakeDiscord)> {
    app_on(b, FakeSlack::start().await, workspace, extra).await
}

/// [`app`] with this fake Slack.
async fn app_on(
    b: Backend,
    slack: FakeSlack,
    workspace: bool,
    extra: &'static str,
) -> Option<(TestApp, FakeSlack, FakeDiscord)> {
    let discord = FakeDiscord::start().await;
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    let app = TestApp::spawn_with(b, setup, move |text| {
        let slack = if workspace {
            format!("[slack]\nworkspace_url = \"{WORKSPACE}/\"\n")
        } else {
            "[slack]\n".to_string()
        };
        text.replace("[slack]\n", &slack).replace(
            "[discord]\n",
            &format!("[discord]\nguild_id = \"{GUILD}\"\n"),
        ) + extra
    })
    .await?;
    Some((app, slack, discord))
}

/// Breach → a rollback vote (which decides it) → rolled back → recovery verified.
async fn breach_vote_rollback_verify(app: &TestApp, version: &str) -> String {
    let id = app.start_deploy(version).await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    app.wait_state(&id, "breached").await;
    let (status, _) = app.slack_button("U01ALICE", "canary_rollback", &id).await;
    assert_eq!(status, 200);
    app.wait_state(&id, "rolled_back").await;
    app.check(&id, 0.004, 0.2).await;
    app.check(&id, 0.004, 0.2).await;
    app.wait_state(&id, "rollback_verified").await;
    app.settle_chat().await;
    id
}

/// The link each message the fakes hold should have: Slack's from its channel and ts (a reply's
/// naming its thread), Discord's from the guild, the channel it is in and its id.
fn expected_links(slack: &FakeSlack, discord: &FakeDiscord, workspace: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for m in slack.messages.lock().expect("messages").iter() {
        let link = format!(
            "{workspace}/archives/{}/p{}",
            m.channel,
            m.ts.replace('.', "")
        );
        out.insert(match &m.thread_ts {
            Some(root) => format!("{link}?thread_ts={root}&cid={}", m.channel),
            None => link,
        });
    }
    for m in discord.messages.lock().expect("messages").iter() {
        out.insert(format!(
            "https://discord.com/channels/{GUILD}/{}/{}",
            m.channel, m.id
        ));
    }
    out
}

/// Each event's links, by seq, from the timeline JSON: (kind, links).
fn json_links(timeline: &Value) -> BTreeMap<i64, (String, Vec<String>)> {
    timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let links = e["message_links"]
                .as_array()
                .unwrap_or_else(|| panic!("an event without message_links: {e}"))
                .iter()
                .map(|l| l["url"].as_str().expect("url").to_string())
                .collect();
            (
                e["seq"].as_i64().expect("seq"),
                (e["kind"].as_str().expect("kind").to_string(), links),
            )
        })
        .collect()
}

/// The Markdown timeline's rows by seq: the last cell (the message links).
fn markdown_links(md: &str) -> BTreeMap<i64, String> {
    let timeline = md.split("## Timeline").nth(1).expect("a timeline section");
    timeline
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let seq = cells.first()?.trim_start_matches("| ").parse().ok()?;
            Some((seq, cells.last()?.trim_end_matches(" |").trim().to_string()))
        })
        .collect()
}

async fn every_posted_event_links_to_its_messages(b: Backend) {
    let Some((app, slack, discord)) = app(b, true, "").await else {
        return;
    };
    let id = breach_vote_rollback_verify(&app, "5.0.0").await;
    let timeline = app.timeline(&id).await;
    let events = json_links(&timeline);

    // Every message posted in the threads is linked, once, from the event it was posted for.
    let expected = expected_links(&slack, &discord, WORKSPACE);
    let linked: Vec<&String> = events.values().flat_map(|(_, l)| l).collect();
    let unique: BTreeSet<String> = linked.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        unique.len(),
        linked.len(),
        "a message linked twice: {linked:#?}"
    );
    assert_eq!(
        unique, expected,
        "the links are the messages the platforms hold"
    );
    assert!(
        expected.len() >= 10,
        "both threads had replies: {expected:#?}"
    );

    // Both platforms word the same effects: an event with a Slack message has a Discord one.
    let on =
        |links: &[String], prefix: &str| links.iter().filter(|l| l.starts_with(prefix)).count();
    for (seq, (kind, links)) in &events {
        assert_eq!(
            on(links, WORKSPACE),
            on(links, "https://discord.com/"),
            "event {seq} ({kind}) has as many Slack as Discord messages: {links:?}"
        );
    }
    // The root goes with the start, replies with what they say.
    let root_ts = slack.roots()[0].ts.clone();
    let root_id = discord.messages.lock().expect("messages")[0].id.clone();
    let (kind, start) = &events[&1];
    assert_eq!(kind, "deploy_started");
    assert_eq!(
        start,
        &vec![
            format!(
                "{WORKSPACE}/archives/C0CHECKOUT/p{}",
                root_ts.replace('.', "")
            ),
            format!("https://discord.com/channels/{GUILD}/1111/{root_id}"),
        ]
    );
    let text_of = |link: &str| {
        slack
            .messages
            .lock()
            .expect("messages")
            .iter()
            .find(|m| link.contains(&format!("/p{}?", m.ts.replace('.', ""))))
            .map(|m| m.text.clone())
            .unwrap_or_default()
    };
    let of_kind = |k: &str| {
        events
            .values()
            .find(|(kind, _)| kind == k)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("no {k} event"))
    };
    let decision = of_kind("decision");
    assert!(
        decision.iter().any(|l| text_of(l).contains("Decision")),
        "the decision links to the message saying it: {decision:?}"
    );
    for link in decision.iter().filter(|l| l.starts_with(WORKSPACE)) {
        assert!(
            link.ends_with(&format!("?thread_ts={root_ts}&cid=C0CHECKOUT")),
            "{link}"
        );
    }
    for link in decision
        .iter()
        .filter(|l| l.starts_with("https://discord.com/"))
    {
        assert!(
            link.starts_with(&format!("https://discord.com/channels/{GUILD}/{root_id}/")),
            "a reply is in the thread (its id is the root's): {link}"
        );
    }
    // Events that posted nothing link to nothing.
    assert!(of_kind("criteria_locked").is_empty());
    let silent = events.values().filter(|(_, l)| l.is_empty()).count();
    assert!(silent >= 1);

    // The Markdown links the same messages on the same rows.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    let rows = markdown_links(&md);
    assert_eq!(rows.len(), events.len(), "{md}");
    for (seq, (kind, links)) in &events {
        let cell = &rows[seq];
        if links.is_empty() {
            assert!(cell.is_empty(), "row {seq} ({kind}) links nothing: {cell}");
        }
        for link in links {
            assert!(
                cell.contains(&format!("]({link})")),
                "row {seq} ({kind}) links {link}: {cell}"
            );
        }
    }
    let start_row = &rows[&1];
    assert_eq!(
        start_row,
        &format!(
            "[Slack]({WORKSPACE}/archives/C0CHECKOUT/p{}) · [Discord](https://discord.com/channels/{GUILD}/1111/{root_id})",
            root_ts.replace('.', "")
        )
    );
    // No auth.test with workspace_url set.
    assert!(slack.calls_to("auth.test").is_empty());
    app.finish().await;
}

/// Without `workspace_url`, `auth.test`'s url is where links start: asked once per start,
/// however many messages are posted.
async fn auth_test_says_where_the_workspace_is_once_per_start(b: Backend) {
    let Some((app, slack, discord)) = app(b, false, "").await else {
        return;
    };
    let workspace = WORKSPACE_URL.trim_end_matches('/');
    let first = breach_vote_rollback_verify(&app, "5.1.0").await;
    let posts = slack.calls_to("chat.postMessage").len();
    assert!(posts >= 5, "{posts}");
    assert_eq!(slack.calls_to("auth.test").len(), 1, "asked once, at start");
    let chat = app.chat.clone();
    let app = app.restart(chat).await;
    let second = breach_vote_rollback_verify(&app, "5.2.0").await;
    assert_eq!(
        slack.calls_to("auth.test").len(),
        2,
        "asked once per start: {} posts in all",
        slack.calls_to("chat.postMessage").len()
    );
    let expected = expected_links(&slack, &discord, workspace);
    let mut linked = BTreeSet::new();
    for id in [&first, &second] {
        for (_, links) in json_links(&app.timeline(id).await).into_values() {
            linked.extend(links);
        }
    }
    assert_eq!(linked, expected);
    app.finish().await;
}

/// An `auth.test` that fails leaves Slack's links off, and nothing else: every message is
/// delivered, Discord's links are there.
async fn a_failing_auth_test_leaves_slack_links_off(b: Backend) {
    let slack = FakeSlack::start().await;
    slack
        .auth_test_fails
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let Some((app, slack, discord)) = app_on(b, slack, false, "").await else {
        return;
    };
    let id = breach_vote_rollback_verify(&app, "5.3.0").await;
    let links: Vec<String> = json_links(&app.timeline(&id).await)
        .into_values()
        .flat_map(|(_, l)| l)
        .collect();
    assert!(!links.iter().any(|l| l.contains("slack.com")), "{links:?}");
    assert!(links.iter().any(|l| l.starts_with("https://discord.com/")));
    assert!(slack.replies(&slack.roots().last().expect("root").ts).len() >= 3);
    assert!(!discord.messages.lock().expect("messages").is_empty());
    app.finish().await;
}

/// A post that reached the platform but whose answer never came is looked for on the next try:
/// the message found is the one linked, and no second one is posted.
async fn a_retried_post_records_the_message_it_found(b: Backend) {
    let Some((app, slack, discord)) = app(b, true, "\n[delivery]\nlease = \"2s\"\n").await else {
        return;
    };
    // The third Slack post (a reply) and the third Discord message are held unanswered.
    let slack_held = slack.trap("chat.postMessage", 3);
    let discord_held = discord.trap("POST", "/messages", 3);
    let id = breach_vote_rollback_verify(&app, "5.4.0").await;
    assert!(slack_held.await.is_ok() && discord_held.await.is_ok());
    let events = json_links(&app.timeline(&id).await);
    let linked: Vec<String> = events.into_values().flat_map(|(_, l)| l).collect();
    let expected = expected_links(&slack, &discord, WORKSPACE);
    assert_eq!(
        linked.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "{linked:#?}"
    );
    assert_eq!(
        linked.len(),
        expected.len(),
        "one link per message: {linked:#?}"
    );
    let third = slack.messages.lock().expect("messages")[2].clone();
    assert!(
        linked
            .iter()
            .any(|l| l.contains(&format!("/p{}?", third.ts.replace('.', "")))),
        "the held reply is linked: {linked:#?}"
    );
    // One message per outbox item on each platform: the retries found the held ones instead
    // of posting again.
    let items: Vec<Value> = slack
        .messages
        .lock()
        .expect("messages")
        .iter()
        // A shared chart names its outbox item in its file's name.
        .map(|m| match m.extra["upload"] == true {
            true => m.extra["files"][0]["name"].clone(),
            false => m.metadata["event_payload"]["item"].clone(),
        })
        .collect();
    assert_eq!(
        items
            .iter()
            .map(Value::to_string)
            .collect::<BTreeSet<_>>()
            .len(),
        items.len(),
        "no Slack message posted twice: {items:?}"
    );
    let nonces: Vec<Option<String>> = discord
        .messages
        .lock()
        .expect("messages")
        .iter()
        .map(|m| m.nonce.clone())
        .collect();
    assert_eq!(
        nonces.iter().collect::<BTreeSet<_>>().len(),
        nonces.len(),
        "no Discord message posted twice: {nonces:?}"
    );
    let third_discord = discord.messages.lock().expect("messages")[2].id.clone();
    assert!(
        linked
            .iter()
            .any(|l| l.ends_with(&format!("/{third_discord}"))),
        "the held Discord message is linked: {linked:#?}"
    );
    app.finish().await;
}
