//! `[discord] transport = "gateway"` against a fake Discord Gateway (a WebSocket server on
//! loopback) and the fake REST API, which answers `GET /gateway/bot` with the fake gateway and
//! records the interaction callbacks.

use crate::fake_discord::{DiscordCall, FakeDiscord};
use crate::fake_discord_gateway::{FakeGateway, GatewayConn, free_port};
use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

on_both_backends!(identify_heartbeats_interactions_reconnect_resume);

/// The privileged intents' bits (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT).
const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);

/// The bot against `gateway`, with `transport = "gateway"` and no public key.
async fn gateway_app(b: Backend, gateway_url: &str) -> Option<(TestApp, FakeDiscord)> {
    let discord = FakeDiscord::start().await;
    *discord.gateway_url.lock().expect("url") = gateway_url.to_string();
    let api = discord.api_url.clone();
    let setup = Setup {
        discord_api: Some(api.clone()),
        ..Setup::default()
    };
    let app = TestApp::spawn_with(b, setup, |text| {
        let text = text.replace(
            &format!("api_url = \"{api}\"\n"),
            &format!("api_url = \"{api}\"\ntransport = \"gateway\"\n"),
        );
        // The Gateway needs no public key: the connection is authenticated by the bot token.
        let key = format!(
            "public_key = \"{}\"\n",
            crate::fake_discord::public_key_hex()
        );
        assert!(text.contains(&key) && text.contains("transport = \"gateway\""));
        text.replace(&key, "")
    })
    .await?;
    Some((app, discord))
}

fn member(user: &str) -> Value {
    json!({"user": {"id": user, "username": format!("user{user}"), "discriminator": "0",
                    "global_name": null, "avatar": null},
           "roles": [], "nick": null, "joined_at": "2024-01-01T00:00:00.000000+00:00",
           "deaf": false, "mute": false, "flags": 0})
}

/// A button press as INTERACTION_CREATE's `d` (with the `token` its callback needs).
fn button(id: &str, user: &str, custom_id: &str) -> Value {
    json!({"id": id, "application_id": "424242", "type": 3, "token": format!("tok-{id}"),
           "version": 1, "guild_id": "5000", "channel_id": "1111", "member": member(user),
           "message": {"id": "1"}, "locale": "en-US",
           "data": {"custom_id": custom_id, "component_type": 2}})
}

fn slash(id: &str, user: &str, name: &str, options: Value) -> Value {
    json!({"id": id, "application_id": "424242", "type": 2, "token": format!("tok-{id}"),
           "version": 1, "guild_id": "5000", "channel_id": "1111", "member": member(user),
           "locale": "en-US", "data": {"id": "3000", "name": name, "type": 1, "options": options}})
}

fn callbacks(discord: &FakeDiscord, id: &str) -> Vec<DiscordCall> {
    let path = format!("/api/v10/interactions/{id}/tok-{id}/callback");
    discord
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path == path)
        .collect()
}

/// Waits for the callback of interaction `id`; returns its body and how long it took.
async fn callback(discord: &FakeDiscord, id: &str, since: Instant) -> (Value, Duration) {
    for _ in 0..200 {
        if let Some(c) = callbacks(discord, id).first() {
            return (c.body.clone(), since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "no callback for interaction {id}; calls: {:#?}",
        discord.calls()
    );
}

fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A sample of `/metrics` for the Discord gateway link.
async fn link_metric(app: &TestApp, name: &str) -> Option<u64> {
    let (_, text) = app.get("/metrics").await;
    let prefix = format!("{name}{{platform=\"discord\",transport=\"gateway\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

async fn wait_metric(app: &TestApp, name: &str, value: u64) {
    for _ in 0..200 {
        if link_metric(app, name).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, text) = app.get("/metrics").await;
    panic!("{name} never became {value}:\n{text}");
}

/// HELLO → IDENTIFY → READY on a new connection; returns it.
async fn identified(gateway: &FakeGateway, session: &str) -> GatewayConn {
    let mut conn = gateway.next_conn().await;
    assert_eq!(
        conn.path, "/?v=10&encoding=json",
        "connects with v=10, JSON"
    );
    let identify = conn.recv().await;
    assert_eq!(identify["op"], 2, "IDENTIFY after HELLO: {identify}");
    let d = &identify["d"];
    assert_eq!(d["token"], "discord-test-token", "{identify}");
    let intents = d["intents"].as_u64().expect("intents");
    assert_eq!(intents & PRIVILEGED, 0, "no privileged intents: {intents}");
    for p in ["os", "browser", "device"] {
        assert!(
            d["properties"][p].as_str().is_some_and(|v| !v.is_empty()),
            "{identify}"
        );
    }
    conn.ready(session, &format!("{}/resume-here?zone=b", gateway.url));
    conn
}

async fn identify_heartbeats_interactions_reconnect_resume(b: Backend) {
    let gateway = FakeGateway::start(300).await;
    let Some((app, discord)) = gateway_app(b, &gateway.url).await else {
        return;
    };
    let conn = identified(&gateway, "sess-1").await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    // With the Gateway no interactions endpoint is served.
    let (status, _) = app.discord(&json!({"id": "1", "type": 1})).await;
    assert_eq!(status, 404, "no /discord/interactions with the Gateway");

    // Heartbeats at the interval, with the last sequence number, ACKed: the connection stays.
    let beats = conn.wait_heartbeats(6, Duration::from_secs(10)).await;
    let gaps: Vec<u128> = beats
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).as_millis())
        .collect();
    let mean = gaps.iter().sum::<u128>() / gaps.len() as u128;
    println!("heartbeat gaps at a 300 ms interval: {gaps:?} ms (mean {mean})");
    // Never early; on average on time (bounds wide for a loaded machine).
    assert!(
        gaps.iter().all(|g| *g >= 250) && (250..=500).contains(&mean),
        "heartbeats every interval: {gaps:?}"
    );
    assert_eq!(beats[1].1, json!({"op": 1, "d": 1}), "d is the last seq");
    assert_eq!(
        gateway.accepted.load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    // A button vote: stored, answered through the callback within Discord's 3 s.
    let id = app.start_deploy("3.0.0").await;
    let vote = button(
        "900000000000000101",
        "4455",
        &format!("canary_rollback:{id}"),
    );
    let sent = Instant::now();
    conn.dispatch("INTERACTION_CREATE", vote.clone());
    let (answer, took) = callback(&discord, "900000000000000101", sent).await;
    println!("button vote answered through the callback in {took:?}");
    assert!(
        took < Duration::from_secs(3),
        "within Discord's 3 s: {took:?}"
    );
    assert_eq!(answer["type"], 4, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "private: {answer}");
    assert!(content(&answer).contains("Counted: rollback"), "{answer}");
    app.wait_kind(&id, "vote_cast").await;

    // A slash command, answered privately through the callback.
    let status = slash(
        "900000000000000102",
        "5555",
        "canary",
        json!([{"type": 1, "name": "status"}]),
    );
    let sent = Instant::now();
    conn.dispatch("INTERACTION_CREATE", status);
    let (answer, took) = callback(&discord, "900000000000000102", sent).await;
    println!("/canary status answered through the callback in {took:?}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        content(&answer).contains("checkout") && content(&answer).contains("3.0.0"),
        "{answer}"
    );

    // RECONNECT: the bot resumes at READY's resume_gateway_url with the session and last seq.
    let last = gateway.last_seq();
    conn.send(json!({"op": 7, "d": null}));
    let mut resumed = gateway.next_conn().await;
    assert!(
        resumed.path.starts_with("/resume-here/?v=10&encoding=json")
            || resumed.path.starts_with("/resume-here?v=10&encoding=json"),
        "resumes at resume_gateway_url: {}",
        resumed.path
    );
    let resume = resumed.recv().await;
    assert_eq!(
        resume,
        json!({"op": 6, "d": {"token": "discord-test-token", "session_id": "sess-1", "seq": last}})
    );
    resumed.dispatch("RESUMED", json!({}));
    wait_metric(&app, "canarybot_chat_disconnects_total", 1).await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    wait_metric(&app, "canarybot_chat_connections_total", 2).await;

    // Redelivered after the resume: answered before, not acted on again, not called back again.
    resumed.dispatch("INTERACTION_CREATE", vote);
    // An interaction after the resume works.
    let help = slash(
        "900000000000000103",
        "5555",
        "canary",
        json!([{"type": 1, "name": "help"}]),
    );
    resumed.dispatch("INTERACTION_CREATE", help);
    let (answer, _) = callback(&discord, "900000000000000103", Instant::now()).await;
    assert!(!content(&answer).is_empty(), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let votes = app
        .timeline(&id)
        .await
        .get("events")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter(|e| e["kind"] == "vote_cast").count());
    assert_eq!(votes, Some(1), "the redelivered vote is acted on once");
    assert_eq!(callbacks(&discord, "900000000000000101").len(), 1);
    // The same interaction twice at once (as every replica's connection receives it): one
    // answer.
    let twice = slash(
        "900000000000000104",
        "5555",
        "canary",
        json!([{"type": 1, "name": "status"}]),
    );
    resumed.dispatch("INTERACTION_CREATE", twice.clone());
    resumed.dispatch("INTERACTION_CREATE", twice);
    callback(&discord, "900000000000000104", Instant::now()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        callbacks(&discord, "900000000000000104").len(),
        1,
        "answered once"
    );
    wait_metric(&app, "canarybot_chat_received_total", 6).await;

    // INVALID_SESSION (not resumable): after 1–5 s, a new connection and IDENTIFY anew.
    let invalid = Instant::now();
    resumed.send(json!({"op": 9, "d": false}));
    let again = identified(&gateway, "sess-2").await;
    let waited = invalid.elapsed();
    println!("identified anew {waited:?} after INVALID_SESSION");
    assert!(waited >= Duration::from_secs(1), "waits 1–5 s: {waited:?}");
    wait_metric(&app, "canarybot_chat_connections_total", 3).await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    drop(again);
    app.finish().await;
}

/// The Gateway down at start (connection refused): retried with backoff, not a tight loop; once
/// it is up the bot connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_down_at_start_is_retried_with_backoff() {
    let reserved = free_port().await;
    let port = reserved.port;
    let Some((app, _discord)) =
        gateway_app(Backend::Sqlite, &format!("ws://127.0.0.1:{port}")).await
    else {
        return;
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let failures = link_metric(&app, "canarybot_chat_connection_failures_total")
        .await
        .unwrap_or_default();
    println!("failed connects in the first 2.5 s: {failures}");
    assert!(
        (1..=6).contains(&failures),
        "retried with backoff, not in a tight loop: {failures}"
    );
    assert_eq!(
        link_metric(&app, "canarybot_chat_connection_up").await,
        Some(0)
    );
    let gateway = FakeGateway::start_on(port, 300).await;
    drop(reserved);
    let _conn = identified(&gateway, "sess-late").await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    app.finish().await;
}

/// No ACK before the next heartbeat: a zombied connection, closed and resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombied_connection_is_resumed() {
    let gateway = FakeGateway::start(300).await;
    let Some((app, _discord)) = gateway_app(Backend::Sqlite, &gateway.url).await else {
        return;
    };
    gateway
        .ack
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mut conn = identified(&gateway, "sess-z").await;
    let closed = conn.recv().await;
    assert_eq!(
        closed,
        json!({"closed": true}),
        "closes the zombied connection"
    );
    let mut resumed = gateway.next_conn().await;
    assert!(resumed.path.starts_with("/resume-here"), "{}", resumed.path);
    let resume = resumed.recv().await;
    assert_eq!(resume["op"], 6, "{resume}");
    assert_eq!(resume["d"]["session_id"], "sess-z");
    app.finish().await;
}

/// A heartbeat the server asks for (op 1) is sent at once, not at the next interval (a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_asked_for_is_sent_at_once() {
    let gateway = FakeGateway::start(60_000).await;
    let Some((app, _discord)) = gateway_app(Backend::Sqlite, &gateway.url).await else {
        return;
    };
    let conn = identified(&gateway, "sess-h").await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    let before = conn.heartbeat_count();
    let asked = Instant::now();
    conn.send(json!({"op": 1, "d": null}));
    let beats = conn
        .wait_heartbeats(before + 1, Duration::from_secs(3))
        .await;
    println!("asked-for heartbeat sent after {:?}", asked.elapsed());
    assert_eq!(
        beats[before].1,
        json!({"op": 1, "d": 1}),
        "with the last seq"
    );
    app.finish().await;
}

/// 4004 (authentication failed) is fatal: no reconnect, down in /metrics, the process serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failed_stops_without_a_loop() {
    let gateway = FakeGateway::start(300).await;
    let Some((app, _discord)) = gateway_app(Backend::Sqlite, &gateway.url).await else {
        return;
    };
    let conn = identified(&gateway, "sess-x").await;
    wait_metric(&app, "canarybot_chat_connection_up", 1).await;
    conn.close(4004);
    wait_metric(&app, "canarybot_chat_connection_up", 0).await;
    assert!(
        !gateway.connects_within(Duration::from_secs(3)).await,
        "no reconnect after 4004"
    );
    let (status, _) = app.get("/metrics").await;
    assert_eq!(status, 200, "the process serves on");
    app.finish().await;
}
