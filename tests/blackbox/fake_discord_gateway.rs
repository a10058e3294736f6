//! A fake Discord Gateway: a WebSocket server on loopback. Each connection gets HELLO at once;
//! heartbeats are recorded and ACKed by the fake itself (unless told not to), every other frame
//! the bot sends is handed to the test, which plays Discord's side with the rest (READY,
//! dispatches, RECONNECT, INVALID_SESSION, close codes).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub struct FakeGateway {
    /// `ws://127.0.0.1:<port>`: what `GET /gateway/bot` answers.
    pub url: String,
    conns: tokio::sync::Mutex<mpsc::UnboundedReceiver<GatewayConn>>,
    /// How many connections were accepted.
    pub accepted: Arc<AtomicU64>,
    /// While false, heartbeats are recorded but not ACKed (a zombied connection).
    pub ack: Arc<AtomicBool>,
    /// The last sequence number sent, across connections (a resumed session goes on counting).
    seq: Arc<AtomicU64>,
}

/// One connection the bot opened.
pub struct GatewayConn {
    /// The path and query it connected to.
    pub path: String,
    frames: mpsc::UnboundedReceiver<Value>,
    out: mpsc::UnboundedSender<Message>,
    /// Heartbeats received: when, and the frame.
    pub heartbeats: Arc<Mutex<Vec<(Instant, Value)>>>,
    seq: Arc<AtomicU64>,
}

/// A port on loopback kept for a later [`FakeGateway::start_on`]: bound (so no other test's
/// bind to port 0 can take it meanwhile) but not listening, so connecting to it is refused.
pub struct ReservedPort {
    pub port: u16,
    _held: tokio::net::TcpSocket,
}

pub async fn free_port() -> ReservedPort {
    let socket = reusable_socket();
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    ReservedPort {
        port,
        _held: socket,
    }
}

/// SO_REUSEADDR: a socket bound to a reserved port may listen while the reservation is held
/// (Linux allows it when neither listens yet and both set the option).
fn reusable_socket() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
}

impl FakeGateway {
    /// Listens on `port` (0: any); HELLO says `heartbeat_interval_ms`.
    pub async fn start_on(port: u16, heartbeat_interval_ms: u64) -> FakeGateway {
        let socket = reusable_socket();
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .expect("bind fake gateway");
        let listener: TcpListener = socket.listen(64).expect("listen");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicU64::new(0));
        let ack = Arc::new(AtomicBool::new(true));
        let seq = Arc::new(AtomicU64::new(0));
        let (a, k, s) = (accepted.clone(), ack.clone(), seq.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, a, k, s) = (tx.clone(), a.clone(), k.clone(), s.clone());
                tokio::spawn(async move {
                    let mut path = String::new();
                    // tungstenite's callback type, not ours, has the large error.
                    #[allow(clippy::result_large_err)]
                    let callback = |req: &Request, resp: Response| {
                        path = req.uri().to_string();
                        Ok(resp)
                    };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                        return;
                    };
                    a.fetch_add(1, Ordering::SeqCst);
                    serve(ws, path, heartbeat_interval_ms, tx, k, s).await;
                });
            }
        });
        FakeGateway {
            url,
            conns: tokio::sync::Mutex::new(rx),
            accepted,
            ack,
            seq,
        }
    }

    pub async fn start(heartbeat_interval_ms: u64) -> FakeGateway {
        FakeGateway::start_on(0, heartbeat_interval_ms).await
    }

    /// The next connection the bot opens (within `within`).
    pub async fn next_conn_within(&self, within: Duration) -> GatewayConn {
        tokio::time::timeout(within, self.conns.lock().await.recv())
            .await
            .expect("the bot connects to the fake gateway")
            .expect("fake gateway running")
    }

    pub async fn next_conn(&self) -> GatewayConn {
        self.next_conn_within(Duration::from_secs(15)).await
    }

    /// Whether the bot opens another connection within `within`.
    pub async fn connects_within(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.conns.lock().await.recv())
            .await
            .is_ok()
    }

    pub fn last_seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    path: String,
    heartbeat_interval_ms: u64,
    conns: mpsc::UnboundedSender<GatewayConn>,
    ack: Arc<AtomicBool>,
    seq: Arc<AtomicU64>,
) {
    let (mut sink, mut stream) = ws.split();
    let (frames_tx, frames) = mpsc::unbounded_channel();
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    let heartbeats: Arc<Mutex<Vec<(Instant, Value)>>> = Default::default();
    let hello =
        json!({"op": 10, "d": {"heartbeat_interval": heartbeat_interval_ms}, "s": null, "t": null});
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    let _ = conns.send(GatewayConn {
        path,
        frames,
        out: out.clone(),
        heartbeats: heartbeats.clone(),
        seq,
    });
    loop {
        tokio::select! {
            m = out_rx.recv() => {
                let Some(m) = m else { return };
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    return;
                }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        let _ = frames_tx.send(json!({"closed": true}));
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                if v["op"] == 1 {
                    heartbeats.lock().expect("heartbeats").push((Instant::now(), v));
                    if ack.load(Ordering::SeqCst) {
                        let _ = out.send(Message::text(json!({"op": 11}).to_string()));
                    }
                } else {
                    let _ = frames_tx.send(v);
                }
            }
        }
    }
}

impl GatewayConn {
    /// The next frame (not a heartbeat) the bot sent; `{"closed": true}` when it closed.
    pub async fn recv(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.frames.recv())
            .await
            .expect("a frame from the bot")
            .unwrap_or(json!({"closed": true}))
    }

    pub fn send(&self, v: Value) {
        let _ = self.out.send(Message::text(v.to_string()));
    }

    /// A dispatch (op 0) with the next sequence number.
    pub fn dispatch(&self, t: &str, d: Value) -> u64 {
        let s = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.send(json!({"op": 0, "s": s, "t": t, "d": d}));
        s
    }

    /// READY, with the session id and where to resume.
    pub fn ready(&self, session_id: &str, resume_gateway_url: &str) {
        self.dispatch(
            "READY",
            json!({"v": 10, "user": {"id": "424242", "username": "canarybot", "bot": true},
                   "guilds": [], "session_id": session_id,
                   "resume_gateway_url": resume_gateway_url,
                   "application": {"id": "424242", "flags": 0}}),
        );
    }

    pub fn close(&self, code: u16) {
        let _ = self.out.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        })));
    }

    pub fn heartbeat_count(&self) -> usize {
        self.heartbeats.lock().expect("heartbeats").len()
    }

    /// Waits until the bot has sent `n` heartbeats on this connection.
    pub async fn wait_heartbeats(&self, n: usize, within: Duration) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + within;
        loop {
            let beats = self.heartbeats.lock().expect("heartbeats").clone();
            if beats.len() >= n {
                return beats;
            }
            assert!(
                Instant::now() < deadline,
                "only {} heartbeats of {n} within {within:?}",
                beats.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
