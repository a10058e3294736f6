//! Socket Mode's wire shapes: what Slack sends over the WebSocket (`hello`, `disconnect`, and
//! envelopes of `events_api`, `interactive` and `slash_commands`) and the acknowledgement each
//! envelope gets back (`{"envelope_id", "payload"?}`), as `tests/fixtures/slack/socket_mode.*.json`
//! show them.

use serde::Deserialize;
use serde_json::{Value, json};

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    EventsApi,
    Interactive,
    SlashCommands,
}

/// One delivery from Slack, to be acknowledged with its `envelope_id` within 3 s.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: String,
    pub kind: Kind,
    pub payload: Value,
    /// Whether the acknowledgement may carry a payload (a command's reply, a modal's errors).
    pub accepts_response_payload: bool,
    /// 0 the first time; Slack redelivers an envelope it heard no acknowledgement for.
    pub retry_attempt: u32,
}

/// A text frame from Slack, read.
#[derive(Debug)]
pub enum Frame {
    /// The connection is ready to receive.
    Hello,
    /// Slack will close this connection (`refresh_requested`, `link_disabled`, `warning`).
    Disconnect {
        reason: String,
    },
    Envelope(Envelope),
    /// A frame of a type canarybot does not know: ignored.
    Other(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    accepts_response_payload: bool,
    #[serde(default)]
    retry_attempt: u32,
    #[serde(default)]
    reason: Option<String>,
}

/// Reads a text frame; the error says what is wrong with it.
pub fn read(text: &str) -> Result<Frame, String> {
    let raw: Raw =
        serde_json::from_str(text).map_err(|e| format!("malformed Socket Mode frame: {e}"))?;
    let kind = match raw.kind.as_str() {
        "hello" => return Ok(Frame::Hello),
        "disconnect" => {
            return Ok(Frame::Disconnect {
                reason: raw.reason.unwrap_or_else(|| "no reason given".into()),
            });
        }
        "events_api" => Kind::EventsApi,
        "interactive" => Kind::Interactive,
        "slash_commands" => Kind::SlashCommands,
        _ => return Ok(Frame::Other(raw.kind)),
    };
    let id = raw
        .envelope_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| format!("{} envelope without an envelope_id", raw.kind))?;
    if id.len() > crate::limits::IDENTITY {
        return Err(format!(
            "envelope_id: at most {} bytes",
            crate::limits::IDENTITY
        ));
    }
    Ok(Frame::Envelope(Envelope {
        id,
        kind,
        payload: raw.payload,
        accepts_response_payload: raw.accepts_response_payload,
        retry_attempt: raw.retry_attempt,
    }))
}

/// The acknowledgement of `envelope`: its id, and the payload when there is one and the envelope
/// accepts it.
pub fn ack(envelope: &Envelope, payload: Option<Value>) -> String {
    match payload {
        Some(payload) if envelope.accepts_response_payload => {
            json!({"envelope_id": envelope.id, "payload": payload})
        }
        Some(_) => {
            tracing::warn!(envelope = %envelope.id, "an answer for an envelope that takes none: dropped");
            json!({"envelope_id": envelope.id})
        }
        None => json!({"envelope_id": envelope.id}),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/slack")
            .join(name);
        std::fs::read_to_string(path).expect("fixture")
    }

    #[test]
    fn the_fixtures_read_as_slack_sends_them() {
        assert!(matches!(
            read(&fixture("socket_mode.hello.json")),
            Ok(Frame::Hello)
        ));
        let Ok(Frame::Disconnect { reason }) = read(&fixture("socket_mode.disconnect.json")) else {
            panic!("a disconnect");
        };
        assert_eq!(reason, "refresh_requested");
        let Ok(Frame::Envelope(e)) = read(&fixture("socket_mode.slash_commands.envelope.json"))
        else {
            panic!("an envelope");
        };
        assert_eq!(e.id, "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545");
        assert_eq!(e.kind, Kind::SlashCommands);
        assert!(e.accepts_response_payload);
        assert_eq!(e.retry_attempt, 0);
        let command = crate::slack::inbound::slash_command_of(e.payload.clone()).expect("command");
        assert_eq!(
            (command.command.0.as_str(), command.text.as_str()),
            ("/rollback", "checkout p99 doubled")
        );
        assert_eq!(
            ack(&e, Some(json!({"text": "hi"}))),
            r#"{"envelope_id":"dbdd0ef3-1543-4f94-bfb4-133d0e6c1545","payload":{"text":"hi"}}"#
        );
        assert_eq!(
            ack(&e, None),
            r#"{"envelope_id":"dbdd0ef3-1543-4f94-bfb4-133d0e6c1545"}"#
        );
    }

    #[test]
    fn odd_frames_are_named_or_ignored() {
        assert!(matches!(read(r#"{"type": "pong"}"#), Ok(Frame::Other(k)) if k == "pong"));
        let e = read(r#"{"type": "interactive", "payload": {}}"#).expect_err("no id");
        assert!(e.contains("without an envelope_id"), "{e}");
        let e = read("not json").expect_err("not JSON");
        assert!(e.starts_with("malformed Socket Mode frame"), "{e}");
        let Ok(Frame::Envelope(e)) = read(
            r#"{"type": "events_api", "envelope_id": "e1", "payload": {}, "retry_attempt": 1, "retry_reason": "timeout"}"#,
        ) else {
            panic!("an envelope");
        };
        assert_eq!(
            (e.kind, e.retry_attempt, e.accepts_response_payload),
            (Kind::EventsApi, 1, false)
        );
        assert_eq!(ack(&e, Some(json!({"x": 1}))), r#"{"envelope_id":"e1"}"#);
    }
}
