//! A fake Slack Web API on loopback that records every call and answers like Slack.

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct SlackCall {
    pub method: String,
    pub authorization: Option<String>,
    /// The JSON body, or the query of a GET.
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct FakeSlack {
    pub api_url: String,
    pub calls: Arc<Mutex<Vec<SlackCall>>>,
    /// usergroup id → member user ids
    pub groups: Arc<Mutex<HashMap<String, Vec<String>>>>,
    /// This many `chat.postMessage` calls get 429 with `Retry-After: 1` first.
    pub rate_limit_posts: Arc<AtomicU32>,
    /// While set, `usergroups.users.list` answers `internal_error`.
    pub groups_down: Arc<std::sync::atomic::AtomicBool>,
    next_ts: Arc<AtomicU64>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake slack");
        let mut fake = FakeSlack {
            api_url: format!("http://{}/api", listener.local_addr().expect("addr")),
            next_ts: Arc::new(AtomicU64::new(1)),
            ..FakeSlack::default()
        };
        fake.groups
            .lock()
            .expect("groups")
            .insert("S01SRE".into(), vec!["U02BOB".into(), "U03CAROL".into()]);
        let f = fake.clone();
        let app = axum::Router::new().route(
            "/api/{method}",
            axum::routing::post({
                let f = f.clone();
                move |Path(method): Path<String>, headers: HeaderMap, body: axum::body::Bytes| {
                    let f = f.clone();
                    async move {
                        f.answer(
                            method,
                            &headers,
                            serde_json::from_slice(&body).unwrap_or(Value::Null),
                        )
                    }
                }
            })
            .get({
                let f = f.clone();
                move |Path(method): Path<String>,
                      headers: HeaderMap,
                      Query(q): Query<HashMap<String, String>>| {
                    let f = f.clone();
                    async move { f.answer(method, &headers, json!(q)) }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake.api_url = fake.api_url.clone();
        fake
    }

    fn answer(&self, method: String, headers: &HeaderMap, body: Value) -> Response {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.calls.lock().expect("calls").push(SlackCall {
            method: method.clone(),
            authorization,
            body: body.clone(),
        });
        if method == "chat.postMessage" {
            let left = self.rate_limit_posts.load(Ordering::SeqCst);
            if left > 0 {
                self.rate_limit_posts.store(left - 1, Ordering::SeqCst);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    axum::Json(json!({"ok": false, "error": "ratelimited"})),
                )
                    .into_response();
            }
        }
        let channel = body["channel"].clone();
        let reply = match method.as_str() {
            "chat.postMessage" => {
                let ts = format!(
                    "1700000000.{:06}",
                    self.next_ts.fetch_add(1, Ordering::SeqCst)
                );
                json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": body["text"]}})
            }
            "chat.update" => {
                json!({"ok": true, "channel": channel, "ts": body["ts"], "message": {"text": body["text"]}})
            }
            "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
            "usergroups.users.list" if self.groups_down.load(Ordering::SeqCst) => {
                json!({"ok": false, "error": "internal_error"})
            }
            "usergroups.users.list" => {
                let group = body["usergroup"].as_str().unwrap_or_default();
                let users = self
                    .groups
                    .lock()
                    .expect("groups")
                    .get(group)
                    .cloned()
                    .unwrap_or_default();
                json!({"ok": true, "users": users})
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        axum::Json(reply).into_response()
    }

    pub fn calls(&self) -> Vec<SlackCall> {
        self.calls.lock().expect("calls").clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Waits (up to 10 s) until `check` holds for the recorded calls.
    pub async fn wait_for(&self, what: &str, check: impl Fn(&[SlackCall]) -> bool) {
        for _ in 0..200 {
            if check(&self.calls()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fake Slack never saw {what}; calls: {:#?}", self.calls());
    }
}
