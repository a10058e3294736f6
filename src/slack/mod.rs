//! Slack: the canary thread as Block Kit (`chat`), the Web API (`api`), and the signed inbound
//! surfaces for slash commands, buttons and mentions (`inbound`). Nothing here knows Discord.

pub mod api;
pub mod blocks;
pub mod chat;
pub mod inbound;

/// `C0123/1700000000.000100`: where a canary thread lives (channel and root ts).
pub fn thread_ref(channel: &str, ts: &str) -> String {
    format!("{channel}/{ts}")
}

pub fn parse_thread_ref(thread: &str) -> Option<(&str, &str)> {
    thread.split_once('/')
}
