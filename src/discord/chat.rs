//! Discord as a `ChatPort`: a root message in the service's channel and a thread started from it.

use super::api::DiscordApi;
use super::messages::{reply, root_edit, root_message};
use super::{parse_thread_ref, thread_ref};
use crate::chat::{Attempt, ChatError, ChatImage, ChatPort, Opened, ThreadTarget};
use crate::present::chat::ChatMessage;
use crate::present::chat::RootView;
use async_trait::async_trait;
use serenity::builder::CreateMessage;
use serenity::model::channel::Nonce;
use std::collections::HashMap;
use std::sync::Arc;

pub struct DiscordChat {
    pub api: Arc<DiscordApi>,
    /// service → channel id
    pub channels: HashMap<String, String>,
}

/// Marks a message with the outbox item's key as its nonce, which Discord enforces: a second
/// create with the same nonce (within a few minutes) returns the first message.
fn once(message: CreateMessage, attempt: &Attempt) -> CreateMessage {
    // Discord nonces are at most 25 characters.
    let nonce: String = attempt.key.chars().take(25).collect();
    message.nonce(Nonce::String(nonce)).enforce_nonce(true)
}

fn bad_thread(thread: &str) -> ChatError {
    ChatError::Permanent(format!("not a Discord thread reference: `{thread}`"))
}

#[async_trait]
impl ChatPort for DiscordChat {
    fn platform(&self) -> &str {
        "discord"
    }

    async fn post_root(
        &self,
        target: &ThreadTarget,
        root: &RootView,
        attempt: &Attempt,
    ) -> Result<Option<Opened>, ChatError> {
        let Some(channel) = self.channels.get(&target.service) else {
            return Ok(None);
        };
        // With `enforce_nonce`, Discord answers a retry with the message an earlier try created,
        // and starting its thread again answers "already has a thread" (whose id is the
        // message's): a crash anywhere in here leaves one root and one thread.
        let message = self
            .api
            .send(channel, &once(root_message(root), attempt))
            .await?;
        let thread = self
            .api
            .start_thread(channel, &message, &root.headline())
            .await?;
        Ok(Some(Opened {
            thread: thread_ref(channel, &message, &thread),
            message,
        }))
    }

    async fn update_root(
        &self,
        _target: &ThreadTarget,
        thread: &str,
        root: &RootView,
    ) -> Result<(), ChatError> {
        let (channel, message, _) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        self.api.edit(channel, message, &root_edit(root)).await
    }

    async fn reply(
        &self,
        target: &ThreadTarget,
        thread: &str,
        message: &ChatMessage,
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        let (_, _, thread_channel) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        // A retry's nonce makes Discord answer with the earlier try's message: its id.
        self.api
            .send(
                thread_channel,
                &once(reply(&target.deploy_id, message), attempt),
            )
            .await
            .map(Some)
    }

    /// The chart as the attachment of a message in the thread, shown by its embed
    /// (`attachment://<filename>`), with the alt text as the attachment's description. The
    /// nonce makes a retry answer with the earlier try's message instead of a second one.
    async fn post_image(
        &self,
        _target: &ThreadTarget,
        thread: &str,
        image: &ChatImage,
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        let (_, _, thread_channel) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        let nonce: String = attempt.key.chars().take(25).collect();
        let title: String = super::escape::text(&image.title)
            .chars()
            .take(256)
            .collect();
        let alt: String = image.alt_text.chars().take(1024).collect();
        let payload = serde_json::json!({
            "embeds": [{
                "title": title,
                "image": { "url": format!("attachment://{}", image.filename) },
            }],
            "attachments": [{ "id": 0, "filename": image.filename, "description": alt }],
            "allowed_mentions": { "parse": [] },
            "nonce": nonce,
            "enforce_nonce": true,
        });
        self.api
            .send_png(thread_channel, &payload, &image.filename, &image.png)
            .await
            .map(Some)
    }

    /// Discord has no private message in a channel outside an interaction; people who vote by
    /// button or command get their private answer in the interaction response instead.
    async fn notice(
        &self,
        _: &ThreadTarget,
        _: Option<&str>,
        _: &str,
        _: &str,
    ) -> Result<(), ChatError> {
        Ok(())
    }

    /// Opens (or finds: Discord answers with the existing one) the DM channel with the person and
    /// posts there, once per outbox item (the nonce). Roles and other platforms' people are
    /// skipped.
    async fn direct(
        &self,
        target: &ThreadTarget,
        to: &str,
        message: &ChatMessage,
        attempt: &Attempt,
    ) -> Result<(), ChatError> {
        let Some(user) = to.strip_prefix("discord:") else {
            return Ok(());
        };
        let channel = self.api.dm_channel(user).await?;
        self.api
            .send(&channel, &once(reply(&target.deploy_id, message), attempt))
            .await
            .map(|_| ())
    }
}
