//! A fake Slack Socket Mode server on loopback: `apps.connections.open` (served by the fake Web
//! API, `FakeSlack::connections_open`) checks the bearer is the app-level token and answers with
//! this server's `ws://` URL; each WebSocket connection gets Slack's `hello`, then the test sends
//! envelopes and reads the acknowledgements.

use crate::fake_slack::FakeSlack;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

pub const APP_TOKEN: &str = "xapp-1-A0KRD7HC3-1234567890-0123456789abcdef";

/// How the next `apps.connections.open` calls go wrong before they work again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenFailure {
    /// `{"ok": false, "error": "invalid_auth"}`
    InvalidAuth,
    /// A URL where nothing listens: the WebSocket connect is refused.
    Refused,
}

pub struct FakeSocket {
    /// When each `apps.connections.open` call arrived.
    pub opens: Arc<Mutex<Vec<Instant>>>,
    /// Failures to give, in order, before opens work again.
    pub failures: Arc<Mutex<Vec<OpenFailure>>>,
    connections: mpsc::UnboundedReceiver<Connection>,
}

/// One WebSocket connection the bot opened, after the fake sent `hello`.
pub struct Connection {
    ws: WebSocketStream<tokio::net::TcpStream>,
    /// The path of the URL it connected to (`/link/<n>`).
    pub path: String,
}

/// The fixture's envelopes, by file name under `tests/fixtures/slack/`.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/slack")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

static ENVELOPES: AtomicU64 = AtomicU64::new(1);

/// A fresh envelope id in Slack's form.
pub fn envelope_id() -> String {
    format!(
        "dbdd0ef3-1543-4f94-bfb4-{:012x}",
        ENVELOPES.fetch_add(1, Ordering::SeqCst)
    )
}

/// An envelope as Slack sends it: `slash_commands` and `interactive` accept a response payload,
/// `events_api` does not.
pub fn envelope(kind: &str, payload: Value) -> Value {
    json!({
        "envelope_id": envelope_id(),
        "type": kind,
        "accepts_response_payload": kind != "events_api",
        "payload": payload,
        "retry_attempt": 0,
        "retry_reason": "",
    })
}

impl FakeSocket {
    /// Serves Socket Mode for `slack`: its `apps.connections.open` answers with this server.
    // tungstenite's handshake callback returns its own large error type.
    #[allow(clippy::result_large_err)]
    pub async fn start(slack: &FakeSlack) -> FakeSocket {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake socket");
        let addr = listener.local_addr().expect("addr");
        // A port nothing listens on, for refused connects.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let opens = Arc::new(Mutex::new(Vec::new()));
        let failures: Arc<Mutex<Vec<OpenFailure>>> = Arc::new(Mutex::new(Vec::new()));
        let n = Arc::new(AtomicU32::new(0));
        let (o, f) = (opens.clone(), failures.clone());
        *slack.connections_open.lock().expect("opener") =
            Some(Arc::new(move |authorization: Option<&str>| {
                o.lock().expect("opens").push(Instant::now());
                if authorization != Some(&format!("Bearer {APP_TOKEN}")) {
                    return json!({"ok": false, "error": "invalid_auth"});
                }
                let failure = {
                    let mut f = f.lock().expect("failures");
                    (!f.is_empty()).then(|| f.remove(0))
                };
                match failure {
                    Some(OpenFailure::InvalidAuth) => {
                        json!({"ok": false, "error": "invalid_auth"})
                    }
                    Some(OpenFailure::Refused) => {
                        json!({"ok": true, "url": format!("ws://{dead}/link/refused")})
                    }
                    None => json!({
                        "ok": true,
                        "url": format!("ws://{addr}/link/{}", n.fetch_add(1, Ordering::SeqCst) + 1),
                    }),
                }
            }));
        let (tx, connections) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let path = Arc::new(Mutex::new(String::new()));
                    let p = path.clone();
                    let callback =
                        move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                              resp| {
                            *p.lock().expect("path") = req.uri().path().to_string();
                            Ok(resp)
                        };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                    else {
                        return;
                    };
                    let hello = fixture("socket_mode.hello.json").to_string();
                    if ws.send(Message::text(hello)).await.is_ok() {
                        let path = path.lock().expect("path").clone();
                        let _ = tx.send(Connection { ws, path });
                    }
                });
            }
        });
        FakeSocket {
            opens,
            failures,
            connections,
        }
    }

    /// The next connection the bot opens (up to 15 s).
    pub async fn connection(&mut self) -> Connection {
        tokio::time::timeout(Duration::from_secs(15), self.connections.recv())
            .await
            .expect("the bot connected within 15 s")
            .expect("the fake socket server runs")
    }

    /// How many times `apps.connections.open` was called.
    pub fn open_count(&self) -> usize {
        self.opens.lock().expect("opens").len()
    }
}

impl Connection {
    pub async fn send(&mut self, frame: &Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send to the bot");
    }

    /// Sends a frame the bot may drop the connection over while it is still being written (one
    /// over its size limit): a reset mid-send is the bot doing its job, not a failure.
    pub async fn send_refused(&mut self, frame: &Value) {
        let _ = self.ws.send(Message::text(frame.to_string())).await;
    }

    /// The next text frame from the bot (up to `within`); `None` when none came or the
    /// connection closed.
    pub async fn next_text(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("the bot sends JSON"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Sends `envelope` and waits (up to 10 s) for its acknowledgement; returns it and how long
    /// it took.
    pub async fn deliver(&mut self, envelope: &Value) -> (Value, Duration) {
        let started = Instant::now();
        self.send(envelope).await;
        loop {
            let Some(frame) = self.next_text(Duration::from_secs(10)).await else {
                panic!("no acknowledgement of {envelope} within 10 s");
            };
            if frame["envelope_id"] == envelope["envelope_id"] {
                return (frame, started.elapsed());
            }
        }
    }

    /// Whether the bot closes this connection within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}
