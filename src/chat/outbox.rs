//! Delivers chat effects from the outbox, in order per deploy thread, retrying transient
//! failures with a short jittered backoff (or the platform's `Retry-After`) for as long as it
//! takes, so that a thread catches up within seconds of the platform's recovery. A failing item
//! holds back only the later items of its own thread. Each try is claimed first, so a try that
//! may have reached the platform before a crash or a timeout is known, and only then does the
//! retry look before posting again. Each message posted in a thread is recorded with the event
//! it was posted for (`ChatItem::seq`), so the timeline links every event to its messages.

use super::{Attempt, ChatError, ChatImage, ChatPort, ThreadTarget};
use crate::Clock;
use crate::domain::Deploy;
use crate::engine::{ChatItem, target_of};
use crate::present::chat::ChartRequest;
use crate::present::chat::RenderedChat;
use crate::present::postmortem::Postmortem;
use crate::retry::Backoff;
use crate::store::{Failed, OutboxItem, PostedMessage, Store, StoreError};
use crate::telemetry::Telemetry;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// How many threads get messages at once: a slow thread must not hold up the others, and the
/// platforms' per-channel rate limits make more pointless.
const PARALLEL_THREADS: usize = 8;

/// The stable key of an outbox item as the platforms see it (Slack metadata, Discord nonce):
/// 25 characters, unique to the deploy and the item even across installations sharing a channel.
pub fn item_key(deploy_id: &str, item_id: i64) -> String {
    let digest = Sha256::digest(format!("{deploy_id}#{item_id}").as_bytes());
    format!("cb{}", &hex::encode(digest)[..23])
}

/// The longest `Retry-After` obeyed: a platform asking for more is tried again after this.
const RETRY_AFTER_CAP_MS: i64 = 60_000;

/// The wait before the next try. A platform's `Retry-After` is the wait for that try, no more
/// (it does not grow the backoff); otherwise the wait doubles with each of the item's
/// `failures` (this one included) from half a second up to `max`, jittered by `jitter` (0..1)
/// to between half and all of it, so that threads waiting out one outage do not retry in step.
/// The doubling is [`Backoff`]'s, the rule every retry follows; only the stored schedule is ours.
pub fn backoff_ms(failures: i64, retry_after_ms: Option<u64>, max: Duration, jitter: f64) -> i64 {
    match retry_after_ms {
        Some(ms) => (ms as i64).clamp(1, RETRY_AFTER_CAP_MS),
        None => {
            let n = u32::try_from(failures.max(1)).unwrap_or(u32::MAX);
            Backoff::new(Duration::from_millis(500), max)
                .delay(n, jitter)
                .as_millis() as i64
        }
    }
}

pub struct ChatWorker {
    pub store: Store,
    pub port: Arc<dyn ChatPort>,
    pub clock: Clock,
    pub wake: Arc<Notify>,
    pub telemetry: Arc<Telemetry>,
    pub lease: Duration,
    /// The longest wait between tries of a message the platform keeps refusing (seconds: a
    /// thread must catch up soon after the platform recovers).
    pub max_backoff: Duration,
    /// Thread references already read or written: once a thread exists its reference never
    /// changes, so each is read from the store once.
    pub threads: std::sync::Mutex<HashMap<String, String>>,
    /// Where the postmortem pages are (`[server] public_url`): a platform that refuses files
    /// gets links to the charts there instead.
    pub public_url: Option<String>,
    /// The platform refused a file (missing scope or permission): until the next start, charts
    /// go straight to their links, and the warning is logged once.
    pub files_refused: AtomicBool,
    /// The events (`deploy#until_ms`) whose charts were posted as links: once per event.
    pub linked_charts: std::sync::Mutex<HashSet<String>>,
}

/// Whether an outbox row is a chart: charts have their own lane in each thread, after the
/// messages written before them and never before the messages written after them.
fn is_chart(item: &OutboxItem) -> bool {
    serde_json::from_str::<ChatItem>(&item.payload)
        .is_ok_and(|c| matches!(c.effect, RenderedChat::Chart { .. }))
}

/// How long the platform may take to say where its links start ([`ChatPort::discover_site`]).
const SITE_ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Thread references kept in memory, at most.
const KNOWN_THREADS: usize = 10_000;

impl ChatWorker {
    /// Delivers until `stop` names a deadline; then delivers what is due until it passes.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<Option<tokio::time::Instant>>) {
        // Beside delivery, never before it: a platform slow to say where it is holds up no message.
        tokio::spawn(self.clone().discover_site());
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(platform = self.port.platform(), error = %e, "chat outbox pass failed");
            }
            let deadline = *stop.borrow();
            if let Some(deadline) = deadline {
                self.finish(deadline).await;
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Shutting down: deliver what is due, until nothing is or the deadline passes.
    async fn finish(self: &Arc<Self>, deadline: tokio::time::Instant) {
        let target = target_of(self.port.platform());
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            let _ = tokio::time::timeout(left, self.drain()).await;
            let now = (self.clock)();
            match self.store.pending(&target, 500).await {
                Ok(items) if items.iter().all(|i| i.next_at_ms > now) => return,
                Ok(_) => {}
                Err(_) => return,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(
            platform = self.port.platform(),
            "shutdown grace over with chat messages pending; the next start delivers them"
        );
    }

    /// One pass over the pending items, threads in parallel and each thread in order; returns
    /// how many were delivered.
    pub async fn drain(self: &Arc<Self>) -> Result<usize, StoreError> {
        let target = target_of(self.port.platform());
        let items = self.store.pending(&target, 500).await?;
        // Two lanes per thread: its messages, and its charts. A chart waits for the messages
        // written before it (the breach it shows), but no message waits for a chart.
        let mut threads: Vec<Vec<OutboxItem>> = Vec::new();
        let mut index: HashMap<(String, bool), usize> = HashMap::new();
        let mut first_message: HashMap<String, i64> = HashMap::new();
        for item in items {
            let chart = is_chart(&item);
            if !chart {
                first_message
                    .entry(item.deploy_id.clone())
                    .or_insert(item.id);
            }
            match index.get(&(item.deploy_id.clone(), chart)) {
                Some(&i) => threads[i].push(item),
                None => {
                    index.insert((item.deploy_id.clone(), chart), threads.len());
                    threads.push(vec![item]);
                }
            }
        }
        for (&(ref deploy, chart), &i) in &index {
            if let (true, Some(&first)) = (chart, first_message.get(deploy)) {
                threads[i].retain(|c| c.id < first);
            }
        }
        let now = (self.clock)();
        let permits = Arc::new(Semaphore::new(PARALLEL_THREADS));
        let mut tasks = JoinSet::new();
        for items in threads {
            // The thread's oldest item decides: while it waits (backing off, or held by a try in
            // progress), so do the later ones.
            if items.first().is_none_or(|i| !self.store.may_start(i, now)) {
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let worker = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                worker.deliver_thread(items).await
            });
        }
        let mut delivered = 0;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(n)) => delivered += n,
                Ok(Err(e)) => return Err(e),
                Err(e) => tracing::error!(error = %e, "chat delivery task failed"),
            }
        }
        Ok(delivered)
    }

    /// Delivers one thread's items in order, stopping at the first that must wait.
    async fn deliver_thread(&self, items: Vec<OutboxItem>) -> Result<usize, StoreError> {
        let target = target_of(self.port.platform());
        let mut delivered = 0;
        for item in items {
            let now = (self.clock)();
            if !self.store.may_start(&item, now) {
                break;
            }
            if !self
                .store
                .claim(
                    item.id,
                    item.next_at_ms,
                    now + self.lease.as_millis() as i64,
                )
                .await?
            {
                break; // another worker has it
            }
            let attempt = Attempt {
                key: item_key(&item.deploy_id, item.id),
                retry: item.maybe_sent,
                since_ms: item.created_at_ms,
            };
            let tries = item.attempts + 1;
            // A call that hangs must not hold the thread past its lease (the next try, here or
            // elsewhere, looks for what this one may have posted).
            let limit = self.lease * 2 / 3;
            let result = match tokio::time::timeout(limit, self.deliver(&item, &attempt)).await {
                Ok(result) => result,
                Err(_) => Err(ChatError::Transient {
                    message: format!("no answer within {}", humantime::format_duration(limit)),
                    retry_after_ms: None,
                }),
            };
            match result {
                Ok(()) => {
                    let now = (self.clock)();
                    self.store.delivered(item.id, now).await?;
                    self.telemetry.delivered(&target, now - item.created_at_ms);
                    delivered += 1;
                }
                // A platform that is down or rate-limiting is waited out, however long: the
                // thread must end up complete and in order.
                Err(ChatError::Transient {
                    message,
                    retry_after_ms,
                }) => {
                    self.retry_later(&item, tries, &message, retry_after_ms, true)
                        .await?;
                    break;
                }
                // The platform answered without acting, and any earlier try that may have
                // reached it was looked for (a failed lookup is `Transient`): the next try posts
                // without looking.
                Err(ChatError::Refused {
                    message,
                    retry_after_ms,
                }) => {
                    self.retry_later(&item, tries, &message, retry_after_ms, false)
                        .await?;
                    break;
                }
                Err(e) => {
                    tracing::error!(platform = self.port.platform(), deploy = %item.deploy_id, error = %e, "chat delivery given up");
                    self.store.give_up(item.id, &e.to_string()).await?;
                    self.telemetry.given_up(&target);
                }
            }
        }
        Ok(delivered)
    }

    async fn retry_later(
        &self,
        item: &OutboxItem,
        tries: i64,
        message: &str,
        retry_after_ms: Option<u64>,
        maybe_sent: bool,
    ) -> Result<(), StoreError> {
        let target = target_of(self.port.platform());
        let grows_backoff = retry_after_ms.is_none();
        let failures = item.failures + i64::from(grows_backoff);
        let wait = backoff_ms(
            failures,
            retry_after_ms,
            self.max_backoff,
            crate::retry::jitter(),
        );
        let failed = Failed {
            error: message,
            maybe_sent,
            grows_backoff,
        };
        self.store
            .retry_later(item.id, (self.clock)() + wait, failed)
            .await?;
        self.telemetry.retried(&target, retry_after_ms.is_some());
        tracing::warn!(platform = self.port.platform(), deploy = %item.deploy_id, tries, wait_ms = wait, error = %message, "chat delivery will be retried");
        Ok(())
    }

    /// Asks the platform once where its web links start, when it must be asked (Slack's
    /// `auth.test`), and stores the answer for the links of the timeline.
    async fn discover_site(self: Arc<Self>) {
        let platform = self.port.platform().to_string();
        // Bounded: a platform that never answers must not keep a task waiting for ever.
        let asked = tokio::time::timeout(SITE_ANSWER_WITHIN, self.port.discover_site()).await;
        let Ok(Some(url)) = asked else {
            if asked.is_err() {
                tracing::warn!(
                    platform,
                    "no answer on where the platform's links start; message links are off"
                );
            }
            return;
        };
        if let Err(e) = self.store.set_site(&platform, &url, (self.clock)()).await {
            tracing::warn!(platform, error = %e, "cannot store where the platform's links start; message links are off");
        }
    }

    /// Records the message `item` posted (or found posted by an earlier try), tied to the event
    /// it was posted for. A failure is transient: the next try finds the message and records it.
    async fn record(
        &self,
        item: &OutboxItem,
        seq: Option<i64>,
        thread: &str,
        message: &str,
    ) -> Result<(), ChatError> {
        let Some(seq) = seq else {
            return Ok(()); // no event to tie it to
        };
        let posted = PostedMessage {
            outbox_id: item.id,
            deploy_id: item.deploy_id.clone(),
            platform: self.port.platform().to_string(),
            seq,
            thread: thread.to_string(),
            message: message.to_string(),
            at_ms: (self.clock)(),
        };
        self.store
            .record_message(&posted)
            .await
            .map_err(|e| ChatError::Transient {
                message: e.to_string(),
                retry_after_ms: None,
            })
    }

    /// Posts the chart `request` asks for, rendered from what the store holds of the deploy up
    /// to its time; a criterion without samples has no chart. A platform refusing files gets the
    /// links instead, once per event.
    async fn deliver_chart(
        &self,
        item: &OutboxItem,
        seq: Option<i64>,
        target: &ThreadTarget,
        thread: &str,
        request: &ChartRequest,
        attempt: &Attempt,
    ) -> Result<(), ChatError> {
        let Some(image) = self.render_chart(&item.deploy_id, request, attempt).await? else {
            return Ok(());
        };
        if !self.files_refused.load(Ordering::Relaxed) {
            match self.port.post_image(target, thread, &image, attempt).await {
                Ok(id) => {
                    if let Some(id) = id {
                        self.record(item, seq, thread, &id).await?;
                    }
                    return Ok(());
                }
                Err(ChatError::NotAllowed { message, need }) => {
                    if !self.files_refused.swap(true, Ordering::Relaxed) {
                        tracing::warn!(platform = self.port.platform(), need = %need, error = %message, "the platform refuses files: charts are posted as links until the next start");
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let event = format!("{}#{}", item.deploy_id, request.until_ms);
        if self
            .linked_charts
            .lock()
            .is_ok_and(|linked| linked.contains(&event))
        {
            return Ok(()); // the links of this event's charts are posted
        }
        let criteria = if request.with.is_empty() {
            std::slice::from_ref(&request.criterion)
        } else {
            request.with.as_slice()
        };
        let message = crate::present::chat::said::chart_fallback(
            self.public_url.as_deref(),
            &item.deploy_id,
            criteria,
        );
        if let Some(id) = self.port.reply(target, thread, &message, attempt).await? {
            self.record(item, seq, thread, &id).await?;
        }
        if let Ok(mut linked) = self.linked_charts.lock() {
            if linked.len() >= KNOWN_THREADS {
                linked.clear();
            }
            linked.insert(event);
        }
        Ok(())
    }

    /// The chart of `request`, from the deploy's events and samples as stored; `None` when there
    /// is nothing to draw (no samples, an unknown deploy).
    async fn render_chart(
        &self,
        deploy_id: &str,
        request: &ChartRequest,
        attempt: &Attempt,
    ) -> Result<Option<ChatImage>, ChatError> {
        let transient = |e: StoreError| ChatError::Transient {
            message: e.to_string(),
            retry_after_ms: None,
        };
        let (events, stored) =
            tokio::join!(self.store.events(deploy_id), self.store.samples(deploy_id));
        let Some(events) = events.map_err(transient)? else {
            return Ok(None);
        };
        let stored = stored.map_err(transient)?;
        let deploy = Deploy::fold(&events)
            .map_err(|e| ChatError::Permanent(format!("the deploy does not read back: {e}")))?;
        let p = Postmortem {
            deploy,
            events,
            samples: crate::present::postmortem::chart_points(stored),
            threads: Vec::new(),
            links: Default::default(),
            criteria_now: None,
        };
        match crate::present::chart_png::criterion_png(
            &p,
            &request.criterion,
            Some(request.until_ms),
        ) {
            Ok(chart) => Ok(Some(ChatImage {
                png: chart.png,
                filename: format!("chart-{}.png", attempt.key),
                title: chart.title,
                alt_text: chart.alt_text,
            })),
            Err(why) => {
                tracing::info!(deploy = deploy_id, criterion = %request.criterion, why = %why, "no chart to post");
                Ok(None)
            }
        }
    }

    fn know_thread(&self, deploy_id: &str, thread: &str) {
        if let Ok(mut threads) = self.threads.lock() {
            if threads.len() >= KNOWN_THREADS {
                threads.clear();
            }
            threads.insert(deploy_id.to_string(), thread.to_string());
        }
    }

    async fn deliver(&self, item: &OutboxItem, attempt: &Attempt) -> Result<(), ChatError> {
        let chat: ChatItem = serde_json::from_str(&item.payload)
            .map_err(|e| ChatError::Permanent(format!("unreadable outbox item: {e}")))?;
        let target = ThreadTarget {
            deploy_id: item.deploy_id.clone(),
            service: chat.service,
        };
        let platform = self.port.platform().to_string();
        let known = self
            .threads
            .lock()
            .ok()
            .and_then(|t| t.get(&item.deploy_id).cloned());
        // A root's first try: no thread can exist yet (only this item opens it).
        let first_root = item.attempts == 0 && matches!(chat.effect, RenderedChat::PostRoot { .. });
        let thread = match known {
            Some(thread) => Some(thread),
            None if first_root => None,
            None => {
                let stored = self
                    .store
                    .thread(&item.deploy_id, &platform)
                    .await
                    .map_err(|e| ChatError::Transient {
                        message: e.to_string(),
                        retry_after_ms: None,
                    })?;
                if let Some(t) = &stored {
                    self.know_thread(&item.deploy_id, t);
                }
                stored
            }
        };
        match chat.effect {
            RenderedChat::PostRoot { root } => {
                if thread.is_some() {
                    return Ok(()); // already opened (a retry after a crash)
                }
                if let Some(opened) = self.port.post_root(&target, &root, attempt).await? {
                    // The message is recorded before the thread: after a crash between the two,
                    // the retry finds this root (posting no second one) and records it then.
                    self.record(item, chat.seq, &opened.thread, &opened.message)
                        .await?;
                    let r = opened.thread;
                    self.store
                        .set_thread(&item.deploy_id, &platform, &r)
                        .await
                        .map_err(|e| ChatError::Transient {
                            message: e.to_string(),
                            retry_after_ms: None,
                        })?;
                    self.know_thread(&item.deploy_id, &r);
                }
                Ok(())
            }
            RenderedChat::UpdateRoot { root } => match thread {
                Some(t) => self.port.update_root(&target, &t, &root).await,
                None => Ok(()),
            },
            RenderedChat::Reply { message } => match thread {
                Some(t) => {
                    if let Some(id) = self.port.reply(&target, &t, &message, attempt).await? {
                        self.record(item, chat.seq, &t, &id).await?;
                    }
                    Ok(())
                }
                None => Ok(()),
            },
            RenderedChat::Chart { chart: request } => match thread {
                Some(t) => {
                    self.deliver_chart(item, chat.seq, &target, &t, &request, attempt)
                        .await
                }
                None => Ok(()),
            },
            RenderedChat::Notice { to, text } => {
                self.port
                    .notice(&target, thread.as_deref(), &to, &text)
                    .await
            }
            RenderedChat::Direct { to, message } => {
                self.port.direct(&target, &to, &message, attempt).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_of_seconds_with_jitter() {
        let max = crate::config::DeliveryConfig::default().max_backoff;
        assert!(max <= Duration::from_secs(5), "the default cap is seconds");
        let max_ms = max.as_millis() as i64;
        // Without jitter the full wait; with any, between half and all of it.
        assert_eq!(backoff_ms(1, None, max, 1.0), 500);
        assert_eq!(backoff_ms(2, None, max, 1.0), 1_000);
        assert_eq!(backoff_ms(30, None, max, 1.0), max_ms);
        assert_eq!(backoff_ms(30, None, max, 0.0), max_ms / 2);
        let jittered = backoff_ms(2, None, max, 0.3);
        assert!((500..1_000).contains(&jittered), "{jittered}");
        // However long the outage, never more than the cap.
        for failures in 1..200 {
            assert!(backoff_ms(failures, None, max, crate::retry::jitter()) <= max_ms);
        }
    }

    #[test]
    fn retry_after_is_the_wait_for_that_try_only() {
        let max = Duration::from_secs(3);
        // Exactly what the platform asked, even above the cap for other failures.
        assert_eq!(backoff_ms(1, Some(1_000), max, 0.5), 1_000);
        assert_eq!(backoff_ms(1, Some(10_000), max, 0.5), 10_000);
        assert_eq!(backoff_ms(1, Some(600_000), max, 0.5), 60_000);
    }

    /// Outbox rows as stored by earlier releases: after an upgrade they still read, and the
    /// engine writes the same shape.
    #[test]
    fn stored_chat_rows_read_back_and_are_written_the_same() {
        let rows = [
            r#"{"service":"checkout","effect":{"op":"reply","message":{"text":"🗳️ alice votes *rollback* (1/2)","buttons":["rollback","promote"],"loud":true,"mentions":["slack:U01ALICE","slack-group:S01SRE"],"person":{"identity":"slack:U01ALICE","start":5,"end":10}}}}"#,
            r#"{"service":"checkout","effect":{"op":"reply","message":{"text":"✅ Metrics readable again.","buttons":[],"loud":false,"mentions":[]}}}"#,
            r#"{"service":"checkout","effect":{"op":"notice","to":"slack:U09MALLORY","text":"Your rollback vote is already counted."}}"#,
        ];
        for row in rows {
            let item: ChatItem = serde_json::from_str(row).expect("reads");
            assert_eq!(serde_json::to_string(&item).expect("writes"), row);
        }
        // Rows written before `buttons`, `mentions` and `person` existed.
        let old = r#"{"service":"checkout","effect":{"op":"reply","message":{"text":"hi"}}}"#;
        let item: ChatItem = serde_json::from_str(old).expect("reads");
        assert!(
            serde_json::to_string(&item)
                .expect("writes")
                .contains(r#""text":"hi""#)
        );
    }

    /// The event a row's message is posted for: written when known, and rows without it (written
    /// before messages were recorded) still read.
    #[test]
    fn chat_rows_carry_the_event_they_are_posted_for() {
        let row = r#"{"service":"checkout","effect":{"op":"reply","message":{"text":"hi","buttons":[],"loud":false,"mentions":[]}},"seq":7}"#;
        let item: ChatItem = serde_json::from_str(row).expect("reads");
        assert_eq!(item.seq, Some(7));
        assert_eq!(serde_json::to_string(&item).expect("writes"), row);
        let old = r#"{"service":"checkout","effect":{"op":"reply","message":{"text":"hi"}}}"#;
        let item: ChatItem = serde_json::from_str(old).expect("reads");
        assert_eq!(item.seq, None);
    }

    #[test]
    fn item_keys_fit_a_discord_nonce_and_differ_per_deploy() {
        let a = item_key("checkout:production:v1", 7);
        assert_eq!(a.len(), 25);
        assert_eq!(a, item_key("checkout:production:v1", 7));
        assert_ne!(a, item_key("checkout:production:v2", 7));
        assert_ne!(a, item_key("checkout:production:v1", 8));
    }
}
