//! Reasons asked for, and four eyes, end to end: with `require_reason`, a press opens a modal
//! (Slack `views.open`, Discord a type 9 answer) and the vote counts when the reason comes back;
//! with `forbid_self_promote`, the deployer's promote is refused and recorded.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use serde_json::{Value, json};

on_both_backends!(
    a_slack_press_opens_the_modal_and_the_submission_counts_with_its_reason,
    an_empty_reason_keeps_the_modal_open_and_nothing_counts,
    a_discord_press_opens_the_modal_and_modal_submit_counts,
    a_command_without_a_reason_is_not_counted,
    the_deployer_cannot_promote_but_their_rollback_counts,
);

/// checkout with these service keys added.
fn with_keys(keys: &'static str) -> impl Fn(String) -> String {
    move |text| {
        text.replacen(
            "rollback_quorum = ",
            &format!("{keys}\nrollback_quorum = "),
            1,
        )
    }
}

async fn slack_app(b: Backend, keys: &'static str) -> Option<(TestApp, FakeSlack)> {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let app = TestApp::spawn_with(b, setup, with_keys(keys)).await?;
    Some((app, slack))
}

/// A deploy of checkout in breach (p99 twice over its bound), waiting for a decision.
async fn breached(app: &TestApp, version: &str) -> String {
    let id = app.start_deploy(version).await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    assert_eq!(app.state(&id).await, "breached");
    id
}

/// A press of a thread button as Slack sends it, with its `trigger_id`.
async fn press(
    app: &TestApp,
    user: &str,
    action_id: &str,
    deploy_id: &str,
    trigger: &str,
) -> (u16, Value) {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase()},
        "trigger_id": trigger,
        "channel": {"id": "C0CHECKOUT"},
        "container": {"type": "message", "channel_id": "C0CHECKOUT", "message_ts": "1700000000.000001"},
        "actions": [{"action_id": action_id, "value": deploy_id, "type": "button"}],
    });
    interaction(app, &payload).await
}

async fn interaction(app: &TestApp, payload: &Value) -> (u16, Value) {
    let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
    app.slack_post(
        "/slack/interactions",
        &form,
        "application/x-www-form-urlencoded",
    )
    .await
}

fn fixture(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// Slack's `view_submission` (the fixture's shape) of the view canarybot opened, by `user`,
/// with `reason` typed.
fn submission(opened: &Value, user: &str, reason: &str) -> Value {
    let mut payload = fixture("slack/interactions.view_submission.json");
    payload["user"] = json!({"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0001"});
    payload["view"]["callback_id"] = opened["callback_id"].clone();
    payload["view"]["private_metadata"] = opened["private_metadata"].clone();
    payload["view"]["state"]["values"] =
        json!({"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}});
    payload
}

fn vote_casts(timeline: &Value) -> Vec<Value> {
    timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "vote_cast")
        .cloned()
        .collect()
}

async fn a_slack_press_opens_the_modal_and_the_submission_counts_with_its_reason(b: Backend) {
    let Some((app, slack)) = slack_app(b, "require_reason = true").await else {
        return;
    };
    let id = breached(&app, "2.4.1").await;
    let (status, body) = press(
        &app,
        "U01ALICE",
        "canary_rollback",
        &id,
        "12466734323.1395872398.8ad1",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The modal was opened with the press's trigger, asking why.
    let opens = slack.calls_to("views.open");
    assert_eq!(opens.len(), 1, "{:#?}", slack.calls());
    assert_eq!(opens[0].body["trigger_id"], "12466734323.1395872398.8ad1");
    assert_eq!(
        opens[0].authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    let view = &opens[0].body["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "canary_vote_reason");
    assert_eq!(view["title"]["text"], "Roll back checkout");
    assert_eq!(view["submit"]["text"], "Roll back");
    let metadata: Value =
        serde_json::from_str(view["private_metadata"].as_str().expect("metadata")).expect("JSON");
    assert_eq!(metadata, json!({"deploy_id": id, "choice": "rollback"}));
    let input = &view["blocks"][0];
    assert_eq!(input["type"], "input");
    assert_eq!(input["block_id"], "reason");
    assert_eq!(input["label"]["text"], "Why roll back checkout 2.4.1?");
    assert_eq!(input["element"]["type"], "plain_text_input");
    assert_eq!(input["element"]["action_id"], "reason_input");
    assert_eq!(input["element"]["multiline"], true);
    // The press alone counts nothing.
    assert!(vote_casts(&app.timeline(&id).await).is_empty());
    assert_eq!(app.state(&id).await, "breached");

    // The submission counts, closing the modal (an empty 200).
    let (status, body) = interaction(
        &app,
        &submission(view, "U01ALICE", "p99 doubled since 2.4.1"),
    )
    .await;
    assert_eq!((status, body), (200, Value::String(String::new())));
    app.wait_state(&id, "rolling_back").await;
    let t = app.timeline(&id).await;
    let votes = vote_casts(&t);
    assert_eq!(votes.len(), 1, "{t}");
    assert_eq!(votes[0]["actor"], "slack:U01ALICE");
    assert!(
        votes[0].to_string().contains("p99 doubled since 2.4.1"),
        "{}",
        votes[0]
    );
    // The thread shows the vote with its reason.
    slack
        .wait_for("the vote and its reason in the thread", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["thread_ts"].is_string()
                    && c.body.to_string().contains("p99 doubled since 2.4.1")
            })
        })
        .await;
    app.finish().await;
}

async fn an_empty_reason_keeps_the_modal_open_and_nothing_counts(b: Backend) {
    let Some((app, slack)) = slack_app(b, "require_reason = true").await else {
        return;
    };
    let id = breached(&app, "2.4.2").await;
    let (status, _) = press(&app, "U01ALICE", "canary_proceed", &id, "1.2.3").await;
    assert_eq!(status, 200);
    let opens = slack.calls_to("views.open");
    let view = &opens.first().expect("views.open").body["view"];
    assert_eq!(view["title"]["text"], "Proceed with checkout");
    for blank in ["", "   \n "] {
        let (status, body) = interaction(&app, &submission(view, "U01ALICE", blank)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["response_action"], "errors", "{body}");
        let error = body["errors"]["reason"]
            .as_str()
            .expect("an error beside the reason");
        assert!(error.contains("reason"), "{error}");
    }
    // Metadata that is not canarybot's is refused, naming the field.
    let mut forged = submission(view, "U01ALICE", "fine");
    forged["view"]["private_metadata"] = json!("{\"deploy_id\": \"x\", \"choice\": \"abort\"}");
    let (status, body) = interaction(&app, &forged).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("view.private_metadata"),
        "{body}"
    );
    let t = app.timeline(&id).await;
    assert!(vote_casts(&t).is_empty(), "{t}");
    assert_eq!(app.state(&id).await, "breached");
    app.finish().await;
}

async fn a_discord_press_opens_the_modal_and_modal_submit_counts(b: Backend) {
    let fake = FakeDiscord::start().await;
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn_with(b, setup, with_keys("require_reason = true")).await else {
        return;
    };
    let id = breached(&app, "2.4.3").await;
    let member = json!({"user": {"id": "4455", "username": "alice"}, "roles": []});
    let press = json!({"id": "i-press", "type": 3, "channel_id": "1111", "member": member,
        "message": {"id": "1"}, "data": {"custom_id": format!("canary_rollback:{id}"), "component_type": 2}});
    let (status, answer) = app.discord(&press).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"type": 9, "data": {
            "custom_id": format!("canary_reason:rollback:{id}"),
            "title": "Roll back checkout",
            "components": [{"type": 1, "components": [{
                "type": 4, "custom_id": "reason", "style": 2,
                "label": "Why roll back checkout 2.4.3?", "required": true, "max_length": 500,
            }]}],
        }})
    );
    assert!(vote_casts(&app.timeline(&id).await).is_empty());

    // MODAL_SUBMIT in the fixture's shape, by Alice, from the thread.
    let mut submit = fixture("discord/interaction.modal_submit.json");
    submit["id"] = json!("1300000000000000777");
    submit["channel_id"] = json!("1111");
    submit["channel"]["id"] = json!("1111");
    submit["member"]["user"]["id"] = json!("4455");
    submit["member"]["roles"] = json!([]);
    submit["data"]["custom_id"] = answer["data"]["custom_id"].clone();
    let mut blank = submit.clone();
    blank["id"] = json!("1300000000000000778");
    blank["data"]["components"][0]["components"][0]["value"] = json!("  ");
    let (status, refused) = app.discord(&blank).await;
    assert_eq!(status, 200, "{refused}");
    let text = refused["data"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("not counted"), "{refused}");
    assert!(vote_casts(&app.timeline(&id).await).is_empty());

    let (status, counted) = app.discord(&submit).await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["type"], 4, "{counted}");
    assert_eq!(counted["data"]["flags"], 64, "private: {counted}");
    let text = counted["data"]["content"].as_str().unwrap_or_default();
    assert!(text.contains("Counted: rollback"), "{counted}");
    app.wait_state(&id, "rolling_back").await;
    let votes = vote_casts(&app.timeline(&id).await);
    assert_eq!(votes.len(), 1);
    assert!(
        votes[0].to_string().contains("p99 doubled since 2.4.1"),
        "{}",
        votes[0]
    );
    app.finish().await;
}

async fn a_command_without_a_reason_is_not_counted(b: Backend) {
    let Some((app, _slack)) = slack_app(b, "require_reason = true").await else {
        return;
    };
    let id = breached(&app, "2.4.4").await;
    let (status, answer) = app
        .slack_command("/rollback", "checkout", "U01ALICE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    let text = answer["text"].as_str().unwrap_or_default();
    assert!(text.contains("not counted"), "{text}");
    // Slack shows `&lt;` as `<`.
    assert!(text.contains("/rollback checkout &lt;reason&gt;"), "{text}");
    assert!(vote_casts(&app.timeline(&id).await).is_empty());
    assert_eq!(app.state(&id).await, "breached");
    // With a reason the same command counts.
    let (_, answer) = app
        .slack_command(
            "/rollback",
            "checkout p99 doubled",
            "U01ALICE",
            "C0CHECKOUT",
        )
        .await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Counting"),
        "{answer}"
    );
    app.wait_kind(&id, "vote_cast").await;
    app.finish().await;
}

async fn the_deployer_cannot_promote_but_their_rollback_counts(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let edit = |text: String| {
        with_keys("forbid_self_promote = true")(text)
            + "\n[[people]]\nname = \"alice\"\nslack = \"U01ALICE\"\ngithub = \"alice-gh\"\naliases = [\"ci-alice\"]\n"
    };
    let Some(app) = TestApp::spawn_with(b, setup, edit).await else {
        return;
    };
    // Deployed by Alice's GitHub login (any case, as GitHub compares).
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "2.5.0", "actor": "Alice-GH"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("deploy_id").to_string();
    let (status, _) = app.slack_button("U01ALICE", "canary_proceed", &id).await;
    assert_eq!(status, 200);
    app.wait_kind(&id, "vote_denied").await;
    let t = app.timeline(&id).await;
    let denied: Vec<&Value> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "vote_denied")
        .collect();
    assert_eq!(denied.len(), 1, "{t}");
    let why = denied[0].to_string();
    assert!(
        why.contains("Alice-GH") && why.contains("someone else"),
        "{why}"
    );
    assert!(vote_casts(&t).is_empty(), "{t}");
    assert_eq!(app.state(&id).await, "canary");
    // Told privately.
    slack
        .wait_for("the private refusal", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postEphemeral"
                    && c.body["user"] == "U01ALICE"
                    && c.body.to_string().contains("you deployed checkout 2.5.0")
            })
        })
        .await;
    // Her rollback vote counts.
    let (status, _) = app.slack_button("U01ALICE", "canary_rollback", &id).await;
    assert_eq!(status, 200);
    app.wait_state(&id, "rolling_back").await;
    let votes = vote_casts(&app.timeline(&id).await);
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["details"]["choice"], "rollback", "{}", votes[0]);
    app.finish().await;
}
