//! Item 4 (export): the timeline of a deploy with 10,000 events, exported as JSON
//! (`GET /api/deploys/{id}/timeline`), as the Markdown postmortem (`…/timeline.md`) and as the web
//! page (`GET /deploys/{id}`): median and max of `EXPORT_RUNS` (20) requests each, one after the
//! other on one keep-alive connection. Baseline: `GET /api/deploys/{id}`, which reads and folds the
//! same 10,000 events and renders only the deploy. Item 4's detection latency is
//! `cargo bench --bench detection`.
//!
//! `cargo bench --bench export`
//!
//! The events are made the way production makes them: signed metric pushes to a service with 50
//! pushed criteria (failure limit 2), every criterion failing on one push and passing again on the
//! next, so each push records 50 events (`check_failed`, then `recovered`) and stores 50 samples;
//! 200 pushes give 10,000 events after `deploy_started` and `criteria_locked`.
//!
//! Knobs: `EXPORT_EVENTS` (10000, rounded up to a multiple of 50), `EXPORT_RUNS` (20),
//! `EXPORT_BACKEND` (`sqlite`, `postgres`, `both`; default `sqlite`).

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CRITERIA: usize = 50;

fn config(port: u16, db: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\napi_tokens = [\"{TOKEN}\"]\n\
         [database]\nurl = \"{db}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n\
         [[service]]\nname = \"big\"\ndeciders = [\"slack:U01ALICE\"]\n"
    );
    for c in 0..CRITERIA {
        text.push_str(&format!(
            "[[service.criteria]]\nname = \"signal {c:02}\"\nmax = 0.5\nmax_ratio = 2\nfailure_limit = 2\nunit = \"s\"\n"
        ));
    }
    text
}

async fn time_get(http: &reqwest::Client, url: &str, runs: usize) -> (Summary, usize) {
    let mut ms = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let sent = Instant::now();
        let r = http.get(url).bearer_auth(TOKEN).send().await.expect("get");
        assert_eq!(r.status().as_u16(), 200, "{url}");
        bytes = r.bytes().await.expect("body").len();
        ms.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    (summary(&ms), bytes)
}

async fn run(backend: &str, events: usize, runs: usize) {
    println!("\n-- export on {backend}");
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "export").await;
    let port = free_port();
    let cfg = write_config(dir.path(), &config(port, &db.url));
    let server = Server::start(dir.path(), &cfg, port).await;
    let url = server.url.clone();
    let http = client();
    let (s, b) = post_signed(
        &http,
        &format!("{url}/hooks/deploy"),
        &json!({"event": "started", "service": "big", "version": "9.9.9", "sha": "abc1234", "actor": "ci"}),
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = "big:production:9.9.9";
    let pushes = events.div_ceil(CRITERIA);
    let built = Instant::now();
    for p in 0..pushes {
        let failing = p % 2 == 0;
        let samples: Vec<Value> = (0..CRITERIA)
            .map(|c| {
                let canary = if failing { 0.9 } else { 0.1 } + c as f64 / 1000.0;
                json!({"criterion": format!("signal {c:02}"), "canary": canary, "baseline": 0.1})
            })
            .collect();
        let (s, b) = post_signed(
            &http,
            &format!("{url}/hooks/metrics"),
            &json!({"deploy_id": id, "samples": samples}),
            Some(&format!("push-{p}")),
        )
        .await;
        assert_eq!(s, 202, "{b}");
    }
    let build_s = built.elapsed().as_secs_f64();
    let drained = wait_outbox_empty(&http, &url, Duration::from_secs(300)).await;
    let timeline: Value = http
        .get(format!("{url}/api/deploys/{id}/timeline"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("timeline")
        .json()
        .await
        .expect("json");
    let n_events = timeline["events"].as_array().map_or(0, Vec::len);
    println!(
        "built: {n_events} events ({pushes} signed metric pushes of {CRITERIA} samples in {build_s:.1}s){}",
        if drained {
            ""
        } else {
            "; the chat outbox had not drained after 300 s"
        }
    );

    let conn = one_connection_client();
    let window = Window::start(Some(server.pid));
    let (base, base_bytes) = time_get(&conn, &format!("{url}/api/deploys/{id}"), runs).await;
    let (json_t, json_bytes) =
        time_get(&conn, &format!("{url}/api/deploys/{id}/timeline"), runs).await;
    let (md, md_bytes) =
        time_get(&conn, &format!("{url}/api/deploys/{id}/timeline.md"), runs).await;
    let (page, page_bytes) = time_get(&conn, &format!("{url}/deploys/{id}"), runs).await;
    let load = window.report();
    let verdict = |s: &Summary| {
        if s.p50 <= 50.0 {
            "met (median)"
        } else {
            "MISSED (median)"
        }
    };
    println!(
        "baseline GET /api/deploys/{{id}} (read + fold, no export): {base} ({base_bytes} bytes)"
    );
    for (name, s, bytes) in [
        ("GET /api/deploys/{id}/timeline (JSON)", &json_t, json_bytes),
        ("GET /api/deploys/{id}/timeline.md", &md, md_bytes),
        ("GET /deploys/{id} (page)", &page, page_bytes),
    ] {
        println!(
            "{name}: {s} ({bytes} bytes); ratio to baseline {:.1}× (median); target ≤ 50 ms: {}",
            s.p50 / base.p50,
            verdict(s)
        );
    }
    println!("  {load}");
    for w in server.warnings(3) {
        println!("server log: {w}");
    }
    server.stop();
    db.drop_now().await;
}

fn main() {
    header("item 4: timeline export of a deploy with 10,000 events");
    let events = env_or("EXPORT_EVENTS", 10_000usize);
    let runs = env_or("EXPORT_RUNS", 20usize);
    let rt = runtime();
    for backend in backends("EXPORT_BACKEND", "sqlite") {
        rt.block_on(run(backend, events, runs));
    }
}
