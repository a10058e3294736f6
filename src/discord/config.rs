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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(discord_keys: &str) -> Result<Config, String> {
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:8080"
api_tokens = ["token-0123456789abcdef"]
[database]
url = "sqlite://x.db"
[webhooks]
secrets = ["secret-0123456789abcdef"]
[discord]
bot_token = "discord-bot"
application_id = "424242"
{discord_keys}
[[service]]
name = "checkout"
deciders = ["discord:4455"]
discord_channel = "1111"
[[service.criteria]]
name = "5xx ratio"
max = 0.01
"#
        );
        crate::registry::config_from_toml(&text, &|_| None).map_err(|e| e.to_string())
    }

    const KEY: &str =
        r#"public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a""#;

    fn transport(c: &Config) -> Option<Transport> {
        DiscordConfig::of(c).map(|d| d.transport)
    }

    #[test]
    fn transport_is_http_by_default_and_http_needs_the_public_key() {
        let c = config(KEY).expect("valid");
        assert_eq!(transport(&c), Some(Transport::Http));
        assert!((super::super::PLATFORM.transport)(&c).starts_with("HTTP"));
        let err = config("").expect_err("no key");
        assert!(
            err.contains("discord.public_key: required with transport = \"http\""),
            "{err}"
        );
        let err = config("transport = \"http\"\npublic_key = \"abcd\"").expect_err("bad key");
        assert!(err.contains("discord.public_key: must be"), "{err}");
    }

    #[test]
    fn the_gateway_needs_no_public_key() {
        let c = config("transport = \"gateway\"").expect("valid");
        assert_eq!(transport(&c), Some(Transport::Gateway));
        assert!(
            (super::super::PLATFORM.transport)(&c).starts_with("Gateway (outbound WebSocket"),
            "{}",
            (super::super::PLATFORM.transport)(&c)
        );
        let with_key = format!("transport = \"gateway\"\n{KEY}");
        assert!(config(&with_key).is_ok());
    }

    #[test]
    fn an_unknown_transport_names_the_key_and_the_choices() {
        let err = config(&format!("transport = \"websocket\"\n{KEY}")).expect_err("unknown");
        assert!(
            err.contains("transport")
                && err.contains("websocket")
                && err.contains("http")
                && err.contains("gateway"),
            "{err}"
        );
    }
}
