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

#[derive(Clone, Default)]
pub struct FakeDiscord {
    /// What `[discord] api_url` points at.
    pub api_url: String,
    pub calls: Arc<Mutex<Vec<DiscordCall>>>,
    next_id: Arc<AtomicU64>,
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
                async move { axum::Json(f.answer(method, uri.path().to_string(), &headers, &body)) }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn answer(&self, method: Method, path: String, headers: &HeaderMap, body: &[u8]) -> Value {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.calls.lock().expect("calls").push(DiscordCall {
            method: method.to_string(),
            path: path.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.clone(),
        });
        let parts: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
        let id = self.next_id.fetch_add(1, Ordering::SeqCst).to_string();
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["channels", channel, "messages"]) => json!({"id": id, "channel_id": channel}),
            ("POST", ["channels", _, "messages", _, "threads"]) => json!({"id": id, "type": 11}),
            ("PATCH", ["channels", channel, "messages", message]) => {
                json!({"id": message, "channel_id": channel})
            }
            ("PUT", ["applications", _, "commands"])
            | ("PUT", ["applications", _, "guilds", _, "commands"]) => body,
            _ => json!({"message": "404: Not Found", "code": 0}),
        }
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
