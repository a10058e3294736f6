//! A fake Discord REST API on loopback that records every call, and a test application key that
//! signs interactions the way Discord does.

use axum::http::{HeaderMap, Method, Uri};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// The test application's signing key (Discord holds the private half; we play Discord).
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

/// `X-Signature-Ed25519` for a body at a timestamp.
pub fn sign(key: &SigningKey, timestamp: &str, body: &str) -> String {
    hex::encode(key.sign(format!("{timestamp}{body}").as_bytes()).to_bytes())
}

#[derive(Debug, Clone)]
pub struct DiscordCall {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A message as Discord keeps it.
#[derive(Debug, Clone)]
pub struct DiscordMessage {
    pub id: String,
    pub channel: String,
    pub nonce: Option<String>,
    pub body: Value,
    /// The files of a multipart message (`files[n]` parts), in order; its `body` is the
    /// `payload_json` part.
    pub files: Vec<DiscordFile>,
}

/// A file attached to a message: its form field (`files[0]`), file name and bytes.
#[derive(Debug, Clone)]
pub struct DiscordFile {
    pub field: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// The parts of a `multipart/form-data` body: (name, file name, bytes).
fn multipart_parts(boundary: &str, body: &[u8]) -> Vec<(String, Option<String>, Vec<u8>)> {
    let delimiter = format!("--{boundary}").into_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        (from..=hay.len().saturating_sub(needle.len())).find(|&i| hay[i..].starts_with(needle))
    };
    let mut parts = Vec::new();
    let mut at = match find(body, &delimiter, 0) {
        Some(i) => i + delimiter.len(),
        None => return parts,
    };
    while let Some(next) = find(body, &delimiter, at) {
        let part = &body[at..next];
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        if let Some(split) = find(part, b"\r\n\r\n", 0) {
            let head = String::from_utf8_lossy(&part[..split]).to_string();
            let attr = |key: &str| {
                let start = head.find(&format!("{key}=\""))? + key.len() + 2;
                let end = head[start..].find('"')? + start;
                Some(head[start..end].to_string())
            };
            if let Some(name) = attr("name") {
                parts.push((name, attr("filename"), part[split + 4..].to_vec()));
            }
        }
        at = next + delimiter.len();
    }
    parts
}

/// Holds the `nth` call (1-based) whose `METHOD path` ends with `suffix` unanswered (after
/// acting on it, as Discord would), so a test can kill the bot mid-call.
pub struct Trap {
    pub method: String,
    pub suffix: String,
    pub nth: usize,
    pub reached: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone, Default)]
pub struct FakeDiscord {
    /// What `[discord] api_url` points at.
    pub api_url: String,
    pub calls: Arc<Mutex<Vec<DiscordCall>>>,
    /// Messages created (a retry with an enforced nonce gets the first one back).
    pub messages: Arc<Mutex<Vec<DiscordMessage>>>,
    /// Message ids a thread was started from (the thread has the message's id).
    pub threads: Arc<Mutex<Vec<String>>>,
    /// While set, every call answers HTTP 503.
    pub down: Arc<std::sync::atomic::AtomicBool>,
    pub trap: Arc<Mutex<Option<Trap>>>,
    /// What `GET /gateway/bot` answers as the Gateway's `url` (a fake gateway).
    pub gateway_url: Arc<Mutex<String>>,
    next_id: Arc<AtomicU64>,
    /// While set, a message with files answers 403 Missing Permissions (no *Attach Files*).
    pub refuse_files: Arc<std::sync::atomic::AtomicBool>,
    /// This many messages with files are created and then answered HTTP 500.
    pub fail_file_posts: Arc<std::sync::atomic::AtomicU32>,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake discord");
        let fake = FakeDiscord {
            api_url: format!("http://{}/api/v10", listener.local_addr().expect("addr")),
            next_id: Arc::new(AtomicU64::new(900_000_000_000_000_001)),
            ..FakeDiscord::default()
        };
        let f = fake.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let f = f.clone();
                async move {
                    f.answer(method, uri.path().to_string(), &headers, &body)
                        .await
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    async fn answer(
        &self,
        method: Method,
        path: String,
        headers: &HeaderMap,
        body: &[u8],
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let boundary = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .filter(|t| t.starts_with("multipart/form-data"))
            .and_then(|t| t.split("boundary=").nth(1))
            .map(|b| b.trim_matches('"').to_string());
        let mut files = Vec::new();
        let body: Value = match boundary {
            Some(boundary) => {
                let mut payload = Value::Null;
                for (name, filename, bytes) in multipart_parts(&boundary, body) {
                    if name == "payload_json" {
                        payload = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    } else if let Some(filename) = filename {
                        files.push(DiscordFile {
                            field: name,
                            filename,
                            bytes,
                        });
                    }
                }
                payload
            }
            None => serde_json::from_slice(body).unwrap_or(Value::Null),
        };
        if !files.is_empty() && self.refuse_files.load(Ordering::SeqCst) {
            self.calls.lock().expect("calls").push(DiscordCall {
                method: method.to_string(),
                path: path.clone(),
                authorization: None,
                body,
            });
            return (
                axum::http::StatusCode::FORBIDDEN,
                axum::Json(json!({"message": "Missing Permissions", "code": 50013})),
            )
                .into_response();
        }
        let with_files = !files.is_empty();
        let nth = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(DiscordCall {
                method: method.to_string(),
                path: path.clone(),
                authorization: headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body: body.clone(),
            });
            let trap = self.trap.lock().expect("trap");
            trap.as_ref().map(|t| {
                calls
                    .iter()
                    .filter(|c| c.method == t.method && c.path.ends_with(&t.suffix))
                    .count()
            })
        };
        if self.down.load(Ordering::SeqCst) {
            return (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"message": "upstream down", "code": 0})),
            )
                .into_response();
        }
        let (status, reply) = self.reply(&method, &path, body, files);
        if with_files
            && self
                .fail_file_posts
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "500: Internal Server Error", "code": 0})),
            )
                .into_response();
        }
        let trapped = {
            let mut trap = self.trap.lock().expect("trap");
            match trap.take() {
                Some(t)
                    if t.method == method.as_str()
                        && path.ends_with(&t.suffix)
                        && Some(t.nth) == nth =>
                {
                    Some(t)
                }
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
        (status, axum::Json(reply)).into_response()
    }

    fn reply(
        &self,
        method: &Method,
        path: &str,
        body: Value,
        files: Vec<DiscordFile>,
    ) -> (axum::http::StatusCode, Value) {
        let ok = axum::http::StatusCode::OK;
        let parts: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["channels", channel, "messages"]) => {
                let nonce = match &body["nonce"] {
                    Value::String(n) => Some(n.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                let mut messages = self.messages.lock().expect("messages");
                if body["enforce_nonce"] == true
                    && let Some(m) = messages
                        .iter()
                        .find(|m| m.channel == *channel && nonce.is_some() && m.nonce == nonce)
                {
                    return (
                        ok,
                        json!({"id": m.id, "channel_id": channel, "nonce": nonce}),
                    );
                }
                let id = self.next_id.fetch_add(1, Ordering::SeqCst).to_string();
                messages.push(DiscordMessage {
                    id: id.clone(),
                    channel: channel.to_string(),
                    nonce: nonce.clone(),
                    body,
                    files,
                });
                (ok, json!({"id": id, "channel_id": channel, "nonce": nonce}))
            }
            ("POST", ["channels", _, "messages", message, "threads"]) => {
                let mut threads = self.threads.lock().expect("threads");
                if threads.iter().any(|t| t == message) {
                    return (
                        axum::http::StatusCode::BAD_REQUEST,
                        json!({"message": "A thread has already been created for this message", "code": 160004}),
                    );
                }
                threads.push(message.to_string());
                (ok, json!({"id": message, "type": 11}))
            }
            // The DM channel with a user: the same one each time, as Discord answers.
            ("POST", ["users", "@me", "channels"]) => {
                let recipient = body["recipient_id"].as_str().unwrap_or_default();
                (ok, json!({"id": format!("77{recipient}"), "type": 1}))
            }
            ("PATCH", ["channels", channel, "messages", message]) => {
                (ok, json!({"id": message, "channel_id": channel}))
            }
            ("PUT", ["applications", _, "commands"])
            | ("PUT", ["applications", _, "guilds", _, "commands"]) => (ok, body),
            ("GET", ["gateway", "bot"]) => (
                ok,
                json!({"url": *self.gateway_url.lock().expect("gateway url"), "shards": 1,
                       "session_start_limit": {"total": 1000, "remaining": 999,
                                               "reset_after": 0, "max_concurrency": 1}}),
            ),
            // Answering an interaction received over the Gateway: 204, as Discord does.
            ("POST", ["interactions", _, _, "callback"]) => {
                (axum::http::StatusCode::NO_CONTENT, Value::Null)
            }
            _ => (ok, json!({"message": "404: Not Found", "code": 0})),
        }
    }

    /// Messages created in a channel (a thread is a channel too).
    pub fn messages_in(&self, channel: &str) -> Vec<DiscordMessage> {
        self.messages
            .lock()
            .expect("messages")
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// Holds the `nth` `method` call whose path ends with `suffix`; fires when it arrives.
    pub fn trap(
        &self,
        method: &str,
        suffix: &str,
        nth: usize,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        *self.trap.lock().expect("trap") = Some(Trap {
            method: method.to_string(),
            suffix: suffix.to_string(),
            nth,
            reached: tx,
        });
        rx
    }

    pub fn calls(&self) -> Vec<DiscordCall> {
        self.calls.lock().expect("calls").clone()
    }

    pub async fn wait_for(&self, what: &str, check: impl Fn(&[DiscordCall]) -> bool) {
        for _ in 0..200 {
            if check(&self.calls()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("fake Discord never saw {what}; calls: {:#?}", self.calls());
    }
}
