//! Slack over HTTP: `/slack/commands`, `/slack/interactions`, `/slack/events`. Each request is
//! verified (v0 signature under any of `signing_secrets`, 5-minute window) before it is parsed,
//! then handed to the same handlers as Socket Mode's envelopes.

use super::answer::SlackAnswer;
use super::{SlackInbound, is_ssl_check, parse_event, parse_interaction, parse_slash_command};
use crate::auth::{SignatureError, verify_slack};
use crate::http::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::sync::atomic::Ordering;

pub fn routes(state: SlackInbound) -> Router<AppState> {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
        .with_state(state)
}

impl SlackInbound {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let secrets = crate::slack::SlackConfig::of(&self.config)
            .map(|s| s.signing_secrets.clone())
            .unwrap_or_default();
        verify_slack(
            header("x-slack-request-timestamp"),
            header("x-slack-signature"),
            &secrets,
            body,
            (self.clock)() / 1000,
        )
        .inspect_err(|e| {
            self.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "Slack request refused")
        })
    }
}

fn unauthorized(e: SignatureError) -> Response {
    SlackAnswer::refused(StatusCode::UNAUTHORIZED, e.to_string()).into_response()
}

async fn commands(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if is_ssl_check(&body) {
        return StatusCode::OK.into_response();
    }
    if let Err(e) = s.authenticate(&headers, &body) {
        return unauthorized(e);
    }
    match parse_slash_command(&body) {
        Ok(form) => s.command(form).await,
        Err(e) => SlackAnswer::refused(StatusCode::BAD_REQUEST, e),
    }
    .into_response()
}

async fn interactions(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.authenticate(&headers, &body) {
        return unauthorized(e);
    }
    match parse_interaction(&body) {
        Ok(interaction) => s.interaction(interaction).await,
        Err(e) => SlackAnswer::refused(StatusCode::BAD_REQUEST, e),
    }
    .into_response()
}

async fn events(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.authenticate(&headers, &body) {
        return unauthorized(e);
    }
    match parse_event(&body) {
        Ok(event) => s.event(event).await,
        Err(e) => SlackAnswer::refused(StatusCode::BAD_REQUEST, e),
    }
    .into_response()
}
