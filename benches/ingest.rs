//! Item 2: signed deploy-webhook ingest, durable (the 202 comes after the commit), in
//! deliveries per second on SQLite and PostgreSQL, with the ratio to the disk's sync rate measured
//! in the same run (single 8 kB writes + fdatasync in the database's directory, as pg_test_fsync's
//! "one 8kB write, fdatasync").
//!
//! `cargo bench --bench ingest` (PostgreSQL too with
//! `BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test`).
//!
//! Every delivery is a `started` event for a new deploy (distinct `deploy_id`) with its own
//! `X-Canarybot-Delivery` id, from `INGEST_CONNECTIONS` (64) keep-alive connections. The server is
//! the release binary without Slack or Discord (its threads go to the console, on a file), so the
//! chat worker drains the outbox meanwhile as it would in production. Afterwards the store must
//! hold one deploy and one recorded delivery per 202.
//!
//! Knobs: `INGEST_DELIVERIES` (5000), `INGEST_CONNECTIONS` (64), `INGEST_BACKEND` (`sqlite`,
//! `postgres`, `both`; default `both`, PostgreSQL only with a URL), `INGEST_PG_TEST_FSYNC=1` to
//! also run pg_test_fsync (about 15 s) for PostgreSQL's view of the disk.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn config(port: u16, db: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\napi_tokens = [\"{TOKEN}\"]\n\
         [database]\nurl = \"{db}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n\
         [[service]]\nname = \"checkout\"\ndeciders = [\"slack:U01ALICE\"]\n\
         [[service.criteria]]\nname = \"5xx ratio\"\nmax = 0.01\nmax_ratio = 1.5\nfailure_limit = 3\n\
         [[service.criteria]]\nname = \"p99 latency\"\nmax = 0.5\nfailure_limit = 2\n"
    )
}

async fn run(backend: &str, n: usize, conns: usize) {
    println!("\n-- ingest on {backend}");
    let dir = tempdir();
    let db = Db::new(backend, dir.path(), "ingest").await;
    let port = free_port();
    let cfg = write_config(dir.path(), &config(port, &db.url));
    let server = Server::start(dir.path(), &cfg, port).await;
    let url = format!("{}/hooks/deploy", server.url);

    // Warm-up (not counted in the rate): connections, prepared statements, code paths.
    let warm = conns * 2;
    {
        let url = url.clone();
        for_each_concurrent(warm, conns, move |http, i| {
            let url = url.clone();
            async move {
                let body = json!({"event": "started", "service": "checkout",
                    "version": format!("w{i}"), "deploy_id": format!("warm-{i}")});
                let (s, b) = post_signed(&http, &url, &body, Some(&format!("warm-d{i}"))).await;
                assert_eq!(s, 202, "{b}");
            }
        })
        .await;
    }

    let sync_before = sync_rate(dir.path(), Duration::from_secs(1));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let window = Window::start(Some(server.pid));
    let start = Instant::now();
    {
        let (url, ok, failed, first_error) =
            (url.clone(), ok.clone(), failed.clone(), first_error.clone());
        for_each_concurrent(n, conns, move |http, i| {
            let (url, ok, failed, first_error) =
                (url.clone(), ok.clone(), failed.clone(), first_error.clone());
            async move {
                let body = json!({"event": "started", "service": "checkout",
                    "version": format!("2.{i}.0"), "deploy_id": format!("ingest-{i}"),
                    "sha": "abc1234", "actor": "ci"});
                let (s, b) = post_signed(&http, &url, &body, Some(&format!("ingest-d{i}"))).await;
                if s == 202 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    first_error
                        .lock()
                        .expect("err")
                        .get_or_insert(format!("HTTP {s}: {b}"));
                }
            }
        })
        .await;
    }
    let wall = start.elapsed();
    let load = window.report();
    let server_cpu = window.server_cpu();
    let sync_after = sync_rate(dir.path(), Duration::from_secs(1));
    let ok = ok.load(Ordering::Relaxed);
    let rate = ok as f64 / wall.as_secs_f64();
    let sync = (sync_before + sync_after) / 2.0;
    let target = if backend == "sqlite" { 5000.0 } else { 3000.0 };
    println!(
        "disk sync rate (8 kB write + fdatasync, {}): {sync_before:.0}/s before, {sync_after:.0}/s after",
        dir.path().display()
    );
    println!(
        "signed deploy webhooks: {ok} accepted (202) in {:.2}s = {rate:.0} deliveries/s at {conns} connections; {:.2} ms server CPU per delivery",
        wall.as_secs_f64(),
        server_cpu * 1000.0 / ok.max(1) as f64
    );
    println!(
        "ratio to the sync rate: {:.3} (target ≥ {target:.0}/s{}: {})",
        rate / sync,
        if backend == "sqlite" {
            ", ratio ≥ 0.5"
        } else {
            ""
        },
        if rate >= target { "met" } else { "MISSED" }
    );
    println!("  {load}");
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        println!(
            "refused: {failed} (first: {})",
            first_error.lock().expect("err").clone().unwrap_or_default()
        );
    }
    // Every 202 is in the store (the server is still up: read with a connection of our own).
    let deploys = db
        .count("SELECT COUNT(*) FROM deploys WHERE id LIKE 'ingest-%'")
        .await;
    let deliveries = db
        .count("SELECT COUNT(*) FROM deliveries WHERE source = 'deploy' AND delivery_id LIKE 'ingest-d%' AND status = 202")
        .await;
    println!(
        "stored: {deploys} deploys and {deliveries} recorded deliveries for {ok} accepted{}",
        if deploys as usize == ok && deliveries as usize == ok {
            ""
        } else {
            " — MISMATCH"
        }
    );
    if backend == "postgres" && std::env::var("INGEST_PG_TEST_FSYNC").is_ok() {
        match pg_test_fsync(dir.path()) {
            Some(r) => println!("pg_test_fsync (one 8kB write, fdatasync): {r:.0} ops/s"),
            None => println!("pg_test_fsync: not found or unreadable"),
        }
    }
    for w in server.warnings(3) {
        println!("server log: {w}");
    }
    server.stop();
    db.drop_now().await;
}

fn main() {
    header("item 2: signed deploy-webhook ingest, durable");
    let n = env_or("INGEST_DELIVERIES", 5000usize);
    let conns = env_or("INGEST_CONNECTIONS", 64usize);
    let rt = runtime();
    for backend in backends("INGEST_BACKEND", "both") {
        rt.block_on(run(backend, n, conns));
    }
}
