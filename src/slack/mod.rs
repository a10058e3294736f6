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
/// link" does, so that it opens in the thread's pane. `thread` may also be written `C…:ts`, or be
/// a bare channel id.
pub fn message_permalink(workspace_url: &str, thread: &str, ts: &str) -> Option<String> {
    let (channel, root) = parse_thread_ref(thread)
        .or_else(|| thread.split_once(':'))
        .unwrap_or((thread, ts));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_links_are_slack_permalinks() {
        let thread = thread_ref("C0CHECKOUT", "1700000000.000100");
        // The root: the thread's own link, as Slack's "Copy link" gives it.
        let root = message_permalink("https://acme.slack.com/", &thread, "1700000000.000100");
        assert_eq!(
            root.as_deref(),
            Some("https://acme.slack.com/archives/C0CHECKOUT/p1700000000000100")
        );
        assert_eq!(root, permalink("https://acme.slack.com", &thread));
        // A reply names its thread, so Slack opens it in the thread's pane.
        assert_eq!(
            message_permalink("https://acme.slack.com", &thread, "1700000001.000200").as_deref(),
            Some(
                "https://acme.slack.com/archives/C0CHECKOUT/p1700000001000200?thread_ts=1700000000.000100&cid=C0CHECKOUT"
            )
        );
        // A message in a channel, no thread named.
        assert_eq!(
            message_permalink("https://acme.slack.com", "C0CHECKOUT", "1700000001.000200")
                .as_deref(),
            Some("https://acme.slack.com/archives/C0CHECKOUT/p1700000001000200")
        );
        assert_eq!(
            message_permalink(
                "https://acme.slack.com",
                "C0CHECKOUT:1700000000.000100",
                "1700000001.000200"
            ),
            message_permalink("https://acme.slack.com", &thread, "1700000001.000200"),
        );
        // Stored text that is not a Slack id links nowhere rather than somewhere odd.
        assert_eq!(
            message_permalink("https://acme.slack.com", &thread, "1?x=1"),
            None
        );
        assert_eq!(
            message_permalink("https://acme.slack.com", "C0/../x", "1.2"),
            None
        );
    }
}
