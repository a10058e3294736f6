//! What a chat platform says about itself. Each platform's folder exports one [`ChatPlatform`]
//! (`slack::PLATFORM`, …) and `crate::registry::CHAT_PLATFORMS` lists them; every other list of
//! platforms is derived from that one.

use super::ChatPort;
use crate::config::{ChatRules, Config, ParseSection, ServiceConfig};
use crate::http::{AppState, Inbound, Surface};
use axum::Router;
use std::sync::Arc;

/// One chat platform. Each platform's folder exports one of these (`slack::PLATFORM`, …) and
/// `crate::registry::CHAT_PLATFORMS` lists them; every other list of platforms is derived from that one.
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
    /// Reads the platform's section (`[slack]`), when it has one.
    pub parse_section: Option<ParseSection>,
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
    /// The web link of one message in a canary thread (`thread` as the threads table stores it,
    /// `message` the platform's id of it), when the configuration — or, where it does not say,
    /// `site`, what the platform answered when asked where it is ([`super::ChatPort::discover_site`])
    /// — says where the platform is.
    pub message_link:
        fn(&Config, site: Option<&str>, thread: &str, message: &str) -> Option<String>,
    /// How the platform reaches canarybot with this configuration, in words for `check-config`
    /// (`HTTP: /slack/commands, …`, `Socket Mode (outbound WebSocket)`).
    pub transport: fn(&Config) -> String,
}

/// [`ChatPlatform::connect`]: `None` when the configuration does not turn the platform on.
pub type Connect = fn(&Config) -> anyhow::Result<Option<Box<dyn Connection>>>;

/// A platform connected by [`ChatPlatform::connect`].
pub trait Connection: Send {
    /// Where the outbox delivers this platform's chat effects.
    fn chat_port(&self) -> Arc<dyn ChatPort>;
    /// Second phase, once the engine exists: the connections the platform holds open to receive
    /// what it sends (Slack's Socket Mode, the Discord Gateway), each a task that reconnects until
    /// `shutdown` turns true. None by default: the platform reaches canarybot over HTTP.
    fn listen(
        &self,
        _inbound: &Inbound,
        _shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }
    /// Second phase, once the engine exists: the signed inbound routes (commands, buttons).
    fn routes(self: Box<Self>, inbound: &Inbound) -> Router<AppState>;
}

impl ChatPlatform {
    /// The outbox target of this platform's chat effects.
    pub fn target(&self) -> String {
        crate::engine::target_of(self.name)
    }
}

impl ChatRules for ChatPlatform {
    fn name(&self) -> &'static str {
        self.name
    }
    fn parse_section(&self) -> Option<ParseSection> {
        self.parse_section
    }
    fn person_prefix(&self) -> &'static str {
        self.person_prefix
    }
    fn group_prefix(&self) -> Option<&'static str> {
        self.group_prefix
    }
    fn check_person_id(&self, identity: &str, id: &str) -> Result<(), String> {
        (self.check_person_id)(identity, id)
    }
    fn check_group_id(&self, identity: &str, id: &str) -> Result<(), String> {
        (self.check_group_id)(identity, id)
    }
    fn config_section(&self) -> Option<&'static str> {
        self.config_section
    }
    fn section_problems(&self, config: &Config) -> Vec<String> {
        (self.section_problems)(config)
    }
    fn channel_problems(&self, config: &Config, key: &str, service: &ServiceConfig) -> Vec<String> {
        (self.channel_problems)(config, key, service)
    }
}

/// Any id will do (the console's people are whoever types).
pub fn any_id(_identity: &str, _id: &str) -> Result<(), String> {
    Ok(())
}

/// Nothing to check.
pub fn no_problems(_config: &Config) -> Vec<String> {
    Vec::new()
}
