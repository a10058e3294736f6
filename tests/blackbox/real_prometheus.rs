//! End to end against a real Prometheus (Debian's `prometheus`, installed by `.ci/run`): the test
//! serves canary and baseline series, Prometheus scrapes them every second, and the bot detects
//! the breach and verifies recovery by itself.

use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// Debian's `prometheus` package ships it beside the server.
const PROMTOOL: &str = "/usr/bin/promtool";
/// CI sets this so a missing Prometheus fails instead of skipping.
const REQUIRE: &str = "CANARYBOT_REQUIRE_PROMETHEUS";

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The application's own `/metrics`: two gauges per signal, the test moves them.
#[derive(Clone)]
struct Exporter {
    values: Arc<Mutex<[f64; 4]>>, // errors canary, errors stable, latency canary, latency stable
}

impl Exporter {
    fn text(&self) -> String {
        let v = *self.values.lock().expect("values");
        format!(
            "# TYPE app_error_ratio gauge\n\
             app_error_ratio{{service=\"api\",track=\"canary\"}} {}\n\
             app_error_ratio{{service=\"api\",track=\"stable\"}} {}\n\
             # TYPE app_latency_p99_seconds gauge\n\
             app_latency_p99_seconds{{service=\"api\",track=\"canary\"}} {}\n\
             app_latency_p99_seconds{{service=\"api\",track=\"stable\"}} {}\n",
            v[0], v[1], v[2], v[3]
        )
    }
}

/// True (with a SKIPPED line) when Prometheus is not installed and CI does not require it; fails
/// when CI does.
pub(crate) fn prometheus_missing() -> bool {
    if std::path::Path::new(PROMETHEUS).exists() {
        return false;
    }
    assert!(
        std::env::var(REQUIRE).is_err(),
        "{REQUIRE} is set but {PROMETHEUS} is missing"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: real-Prometheus test; install Debian's `prometheus` (apt-get install prometheus)"
    );
    true
}

/// A real Prometheus scraping `target` every second, its data in a temporary directory; stopped
/// when dropped.
pub(crate) struct RealPrometheus {
    pub url: String,
    _running: Running,
    _dir: tempfile::TempDir,
}

impl RealPrometheus {
    /// Starts Prometheus and waits (up to 30 s) until `metric` has `series` series scraped.
    pub(crate) async fn start(
        target: std::net::SocketAddr,
        metric: &str,
        series: usize,
    ) -> RealPrometheus {
        RealPrometheus::start_with_history(target, metric, series, None).await
    }

    /// Starts Prometheus as [`start`](Self::start) does, its storage first filled with
    /// `history` (OpenMetrics text with timestamps, ending `# EOF`) by `promtool tsdb
    /// create-blocks-from openmetrics`: days of past samples that a test cannot wait for.
    /// Samples of the last two hours are Prometheus's own (in memory), never backfilled.
    pub(crate) async fn start_with_history(
        target: std::net::SocketAddr,
        metric: &str,
        series: usize,
        history: Option<&str>,
    ) -> RealPrometheus {
        let scrape = format!(
            "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let (prometheus, http) = RealPrometheus::launch(&scrape, history);
        for _ in 0..150 {
            // Ready, and the first scrape landed.
            let q = http
                .get(format!("{}/api/v1/query", prometheus.url))
                .query(&[("query", metric)])
                .send()
                .await;
            if let Ok(r) = q
                && let Ok(v) = r.json::<serde_json::Value>().await
                && v["data"]["result"]
                    .as_array()
                    .is_some_and(|a| a.len() == series)
            {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Prometheus never scraped the test's /metrics");
    }

    /// Starts Prometheus with `history` backfilled and nothing to scrape; waits until it is ready.
    pub(crate) async fn with_history(history: &str) -> RealPrometheus {
        let (prometheus, http) = RealPrometheus::launch("", Some(history));
        for _ in 0..150 {
            if http
                .get(format!("{}/-/ready", prometheus.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return prometheus;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Prometheus never became ready");
    }

    /// Backfills `history` (if any) and starts Prometheus with `scrape` as its scrape configs.
    fn launch(scrape: &str, history: Option<&str>) -> (RealPrometheus, reqwest::Client) {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(history) = history {
            let file = dir.path().join("history.om");
            std::fs::write(&file, history).expect("write history");
            let out = Command::new(PROMTOOL)
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&file)
                .arg(dir.path().join("data"))
                .output()
                .expect("run promtool");
            assert!(
                out.status.success(),
                "promtool refused the history: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{scrape}"),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = RealPrometheus {
            url: format!("http://127.0.0.1:{port}"),
            _running: Running(child),
            _dir: dir,
        };
        (prometheus, reqwest::Client::new())
    }
}

/// Serves `text()` as the application's `/metrics` on a loopback port; returns its address.
pub(crate) async fn serve_metrics(
    text: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind exporter");
    let target = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = text();
            async move { body }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    target
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_catches_the_breach_and_sees_recovery() {
    if prometheus_missing() {
        return;
    }
    let exporter = Exporter {
        values: Arc::new(Mutex::new([0.01, 0.01, 0.2, 0.2])),
    };
    let e = exporter.clone();
    let target = serve_metrics(move || e.text()).await;

    let prometheus = RealPrometheus::start(target, "app_error_ratio", 2).await;
    let url = prometheus.url.clone();

    let setup = Setup {
        prometheus: Some(url),
        executor: Some(ExecutorMode::Done),
        api_queries: Some([
            "app_error_ratio{service=\"{{service}}\",track=\"{{track}}\"}",
            "app_latency_p99_seconds{service=\"{{service}}\",track=\"{{track}}\"}",
        ]),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(Backend::Sqlite, setup).await else {
        return;
    };
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": "7.1.0"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("id").to_string();
    for _ in 0..100 {
        if app
            .kinds(&id)
            .await
            .iter()
            .filter(|k| *k == "check_passed")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.state(&id).await, "canary");

    // The canary's error ratio climbs; Prometheus scrapes it; the bot breaches on its own.
    exporter.values.lock().expect("values")[0] = 0.2;
    app.wait_state(&id, "breached").await;
    let t = app.timeline(&id).await;
    let failed = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "check_failed")
        .cloned()
        .expect("check_failed");
    assert_eq!(failed["details"]["canary"], 0.2);
    assert_eq!(failed["details"]["baseline"], 0.01);

    // Roll back; the canary series disappears from the exporter's point of view (stays stale),
    // the stable track is healthy: recovery is verified from Prometheus alone.
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "rollback_verified").await;
    app.finish().await;
}
