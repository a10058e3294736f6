//! The decide phase, bounded: an unanswered breach reminds the deciders in the thread, then
//! canarybot decides the service's default itself; a vote stops what is left.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp};

on_both_backends!(
    an_unanswered_breach_is_reminded_then_rolled_back_by_canarybot,
    a_vote_after_the_reminder_stops_the_automatic_decision,
);

async fn escalating(b: Backend, keys: &'static str) -> Option<(TestApp, FakeSlack, FakeDiscord)> {
    let slack = FakeSlack::start().await;
    let discord = FakeDiscord::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        executor: Some(ExecutorMode::Done),
        escalation: Some(keys),
        ..Setup::default()
    };
    let app = TestApp::spawn(b, setup).await?;
    Some((app, slack, discord))
}

async fn an_unanswered_breach_is_reminded_then_rolled_back_by_canarybot(b: Backend) {
    let keys = "remind_after = \"1s\"\npage_after = \"off\"\ndecide_after = \"3s\"";
    let Some((app, slack, discord)) = escalating(b, keys).await else {
        return;
    };
    let id = app.start_deploy("7.1.0").await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    assert_eq!(app.state(&id).await, "breached");
    app.wait_kind(&id, "escalation_reminded").await;
    // The thread hears it, mentioning the deciders again.
    slack
        .wait_for("the reminder in the thread", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["thread_ts"].is_string()
                    && c.body.to_string().contains("Still waiting for a decision")
                    && c.body.to_string().contains("<@U01ALICE>")
            })
        })
        .await;
    // Each person decider gets a direct message; groups and roles are mentioned, not messaged.
    slack
        .wait_for("a direct message to Alice", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["channel"] == "U01ALICE"
                    && c.body
                        .to_string()
                        .contains("has waited 1.0s for your decision")
            })
        })
        .await;
    assert!(
        slack
            .calls_to("chat.postMessage")
            .iter()
            .all(|c| c.body["channel"] != "S01SRE"),
        "a user group is never messaged"
    );
    discord
        .wait_for(
            "a DM channel opened with 4455, and the message in it",
            |calls| {
                calls.iter().any(|c| {
                    c.path.ends_with("/users/@me/channels") && c.body["recipient_id"] == "4455"
                }) && calls.iter().any(|c| {
                    c.path.ends_with("/channels/774455/messages")
                        && c.body.to_string().contains("for your decision")
                })
            },
        )
        .await;
    assert!(
        discord
            .calls()
            .iter()
            .all(|c| c.body["recipient_id"] != "6677"),
        "a role is never messaged"
    );
    app.wait_state(&id, "rolled_back").await;
    let t = app.timeline(&id).await;
    let events = t["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    assert!(
        at("breach_detected") < at("escalation_reminded"),
        "{kinds:?}"
    );
    assert!(at("escalation_reminded") < at("decision"), "{kinds:?}");
    let decision = &events[at("decision")];
    assert_eq!(decision["actor"], "canarybot");
    assert_eq!(decision["details"]["reason"], "no decision within 3s");
    // Each step once, though the ticker asked every two seconds.
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "escalation_reminded")
            .count(),
        1
    );
    assert_eq!(kinds.iter().filter(|k| **k == "decision").count(), 1);
    // The postmortem tells the decide phase as it went.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    // (The ticker runs every two seconds, so the moments are the first ticks after each step.)
    let story = md
        .lines()
        .find(|l| l.starts_with("Decide: "))
        .unwrap_or_else(|| panic!("no decide line in the postmortem:\n{md}"));
    assert!(story.starts_with("Decide: reminded at "), "{story}");
    assert!(story.contains(", decided by canarybot at "), "{story}");
    // The executor was called as for any decision.
    assert_eq!(app.executor.as_ref().expect("executor").calls().len(), 1);
    app.finish().await;
}

async fn a_vote_after_the_reminder_stops_the_automatic_decision(b: Backend) {
    let keys = "remind_after = \"1s\"\npage_after = \"off\"\ndecide_after = \"4s\"\ndefault_decision = \"rollback\"";
    let Some((app, _slack, _discord)) = escalating(b, keys).await else {
        return;
    };
    let id = app.start_deploy("7.2.0").await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    app.wait_kind(&id, "escalation_reminded").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rolled_back").await;
    // Past the automatic decision's time: nothing more happens.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "decision").count(),
        1,
        "{kinds:?}"
    );
    let t = app.timeline(&id).await;
    let decision = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "decision")
        .cloned()
        .expect("a decision");
    // Alice, as her `[[people]]` entry ties her Slack and Discord identities.
    assert_eq!(decision["actor"], "person:alice");
    app.finish().await;
}
