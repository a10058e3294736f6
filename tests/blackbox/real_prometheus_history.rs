//! End to end against a real Prometheus holding a week of history (written into its storage by
//! `promtool` before it starts): the normal at this hour is read from the same hour of the last 7
//! days, and after promotion the watch compares the service now with 1 and 7 days earlier — the
//! `offset` the issue asks for, over data the test serves.

use crate::real_prometheus::{RealPrometheus, prometheus_missing, serve_metrics};
use crate::support::{Backend, ExecutorMode, Setup, TestApp};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: i64 = 86_400;

/// The stable track's latency on the day `d` days ago, at the hour before the time of day now.
fn stable_latency(d: i64) -> f64 {
    0.20 + 0.01 * d as f64
}

/// The whole service's latency 1 day ago, and on the other days.
const SERVICE_DAY_AGO: f64 = 0.25;
const SERVICE_WEEK_AGO: f64 = 0.20;
const SERVICE_OTHER_DAYS: f64 = 0.22;

/// A week of samples every 30 s around this time of day (from 1h05m before to 20m after), in
/// OpenMetrics as `promtool tsdb create-blocks-from openmetrics` reads it: each family's samples
/// together, each series in time order.
fn history(now_s: i64) -> String {
    let mut text = String::from("# TYPE app_latency_seconds gauge\n");
    let times = |d: i64| (now_s - d * DAY - 3900..=now_s - d * DAY + 1200).step_by(30);
    for d in (1..=7).rev() {
        for t in times(d) {
            text.push_str(&format!(
                "app_latency_seconds{{service=\"api\",track=\"stable\"}} {} {t}\n",
                stable_latency(d)
            ));
        }
    }
    text.push_str("# TYPE app_service_latency_seconds gauge\n");
    for d in (1..=7).rev() {
        let v = match d {
            1 => SERVICE_DAY_AGO,
            7 => SERVICE_WEEK_AGO,
            _ => SERVICE_OTHER_DAYS,
        };
        for t in times(d) {
            text.push_str(&format!(
                "app_service_latency_seconds{{service=\"api\"}} {v} {t}\n"
            ));
        }
    }
    text.push_str("# EOF\n");
    text
}

/// The application's `/metrics` now: each track's latency and the whole service's.
#[derive(Clone)]
struct Exporter {
    /// canary, stable, the whole service
    values: Arc<Mutex<[f64; 3]>>,
}

impl Exporter {
    fn text(&self) -> String {
        let v = *self.values.lock().expect("values");
        format!(
            "# TYPE app_error_ratio gauge\n\
             app_error_ratio{{service=\"api\",track=\"canary\"}} 0.01\n\
             app_error_ratio{{service=\"api\",track=\"stable\"}} 0.01\n\
             # TYPE app_latency_seconds gauge\n\
             app_latency_seconds{{service=\"api\",track=\"canary\"}} {}\n\
             app_latency_seconds{{service=\"api\",track=\"stable\"}} {}\n\
             # TYPE app_service_latency_seconds gauge\n\
             app_service_latency_seconds{{service=\"api\"}} {}\n",
            v[0], v[1], v[2]
        )
    }
}

async fn event(app: &TestApp, id: &str, kind: &str) -> Value {
    for _ in 0..300 {
        let t = app.timeline(id).await;
        if let Some(e) = t["events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["kind"] == kind))
        {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {kind} in {id}'s timeline: {:?}", app.kinds(id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_with_a_week_of_history_gives_normal_and_catches_drift_after_promotion() {
    if prometheus_missing() {
        return;
    }
    let now_s = chrono::Utc::now().timestamp();
    let exporter = Exporter {
        values: Arc::new(Mutex::new([0.24, 0.24, 0.24])),
    };
    let e = exporter.clone();
    let target = serve_metrics(move || e.text()).await;
    let prometheus =
        RealPrometheus::start_with_history(target, "app_latency_seconds", 2, Some(&history(now_s)))
            .await;

    let setup = Setup {
        prometheus: Some(prometheus.url.clone()),
        executor: Some(ExecutorMode::Done),
        api_queries: Some([
            "app_error_ratio{service=\"{{service}}\",track=\"{{track}}\"}",
            "app_latency_seconds{service=\"{{service}}\",track=\"{{track}}\"}",
        ]),
        ..Setup::default()
    };
    // The api service watches the whole service's latency for an hour after promotion, every
    // second, and calls two failing checks a drift.
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, setup, |text| {
        text.replacen(
            "[[service.criteria]]\nname = \"error ratio\"\n",
            "[service.watch]\nafter_promotion = \"1h\"\ninterval = \"1s\"\n[[service.criteria]]\nname = \"error ratio\"\n",
            1,
        )
        .replacen(
            "max = 0.5\nfailure_limit = 2\nunit = \"s\"\n",
            "max = 0.5\nfailure_limit = 2\nunit = \"s\"\nwatch_query = 'app_service_latency_seconds{service=\"{{service}}\"}'\nwatch_failure_limit = 2\n",
            1,
        )
    })
    .await
    else {
        return;
    };
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": "7.2.0"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("id").to_string();

    // Normal at this hour: the stable track at the same hour on each of the last 7 days.
    let normal = event(&app, &id, "normal_recorded").await;
    let latency = normal["details"]["normals"]
        .as_array()
        .expect("normals")
        .iter()
        .find(|n| n["criterion"] == "p99 latency")
        .cloned()
        .unwrap_or_else(|| panic!("p99 latency's normal: {normal}"));
    assert_eq!(latency["days_with_data"], 7, "{latency}");
    let close = |v: &Value, want: f64| {
        let got = v.as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-9, "{got} ≠ {want} in {latency}");
    };
    close(&latency["median"], stable_latency(4));
    close(&latency["p5"], stable_latency(1));
    close(&latency["p95"], stable_latency(7));

    // Promoted by the pipeline; the watch starts, the service is as it was: no drift.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "promoted", "service": "api", "version": "7.2.0"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    event(&app, &id, "watch_started").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !app.kinds(&id)
            .await
            .iter()
            .any(|k| k == "watch_check_failed"),
        "0.24 s is within 1.5× of yesterday's 0.25 s: {:?}",
        app.kinds(&id).await
    );

    // The whole service slows down after promotion: above 1.5× both references.
    exporter.values.lock().expect("values")[2] = 0.6;
    let drift = event(&app, &id, "drift_detected").await;
    let reading = &drift["details"]["criteria"][0];
    assert_eq!(reading["criterion"], "p99 latency", "{drift}");
    assert_eq!(reading["value"].as_f64(), Some(0.6), "{drift}");
    assert_eq!(
        reading["day_ago"].as_f64(),
        Some(SERVICE_DAY_AGO),
        "{drift}"
    );
    assert_eq!(
        reading["week_ago"].as_f64(),
        Some(SERVICE_WEEK_AGO),
        "{drift}"
    );
    app.finish().await;
}
