//! Slack Socket Mode: canarybot opens a WebSocket to Slack (`apps.connections.open` with the
//! app-level token, then the URL it returns) and receives slash commands, interactions and Events
//! API events as envelopes, each acknowledged within Slack's 3 s with the answer the HTTP endpoint
//! would have given. No public address is needed.
//!
//! Not slack-morphism's Socket Mode listener: its envelope models are private, its interaction
//! callback cannot return an acknowledgement payload (a reason modal's `response_action: errors`
//! must go in the ack), and it reconnects out of sight of `/metrics`. The connection is ours
//! (tokio-tungstenite); slack-morphism's client only opens it, through our `SlackApi`.
//!
//! Each replica holds its own connection; Slack gives an envelope to one of them, and the store's
//! deliveries table (`once`) keeps a redelivery to another from acting twice.

pub mod envelope;
pub mod once;

use crate::chat::ChatError;
use crate::http::Link;
use crate::retry::Backoff;
use crate::slack::inbound::SlackInbound;
use envelope::Frame;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Waits between failed connects: doubling from 1 s, at most a minute, jittered so replicas do
/// not come back in step (`apps.connections.open` is a Tier 1 method).
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// A connection that lasted this long was healthy: the next one opens at once. One that ended
/// sooner counts as a failure for the backoff, so a server that closes right after `hello` is
/// not a reconnect loop.
const HEALTHY: Duration = Duration::from_secs(30);
/// After this long without a frame canarybot pings; after twice this long the connection is dead.
const SILENCE: Duration = Duration::from_secs(30);
/// How long `apps.connections.open`, then the WebSocket handshake, may take each.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// On shutdown, how long acknowledgements still being worked on may take before the close.
const DRAIN: Duration = Duration::from_secs(2);

/// Starts the Socket Mode connection of `inbound` with `app_token`: a task that reconnects until
/// `shutdown` turns true. Its state is `/metrics`' `slack`/`socket-mode` link.
pub fn listen(
    inbound: SlackInbound,
    app_token: String,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let link = inbound.counters.link("slack", "socket-mode");
    let socket = Arc::new(SocketMode {
        inbound,
        app_token,
        link,
        in_flight: Default::default(),
    });
    tokio::spawn(socket.run(shutdown))
}

struct SocketMode {
    inbound: SlackInbound,
    app_token: String,
    link: Arc<Link>,
    in_flight: once::InFlight,
}

/// How a connection came to an end.
enum Ended {
    /// Shutting down: no reconnect.
    Shutdown,
    /// It never became ready (`apps.connections.open` refused, the handshake failed, closed
    /// before `hello`). `retry_after`: Slack's own wait, when it rate-limited the call.
    Failed {
        why: String,
        retry_after: Option<Duration>,
    },
    /// A ready connection ended: closed by Slack, a `disconnect`, silence.
    Closed { why: String, lasted: Duration },
}

impl SocketMode {
    async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut failures = 0u32;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = match self.clone().connection(&mut shutdown).await {
                Ended::Shutdown => return,
                Ended::Failed { why, retry_after } => {
                    self.link.failed();
                    failures = failures.saturating_add(1);
                    let wait = BACKOFF.wait(failures, retry_after);
                    tracing::warn!(error = %why, failures, wait_ms = wait.as_millis() as u64, "Slack Socket Mode: cannot connect; trying again");
                    wait
                }
                Ended::Closed { why, lasted } => {
                    self.link.disconnected();
                    let wait = if lasted >= HEALTHY {
                        failures = 0;
                        Duration::ZERO
                    } else {
                        failures = failures.saturating_add(1);
                        BACKOFF.wait(failures, None)
                    };
                    tracing::info!(why = %why, lasted_ms = lasted.as_millis() as u64, wait_ms = wait.as_millis() as u64, "Slack Socket Mode: connection ended; reconnecting");
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() {
                    return;
                },
            }
        }
    }

    /// Opens one connection and receives on it until it ends. Envelopes are handled each in its
    /// own task (one slow answer does not hold up the next envelope's 3 s); their
    /// acknowledgements go through one writer, which closes the connection once the last is
    /// sent — so after a `disconnect` the next connection opens while the old one finishes.
    async fn connection(self: Arc<Self>, shutdown: &mut watch::Receiver<bool>) -> Ended {
        let ws = tokio::select! {
            opened = self.open() => match opened {
                Ok(ws) => ws,
                Err(ended) => return ended,
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ended::Shutdown;
                }
                return failed("interrupted".into());
            }
        };
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let writer = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if let Err(e) = sink.send(message).await {
                    tracing::warn!(error = %e, "Slack Socket Mode: cannot send an acknowledgement");
                }
            }
            let _ = sink.send(Message::Close(None)).await;
        });
        let mut ready: Option<Instant> = None;
        let mut pinged = false;
        let why = loop {
            let next = tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        drop(tx);
                        let _ = tokio::time::timeout(DRAIN, writer).await;
                        if ready.is_some() {
                            self.link.disconnected();
                        }
                        return Ended::Shutdown;
                    }
                    continue;
                }
                next = tokio::time::timeout(SILENCE, stream.next()) => next,
            };
            let message = match next {
                Err(_) if pinged => {
                    break format!("no frame for {:?}, not even a pong", SILENCE * 2);
                }
                Err(_) => {
                    pinged = true;
                    let _ = tx.send(Message::Ping(Default::default()));
                    continue;
                }
                Ok(None) => break "closed".to_string(),
                Ok(Some(Err(e))) => break format!("WebSocket error: {e}"),
                Ok(Some(Ok(message))) => message,
            };
            pinged = false;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(frame) => {
                    break match frame {
                        Some(f) => format!("closed by Slack ({} {})", f.code, f.reason),
                        None => "closed by Slack".to_string(),
                    };
                }
                // Pings are answered by tungstenite; nothing else is sent as binary.
                _ => continue,
            };
            match envelope::read(text.as_str()) {
                Ok(Frame::Hello) => {
                    ready = Some(Instant::now());
                    self.link.connected();
                    tracing::info!("Slack Socket Mode: connected");
                }
                Ok(Frame::Disconnect { reason }) => {
                    break format!("Slack asked to disconnect ({reason})");
                }
                Ok(Frame::Envelope(envelope)) => {
                    self.link.received();
                    let (me, tx) = (self.clone(), tx.clone());
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let payload = once::answer(&me.inbound, &me.in_flight, &envelope).await;
                        let ack = envelope::ack(&envelope, payload);
                        if tx.send(Message::text(ack)).is_err() {
                            tracing::warn!(envelope = %envelope.id, "Slack Socket Mode: connection gone before the acknowledgement");
                        }
                        tracing::debug!(envelope = %envelope.id, ms = started.elapsed().as_millis() as u64, "Slack envelope acknowledged");
                    });
                }
                Ok(Frame::Other(kind)) => {
                    tracing::debug!(kind = %kind, "Slack Socket Mode: frame ignored");
                }
                Err(e) => tracing::warn!(error = %e, "Slack Socket Mode: frame ignored"),
            }
        };
        // The writer closes this connection after the acknowledgements still being worked on.
        drop(tx);
        match ready {
            Some(at) => Ended::Closed {
                why,
                lasted: at.elapsed(),
            },
            None => failed(format!("ended before hello: {why}")),
        }
    }
}

/// The wait Slack asked for, when it rate-limited `apps.connections.open`.
fn retry_after(e: &ChatError) -> Option<Duration> {
    match e {
        ChatError::Transient { retry_after_ms, .. } | ChatError::Refused { retry_after_ms, .. } => {
            retry_after_ms.map(Duration::from_millis)
        }
        ChatError::Permanent(_) | ChatError::NotAllowed { .. } => None,
    }
}

impl SocketMode {
    /// `apps.connections.open`, then the WebSocket handshake with the URL it gave, each bounded
    /// by [`CONNECT_WAIT`].
    async fn open(&self) -> Result<Socket, Ended> {
        let opening = self.inbound.api.open_connection(&self.app_token);
        let url = match tokio::time::timeout(CONNECT_WAIT, opening).await {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => {
                return Err(Ended::Failed {
                    retry_after: retry_after(&e),
                    why: e.to_string(),
                });
            }
            Err(_) => {
                return Err(failed(format!(
                    "apps.connections.open: no answer within {CONNECT_WAIT:?}"
                )));
            }
        };
        match tokio::time::timeout(
            CONNECT_WAIT,
            tokio_tungstenite::connect_async_with_config(
                url.as_str(),
                Some(crate::limits::websocket(
                    self.inbound.config.server.max_body,
                )),
                false,
            ),
        )
        .await
        {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(failed(format!("WebSocket connect: {e}"))),
            Err(_) => Err(failed(format!(
                "WebSocket connect: no answer within {CONNECT_WAIT:?}"
            ))),
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn failed(why: String) -> Ended {
    Ended::Failed {
        why,
        retry_after: None,
    }
}
