//! Discord as the registry knows it: identities, `[discord]`, the chat port, and the transport
//! interactions arrive by (the interactions endpoint, or the Gateway).

use super::api::DiscordApi;
use super::chat::DiscordChat;
use super::config::{DiscordConfig, Transport};
use super::gateway::Gateway;
use super::inbound::{DiscordInbound, routes, verifier};
use crate::chat::ChatPort;
use crate::chat::{ChatPlatform, Connection};
use crate::config::{Config, ServiceConfig, http_url_problem};
use crate::http::{AppState, Inbound, PathMatch, Surface};
use axum::Router;
use serenity::interactions_endpoint::Verifier;
use std::collections::HashMap;
use std::sync::Arc;

pub static PLATFORM: ChatPlatform = ChatPlatform {
    name: "discord",
    person_prefix: "discord",
    group_prefix: Some("discord-role"),
    check_person_id: |identity, id| snowflake_id(identity, id, "discord", "User"),
    check_group_id: |identity, id| snowflake_id(identity, id, "discord-role", "Role"),
    config_section: Some("discord"),
    parse_section: Some(DiscordConfig::parse),
    configured: |c| DiscordConfig::of(c).is_some(),
    section_problems: |c| {
        DiscordConfig::of(c)
            .map(section_problems)
            .unwrap_or_default()
    },
    channel_problems,
    connect,
    stand_in: None,
    surface: Some(Surface {
        label: "discord",
        paths: &[PathMatch::Prefix("/discord/")],
    }),
    thread_link: |c, thread| super::thread_link(DiscordConfig::of(c)?, thread),
    message_link: |c, _, thread, message| {
        super::message_permalink(DiscordConfig::of(c)?.guild_id.as_deref()?, thread, message)
    },
    transport: |c| match DiscordConfig::of(c).map(|d| d.transport) {
        Some(Transport::Gateway) => {
            "Gateway (outbound WebSocket to Discord; no interactions endpoint URL)".into()
        }
        _ => "HTTP (Discord posts interactions to /discord/interactions)".into(),
    },
};

/// Discord ids are snowflakes: up to 20 digits, never 0.
pub fn is_snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.chars().all(|c| c.is_ascii_digit()) && s != "0"
}

fn snowflake_id(identity: &str, id: &str, kind: &str, what: &str) -> Result<(), String> {
    if is_snowflake(id) {
        Ok(())
    } else {
        Err(format!(
            "`{identity}` is not a Discord id; write {kind}:<digits> (Developer Mode → Copy {what} ID), not a name or tag"
        ))
    }
}

/// `[discord]`
fn section_problems(d: &DiscordConfig) -> Vec<String> {
    let mut out = Vec::new();
    if d.bot_token.trim().is_empty() {
        out.push("discord.bot_token: must not be empty".into());
    }
    if !is_snowflake(&d.application_id) {
        out.push(format!(
            "discord.application_id: `{}` is not a Discord id (digits)",
            d.application_id
        ));
    }
    match (d.transport, d.public_key.as_deref()) {
        (Transport::Http, None) => out.push(
            "discord.public_key: required with transport = \"http\" (the application's 64-hex-digit Ed25519 public key; or set transport = \"gateway\")".into(),
        ),
        // With the Gateway a key is unused, but a wrong one is still a mistake worth naming.
        (_, Some(key)) if verifier(key).is_err() => out.push(
            "discord.public_key: must be the application's 64-hex-digit Ed25519 public key".into(),
        ),
        _ => {}
    }
    out.extend(http_url_problem("discord.api_url", &d.api_url));
    out
}

/// A service's `discord_channel`.
fn channel_problems(config: &Config, key: &str, s: &ServiceConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ch) = s.channel("discord") {
        if DiscordConfig::of(config).is_none() {
            out.push(format!(
                "{key}.discord_channel: set, but there is no [discord] section"
            ));
        }
        if !is_snowflake(ch) {
            out.push(format!(
                "{key}.discord_channel: `{ch}` must be a channel id (digits)"
            ));
        }
    }
    out
}

struct Connected {
    chat: Arc<DiscordChat>,
    api: Arc<DiscordApi>,
    bot_token: String,
    /// The interactions endpoint's key (`transport = "http"`); `None` with the Gateway, which
    /// serves no endpoint.
    verifier: Option<Arc<Verifier>>,
}

fn connect(config: &Config) -> anyhow::Result<Option<Box<dyn Connection>>> {
    let Some(d) = DiscordConfig::of(config) else {
        return Ok(None);
    };
    let api = Arc::new(DiscordApi::new(
        &d.api_url,
        &d.bot_token,
        &d.application_id,
    )?);
    let verifier = match (d.transport, d.public_key.as_deref()) {
        (Transport::Http, Some(key)) => Some(Arc::new(verifier(key)?)),
        (Transport::Http, None) => {
            anyhow::bail!("discord.public_key: required with transport = \"http\"")
        }
        (Transport::Gateway, _) => None,
    };
    let channels: HashMap<String, String> = config
        .services
        .iter()
        .filter_map(|s| {
            s.channel("discord")
                .map(|c| (s.name.clone(), c.to_string()))
        })
        .collect();
    let chat = Arc::new(DiscordChat {
        api: api.clone(),
        channels,
    });
    Ok(Some(Box::new(Connected {
        chat,
        api,
        bot_token: d.bot_token.clone(),
        verifier,
    })))
}

fn handlers(inbound: &Inbound) -> DiscordInbound {
    DiscordInbound {
        engine: inbound.engine.clone(),
        config: inbound.config.clone(),
        counters: inbound.counters.clone(),
        clock: inbound.clock.clone(),
        history: inbound.history.clone(),
    }
}

impl Connection for Connected {
    fn chat_port(&self) -> Arc<dyn ChatPort> {
        self.chat.clone()
    }

    fn listen(
        &self,
        inbound: &Inbound,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        if self.verifier.is_some() {
            return Vec::new();
        }
        let gateway = Gateway {
            api: self.api.clone(),
            bot_token: self.bot_token.clone(),
            handlers: handlers(inbound),
            link: inbound.counters.link("discord", "gateway"),
        };
        vec![gateway.start(shutdown)]
    }

    fn routes(self: Box<Self>, inbound: &Inbound) -> Router<AppState> {
        match self.verifier {
            Some(verifier) => routes(handlers(inbound), verifier),
            // With the Gateway, Discord sends nothing to an endpoint: none is served.
            None => Router::new(),
        }
    }
}

/// What to set as the application's Interactions Endpoint URL in the Developer Portal, for
/// `register-discord`: Discord sends interactions to that URL when one is set, and over the
/// Gateway only when it is empty.
pub fn endpoint_advice(d: &DiscordConfig) -> String {
    match d.transport {
        Transport::Gateway => "transport = \"gateway\": leave the application's Interactions Endpoint URL empty (Developer Portal → General Information); Discord sends interactions over the Gateway only when it is empty".into(),
        Transport::Http => "transport = \"http\": set the application's Interactions Endpoint URL (Developer Portal → General Information) to {server.public_url}/discord/interactions".into(),
    }
}
