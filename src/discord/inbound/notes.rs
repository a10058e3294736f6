//! "Add to timeline": Discord's message context-menu command (application command type 3) on a
//! message in a canary thread adds the message to the deploy's timeline as a person's note — its
//! author, content and attachments (as links), at the time it was said, with whoever pressed
//! as `added_by` when that is someone else. The message comes resolved in the interaction
//! (`data.resolved.messages`); the answer is private. Called from
//! [`DiscordInbound::answer`], so it works over HTTP and the Gateway alike.

use super::{DiscordInbound, Interaction, Member};
use crate::command::ADD_TO_TIMELINE;
use crate::domain::deploy::{ChatNote, FileLink, Input, MessageRef, Person};
use serde::Deserialize;
use std::collections::HashMap;

/// A message command's data: the command, the message it was used on, and that message.
#[derive(Debug, Deserialize)]
struct MessageCommandData {
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    target_id: String,
    #[serde(default)]
    resolved: Resolved,
}

#[derive(Debug, Default, Deserialize)]
struct Resolved {
    #[serde(default)]
    messages: HashMap<String, ResolvedMessage>,
}

/// The message as Discord resolves it. serenity's `Message` requires fields a resolved message
/// may lack (`mention_roles`, `tts`, …) and canarybot never reads: this part is ours.
#[derive(Debug, Deserialize)]
pub struct ResolvedMessage {
    pub id: String,
    #[serde(default)]
    pub content: String,
    pub author: Author,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// ISO 8601, as Discord writes it.
    pub timestamp: String,
}

#[derive(Debug, Deserialize)]
pub struct Author {
    pub id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub global_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub url: String,
}

/// Application command type 3: a command on a message.
const MESSAGE_COMMAND: u8 = 3;

/// The message a message command names, when the interaction is one: `Ok(None)` for any other
/// application command. The error names what is wrong.
pub fn target_message(interaction: &Interaction) -> Result<Option<ResolvedMessage>, String> {
    let Some(data) = interaction.data.as_ref() else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Kind {
        #[serde(rename = "type", default)]
        kind: u8,
    }
    let kind: Kind = serde_json::from_str(data.get())
        .map_err(|e| format!("malformed interaction: data: {e}"))?;
    if kind.kind != MESSAGE_COMMAND {
        return Ok(None);
    }
    let mut data: MessageCommandData = serde_json::from_str(data.get())
        .map_err(|e| format!("malformed interaction: data: {e}"))?;
    if data.kind != MESSAGE_COMMAND || data.name != ADD_TO_TIMELINE {
        return Err(format!(
            "unknown message command `{}`: canarybot has only `{ADD_TO_TIMELINE}`",
            data.name
        ));
    }
    data.resolved
        .messages
        .remove(&data.target_id)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "malformed interaction: data.resolved.messages has no message {}",
                data.target_id
            )
        })
}

impl DiscordInbound {
    /// A person as the configuration names them, else by the name Discord gave.
    pub(super) fn person(&self, id: &str, name: &str) -> Person {
        let identity = format!("discord:{id}");
        let name = self.config.voter(&identity, name, Vec::new()).name;
        Person { identity, name }
    }

    /// Adds `message`, in the thread `channel`, to its deploy's timeline; returns the private
    /// answer.
    pub(super) async fn add_to_timeline(
        &self,
        message: ResolvedMessage,
        channel: &str,
        presser: &Member,
    ) -> String {
        let deploy_id = match self
            .engine
            .store()
            .deploy_by_thread_end("discord", channel)
            .await
        {
            Ok(Some(id)) => id,
            Ok(None) => {
                return "Add to timeline works on messages in a canary thread; this is not one. Nothing was added.".to_string();
            }
            Err(e) => return format!("I could not look up this thread ({e}); nothing was added."),
        };
        let said_at_ms = match chrono::DateTime::parse_from_rfc3339(&message.timestamp) {
            Ok(t) => t.timestamp_millis(),
            Err(e) => {
                return format!(
                    "The message's timestamp `{}` is not a date ({e}); nothing was added.",
                    message.timestamp
                );
            }
        };
        let a = &message.author;
        let author = self.person(&a.id, a.global_name.as_deref().unwrap_or(&a.username));
        let presser = self.person(&presser.id, &presser.name);
        let input = Input::AddNote {
            text: crate::limits::note_text(&message.content),
            note: ChatNote {
                added_by: (presser.identity != author.identity).then_some(presser),
                author,
                said_at_ms,
                files: message
                    .attachments
                    .iter()
                    .map(|f| FileLink {
                        name: f.filename.clone(),
                        url: f.url.clone(),
                    })
                    .collect(),
                message: Some(MessageRef {
                    platform: "discord".into(),
                    thread: channel.to_string(),
                    message: message.id.clone(),
                }),
            },
        };
        match self.engine.apply(&deploy_id, input, "discord").await {
            Ok(applied) if applied.outcome.events.is_empty() => {
                format!("📌 This message is already in the timeline of `{deploy_id}`.")
            }
            Ok(_) => format!("📌 Added to the timeline of `{deploy_id}`."),
            Err(e) => format!("Nothing was added: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::inbound::parse_interaction;

    /// The message command as Discord sends it (the shared fixture): its resolved message, with
    /// the author, content, attachment and time.
    #[test]
    fn the_fixture_names_its_resolved_message() {
        let fixture =
            include_str!("../../../tests/fixtures/discord/interaction.message_command.json");
        let i = parse_interaction(fixture.as_bytes()).expect("an interaction");
        let m = target_message(&i)
            .expect("well formed")
            .expect("a message command");
        assert_eq!(m.id, "1160000000000000000");
        assert_eq!(m.content, "it is the payment provider, not us");
        assert_eq!(
            (m.author.id.as_str(), m.author.global_name.as_deref()),
            ("445566778899001133", Some("Bob"))
        );
        assert_eq!(m.attachments[0].filename, "grafana.png");
        assert_eq!(i.channel_id(), "1150000000000000000");
        let slash = parse_interaction(br#"{"type": 2, "data": {"name": "canary", "type": 1}}"#)
            .expect("an interaction");
        assert!(target_message(&slash).expect("fine").is_none());
        let other = fixture.replace("\"Add to timeline\"", "\"Something else\"");
        let i = parse_interaction(other.as_bytes()).expect("an interaction");
        assert!(target_message(&i).is_err());
    }
}
