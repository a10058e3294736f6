//! `[discord]`: the Discord application's section, read by Discord itself (the configuration
//! never names a platform; see `config::platforms`).

use crate::config::{ChatSection, Config};
use crate::redact;
use serde::Deserialize;
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A Discord application: the bot token for REST (and the Gateway), the public key that signs
/// interactions posted over HTTP.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub bot_token: String,
    pub application_id: String,
    /// The application's Ed25519 public key, hex: required with the HTTP transport, unused with
    /// the Gateway (the connection is authenticated by the bot token).
    #[serde(default)]
    pub public_key: Option<String>,
    /// How Discord's interactions reach canarybot.
    #[serde(default)]
    pub transport: Transport,
    /// Every REST call goes here (a fake on loopback in tests).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The server (guild) id: lets postmortems link to the canary threads.
    #[serde(default)]
    pub guild_id: Option<String>,
}

/// `[discord] transport`: how interactions reach canarybot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Discord posts each interaction to `/discord/interactions` (a public HTTPS address).
    #[default]
    Http,
    /// canarybot holds a WebSocket open to Discord's Gateway and answers through the interaction
    /// callback endpoint: outbound connections only.
    Gateway,
}

pub const DISCORD_API_URL: &str = "https://discord.com/api/v10";

fn default_api_url() -> String {
    DISCORD_API_URL.into()
}

impl DiscordConfig {
    /// The `[discord]` section of `config`, if it has one.
    pub fn of(config: &Config) -> Option<&DiscordConfig> {
        config.chat.get::<DiscordConfig>(super::PLATFORM.name)
    }

    /// Reads `[discord]` (the deserializer holds that one key).
    pub fn parse(
        section: toml::de::Deserializer<'_>,
    ) -> Result<Arc<dyn ChatSection>, toml::de::Error> {
        #[derive(Deserialize)]
        struct Section {
            discord: DiscordConfig,
        }
        Ok(Arc::new(Section::deserialize(section)?.discord))
    }
}

impl ChatSection for DiscordConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("bot_token", &redact::Redacted)
            .field("application_id", &self.application_id)
            .field("public_key", &self.public_key)
            .field("transport", &self.transport)
            .field("api_url", &redact::url(&self.api_url))
            .field("guild_id", &self.guild_id)
            .finish()
    }
}
