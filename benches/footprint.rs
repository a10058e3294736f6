//! Item 5: start to ready, and idle RSS, of the release binary `canarybot serve` with a typical
//! configuration (Slack, Prometheus, three services with criteria; SQLite).
//!
//! `cargo bench --bench footprint`
//!
//! - Start to ready: from spawning the process to the first 200 on `GET /readyz` (polled every
//!   millisecond), `FOOTPRINT_STARTS` (20) times on a fresh database (file created, migrations
//!   run) and as many times on the existing one (a restart). Baseline: spawning
//!   `canarybot --version` to its exit, the cost of starting the process at all.
//! - Idle RSS: `VmRSS` after `FOOTPRINT_IDLE_S` (5) seconds of idling (the scheduler and the clock
//!   tick meanwhile), with `VmHWM` and the CPU used while idle. Baseline: RSS at the moment it
//!   became ready.
//!
//! Knobs: `FOOTPRINT_STARTS`, `FOOTPRINT_IDLE_S`, `FOOTPRINT_BACKEND` (`sqlite`, `postgres`,
//! `both`; default `sqlite`).

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn config(port: u16, db: &str, slack: &str, prom: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://canarybot.example.com\"\napi_tokens = [\"{TOKEN}\"]\n\
         [database]\nurl = \"{db}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n\
         [slack]\nbot_token = \"xoxb-bench\"\nsigning_secrets = [\"{SLACK_SECRET}\"]\napi_url = \"{slack}\"\n\
         [prometheus]\nurl = \"{prom}\"\n"
    );
    for (name, channel) in [
        ("checkout", "C0CHECKOUT"),
        ("search", "C0SEARCH"),
        ("payments", "C0PAYMENTS"),
    ] {
        text.push_str(&format!(
            "\n[[service]]\nname = \"{name}\"\nslack_channel = \"{channel}\"\n\
             deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]\ncheck_interval = \"30s\"\n\
             [service.rollback]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"\n"
        ));
        text.push_str(
            "[[service.criteria]]\nname = \"5xx ratio\"\n\
             query = 'sum(rate(http_errors_total{service=\"{{service}}\",track=\"{{track}}\"}[1m]))'\n\
             max = 0.01\nmax_ratio = 1.5\nfailure_limit = 3\n\
             [[service.criteria]]\nname = \"p99 latency\"\nmax = 0.5\nfailure_limit = 2\nunit = \"s\"\n",
        );
    }
    text
}

async fn run(backend: &str, starts: usize, idle_s: u64) {
    println!("\n-- footprint on {backend}");
    let slack = FakeSlack::start().await;
    let prom = FakePrometheus::start(false).await;

    // Baseline: the process alone.
    let mut exec_ms = Vec::new();
    for _ in 0..starts {
        let t = Instant::now();
        let out = Command::new(binary())
            .arg("--version")
            .output()
            .expect("canarybot --version");
        assert!(out.status.success());
        exec_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    let window = Window::start(None);
    let mut fresh_ms = Vec::new();
    let mut restart_ms = Vec::new();
    let mut ready_rss = Vec::new();
    for i in 0..starts {
        let dir = tempdir();
        let db = Db::new(backend, dir.path(), &format!("footprint{i}")).await;
        let port = free_port();
        let cfg = write_config(
            dir.path(),
            &config(port, &db.url, &slack.api_url, &prom.url),
        );
        let server = Server::start(dir.path(), &cfg, port).await;
        fresh_ms.push(server.ready_after.as_secs_f64() * 1000.0);
        ready_rss.push(server.rss_mib().0);
        server.stop();
        let port = free_port();
        let cfg = write_config(
            dir.path(),
            &config(port, &db.url, &slack.api_url, &prom.url),
        );
        let server = Server::start(dir.path(), &cfg, port).await;
        restart_ms.push(server.ready_after.as_secs_f64() * 1000.0);
        server.stop();
        db.drop_now().await;
    }
    let starts_load = window.report();

    // Idle.
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "footprint_idle").await;
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &config(port, &db.url, &slack.api_url, &prom.url),
    );
    let server = Server::start(dir.path(), &cfg, port).await;
    let at_ready = server.rss_mib().0;
    let window = Window::start(Some(server.pid));
    tokio::time::sleep(Duration::from_secs(idle_s)).await;
    let cpu = window.server_cpu();
    let idle_load = window.report();
    let (rss, hwm) = server.rss_mib();
    server.stop();
    db.drop_now().await;

    let exec = summary(&exec_ms);
    let fresh = summary(&fresh_ms);
    let restart = summary(&restart_ms);
    let rr = summary(&ready_rss);
    println!("baseline `canarybot --version` (spawn to exit): {exec}");
    println!(
        "start to ready, fresh database (created + migrated): {fresh}; ratio to baseline {:.1}× (median); target ≤ 300 ms: {}",
        fresh.p50 / exec.p50,
        if fresh.p50 <= 300.0 {
            "met (median)"
        } else {
            "MISSED (median)"
        }
    );
    println!(
        "start to ready, existing database (restart): {restart}; ratio to baseline {:.1}× (median); target ≤ 300 ms: {}",
        restart.p50 / exec.p50,
        if restart.p50 <= 300.0 {
            "met (median)"
        } else {
            "MISSED (median)"
        }
    );
    println!("  {starts_load}");
    println!(
        "RSS at ready: median {:.1} MiB (max {:.1}); after {idle_s}s idle: {rss:.1} MiB (VmHWM {hwm:.1} MiB), {:.2}% of one core while idle; ratio idle/ready {:.2}×; target ≤ 30 MB: {}",
        rr.p50,
        rr.max,
        cpu / idle_s as f64 * 100.0,
        rss / at_ready.max(1e-6),
        if rss * 1.048576 <= 30.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    println!("  {idle_load}");
}

fn main() {
    header("item 5: start to ready, idle RSS");
    let starts = env_or("FOOTPRINT_STARTS", 20usize);
    let idle_s = env_or("FOOTPRINT_IDLE_S", 5u64);
    let rt = runtime();
    for backend in backends("FOOTPRINT_BACKEND", "sqlite") {
        rt.block_on(run(backend, starts, idle_s));
    }
}
