//! Slack: the canary thread as Block Kit (`chat`), the Web API (`api`), and what Slack sends —
//! slash commands, buttons, mentions and the reason modal (`inbound`, `modal`) — over signed HTTP
//! requests or a Socket Mode connection (`socket`). Nothing here knows Discord.

pub mod api;
pub mod blocks;
pub mod chat;
pub mod config;
pub mod escape;
pub mod inbound;
pub mod modal;
pub mod platform;
pub mod socket;

pub use config::SlackConfig;
pub use platform::PLATFORM;

/// `C0123/1700000000.000100`: where a canary thread lives (channel and root ts).
pub fn thread_ref(channel: &str, ts: &str) -> String {
    format!("{channel}/{ts}")
}

pub fn parse_thread_ref(thread: &str) -> Option<(&str, &str)> {
    thread.split_once('/')
}

/// The web link of a thread root: `https://acme.slack.com/archives/C0123/p1700000000123456`.
pub fn permalink(workspace_url: &str, thread: &str) -> Option<String> {
    let (channel, ts) = parse_thread_ref(thread)?;
    Some(format!(
        "{}/archives/{channel}/p{}",
        workspace_url.trim_end_matches('/'),
        ts.replace('.', "")
    ))
}

/// The web link of a canary thread, when `[slack] workspace_url` says where the workspace is.
pub fn thread_link(config: &config::SlackConfig, thread: &str) -> Option<String> {
    permalink(config.workspace_url.as_deref()?, thread)
}

/// The web link of one message in a canary thread: the root's is the thread's [`permalink`]; a
/// reply's also names its thread (`?thread_ts=<root ts>&cid=<channel>`), as Slack's own "Copy
/// link" does, so that it opens in the thread's pane. `thread` may also be a bare channel id.
pub fn message_permalink(workspace_url: &str, thread: &str, ts: &str) -> Option<String> {
    let (channel, root) = parse_thread_ref(thread).unwrap_or((thread, ts));
    let well_formed =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if !well_formed(channel) || !well_formed(ts) || !well_formed(root) {
        return None;
    }
    let base = workspace_url.trim_end_matches('/');
    let link = format!("{base}/archives/{channel}/p{}", ts.replace('.', ""));
    Some(if root == ts {
        link
    } else {
        format!("{link}?thread_ts={root}&cid={channel}")
    })
}
