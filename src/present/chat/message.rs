//! What the chat outbox delivers: a domain chat effect worded for people. Stored in outbox rows,
//! so its serialized shape is kept from release to release (rows written before an upgrade are
//! delivered after it).

use super::root::{RootView, root_view};
use super::said;
use crate::domain::decision::Choice;
use crate::domain::deploy::{ChatEffect, Deploy};
use serde::{Deserialize, Serialize};

/// A chat effect in words, as the outbox stores it and the adapters receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RenderedChat {
    /// Open the canary thread: the root pins the locked criteria and the live status.
    PostRoot {
        root: Box<RootView>,
    },
    /// Rewrite the root with the current status.
    UpdateRoot {
        root: Box<RootView>,
    },
    Reply {
        message: ChatMessage,
    },
    /// A private notice to one person (identity such as `slack:U01ALICE`).
    Notice {
        to: String,
        text: String,
    },
    /// A direct message to one person (identity such as `slack:U01ALICE`), outside the thread.
    Direct {
        to: String,
        message: ChatMessage,
    },
    /// The chart of one criterion, rendered when delivered (see [`ChartRequest`]).
    Chart {
        chart: ChartRequest,
    },
}

/// A chart to post in the thread: `criterion` as it stood at `until_ms`; `with` are the criteria
/// charted for the same event, linked together when the platform refuses files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartRequest {
    pub criterion: String,
    #[serde(default)]
    pub with: Vec<String>,
    pub until_ms: i64,
}

/// Platform-neutral message; each chat adapter renders it its own way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub text: String,
    /// Buttons to offer (Roll back / Proceed).
    #[serde(default)]
    pub buttons: Vec<Choice>,
    /// A *Confirm rollback* button: the rollback decided waits for a decider's confirmation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_rollback: bool,
    /// Worth a highlight: breaches and failed rollbacks.
    #[serde(default)]
    pub loud: bool,
    /// Decider identities to mention (`slack:U…`, `slack-group:S…`); each adapter renders the
    /// ones of its own platform.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// The person the message is about (a voter), named in `text`: an adapter may show them its
    /// own way (a Slack identity as `<@U…>`, so Slack shows the real account, not a claimed name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<NamedPerson>,
}

/// Where `text` names a person: the identity, and the byte range of their name in the text. The
/// range is set where the words are written, never found by searching, so no outside text can
/// make a mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedPerson {
    pub identity: String,
    pub start: usize,
    pub end: usize,
}

impl ChatMessage {
    /// A message of plain text.
    pub fn plain(text: String) -> ChatMessage {
        ChatMessage {
            text,
            buttons: Vec::new(),
            confirm_rollback: false,
            loud: false,
            mentions: Vec::new(),
            person: None,
        }
    }

    /// `before`, the person's name, `after`; the name marked as the person's.
    pub fn about(identity: &str, name: &str, before: &str, after: &str) -> ChatMessage {
        let start = before.len();
        ChatMessage {
            person: Some(NamedPerson {
                identity: identity.to_string(),
                start,
                end: start + name.len(),
            }),
            ..ChatMessage::plain(format!("{before}{name}{after}"))
        }
    }

    /// The text split around the person: `(before, identity, name, after)`, when a person is
    /// named and the range still fits the text.
    pub fn person_split(&self) -> Option<(&str, &str, &str, &str)> {
        let p = self.person.as_ref()?;
        let name = self.text.get(p.start..p.end)?;
        Some((
            &self.text[..p.start],
            p.identity.as_str(),
            name,
            &self.text[p.end..],
        ))
    }
}

/// Words a chat effect against `d`, the deploy after the input that caused it.
pub fn render(effect: &ChatEffect, d: &Deploy) -> RenderedChat {
    match effect {
        ChatEffect::PostRoot => RenderedChat::PostRoot {
            root: Box::new(root_view(d)),
        },
        ChatEffect::UpdateRoot => RenderedChat::UpdateRoot {
            root: Box::new(root_view(d)),
        },
        ChatEffect::Reply { said } => RenderedChat::Reply {
            message: said::message(said, d),
        },
        ChatEffect::Notice { to, notice } => RenderedChat::Notice {
            to: to.clone(),
            text: said::notice(notice, d),
        },
        ChatEffect::Direct { to, direct } => RenderedChat::Direct {
            to: to.clone(),
            message: said::direct(direct, d),
        },
        ChatEffect::Chart {
            criterion,
            with,
            until_ms,
        } => RenderedChat::Chart {
            chart: ChartRequest {
                criterion: criterion.clone(),
                with: with.clone(),
                until_ms: *until_ms,
            },
        },
    }
}
