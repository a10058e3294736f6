//! The Gateway connection: connect (the resume address when there is a session, else the one
//! `GET /gateway/bot` gives), HELLO, IDENTIFY or RESUME, heartbeats, dispatches, and what to do
//! when it ends — reconnect with backoff, or stop for good on a fatal close code.

use super::Gateway;
use super::protocol::{
    AfterClose, CallbackAddress, Event, Session, after_close, fatal_reason, first_beat,
    identify_again_after, with_query,
};
use crate::chat::ChatError;
use crate::retry::{Backoff, jitter};
use futures_util::{SinkExt, StreamExt};
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Waits between connections that did not last: doubling from half a second to a minute,
/// jittered, so a dead Gateway is never a tight loop.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));

/// How long a connection (TCP, TLS, WebSocket) may take, and how long HELLO may take after it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Failed attempts to resume before identifying anew.
const RESUME_TRIES: u32 = 2;

/// How long one replica holds an interaction it answers: well past Discord's 3 s.
const ANSWER_LEASE_MS: i64 = 30_000;

/// How one connection ended.
enum Ended {
    /// `shutdown` turned true.
    Shutdown,
    /// Reconnect after at least `wait_at_least` (and the backoff).
    Lost {
        ready: bool,
        reason: String,
        wait_at_least: Duration,
    },
    /// Discord refused the bot for good: reconnecting cannot help.
    Stop(String),
}

fn lost(ready: bool, reason: impl Into<String>) -> Ended {
    Ended::Lost {
        ready,
        reason: reason.into(),
        wait_at_least: Duration::ZERO,
    }
}

/// Holds the connection open until shutdown or a fatal refusal.
pub async fn run(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    let mut session = Session::default();
    // Connections since the last one that became ready.
    let mut tries: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let ended = gateway.connect_once(&mut session, &mut shutdown).await;
        let wait = match ended {
            Ended::Shutdown => return,
            Ended::Stop(reason) => {
                gateway.link.disconnected();
                gateway.link.failed();
                tracing::error!(
                    reason = %reason,
                    "Discord Gateway: stopped for good; Discord interactions are not received until the configuration is fixed and canarybot restarted"
                );
                // Not a crash and not a loop: wait for the shutdown, down in /metrics meanwhile.
                stopped(&mut shutdown).await;
                return;
            }
            Ended::Lost {
                ready,
                reason,
                wait_at_least,
            } => {
                if ready {
                    gateway.link.disconnected();
                    tries = 0;
                } else {
                    gateway.link.failed();
                    // A resume address that keeps failing: start afresh where Discord says
                    // (what a resume would replay is past Discord's 3 s by now anyway).
                    if tries >= RESUME_TRIES && session.resumable() {
                        session.end();
                    }
                }
                tries = tries.saturating_add(1);
                let wait = BACKOFF.delay(tries, jitter()).max(wait_at_least);
                tracing::warn!(
                    reason = %reason,
                    resume = session.resumable(),
                    wait_ms = wait.as_millis() as u64,
                    "Discord Gateway connection ended; reconnecting"
                );
                wait
            }
        };
        tokio::select! {
            _ = sleep(wait) => {}
            _ = stopped(&mut shutdown) => return,
        }
    }
}

impl Gateway {
    /// Where to connect: the session's resume address, else a fresh one from Discord.
    async fn address(&self, session: &Session) -> Result<String, Ended> {
        if let Some(url) = session.resume_at() {
            return Ok(url);
        }
        match self.api.gateway_bot().await {
            Ok(g) if g.starts_left == Some(0) => {
                let wait = Duration::from_millis(g.starts_reset_after_ms.unwrap_or(60_000));
                Err(Ended::Lost {
                    ready: false,
                    reason: "Discord's session start limit is used up".into(),
                    wait_at_least: wait,
                })
            }
            Ok(g) => Ok(with_query(&g.url)),
            Err(ChatError::Permanent(m)) => Err(Ended::Stop(m)),
            Err(e) => Err(lost(false, e.to_string())),
        }
    }

    async fn connect_once(
        &self,
        session: &mut Session,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let url = match self.address(session).await {
            Ok(url) => url,
            Err(ended) => return ended,
        };
        tracing::debug!(url = %crate::redact::url(&url), resume = session.resumable(), "connecting to the Discord Gateway");
        let mut ws = match timeout(
            CONNECT_TIMEOUT,
            connect_async_with_config(
                url.as_str(),
                Some(crate::limits::websocket(
                    self.handlers.config.server.max_body,
                )),
                false,
            ),
        )
        .await
        {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return lost(false, format!("cannot connect: {e}")),
            Err(_) => return lost(false, "cannot connect: timed out"),
        };
        let interval = tokio::select! {
            hello = timeout(CONNECT_TIMEOUT, hello(&mut ws, session)) => match hello {
                Ok(Ok(interval)) => interval,
                Ok(Err(reason)) => return lost(false, reason),
                Err(_) => return lost(false, "no HELLO"),
            },
            _ = stopped(shutdown) => return Ended::Shutdown,
        };
        if let Err(e) = send(&mut ws, session.greeting(&self.bot_token)).await {
            return lost(false, e);
        }
        let mut ready = false;
        let mut next_beat = Instant::now() + first_beat(interval, jitter());
        let mut awaiting_ack = false;
        loop {
            tokio::select! {
                _ = stopped(shutdown) => {
                    // 1000: the session ends, and the bot shows offline at once.
                    close(&mut ws, CloseCode::Normal).await;
                    return Ended::Shutdown;
                }
                _ = sleep_until(next_beat) => {
                    if awaiting_ack {
                        // A zombied connection: close it (not with 1000, which would end the
                        // session) and resume on a new one.
                        close(&mut ws, CloseCode::Library(4000)).await;
                        return lost(ready, "no heartbeat ACK since the last heartbeat");
                    }
                    if let Err(e) = send(&mut ws, session.heartbeat()).await {
                        return lost(ready, e);
                    }
                    awaiting_ack = true;
                    next_beat = Instant::now() + interval;
                }
                frame = ws.next() => {
                    let text = match frame {
                        None => return lost(ready, "the Gateway closed the connection"),
                        Some(Err(e)) => return lost(ready, format!("connection failed: {e}")),
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => return closed(ready, frame, session),
                        // Pings are answered by the socket; nothing else is expected.
                        Some(Ok(_)) => continue,
                    };
                    let event = match session.read(text.as_str()) {
                        Ok(event) => event,
                        Err(e) => {
                            tracing::warn!(error = %e, "Discord Gateway frame ignored");
                            continue;
                        }
                    };
                    match event {
                        Event::Ready | Event::Resumed => {
                            ready = true;
                            self.link.connected();
                            tracing::info!(resumed = matches!(event, Event::Resumed), "Discord Gateway ready");
                        }
                        Event::Interaction(d) => {
                            self.link.received();
                            self.answer(d);
                        }
                        Event::HeartbeatAsked => {
                            if let Err(e) = send(&mut ws, session.heartbeat()).await {
                                return lost(ready, e);
                            }
                            awaiting_ack = true;
                        }
                        Event::HeartbeatAck => awaiting_ack = false,
                        Event::Reconnect => {
                            close(&mut ws, CloseCode::Library(4000)).await;
                            return lost(ready, "Discord asked to reconnect (op 7)");
                        }
                        Event::InvalidSession { resumable } => {
                            close(&mut ws, CloseCode::Library(4000)).await;
                            // Not resumable: `read` ended the session; identify anew after
                            // the 1–5 s Discord asks for.
                            return Ended::Lost {
                                ready,
                                reason: format!("invalid session (resumable: {resumable})"),
                                wait_at_least: if resumable {
                                    Duration::ZERO
                                } else {
                                    identify_again_after(jitter())
                                },
                            };
                        }
                        Event::Hello { .. } | Event::OtherDispatch(_) | Event::Unknown(_) => {}
                    }
                }
            }
        }
    }

    /// Answers an interaction on its own task (the connection keeps reading meanwhile):
    /// the shared handlers, then the callback endpoint, within Discord's 3 s.
    fn answer(&self, d: Box<RawValue>) {
        let handlers = self.handlers.clone();
        let api = self.api.clone();
        tokio::spawn(async move {
            let address = match CallbackAddress::of(&d) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "Discord interaction over the Gateway not answered");
                    return;
                }
            };
            // Every replica's connection receives the interaction (and a RESUME may replay
            // it): the one that takes its lease answers it.
            let lease = format!("discord-interaction:{}", address.id);
            let store = handlers.engine.store();
            let replica = handlers.engine.replica().to_string();
            let now = (handlers.clock)();
            match store
                .lease(&lease, &replica, now, now + ANSWER_LEASE_MS, false)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(interaction = %address.id, "interaction being answered elsewhere");
                    return;
                }
                // The answer's own de-duplication still holds; better answer than not.
                Err(e) => tracing::warn!(error = %e, "cannot take an interaction's lease"),
            }
            let started = Instant::now();
            match handlers.answer(d.get().as_bytes()).await {
                Ok(answered) if answered.repeat => {
                    tracing::debug!(interaction = %address.id, "interaction dispatched again; answered before")
                }
                Ok(answered) => {
                    match api
                        .interaction_callback(&address.id, &address.token, &answered.response)
                        .await
                    {
                        Ok(()) => tracing::debug!(
                            interaction = %address.id,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "Discord interaction answered"
                        ),
                        Err(e) => tracing::warn!(
                            interaction = %address.id,
                            error = %e,
                            "cannot answer a Discord interaction"
                        ),
                    }
                }
                Err(e) => tracing::warn!(
                    interaction = %address.id,
                    error = %e,
                    "Discord interaction over the Gateway not answered"
                ),
            }
            if let Err(e) = store.release_lease(&lease, &replica).await {
                tracing::debug!(error = %e, "cannot release an interaction's lease");
            }
        });
    }
}

/// Reads up to HELLO; its heartbeat interval.
async fn hello(ws: &mut Socket, session: &mut Session) -> Result<Duration, String> {
    loop {
        match ws.next().await {
            None => return Err("closed before HELLO".into()),
            Some(Err(e)) => return Err(format!("connection failed before HELLO: {e}")),
            Some(Ok(Message::Text(text))) => match session.read(text.as_str()) {
                Ok(Event::Hello { interval }) => return Ok(interval),
                Ok(other) => tracing::debug!(?other, "Discord Gateway frame before HELLO ignored"),
                Err(e) => return Err(e),
            },
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed before HELLO: {}", describe(frame.as_ref())));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// What a close frame from the Gateway means: stop, or reconnect (ending the session when it
/// cannot be resumed).
fn closed(ready: bool, frame: Option<CloseFrame>, session: &mut Session) -> Ended {
    let code = frame.as_ref().map(|f| u16::from(f.code));
    let what = describe(frame.as_ref());
    match code.map(after_close) {
        Some(AfterClose::Stop) => Ended::Stop(format!(
            "the Gateway closed the connection: {what}: {}",
            fatal_reason(code.unwrap_or_default())
        )),
        Some(AfterClose::Identify) => {
            session.end();
            lost(ready, format!("the Gateway closed the connection: {what}"))
        }
        _ => lost(ready, format!("the Gateway closed the connection: {what}")),
    }
}

fn describe(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close code {} {}", u16::from(f.code), f.reason.as_str()),
        None => "no close code".into(),
    }
}

/// Returns once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn send(ws: &mut Socket, frame: String) -> Result<(), String> {
    ws.send(Message::text(frame))
        .await
        .map_err(|e| format!("cannot send: {e}"))
}

async fn close(ws: &mut Socket, code: CloseCode) {
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    let _ = timeout(Duration::from_secs(2), ws.close(Some(frame))).await;
}
