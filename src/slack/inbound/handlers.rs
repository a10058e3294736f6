//! The one code path behind both transports: a slash command, an interaction or an event, parsed
//! (HTTP after its signature check, Socket Mode from the envelope's payload), acted on, and
//! answered with a [`SlackAnswer`] the transport turns into a response or an acknowledgement.

use super::answer::SlackAnswer;
use super::{
    BlockActions, Event, Interaction, SlackInbound, SlashCommand, ViewSubmission, strip_mentions,
};
use crate::chat::ballot::Ballot;
use crate::command::{Command, parse};
use crate::domain::Choice;
use crate::slack::blocks::{CONFIRM_ROLLBACK_ACTION, PROCEED_ACTION, ROLLBACK_ACTION};
use crate::slack::{modal, thread_ref};
use axum::http::StatusCode;
use serde_json::json;
use slack_morphism::prelude::SlackMessageContent;

/// The delivery kind under which Events API event ids are recorded, whichever transport brought
/// the event: an event seen over HTTP and over Socket Mode (during a migration) acts once.
pub const EVENTS_DELIVERY: &str = "slack-events";

impl SlackInbound {
    /// A slash command: run, and answered privately.
    pub(crate) async fn command(&self, form: SlashCommand) -> SlackAnswer {
        let user = form.user_id.0.as_str();
        if user.trim().is_empty() {
            return SlackAnswer::refused(
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
            return SlackAnswer::ephemeral(&format!("⚠️ Not run: {e}."));
        }
        let names = self.config.service_names();
        let command = parse(&form.command.0, &form.text, &names);
        let name = form.user_name.as_deref().unwrap_or(user);
        let text = self
            .run(command, &form.channel_id.0, None, user, name)
            .await;
        SlackAnswer::ephemeral(&text)
    }

    /// An interaction: a press of a thread button, or a submitted reason modal.
    pub(crate) async fn interaction(&self, interaction: Interaction) -> SlackAnswer {
        match interaction {
            Interaction::BlockActions(press) => self.pressed(*press).await,
            Interaction::ViewSubmission(submission) => self.submitted(*submission).await,
            Interaction::Other => SlackAnswer::Received,
        }
    }

    /// A press of a thread button: counted (stored before the answer when that is quick), or the
    /// reason modal opened. An empty answer tells Slack the press was received; the outcome goes
    /// to the thread.
    async fn pressed(&self, press: BlockActions) -> SlackAnswer {
        let user = press.user_id().to_string();
        let name = press.user_name().to_string();
        if user.is_empty() {
            return SlackAnswer::refused(
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
            return SlackAnswer::refused(StatusCode::BAD_REQUEST, e);
        }
        let here = press.channel_id().to_string();
        for action in &press.actions {
            let choice = match action.action_id.0.as_str() {
                ROLLBACK_ACTION => Choice::Rollback,
                PROCEED_ACTION => Choice::Promote,
                CONFIRM_ROLLBACK_ACTION => {
                    // A confirmation needs no reason: the decision it confirms has one.
                    if let Some(deploy_id) = action.value.as_deref() {
                        self.vote_within_deadline(
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
            if let Some(deploy) = self.asking_reason(deploy_id).await {
                // The vote counts when the modal comes back with the reason (`view_submission`).
                self.ask_reason(&press, &deploy, choice, &user, &here).await;
                continue;
            }
            self.vote_within_deadline(
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
        SlackAnswer::Received
    }

    /// A submitted reason modal: the vote counts with its reason, and the modal closes (an empty
    /// answer); an empty reason keeps the modal open with the error beside the field.
    async fn submitted(&self, submission: ViewSubmission) -> SlackAnswer {
        if submission.view.callback_id.as_deref() != Some(modal::CALLBACK_ID) {
            // Not a modal of canarybot's: closed, nothing done.
            return SlackAnswer::Received;
        }
        let user = submission.user_id().to_string();
        let mut limits = crate::limits::FieldCheck::new();
        limits.text("user.id", &user, crate::limits::IDENTITY).text(
            "user.username",
            submission.user_name(),
            crate::limits::IDENTITY,
        );
        if let Err(e) = limits.into_result() {
            return SlackAnswer::refused(StatusCode::BAD_REQUEST, e);
        }
        if user.is_empty() {
            return SlackAnswer::refused(
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
            Err(e) => return SlackAnswer::refused(StatusCode::BAD_REQUEST, e),
        };
        let reason = submission
            .value(modal::BLOCK_ID, modal::ACTION_ID)
            .unwrap_or_default()
            .trim()
            .to_string();
        if reason.is_empty() {
            return SlackAnswer::field_error("Write why: a vote here counts only with its reason.");
        }
        if reason.chars().count() > crate::limits::REASON {
            return SlackAnswer::field_error(&format!(
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
        // An empty answer closes the modal; the outcome goes to the thread.
        SlackAnswer::Received
    }

    /// An Events API body: a mention is answered in its thread, a 📌 on a message in a canary
    /// thread adds it to the timeline (`reactions`), both in the background; Slack hears back
    /// at once. Slack redelivers events it thinks were missed (`X-Slack-Retry-Num`, or an
    /// envelope's `retry_attempt`): each event id acts once.
    pub(crate) async fn event(&self, event: Event) -> SlackAnswer {
        let callback = match event {
            Event::UrlVerification(v) => {
                return SlackAnswer::Body(json!({"challenge": v.challenge}));
            }
            Event::EventCallback(callback) => callback,
            Event::Other => return SlackAnswer::Received,
        };
        let store = self.engine.store();
        if let Some(event_id) = &callback.event_id {
            match store.delivery(EVENTS_DELIVERY, &event_id.0).await {
                Ok(Some(_)) => return SlackAnswer::Received,
                Ok(None) => {
                    let _ = store
                        .record_delivery(EVENTS_DELIVERY, &event_id.0, 200, "{}", (self.clock)())
                        .await;
                }
                Err(e) => tracing::warn!(error = %e, "cannot check Slack event id"),
            }
        }
        if let Some(reaction) = super::reactions::Reaction::of(&callback) {
            self.react(reaction);
            return SlackAnswer::Received;
        }
        if let Some(mention) = callback.into_mention() {
            let channel = mention.channel.0;
            let user = mention.user.0;
            let text = strip_mentions(mention.content.text.as_deref().unwrap_or_default());
            let thread_ts = mention.origin.thread_ts.map(|ts| ts.0);
            let reply_ts = thread_ts.clone().or(Some(mention.origin.ts.0));
            let s = self.clone();
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
        SlackAnswer::Received
    }
}
