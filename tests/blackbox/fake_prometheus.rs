//! A fake Prometheus HTTP API: answers `/api/v1/query` from values the test sets per query, and
//! `/api/v1/query_range` with exactly the points of the range asked (start, start + step, … ≤ end)
//! from a series the test sets per query (by point index, or by the time of each point); records
//! every query with its evaluation time, and every range query with its start, end and step.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// A series as a function of `(i, n)`: the value of the `i`-th of the `n` points the range asked
/// for holds, or `None` where the series has no point (Prometheus leaves it out).
pub type SeriesFn = Arc<dyn Fn(usize, usize) -> Option<f64> + Send + Sync>;

/// What a range query of one query answers.
#[derive(Clone)]
pub enum RangeAnswer {
    /// One series with a point at every step of the range asked, valued by the function.
    Series(SeriesFn),
    /// One series with these values, however long the range asked (timestamps from its start).
    Values(Vec<f64>),
    /// One series valued by the function at each step's timestamp (unix seconds), no point where
    /// it gives `None`: history as it was at those times.
    ByTime(TimeFn),
}

/// A series as a function of the time asked (unix seconds).
pub type TimeFn = Arc<dyn Fn(f64) -> Option<f64> + Send + Sync>;

/// One `/api/v1/query_range` request, its parameters as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAsk {
    pub query: String,
    pub start: String,
    pub end: String,
    pub step: String,
}

impl RangeAsk {
    /// A read of history (what was normal at this hour on past days): a range ending more than
    /// 12 hours ago. A check's reads end now.
    pub fn is_history(&self) -> bool {
        let now = chrono::Utc::now().timestamp() as f64;
        self.end
            .parse::<f64>()
            .is_ok_and(|end| end < now - 12.0 * 3600.0)
    }

    /// `(start, end, step)` in seconds.
    pub fn span(&self) -> (f64, f64, f64) {
        let n = |s: &str| s.parse::<f64>().expect("a range parameter in unix seconds");
        (n(&self.start), n(&self.end), n(&self.step))
    }
}

#[derive(Clone, Default)]
pub struct FakePrometheus {
    pub url: String,
    /// query → the `result` array to answer with
    pub answers: Arc<Mutex<HashMap<String, Value>>>,
    /// (query, time) of every request
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    pub down: Arc<AtomicBool>,
    /// query → what its range queries answer (no entry: an empty matrix)
    pub ranges: Arc<Mutex<HashMap<String, RangeAnswer>>>,
    /// every range query, in order of arrival
    pub range_asks: Arc<Mutex<Vec<RangeAsk>>>,
    /// While `Some(n)`: the next `n` range queries of checks are answered, later ones get HTTP
    /// 503 (reads of history are not counted, and answered).
    pub range_budget: Arc<Mutex<Option<usize>>>,
    /// query → its value as a function of the evaluation time (unix seconds; `None`: no series),
    /// for instant queries asked at several times (a watch's now, 1 day and 7 days earlier).
    /// Takes precedence over `answers`.
    pub answers_at: Arc<Mutex<HashMap<String, AtFn>>>,
}

/// An instant query's value as a function of its evaluation time (unix seconds).
pub type AtFn = Arc<dyn Fn(f64) -> Option<f64> + Send + Sync>;

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
        let r = fake.clone();
        let app = axum::Router::new().route(
            "/api/v1/query_range",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let r = r.clone();
                async move { r.range(&q) }
            }),
        ).route(
            "/api/v1/query",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                let f = f.clone();
                async move {
                    let query = q.get("query").cloned().unwrap_or_default();
                    f.seen.lock().expect("seen").push((query.clone(), q.get("time").cloned().unwrap_or_default()));
                    if f.down.load(Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
                    }
                    let at = f.answers_at.lock().expect("answers at").get(&query).cloned();
                    let result = match at {
                        Some(value_at) => {
                            let time = q.get("time").and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
                            match value_at(time) {
                                Some(v) => json!([{"metric": {}, "value": [time, v.to_string()]}]),
                                None => json!([]),
                            }
                        }
                        None => f.answers.lock().expect("answers").get(&query).cloned().unwrap_or(json!([])),
                    };
                    axum::Json(json!({"status": "success", "data": {"resultType": "vector", "result": result}})).into_response()
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// Answers one range query as Prometheus would: a matrix of one series with the points of the
    /// range asked.
    fn range(&self, q: &HashMap<String, String>) -> axum::response::Response {
        let param = |k: &str| q.get(k).cloned().unwrap_or_default();
        let ask = RangeAsk {
            query: param("query"),
            start: param("start"),
            end: param("end"),
            step: param("step"),
        };
        self.range_asks
            .lock()
            .expect("range asks")
            .push(ask.clone());
        if self.down.load(Ordering::SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
        }
        if !ask.is_history() {
            let mut budget = self.range_budget.lock().expect("budget");
            match *budget {
                Some(0) => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
                Some(n) => *budget = Some(n - 1),
                None => {}
            }
        }
        let ms = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(|v| (v * 1000.0).round() as i64)
        };
        let (Some(start), Some(end), Some(step)) = (ms(&ask.start), ms(&ask.end), ms(&ask.step))
        else {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": "error", "errorType": "bad_data", "error": "cannot parse start, end or step"})),
            )
                .into_response();
        };
        // As Prometheus refuses them.
        let refused = if end < start {
            Some("invalid parameter \"end\": end timestamp must not be before start time")
        } else if step <= 0 {
            Some(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            )
        } else {
            None
        };
        if let Some(error) = refused {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": "error", "errorType": "bad_data", "error": error})),
            )
                .into_response();
        }
        let n = ((end - start) / step + 1) as usize;
        if n > 11_000 {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"})),
            )
                .into_response();
        }
        let at = |i: usize| (start + i as i64 * step) as f64 / 1000.0;
        let answer = self.ranges.lock().expect("ranges").get(&ask.query).cloned();
        let values: Vec<Value> = match answer {
            None => Vec::new(),
            Some(RangeAnswer::Values(v)) => v
                .iter()
                .enumerate()
                .map(|(i, v)| json!([at(i), v.to_string()]))
                .collect(),
            Some(RangeAnswer::Series(f)) => (0..n)
                .filter_map(|i| f(i, n).map(|v| json!([at(i), v.to_string()])))
                .collect(),
            Some(RangeAnswer::ByTime(f)) => (0..n)
                .filter_map(|i| f(at(i)).map(|v| json!([at(i), v.to_string()])))
                .collect(),
        };
        let result = if values.is_empty() {
            json!([])
        } else {
            json!([{"metric": {}, "values": values}])
        };
        axum::Json(json!({"status": "success", "data": {"resultType": "matrix", "result": result}}))
            .into_response()
    }

    /// Range queries of `query` answer a point at every step of the range asked, valued by `f(i, n)`.
    pub fn set_series(
        &self,
        query: &str,
        f: impl Fn(usize, usize) -> Option<f64> + Send + Sync + 'static,
    ) {
        self.ranges
            .lock()
            .expect("ranges")
            .insert(query.to_string(), RangeAnswer::Series(Arc::new(f)));
    }

    /// Range queries of `query` answer a point at every step of the range asked, valued by
    /// `f(t)` at the step's timestamp `t` (unix seconds).
    pub fn set_by_time(&self, query: &str, f: impl Fn(f64) -> Option<f64> + Send + Sync + 'static) {
        self.ranges
            .lock()
            .expect("ranges")
            .insert(query.to_string(), RangeAnswer::ByTime(Arc::new(f)));
    }

    /// Range queries of `query` answer these values, however long the range asked.
    pub fn set_range(&self, query: &str, values: Vec<f64>) {
        self.ranges
            .lock()
            .expect("ranges")
            .insert(query.to_string(), RangeAnswer::Values(values));
    }

    /// Every range query so far.
    pub fn range_asks(&self) -> Vec<RangeAsk> {
        self.range_asks.lock().expect("range asks").clone()
    }

    /// The range queries of checks so far: reads of history left out.
    pub fn check_asks(&self) -> Vec<RangeAsk> {
        self.range_asks()
            .into_iter()
            .filter(|a| !a.is_history())
            .collect()
    }

    /// Answers only the next `n` range queries of checks (later ones get 503; reads of history
    /// are answered); `None`: all of them.
    pub fn set_range_budget(&self, n: Option<usize>) {
        *self.range_budget.lock().expect("budget") = n;
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

    /// Instant queries of `query` answer `f(evaluation time in unix seconds)`.
    pub fn set_at(&self, query: &str, f: impl Fn(f64) -> Option<f64> + Send + Sync + 'static) {
        self.answers_at
            .lock()
            .expect("answers at")
            .insert(query.to_string(), Arc::new(f));
    }

    /// The evaluation times (unix seconds) `query` was asked at, in order.
    pub fn times_of(&self, query: &str) -> Vec<f64> {
        self.seen()
            .into_iter()
            .filter(|(q, _)| q == query)
            .filter_map(|(_, t)| t.parse().ok())
            .collect()
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

/// A deterministic noise in [-1, 1) for the `i`-th point of stream `seed` (splitmix64): the same
/// series every run.
pub fn noise(seed: u64, i: usize) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}
