//! Block Kit layouts of the canary thread.

use super::escape::{link, text as esc};
use crate::domain::Choice;
use crate::present::chat::{ChatMessage, RootView, table};
use slack_morphism::prelude::*;
use std::collections::HashMap;

pub const ROLLBACK_ACTION: &str = "canary_rollback";
pub const PROCEED_ACTION: &str = "canary_proceed";
/// Confirms a rollback held because a newer deploy started after it.
pub const CONFIRM_ROLLBACK_ACTION: &str = "canary_confirm_rollback";
pub const METADATA_EVENT: &str = "canary_deploy";

fn plain(text: impl Into<String>) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(text.into()).into()
}

/// mrkdwn as canarybot wrote it; `verbatim` so Slack links and mentions nothing on its own
/// (bare `@here`, `#channel` or addresses in outside text stay words).
fn mrkdwn(text: impl Into<String>) -> SlackBlockText {
    let mut t = SlackBlockMarkDownText::new(text.into());
    t.verbatim = Some(true);
    t.into()
}

fn section(text: impl Into<String>) -> SlackBlock {
    SlackSectionBlock::new().with_text(mrkdwn(text)).into()
}

/// The forms a Slack id may take in a mention: the same checks the configuration uses.
fn is_user_id(id: &str) -> bool {
    super::platform::slack_id(id, &['U', 'W'])
}

/// `slack:U…` → `<@U…>`, `slack-group:S…` → `<!subteam^S…>`; other platforms (and anything
/// that is not a Slack id) are shown as escaped code.
pub fn mention(identity: &str) -> String {
    match identity.split_once(':') {
        Some(("slack", u)) if is_user_id(u) => format!("<@{u}>"),
        Some(("slack-group", g)) if super::platform::slack_id(g, &['S']) => {
            format!("<!subteam^{g}>")
        }
        _ => format!("`{}`", esc(identity)),
    }
}

/// A message's text for Slack: escaped, with the person it names shown as a mention when they
/// are a Slack user (Slack then shows their real name).
pub fn message_text(message: &ChatMessage) -> String {
    match message.person_split() {
        Some((before, identity, name, after)) => {
            let who = match identity.strip_prefix("slack:") {
                Some(u) if is_user_id(u) => format!("<@{u}>"),
                _ => esc(name),
            };
            format!("{}{who}{}", esc(before), esc(after))
        }
        None => esc(&message.text),
    }
}

fn mentions(identities: &[String]) -> String {
    identities
        .iter()
        .map(|i| mention(i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The *Roll back* / *Proceed* buttons; the value carries the deploy id.
pub fn buttons(deploy_id: &str, choices: &[Choice]) -> SlackBlock {
    let elements = choices
        .iter()
        .map(|c| {
            let button = match c {
                Choice::Rollback => SlackBlockButtonElement::new(plain("Roll back"))
                    .with_action_id(ROLLBACK_ACTION.to_string().into())
                    .with_style(SlackBlockButtonStyle::Danger)
                    .with_confirm(SlackBlockConfirmItem::new(
                        plain("Roll back?"),
                        mrkdwn(format!("Vote to roll back `{}`. With quorum, canarybot calls the deploy system at once.", esc(deploy_id))),
                        plain("Roll back"),
                        plain("Cancel"),
                    )),
                Choice::Promote => SlackBlockButtonElement::new(plain("Proceed"))
                    .with_action_id(PROCEED_ACTION.to_string().into())
                    .with_style(SlackBlockButtonStyle::Primary),
            };
            SlackActionBlockElement::Button(button.with_value(deploy_id.to_string()))
        })
        .collect();
    SlackActionsBlock::new(elements).into()
}

/// *Confirm rollback*: the value carries the deploy id; Slack asks once more before it sends.
fn confirm_rollback_button(deploy_id: &str) -> SlackBlock {
    let button = SlackBlockButtonElement::new(plain("Confirm rollback"))
        .with_action_id(CONFIRM_ROLLBACK_ACTION.to_string().into())
        .with_style(SlackBlockButtonStyle::Danger)
        .with_confirm(SlackBlockConfirmItem::new(
            plain("Confirm rollback?"),
            mrkdwn(format!(
                "Roll back `{}`, which also undoes the newer deploy. canarybot calls the deploy system at once.",
                esc(deploy_id)
            )),
            plain("Roll back"),
            plain("Cancel"),
        ))
        .with_value(deploy_id.to_string());
    SlackActionsBlock::new(vec![SlackActionBlockElement::Button(button)]).into()
}

/// The thread root: header, who and what, the locked criteria, who decides, the live status, and
/// the buttons (or, once decided, the outcome).
pub fn root_content(root: &RootView) -> SlackMessageContent {
    let mut blocks: Vec<SlackBlock> =
        vec![SlackHeaderBlock::new(plain(esc(&root.headline()))).into()];
    let mut about = format!("*{}*", root.status_line());
    if let Some(d) = &root.description {
        about.push_str(&format!("\n{}", esc(d)));
    }
    let mut who = Vec::new();
    if let Some(a) = &root.actor {
        who.push(format!("deployed by {}", esc(a)));
    }
    if let Some(sha) = &root.sha {
        let short: String = sha.chars().take(12).collect();
        who.push(format!("`{}`", esc(&short)));
    }
    if let Some(url) = &root.url {
        who.push(link(url, "pipeline"));
    }
    if !who.is_empty() {
        about.push_str(&format!("\n{}", who.join(" · ")));
    }
    blocks.push(section(about));
    // What was normal at this hour, once recorded: a column beside the agreed bounds.
    let normal = root.criteria.iter().any(|c| c.normal.is_some());
    let agreed: Vec<Vec<String>> = root
        .criteria
        .iter()
        .map(|c| {
            let mut row = vec![
                c.name.clone(),
                c.bounds.clone(),
                c.failure_limit.to_string(),
            ];
            if normal {
                row.push(c.normal.clone().unwrap_or_else(|| "—".into()));
            }
            row
        })
        .collect();
    let mut header = vec!["criterion", "canary bound", "failure limit"];
    if normal {
        header.push("normal at this hour");
    }
    blocks.push(section(format!(
        "*Criteria* (locked, hash `{}`)\n{}",
        esc(&root.criteria_hash),
        esc(&table(&header, &agreed))
    )));
    blocks.push(section(format!(
        "*Who decides:* {}\n{}",
        mentions(&root.deciders),
        esc(&root.policy_line())
    )));
    let views: Vec<String> = root
        .criteria
        .iter()
        .filter_map(|c| c.link.as_ref().map(|l| link(l, &c.name)))
        .collect();
    let views = if views.is_empty() {
        String::new()
    } else {
        format!("\nSide by side: {}", views.join(" · "))
    };
    blocks.push(section(format!(
        "*Live status*\n{}{views}",
        esc(&root.status_table())
    )));
    if root.buttons.is_empty() {
        if let Some(outcome) = &root.outcome {
            blocks.push(section(format!("*Outcome:* {}", esc(outcome))));
        }
    } else {
        blocks.push(buttons(&root.deploy_id, &root.buttons));
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(format!("deploy `{}`", esc(&root.deploy_id))),
        )])
        .into(),
    );
    let mut payload = HashMap::new();
    payload.insert("deploy_id".to_string(), root.deploy_id.clone());
    SlackMessageContent::new()
        .with_text(format!(
            "{} — {}",
            esc(&root.headline()),
            root.status_line()
        ))
        .with_blocks(blocks)
        .with_metadata(
            SlackMessageMetadata::new(METADATA_EVENT.to_string()).with_event_payload(payload),
        )
}

/// A reply: the text (with the deciders mentioned when the message calls them) and any buttons.
pub fn reply_content(deploy_id: &str, message: &ChatMessage) -> SlackMessageContent {
    let mut text = message_text(message);
    let called = message
        .mentions
        .iter()
        .filter(|m| m.starts_with("slack:") || m.starts_with("slack-group:"))
        .cloned()
        .collect::<Vec<_>>();
    if !called.is_empty() {
        text = format!("{text}\n{}", mentions(&called));
    }
    let content = SlackMessageContent::new().with_text(text.clone());
    let mut actions = Vec::new();
    if !message.buttons.is_empty() {
        actions.push(buttons(deploy_id, &message.buttons));
    }
    if message.confirm_rollback {
        actions.push(confirm_rollback_button(deploy_id));
    }
    if actions.is_empty() {
        content
    } else {
        content.with_blocks(std::iter::once(section(text)).chain(actions).collect())
    }
}
