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

/// The web link of one message: `https://discord.com/channels/<guild>/<channel>/<message>`, the
/// channel being the one the message is in — the service's channel for the root, the thread for
/// the replies. `thread` may also be a bare channel id (the message is in it).
pub fn message_permalink(guild_id: &str, thread: &str, message: &str) -> Option<String> {
    let channel = match parse_thread_ref(thread) {
        Some((channel, root, _)) if root == message => channel,
        Some((_, _, thread_channel)) => thread_channel,
        None => thread,
    };
    let snowflake = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !snowflake(guild_id) || !snowflake(channel) || !snowflake(message) {
        return None;
    }
    Some(format!(
        "https://discord.com/channels/{guild_id}/{channel}/{message}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_links_name_the_channel_the_message_is_in() {
        // The root is in the service's channel; the thread started from it has its id.
        let thread = thread_ref("1111", "2222", "2222");
        assert_eq!(
            message_permalink("9999", &thread, "2222").as_deref(),
            Some("https://discord.com/channels/9999/1111/2222")
        );
        // Replies are in the thread.
        assert_eq!(
            message_permalink("9999", &thread, "3333").as_deref(),
            Some("https://discord.com/channels/9999/2222/3333")
        );
        // A bare channel id: the message is in it.
        assert_eq!(
            message_permalink("9999", "4444", "5555").as_deref(),
            Some("https://discord.com/channels/9999/4444/5555")
        );
        // Not snowflakes: no link.
        assert_eq!(message_permalink("acme", &thread, "3333"), None);
        assert_eq!(message_permalink("9999", &thread, "../x"), None);
    }
}
