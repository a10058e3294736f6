//! What Slack sends canarybot — slash commands, button presses, reason modals and mentions in
//! canary threads — whichever way it comes: signed HTTP requests (`routes`) or Socket Mode
//! envelopes (`crate::slack::socket`). Both parse into the same types (`payload`) and feed the same
//! handlers (`handlers`), whose transport-neutral answer (`answer`) each turns into its own reply.
//! Slack gets its answer at once and slow work goes on in the background, with the outcome in the
//! thread. This file holds what the handlers share: votes, commands, the reason modal.

use super::api::SlackApi;
use super::modal;
use crate::Clock;
use crate::chat::ballot::Ballot;
use crate::chat::desk::{Answer, Desk, Place};
use crate::command::Command;
use crate::config::Config;
use crate::domain::deploy::Notice;
use crate::domain::freeze::FreezeScope;
use crate::domain::{Choice, Deploy};
use crate::engine::{Engine, EngineError};
use crate::http::Counters;
use crate::present::chat::said;
use std::sync::Arc;
use std::time::Duration;

mod answer;
mod handlers;
mod payload;
mod reactions;
mod routes;
pub use answer::SlackAnswer;
pub use handlers::EVENTS_DELIVERY;
pub use payload::{
    BlockActions, Event, EventCallback, Interaction, SlashCommand, SubmittedView, ViewSubmission,
    event_of, interaction_of, is_ssl_check, parse_event, parse_interaction, parse_slash_command,
    slash_command_of,
};
pub use routes::routes;

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
    /// Where `/canary baseline` reads history, when a metric source is configured.
    pub history: Option<Arc<dyn crate::chat::History>>,
}

impl SlackInbound {
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

    fn desk(&self) -> Desk {
        Desk {
            engine: self.engine.clone(),
            config: self.config.clone(),
            history: self.history.clone(),
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
            Answer::Note { deploy_id, text } => {
                let author = self.person(user, name);
                self.desk().note(&deploy_id, author, &text, "slack").await
            }
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

/// `<@U123> rollback p99 doubled` → `rollback p99 doubled`
pub fn strip_mentions(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !(w.starts_with("<@") && w.ends_with('>')))
        .collect::<Vec<_>>()
        .join(" ")
}
