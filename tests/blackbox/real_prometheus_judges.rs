//! The Mann-Whitney judge against a real Prometheus (Debian's `prometheus`): the test serves a
//! noisy latency gauge per track, Prometheus scrapes it every second, and the bot reads both
//! tracks over the window with `/api/v1/query_range` and breaches on a slower canary by itself.

use crate::fake_prometheus::noise;
use crate::real_prometheus::{RealPrometheus, prometheus_missing};
use crate::support::{Backend, Setup, TestApp};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The application's own `/metrics`: every scrape reads a new latency per track, the canary's
/// around 400 ms, the baseline's around 250 ms, both ±30 %.
fn exposition(scrape: usize) -> String {
    let ms = |center: f64, seed: u64| (center * (1.0 + 0.3 * noise(seed, scrape))).round();
    format!(
        "# TYPE app_error_ratio gauge\n\
         app_error_ratio{{service=\"api\",track=\"canary\"}} 0.01\n\
         app_error_ratio{{service=\"api\",track=\"stable\"}} 0.01\n\
         # TYPE app_latency_p99_seconds gauge\n\
         app_latency_p99_seconds{{service=\"api\",track=\"canary\"}} 0.2\n\
         app_latency_p99_seconds{{service=\"api\",track=\"stable\"}} 0.2\n\
         # TYPE app_latency_ms gauge\n\
         app_latency_ms{{service=\"api\",track=\"canary\"}} {}\n\
         app_latency_ms{{service=\"api\",track=\"stable\"}} {}\n",
        ms(400.0, 11),
        ms(250.0, 12)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_range_lets_the_mann_whitney_judge_breach_on_a_slower_canary() {
    if prometheus_missing() {
        return;
    }
    let scrapes = Arc::new(AtomicUsize::new(0));
    let counter = scrapes.clone();
    let target = crate::real_prometheus::serve_metrics(move || {
        exposition(counter.fetch_add(1, Ordering::SeqCst))
    })
    .await;
    let prometheus = RealPrometheus::start(target, "app_latency_ms", 2).await;

    let setup = Setup {
        prometheus: Some(prometheus.url.clone()),
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
            &json!({"event": "started", "service": "api", "version": "9.9.0",
                    "criteria": [{"name": "latency", "judge": "mann-whitney",
                                  "query": "app_latency_ms{service=\"{{service}}\",track=\"{{track}}\"}",
                                  "unit": "ms", "window": "30s", "step": "1s", "min_points": 20,
                                  "failure_limit": 2}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("id").to_string();
    // 20 points at a 1 s step take 19 s from the deploy's start; then two failing checks.
    for _ in 0..450 {
        if app.state(&id).await == "breached" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events: Vec<Value> = app.timeline(&id).await["events"]
        .as_array()
        .expect("events")
        .clone();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        app.state(&id).await,
        "breached",
        "no breach within 45 s: {kinds:?}"
    );
    // The window never reaches before the deploy: the first checks had too few points.
    let first_thin = events
        .iter()
        .position(|e| e["kind"] == "insufficient" && e["details"]["criterion"] == "latency")
        .expect("the first checks are insufficient: the window starts at the deploy");
    assert_eq!(events[first_thin]["details"]["points"], true);
    assert!(events[first_thin]["details"]["requests"].as_f64() < Some(20.0));
    let breach = events
        .iter()
        .position(|e| e["kind"] == "breach_detected")
        .expect("breach");
    // Checks go on after the breach; the two before it made it.
    let failed: Vec<&Value> = events[..breach]
        .iter()
        .filter(|e| e["kind"] == "check_failed" && e["details"]["criterion"] == "latency")
        .collect();
    assert_eq!(failed.len(), 2, "{kinds:?}");
    assert_eq!(events[breach]["details"]["criteria"], json!(["latency"]));
    assert!(first_thin < breach);
    for f in failed {
        let d = &f["details"];
        let test = &d["test"];
        assert_eq!(test["test"], "mann_whitney", "{d}");
        assert!(test["p_value"].as_f64().expect("p") < 0.05, "{d}");
        let canary = test["canary_median"].as_f64().expect("canary median");
        let baseline = test["baseline_median"].as_f64().expect("baseline median");
        assert!((280.0..=520.0).contains(&canary), "{d}");
        assert!((175.0..=325.0).contains(&baseline), "{d}");
        assert!(test["effect"].as_f64().expect("effect") >= 0.1, "{d}");
        // At least min_points, at most the 30 s window at 1 s; both tracks from the same scrapes.
        let points = test["canary_points"].as_u64().expect("points");
        assert!((20..=31).contains(&points), "{d}");
        assert_eq!(test["baseline_points"].as_u64(), Some(points), "{d}");
        assert_eq!(test["canary_dropped"], 0, "{d}");
        let why = d["reasons"][0].as_str().unwrap_or_default();
        assert!(
            why.ends_with(": worse with p < 0.05 and by ≥ 10 %"),
            "{why}"
        );
    }
    app.finish().await;
}
