//! Slack as a `ChatPort`: one thread per deploy in the service's channel.

use super::api::SlackApi;
use super::blocks::{reply_content, root_content};
use super::{parse_thread_ref, thread_ref};
use crate::chat::{ChatError, ChatPort, ThreadTarget};
use crate::domain::ChatMessage;
use crate::domain::render::RootView;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

pub struct SlackChat {
    pub api: Arc<SlackApi>,
    /// service → channel id
    pub channels: HashMap<String, String>,
}

fn bad_thread(thread: &str) -> ChatError {
    ChatError::Permanent(format!("not a Slack thread reference: `{thread}`"))
}

#[async_trait]
impl ChatPort for SlackChat {
    fn platform(&self) -> &str {
        "slack"
    }

    async fn post_root(
        &self,
        target: &ThreadTarget,
        root: &RootView,
    ) -> Result<Option<String>, ChatError> {
        let Some(channel) = self.channels.get(&target.service) else {
            return Ok(None); // no slack_channel: no Slack thread for this service
        };
        let ts = self.api.post(channel, root_content(root), None).await?;
        Ok(Some(thread_ref(channel, &ts)))
    }

    async fn update_root(
        &self,
        _target: &ThreadTarget,
        thread: &str,
        root: &RootView,
    ) -> Result<(), ChatError> {
        let (channel, ts) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        self.api.update(channel, ts, root_content(root)).await
    }

    async fn reply(
        &self,
        target: &ThreadTarget,
        thread: &str,
        message: &ChatMessage,
    ) -> Result<(), ChatError> {
        let (channel, ts) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        self.api
            .post(channel, reply_content(&target.deploy_id, message), Some(ts))
            .await
            .map(|_| ())
    }

    async fn notice(
        &self,
        target: &ThreadTarget,
        thread: Option<&str>,
        to: &str,
        text: &str,
    ) -> Result<(), ChatError> {
        let Some(user) = to.strip_prefix("slack:") else {
            return Ok(()); // someone on another platform
        };
        let (channel, ts) = match thread.and_then(parse_thread_ref) {
            Some((c, t)) => (c.to_string(), Some(t)),
            None => match self.channels.get(&target.service) {
                Some(c) => (c.clone(), None),
                None => return Ok(()),
            },
        };
        self.api.ephemeral(&channel, user, text, ts).await
    }
}
