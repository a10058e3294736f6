//! The canary thread as Discord messages: an embed with the agreement and the live status, and a
//! row of buttons whose `custom_id` carries the deploy.

use crate::domain::render::RootView;
use crate::domain::{ChatMessage, Choice, State};
use serenity::all::ButtonStyle;
use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter,
    CreateMessage, EditMessage,
};
use serenity::model::id::{RoleId, UserId};

pub const ROLLBACK: &str = "canary_rollback";
pub const PROCEED: &str = "canary_proceed";
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

/// `discord:123` → `<@123>`, `discord-role:456` → `<@&456>`.
pub fn mention(identity: &str) -> Option<String> {
    if let Some(u) = identity.strip_prefix("discord:") {
        Some(format!("<@{u}>"))
    } else {
        identity
            .strip_prefix("discord-role:")
            .map(|r| format!("<@&{r}>"))
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

fn embed(root: &RootView) -> CreateEmbed {
    let mut description = format!("**{}**", root.status_line());
    if let Some(d) = &root.description {
        description.push_str(&format!("\n{d}"));
    }
    if let Some(b) = root.byline() {
        description.push_str(&format!("\n{b}"));
    }
    let mut e = CreateEmbed::new()
        .title(root.headline())
        .description(description)
        .colour(colour(root.state));
    if let Some(url) = &root.url {
        e = e.url(url.clone());
    }
    for c in &root.criteria {
        let view = c
            .link
            .as_ref()
            .map(|l| format!(" · [side by side]({l})"))
            .unwrap_or_default();
        e = e.field(
            c.name.clone(),
            format!(
                "canary {} · breach after {} failing{view}",
                c.bounds, c.failure_limit
            ),
            false,
        );
    }
    let who: Vec<String> = root
        .deciders
        .iter()
        .map(|d| mention(d).unwrap_or_else(|| format!("`{d}`")))
        .collect();
    e = e.field(
        "Who decides",
        format!("{}\n{}", who.join(", "), root.policy_line()),
        false,
    );
    e = e.field("Live status", root.status_table(), false);
    if let Some(o) = &root.outcome {
        e = e.field("Outcome", o.clone(), false);
    }
    e.footer(CreateEmbedFooter::new(format!(
        "deploy {} · criteria hash {}",
        root.deploy_id, root.criteria_hash
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
    let mut content = message.text.replace('*', "**");
    if !called.is_empty() {
        content.push_str(&format!("\n{}", called.join(" ")));
    }
    let content: String = content.chars().take(2000).collect();
    let mut m = CreateMessage::new()
        .content(content)
        .allowed_mentions(CreateAllowedMentions::new().users(users).roles(roles));
    if !message.buttons.is_empty() {
        m = m.components(vec![buttons(deploy_id, &message.buttons)]);
    }
    m
}
