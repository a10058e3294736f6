//! The canary thread as Discord messages: an embed with the agreement and the live status, and a
//! row of buttons whose `custom_id` carries the deploy.

use super::escape::text as esc;
use super::platform::is_snowflake;
use crate::domain::{Choice, State};
use crate::present::chat::{ChatMessage, RootView};
use serenity::all::ButtonStyle;
use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateMessage, EditMessage,
};
use serenity::model::id::{RoleId, UserId};

pub const ROLLBACK: &str = "canary_rollback";
pub const PROCEED: &str = "canary_proceed";
/// Confirms a rollback held because a newer deploy started after it.
pub const CONFIRM_ROLLBACK: &str = "canary_confirm_rollback";
const CUSTOM_ID_MAX: usize = 100;

/// `canary_rollback:<deploy id>`, or the bare action when the id does not fit Discord's 100
/// characters (the handler then finds the deploy by the message the button is on).
pub fn custom_id(action: &str, deploy_id: &str) -> String {
    let full = format!("{action}:{deploy_id}");
    if full.len() <= CUSTOM_ID_MAX {
        full
    } else {
        action.to_string()
    }
}

/// `discord:123` → `<@123>`, `discord-role:456` → `<@&456>`; anything that is not a snowflake of
/// Discord's makes no mention.
pub fn mention(identity: &str) -> Option<String> {
    match identity.split_once(':') {
        Some(("discord", u)) if is_snowflake(u) => Some(format!("<@{u}>")),
        Some(("discord-role", r)) if is_snowflake(r) => Some(format!("<@&{r}>")),
        _ => None,
    }
}

/// At most `max` characters (Discord refuses a message whose embed parts are longer).
fn fit(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An address Discord accepts as a link: `http(s)` only, with nothing that ends a Markdown link.
fn web_url(url: &str) -> Option<&str> {
    let lower = url.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "()<>".contains(c));
    ok.then_some(url)
}

/// canarybot's words for Discord: outside text in them escaped, and bold marked Discord's way
/// (`**x**`; the shared texts mark it Slack's way, `*x*`). Replies and interaction answers alike.
pub fn words(text: &str) -> String {
    esc(text).replace('*', "**")
}

/// A reply's text for Discord: the shared texts mark bold Slack's way (`*x*`), Discord wants
/// `**x**`; outside text is escaped, and the person it names is shown as a mention when they are
/// a Discord user (not pinged: `allowed_mentions` names only the deciders called).
pub fn message_text(message: &ChatMessage) -> String {
    match message.person_split() {
        Some((before, identity, name, after)) => {
            let who = match identity.strip_prefix("discord:") {
                Some(u) if is_snowflake(u) => format!("<@{u}>"),
                _ => esc(name),
            };
            format!("{}{who}{}", words(before), words(after))
        }
        None => words(&message.text),
    }
}

fn colour(state: State) -> u32 {
    match state {
        State::Canary => 0x3498db,
        State::Breached | State::RollbackFailed | State::Failed => 0xe74c3c,
        State::RollingBack | State::RolledBack => 0xf39c12,
        State::RollbackVerified | State::Promoted => 0x2ecc71,
    }
}

/// Discord's embed limits: title 256, description 4096, field name 256, field value 1024,
/// footer 2048 characters.
fn embed(root: &RootView) -> CreateEmbed {
    let mut description = format!("**{}**", root.status_line());
    if let Some(d) = &root.description {
        description.push_str(&format!("\n{}", esc(d)));
    }
    if let Some(b) = root.byline() {
        description.push_str(&format!("\n{}", esc(&b)));
    }
    let mut e = CreateEmbed::new()
        .title(fit(esc(&root.headline()), 256))
        .description(fit(description, 4096))
        .colour(colour(root.state));
    if let Some(url) = root.url.as_deref().and_then(web_url) {
        e = e.url(url);
    }
    for c in &root.criteria {
        let view = c
            .link
            .as_deref()
            .and_then(web_url)
            .map(|l| format!(" · [side by side]({l})"))
            .unwrap_or_default();
        e = e.field(
            fit(esc(&c.name), 256),
            fit(
                format!(
                    "canary {} · breach after {} failing{view}{}",
                    esc(&c.bounds),
                    c.failure_limit,
                    c.normal_line()
                        .map(|n| format!("\n{}", esc(&n)))
                        .unwrap_or_default()
                ),
                1024,
            ),
            false,
        );
    }
    let who: Vec<String> = root
        .deciders
        .iter()
        .map(|d| mention(d).unwrap_or_else(|| format!("`{}`", esc(d))))
        .collect();
    e = e.field(
        "Who decides",
        fit(format!("{}\n{}", who.join(", "), root.policy_line()), 1024),
        false,
    );
    e = e.field("Live status", fit(esc(&root.status_table()), 1024), false);
    if let Some(o) = &root.outcome {
        e = e.field("Outcome", fit(esc(o), 1024), false);
    }
    e.footer(CreateEmbedFooter::new(fit(
        esc(&format!(
            "deploy {} · criteria hash {}",
            root.deploy_id, root.criteria_hash
        )),
        2048,
    )))
}

/// Roll back / Proceed; once decided they stay, disabled, so the thread shows what was offered.
fn buttons(deploy_id: &str, open: &[Choice]) -> CreateActionRow {
    CreateActionRow::Buttons(vec![
        CreateButton::new(custom_id(ROLLBACK, deploy_id))
            .label("Roll back")
            .style(ButtonStyle::Danger)
            .disabled(!open.contains(&Choice::Rollback)),
        CreateButton::new(custom_id(PROCEED, deploy_id))
            .label("Proceed")
            .style(ButtonStyle::Success)
            .disabled(!open.contains(&Choice::Promote)),
    ])
}

pub fn root_message(root: &RootView) -> CreateMessage {
    CreateMessage::new()
        .embed(embed(root))
        .components(vec![buttons(&root.deploy_id, &root.buttons)])
        .allowed_mentions(CreateAllowedMentions::new().empty_users().empty_roles())
}

pub fn root_edit(root: &RootView) -> EditMessage {
    EditMessage::new()
        .embed(embed(root))
        .components(vec![buttons(&root.deploy_id, &root.buttons)])
        .allowed_mentions(CreateAllowedMentions::new().empty_users().empty_roles())
}

/// A reply in the thread; deciders are mentioned (and pinged) when the message calls them.
pub fn reply(deploy_id: &str, message: &ChatMessage) -> CreateMessage {
    let users: Vec<UserId> = message
        .mentions
        .iter()
        .filter_map(|m| m.strip_prefix("discord:")?.parse::<u64>().ok())
        .filter(|v| *v != 0)
        .map(UserId::new)
        .collect();
    let roles: Vec<RoleId> = message
        .mentions
        .iter()
        .filter_map(|m| m.strip_prefix("discord-role:")?.parse::<u64>().ok())
        .filter(|v| *v != 0)
        .map(RoleId::new)
        .collect();
    let called: Vec<String> = message.mentions.iter().filter_map(|m| mention(m)).collect();
    let mut content = message_text(message);
    if !called.is_empty() {
        content.push_str(&format!("\n{}", called.join(" ")));
    }
    let content: String = content.chars().take(2000).collect();
    let mut m = CreateMessage::new()
        .content(content)
        .allowed_mentions(CreateAllowedMentions::new().users(users).roles(roles));
    let mut rows = Vec::new();
    if !message.buttons.is_empty() {
        rows.push(buttons(deploy_id, &message.buttons));
    }
    if message.confirm_rollback {
        rows.push(CreateActionRow::Buttons(vec![
            CreateButton::new(custom_id(CONFIRM_ROLLBACK, deploy_id))
                .label("Confirm rollback")
                .style(ButtonStyle::Danger),
        ]));
    }
    if !rows.is_empty() {
        m = m.components(rows);
    }
    m
}
