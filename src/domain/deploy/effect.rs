//! Effects: what the shell must do after the events are stored (chat, the deploy system).

use crate::domain::decision::Choice;
use crate::present::chat::RootView;
use serde::{Deserialize, Serialize};

/// Something the shell must do after the events are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Chat(ChatEffect),
    Execute(ExecuteRequest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChatEffect {
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
}

/// Platform-neutral message; each chat adapter renders it its own way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub text: String,
    /// Buttons to offer (Roll back / Proceed).
    #[serde(default)]
    pub buttons: Vec<Choice>,
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
/// range is set by the state machine, never found by searching, so no outside text can make a
/// mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedPerson {
    pub identity: String,
    pub start: usize,
    pub end: usize,
}

impl ChatMessage {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub decision_id: String,
    pub action: Choice,
    pub reason: String,
    pub decided_by: Vec<String>,
}
