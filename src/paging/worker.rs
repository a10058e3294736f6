//! Delivers pages (and PagerDuty change events) from the outbox: one worker per provider, each
//! deploy's rows in order (a trigger before its resolve), a row that must wait holding back only
//! the later rows of its deploy. Transient failures (429, 5xx, no answer) are retried with the outbox's stored backoff
//! for as long as it takes; a permanent refusal is given up and told to the deploy, so its thread
//! hears it loudly.
//!
//! Every try is claimed first (under a lease naming this replica), so two replicas never send
//! the same row at once. A try that may have reached the provider before a crash or a timeout is
//! simply sent again: PagerDuty de-duplicates triggers on `dedup_key` and Opsgenie on `alias`
//! (both the deploy id) while the incident or alert is open, and resolving twice is harmless, so
//! a retry never pages anyone twice.

use super::{Link, Pager, Sent, ThreadLinks};
use crate::Clock;
use crate::domain::{BOT, Input, PageAction};
use crate::engine::{ChangeItem, Engine, EngineError, PageItem, page_target};
use crate::retry::Backoff;
use crate::store::{Failed, OutboxItem, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The longest `Retry-After` obeyed.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// A row of `page:<provider>`: a page, or a change event.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Row {
    Page(PageItem),
    Change(ChangeItem),
}

/// What became of one row.
enum Outcome {
    Done,
    /// It waits (backing off): the later rows of its deploy wait too.
    Wait,
}

pub struct PageWorker {
    pub engine: Arc<Engine>,
    pub pager: Arc<dyn Pager>,
    pub clock: Clock,
    /// How long a try holds its row; a try is cut off at two thirds of it.
    pub lease: Duration,
    /// The longest wait between tries of a page the provider keeps failing.
    pub max_backoff: Duration,
    /// The canary threads' links, sent with each trigger.
    pub thread_links: ThreadLinks,
}

impl PageWorker {
    fn target(&self) -> String {
        page_target(self.pager.provider())
    }

    /// Delivers until `stop` names a deadline; then delivers what is due until it passes.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<Option<tokio::time::Instant>>) {
        let wake = self.engine.page_wake.clone();
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(provider = self.pager.provider(), error = %e, "paging outbox pass failed");
            }
            let deadline = *stop.borrow();
            if let Some(deadline) = deadline {
                self.finish(deadline).await;
                return;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Shutting down: deliver what is due, until nothing is or the deadline passes (what is
    /// left is sent by the next start).
    async fn finish(&self, deadline: tokio::time::Instant) {
        let target = self.target();
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let _ = tokio::time::timeout(left, self.drain()).await;
            let now = (self.clock)();
            match self.engine.store().pending(&target, 100).await {
                Ok(items) if items.iter().all(|i| i.next_at_ms > now) => return,
                Ok(_) => {}
                Err(_) => return,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(
            provider = self.pager.provider(),
            "shutdown grace over with pages pending; the next start sends them"
        );
    }

    /// One pass over the pending rows, oldest first; returns how many were delivered.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let store = self.engine.store().clone();
        let items = store.pending(&self.target(), 100).await?;
        let mut held: HashSet<String> = HashSet::new();
        let mut delivered = 0;
        for item in items {
            if held.contains(&item.deploy_id) {
                continue;
            }
            let now = (self.clock)();
            if !store.may_start(&item, now)
                || !store
                    .claim(
                        item.id,
                        item.next_at_ms,
                        now + self.lease.as_millis() as i64,
                    )
                    .await?
            {
                // Backing off, or a try in progress here or on another replica.
                held.insert(item.deploy_id.clone());
                continue;
            }
            match self.deliver(&item).await? {
                Outcome::Done => delivered += 1,
                Outcome::Wait => {
                    held.insert(item.deploy_id.clone());
                }
            }
        }
        Ok(delivered)
    }

    /// The links of a page: the deploy's own page, then its canary threads.
    async fn links(&self, item: &OutboxItem, page_url: Option<&str>) -> Vec<Link> {
        let mut links = Vec::new();
        if let Some(url) = page_url {
            links.push(Link {
                href: url.to_string(),
                text: "Canary page".to_string(),
            });
        }
        links.extend((self.thread_links)(item.deploy_id.clone()).await);
        links
    }

    /// One claimed row: sent, scheduled again, or given up (and told to the deploy).
    async fn deliver(&self, item: &OutboxItem) -> Result<Outcome, StoreError> {
        let store = self.engine.store();
        let target = self.target();
        let row: Row = match serde_json::from_str(&item.payload) {
            Ok(r) => r,
            Err(e) => {
                let error = format!("unreadable outbox item: {e}");
                tracing::error!(provider = self.pager.provider(), deploy = %item.deploy_id, error = %error, "page given up");
                store.give_up(item.id, &error).await?;
                self.engine.telemetry.given_up(&target);
                return Ok(Outcome::Done);
            }
        };
        let limit = self.lease * 2 / 3;
        let call = async {
            match &row {
                Row::Page(p) => {
                    let links = self.links(item, p.page.page_url.as_deref()).await;
                    self.pager.send(&p.page, &links).await
                }
                Row::Change(c) => {
                    let links = self.links(item, c.change.page_url.as_deref()).await;
                    self.pager.change(&c.change, &links).await
                }
            }
        };
        let sent = match tokio::time::timeout(limit, call).await {
            Ok(sent) => sent,
            Err(_) => Sent::Retry {
                error: format!(
                    "{}: no answer within {}",
                    self.pager.provider(),
                    humantime::format_duration(limit)
                ),
                after: None,
                rate_limited: false,
            },
        };
        match sent {
            Sent::Ok => {
                let now = (self.clock)();
                store.delivered(item.id, now).await?;
                self.engine
                    .telemetry
                    .delivered(&target, now - item.created_at_ms);
                tracing::info!(provider = self.pager.provider(), deploy = %item.deploy_id, "page sent");
                Ok(Outcome::Done)
            }
            Sent::Retry {
                error,
                after,
                rate_limited,
            } => {
                self.retry_later(item, &error, after, rate_limited).await?;
                Ok(Outcome::Wait)
            }
            Sent::Permanent(error) => match &row {
                Row::Page(page) => self.refused(item, page, error).await,
                // Not a page: nobody is left unpaged, the log and `/metrics` say it.
                Row::Change(_) => {
                    tracing::error!(provider = self.pager.provider(), deploy = %item.deploy_id, error = %error, "change event refused; not retried");
                    store.give_up(item.id, &error).await?;
                    self.engine.telemetry.given_up(&target);
                    Ok(Outcome::Done)
                }
            },
        }
    }

    /// The provider refused for good: the deploy hears it (a failed trigger as `page_failed`, said
    /// loudly in the thread; a failed resolve as a note in the thread, since the page stays open
    /// there), then the row is given up. If the deploy cannot be told now, the row is tried again
    /// later (and refused again, telling it then).
    async fn refused(
        &self,
        item: &OutboxItem,
        page: &PageItem,
        error: String,
    ) -> Result<Outcome, StoreError> {
        let store = self.engine.store();
        let target = self.target();
        let provider = self.pager.provider().to_string();
        tracing::error!(provider = %provider, deploy = %item.deploy_id, error = %error, "page refused; not retried");
        let input = match page.page.action {
            PageAction::Trigger => Input::PageFailed {
                provider,
                error: error.clone(),
            },
            PageAction::Resolve => Input::Note {
                actor: BOT.to_string(),
                text: format!(
                    "Resolving the page through {provider} failed: {error}. It is still open there; resolve it by hand."
                ),
                announce: true,
            },
        };
        match self.engine.apply(&item.deploy_id, input, "paging").await {
            Ok(_) | Err(EngineError::UnknownDeploy(_)) => {
                store.give_up(item.id, &error).await?;
                self.engine.telemetry.given_up(&target);
                Ok(Outcome::Done)
            }
            Err(e) => {
                tracing::warn!(deploy = %item.deploy_id, error = %e, "cannot record the refused page; will try again");
                self.retry_later(item, &e.to_string(), None, false).await?;
                Ok(Outcome::Wait)
            }
        }
    }

    async fn retry_later(
        &self,
        item: &OutboxItem,
        error: &str,
        after: Option<Duration>,
        rate_limited: bool,
    ) -> Result<(), StoreError> {
        let grows_backoff = after.is_none();
        let failures = item.failures + i64::from(grows_backoff);
        let wait = wait_ms(failures, after, self.max_backoff, crate::retry::jitter());
        let failed = Failed {
            error,
            maybe_sent: true,
            grows_backoff,
        };
        self.engine
            .store()
            .retry_later(item.id, (self.clock)() + wait, failed)
            .await?;
        self.engine.telemetry.retried(&self.target(), rate_limited);
        tracing::warn!(provider = self.pager.provider(), deploy = %item.deploy_id, tries = item.attempts + 1, wait_ms = wait, error = %error, "page will be retried");
        Ok(())
    }
}

/// The wait before the next try: the provider's `Retry-After` (at most a minute; it does not grow
/// the backoff), else doubling with each of the row's `failures` from one second up to `max`,
/// jittered to between half and all of it.
pub fn wait_ms(failures: i64, after: Option<Duration>, max: Duration, jitter: f64) -> i64 {
    match after {
        Some(d) => d.min(RETRY_AFTER_CAP).as_millis().max(1) as i64,
        None => {
            let n = u32::try_from(failures.max(1)).unwrap_or(u32::MAX);
            Backoff::new(Duration::from_secs(1), max.max(Duration::from_secs(1)))
                .delay(n, jitter)
                .as_millis() as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_obey_retry_after_then_double_to_the_cap() {
        let max = Duration::from_secs(8);
        assert_eq!(wait_ms(1, Some(Duration::from_secs(2)), max, 0.5), 2_000);
        assert_eq!(
            wait_ms(1, Some(Duration::from_secs(3600)), max, 0.5),
            60_000
        );
        assert_eq!(wait_ms(1, None, max, 1.0), 1_000);
        assert_eq!(wait_ms(3, None, max, 1.0), 4_000);
        assert_eq!(wait_ms(50, None, max, 1.0), 8_000);
        assert_eq!(wait_ms(50, None, max, 0.0), 4_000);
    }
}
