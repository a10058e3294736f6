//! What a Slack delivery is answered with, whichever way it came: over HTTP the response's status
//! and body, over Socket Mode the payload of the envelope's acknowledgement. The handlers return
//! one of these and know nothing of the transport.

use crate::slack::modal;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use slack_morphism::prelude::{
    SlackCommandEventResponse, SlackMessageContent, SlackMessageResponseType,
};

#[derive(Debug, Clone, PartialEq)]
pub enum SlackAnswer {
    /// Received, nothing to say: an empty 200, an acknowledgement without payload.
    Received,
    /// What Slack shows or acts on (a command's private reply, a modal's field errors, a
    /// challenge): a 200 with this body, the acknowledgement's payload.
    Body(Value),
    /// Refused, with what is wrong. Over Socket Mode there is no status to answer with: the
    /// envelope is acknowledged without payload (else Slack would only redeliver it) and the
    /// refusal is logged.
    Refused(StatusCode, String),
}

impl SlackAnswer {
    pub fn refused(status: StatusCode, message: impl Into<String>) -> SlackAnswer {
        SlackAnswer::Refused(status, message.into())
    }

    /// A slash command's answer, shown only to the person; canarybot's words with outside text
    /// in them, escaped here.
    pub fn ephemeral(text: &str) -> SlackAnswer {
        let escaped = crate::slack::escape::text(text);
        let reply =
            SlackCommandEventResponse::new(SlackMessageContent::new().with_text(escaped.clone()))
                .with_response_type(SlackMessageResponseType::Ephemeral);
        SlackAnswer::Body(
            serde_json::to_value(reply)
                .unwrap_or_else(|_| json!({"response_type": "ephemeral", "text": escaped})),
        )
    }

    /// Keeps the reason modal open with `message` beside the reason field.
    pub fn field_error(message: &str) -> SlackAnswer {
        SlackAnswer::Body(json!({
            "response_action": "errors",
            "errors": {modal::BLOCK_ID: message},
        }))
    }

    /// The acknowledgement's payload over Socket Mode: the body, if there is one.
    pub fn payload(self) -> Option<Value> {
        match self {
            SlackAnswer::Body(body) => Some(body),
            SlackAnswer::Received => None,
            SlackAnswer::Refused(status, message) => {
                tracing::warn!(status = status.as_u16(), error = %message, "Slack envelope refused");
                None
            }
        }
    }
}

impl IntoResponse for SlackAnswer {
    fn into_response(self) -> Response {
        match self {
            SlackAnswer::Received => StatusCode::OK.into_response(),
            SlackAnswer::Body(body) => axum::Json(body).into_response(),
            SlackAnswer::Refused(status, message) => {
                (status, axum::Json(json!({"error": message}))).into_response()
            }
        }
    }
}
