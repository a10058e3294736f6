//! Slack over Socket Mode end to end: the real server connects out to a fake Socket Mode server
//! (`fake_slack_socket`) and receives slash commands, button presses, modal submissions and
//! mentions as envelopes, each acknowledged with the answer the HTTP endpoint would have given.

use crate::fake_slack::FakeSlack;
use crate::fake_slack_socket::{APP_TOKEN, Connection, FakeSocket, OpenFailure, envelope, fixture};
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, SLACK_OLD_SECRET, SLACK_SECRET, Setup, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    a_slash_command_is_acknowledged_with_its_private_reply,
    a_button_press_is_stored_before_the_ack,
    a_modal_submission_answers_errors_in_the_ack_and_counts_with_a_reason,
    an_app_mention_is_answered_in_its_thread,
    refresh_requested_opens_a_new_connection,
    a_redelivered_envelope_is_acted_on_once,
    failed_connects_are_retried_with_backoff,
    breach_vote_rollback_over_the_socket_with_no_http_endpoint,
    both_transports_at_once_share_event_deduplication,
    a_message_over_the_body_limit_closes_the_connection_and_it_reopens,
);

/// Slack's 3 s to acknowledge an envelope.
const SLACK_DEADLINE: Duration = Duration::from_secs(3);

/// `[slack]` in Socket Mode: the app token instead of the signing secrets (`keep_http`: both).
fn socket_mode(keep_http: bool, keys: &'static str) -> impl Fn(String) -> String {
    move |text| {
        let secrets = format!("signing_secrets = [\"{SLACK_SECRET}\", \"{SLACK_OLD_SECRET}\"]\n");
        assert!(text.contains(&secrets), "the test config's [slack] changed");
        let token = format!("app_token = \"{APP_TOKEN}\"\n");
        let slack = if keep_http {
            format!("{secrets}{token}")
        } else {
            token
        };
        text.replacen(&secrets, &slack, 1).replacen(
            "rollback_quorum = ",
            &format!("{keys}\nrollback_quorum = "),
            1,
        )
    }
}

struct SocketApp {
    app: TestApp,
    slack: FakeSlack,
    socket: FakeSocket,
    /// The connection the bot opened first, after `hello`.
    conn: Connection,
}

async fn socket_app(
    b: Backend,
    setup: Setup,
    keep_http: bool,
    keys: &'static str,
) -> Option<SocketApp> {
    socket_app_failing(b, setup, keep_http, keys, &[]).await
}

async fn socket_app_failing(
    b: Backend,
    setup: Setup,
    keep_http: bool,
    keys: &'static str,
    failures: &[OpenFailure],
) -> Option<SocketApp> {
    let slack = FakeSlack::start().await;
    let mut socket = FakeSocket::start(&slack).await;
    socket
        .failures
        .lock()
        .expect("failures")
        .extend_from_slice(failures);
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..setup
    };
    let app = TestApp::spawn_with(b, setup, socket_mode(keep_http, keys)).await?;
    let conn = socket.connection().await;
    // `hello` makes the connection ready: /metrics says so.
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    Some(SocketApp {
        app,
        slack,
        socket,
        conn,
    })
}

/// A link figure of Slack's Socket Mode connection in /metrics.
async fn metric(app: &TestApp, name: &str) -> Option<u64> {
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let prefix = format!("{name}{{platform=\"slack\",transport=\"socket-mode\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits (up to 15 s) for a link figure to reach `value`.
async fn wait_metric(app: &TestApp, name: &str, value: u64) {
    for _ in 0..300 {
        if metric(app, name).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, text) = app.get("/metrics").await;
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("socket-mode")).collect();
    panic!("{name} never reached {value}: {lines:#?}");
}

/// The fixture's slash command envelope, typed by `user` in checkout's channel.
fn slash_command(command: &str, text: &str, user: &str) -> Value {
    let mut e = fixture("socket_mode.slash_commands.envelope.json");
    e["envelope_id"] = json!(crate::fake_slack_socket::envelope_id());
    e["payload"]["command"] = json!(command);
    e["payload"]["text"] = json!(text);
    e["payload"]["user_id"] = json!(user);
    e["payload"]["user_name"] = json!(user.to_lowercase());
    e["payload"]["channel_id"] = json!("C0CHECKOUT");
    e
}

/// A press of a thread button, as an `interactive` envelope carries Slack's `block_actions`.
fn press(user: &str, action_id: &str, deploy_id: &str, trigger: &str) -> Value {
    envelope(
        "interactive",
        json!({
            "type": "block_actions",
            "team": {"id": "T0001", "domain": "example"},
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0001"},
            "api_app_id": "A0KRD7HC3",
            "token": "bHKJ2n9AW6Ju3MjciOHfbA1b",
            "trigger_id": trigger,
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0CHECKOUT", "is_ephemeral": false},
            "channel": {"id": "C0CHECKOUT", "name": "checkout"},
            "response_url": "https://hooks.slack.com/actions/T0001/1/x",
            "actions": [{"action_id": action_id, "block_id": "votes", "value": deploy_id, "type": "button",
                         "action_ts": "1700000001.000001", "text": {"type": "plain_text", "text": "Roll back", "emoji": true}}],
        }),
    )
}

/// Slack's `view_submission` (the fixture's shape) of the view canarybot opened, by `user`,
/// with `reason` typed, as an `interactive` envelope.
fn submission(opened: &Value, user: &str, reason: &str) -> Value {
    let mut payload = fixture("interactions.view_submission.json");
    payload["user"] = json!({"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": "T0001"});
    payload["view"]["callback_id"] = opened["callback_id"].clone();
    payload["view"]["private_metadata"] = opened["private_metadata"].clone();
    payload["view"]["state"]["values"] =
        json!({"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}});
    envelope("interactive", payload)
}

/// An `app_mention` in a thread, as an `events_api` envelope carries Slack's `event_callback`.
fn mention(event_id: &str, text: &str, thread_ts: &str) -> Value {
    envelope("events_api", mention_callback(event_id, text, thread_ts))
}

fn mention_callback(event_id: &str, text: &str, thread_ts: &str) -> Value {
    json!({
        "token": "bHKJ2n9AW6Ju3MjciOHfbA1b", "team_id": "T0001", "api_app_id": "A0KRD7HC3",
        "type": "event_callback", "event_id": event_id, "event_time": 1700000000,
        "event": {"type": "app_mention", "user": "U01ALICE", "text": text, "channel": "C0CHECKOUT",
                  "ts": "1700000000.500000", "thread_ts": thread_ts, "event_ts": "1700000000.500000"},
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": true}],
    })
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

/// Waits for the thread's root to be posted.
async fn root_posted(slack: &FakeSlack) {
    slack
        .wait_for("the root", |c| {
            c.iter().any(|c| c.method == "chat.postMessage")
        })
        .await;
}

/// A deploy of checkout in breach (p99 twice over its bound), waiting for a decision.
async fn breached(app: &TestApp, version: &str) -> String {
    let id = app.start_deploy(version).await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    assert_eq!(app.state(&id).await, "breached");
    id
}

/// `hello`, then a slash command: the ack carries the envelope id and the private reply, within
/// Slack's 3 s, and the vote it cast is counted. apps.connections.open was called with the app
/// token; with no signing secrets, Slack's HTTP endpoints are not served.
async fn a_slash_command_is_acknowledged_with_its_private_reply(b: Backend) {
    let Some(SocketApp {
        app,
        slack,
        socket,
        mut conn,
    }) = socket_app(b, Setup::default(), false, "").await
    else {
        return;
    };
    let opens = slack.calls_to("apps.connections.open");
    assert_eq!(opens.len(), 1);
    assert_eq!(
        opens[0].authorization.as_deref(),
        Some(format!("Bearer {APP_TOKEN}").as_str())
    );
    assert_eq!(socket.open_count(), 1);
    assert_eq!(conn.path, "/link/1");
    let id = app.start_deploy("2.4.1").await;
    let command = slash_command("/rollback", "checkout p99 doubled", "U01ALICE");
    let (ack, took) = conn.deliver(&command).await;
    println!("slash command acknowledged after {} ms", took.as_millis());
    assert!(took < SLACK_DEADLINE, "acknowledged after {took:?}");
    assert_eq!(ack["envelope_id"], command["envelope_id"]);
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    let text = ack["payload"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Counting your rollback vote") && text.contains(&id),
        "{ack}"
    );
    let votes = vote_casts(&app.timeline(&id).await);
    assert_eq!(votes.len(), 1, "{votes:?}");
    assert_eq!(metric(&app, "canarybot_chat_received_total").await, Some(1));
    // No signing secrets: Slack's HTTP endpoints are not there.
    let (status, _) = app
        .slack_command("/rollback", "checkout", "U01ALICE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 404);
    app.finish().await;
}

/// A press of the rollback button: by the time its ack arrives the vote is stored.
async fn a_button_press_is_stored_before_the_ack(b: Backend) {
    let setup = Setup {
        rollback_quorum: 2,
        ..Setup::default()
    };
    let Some(SocketApp { app, mut conn, .. }) = socket_app(b, setup, false, "").await else {
        return;
    };
    let id = breached(&app, "2.4.2").await;
    let envelope = press("U02BOB", "canary_rollback", &id, "13345224609.738474920.1");
    let (ack, took) = conn.deliver(&envelope).await;
    println!("press acknowledged after {} ms", took.as_millis());
    assert!(took < SLACK_DEADLINE, "acknowledged after {took:?}");
    assert_eq!(ack, json!({"envelope_id": envelope["envelope_id"]}));
    // Read right after the ack: stored before it.
    let votes = vote_casts(&app.timeline(&id).await);
    assert_eq!(
        votes.len(),
        1,
        "the vote is stored before the ack: {votes:?}"
    );
    assert_eq!(votes[0]["details"]["voter"], "slack:U02BOB", "{votes:?}");
    app.finish().await;
}

/// With `require_reason`, a press opens the modal; a submission with an empty reason is answered
/// in the ack with `response_action: errors`, and one with a reason counts the vote.
async fn a_modal_submission_answers_errors_in_the_ack_and_counts_with_a_reason(b: Backend) {
    let Some(SocketApp {
        app,
        slack,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), false, "require_reason = true").await
    else {
        return;
    };
    let id = breached(&app, "2.4.3").await;
    let (ack, _) = conn
        .deliver(&press(
            "U01ALICE",
            "canary_rollback",
            &id,
            "12466734323.1395872398.8ad1",
        ))
        .await;
    assert!(ack.get("payload").is_none(), "{ack}");
    let opens = slack.calls_to("views.open");
    assert_eq!(opens.len(), 1, "{:#?}", slack.calls());
    assert_eq!(opens[0].body["trigger_id"], "12466734323.1395872398.8ad1");
    let view = opens[0].body["view"].clone();

    let empty = submission(&view, "U01ALICE", "   ");
    let (ack, took) = conn.deliver(&empty).await;
    println!("empty reason acknowledged after {} ms", took.as_millis());
    assert!(took < SLACK_DEADLINE, "acknowledged after {took:?}");
    assert_eq!(ack["envelope_id"], empty["envelope_id"]);
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    assert!(
        ack["payload"]["errors"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Write why"),
        "{ack}"
    );
    assert!(vote_casts(&app.timeline(&id).await).is_empty());

    let given = submission(&view, "U01ALICE", "p99 doubled since 2.4.3");
    let (ack, _) = conn.deliver(&given).await;
    assert_eq!(
        ack,
        json!({"envelope_id": given["envelope_id"]}),
        "the modal closes"
    );
    let votes = vote_casts(&app.timeline(&id).await);
    assert_eq!(votes.len(), 1, "{votes:?}");
    assert_eq!(
        votes[0]["details"]["reason"], "p99 doubled since 2.4.3",
        "{votes:?}"
    );
    app.finish().await;
}

/// An `app_mention` in the canary thread (an `events_api` envelope): acknowledged without a
/// payload, and answered in the thread through chat.postMessage.
async fn an_app_mention_is_answered_in_its_thread(b: Backend) {
    let Some(SocketApp {
        app,
        slack,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), false, "").await
    else {
        return;
    };
    app.start_deploy("2.4.4").await;
    root_posted(&slack).await;
    let root = slack.roots()[0].ts.clone();
    let envelope = mention("Ev0SOCKET1", "<@UBOT> status", &root);
    let (ack, took) = conn.deliver(&envelope).await;
    assert!(took < SLACK_DEADLINE, "acknowledged after {took:?}");
    assert_eq!(ack, json!({"envelope_id": envelope["envelope_id"]}));
    slack
        .wait_for("the answer in the thread", |c| {
            c.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["thread_ts"] == root.as_str()
                    && c.body["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("2.4.4")
            })
        })
        .await;
    app.finish().await;
}

/// `disconnect` (`refresh_requested`): the bot opens a new connection (apps.connections.open
/// again), which works, and closes the old one; /metrics counts two connections, one up.
async fn refresh_requested_opens_a_new_connection(b: Backend) {
    let Some(SocketApp {
        app,
        socket: mut fake,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), false, "").await
    else {
        return;
    };
    conn.send(&fixture("socket_mode.disconnect.json")).await;
    let mut second = fake.connection().await;
    assert_eq!(fake.open_count(), 2);
    assert_eq!(second.path, "/link/2");
    assert!(
        conn.closed_within(Duration::from_secs(10)).await,
        "the old connection is closed"
    );
    wait_metric(&app, "canarybot_chat_connections_total", 2).await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    assert_eq!(
        metric(&app, "canarybot_chat_disconnects_total").await,
        Some(1)
    );
    assert_eq!(
        metric(&app, "canarybot_chat_connection_failures_total").await,
        Some(0)
    );
    let (ack, _) = second
        .deliver(&slash_command("/canary", "status", "U01ALICE"))
        .await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "the new connection works: {ack}"
    );
    // On shutdown the connection closes and no other opens.
    app.finish().await;
    assert!(
        second.closed_within(Duration::from_secs(5)).await,
        "closed on shutdown"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.open_count(), 2, "no reconnect after shutdown");
}

/// An envelope whose ack Slack did not get comes again (same envelope_id, retry_attempt 1): it
/// is acknowledged with the same payload and acted on once — one freeze, one modal opened.
async fn a_redelivered_envelope_is_acted_on_once(b: Backend) {
    let Some(SocketApp {
        app,
        slack,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), false, "require_reason = true").await
    else {
        return;
    };
    // A redelivery arriving while the first is still being answered (a 500 ms group lookup):
    // both acknowledged alike, acted on once.
    slack
        .groups_delay_ms
        .store(500, std::sync::atomic::Ordering::SeqCst);
    let first = slash_command("/canary", "freeze checkout for 1h reindex", "U01ALICE");
    let mut again = first.clone();
    again["retry_attempt"] = json!(1);
    again["retry_reason"] = json!("timeout");
    conn.send(&first).await;
    conn.send(&again).await;
    let mut acks = Vec::new();
    while acks.len() < 2 {
        let ack = conn
            .next_text(Duration::from_secs(10))
            .await
            .expect("two acknowledgements");
        assert_eq!(ack["envelope_id"], first["envelope_id"], "{ack}");
        acks.push(ack);
    }
    assert_eq!(acks[0], acks[1]);
    slack
        .groups_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let (_, freezes) = app.get("/api/freezes").await;
    let freezes: Value = serde_json::from_str(&freezes).expect("json");
    assert_eq!(
        freezes["set"].as_array().map(Vec::len),
        Some(1),
        "{freezes}"
    );

    // A redelivery after the first was answered: the same answer from the record.
    let first = slash_command("/canary", "freeze search for 2h release train", "U01ALICE");
    let (ack, _) = conn.deliver(&first).await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("frozen"),
        "{ack}"
    );
    let mut again = first.clone();
    again["retry_attempt"] = json!(1);
    again["retry_reason"] = json!("timeout");
    let (repeated, _) = conn.deliver(&again).await;
    assert_eq!(repeated, ack, "the same answer");
    let (_, freezes) = app.get("/api/freezes").await;
    let freezes: Value = serde_json::from_str(&freezes).expect("json");
    assert_eq!(
        freezes["set"].as_array().map(Vec::len),
        Some(2),
        "{freezes}"
    );

    // A press that opened the modal, redelivered: the modal is not opened again.
    let id = breached(&app, "2.4.5").await;
    let pressed = press("U01ALICE", "canary_rollback", &id, "12466734323.1.2");
    conn.deliver(&pressed).await;
    let mut again = pressed.clone();
    again["retry_attempt"] = json!(1);
    again["retry_reason"] = json!("timeout");
    let (ack, _) = conn.deliver(&again).await;
    assert_eq!(ack, json!({"envelope_id": pressed["envelope_id"]}));
    assert_eq!(
        slack.calls_to("views.open").len(),
        1,
        "{:#?}",
        slack.calls()
    );
    app.finish().await;
}

/// apps.connections.open answering `invalid_auth`, then a URL whose WebSocket refuses: each is a
/// failure retried after a growing wait, and the third try connects. /metrics counts them.
async fn failed_connects_are_retried_with_backoff(b: Backend) {
    let Some(SocketApp {
        app,
        socket,
        mut conn,
        ..
    }) = socket_app_failing(
        b,
        Setup::default(),
        false,
        "",
        &[OpenFailure::InvalidAuth, OpenFailure::Refused],
    )
    .await
    else {
        return;
    };
    let opens = socket.opens.lock().expect("opens").clone();
    assert_eq!(opens.len(), 3, "two failures, then a connection");
    let waits: Vec<Duration> = opens.windows(2).map(|w| w[1] - w[0]).collect();
    println!("waits between connects: {waits:?}");
    // Backoff from 1 s, jittered to between half and all of it: at least 0.5 s, then 1 s.
    assert!(waits[0] >= Duration::from_millis(450), "{waits:?}");
    assert!(waits[1] >= Duration::from_millis(950), "{waits:?}");
    assert_eq!(
        metric(&app, "canarybot_chat_connection_failures_total").await,
        Some(2)
    );
    assert_eq!(
        metric(&app, "canarybot_chat_connections_total").await,
        Some(1)
    );
    let (ack, _) = conn
        .deliver(&slash_command("/canary", "help", "U01ALICE"))
        .await;
    assert!(ack["payload"]["text"].is_string(), "{ack}");
    app.finish().await;
}

/// The whole loop over the socket with no HTTP endpoint for Slack: the thread opens, the canary
/// breaches, a press votes for the rollback, the executor is called and the deploy is rolled
/// back; POST /slack/commands is not served.
async fn breach_vote_rollback_over_the_socket_with_no_http_endpoint(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(SocketApp {
        app,
        slack,
        mut conn,
        ..
    }) = socket_app(b, setup, false, "").await
    else {
        return;
    };
    for path in ["/slack/commands", "/slack/interactions", "/slack/events"] {
        let (status, _) = app
            .slack_post(path, "x=1", "application/x-www-form-urlencoded")
            .await;
        assert_eq!(status, 404, "{path} is not served");
    }
    let id = breached(&app, "2.5.0").await;
    root_posted(&slack).await;
    let (ack, took) = conn
        .deliver(&press("U01ALICE", "canary_rollback", &id, "1.2.3"))
        .await;
    println!("rollback press acknowledged after {} ms", took.as_millis());
    assert!(took < SLACK_DEADLINE, "acknowledged after {took:?}");
    assert_eq!(ack.get("payload"), None);
    app.wait_state(&id, "rolled_back").await;
    let executor = app.executor.as_ref().expect("executor");
    assert_eq!(executor.calls().len(), 1);
    assert_eq!(executor.calls()[0].body["deploy_id"], id.as_str());
    let kinds = app.kinds(&id).await;
    for kind in [
        "breach_detected",
        "vote_cast",
        "decision",
        "rollback_succeeded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}: {kinds:?}");
    }
    app.finish().await;
}

/// During a migration both are on: the HTTP endpoints answer (signed), and an event seen over
/// HTTP and again over the socket acts once.
async fn both_transports_at_once_share_event_deduplication(b: Backend) {
    let Some(SocketApp {
        app,
        slack,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), true, "").await
    else {
        return;
    };
    app.start_deploy("2.5.1").await;
    root_posted(&slack).await;
    let root = slack.roots()[0].ts.clone();
    let (status, body) = app
        .slack_command("/canary", "status", "U01ALICE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 200, "{body}");
    let callback = mention_callback("Ev0BOTH", "<@UBOT> status", &root);
    let (status, _) = app
        .slack_post("/slack/events", &callback.to_string(), "application/json")
        .await;
    assert_eq!(status, 200);
    conn.deliver(&envelope("events_api", callback)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = slack
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| {
            c.body["thread_ts"] == root.as_str()
                && c.body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("2.5.1")
        })
        .count();
    assert_eq!(answers, 1, "{:#?}", slack.calls());
    app.finish().await;
}

/// A frame larger than `server.max_body` (1 MiB by default) is not read: the bot drops that
/// connection and opens another, which works (tungstenite alone would take 64 MiB).
async fn a_message_over_the_body_limit_closes_the_connection_and_it_reopens(b: Backend) {
    let Some(SocketApp {
        app,
        socket: mut fake,
        mut conn,
        ..
    }) = socket_app(b, Setup::default(), false, "").await
    else {
        return;
    };
    let mut huge = slash_command("/canary", "status", "U01ALICE");
    huge["payload"]["padding"] = serde_json::Value::String("x".repeat(2 * 1024 * 1024));
    conn.send_refused(&huge).await;
    assert!(
        conn.closed_within(Duration::from_secs(10)).await,
        "the connection that carried 2 MiB is closed"
    );
    let mut second = fake.connection().await;
    assert_eq!(fake.open_count(), 2);
    let (ack, _) = second
        .deliver(&slash_command("/canary", "status", "U01ALICE"))
        .await;
    assert!(
        ack["payload"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "the new connection works: {ack}"
    );
    app.finish().await;
}
