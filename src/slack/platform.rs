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
    transport: |_| {
        "HTTP (Slack posts to /slack/commands, /slack/interactions, /slack/events)".into()
    },
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
    if slack.signing_secrets.is_empty() {
        out.push("slack.signing_secrets: at least one signing secret is needed".into());
    }
    for (i, s) in slack.signing_secrets.iter().enumerate() {
        if s.trim().is_empty() {
            out.push(format!("slack.signing_secrets[{i}]: must not be empty"));
        }
    }
    out.extend(http_url_problem("slack.api_url", &slack.api_url));
    out
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
    });
    Ok(Some(Box::new(Connected { api, chat })))
}

impl Connection for Connected {
    fn chat_port(&self) -> Arc<dyn ChatPort> {
        self.chat.clone()
    }

    fn routes(self: Box<Self>, inbound: &Inbound) -> Router<AppState> {
        routes(SlackInbound {
            engine: inbound.engine.clone(),
            counters: inbound.counters.clone(),
            config: inbound.config.clone(),
            api: self.api,
            clock: inbound.clock.clone(),
        })
    }
}
