//! Discord through serenity's REST client and models: the canary thread (`chat`), REST calls
//! (`api`), the interactions' handlers and their signed HTTP endpoint (`inbound`), the same
//! interactions over the Gateway (`gateway`, `[discord] transport = "gateway"`), the reason
//! modal (`modal`). Nothing here knows Slack.

pub mod api;
pub mod chat;
pub mod config;
pub mod escape;
pub mod gateway;
pub mod inbound;
pub mod messages;
pub mod modal;
pub mod platform;

pub use config::DiscordConfig;
pub use platform::PLATFORM;

/// `channel/root message/thread`: where a canary thread lives.
pub fn thread_ref(channel: &str, message: &str, thread: &str) -> String {
    format!("{channel}/{message}/{thread}")
}

pub fn parse_thread_ref(thread: &str) -> Option<(&str, &str, &str)> {
    let mut parts = thread.splitn(3, '/');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// The web link of a thread: `https://discord.com/channels/<guild>/<thread>`.
pub fn permalink(guild_id: &str, thread: &str) -> Option<String> {
    let (_, _, thread) = parse_thread_ref(thread)?;
    Some(format!("https://discord.com/channels/{guild_id}/{thread}"))
}

/// The web link of a canary thread, when `[discord] guild_id` says which server it is in.
pub fn thread_link(config: &config::DiscordConfig, thread: &str) -> Option<String> {
    permalink(config.guild_id.as_deref()?, thread)
}
