//! Discord's interactions: PING, application commands, button presses and modals, answered by
//! [`DiscordInbound::answer`] whichever way they came — `POST /discord/interactions`
//! (Ed25519-signed; Discord probes with bad signatures) or the Gateway (`super::gateway`). Votes
//! carry the member's roles, so they are counted while Discord waits, and the person gets the
//! outcome privately.

use super::messages::{CONFIRM_ROLLBACK, PROCEED, ROLLBACK};
use super::modal;
use crate::Clock;
use crate::chat::ballot::Ballot;
use crate::chat::desk::{Answer, Desk, Place};
use crate::command::{Command, help_for, parse};
use crate::config::Config;
use crate::domain::{Choice, Deploy, EventData};
use crate::engine::Engine;
use crate::http::Counters;
use crate::present::{RenderedEffect, chat::RenderedChat};
use serde_json::json;
use serenity::builder::{
    CreateAllowedMentions, CreateInteractionResponse, CreateInteractionResponseMessage,
};
use serenity::model::application::InteractionType;
use std::sync::Arc;
use std::time::Duration;

mod endpoint;
mod notes;
mod payload;
pub use endpoint::{REPLAY_WINDOW_S, check_request, routes, verifier};
pub use payload::{
    CommandData, CommandOption, Interaction, Member, MessageRef, OptionValue, parse_interaction,
};

/// What answers interactions, over either transport.
#[derive(Clone)]
pub struct DiscordInbound {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
    pub clock: Clock,
    /// Where `/canary baseline` reads history, when a metric source is configured.
    pub history: Option<Arc<dyn crate::chat::History>>,
}

/// The answer to an interaction: the interaction response Discord expects (the HTTP reply's
/// body, the Gateway's callback body).
#[derive(Debug)]
pub struct Answered {
    pub response: serde_json::Value,
    /// The interaction was answered before (a redelivery): `response` is the first answer, and
    /// nothing was acted on again.
    pub repeat: bool,
}

/// A private answer; the shared texts mark bold Slack's way (`*x*`), Discord wants `**x**`.
/// Outside text in it is escaped, and it may ping nobody.
fn private(text: impl Into<String>) -> CreateInteractionResponse {
    let content: String = crate::discord::messages::words(&text.into())
        .chars()
        .take(2000)
        .collect();
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(content)
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new()),
    )
}

impl DiscordInbound {
    fn desk(&self) -> Desk {
        Desk {
            engine: self.engine.clone(),
            config: self.config.clone(),
            history: self.history.clone(),
        }
    }

    fn services_in(&self, channel: &str) -> Vec<String> {
        self.desk().services_in(channel, |s| s.channel("discord"))
    }

    /// Counts a vote (or a rollback confirmation) and says what came of it, privately.
    async fn vote(
        &self,
        deploy_id: &str,
        user: &str,
        name: &str,
        roles: Vec<String>,
        ballot: Ballot,
    ) -> String {
        let what = ballot.what();
        let input = ballot.input(self.config.voter(&format!("discord:{user}"), name, roles));
        let applied = match self.engine.apply(deploy_id, input, "discord").await {
            Ok(a) => a,
            Err(e) => return format!("Your {what} was not counted: {e}"),
        };
        let notice = applied.outcome.effects.iter().find_map(|e| match e {
            RenderedEffect::Chat(RenderedChat::Notice { text, .. }) => Some(text.clone()),
            _ => None,
        });
        for e in &applied.outcome.events {
            if let EventData::RollbackConfirmed { .. } = &e.data {
                return format!(
                    "⏪ Confirmed: canarybot calls the deploy system to roll back `{deploy_id}`."
                );
            }
            if let EventData::VoteCast {
                tally,
                quorum,
                choice,
                ..
            } = &e.data
            {
                let decided = applied
                    .outcome
                    .events
                    .iter()
                    .any(|e| matches!(e.data, EventData::Decision { .. }));
                return format!(
                    "🗳️ Counted: {} on `{deploy_id}` ({tally}/{quorum}).{}",
                    choice.as_str(),
                    if decided { " That decides it." } else { "" }
                );
            }
        }
        notice.unwrap_or_else(|| format!("Your {what} changed nothing."))
    }

    /// Runs a command; returns the private answer.
    async fn run(&self, command: Command, channel: &str, member: &Member) -> String {
        let thread_deploy = self
            .engine
            .store()
            .deploy_by_thread_end("discord", channel)
            .await
            .ok()
            .flatten();
        let place = Place {
            services_here: self.services_in(channel),
            thread_deploy,
            mentions: false,
        };
        match self.desk().answer(command, &place).await {
            Answer::Text(text) => text,
            Answer::Vote {
                deploy_id,
                choice,
                reason,
            } => {
                self.vote_within_deadline(deploy_id, member, Ballot::Vote { choice, reason })
                    .await
            }
            Answer::ConfirmRollback { deploy_id } => {
                self.vote_within_deadline(deploy_id, member, Ballot::ConfirmRollback)
                    .await
            }
            Answer::Note { deploy_id, text } => {
                let author = self.person(&member.id, &member.name);
                self.desk().note(&deploy_id, author, &text, "discord").await
            }
            Answer::Drill { service } => {
                let voter = self.voter(member);
                self.desk().start_drill(&service, &voter, "discord").await
            }
            Answer::Freeze {
                scope,
                lasting,
                reason,
            } => {
                let voter = self.voter(member);
                self.desk().freeze(&voter, scope, lasting, reason).await
            }
            Answer::Unfreeze { scope } => {
                let voter = self.voter(member);
                self.desk().unfreeze(&voter, scope).await
            }
            Answer::GateReview { review, approve } => {
                let voter = self.voter(member);
                self.desk().gate_review(&voter, &review, approve).await
            }
        }
    }

    /// The person as the configuration knows them, roles included.
    fn voter(&self, member: &Member) -> crate::domain::Voter {
        self.config.voter(
            &format!("discord:{}", member.id),
            &member.name,
            member.roles.clone(),
        )
    }

    /// Discord wants an answer within 3 s: count the vote if that is quick, else answer that it
    /// is being counted and let it finish.
    async fn vote_within_deadline(
        &self,
        deploy_id: String,
        member: &Member,
        ballot: Ballot,
    ) -> String {
        let me = self.clone();
        let m = member.clone();
        let id = deploy_id.clone();
        let what = ballot.what();
        let task = tokio::spawn(async move { me.vote(&id, &m.id, &m.name, m.roles, ballot).await });
        match tokio::time::timeout(Duration::from_millis(2500), task).await {
            Ok(Ok(answer)) => answer,
            _ => format!(
                "🗳️ Counting your {what} on `{deploy_id}`; the outcome goes to the canary thread."
            ),
        }
    }
}

impl DiscordInbound {
    /// The deploy a button or modal names: its `custom_id`'s id, else (when the id did not fit)
    /// the deploy whose thread root the button is on.
    async fn deploy_named(
        &self,
        from_custom_id: &str,
        interaction: &Interaction,
    ) -> Option<String> {
        if !from_custom_id.is_empty() {
            return Some(from_custom_id.to_string());
        }
        let message = interaction.message.as_ref()?.id.to_string();
        self.engine
            .store()
            .deploy_by_thread_middle("discord", &message)
            .await
            .ok()
            .flatten()
    }

    /// The deploy, when its agreement asks for a reason with every vote: a press then opens the
    /// modal. A deploy that cannot be read goes the vote's way, which says so.
    async fn asking_reason(&self, deploy_id: &str) -> Option<Deploy> {
        let deploy = self.engine.deploy(deploy_id).await.ok()?;
        deploy.policy.require_reason.then_some(deploy)
    }
}

/// A button's `custom_id` (`action:deploy-id`): the vote or confirmation it stands for, if it is
/// one of ours, and the deploy id (empty when it did not fit in the button).
pub fn button_of(custom_id: &str) -> (Option<Ballot>, &str) {
    let (action, deploy) = custom_id.split_once(':').unwrap_or((custom_id, ""));
    let vote = |choice| {
        Some(Ballot::Vote {
            choice,
            reason: None,
        })
    };
    let ballot = match action {
        ROLLBACK => vote(Choice::Rollback),
        PROCEED => vote(Choice::Promote),
        CONFIRM_ROLLBACK => Some(Ballot::ConfirmRollback),
        _ => None,
    };
    (ballot, deploy)
}

impl DiscordInbound {
    /// Answers an interaction (its JSON, as Discord sends it over either transport), acting on
    /// it once: a redelivery gets the first answer back. The error names what is wrong with
    /// the interaction.
    pub async fn answer(&self, body: &[u8]) -> Result<Answered, String> {
        let s = self;
        let interaction = parse_interaction(body)?;
        if interaction.kind == Some(InteractionType::Ping) {
            // Not serenity's `CreateInteractionResponse::Pong`, which adds `"data": null`: Discord
            // documents the answer to a PING as exactly `{"type": 1}`.
            return Ok(Answered {
                response: json!({"type": 1}),
                repeat: false,
            });
        }
        // Discord may deliver an interaction twice (over HTTP, or again after a Gateway RESUME):
        // answer the same, act once.
        let store = s.engine.store();
        let interaction_id = interaction.id.clone();
        if let Some(id) = &interaction_id
            && let Ok(Some((_, stored))) = store.delivery("discord-interactions", id).await
        {
            return Ok(Answered {
                response: serde_json::from_str(&stored).unwrap_or(serde_json::Value::Null),
                repeat: true,
            });
        }
        let member = interaction.member().ok_or("interaction has no user")?;
        let channel = interaction.channel_id();
        let answer = match interaction.kind {
            Some(InteractionType::Command)
                if let Some(target) = notes::target_message(&interaction)? =>
            {
                private(s.add_to_timeline(target, &channel, &member).await)
            }
            Some(InteractionType::Command) => {
                let data = interaction.command()?;
                // The options read as Slack's words do: a `service` naming a configured service
                // (any case) is the service, any other value starts the reason.
                let names = s.config.service_names();
                let (name, text) = data.words();
                let mut limits = crate::limits::FieldCheck::new();
                limits.text("options", &text, crate::limits::COMMAND_TEXT);
                match limits.into_result() {
                    // Discord shows the person only a 200's answer: said, not run.
                    Err(e) => private(format!("⚠️ Not run: {e}.")),
                    Ok(()) => private(s.run(parse(&name, &text, &names), &channel, &member).await),
                }
            }
            Some(InteractionType::Component) => {
                let data = interaction.component()?;
                let (ballot, deploy) = button_of(&data.custom_id);
                let deploy = s.deploy_named(deploy, &interaction).await;
                match (ballot, deploy) {
                    (Some(Ballot::Vote { choice, .. }), Some(id)) => {
                        match s.asking_reason(&id).await {
                            // The vote counts when the modal comes back with the reason
                            // (MODAL_SUBMIT).
                            Some(d) => {
                                modal::ask_reason(&id, choice, &d.info.service, &d.info.version)
                            }
                            None => private(
                                s.vote_within_deadline(
                                    id,
                                    &member,
                                    Ballot::Vote {
                                        choice,
                                        reason: None,
                                    },
                                )
                                .await,
                            ),
                        }
                    }
                    // A confirmation needs no reason: the decision it confirms has one.
                    (Some(Ballot::ConfirmRollback), Some(id)) => private(
                        s.vote_within_deadline(id, &member, Ballot::ConfirmRollback)
                            .await,
                    ),
                    _ => private("That button is not one of canarybot's."),
                }
            }
            Some(InteractionType::Modal) => {
                let data = interaction.modal()?;
                match modal::read_custom_id(&data.custom_id) {
                    None => private("That form is not one of canarybot's."),
                    Some((choice, deploy)) => {
                        let reason = modal::reason(&data);
                        s.modal_vote(choice, deploy, reason, &interaction, &member)
                            .await
                    }
                }
            }
            _ => private(help_for(None, false)),
        };
        let response = serde_json::to_value(&answer)
            .map_err(|e| format!("cannot write the answer to the interaction: {e}"))?;
        if let Some(id) = &interaction_id {
            let _ = store
                .record_delivery(
                    "discord-interactions",
                    id,
                    200,
                    &response.to_string(),
                    (s.clock)(),
                )
                .await;
        }
        Ok(Answered {
            response,
            repeat: false,
        })
    }

    /// A vote with its reason, from the modal: counted when the reason is there and fits.
    async fn modal_vote(
        &self,
        choice: Choice,
        deploy: &str,
        reason: String,
        interaction: &Interaction,
        member: &Member,
    ) -> CreateInteractionResponse {
        match self.deploy_named(deploy, interaction).await {
            None => private("That form no longer names a deploy; your vote was not counted."),
            Some(_) if reason.is_empty() => private(format!(
                "Your {} vote was not counted: write why in the form (press the button again).",
                choice.as_str()
            )),
            Some(_) if reason.chars().count() > crate::limits::REASON => private(format!(
                "Your {} vote was not counted: the reason is longer than {} characters.",
                choice.as_str(),
                crate::limits::REASON
            )),
            Some(id) => private(
                self.vote_within_deadline(
                    id,
                    member,
                    Ballot::Vote {
                        choice,
                        reason: Some(reason),
                    },
                )
                .await,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private answer as Discord receives it: a message only the person sees, pinging nobody,
    /// bold made Discord's way, outside text escaped, cut at 2,000 characters.
    #[test]
    fn private_answers_ping_nobody() {
        let answer = serde_json::to_value(private("*Counted* for <@123> @everyone")).expect("json");
        assert_eq!(answer["type"], 4);
        let data = &answer["data"];
        assert_eq!(data["flags"], 64);
        assert_eq!(data["allowed_mentions"]["parse"], json!([]));
        assert_eq!(data["allowed_mentions"]["users"], json!([]));
        assert_eq!(data["allowed_mentions"]["roles"], json!([]));
        let content = data["content"].as_str().expect("content");
        assert!(content.starts_with("**Counted**"), "{content}");
        assert!(
            !content.contains("<@123>") && !content.contains("@everyone"),
            "{content}"
        );
        let long = serde_json::to_value(private("x".repeat(2100))).expect("json");
        assert_eq!(
            long["data"]["content"].as_str().map(|c| c.chars().count()),
            Some(2000)
        );
    }

    /// `custom_id`s the thread's buttons carry read back as the vote and deploy they stand for.
    #[test]
    fn button_custom_ids() {
        let id = super::super::messages::custom_id(ROLLBACK, "checkout:production:1.2.3");
        let vote = |choice| {
            Some(Ballot::Vote {
                choice,
                reason: None,
            })
        };
        assert_eq!(
            button_of(&id),
            (vote(Choice::Rollback), "checkout:production:1.2.3")
        );
        assert_eq!(button_of(PROCEED), (vote(Choice::Promote), ""));
        let confirm = super::super::messages::custom_id(CONFIRM_ROLLBACK, "checkout:1.2.3");
        assert_eq!(
            button_of(&confirm),
            (Some(Ballot::ConfirmRollback), "checkout:1.2.3")
        );
        assert_eq!(button_of("other:x"), (None, "x"));
    }
}
