//! What a chat platform says about itself, and the identities (`kind:id`) its people and groups
//! are named by in `deciders`, `[[people]]` and votes.

use super::CHAT_PLATFORMS;
use crate::chat::ChatPort;
use crate::config::{Config, ServiceConfig};
use crate::server::{AppState, Inbound, Surface};
use axum::Router;
use std::sync::Arc;

/// One chat platform. Each platform's folder exports one of these (`slack::PLATFORM`, …) and
/// [`CHAT_PLATFORMS`] lists them; every other list of platforms is derived from that one.
pub struct ChatPlatform {
    /// The platform's name: its `ChatPort::platform()`, its outbox target `chat:<name>` and the
    /// platform its threads are stored under.
    pub name: &'static str,
    /// A person is `<person_prefix>:<id>` (`slack:U01ALICE`).
    pub person_prefix: &'static str,
    /// A group every member of which may decide is `<group_prefix>:<id>` (`slack-group:S01SRE`).
    pub group_prefix: Option<&'static str>,
    /// Whether `id` has the form the platform gives user ids; the error names the form expected
    /// (`identity` is the whole `kind:id`, for the message).
    pub check_person_id: fn(identity: &str, id: &str) -> Result<(), String>,
    /// The same for group ids.
    pub check_group_id: fn(identity: &str, id: &str) -> Result<(), String>,
    /// The configuration section that turns the platform on (`[slack]`); `None` when it needs
    /// none.
    pub config_section: Option<&'static str>,
    /// Whether the configuration turns the platform on.
    pub configured: fn(&Config) -> bool,
    /// Problems with the platform's section, keyed `<section>.<key>: …`.
    pub section_problems: fn(&Config) -> Vec<String>,
    /// Problems with a service's channel on the platform, keyed `<key>.<field>: …`.
    pub channel_problems: fn(config: &Config, key: &str, service: &ServiceConfig) -> Vec<String>,
    /// First phase of the start: the platform's API clients and its [`ChatPort`], before the
    /// engine exists. `None` when the configuration does not turn the platform on.
    pub connect: Connect,
    /// Stands in when no platform is configured (the console in `serve`).
    pub stand_in: Option<fn() -> Arc<dyn ChatPort>>,
    /// Its inbound HTTP routes, as `/metrics` labels them.
    pub surface: Option<Surface>,
    /// The web link of a canary thread, when the configuration says where the platform is.
    pub thread_link: fn(&Config, thread: &str) -> Option<String>,
}

/// [`ChatPlatform::connect`]: `None` when the configuration does not turn the platform on.
pub type Connect = fn(&Config) -> anyhow::Result<Option<Box<dyn Connection>>>;

/// A platform connected by [`ChatPlatform::connect`].
pub trait Connection: Send {
    /// Where the outbox delivers this platform's chat effects.
    fn chat_port(&self) -> Arc<dyn ChatPort>;
    /// Second phase, once the engine exists: the signed inbound routes (commands, buttons).
    fn routes(self: Box<Self>, inbound: &Inbound) -> Router<AppState>;
}

impl ChatPlatform {
    /// The outbox target of this platform's chat effects.
    pub fn target(&self) -> String {
        format!("chat:{}", self.name)
    }
}

/// The platform of a configuration section, person prefix or group prefix.
fn by_person(prefix: &str) -> Option<&'static ChatPlatform> {
    CHAT_PLATFORMS
        .iter()
        .copied()
        .find(|p| p.person_prefix == prefix)
}

fn by_group(prefix: &str) -> Option<&'static ChatPlatform> {
    CHAT_PLATFORMS
        .iter()
        .copied()
        .find(|p| p.group_prefix == Some(prefix))
}

/// Every identity kind: the person prefixes, then the group prefixes.
fn kinds() -> String {
    let persons = CHAT_PLATFORMS.iter().map(|p| p.person_prefix);
    let groups = CHAT_PLATFORMS.iter().filter_map(|p| p.group_prefix);
    persons.chain(groups).collect::<Vec<_>>().join(", ")
}

fn person_kinds() -> String {
    CHAT_PLATFORMS
        .iter()
        .map(|p| p.person_prefix)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one `deciders` entry: a person (`slack:U…`) or a group (`slack-group:S…`) of a known
/// platform, with an id; the error says what a valid one looks like.
pub fn parse_decider(entry: &str) -> Result<(), String> {
    let Some((kind, id)) = entry.split_once(':') else {
        return Err(format!("`{entry}` is not `kind:id` (kinds: {})", kinds()));
    };
    if by_person(kind).is_none() && by_group(kind).is_none() {
        return Err(format!(
            "unknown kind `{kind}` in `{entry}` (kinds: {})",
            kinds()
        ));
    }
    if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
        return Err(format!("`{entry}` has an empty or spaced id"));
    }
    Ok(())
}

/// Checks a voter's identity: a person (`slack:U…`), never a group.
pub fn parse_person(identity: &str) -> Result<(), String> {
    parse_decider(identity)?;
    match identity.split_once(':') {
        Some((kind, _)) if by_person(kind).is_some() => Ok(()),
        _ => Err(format!(
            "`{identity}` is a group; a vote comes from one person ({})",
            person_kinds()
        )),
    }
}

/// Whether an identity's id has the form its platform gives ids, so that it can ever match
/// someone (Slack user ids `U…`/`W…`, Discord snowflakes, …): names, @handles and `name#1234`
/// tags never match anyone. Identities of unknown kinds are [`parse_decider`]'s to refuse.
pub fn platform_id_problem(identity: &str) -> Result<(), String> {
    let (kind, id) = identity.split_once(':').unwrap_or(("", identity));
    if let Some(p) = by_person(kind) {
        return (p.check_person_id)(identity, id);
    }
    if let Some(p) = by_group(kind) {
        return (p.check_group_id)(identity, id);
    }
    Ok(())
}

/// Any id will do (the console's people are whoever types).
pub fn any_id(_identity: &str, _id: &str) -> Result<(), String> {
    Ok(())
}

/// Nothing to check.
pub fn no_problems(_config: &Config) -> Vec<String> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from `domain::decision` with the identity checks.
    #[test]
    fn decider_syntax() {
        assert!(parse_decider("slack:U01").is_ok());
        assert!(parse_decider("discord-role:6677").is_ok());
        assert!(
            parse_decider("slak:U01")
                .unwrap_err()
                .contains("unknown kind `slak`")
        );
        assert!(parse_decider("U01").is_err());
        assert!(parse_decider("slack:").is_err());
        assert!(parse_person("slack:U01").is_ok());
        assert!(
            parse_person("slack-group:S01")
                .unwrap_err()
                .contains("is a group")
        );
    }

    #[test]
    fn the_known_kinds_come_from_the_registry() {
        assert!(parse_decider("console:alice").is_ok());
        assert_eq!(
            parse_decider("teams:U01").unwrap_err(),
            "unknown kind `teams` in `teams:U01` (kinds: slack, discord, console, slack-group, discord-role)"
        );
        assert_eq!(
            parse_person("discord-role:6677").unwrap_err(),
            "`discord-role:6677` is a group; a vote comes from one person (slack, discord, console)"
        );
    }

    #[test]
    fn ids_are_checked_by_their_platform() {
        assert!(platform_id_problem("slack:U01ALICE").is_ok());
        assert!(platform_id_problem("slack:W01ALICE").is_ok());
        assert!(
            platform_id_problem("slack:alice")
                .unwrap_err()
                .contains("not a Slack user id")
        );
        assert!(platform_id_problem("slack-group:S01SRE").is_ok());
        assert!(
            platform_id_problem("slack-group:U01")
                .unwrap_err()
                .contains("not a Slack user-group id")
        );
        assert!(platform_id_problem("discord:123456789012345678").is_ok());
        assert!(
            platform_id_problem("discord-role:sre")
                .unwrap_err()
                .contains("Copy Role ID")
        );
        assert!(platform_id_problem("console:anyone at all").is_ok());
    }
}
