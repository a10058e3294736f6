//! A 📌 (the configured `note_reaction`) on a message in a canary thread adds the message to
//! the deploy's timeline as a person's note: its author, text and files, read with
//! `conversations.replies`, at the time it was said, with whoever reacted as `added_by` when
//! that is someone else. Taking the reaction off withdraws the note. A reaction anywhere else,
//! or with another emoji, does nothing. Both transports bring the events here through
//! [`SlackInbound::event`]; the work goes on after Slack's answer.

use super::{EventCallback, SlackInbound};
use crate::domain::deploy::{ChatNote, FileLink, Input, MessageRef, Person};
use crate::slack::config::SlackConfig;
use crate::slack::thread_ref;
use slack_morphism::prelude::{SlackEventCallbackBody, SlackHistoryMessage, SlackReactionsItem};

/// A reaction added to or taken off a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub added: bool,
    /// Who reacted.
    pub user: String,
    /// The emoji's name, without a skin tone.
    pub emoji: String,
    pub channel: String,
    /// The message reacted to.
    pub ts: String,
}

impl Reaction {
    /// The reaction an event is, when it is one on a message.
    pub fn of(callback: &EventCallback) -> Option<Reaction> {
        let (added, user, emoji, item) = match callback.event.as_ref()? {
            SlackEventCallbackBody::ReactionAdded(r) => (true, &r.user, &r.reaction, &r.item),
            SlackEventCallbackBody::ReactionRemoved(r) => (false, &r.user, &r.reaction, &r.item),
            _ => return None,
        };
        let SlackReactionsItem::Message(message) = item else {
            return None;
        };
        let reaction = Reaction {
            added,
            user: user.0.clone(),
            emoji: emoji.0.split("::").next().unwrap_or_default().to_string(),
            channel: message.origin.channel.as_ref()?.0.clone(),
            ts: message.origin.ts.0.clone(),
        };
        // Ids, not text: anything longer is not Slack's, and is not acted on.
        let fits = [
            &reaction.user,
            &reaction.emoji,
            &reaction.channel,
            &reaction.ts,
        ]
        .iter()
        .all(|v| !v.is_empty() && v.chars().count() <= crate::limits::IDENTITY);
        fits.then_some(reaction)
    }
}

/// Milliseconds since the epoch of a Slack `ts` (`1764511953.000200`).
pub fn ts_millis(ts: &str) -> Option<i64> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let secs: i64 = secs.parse().ok()?;
    let micros: i64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    Some(secs * 1000 + micros / 1000)
}

/// Slack's text as typed: Slack escapes `&`, `<` and `>` in message text.
fn unescaped(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The message's files as links: the permalink, else the private URL.
fn files_of(message: &SlackHistoryMessage) -> Vec<FileLink> {
    message
        .content
        .files
        .iter()
        .flatten()
        .filter_map(|f| {
            let url = f.permalink.as_ref().or(f.url_private.as_ref())?;
            Some(FileLink {
                name: f
                    .name
                    .clone()
                    .or(f.title.clone())
                    .unwrap_or_else(|| "file".to_string()),
                url: url.to_string(),
            })
        })
        .collect()
}

impl SlackInbound {
    /// The emoji that adds a note (`[slack] note_reaction`, `pushpin` by default).
    fn note_emoji(&self) -> String {
        SlackConfig::of(&self.config)
            .map(|c| c.note_reaction.trim().trim_matches(':').to_string())
            .unwrap_or_else(|| "pushpin".to_string())
    }

    /// A person as the configuration names them, else by the name Slack gave.
    pub(super) fn person(&self, user: &str, name: &str) -> Person {
        let identity = format!("slack:{user}");
        let name = self.config.voter(&identity, name, Vec::new()).name;
        Person { identity, name }
    }

    /// Acts on a reaction after Slack's answer: a note added or withdrawn, or nothing.
    pub(super) fn react(&self, reaction: Reaction) {
        if reaction.emoji != self.note_emoji() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.note_from(&reaction).await {
                tracing::warn!(channel = %reaction.channel, ts = %reaction.ts, error = %e, "Slack reaction not noted");
            }
        });
    }

    async fn note_from(&self, reaction: &Reaction) -> Result<(), String> {
        let Some(message) = self
            .api
            .message(&reaction.channel, &reaction.ts)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Err("Slack has no such message".into());
        };
        // A reply names its thread; a root (or a message outside threads) is its own.
        let thread_ts = message
            .origin
            .thread_ts
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_else(|| reaction.ts.clone());
        let thread = thread_ref(&reaction.channel, &thread_ts);
        let Some(deploy_id) = self
            .engine
            .store()
            .deploy_by_thread("slack", &thread)
            .await
            .map_err(|e| e.to_string())?
        else {
            // Not a canary thread: nothing to note.
            return Ok(());
        };
        let reference = MessageRef {
            platform: "slack".into(),
            thread,
            message: reaction.ts.clone(),
        };
        let reactor = self.person(&reaction.user, &reaction.user);
        let input = if reaction.added {
            let author_id = message
                .sender
                .user
                .as_ref()
                .map(|u| u.0.clone())
                .or(message.sender.bot_id.as_ref().map(|b| b.0.clone()))
                .unwrap_or_default();
            let shown = message
                .sender
                .user_profile
                .as_ref()
                .and_then(|p| {
                    p.display_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .or(p.real_name.clone())
                })
                .or(message.sender.username.clone())
                .unwrap_or_else(|| author_id.clone());
            let author = self.person(&author_id, &shown);
            let said_at_ms = ts_millis(&reaction.ts)
                .ok_or_else(|| format!("ts `{}` is not a Slack timestamp", reaction.ts))?;
            Input::AddNote {
                text: crate::limits::note_text(&unescaped(
                    message.content.text.as_deref().unwrap_or_default(),
                )),
                note: ChatNote {
                    added_by: (reactor.identity != author.identity).then_some(reactor),
                    author,
                    said_at_ms,
                    files: files_of(&message),
                    message: Some(reference),
                },
            }
        } else {
            Input::WithdrawNote {
                message: reference,
                by: reactor,
            }
        };
        self.engine
            .apply(&deploy_id, input, "slack")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::inbound::{Event, parse_event};

    /// The Events API's `reaction_added` as Slack sends it (the shared fixture) reads as the
    /// reaction on its message; its removal reads the same, taken off.
    #[test]
    fn reaction_events_read_as_the_reaction_on_a_message() {
        let fixture = include_str!("../../../tests/fixtures/slack/events.reaction_added.json");
        let Ok(Event::EventCallback(callback)) = parse_event(fixture.as_bytes()) else {
            panic!("an event callback");
        };
        let added = Reaction::of(&callback).expect("a reaction");
        assert_eq!(
            added,
            Reaction {
                added: true,
                user: "U02CAROL".into(),
                emoji: "pushpin".into(),
                channel: "C0123ABCD".into(),
                ts: "1764511953.000200".into(),
            }
        );
        let removed = fixture.replace("reaction_added", "reaction_removed");
        let Ok(Event::EventCallback(callback)) = parse_event(removed.as_bytes()) else {
            panic!("an event callback");
        };
        assert!(!Reaction::of(&callback).expect("a reaction").added);
        let on_file = fixture.replace(
            r#""type": "message","#,
            r#""type": "file", "file": {"id": "F1"}, "file_id": "F1","#,
        );
        if let Ok(Event::EventCallback(callback)) = parse_event(on_file.as_bytes()) {
            assert_eq!(Reaction::of(&callback), None, "a reaction on a file");
        }
    }

    #[test]
    fn slack_timestamps_in_milliseconds() {
        assert_eq!(ts_millis("1764511953.000200"), Some(1_764_511_953_000));
        assert_eq!(ts_millis("1764511953.123456"), Some(1_764_511_953_123));
        assert_eq!(ts_millis("1764511953"), Some(1_764_511_953_000));
        assert_eq!(ts_millis("x.1"), None);
    }
}
