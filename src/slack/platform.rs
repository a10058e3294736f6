//! Slack as the registry knows it: identities, `[slack]`, the chat port and the inbound routes.

use super::api::SlackApi;
use super::chat::SlackChat;
use super::config::SlackConfig;
use super::inbound::{SlackInbound, routes};
use crate::chat::ChatPort;
use crate::chat::{ChatPlatform, Connection};
use crate::config::{Config, ServiceConfig, http_url_problem};
use crate::http::{AppState, Inbound, PathMatch, Surface};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

pub static PLATFORM: ChatPlatform = ChatPlatform {
    name: "slack",
    person_prefix: "slack",
    group_prefix: Some("slack-group"),
    check_person_id: |identity, id| {
        if slack_id(id, &['U', 'W']) {
            Ok(())
        } else {
            Err(format!(
                "`{identity}` is not a Slack user id; write slack:U… or slack:W… (profile → ⋮ → Copy member ID), not a name or @handle"
            ))
        }
    },
    check_group_id: |identity, id| {
        if slack_id(id, &['S']) {
            Ok(())
        } else {
            Err(format!(
                "`{identity}` is not a Slack user-group id; write slack-group:S… (the group's id, not its @handle)"
            ))
        }
    },
    config_section: Some("slack"),
    parse_section: Some(SlackConfig::parse),
    configured: |c| SlackConfig::of(c).is_some(),
    section_problems: |c| SlackConfig::of(c).map(section_problems).unwrap_or_default(),
    channel_problems,
    connect,
    stand_in: None,
    surface: Some(Surface {
        label: "slack",
        paths: &[PathMatch::Prefix("/slack/")],
    }),
    thread_link: |c, thread| super::thread_link(SlackConfig::of(c)?, thread),
    message_link: |c, site, thread, message| {
        let workspace = SlackConfig::of(c)?.workspace_url.as_deref().or(site)?;
        super::message_permalink(workspace, thread, message)
    },
    transport,
};

/// Slack ids: an upper-case letter saying what they name, then upper-case letters and digits.
pub(crate) fn slack_id(id: &str, first: &[char]) -> bool {
    id.len() >= 2
        && id.starts_with(first)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// `[slack]`
fn section_problems(slack: &SlackConfig) -> Vec<String> {
    let mut out = Vec::new();
    if slack.bot_token.trim().is_empty() {
        out.push("slack.bot_token: must not be empty".into());
    }
    if slack.signing_secrets.is_empty() && slack.app_token.is_none() {
        out.push(
            "slack: set slack.signing_secrets (Slack posts to canarybot over HTTP) or slack.app_token (Socket Mode: canarybot connects out to Slack), or both"
                .into(),
        );
    }
    for (i, s) in slack.signing_secrets.iter().enumerate() {
        if s.trim().is_empty() {
            out.push(format!("slack.signing_secrets[{i}]: must not be empty"));
        }
    }
    if let Some(token) = &slack.app_token {
        // The value is a secret: the message names its form, never the value.
        if token.trim().is_empty() {
            out.push("slack.app_token: must not be empty (an app-level token, xapp-…)".into());
        } else if !token.starts_with("xapp-") {
            out.push(
                "slack.app_token: must be an app-level token starting with xapp- (Basic Information → App-Level Tokens, scope connections:write); a bot token (xoxb-…) goes in slack.bot_token"
                    .into(),
            );
        }
    }
    out.extend(http_url_problem("slack.api_url", &slack.api_url));
    out
}

/// How Slack reaches canarybot with this `[slack]`, for `check-config`.
fn transport(config: &Config) -> String {
    const SOCKET: &str = "Socket Mode (outbound WebSocket to Slack; no request URL needed)";
    const HTTP: &str = "HTTP (Slack posts to /slack/commands, /slack/interactions, /slack/events)";
    match SlackConfig::of(config) {
        Some(s) if s.app_token.is_some() && !s.signing_secrets.is_empty() => {
            format!("{SOCKET} and {HTTP}")
        }
        Some(s) if s.app_token.is_some() => SOCKET.into(),
        _ => HTTP.into(),
    }
}

/// A service's `slack_channel`.
fn channel_problems(config: &Config, key: &str, s: &ServiceConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ch) = s.channel("slack") {
        if SlackConfig::of(config).is_none() {
            out.push(format!(
                "{key}.slack_channel: set, but there is no [slack] section"
            ));
        }
        if !slack_id(ch, &['C', 'G', 'D']) {
            out.push(format!(
                "{key}.slack_channel: `{ch}` must be a channel id such as C0123ABCD, not a name"
            ));
        }
    }
    out
}

struct Connected {
    api: Arc<SlackApi>,
    chat: Arc<SlackChat>,
    /// Socket Mode's app-level token, when `[slack] app_token` turns it on.
    app_token: Option<String>,
    /// Whether Slack posts to canarybot over HTTP (`signing_secrets` set).
    http: bool,
}

impl Connected {
    fn inbound(&self, inbound: &Inbound) -> SlackInbound {
        SlackInbound {
            engine: inbound.engine.clone(),
            counters: inbound.counters.clone(),
            config: inbound.config.clone(),
            api: self.api.clone(),
            clock: inbound.clock.clone(),
            history: inbound.history.clone(),
        }
    }
}

fn connect(config: &Config) -> anyhow::Result<Option<Box<dyn Connection>>> {
    let Some(s) = SlackConfig::of(config) else {
        return Ok(None);
    };
    let api = Arc::new(SlackApi::new(&s.api_url, &s.bot_token, s.group_cache)?);
    let channels: HashMap<String, String> = config
        .services
        .iter()
        .filter_map(|s| s.channel("slack").map(|c| (s.name.clone(), c.to_string())))
        .collect();
    let chat = Arc::new(SlackChat {
        api: api.clone(),
        channels,
        ask_workspace_url: s.workspace_url.is_none(),
    });
    Ok(Some(Box::new(Connected {
        api,
        chat,
        app_token: s.app_token.clone(),
        http: !s.signing_secrets.is_empty(),
    })))
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
        match &self.app_token {
            Some(token) => vec![super::socket::listen(
                self.inbound(inbound),
                token.clone(),
                shutdown,
            )],
            None => Vec::new(),
        }
    }

    /// The HTTP routes only when Slack may post to them (signing secrets to verify with).
    fn routes(self: Box<Self>, inbound: &Inbound) -> Router<AppState> {
        if self.http {
            routes(self.inbound(inbound))
        } else {
            Router::new()
        }
    }
}
