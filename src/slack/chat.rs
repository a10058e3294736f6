//! Slack as a `ChatPort`: one thread per deploy in the service's channel.

use super::api::{SlackApi, metadata};
use super::blocks::{reply_content, root_content};
use super::{parse_thread_ref, thread_ref};
use crate::chat::{Attempt, ChatError, ChatImage, ChatPort, Opened, ThreadTarget};
use crate::present::chat::ChatMessage;
use crate::present::chat::RootView;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;

pub struct SlackChat {
    pub api: Arc<SlackApi>,
    /// service → channel id
    pub channels: HashMap<String, String>,
    /// Whether to ask `auth.test` where the workspace is (`[slack] workspace_url` is not set).
    pub ask_workspace_url: bool,
}

fn bad_thread(thread: &str) -> ChatError {
    ChatError::Permanent(format!("not a Slack thread reference: `{thread}`"))
}

impl SlackChat {
    /// The message an earlier try of `attempt` posted, if Slack has it. A lookup Slack refuses
    /// for good (an app installed without `channels:history`) must not stop the message: then
    /// it is posted, at the risk of a duplicate after a crash.
    async fn look_for_earlier_try(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        match self
            .api
            .find_by_key(channel, thread_ts, &attempt.key, attempt.since_ms)
            .await
        {
            Ok(found) => Ok(found),
            Err(ChatError::Permanent(e)) => {
                tracing::warn!(channel, error = %e, "cannot look for an earlier try (does the app have channels:history?); posting");
                Ok(None)
            }
            Err(transient) => Err(transient),
        }
    }
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
        attempt: &Attempt,
    ) -> Result<Option<Opened>, ChatError> {
        let Some(channel) = self.channels.get(&target.service) else {
            return Ok(None); // no slack_channel: no Slack thread for this service
        };
        let opened = |ts: String| Opened {
            thread: thread_ref(channel, &ts),
            message: ts,
        };
        if attempt.retry
            && let Some(ts) = self.look_for_earlier_try(channel, None, attempt).await?
        {
            return Ok(Some(opened(ts)));
        }
        let content = root_content(root).with_metadata(metadata(&target.deploy_id, &attempt.key));
        let ts = self.api.post(channel, content, None).await?;
        Ok(Some(opened(ts)))
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
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        let (channel, ts) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        if attempt.retry
            && let Some(earlier) = self
                .look_for_earlier_try(channel, Some(ts), attempt)
                .await?
        {
            return Ok(Some(earlier)); // an earlier try got through
        }
        let content = reply_content(&target.deploy_id, message)
            .with_metadata(metadata(&target.deploy_id, &attempt.key));
        self.api.post(channel, content, Some(ts)).await.map(Some)
    }

    /// The three-step upload into the thread; on a retry, first a look in the thread for the
    /// file an earlier try shared (its name carries the outbox item's key). Returns the ts of
    /// the message sharing it, looked for after a fresh upload too (Slack's answer omits it).
    async fn post_image(
        &self,
        _target: &ThreadTarget,
        thread: &str,
        image: &ChatImage,
        attempt: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        let (channel, ts) = parse_thread_ref(thread).ok_or_else(|| bad_thread(thread))?;
        if attempt.retry {
            match self
                .api
                .find_file(channel, ts, &image.filename, attempt.since_ms)
                .await
            {
                Ok(Some(earlier)) => return Ok(Some(earlier)),
                Ok(None) => {}
                Err(ChatError::Permanent(e)) => {
                    tracing::warn!(channel, error = %e, "cannot look for an earlier upload (does the app have channels:history?); uploading");
                }
                Err(e) => return Err(e),
            }
        }
        self.api
            .upload_png(
                channel,
                ts,
                &image.filename,
                &image.title,
                &image.alt_text,
                &image.png,
            )
            .await?;
        // The message sharing it, for the timeline's link: Slack's answer does not say, so look
        // (a miss or a failed look only leaves the chart unlinked).
        Ok(self
            .api
            .find_file(channel, ts, &image.filename, attempt.since_ms)
            .await
            .ok()
            .flatten())
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
        self.api
            .ephemeral(&channel, user, &super::escape::text(text), ts)
            .await
    }

    /// `chat.postMessage` with the user id as the channel: Slack delivers it in the app's DM
    /// with that person. Groups (`slack-group:`) and other platforms' people are skipped.
    async fn direct(
        &self,
        target: &ThreadTarget,
        to: &str,
        message: &ChatMessage,
        attempt: &Attempt,
    ) -> Result<(), ChatError> {
        let Some(user) = to.strip_prefix("slack:") else {
            return Ok(());
        };
        if attempt.retry
            && self
                .look_for_earlier_try(user, None, attempt)
                .await?
                .is_some()
        {
            return Ok(()); // an earlier try got through
        }
        let content = reply_content(&target.deploy_id, message)
            .with_metadata(metadata(&target.deploy_id, &attempt.key));
        self.api.post(user, content, None).await.map(|_| ())
    }

    /// `auth.test`'s url, when `[slack] workspace_url` is not set. A failure leaves message links
    /// off, logged here once (the worker asks once per process); delivery never waits on it.
    async fn discover_site(&self) -> Option<String> {
        if !self.ask_workspace_url {
            return None;
        }
        match self.api.workspace_url().await {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!(error = %e, "auth.test failed: Slack message links are off until the next start (or set [slack] workspace_url)");
                None
            }
        }
    }
}
