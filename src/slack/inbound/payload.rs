//! The bodies Slack posts to canarybot, read through slack-morphism's models. Where a model of
//! slack-morphism requires fields canarybot never reads and accepts requests without (Slack's
//! envelope: `team_id`, `api_app_id`, `trigger_id`, …), the envelope is ours and the parts in it
//! are slack-morphism's; each such place says which field.

use serde::Deserialize;
use slack_morphism::prelude::{
    SlackAppMentionEvent, SlackBasicChannelInfo, SlackBasicUserInfo, SlackChannelId,
    SlackCommandId, SlackEventCallbackBody, SlackEventId, SlackInteractionActionContainer,
    SlackInteractionActionInfo, SlackUrlVerificationEvent, SlackUserId, SlackViewState,
};

/// A slash command's form body. slack-morphism's `SlackCommandEvent` requires `team_id`,
/// `response_url` and `trigger_id`, which canarybot never reads and accepts a command without,
/// and has no `user_name`: the form is ours, with slack-morphism's ids.
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    pub command: SlackCommandId,
    #[serde(default)]
    pub text: String,
    pub user_id: SlackUserId,
    #[serde(default)]
    pub user_name: Option<String>,
    pub channel_id: SlackChannelId,
}

/// Parses a slash command's form body; the error says what is wrong.
pub fn parse_slash_command(body: &[u8]) -> Result<SlashCommand, String> {
    serde_urlencoded::from_bytes(body).map_err(|e| format!("malformed slash command: {e}"))
}

/// Reads a slash command from a Socket Mode envelope, where it arrives as a JSON object with the
/// form's fields rather than form-encoded.
pub fn slash_command_of(payload: serde_json::Value) -> Result<SlashCommand, String> {
    serde_json::from_value(payload).map_err(|e| format!("malformed slash command: {e}"))
}

/// Whether a body is Slack's certificate check (`ssl_check=1`), which it sends to the command URL
/// when the app is set up and expects answered 200. It may come unsigned; it is answered without
/// anything being read or written.
pub fn is_ssl_check(body: &[u8]) -> bool {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .is_ok_and(|fields| fields.iter().any(|(k, v)| k == "ssl_check" && v == "1"))
}

/// An interaction, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum Interaction {
    #[serde(rename = "block_actions")]
    BlockActions(Box<BlockActions>),
    /// A modal submitted: the reason a vote asked for.
    #[serde(rename = "view_submission")]
    ViewSubmission(Box<ViewSubmission>),
    /// Any other interaction (`view_closed`, `shortcut`, …): canarybot asks for none.
    #[serde(other)]
    Other,
}

/// A modal submitted. slack-morphism's `SlackInteractionViewSubmissionEvent` requires `team` and
/// a whole stateful view (`id`, `team_id`, `hash`, the blocks as written), none of which
/// canarybot reads and which it accepts a submission without: the envelope and the view are
/// ours; the user and the state are slack-morphism's.
#[derive(Debug, Deserialize)]
pub struct ViewSubmission {
    #[serde(default)]
    pub user: Option<SlackBasicUserInfo>,
    pub view: SubmittedView,
}

#[derive(Debug, Deserialize)]
pub struct SubmittedView {
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub private_metadata: Option<String>,
    #[serde(default)]
    pub state: Option<SlackViewState>,
}

impl ViewSubmission {
    /// The id of the person who submitted; empty when the payload names nobody.
    pub fn user_id(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.id.0.as_str())
    }

    /// The person's name as Slack shows it: `username`, else `name`, else the id.
    pub fn user_name(&self) -> &str {
        self.user
            .as_ref()
            .and_then(|u| u.username.as_deref().or(u.name.as_deref()))
            .unwrap_or(self.user_id())
    }

    /// The text typed in `block_id`'s `action_id` (`view.state.values[block][action].value`).
    pub fn value(&self, block_id: &str, action_id: &str) -> Option<&str> {
        let values = &self.view.state.as_ref()?.values;
        let (_, actions) = values.iter().find(|(b, _)| b.0 == block_id)?;
        let (_, v) = actions.iter().find(|(a, _)| a.0 == action_id)?;
        v.value.as_deref()
    }
}

/// A press of a button. slack-morphism's `SlackInteractionBlockActionsEvent` requires `team`,
/// `api_app_id`, `container` and `trigger_id`, which canarybot never reads and accepts a press
/// without: the envelope is ours; the user, channel, container and actions are slack-morphism's.
#[derive(Debug, Deserialize)]
pub struct BlockActions {
    #[serde(default)]
    pub user: Option<SlackBasicUserInfo>,
    #[serde(default)]
    pub channel: Option<SlackBasicChannelInfo>,
    #[serde(default)]
    pub container: Option<SlackInteractionActionContainer>,
    #[serde(default)]
    pub actions: Vec<SlackInteractionActionInfo>,
    /// Lets canarybot open a modal for the person within 3 s of the press.
    #[serde(default)]
    pub trigger_id: Option<String>,
}

impl BlockActions {
    /// The id of the person who pressed; empty when the payload names nobody.
    pub fn user_id(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.id.0.as_str())
    }

    /// The person's name as Slack shows it: `username`, else `name`, else the id.
    pub fn user_name(&self) -> &str {
        self.user
            .as_ref()
            .and_then(|u| u.username.as_deref().or(u.name.as_deref()))
            .unwrap_or(self.user_id())
    }

    /// The channel the button was pressed in: `channel.id`, else the message container's.
    pub fn channel_id(&self) -> &str {
        if let Some(channel) = &self.channel {
            return &channel.id.0;
        }
        let in_container = match &self.container {
            Some(SlackInteractionActionContainer::Message(m)) => m.channel_id.as_ref(),
            Some(SlackInteractionActionContainer::MessageAttachment(m)) => m.channel_id.as_ref(),
            _ => None,
        };
        in_container.map_or("", |c| c.0.as_str())
    }
}

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

/// Parses an interaction's form body: the JSON in its `payload` field.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, String> {
    serde_urlencoded::from_bytes::<InteractionForm>(body)
        .map_err(|e| e.to_string())
        .and_then(|f| serde_json::from_str(&f.payload).map_err(|e| e.to_string()))
        .map_err(|e| format!("malformed interaction payload: {e}"))
}

/// Reads an interaction from a Socket Mode envelope, where the payload is the interaction's JSON
/// object itself rather than a `payload=` form field.
pub fn interaction_of(payload: serde_json::Value) -> Result<Interaction, String> {
    serde_json::from_value(payload).map_err(|e| format!("malformed interaction payload: {e}"))
}

/// An Events API body, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    UrlVerification(SlackUrlVerificationEvent),
    EventCallback(Box<EventCallback>),
    /// Any other body (`app_rate_limited`, …): nothing to do.
    #[serde(other)]
    Other,
}

/// An event delivered to the app. slack-morphism's `SlackPushEventCallback` requires `team_id`,
/// `api_app_id` and `event_time`, which canarybot never reads and accepts an event without: the
/// envelope is ours; the event in it is slack-morphism's `SlackEventCallbackBody` (whose
/// `Unknown` keeps events it does not model, or that do not match its model, unread).
#[derive(Debug, Deserialize)]
pub struct EventCallback {
    #[serde(default)]
    pub event_id: Option<SlackEventId>,
    #[serde(default)]
    pub event: Option<SlackEventCallbackBody>,
}

impl EventCallback {
    /// The event, if it is a mention of the app.
    pub fn into_mention(self) -> Option<SlackAppMentionEvent> {
        match self.event? {
            SlackEventCallbackBody::AppMention(mention) => Some(mention),
            _ => None,
        }
    }
}

/// Parses an Events API body.
pub fn parse_event(body: &[u8]) -> Result<Event, String> {
    serde_json::from_slice(body).map_err(|e| format!("malformed event: {e}"))
}

/// Reads an Events API body from a Socket Mode envelope (the `event_callback` object).
pub fn event_of(payload: serde_json::Value) -> Result<Event, String> {
    serde_json::from_value(payload).map_err(|e| format!("malformed event: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interaction(payload: serde_json::Value) -> Result<Interaction, String> {
        let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
        parse_interaction(form.as_bytes())
    }

    /// A press as the thread's buttons send it, and as Slack sends it whole: the person, their
    /// name, the channel and the action read the same.
    #[test]
    fn a_press_reads_the_person_channel_and_action() {
        let minimal = json!({"type": "block_actions",
            "user": {"id": "U02BOB", "username": "bob"},
            "container": {"type": "message", "channel_id": "C0CHECKOUT", "message_ts": "1700000000.000001"},
            "actions": [{"action_id": "canary_rollback", "value": "checkout:production:1", "type": "button"}]});
        let full = json!({"type": "block_actions", "team": {"id": "T1", "domain": "acme"},
            "user": {"id": "U02BOB", "username": "bob", "name": "bob", "team_id": "T1"},
            "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0CHECKOUT", "is_ephemeral": false},
            "channel": {"id": "C0CHECKOUT", "name": "checkout"},
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
            "actions": [{"action_id": "canary_rollback", "block_id": "b1", "value": "checkout:production:1",
                         "type": "button", "style": "danger", "action_ts": "1700000001.000001",
                         "text": {"type": "plain_text", "text": "Roll back", "emoji": true}}]});
        for payload in [minimal, full] {
            let Ok(Interaction::BlockActions(press)) = interaction(payload.clone()) else {
                panic!("a press: {payload}");
            };
            assert_eq!(
                (press.user_id(), press.user_name(), press.channel_id()),
                ("U02BOB", "bob", "C0CHECKOUT")
            );
            assert_eq!(press.actions[0].action_id.0, "canary_rollback");
            assert_eq!(
                press.actions[0].value.as_deref(),
                Some("checkout:production:1")
            );
        }
        let Ok(Interaction::BlockActions(press)) =
            interaction(json!({"type": "block_actions", "user": {"id": "U1", "name": "ann"}}))
        else {
            panic!("a press");
        };
        assert_eq!((press.user_name(), press.channel_id()), ("ann", ""));
        assert!(matches!(
            interaction(json!({"type": "view_closed", "view": {}})),
            Ok(Interaction::Other)
        ));
        let e = interaction(json!({"type": "block_actions", "actions": [{"value": "x"}]}))
            .expect_err("an action without its id");
        assert!(e.starts_with("malformed interaction payload: "), "{e}");
    }

    /// A submission as Slack sends it (the shared fixture): the person, the modal's metadata and
    /// the reason typed read back.
    #[test]
    fn a_view_submission_reads_the_person_metadata_and_reason() {
        let fixture =
            include_str!("../../../tests/fixtures/slack/interactions.view_submission.json");
        let payload: serde_json::Value = serde_json::from_str(fixture).expect("fixture");
        let Ok(Interaction::ViewSubmission(sub)) = interaction(payload) else {
            panic!("a view_submission");
        };
        assert_eq!((sub.user_id(), sub.user_name()), ("U01ALICE", "alice"));
        assert_eq!(sub.view.callback_id.as_deref(), Some("canary_vote_reason"));
        assert_eq!(
            sub.view.private_metadata.as_deref(),
            Some(r#"{"deploy_id":"checkout:production:2.4.1","choice":"rollback"}"#)
        );
        assert_eq!(
            sub.value("reason", "reason_input"),
            Some("p99 doubled since 2.4.1")
        );
        assert_eq!(sub.value("reason", "other"), None);
        let Ok(Interaction::ViewSubmission(bare)) =
            interaction(json!({"type": "view_submission", "view": {}}))
        else {
            panic!("a view_submission");
        };
        assert_eq!(
            (bare.user_id(), bare.value("reason", "reason_input")),
            ("", None)
        );
    }

    /// Events as the tests and Slack send them: a mention is slack-morphism's `AppMention`;
    /// other and malformed events are kept unread.
    #[test]
    fn events_by_type() {
        let Ok(Event::UrlVerification(v)) =
            parse_event(br#"{"type": "url_verification", "challenge": "abc123", "token": "t"}"#)
        else {
            panic!("a url_verification");
        };
        assert_eq!(v.challenge, "abc123");
        let mention = json!({"type": "event_callback", "event_id": "Ev1",
            "event": {"type": "app_mention", "user": "U01ALICE", "text": "<@UBOT> status",
                      "channel": "C0CHECKOUT", "ts": "1700000000.000200", "thread_ts": "1700000000.000001"}});
        let Ok(Event::EventCallback(callback)) = parse_event(mention.to_string().as_bytes()) else {
            panic!("an event callback");
        };
        assert_eq!(callback.event_id.map(|id| id.0).as_deref(), Some("Ev1"));
        let Some(SlackEventCallbackBody::AppMention(m)) = callback.event else {
            panic!("a mention");
        };
        assert_eq!(
            (m.user.0.as_str(), m.channel.0.as_str()),
            ("U01ALICE", "C0CHECKOUT")
        );
        assert_eq!(m.content.text.as_deref(), Some("<@UBOT> status"));
        assert_eq!(
            m.origin.thread_ts.map(|t| t.0).as_deref(),
            Some("1700000000.000001")
        );
        let no_ts = json!({"type": "event_callback", "event": {"type": "app_mention", "user": "U1", "channel": "C1"}});
        let Ok(Event::EventCallback(callback)) = parse_event(no_ts.to_string().as_bytes()) else {
            panic!("an event callback");
        };
        assert!(matches!(
            callback.event,
            Some(SlackEventCallbackBody::Unknown(_))
        ));
        assert!(matches!(
            parse_event(br#"{"type": "app_rate_limited", "minute_rate_limited": 1}"#),
            Ok(Event::Other)
        ));
        let e = parse_event(b"{").expect_err("not JSON");
        assert!(e.starts_with("malformed event: "), "{e}");
    }
}
