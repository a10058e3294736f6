//! A fake Prometheus HTTP API: answers `/api/v1/query` from values the test sets per query, and
//! records every query with its evaluation time.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Clone, Default)]
pub struct FakePrometheus {
    pub url: String,
    /// query → the `result` array to answer with
    pub answers: Arc<Mutex<HashMap<String, Value>>>,
    /// (query, time) of every request
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    pub down: Arc<AtomicBool>,
}

impl FakePrometheus {
    pub async fn start() -> FakePrometheus {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake prometheus");
        let fake = FakePrometheus {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            ..FakePrometheus::default()
        };
        let f = fake.clone();
        let app = axum::Router::new().route(
            "/api/v1/query",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let f = f.clone();
                async move {
                    let query = q.get("query").cloned().unwrap_or_default();
                    f.seen.lock().expect("seen").push((query.clone(), q.get("time").cloned().unwrap_or_default()));
                    if f.down.load(Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                    }
                    let result = f.answers.lock().expect("answers").get(&query).cloned().unwrap_or(json!([]));
                    axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}})).into_response()
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// One series with `value`, or no series at all.
    pub fn set(&self, query: &str, value: Option<f64>) {
        let result = match value {
            Some(v) => json!([{"metric": {}, "value": [0, v.to_string()]}]),
            None => json!([]),
        };
        self.answers
            .lock()
            .expect("answers")
            .insert(query.to_string(), result);
    }

    pub fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().expect("seen").clone()
    }

    pub async fn wait_for_queries(&self, n: usize) {
        for _ in 0..200 {
            if self.seen().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fake Prometheus saw only {} queries", self.seen().len());
    }
}

/// The error-ratio query of service `api`, rendered for a track.
pub fn errors_query(track: &str) -> String {
    format!(r#"sum(rate(http_errors_total{{service="api",track="{track}"}}[1m]))"#)
}

pub fn latency_query(track: &str) -> String {
    format!(
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{service="api",track="{track}"}}[1m])))"#
    )
}
