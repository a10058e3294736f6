//! `[slack]`: the Slack app's section, read by Slack itself (the configuration never names a
//! platform; see `config::platforms`).

use crate::config::units::humantime_serde;
use crate::config::{ChatSection, Config};
use crate::redact;
use serde::Deserialize;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A Slack app: the bot token for the Web API, and how Slack reaches canarybot — the signing
/// secrets of requests it posts over HTTP, the app-level token of Socket Mode, or both (a
/// migration). At least one of the two is required (`section_problems`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub bot_token: String,
    /// Any one of these may sign a Slack request (rotation). Empty: no HTTP routes for Slack.
    #[serde(default)]
    pub signing_secrets: Vec<String>,
    /// The app-level token (`xapp-…`, scope `connections:write`) that turns Socket Mode on.
    #[serde(default)]
    pub app_token: Option<String>,
    /// Every Web API call goes here (a fake on loopback in tests).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// How long user-group memberships are trusted before asking Slack again.
    #[serde(default = "default_group_cache", with = "humantime_serde")]
    pub group_cache: Duration,
    /// `https://acme.slack.com`: lets postmortems link to the canary threads.
    #[serde(default)]
    pub workspace_url: Option<String>,
    /// The reaction (emoji name, without colons) that adds a message in a canary thread to its
    /// timeline as a note; taking it off withdraws the note.
    #[serde(default = "default_note_reaction")]
    pub note_reaction: String,
}

fn default_note_reaction() -> String {
    "pushpin".into()
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

fn default_group_cache() -> Duration {
    Duration::from_secs(300)
}

impl SlackConfig {
    /// The `[slack]` section of `config`, if it has one.
    pub fn of(config: &Config) -> Option<&SlackConfig> {
        config.chat.get::<SlackConfig>(super::PLATFORM.name)
    }

    /// Reads `[slack]` (the deserializer holds that one key).
    pub fn parse(
        section: toml::de::Deserializer<'_>,
    ) -> Result<Arc<dyn ChatSection>, toml::de::Error> {
        #[derive(Deserialize)]
        struct Section {
            slack: SlackConfig,
        }
        Ok(Arc::new(Section::deserialize(section)?.slack))
    }
}

impl ChatSection for SlackConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("bot_token", &redact::Redacted)
            .field("signing_secrets", &redact::list(&self.signing_secrets))
            .field("app_token", &redact::opt(&self.app_token))
            .field("api_url", &redact::url(&self.api_url))
            .field("group_cache", &self.group_cache)
            .field("workspace_url", &self.workspace_url)
            .field("note_reaction", &self.note_reaction)
            .finish()
    }
}
