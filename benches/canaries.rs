//! Item 3: 1,000 active canaries, two Prometheus-query criteria each, checked every 10 s against a
//! fake Prometheus: the bot's CPU share (of one core) and peak RSS over a steady-state window of at
//! least 60 s. Baseline: the same server with no canary, measured first in the same run.
//!
//! `cargo bench --bench canaries`
//!
//! The server is the release binary with `[slack]` (a fake Slack in this process takes the roots
//! and their updates) and `[prometheus]` (a fake answering every query with one series whose value
//! moves a little with every answer, as live values do, so each check has new latest values for
//! the thread's status table). The canaries are opened through the signed deploy webhook, spread
//! over 10 services; `canary_window` is 1 h so no window closes during the run.
//!
//! Knobs: `CANARIES` (1000), `CANARIES_SECONDS` (60), `CANARIES_INTERVAL` (`10s`),
//! `CANARIES_BACKEND` (`sqlite`, `postgres`, `both`; default `sqlite`), `CANARIES_JITTER=0` for
//! constant values.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const SERVICES: usize = 10;

fn config(port: u16, db: &str, slack: &str, prom: &str, interval: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\napi_tokens = [\"{TOKEN}\"]\n\
         [database]\nurl = \"{db}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n\
         [slack]\nbot_token = \"xoxb-bench\"\nsigning_secrets = [\"{SLACK_SECRET}\"]\napi_url = \"{slack}\"\n\
         [prometheus]\nurl = \"{prom}\"\n"
    );
    for s in 0..SERVICES {
        text.push_str(&format!(
            "\n[[service]]\nname = \"svc{s:02}\"\nslack_channel = \"C0SVC{s:02}\"\n\
             deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]\n\
             check_interval = \"{interval}\"\ncanary_window = \"1h\"\n\
             tracks = {{ canary = \"canary\", baseline = \"stable\" }}\n"
        ));
        // Literal strings: the templates keep their braces.
        text.push_str(
            "[[service.criteria]]\nname = \"error ratio\"\n\
             query = 'sum(rate(http_errors_total{service=\"{{service}}\",version=\"{{version}}\",track=\"{{track}}\"}[1m])) / sum(rate(http_requests_total{service=\"{{service}}\",track=\"{{track}}\"}[1m]))'\n\
             max = 0.05\nmax_ratio = 3\nfailure_limit = 3\n\
             [[service.criteria]]\nname = \"p99 latency\"\n\
             query = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"{{service}}\",track=\"{{track}}\"}[1m])))'\n\
             max = 0.5\nunit = \"s\"\nfailure_limit = 3\n",
        );
    }
    text
}

/// Samples RSS every second over `secs`; returns (max VmRSS, CPU s, Prometheus queries, Slack
/// calls) over the window.
async fn watch(
    server: &Server,
    prom: &FakePrometheus,
    slack: &FakeSlack,
    secs: u64,
) -> (f64, f64, u64, u64, Window) {
    let window = Window::start(Some(server.pid));
    let (q0, s0) = (prom.queries(), slack.total());
    let mut max_rss = 0.0f64;
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        max_rss = max_rss.max(server.rss_mib().0);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    max_rss = max_rss.max(server.rss_mib().0);
    let cpu = window.server_cpu();
    (
        max_rss,
        cpu,
        prom.queries() - q0,
        slack.total() - s0,
        window,
    )
}

async fn run(backend: &str, n: usize, secs: u64, interval: &str, jitter: bool) {
    println!("\n-- {n} canaries on {backend}, check_interval {interval}, {secs}s window");
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "canaries").await;
    let slack = FakeSlack::start().await;
    let prom = FakePrometheus::start(jitter).await;
    let port = free_port();
    let cfg = write_config(
        dir.path(),
        &config(port, &db.url, &slack.api_url, &prom.url, interval),
    );
    let server = Server::start(dir.path(), &cfg, port).await;
    let url = server.url.clone();

    // Baseline: the same server, no canary.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_secs = (secs / 6).max(10);
    let (base_rss, base_cpu, _, _, base_window) = watch(&server, &prom, &slack, base_secs).await;
    let base_load = base_window.report();

    // Open the canaries through the signed deploy webhook.
    let opened = Instant::now();
    {
        let url = format!("{url}/hooks/deploy");
        for_each_concurrent(n, 64, move |http, i| {
            let url = url.clone();
            async move {
                let body = json!({"event": "started", "service": format!("svc{:02}", i % SERVICES),
                    "version": format!("3.{i}.0"), "sha": "abc1234", "actor": "ci"});
                let (s, b) = post_signed(&http, &url, &body, Some(&format!("canary-{i}"))).await;
                assert_eq!(s, 202, "{b}");
            }
        })
        .await;
    }
    println!(
        "opened {n} canaries in {:.1}s; waiting for their roots and a full round of checks",
        opened.elapsed().as_secs_f64()
    );
    let interval_s = humantime::parse_duration(interval)
        .unwrap_or(Duration::from_secs(10))
        .as_secs_f64();
    // Steady state: every root posted, and two full intervals of checks behind us.
    let settle = Instant::now();
    while slack.count("chat.postMessage") < n as u64 && settle.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let since_open = opened.elapsed().as_secs_f64();
    let wait = (2.0 * interval_s - since_open).max(interval_s);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;

    let (max_rss, cpu, queries, slack_calls, window) = watch(&server, &prom, &slack, secs).await;
    let wall = window.elapsed().as_secs_f64();
    let load = window.report();
    let (rss_now, hwm) = server.rss_mib();
    let share = cpu / wall;
    let checks = queries as f64 / 4.0;
    println!(
        "baseline (no canary, {base_secs}s): CPU {:.2}% of one core, RSS {base_rss:.1} MiB",
        base_cpu / base_window.elapsed().as_secs_f64() * 100.0
    );
    println!("  {base_load}");
    println!(
        "{n} canaries: CPU {:.1}% of one core ({cpu:.2}s over {wall:.1}s); RSS max {max_rss:.1} MiB sampled, now {rss_now:.1} MiB, peak (VmHWM) {hwm:.1} MiB",
        share * 100.0
    );
    println!(
        "  work in the window: {queries} Prometheus queries = {checks:.0} deploy checks ({:.1}/s; {} expected at one per canary per {interval}), {slack_calls} Slack calls ({:.1}/s); {:.2} ms CPU per check",
        checks / wall,
        (n as f64 * wall / interval_s).round(),
        slack_calls as f64 / wall,
        cpu * 1000.0 / checks.max(1.0)
    );
    println!("  {load}");
    println!(
        "ratio to baseline: CPU {:.1}×, RSS {:.2}×; targets CPU < 25% of one core: {}, RSS < 150 MB: {}",
        share / (base_cpu / base_window.elapsed().as_secs_f64()).max(1e-6),
        hwm / base_rss.max(1e-6),
        if share < 0.25 { "met" } else { "MISSED" },
        if hwm * 1.048576 < 150.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    for w in server.warnings(3) {
        println!("server log: {w}");
    }
    server.stop();
    db.drop_now().await;
}

fn main() {
    header("item 3: active canaries against a fake Prometheus");
    let n = env_or("CANARIES", 1000usize);
    let secs = env_or("CANARIES_SECONDS", 60u64);
    let interval = std::env::var("CANARIES_INTERVAL").unwrap_or_else(|_| "10s".into());
    let jitter = std::env::var("CANARIES_JITTER").map_or(true, |v| v != "0");
    let rt = runtime();
    for backend in backends("CANARIES_BACKEND", "sqlite") {
        rt.block_on(run(backend, n, secs, &interval, jitter));
    }
}
