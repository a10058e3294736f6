//! `canarybot demo`: the whole loop on this machine, over real signed HTTP, with no accounts and
//! no files left behind. A temporary SQLite, the real server on a loopback port, a built-in
//! deploy-system endpoint, and the console chat.

use crate::app::{self, Options, Running};
use crate::auth::verify;
use crate::chat::ChatPort;
use crate::chat::console::ConsoleChat;
use crate::client::HookClient;
use crate::domain::State;
use crate::webhooks::SIGNATURE_HEADER;
use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
const SERVICE: &str = "checkout";
const VERSION: &str = "2.4.1";

fn say(text: &str) {
    println!("\n▶ {text}");
}

/// Random enough for a throwaway demo secret.
fn throwaway_secret(label: &str) -> String {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{label}{:?}{}",
        std::time::SystemTime::now(),
        std::process::id()
    );
    hex::encode(Sha256::digest(seed.as_bytes()))[..32].to_string()
}

pub async fn run() -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let db = dir.path().join("demo.db");
    let secret = throwaway_secret("secret");
    let token = throwaway_secret("token");

    // The deploy system: accepts the signed rollback call, then reports the rollback done the
    // way a pipeline would, with a signed `rolled_back` deploy event.
    let executor_listener = TcpListener::bind("127.0.0.1:0").await?;
    let executor_url = format!("http://{}/rollback", executor_listener.local_addr()?);
    let server_listener = TcpListener::bind("127.0.0.1:0").await?;
    let server_url = format!("http://{}", server_listener.local_addr()?);

    let vars = [
        ("CANARYBOT_DEMO_TOKEN", token.clone()),
        (
            "CANARYBOT_DEMO_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        ),
        ("CANARYBOT_DEMO_SECRET", secret.clone()),
        ("CANARYBOT_DEMO_EXECUTOR_URL", executor_url.clone()),
    ];
    let config = crate::registry::config_from_toml(DEMO_CONFIG, &|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })?;

    let hooks = Arc::new(HookClient::new(&server_url, &secret)?);
    let deploy_system = {
        let hooks = hooks.clone();
        let secret = secret.clone();
        axum::Router::new().route(
            "/rollback",
            post(move |headers: HeaderMap, body: Bytes| {
                let hooks = hooks.clone();
                let secret = secret.clone();
                async move { deploy_system(&hooks, &secret, &headers, &body) }
            }),
        )
    };
    let executor_task = tokio::spawn(async move {
        let _ = axum::serve(executor_listener, deploy_system).await;
    });

    println!(
        "canarybot demo: a canary of {SERVICE} {VERSION}, watched, breached, decided, rolled back, verified."
    );
    println!(
        "Server {server_url} (temporary SQLite {}), deploy system {executor_url}.",
        db.display()
    );
    let chat: Vec<Arc<dyn ChatPort>> = vec![Arc::new(ConsoleChat::stdout())];
    let running = app::start(
        config,
        server_listener,
        Options {
            chat,
            ..Options::default()
        },
    )
    .await?;
    let result = play(&running, &hooks, &token).await;
    running.stop().await;
    executor_task.abort();
    drop(dir);
    match result {
        Ok(()) => {
            println!(
                "\nDemo finished: the temporary database is gone. Run `canarybot serve` with your own config next."
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The built-in deploy system's answer to a rollback call.
fn deploy_system(
    hooks: &Arc<HookClient>,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, axum::Json<Value>) {
    let sig = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if let Err(e) = verify(SIGNATURE_HEADER, sig, &[secret.to_string()], body) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": e.to_string()})),
        );
    }
    let call: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    println!(
        "\n▶ deploy system: signed {} request for {} (decided by {}), rolling back {}…",
        call["action"].as_str().unwrap_or("?"),
        call["deploy_id"].as_str().unwrap_or("?"),
        call["decided_by"],
        call["version"].as_str().unwrap_or("?"),
    );
    let hooks = hooks.clone();
    let deploy_id = call["deploy_id"].as_str().unwrap_or_default().to_string();
    let drill = call["drill"].as_bool().unwrap_or(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let event = json!({
            "event": "rolled_back", "deploy_id": deploy_id, "service": SERVICE, "version": VERSION,
            "actor": "deploy-system",
            "description": if drill { "drill: rollback rehearsed on the drill twin" } else { "traffic back on 2.4.0" },
        });
        if let Err(e) = hooks.post("/hooks/deploy", &event, None).await {
            eprintln!("deploy system could not report back: {e}");
        }
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "accepted"})),
    )
}

async fn play(running: &Running, hooks: &HookClient, token: &str) -> anyhow::Result<()> {
    let deploy_id = format!("{SERVICE}:production:{VERSION}");
    let api = reqwest::Client::new();
    let base = running.url();

    say("pipeline: signed deploy event `started` for checkout 2.4.1");
    let (status, answer) = hooks
        .post(
            "/hooks/deploy",
            &json!({
                "event": "started", "service": SERVICE, "version": VERSION,
                "sha": "9f2c1e7", "actor": "github-actions",
                "description": "checkout: new payment retry policy",
            }),
            Some("demo-start-1"),
        )
        .await?;
    expect(status, 202, &answer)?;
    settle(running).await;

    let check = |five_xx: f64, p99: f64| {
        json!({"deploy_id": deploy_id, "samples": [
            {"criterion": "5xx ratio", "canary": five_xx, "baseline": 0.002},
            {"criterion": "p99 latency (s)", "canary": p99, "baseline": 0.21},
        ]})
    };
    for (five_xx, p99) in [(0.002, 0.22), (0.003, 0.23)] {
        say(&format!(
            "metrics: canary 5xx {five_xx}, p99 {p99}s — within bounds"
        ));
        let (status, answer) = hooks
            .post("/hooks/metrics", &check(five_xx, p99), None)
            .await?;
        expect(status, 202, &answer)?;
        pause(running).await;
    }
    for (five_xx, p99) in [(0.012, 0.48), (0.018, 0.62), (0.025, 0.81)] {
        say(&format!(
            "metrics: canary 5xx {five_xx}, p99 {p99}s — climbing"
        ));
        let (status, answer) = hooks
            .post("/hooks/metrics", &check(five_xx, p99), None)
            .await?;
        expect(status, 202, &answer)?;
        pause(running).await;
    }

    say("nobody answers the breach: after `remind_after` (2s here) canarybot reminds the deciders");
    wait_for_event(running, &deploy_id, "escalation_reminded").await?;
    settle(running).await;

    let vote = |identity: &str, name: &str, reason: &str| json!({"identity": identity, "name": name, "choice": "rollback", "reason": reason});
    say("Mallory (slack:U09MALLORY, not a decider) presses Roll back");
    let resp = api
        .post(format!("{base}/api/deploys/{deploy_id}/votes"))
        .bearer_auth(token)
        .json(&vote("slack:U09MALLORY", "Mallory", "looks bad"))
        .send()
        .await?;
    expect(resp.status().as_u16(), 403, &Value::Null)?;
    pause(running).await;

    say("Alice (slack:U01ALICE, a decider) presses Roll back");
    let resp = api
        .post(format!("{base}/api/deploys/{deploy_id}/votes"))
        .bearer_auth(token)
        .json(&vote(
            "slack:U01ALICE",
            "Alice",
            "p99 and 5xx climbing since 2.4.1",
        ))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    expect(status, 202, &answer)?;

    wait_for_state(running, &deploy_id, State::RolledBack).await?;
    settle(running).await;

    // After the rollback the canary is gone: recovery is judged on the baseline's values.
    let recovered = json!({"deploy_id": deploy_id, "samples": [
        {"criterion": "5xx ratio", "baseline": 0.002},
        {"criterion": "p99 latency (s)", "baseline": 0.21},
    ]});
    for _ in 0..2 {
        say("metrics after the rollback: baseline 5xx 0.002, p99 0.21s");
        let (status, answer) = hooks.post("/hooks/metrics", &recovered, None).await?;
        expect(status, 202, &answer)?;
        pause(running).await;
    }
    wait_for_state(running, &deploy_id, State::RollbackVerified).await?;
    settle(running).await;

    say(&format!(
        "the postmortem, as GET /api/deploys/{deploy_id}/timeline.md returns it (the web page: {base}/deploys/{}):\n",
        crate::present::postmortem::path_segment(&deploy_id)
    ));
    let md = api
        .get(format!("{base}/api/deploys/{deploy_id}/timeline.md"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    println!("{md}");

    drill(running, &api, token).await
}

/// A rollback drill of the same service: a synthetic breach, the same vote and rollback path,
/// then the drill history.
async fn drill(running: &Running, api: &reqwest::Client, token: &str) -> anyhow::Result<()> {
    let base = running.url();
    say(
        "a rollback drill of checkout (as `/canary drill checkout` would start it): a synthetic breach at once",
    );
    let resp = api
        .post(format!("{base}/api/drills"))
        .bearer_auth(token)
        .json(&json!({"service": SERVICE, "breach_after": "0s", "actor": "Alice"}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    expect(status, 201, &answer)?;
    let id = answer["id"].as_str().unwrap_or_default().to_string();
    wait_for_state(running, &id, State::Breached).await?;
    settle(running).await;
    say("Alice presses Roll back in the drill's thread");
    let resp = api
        .post(format!("{base}/api/deploys/{id}/votes"))
        .bearer_auth(token)
        .json(&json!({"identity": "slack:U01ALICE", "name": "Alice", "choice": "rollback", "reason": "drill"}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    expect(status, 202, &answer)?;
    wait_for_state(running, &id, State::RollbackVerified).await?;
    settle(running).await;
    say("the drill history, as `canarybot drills` and `/canary drills` show it:\n");
    let history = crate::drill::drill_history(running.engine.store(), Some(SERVICE)).await?;
    print!("{}", crate::present::drills::to_text(&history));
    Ok(())
}

fn expect(got: u16, want: u16, answer: &Value) -> anyhow::Result<()> {
    if got != want {
        bail!("expected HTTP {want}, got {got}: {answer}");
    }
    Ok(())
}

/// Waits until the chat outbox is delivered, so the console reads in order.
async fn settle(running: &Running) {
    for _ in 0..100 {
        if running.engine.store().outbox_backlog().await.unwrap_or(0) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A beat between steps so the phases have measurable lengths.
async fn pause(running: &Running) {
    settle(running).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
}

async fn wait_for_event(running: &Running, deploy_id: &str, kind: &str) -> anyhow::Result<()> {
    // The ticker that runs escalation steps asks every two seconds.
    for _ in 0..200 {
        let (_, events) = running.engine.load(deploy_id).await?;
        if events.iter().any(|e| e.data.kind() == kind) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("timed out waiting for `{kind}`")
}

async fn wait_for_state(running: &Running, deploy_id: &str, want: State) -> anyhow::Result<()> {
    for _ in 0..200 {
        let (deploy, _) = running.engine.load(deploy_id).await?;
        if deploy.state == want {
            return Ok(());
        }
        if matches!(deploy.state, State::RollbackFailed | State::Failed) {
            bail!(
                "deploy ended {} while waiting for {}",
                deploy.state.as_str(),
                want.as_str()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "timed out waiting for the deploy to become {}",
        want.as_str()
    )
}
