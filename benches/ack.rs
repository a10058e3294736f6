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
//! Scenarios (`ACK_SCENARIO`: `spread`, `burst`, `paced` or `all`, the default):
//! - `spread`: 64 services with one canary each; connection `c` votes on service `c`.
//! - `burst`: `ACK_REQUESTS` rounds; each opens a new canary and all 64 connections vote on it at
//!   the same moment (64 people voting on one canary at once).
//! - `paced`: as `spread`, but at `ACK_RATE` votes/s in all (default 100) for `ACK_PACED_SECONDS`
//!   (20): latency below saturation, counted from when each vote was due.
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

/// Runs `per_conn` requests on each connection, each as soon as the previous one is answered;
/// returns the latencies (ms) and the wall time.
async fn closed_loop<F, Fut>(
    clients: &[reqwest::Client],
    per_conn: usize,
    job: F,
) -> (Vec<f64>, Duration)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = f64> + Send,
{
    paced_loop(clients, per_conn, None, job).await
}

/// Like [`closed_loop`], but with `rate` (requests/s, all connections together) the requests are
/// sent on a schedule, spread evenly over the connections; a request sent late (its connection
/// still waiting for the previous answer) counts from when it should have been sent.
async fn paced_loop<F, Fut>(
    clients: &[reqwest::Client],
    per_conn: usize,
    rate: Option<f64>,
    job: F,
) -> (Vec<f64>, Duration)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = f64> + Send,
{
    let job = Arc::new(job);
    let all = Arc::new(Mutex::new(Vec::with_capacity(clients.len() * per_conn)));
    let start = Instant::now();
    let conns = clients.len();
    let mut tasks = Vec::new();
    for (c, http) in clients.iter().enumerate() {
        let (job, all, http) = (job.clone(), all.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::with_capacity(per_conn);
            for k in 0..per_conn {
                let late_ms = match rate {
                    Some(r) => {
                        let due = start + Duration::from_secs_f64((k * conns + c) as f64 / r);
                        tokio::time::sleep_until(due.into()).await;
                        due.elapsed().as_secs_f64() * 1000.0
                    }
                    None => 0.0,
                };
                mine.push(late_ms + job(http.clone(), c, k).await);
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

/// Reads every timeline and counts `vote_cast` events.
async fn stored_votes(http: &reqwest::Client, url: &str, deploys: &[String]) -> usize {
    let mut stored = 0;
    for id in deploys {
        let r = http
            .get(format!("{url}/api/deploys/{id}/timeline"))
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
    stored
}

async fn start_deploy(http: &reqwest::Client, url: &str, service: &str, version: &str) -> String {
    let (status, body) = post_signed(
        http,
        &format!("{url}/hooks/deploy"),
        &json!({"event": "started", "service": service, "version": version}),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    format!("{service}:production:{version}")
}

/// One vote's outcome: its latency (NaN when refused), and whether it was acknowledged as counted.
fn judge(r: Result<(f64, String), String>, errors: &Mutex<Vec<String>>) -> f64 {
    match r {
        Ok((ms, text)) if text.contains("Counting your rollback vote") => ms,
        Ok((_, text)) => {
            errors.lock().expect("errors").push(text);
            f64::NAN
        }
        Err(e) => {
            errors.lock().expect("errors").push(e);
            f64::NAN
        }
    }
}

/// `spread`: connection c votes on service c's canary, `per_conn` times in a closed loop, each
/// time as another person (so the group has `WARMUP + per_conn` members, a large Slack group).
/// `burst`: `per_conn` rounds; each round opens a new canary of one service and every connection
/// votes on it at the same moment, as `conns` people (the group has `conns` members).
async fn scenario(backend: &str, mode: Mode, conns: usize, per_conn: usize) {
    let (spread, rate) = match mode {
        Mode::Spread => (true, None),
        Mode::Paced(r) => (true, Some(r)),
        Mode::Burst => (false, None),
    };
    let name = match mode {
        Mode::Spread => {
            format!("spread: {conns} canaries, connection c votes on canary c, closed loop")
        }
        Mode::Paced(r) => format!(
            "paced: {conns} canaries, connection c votes on canary c, {r:.0} votes/s in all ({per_conn} per connection)"
        ),
        Mode::Burst => {
            format!("burst: {per_conn} rounds of {conns} people voting on one new canary at once")
        }
    };
    println!("\n-- ack on {backend}; {name}");
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "ack").await;
    let slack = FakeSlack::start().await;
    let voter = move |c: usize, k: usize| {
        if spread {
            format!("UB{k:05}")
        } else {
            format!("UB{c:05}")
        }
    };
    let members: Vec<String> = if spread {
        (0..WARMUP + per_conn).map(|k| voter(0, k)).collect()
    } else {
        (0..conns).map(|c| voter(c, 0)).collect()
    };
    let group_size = members.len();
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
    let mut deploys = Vec::new();
    if spread {
        for s in 0..services {
            deploys.push(start_deploy(&http, &url, &format!("svc{s:02}"), "1.0.0").await);
        }
    }
    // One keep-alive connection per task, kept for the whole scenario.
    let clients: Vec<reqwest::Client> = (0..conns).map(|_| one_connection_client()).collect();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));

    // Warm-up: connections opened, the Slack group cached, code paths touched.
    if spread {
        let (url, errors) = (url.clone(), errors.clone());
        closed_loop(&clients, WARMUP, move |http, c, k| {
            let (url, errors) = (url.clone(), errors.clone());
            async move {
                let _ = healthz(&http, &url).await;
                judge(
                    rollback(&http, &url, &format!("svc{c:02}"), &voter(c, k)).await,
                    &errors,
                )
            }
        })
        .await;
    } else {
        deploys.push(start_deploy(&http, &url, "svc00", "0.0.0-warm").await);
        let (url, errors) = (url.clone(), errors.clone());
        closed_loop(&clients, 1, move |http, c, _| {
            let (url, errors) = (url.clone(), errors.clone());
            async move {
                let _ = healthz(&http, &url).await;
                judge(rollback(&http, &url, "svc00", &voter(c, 0)).await, &errors)
            }
        })
        .await;
    }
    wait_outbox_empty(&http, &url, Duration::from_secs(120)).await;

    // Baseline: GET /healthz, same server, same connections.
    let window = Window::start(Some(server.pid));
    let (base, base_wall) = {
        let url = url.clone();
        paced_loop(&clients, per_conn, rate, move |http, _, _| {
            let url = url.clone();
            async move { healthz(&http, &url).await }
        })
        .await
    };
    let base_load = window.report();

    // The votes.
    let warm_errors = errors.lock().expect("errors").len();
    let window = Window::start(Some(server.pid));
    let (votes, votes_wall) = if spread {
        let (url, errors) = (url.clone(), errors.clone());
        paced_loop(&clients, per_conn, rate, move |http, c, k| {
            let (url, errors) = (url.clone(), errors.clone());
            async move {
                judge(
                    rollback(&http, &url, &format!("svc{c:02}"), &voter(c, WARMUP + k)).await,
                    &errors,
                )
            }
        })
        .await
    } else {
        let mut all = Vec::new();
        let mut busy = Duration::ZERO;
        for r in 0..per_conn {
            deploys.push(start_deploy(&http, &url, "svc00", &format!("1.0.{r:05}")).await);
            let (url2, errors) = (url.clone(), errors.clone());
            let (v, wall) = closed_loop(&clients, 1, move |http, c, _| {
                let (url, errors) = (url2.clone(), errors.clone());
                async move { judge(rollback(&http, &url, "svc00", &voter(c, 0)).await, &errors) }
            })
            .await;
            busy += wall;
            all.extend(v);
        }
        (all, busy)
    };
    let vote_load = window.report();
    let server_cpu_votes = window.server_cpu();
    // Checked at once: a vote acknowledged must already be in the store.
    let stored = stored_votes(&http, &url, &deploys).await;
    let expected = if spread {
        conns * (WARMUP + per_conn)
    } else {
        conns * (1 + per_conn)
    };

    let counted: Vec<f64> = votes.iter().copied().filter(|v| v.is_finite()).collect();
    let b = summary(&base);
    let v = summary(&counted);
    println!(
        "baseline GET /healthz:   {b}  ({:.0} req/s)",
        base.len() as f64 / base_wall.as_secs_f64()
    );
    println!("  {base_load}");
    println!(
        "signed Slack /rollback:  {v}  ({:.0} votes/s{}; server CPU {:.2} ms per vote)",
        counted.len() as f64 / votes_wall.as_secs_f64(),
        if spread { "" } else { " within the bursts" },
        server_cpu_votes * 1000.0 / counted.len().max(1) as f64
    );
    println!("  {vote_load}");
    println!(
        "ratio to baseline: p50 {:.1}×, p99 {:.1}×, max {:.1}×; target p99 ≤ 10 ms: {}",
        v.p50 / b.p50,
        v.p99 / b.p99,
        v.max / b.max,
        if v.p99 <= 10.0 { "met" } else { "MISSED" }
    );
    if rate.is_some() {
        println!("  (paced: latencies count from when each request was due)");
    }
    println!(
        "stored: {stored}/{expected} votes in the timelines right after the last acknowledgement ({} of {} acknowledged as counted in the measured run){}",
        counted.len(),
        votes.len(),
        if stored == expected {
            ""
        } else {
            " — MISSING VOTES: acknowledged before they were stored"
        }
    );
    let errors = errors.lock().expect("errors").clone();
    if !errors.is_empty() {
        println!(
            "not acknowledged as counted: {} ({} in the warm-up; first: {})",
            errors.len(),
            warm_errors,
            errors.first().cloned().unwrap_or_default()
        );
    }
    println!(
        "Slack user group of {group_size} members; fake Slack saw {} calls ({} usergroups.users.list)",
        slack.total(),
        slack.count("usergroups.users.list")
    );
    for w in server.warnings(3) {
        println!("server log: {w}");
    }
    server.stop();
    db.drop_now().await;
}

#[derive(Clone, Copy)]
enum Mode {
    Spread,
    Burst,
    Paced(f64),
}

fn main() {
    header("item 1: Slack /rollback acknowledgement at 64 connections");
    let conns = env_or("ACK_CONNECTIONS", 64usize);
    let per_conn = env_or("ACK_REQUESTS", 100usize);
    let rate = env_or("ACK_RATE", 100.0f64);
    let paced_s = env_or("ACK_PACED_SECONDS", 20.0f64);
    let which = std::env::var("ACK_SCENARIO").unwrap_or_else(|_| "all".into());
    let rt = runtime();
    for backend in backends("ACK_BACKEND", "sqlite") {
        if which == "spread" || which == "all" {
            rt.block_on(scenario(backend, Mode::Spread, conns, per_conn));
        }
        if which == "burst" || which == "all" {
            rt.block_on(scenario(backend, Mode::Burst, conns, per_conn));
        }
        if which == "paced" || which == "all" {
            let n = ((rate * paced_s) as usize).div_ceil(conns).max(1);
            rt.block_on(scenario(backend, Mode::Paced(rate), conns, n));
        }
    }
}
