//! Signed Slack requests: slash commands, button presses, and mentions in canary threads. Every
//! request is verified (v0 signature, 5-minute window) before it is parsed; Slack gets its answer
//! at once and the work happens in the background, with the outcome in the thread.

use super::api::SlackApi;
use super::blocks::{CONFIRM_ROLLBACK_ACTION, PROCEED_ACTION, ROLLBACK_ACTION};
use super::modal;
use super::thread_ref;
use crate::Clock;
use crate::auth::{SignatureError, verify_slack};
use crate::chat::ballot::Ballot;
use crate::chat::desk::{Answer, Desk, Place};
use crate::command::{Command, parse};
use crate::config::Config;
use crate::domain::deploy::Notice;
use crate::domain::freeze::FreezeScope;
use crate::domain::{Choice, Deploy};
use crate::engine::{Engine, EngineError};
use crate::http::{AppState, Counters};
use crate::present::chat::said;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use slack_morphism::prelude::{
    SlackCommandEventResponse, SlackMessageContent, SlackMessageResponseType,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod payload;
pub use payload::{
    BlockActions, Event, EventCallback, Interaction, SlashCommand, SubmittedView, ViewSubmission,
    is_ssl_check, parse_event, parse_interaction, parse_slash_command,
};

/// How long a vote waits for Slack to list a user group before the person is asked to try
/// again: with the store's work after it, the answer stays within about 2 s of Slack's 3.
pub const GROUP_LOOKUP_WAIT: Duration = Duration::from_millis(1_500);
/// How long an answer waits for a vote to be stored (a press Slack was told about survives a
/// crash); a slower count goes on after the answer.
pub const VOTE_WAIT: Duration = Duration::from_millis(2_000);
/// How long a press waits for `views.open`: the trigger expires 3 s after the press, and Slack
/// wants the press answered within the same 3 s.
pub const VIEW_OPEN_WAIT: Duration = Duration::from_millis(2_500);

#[derive(Clone)]
pub struct SlackInbound {
    pub engine: Arc<Engine>,
    pub counters: Arc<Counters>,
    pub config: Arc<Config>,
    pub api: Arc<SlackApi>,
    pub clock: Clock,
}

pub fn routes(state: SlackInbound) -> Router<AppState> {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
        .with_state(state)
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// Keeps the reason modal open with `message` beside the reason field.
fn field_error(message: &str) -> Response {
    axum::Json(json!({
        "response_action": "errors",
        "errors": {modal::BLOCK_ID: message},
    }))
    .into_response()
}

/// A slash command's answer, shown only to the person; canarybot's words with outside text in
/// them, escaped here.
fn ephemeral(text: &str) -> Response {
    let content = SlackMessageContent::new().with_text(crate::slack::escape::text(text));
    axum::Json(
        SlackCommandEventResponse::new(content)
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
    .into_response()
}

impl SlackInbound {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let secrets = super::SlackConfig::of(&self.config)
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

    /// Counts a vote (or a rollback confirmation): resolves the person's groups among the
    /// deciders, then runs the engine. `here` is the channel the person pressed or typed in, where
    /// a private answer can reach them.
    async fn vote(&self, here: &str, deploy_id: &str, user: &str, name: &str, ballot: Ballot) {
        let deciders = match self.engine.deploy(deploy_id).await {
            Ok(deploy) => deploy.policy.deciders,
            Err(e) => {
                tracing::warn!(deploy = deploy_id, error = %e, "Slack vote for an unreadable deploy");
                let text = match e {
                    EngineError::UnknownDeploy(_) => format!(
                        "There is no deploy `{}` (any more); your {} was not counted.",
                        deploy_id,
                        ballot.what()
                    ),
                    _ => format!(
                        "I could not read deploy `{}` just now; your {} was not counted. Please try again.",
                        deploy_id,
                        ballot.what()
                    ),
                };
                self.tell_later(here.to_string(), user, text);
                return;
            }
        };
        let groups = match self
            .api
            .groups_of_within(user, &deciders, GROUP_LOOKUP_WAIT)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                // Authority is never assumed, and a vote is never refused because Slack was slow:
                // the person is asked to try again and nothing is recorded.
                tracing::warn!(deploy = deploy_id, error = %e, "cannot read Slack user groups");
                let channel = self
                    .channel_of(deploy_id)
                    .await
                    .unwrap_or_else(|| here.to_string());
                let text = format!(
                    "I could not check your Slack user groups ({e}); your {} was not counted. Please try again.",
                    ballot.what()
                );
                self.tell_later(channel, user, text);
                return;
            }
        };
        let input = ballot.input(self.config.voter(&format!("slack:{user}"), name, groups));
        if let Err(e) = self.engine.apply(deploy_id, input, "slack").await {
            tracing::warn!(deploy = deploy_id, error = %e, "Slack vote not applied");
        }
    }

    /// A private message to `user`, sent without holding up the answer Slack is waiting for.
    /// `text` is canarybot's words with outside text in them: escaped here.
    fn tell_later(&self, channel: String, user: &str, text: String) {
        let (api, user) = (self.api.clone(), user.to_string());
        let text = crate::slack::escape::text(&text);
        tokio::spawn(async move {
            if let Err(e) = api.ephemeral(&channel, &user, &text, None).await {
                tracing::warn!(error = %e, "cannot tell a Slack user privately");
            }
        });
    }

    /// The Slack channel of a deploy's service.
    async fn channel_of(&self, deploy_id: &str) -> Option<String> {
        let deploy = self.engine.deploy(deploy_id).await.ok()?;
        self.config
            .service(&deploy.info.service)?
            .channel("slack")
            .map(str::to_string)
    }

    /// Starts the vote in the background; Slack must hear back within 3 s.
    /// Counts a vote, acknowledging only once it is stored when that is quick: a press Slack
    /// was told about survives a crash. A slow count (Slack's group lookup, a busy store) goes on
    /// after the answer, inside Slack's 3 s limit.
    async fn vote_within_deadline(
        &self,
        here: String,
        deploy_id: String,
        user: String,
        name: String,
        ballot: Ballot,
    ) {
        let me = self.clone();
        let task =
            tokio::spawn(async move { me.vote(&here, &deploy_id, &user, &name, ballot).await });
        let _ = tokio::time::timeout(VOTE_WAIT, task).await;
    }

    /// The deploy, when its agreement asks for a reason with every vote: a press then opens the
    /// modal. A deploy that cannot be read goes the vote's way, which says so.
    async fn asking_reason(&self, deploy_id: &str) -> Option<Deploy> {
        let deploy = self.engine.deploy(deploy_id).await.ok()?;
        deploy.policy.require_reason.then_some(deploy)
    }

    /// Opens the modal asking why, within Slack's 3 s of the press; when it cannot be opened the
    /// person is told privately how else to give the reason, and nothing is counted.
    async fn ask_reason(
        &self,
        press: &BlockActions,
        deploy: &Deploy,
        choice: Choice,
        user: &str,
        here: &str,
    ) {
        let info = &deploy.info;
        let problem = match press.trigger_id.as_deref().filter(|t| !t.is_empty()) {
            None => "the press carried no trigger_id".to_string(),
            Some(trigger) => {
                let view = modal::reason_view(&info.id, choice, &info.service, &info.version);
                match tokio::time::timeout(VIEW_OPEN_WAIT, self.api.open_view(trigger, view)).await
                {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!(
                        "Slack did not answer views.open within {} ms",
                        VIEW_OPEN_WAIT.as_millis()
                    ),
                }
            }
        };
        tracing::warn!(deploy = %info.id, problem = %problem, "cannot open the reason modal");
        let how = said::notice(&Notice::ReasonRequired { choice }, deploy);
        self.tell_later(
            here.to_string(),
            user,
            format!("I could not open the form for your reason ({problem}). {how}"),
        );
    }

    /// A submitted reason modal: the vote counts with its reason, and the modal closes (an empty
    /// 200); an empty reason keeps the modal open with the error beside the field.
    async fn submitted(&self, submission: ViewSubmission) -> Response {
        if submission.view.callback_id.as_deref() != Some(modal::CALLBACK_ID) {
            // Not a modal of canarybot's: closed, nothing done.
            return StatusCode::OK.into_response();
        }
        let user = submission.user_id().to_string();
        let mut limits = crate::limits::FieldCheck::new();
        limits.text("user.id", &user, crate::limits::IDENTITY).text(
            "user.username",
            submission.user_name(),
            crate::limits::IDENTITY,
        );
        if let Err(e) = limits.into_result() {
            return refuse(StatusCode::BAD_REQUEST, e);
        }
        if user.is_empty() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "view_submission payload has no user.id",
            );
        }
        let pending = match modal::Pending::read(
            submission
                .view
                .private_metadata
                .as_deref()
                .unwrap_or_default(),
        ) {
            Ok(p) => p,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
        };
        let reason = submission
            .value(modal::BLOCK_ID, modal::ACTION_ID)
            .unwrap_or_default()
            .trim()
            .to_string();
        if reason.is_empty() {
            return field_error("Write why: a vote here counts only with its reason.");
        }
        if reason.chars().count() > crate::limits::REASON {
            return field_error(&format!(
                "At most {} characters, please.",
                crate::limits::REASON
            ));
        }
        let here = self
            .channel_of(&pending.deploy_id)
            .await
            .unwrap_or_default();
        self.vote_within_deadline(
            here,
            pending.deploy_id,
            user.clone(),
            submission.user_name().to_string(),
            Ballot::Vote {
                choice: pending.choice,
                reason: Some(reason),
            },
        )
        .await;
        // An empty 200 closes the modal; the outcome goes to the thread.
        StatusCode::OK.into_response()
    }

    fn desk(&self) -> Desk {
        Desk {
            engine: self.engine.clone(),
            config: self.config.clone(),
        }
    }

    /// The services whose threads go to this Slack channel.
    fn services_in(&self, channel: &str) -> Vec<String> {
        self.desk().services_in(channel, |s| s.channel("slack"))
    }

    /// Runs a parsed command; returns what to tell the person. `thread_deploy` is the deploy whose
    /// thread the command was typed in, if any.
    async fn run(
        &self,
        command: Command,
        channel: &str,
        thread_deploy: Option<String>,
        user: &str,
        name: &str,
    ) -> String {
        let place = Place {
            services_here: self.services_in(channel),
            thread_deploy,
            mentions: true,
        };
        match self.desk().answer(command, &place).await {
            Answer::Text(text) => text,
            Answer::Vote {
                deploy_id,
                choice,
                reason,
            } => {
                self.vote_within_deadline(
                    channel.to_string(),
                    deploy_id.clone(),
                    user.to_string(),
                    name.to_string(),
                    Ballot::Vote { choice, reason },
                )
                .await;
                format!(
                    "🗳️ Counting your {} vote on `{deploy_id}`; the outcome goes to the canary thread.",
                    choice.as_str()
                )
            }
            Answer::ConfirmRollback { deploy_id } => {
                self.vote_within_deadline(
                    channel.to_string(),
                    deploy_id.clone(),
                    user.to_string(),
                    name.to_string(),
                    Ballot::ConfirmRollback,
                )
                .await;
                format!(
                    "🗳️ Counting your rollback confirmation on `{deploy_id}`; the outcome goes to the canary thread."
                )
            }
            Answer::Drill { service } => self.drill(&service, user, name).await,
            Answer::Freeze {
                scope,
                lasting,
                reason,
            } => {
                let entries = self.desk().freeze_deciders(&scope);
                match self.voter_among(user, name, &entries).await {
                    Ok(voter) => self.desk().freeze(&voter, scope, lasting, reason).await,
                    Err(e) => format!("{e}; nothing was frozen. Please try again."),
                }
            }
            Answer::Unfreeze { scope } => {
                let entries = self.desk().freeze_deciders(&scope);
                match self.voter_among(user, name, &entries).await {
                    Ok(voter) => self.desk().unfreeze(&voter, scope).await,
                    Err(e) => format!("{e}; nothing was changed. Please try again."),
                }
            }
            Answer::GateReview { review, approve } => {
                let entries = self.desk().freeze_deciders(&FreezeScope::All);
                match self.voter_among(user, name, &entries).await {
                    Ok(voter) => self.desk().gate_review(&voter, &review, approve).await,
                    Err(e) => format!("{e}; nothing was decided. Please try again."),
                }
            }
        }
    }

    /// The person, with those of their user groups that `entries` name.
    async fn voter_among(
        &self,
        user: &str,
        name: &str,
        entries: &[String],
    ) -> Result<crate::domain::Voter, String> {
        let groups = self
            .api
            .groups_of_within(user, entries, GROUP_LOOKUP_WAIT)
            .await
            .map_err(|e| format!("I could not check your Slack user groups ({e})"))?;
        Ok(self.config.voter(&format!("slack:{user}"), name, groups))
    }

    /// Starts a drill if the person is one of the service's deciders (user groups included).
    async fn drill(&self, service: &str, user: &str, name: &str) -> String {
        let deciders = self
            .config
            .service(service)
            .map(|s| s.deciders.clone())
            .unwrap_or_default();
        let groups = match self
            .api
            .groups_of_within(user, &deciders, GROUP_LOOKUP_WAIT)
            .await
        {
            Ok(g) => g,
            Err(e) => {
                return format!(
                    "I could not check your Slack user groups ({e}); no drill was started. Please try again."
                );
            }
        };
        let voter = self.config.voter(&format!("slack:{user}"), name, groups);
        self.desk().start_drill(service, &voter, "slack").await
    }
}

async fn commands(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if is_ssl_check(&body) {
        return StatusCode::OK.into_response();
    }
    if let Err(e) = s.authenticate(&headers, &body) {
        return refuse(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let form = match parse_slash_command(&body) {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let user = form.user_id.0.as_str();
    if user.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "user_id: must be the Slack user id (U… or W…) of the person who typed the command",
        );
    }
    // Slack shows the person only a 200's text: an over-long command is answered, not run.
    let mut limits = crate::limits::FieldCheck::new();
    limits
        .text("text", &form.text, crate::limits::COMMAND_TEXT)
        .text(
            "user_name",
            form.user_name.as_deref().unwrap_or(""),
            crate::limits::IDENTITY,
        );
    if let Err(e) = limits.into_result() {
        tracing::warn!(user = %user, "Slack command refused: {e}");
        return ephemeral(&format!("⚠️ Not run: {e}."));
    }
    let names = s.config.service_names();
    let command = parse(&form.command.0, &form.text, &names);
    let name = form.user_name.as_deref().unwrap_or(user);
    let text = s.run(command, &form.channel_id.0, None, user, name).await;
    ephemeral(&text)
}

async fn interactions(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.authenticate(&headers, &body) {
        return refuse(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let press = match parse_interaction(&body) {
        Ok(Interaction::BlockActions(press)) => press,
        Ok(Interaction::ViewSubmission(submission)) => return s.submitted(*submission).await,
        Ok(Interaction::Other) => return StatusCode::OK.into_response(),
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let user = press.user_id().to_string();
    let name = press.user_name().to_string();
    if user.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "interaction payload has no user.id",
        );
    }
    let mut limits = crate::limits::FieldCheck::new();
    limits.text("user.id", &user, crate::limits::IDENTITY);
    for (i, action) in press.actions.iter().enumerate() {
        limits.text(
            &format!("actions[{i}].value"),
            action.value.as_deref().unwrap_or_default(),
            crate::limits::DEPLOY_ID,
        );
    }
    if let Err(e) = limits.into_result() {
        return refuse(StatusCode::BAD_REQUEST, e);
    }
    let here = press.channel_id().to_string();
    for action in &press.actions {
        let choice = match action.action_id.0.as_str() {
            ROLLBACK_ACTION => Choice::Rollback,
            PROCEED_ACTION => Choice::Promote,
            CONFIRM_ROLLBACK_ACTION => {
                // A confirmation needs no reason: the decision it confirms has one.
                if let Some(deploy_id) = action.value.as_deref() {
                    s.vote_within_deadline(
                        here.clone(),
                        deploy_id.to_string(),
                        user.clone(),
                        name.clone(),
                        Ballot::ConfirmRollback,
                    )
                    .await;
                }
                continue;
            }
            _ => continue,
        };
        let Some(deploy_id) = action.value.as_deref() else {
            continue;
        };
        if let Some(deploy) = s.asking_reason(deploy_id).await {
            // The vote counts when the modal comes back with the reason (`view_submission`).
            s.ask_reason(&press, &deploy, choice, &user, &here).await;
            continue;
        }
        s.vote_within_deadline(
            here.clone(),
            deploy_id.to_string(),
            user.clone(),
            name.clone(),
            Ballot::Vote {
                choice,
                reason: None,
            },
        )
        .await;
    }
    // An empty 200 tells Slack the press was received; the outcome goes to the thread.
    StatusCode::OK.into_response()
}

/// `<@U123> rollback p99 doubled` → `rollback p99 doubled`
pub fn strip_mentions(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !(w.starts_with("<@") && w.ends_with('>')))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn events(State(s): State<SlackInbound>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.authenticate(&headers, &body) {
        return refuse(StatusCode::UNAUTHORIZED, e.to_string());
    }
    let callback = match parse_event(&body) {
        Ok(Event::UrlVerification(v)) => {
            return axum::Json(json!({"challenge": v.challenge})).into_response();
        }
        Ok(Event::EventCallback(callback)) => callback,
        Ok(Event::Other) => return StatusCode::OK.into_response(),
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    // Slack redelivers events it thinks were missed (X-Slack-Retry-Num): act once per event id.
    let store = s.engine.store();
    if let Some(event_id) = &callback.event_id {
        match store.delivery("slack-events", &event_id.0).await {
            Ok(Some(_)) => return StatusCode::OK.into_response(),
            Ok(None) => {
                let _ = store
                    .record_delivery("slack-events", &event_id.0, 200, "{}", (s.clock)())
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot check Slack event id"),
        }
    }
    if let Some(mention) = callback.into_mention() {
        let channel = mention.channel.0;
        let user = mention.user.0;
        let text = strip_mentions(mention.content.text.as_deref().unwrap_or_default());
        let thread_ts = mention.origin.thread_ts.map(|ts| ts.0);
        let reply_ts = thread_ts.clone().or(Some(mention.origin.ts.0));
        tokio::spawn(async move {
            let thread_deploy = match &thread_ts {
                Some(ts) => s
                    .engine
                    .store()
                    .deploy_by_thread("slack", &thread_ref(&channel, ts))
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            let names = s.config.service_names();
            let command = parse("", &text, &names);
            let is_vote = matches!(
                command,
                Command::Vote { .. } | Command::ConfirmRollback { .. }
            );
            let answer = s.run(command, &channel, thread_deploy, &user, &user).await;
            // A vote's outcome reaches the thread through the timeline; answer everything else.
            if !is_vote || !answer.starts_with("🗳️") {
                let content =
                    SlackMessageContent::new().with_text(crate::slack::escape::text(&answer));
                if let Err(e) = s.api.post(&channel, content, reply_ts.as_deref()).await {
                    tracing::warn!(error = %e, "cannot answer a Slack mention");
                }
            }
        });
    }
    StatusCode::OK.into_response()
}
