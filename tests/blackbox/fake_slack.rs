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

/// A message as Slack keeps it (posted and not deleted).
#[derive(Debug, Clone)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub metadata: Value,
    /// More of the message as Slack returns it (`user`, `user_profile`, `files`), merged into
    /// `conversations.history`/`.replies` answers: a message a test seeds as a person's.
    pub extra: Value,
}

/// Holds the `nth` call (1-based) to `method`: the call is recorded (and a post is kept, as Slack
/// would) but never answered, and `reached` fires, so a test can kill the bot mid-call.
pub struct Trap {
    pub method: String,
    pub nth: usize,
    pub reached: tokio::sync::oneshot::Sender<()>,
}

/// Every call fails, alternately with HTTP 500 and with 429 and `Retry-After: 1`, until `until`
/// and then until the next 500: a platform that recovers right after a failure that grows a
/// backoff, the moment a retry schedule is tested by.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub until: std::time::Instant,
    /// When the last failing call arrived: Slack works for calls after it.
    pub ended: Option<std::time::Instant>,
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
    /// While set, every call answers HTTP 503 (Slack is down).
    pub down: Arc<std::sync::atomic::AtomicBool>,
    /// An outage in progress or over (see [`FakeSlack::outage`]).
    pub outage: Arc<Mutex<Option<Outage>>>,
    outage_calls: Arc<AtomicU64>,
    /// Every call takes this long to answer (a slow Slack).
    pub delay_ms: Arc<AtomicU64>,
    /// `usergroups.users.list` takes this long to answer (a slow group lookup).
    pub groups_delay_ms: Arc<AtomicU64>,
    /// Messages posted, as Slack keeps them.
    pub messages: Arc<Mutex<Vec<SlackMessage>>>,
    pub trap: Arc<Mutex<Option<Trap>>>,
    /// When each call arrived, in the order of `calls`.
    pub arrivals: Arc<Mutex<Vec<std::time::Instant>>>,
    next_ts: Arc<AtomicU64>,
    /// Answers `apps.connections.open` from the bearer it was called with (a fake Socket Mode
    /// server sets it: `crate::fake_slack_socket`).
    pub connections_open: Arc<Mutex<Option<ConnectionsOpen>>>,
    /// While set, `auth.test` answers `invalid_auth`.
    pub auth_test_fails: Arc<std::sync::atomic::AtomicBool>,
    /// Files asked an upload URL for, by file id (`files.getUploadURLExternal`), with the bytes
    /// uploaded to it.
    pub uploads: Arc<Mutex<HashMap<String, SlackUpload>>>,
    /// Files shared in a channel or thread (`files.completeUploadExternal`), in order.
    pub shared: Arc<Mutex<Vec<SharedFile>>>,
    /// While set, `files.getUploadURLExternal` answers `missing_scope` (no `files:write`).
    pub files_refused: Arc<std::sync::atomic::AtomicBool>,
    /// This many `files.completeUploadExternal` calls share the file and then answer HTTP 500.
    pub fail_completes: Arc<AtomicU32>,
    /// While set, the upload URLs answer HTTP 503 (files cannot be uploaded; messages can).
    pub uploads_down: Arc<std::sync::atomic::AtomicBool>,
}

/// A file Slack gave an upload URL for.
#[derive(Debug, Clone, Default)]
pub struct SlackUpload {
    pub filename: String,
    pub length: usize,
    pub alt_txt: String,
    pub bytes: Option<Vec<u8>>,
}

/// A file shared by `files.completeUploadExternal`.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub id: String,
    pub channel: String,
    pub thread_ts: Option<String>,
    pub title: String,
    pub upload: SlackUpload,
}

/// The workspace address `auth.test` answers with.
pub const WORKSPACE_URL: &str = "https://canary-test.slack.com/";

/// `apps.connections.open`'s answer, given the `Authorization` header.
pub type ConnectionsOpen = Arc<dyn Fn(Option<&str>) -> Value + Send + Sync>;

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
        let uploads = f.clone();
        let app = axum::Router::new()
            .route(
                "/upload/{file}",
                axum::routing::post(move |Path(file): Path<String>, body: axum::body::Bytes| {
                    let f = uploads.clone();
                    async move {
                        if f.uploads_down.load(Ordering::SeqCst) {
                            return (
                                StatusCode::SERVICE_UNAVAILABLE,
                                "uploads are down".to_string(),
                            );
                        }
                        let mut uploads = f.uploads.lock().expect("uploads");
                        match uploads.get_mut(&file) {
                            Some(u) => {
                                u.bytes = Some(body.to_vec());
                                (StatusCode::OK, format!("OK - {}", body.len()))
                            }
                            None => (StatusCode::NOT_FOUND, "no such upload".to_string()),
                        }
                    }
                }),
            )
            .route(
                "/api/{method}",
                axum::routing::post({
                    let f = f.clone();
                    move |Path(method): Path<String>,
                          headers: HeaderMap,
                          body: axum::body::Bytes| {
                        let f = f.clone();
                        async move {
                            f.answer(
                                method,
                                &headers,
                                serde_json::from_slice(&body).unwrap_or(Value::Null),
                            )
                            .await
                        }
                    }
                })
                .get({
                    let f = f.clone();
                    move |Path(method): Path<String>,
                          headers: HeaderMap,
                          Query(q): Query<HashMap<String, String>>| {
                        let f = f.clone();
                        async move { f.answer(method, &headers, json!(q)).await }
                    }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake.api_url = fake.api_url.clone();
        fake
    }

    async fn answer(&self, method: String, headers: &HeaderMap, body: Value) -> Response {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let opener = self.connections_open.lock().expect("opener").clone();
        if let Some(open) = opener.filter(|_| method == "apps.connections.open") {
            let answer = open(authorization.as_deref());
            self.calls.lock().expect("calls").push(SlackCall {
                method,
                authorization,
                body,
            });
            return axum::Json(answer).into_response();
        }
        let nth = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(SlackCall {
                method: method.clone(),
                authorization,
                body: body.clone(),
            });
            self.arrivals
                .lock()
                .expect("arrivals")
                .push(std::time::Instant::now());
            calls.iter().filter(|c| c.method == method).count()
        };
        let mut delay = self.delay_ms.load(Ordering::SeqCst);
        if method == "usergroups.users.list" {
            delay += self.groups_delay_ms.load(Ordering::SeqCst);
        }
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if self.down.load(Ordering::SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, "slack is down").into_response();
        }
        let failing = {
            let mut outage = self.outage.lock().expect("outage");
            match outage.as_mut() {
                Some(o) if o.ended.is_none() => {
                    let now = std::time::Instant::now();
                    let server_error = self
                        .outage_calls
                        .fetch_add(1, Ordering::SeqCst)
                        .is_multiple_of(2);
                    if now >= o.until && server_error {
                        o.ended = Some(now);
                    }
                    Some(server_error)
                }
                _ => None,
            }
        };
        if let Some(server_error) = failing {
            return if server_error {
                (StatusCode::INTERNAL_SERVER_ERROR, "slack is failing").into_response()
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    axum::Json(json!({"ok": false, "error": "ratelimited"})),
                )
                    .into_response()
            };
        }
        let reply = self.reply(&method, body);
        let trapped = {
            let mut trap = self.trap.lock().expect("trap");
            match trap.take() {
                Some(t) if t.method == method && t.nth == nth => Some(t),
                other => {
                    *trap = other;
                    None
                }
            }
        };
        if let Some(t) = trapped {
            let _ = t.reached.send(());
            std::future::pending::<()>().await;
        }
        reply
    }

    fn reply(&self, method: &str, body: Value) -> Response {
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
        let reply = match method {
            "chat.postMessage" => {
                let ts = format!(
                    "1700000000.{:06}",
                    self.next_ts.fetch_add(1, Ordering::SeqCst)
                );
                self.messages.lock().expect("messages").push(SlackMessage {
                    channel: channel.as_str().unwrap_or_default().to_string(),
                    ts: ts.clone(),
                    thread_ts: body["thread_ts"].as_str().map(str::to_string),
                    text: body["text"].as_str().unwrap_or_default().to_string(),
                    metadata: body["metadata"].clone(),
                    extra: Value::Null,
                });
                json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": body["text"]}})
            }
            "conversations.history" | "conversations.replies" => {
                let channel = body["channel"].as_str().unwrap_or_default();
                let thread = body["ts"].as_str();
                let with_metadata = body["include_all_metadata"] == "true";
                // Bounded by `oldest`..`latest` (inclusive) when `latest` is given: one message
                // by its ts.
                let ts_of = |v: &Value| v.as_str().and_then(|t| t.parse::<f64>().ok());
                let bounds = ts_of(&body["latest"])
                    .map(|latest| (ts_of(&body["oldest"]).unwrap_or(0.0), latest));
                // The thread of the message `ts` names (itself when it is a root).
                let root: Option<String> = thread.map(|ts| {
                    self.messages
                        .lock()
                        .expect("messages")
                        .iter()
                        .find(|x| x.ts == ts)
                        .map(|x| x.thread_ts.clone().unwrap_or(x.ts.clone()))
                        .unwrap_or(ts.to_string())
                });
                let limit = body["limit"]
                    .as_str()
                    .and_then(|l| l.parse::<usize>().ok())
                    .filter(|_| bounds.is_some())
                    .unwrap_or(usize::MAX);
                let messages: Vec<Value> = self
                    .messages
                    .lock()
                    .expect("messages")
                    .iter()
                    .filter(|m| m.channel == channel)
                    .filter(|m| match (thread, bounds) {
                        // One message of a thread (its root, or a reply): Slack's
                        // `conversations.replies` with `ts` of a reply answers its thread.
                        (Some(_), Some(_)) => {
                            let root = root.as_deref().unwrap_or_default();
                            m.ts == root || m.thread_ts.as_deref() == Some(root)
                        }
                        // The parent and its replies.
                        (Some(ts), None) => m.ts == ts || m.thread_ts.as_deref() == Some(ts),
                        (None, _) => m.thread_ts.is_none(),
                    })
                    .filter(|m| match (bounds, m.ts.parse::<f64>().ok()) {
                        (Some((oldest, latest)), Some(t)) => t >= oldest && t <= latest,
                        (Some(_), None) => false,
                        (None, _) => true,
                    })
                    .take(limit)
                    .map(|m| {
                        let mut v = json!({"type": "message", "ts": m.ts, "text": m.text});
                        if let Some(extra) = m.extra.as_object() {
                            for (k, x) in extra {
                                v[k] = x.clone();
                            }
                        }
                        if with_metadata && !m.metadata.is_null() {
                            v["metadata"] = m.metadata.clone();
                        }
                        if let Some(t) = &m.thread_ts {
                            v["thread_ts"] = json!(t);
                        }
                        v
                    })
                    .collect();
                json!({"ok": true, "messages": messages, "has_more": false})
            }
            "chat.update" => {
                json!({"ok": true, "channel": channel, "ts": body["ts"], "message": {"text": body["text"]}})
            }
            "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
            "files.getUploadURLExternal" if self.files_refused.load(Ordering::SeqCst) => {
                json!({"ok": false, "error": "missing_scope", "needed": "files:write", "provided": "chat:write"})
            }
            "files.getUploadURLExternal" => {
                let id = format!("F{:06}", self.next_ts.fetch_add(1, Ordering::SeqCst));
                let length = body["length"].as_str().and_then(|l| l.parse().ok());
                let Some(length) = length else {
                    return axum::Json(json!({"ok": false, "error": "invalid_arguments"}))
                        .into_response();
                };
                self.uploads.lock().expect("uploads").insert(
                    id.clone(),
                    SlackUpload {
                        filename: body["filename"].as_str().unwrap_or_default().to_string(),
                        length,
                        alt_txt: body["alt_txt"].as_str().unwrap_or_default().to_string(),
                        bytes: None,
                    },
                );
                let base = self.api_url.trim_end_matches("/api");
                json!({"ok": true, "upload_url": format!("{base}/upload/{id}"), "file_id": id})
            }
            "files.completeUploadExternal" => {
                let mut shared = Vec::new();
                for f in body["files"].as_array().cloned().unwrap_or_default() {
                    let id = f["id"].as_str().unwrap_or_default().to_string();
                    let upload = self.uploads.lock().expect("uploads").get(&id).cloned();
                    // Slack shares only what was uploaded, whole.
                    let Some(upload) =
                        upload.filter(|u| u.bytes.as_ref().map(Vec::len) == Some(u.length))
                    else {
                        return axum::Json(
                            json!({"ok": false, "error": "file_upload_size_mismatch"}),
                        )
                        .into_response();
                    };
                    shared.push(SharedFile {
                        id,
                        channel: body["channel_id"].as_str().unwrap_or_default().to_string(),
                        thread_ts: body["thread_ts"].as_str().map(str::to_string),
                        title: f["title"].as_str().unwrap_or_default().to_string(),
                        upload,
                    });
                }
                let mut files = Vec::new();
                for f in shared {
                    // The file appears in the thread as a message sharing it.
                    let ts = format!(
                        "1700000000.{:06}",
                        self.next_ts.fetch_add(1, Ordering::SeqCst)
                    );
                    let file = json!({"id": f.id, "name": f.upload.filename, "title": f.title});
                    self.messages.lock().expect("messages").push(SlackMessage {
                        channel: f.channel.clone(),
                        ts,
                        thread_ts: f.thread_ts.clone(),
                        text: String::new(),
                        metadata: Value::Null,
                        extra: json!({"files": [file.clone()], "upload": true}),
                    });
                    files.push(file);
                    self.shared.lock().expect("shared").push(f);
                }
                if self
                    .fail_completes
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "slack is failing").into_response();
                }
                json!({"ok": true, "files": files})
            }
            // A trigger is good once, as Slack's (which also expire 3 s after the press).
            "views.open" => {
                let trigger = body["trigger_id"].as_str().unwrap_or_default();
                let used = self
                    .calls()
                    .iter()
                    .filter(|c| c.method == "views.open" && c.body["trigger_id"] == trigger)
                    .count();
                if trigger.is_empty() || used > 1 {
                    json!({"ok": false, "error": "invalid_trigger_id"})
                } else {
                    let mut view = body["view"].clone();
                    view["id"] = json!("V0FAKE");
                    view["team_id"] = json!("T1");
                    view["hash"] = json!("1.2");
                    view["state"] = json!({"values": {}});
                    json!({"ok": true, "view": view})
                }
            }
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
            "auth.test" if self.auth_test_fails.load(Ordering::SeqCst) => {
                json!({"ok": false, "error": "invalid_auth"})
            }
            // As Slack answers for a bot token.
            "auth.test" => json!({
                "ok": true, "url": WORKSPACE_URL, "team": "Canary Test", "user": "canarybot",
                "team_id": "T1", "user_id": "U0CANARYBOT", "bot_id": "B0CANARYBOT",
                "is_enterprise_install": false
            }),
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        axum::Json(reply).into_response()
    }

    /// The files shared so far.
    pub fn shared_files(&self) -> Vec<SharedFile> {
        self.shared.lock().expect("shared").clone()
    }

    /// Keeps a message as if a person had posted it, for `conversations.replies` to answer.
    pub fn seed(&self, message: SlackMessage) {
        self.messages.lock().expect("messages").push(message);
    }

    /// Top-level messages (thread roots) in a channel.
    pub fn roots(&self) -> Vec<SlackMessage> {
        self.messages
            .lock()
            .expect("messages")
            .iter()
            .filter(|m| m.thread_ts.is_none())
            .cloned()
            .collect()
    }

    /// The replies in the thread of `ts`, in the order Slack shows them (messages canarybot
    /// wrote; the files it shared are in [`FakeSlack::shared_files`]).
    pub fn replies(&self, ts: &str) -> Vec<SlackMessage> {
        self.messages
            .lock()
            .expect("messages")
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts) && m.extra["upload"] != true)
            .cloned()
            .collect()
    }

    /// The replies in the thread of `ts`, as [`crate::support::shape`]s.
    pub fn thread_shape(&self, ts: &str) -> Vec<String> {
        self.replies(ts)
            .iter()
            .map(|m| crate::support::shape(&m.text))
            .collect()
    }

    /// Holds the `nth` call to `method` unanswered; the receiver fires when it arrives.
    pub fn trap(&self, method: &str, nth: usize) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.trap.lock().expect("trap") = Some(Trap {
            method: method.to_string(),
            nth,
            reached: tx,
        });
        rx
    }

    /// Fails every call for `length` from now, and then until the next 500 (see [`Outage`]).
    pub fn start_outage(&self, length: Duration) {
        *self.outage.lock().expect("outage") = Some(Outage {
            until: std::time::Instant::now() + length,
            ended: None,
        });
    }

    /// Waits (up to 60 s) for the outage to end; returns when its last failing call arrived.
    pub async fn outage_ended(&self) -> std::time::Instant {
        for _ in 0..1200 {
            if let Some(ended) = self.outage.lock().expect("outage").and_then(|o| o.ended) {
                return ended;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the outage never ended (no call came); calls: {:#?}",
            self.calls()
        );
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
