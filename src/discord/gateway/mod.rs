//! `[discord] transport = "gateway"`: interactions over Discord's Gateway, an outbound WebSocket,
//! so canarybot needs no public address. INTERACTION_CREATE's `d` goes to the same handlers as
//! the HTTP endpoint (`DiscordInbound::answer`), and the answer is posted to the interaction
//! callback endpoint (`DiscordApi::interaction_callback`).
//!
//! Our own small client on `tokio-tungstenite`, not serenity's gateway: serenity 0.12.5's
//! stand-alone `Shard` cannot receive events outside serenity's `Client` (`WsClient::recv_json`
//! is crate-private); its `Client` resumes at the first gateway URL rather than READY's
//! `resume_gateway_url`, as Discord documents; it hands over its own `Interaction`, which
//! requires fields (application_id, token, version, locale, entitlements) the endpoint's parser
//! deliberately does not, so the two transports would not share one parse; and it exposes no
//! per-connection reconnect counts for `/metrics`. serenity's models are still what
//! `inbound::payload` reads.
//!
//! `protocol` is the protocol without the socket (pure, unit-tested); `connection` holds the
//! socket, the heartbeats and the reconnects.

mod connection;
pub mod protocol;

use super::api::DiscordApi;
use super::inbound::DiscordInbound;
use crate::http::Link;
use std::sync::Arc;

/// What the Gateway connection needs.
pub struct Gateway {
    pub api: Arc<DiscordApi>,
    pub bot_token: String,
    pub handlers: DiscordInbound,
    /// Its state in `/metrics` (`platform="discord", transport="gateway"`).
    pub link: Arc<Link>,
}

impl Gateway {
    /// Holds a connection to the Gateway open, reconnecting, until `shutdown` turns true or
    /// Discord refuses the bot for good (a fatal close code: logged as an error).
    pub fn start(
        self,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(connection::run(Arc::new(self), shutdown))
    }
}
