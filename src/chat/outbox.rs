//! Delivers chat effects from the outbox, in order per deploy thread, retrying transient
//! failures with backoff. A failing item holds back only the later items of its own thread.

use super::{ChatError, ChatPort, ThreadTarget};
use crate::Clock;
use crate::domain::ChatEffect;
use crate::store::{OutboxItem, Store};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What the engine writes for each chat platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatItem {
    pub service: String,
    pub effect: ChatEffect,
}

/// Attempts before a chat message is given up on (logged; the timeline keeps the facts).
const MAX_ATTEMPTS: i64 = 8;

pub fn target_of(platform: &str) -> String {
    format!("chat:{platform}")
}

pub struct ChatWorker {
    pub store: Store,
    pub port: Arc<dyn ChatPort>,
    pub clock: Clock,
    pub wake: Arc<Notify>,
}

impl ChatWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(platform = self.port.platform(), error = %e, "chat outbox pass failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass over the pending items; returns how many were delivered.
    pub async fn drain(&self) -> Result<usize, crate::store::StoreError> {
        let target = target_of(self.port.platform());
        let items = self.store.pending(&target, 200).await?;
        let mut held = HashSet::new();
        let mut delivered = 0;
        for item in items {
            if held.contains(&item.deploy_id) {
                continue;
            }
            let now = (self.clock)();
            if item.next_at_ms > now {
                held.insert(item.deploy_id.clone());
                continue;
            }
            match self.deliver(&item).await {
                Ok(()) => {
                    self.store.delivered(item.id, (self.clock)()).await?;
                    delivered += 1;
                }
                Err(ChatError::Transient {
                    message,
                    retry_after_ms,
                }) if item.attempts + 1 < MAX_ATTEMPTS => {
                    held.insert(item.deploy_id.clone());
                    let backoff = retry_after_ms.unwrap_or(500u64 << item.attempts.clamp(0, 10));
                    self.store
                        .retry_later(item.id, now + backoff as i64, &message)
                        .await?;
                    tracing::warn!(platform = self.port.platform(), deploy = %item.deploy_id, error = %message, "chat delivery will be retried");
                }
                Err(e) => {
                    tracing::error!(platform = self.port.platform(), deploy = %item.deploy_id, error = %e, "chat delivery given up");
                    self.store.give_up(item.id, &e.to_string()).await?;
                }
            }
        }
        Ok(delivered)
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<(), ChatError> {
        let chat: ChatItem = serde_json::from_str(&item.payload)
            .map_err(|e| ChatError::Permanent(format!("unreadable outbox item: {e}")))?;
        let target = ThreadTarget {
            deploy_id: item.deploy_id.clone(),
            service: chat.service,
        };
        let platform = self.port.platform().to_string();
        let thread = self
            .store
            .thread(&item.deploy_id, &platform)
            .await
            .map_err(|e| ChatError::Transient {
                message: e.to_string(),
                retry_after_ms: None,
            })?;
        match chat.effect {
            ChatEffect::PostRoot { root } => {
                if thread.is_some() {
                    return Ok(()); // already opened (a retry after a crash)
                }
                if let Some(r) = self.port.post_root(&target, &root).await? {
                    self.store
                        .set_thread(&item.deploy_id, &platform, &r)
                        .await
                        .map_err(|e| ChatError::Transient {
                            message: e.to_string(),
                            retry_after_ms: None,
                        })?;
                }
                Ok(())
            }
            ChatEffect::UpdateRoot { root } => match thread {
                Some(t) => self.port.update_root(&target, &t, &root).await,
                None => Ok(()),
            },
            ChatEffect::Reply { message } => match thread {
                Some(t) => self.port.reply(&target, &t, &message).await,
                None => Ok(()),
            },
            ChatEffect::Notice { to, text } => {
                self.port
                    .notice(&target, thread.as_deref(), &to, &text)
                    .await
            }
        }
    }
}
