//! Detection latency, measured end to end in-process (a benchmark, not a test):
//! - Prometheus: from the moment a sample crossing its bound is queryable (the fake Prometheus
//!   starts answering the bad value) to the breach reply reaching the chat port;
//! - Alertmanager: from POSTing a firing alert to the breach reply reaching the chat port.
//!
//! `cargo bench --bench detection` (set DETECTION_RUNS to change the number of runs).

use async_trait::async_trait;
use canarybot::app::{self, Options};
use canarybot::auth::sign;
use canarybot::chat::{Attempt, ChatError, ChatPort, Opened, ThreadTarget};
use canarybot::present::chat::ChatMessage;
use canarybot::present::chat::RootView;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SECRET: &str = "bench-secret-0123456789";
const AM_TOKEN: &str = "bench-alertmanager-token";

/// Sends the instant each breach reply arrives.
struct Stopwatch {
    breaches: mpsc::UnboundedSender<Instant>,
}

#[async_trait]
impl ChatPort for Stopwatch {
    fn platform(&self) -> &str {
        "bench"
    }
    async fn post_root(
        &self,
        t: &ThreadTarget,
        _: &RootView,
        _: &Attempt,
    ) -> Result<Option<Opened>, ChatError> {
        Ok(Some(Opened {
            thread: t.deploy_id.clone(),
            message: t.deploy_id.clone(),
        }))
    }
    async fn update_root(&self, _: &ThreadTarget, _: &str, _: &RootView) -> Result<(), ChatError> {
        Ok(())
    }
    async fn reply(
        &self,
        _: &ThreadTarget,
        _: &str,
        m: &ChatMessage,
        _: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        if m.text.contains("BREACH") {
            let _ = self.breaches.send(Instant::now());
        }
        Ok(None)
    }
    async fn notice(
        &self,
        _: &ThreadTarget,
        _: Option<&str>,
        _: &str,
        _: &str,
    ) -> Result<(), ChatError> {
        Ok(())
    }
}

/// A Prometheus that answers every query with the current value for its track.
async fn fake_prometheus(canary: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| {
                let canary = canary.clone();
                async move {
                    let query = q.get("query").cloned().unwrap_or_default();
                    let v = if query.contains("canary") {
                        f64::from_bits(canary.load(Ordering::SeqCst))
                    } else {
                        0.01
                    };
                    axum::Json(json!({"status": "success", "data": {"resultType": "vector",
                    "result": [{"metric": {}, "value": [0, v.to_string()]}]}}))
                }
            },
        ),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn stats(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: n={} min={:.0}ms median={:.0}ms p90={:.0}ms max={:.0}ms",
        ms.len(),
        ms[0],
        pick(0.5),
        pick(0.9),
        ms[ms.len() - 1]
    );
}

async fn run() {
    let runs: usize = std::env::var("DETECTION_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let canary = Arc::new(AtomicU64::new(0.01f64.to_bits()));
    let prom = fake_prometheus(canary.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = [
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[webhooks]\nsecrets = [\"{SECRET}\"]\n",
            dir.path().join("bench.db").display()
        ),
        &format!("[prometheus]\nurl = \"{prom}\"\n[alertmanager]\ntokens = [\"{AM_TOKEN}\"]\n"),
        "[[service]]\nname = \"api\"\ndeciders = [\"slack:U1\"]\ncheck_interval = \"1s\"\n",
        "[[service.criteria]]\nname = \"error ratio\"\nquery = 'errors{track=\"{{track}}\"}'\nmax = 0.05\nfailure_limit = 1\n",
    ]
    .concat();
    let config = canarybot::registry::config_from_toml(&text, &|_| None).expect("bench config");
    let (tx, mut breaches) = mpsc::unbounded_channel();
    let chat: Vec<Arc<dyn ChatPort>> = vec![Arc::new(Stopwatch { breaches: tx })];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let running = app::start(
        config,
        listener,
        Options {
            chat,
            ..Options::default()
        },
    )
    .await
    .expect("start");
    let base = running.url();
    let http = reqwest::Client::new();
    let start = |version: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let body = serde_json::to_vec(
                &json!({"event": "started", "service": "api", "version": version}),
            )
            .expect("json");
            let resp = http
                .post(format!("{base}/hooks/deploy"))
                .header("X-Canarybot-Signature", sign(SECRET, &body))
                .body(body)
                .send()
                .await
                .expect("start");
            assert_eq!(resp.status().as_u16(), 202);
        }
    };
    println!("check_interval = 1s; the scheduler looks for due checks every 250 ms");

    let mut prom_ms = Vec::new();
    for i in 0..runs {
        canary.store(0.01f64.to_bits(), Ordering::SeqCst);
        start(format!("p{i}")).await;
        tokio::time::sleep(Duration::from_millis(1500)).await; // at least one passing check
        let crossed = Instant::now();
        canary.store(0.5f64.to_bits(), Ordering::SeqCst);
        let at = tokio::time::timeout(Duration::from_secs(10), breaches.recv())
            .await
            .expect("breach in time")
            .expect("breach");
        prom_ms.push(at.duration_since(crossed).as_secs_f64() * 1000.0);
    }
    stats(
        "prometheus: bound crossed → breach reply at the chat port",
        prom_ms,
    );

    canary.store(0.01f64.to_bits(), Ordering::SeqCst);
    let mut am_ms = Vec::new();
    for i in 0..runs {
        start(format!("a{i}")).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let alert = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing",
            "labels": {"alertname": format!("HighErrors{i}"), "service": "api"}, "annotations": {}}]});
        let sent = Instant::now();
        let resp = http
            .post(format!("{base}/hooks/alertmanager"))
            .bearer_auth(AM_TOKEN)
            .json(&alert)
            .send()
            .await
            .expect("alert");
        assert_eq!(resp.status().as_u16(), 200);
        let at = tokio::time::timeout(Duration::from_secs(10), breaches.recv())
            .await
            .expect("breach in time")
            .expect("breach");
        am_ms.push(at.duration_since(sent).as_secs_f64() * 1000.0);
    }
    stats(
        "alertmanager: webhook → breach reply at the chat port",
        am_ms,
    );
    running.stop().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}
