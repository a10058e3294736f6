//! Discord as a `ChatPort`: a root message in the service's channel and a thread started from it.

use super::api::DiscordApi;
use super::messages::{reply, root_edit, root_message};
use super::{parse_thread_ref, thread_ref};
use crate::chat::{ChatError, ChatPort, ThreadTarget};
use crate::domain::ChatMessage;
use crate::domain::render::RootView;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

pub struct DiscordChat {
    pub api: Arc<DiscordApi>,
    /// service → channel id
    pub channels: HashMap<String, String>,
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
    ) -> Result<Option<String>, ChatError> {
        let Some(channel) = self.channels.get(&target.service) else {
            return Ok(None);
        };
        let message = self.api.send(channel, &root_message(root)).await?;
        // A failure here retries the whole root: Discord has no idempotency key, so at worst a
        // second root appears; a thread without a root cannot.
        let thread = self
            .api
            .start_thread(channel, &message, &root.headline())
            .await?;
        Ok(Some(thread_ref(channel, &message, &thread)))
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
    ) -> Result<(), ChatError> {
        let (_, _, thread_channel) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        self.api
            .send(thread_channel, &reply(&target.deploy_id, message))
            .await
            .map(|_| ())
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
}
