//! Item 1: signed Slack `/rollback` acknowledgement latency at 64 concurrent keep-alive
//! connections over loopback, each vote stored before its acknowledgement; baseline `GET /healthz`
//! on the same server, same connections, same run.
//!
//! `cargo bench --bench ack`
//!
//! The server is the release binary (`canarybot serve`) with `[slack]` pointed at a fake Slack in
//! this process (which answers `usergroups.users.list` and takes the thread's posts). Every
//! service's deciders are one Slack user group holding every bench voter, and `rollback_quorum`
//! is out of reach, so every vote is counted and none decides. Each request is a distinct voter,
//! so no vote is a repeat. After the run every deploy's timeline must hold one `vote_cast` per
//! vote.
//!
//! Scenarios (`ACK_SCENARIO`, default `both`):
//! - `spread`: 64 services with one canary each; connection `c` votes on service `c`.
//! - `one`: every connection votes on the same deploy (64 people voting on one canary at once).
//!
//! Knobs: `ACK_REQUESTS` votes per connection (default 100), `ACK_CONNECTIONS` (64),
//! `ACK_BACKEND` (`sqlite`, `postgres`, `both`; default `sqlite`), `BENCH_POSTGRES_URL`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WARMUP: usize = 2;

fn config(port: u16, db: &str, slack_api: &str, services: usize) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\napi_tokens = [\"{TOKEN}\"]\n\
         [database]\nurl = \"{db}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n\
         [slack]\nbot_token = \"xoxb-bench\"\nsigning_secrets = [\"{SLACK_SECRET}\"]\napi_url = \"{slack_api}\"\n"
    );
    for s in 0..services {
        text.push_str(&format!(
            "\n[[service]]\nname = \"svc{s:02}\"\nslack_channel = \"C0BENCH{s:02}\"\n\
             deciders = [\"slack-group:S0BENCH\"]\nrollback_quorum = 1000000\n\
             [[service.criteria]]\nname = \"5xx ratio\"\nmax = 0.01\nmax_ratio = 1.5\nfailure_limit = 3\n\
             [[service.criteria]]\nname = \"p99 latency\"\nmax = 0.5\nfailure_limit = 2\n"
        ));
    }
    text
}

/// A `/rollback <service> …` slash command from `user`, signed as Slack signs.
async fn rollback(
    http: &reqwest::Client,
    url: &str,
    service: &str,
    user: &str,
) -> Result<(f64, String), String> {
    let form = serde_urlencoded::to_string([
        ("token", "ignored"),
        ("team_id", "T0BENCH"),
        ("channel_id", "C0BENCH00"),
        ("user_id", user),
        ("user_name", user),
        ("command", "/rollback"),
        ("text", &format!("{service} bench vote")),
        ("response_url", "https://hooks.slack.com/commands/T0/1/x"),
        ("trigger_id", "1.2.3"),
    ])
    .expect("form");
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = canarybot::auth::slack_sign(SLACK_SECRET, &ts, form.as_bytes());
    let sent = Instant::now();
    let resp = http
        .post(format!("{url}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    let ms = sent.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        return Err(format!("HTTP {status}: {text}"));
    }
    Ok((ms, text))
}

async fn healthz(http: &reqwest::Client, url: &str) -> f64 {
    let sent = Instant::now();
    let r = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
    let _ = r.bytes().await;
    sent.elapsed().as_secs_f64() * 1000.0
}

/// Runs `per_conn` requests on each of `conns` connections; returns the latencies (ms) and the
/// wall time.
async fn closed_loop<F, Fut>(
    clients: &[reqwest::Client],
    per_conn: usize,
    job: F,
) -> (Vec<f64>, Duration)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = f64> + Send,
{
    let job = Arc::new(job);
    let all = Arc::new(Mutex::new(Vec::with_capacity(clients.len() * per_conn)));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, http) in clients.iter().enumerate() {
        let (job, all, http) = (job.clone(), all.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(per_conn);
            for k in 0..per_conn {
                mine.push(job(http.clone(), c, k).await);
            }
            all.lock().expect("all").extend(mine);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let wall = start.elapsed();
    let v = all.lock().expect("all").clone();
    (v, wall)
}

async fn scenario(backend: &str, spread: bool, conns: usize, per_conn: usize) {
    let name = if spread {
        format!("{conns} deploys, one per connection")
    } else {
        "one deploy, every connection".to_string()
    };
    println!("\n-- ack on {backend}: {name}");
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "ack").await;
    let slack = FakeSlack::start().await;
    // Voter `U<c>_<k>`: connection c's k-th vote (warm-up votes first).
    let voter = |c: usize, k: usize| format!("UB{c:03}X{k:05}");
    let members: Vec<String> = (0..conns)
        .flat_map(|c| (0..WARMUP + per_conn).map(move |k| voter(c, k)))
        .collect();
    slack
        .groups
        .lock()
        .expect("groups")
        .insert("S0BENCH".into(), members);
    let services = if spread { conns } else { 1 };
    let port = free_port();
    let cfg = write_config(dir.path(), &config(port, &db.url, &slack.api_url, services));
    let server = Server::start(dir.path(), &cfg, port).await;
    let url = server.url.clone();
    let http = client();
    for s in 0..services {
        let (status, body) = post_signed(
            &http,
            &format!("{url}/hooks/deploy"),
            &json!({"event": "started", "service": format!("svc{s:02}"), "version": "1.0.0"}),
            None,
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    let service_of = move |c: usize| {
        if spread {
            format!("svc{c:02}")
        } else {
            "svc00".to_string()
        }
    };

    // One keep-alive connection per task, kept for the whole scenario.
    let clients: Vec<reqwest::Client> = (0..conns).map(|_| one_connection_client()).collect();
    // Warm-up: connections opened, Slack group cached, code paths touched.
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (url, errors) = (url.clone(), errors.clone());
        closed_loop(&clients, WARMUP, move |http, c, k| {
            let (url, errors, svc) = (url.clone(), errors.clone(), service_of(c));
            async move {
                let _ = healthz(&http, &url).await;
                match rollback(&http, &url, &svc, &voter(c, k)).await {
                    Ok((ms, _)) => ms,
                    Err(e) => {
                        errors.lock().expect("errors").push(e);
                        0.0
                    }
                }
            }
        })
        .await;
    }
    wait_outbox_empty(&http, &url, Duration::from_secs(60)).await;

    // Baseline: GET /healthz, same server, same connections.
    let window = Window::start(Some(server.pid));
    let (base, base_wall) = {
        let url = url.clone();
        closed_loop(&clients, per_conn, move |http, _, _| {
            let url = url.clone();
            async move { healthz(&http, &url).await }
        })
        .await
    };
    let base_load = window.report();

    // The votes.
    let acks = Arc::new(Mutex::new(0usize));
    let window = Window::start(Some(server.pid));
    let (votes, votes_wall) = {
        let (url, errors, acks) = (url.clone(), errors.clone(), acks.clone());
        closed_loop(&clients, per_conn, move |http, c, k| {
            let (url, errors, acks, svc) =
                (url.clone(), errors.clone(), acks.clone(), service_of(c));
            async move {
                match rollback(&http, &url, &svc, &voter(c, WARMUP + k)).await {
                    Ok((ms, text)) => {
                        if text.contains("Counting your rollback vote") {
                            *acks.lock().expect("acks") += 1;
                        } else {
                            errors.lock().expect("errors").push(text);
                        }
                        ms
                    }
                    Err(e) => {
                        errors.lock().expect("errors").push(e);
                        f64::NAN
                    }
                }
            }
        })
        .await
    };
    let vote_load = window.report();
    let server_cpu_votes = window.server_cpu();
    // Checked at once: a vote acknowledged must already be in the store.
    let mut stored = 0usize;
    for s in 0..services {
        let r = http
            .get(format!(
                "{url}/api/deploys/svc{s:02}:production:1.0.0/timeline"
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("timeline");
        let v: Value = r.json().await.expect("timeline json");
        stored += v["events"]
            .as_array()
            .map(|e| e.iter().filter(|e| e["kind"] == "vote_cast").count())
            .unwrap_or(0);
    }
    let expected = conns * (WARMUP + per_conn);

    let votes: Vec<f64> = votes.into_iter().filter(|v| v.is_finite()).collect();
    let b = summary(&base);
    let v = summary(&votes);
    println!(
        "baseline GET /healthz:   {b}  ({:.0} req/s)",
        base.len() as f64 / base_wall.as_secs_f64()
    );
    println!("  {base_load}");
    println!(
        "signed Slack /rollback:  {v}  ({:.0} votes/s; server CPU {:.2} ms per vote)",
        votes.len() as f64 / votes_wall.as_secs_f64(),
        server_cpu_votes * 1000.0 / votes.len().max(1) as f64
    );
    println!("  {vote_load}");
    println!(
        "ratio to baseline: p50 {:.1}×, p99 {:.1}×, max {:.1}×; target p99 ≤ 10 ms: {}",
        v.p50 / b.p50,
        v.p99 / b.p99,
        v.max / b.max,
        if v.p99 <= 10.0 { "met" } else { "MISSED" }
    );
    println!(
        "stored: {stored}/{expected} votes in the timelines right after the last acknowledgement ({} acknowledged in the measured run){}",
        *acks.lock().expect("acks"),
        if stored == expected {
            ""
        } else {
            " — MISSING VOTES"
        }
    );
    let errors = errors.lock().expect("errors").clone();
    if !errors.is_empty() {
        println!(
            "errors: {} (first: {})",
            errors.len(),
            errors.first().cloned().unwrap_or_default()
        );
    }
    println!(
        "fake Slack saw {} calls ({} usergroups.users.list)",
        slack.total(),
        slack.count("usergroups.users.list")
    );
    for w in server.warnings(3) {
        println!("server log: {w}");
    }
    server.stop();
    db.drop_now().await;
}

fn main() {
    header("item 1: Slack /rollback acknowledgement at 64 connections");
    let conns = env_or("ACK_CONNECTIONS", 64usize);
    let per_conn = env_or("ACK_REQUESTS", 100usize);
    let which = std::env::var("ACK_SCENARIO").unwrap_or_else(|_| "both".into());
    let rt = runtime();
    for backend in backends("ACK_BACKEND", "sqlite") {
        if which == "spread" || which == "both" {
            rt.block_on(scenario(backend, true, conns, per_conn));
        }
        if which == "one" || which == "both" {
            rt.block_on(scenario(backend, false, conns, per_conn));
        }
    }
}
