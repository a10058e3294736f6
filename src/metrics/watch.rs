//! Watching after promotion: every promoted deploy whose watch is open (from the store, so the
//! watch resumes after a restart) is checked every `[service.watch] interval`. Each watched
//! criterion's `watch_query` is asked three times as an instant query: at now, now − 1 day and
//! now − 7 days. Moving the evaluation time is what PromQL's `offset` does to every selector of
//! an expression, so any `watch_query` (rates, ratios, quantiles) gets its references without
//! being rewritten. The loop also ticks open watches, so a watch ends on time with no Prometheus.

use super::prometheus::{Prometheus, Reading};
use crate::Clock;
use crate::domain::{Deploy, Input, State, WatchReading};
use crate::engine::Engine;
use crate::store::WatchRow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// One day and one week, in milliseconds: the references' offsets.
pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// How often an open watch is ticked (as the app's ticker ticks canaries).
const TICK_MS: i64 = 2_000;

pub struct Watcher {
    pub engine: Arc<Engine>,
    /// None: no `[prometheus]`; watches still end on time.
    pub prometheus: Option<Arc<Prometheus>>,
    pub clock: Clock,
    /// When each watch was last checked (in memory: after a restart every open watch is due).
    pub last: Mutex<HashMap<String, (i64, i64)>>,
    /// When each open watch was last ticked (its drift's escalation).
    pub ticked: Mutex<HashMap<String, i64>>,
    /// Deploys whose last watch check could not read Prometheus (logged once per outage).
    pub failing: Mutex<HashMap<String, String>>,
}

impl Watcher {
    pub fn new(engine: Arc<Engine>, prometheus: Option<Arc<Prometheus>>, clock: Clock) -> Self {
        Watcher {
            engine,
            prometheus,
            clock,
            last: Default::default(),
            ticked: Default::default(),
            failing: Default::default(),
        }
    }

    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        super::every_pass("watch pass", shutdown, || self.clone().pass()).await
    }

    /// Ends the watches that are over and starts the checks that are due; returns how many
    /// checks it started.
    pub async fn pass(self: Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let now = (self.clock)();
        let mut started = 0;
        for row in self.engine.store().open_watches().await? {
            if now >= row.until_ms {
                self.end(&row).await;
                continue;
            }
            // Promoted deploys are final, so the app's ticker leaves them alone: a drift's
            // escalation (remind, page, decide) is ticked here.
            self.tick(&row, now).await;
            // Due when never checked here, or its interval has passed: known before the deploy
            // is read, so a pass costs one indexed query however many watches are open.
            let due = {
                let last = self
                    .last
                    .lock()
                    .map_err(|_| crate::store::StoreError::Corrupt("watch lock poisoned".into()))?;
                !matches!(last.get(&row.id), Some((at, interval)) if now - at < *interval)
            };
            if !due {
                continue;
            }
            let Ok(deploy) = self.engine.deploy(&row.id).await else {
                continue;
            };
            if deploy.state != State::Promoted || !deploy.watch.open() {
                continue;
            }
            let interval = (deploy.watch.interval_s.max(1) * 1000) as i64;
            if let Ok(mut last) = self.last.lock() {
                last.insert(row.id.clone(), (now, interval));
            }
            let slot = format!("watch:{}", row.id);
            if !super::claim_interval(&self.engine, &slot, now, interval).await? {
                continue;
            }
            started += 1;
            let me = self.clone();
            tokio::spawn(async move { me.check(deploy, now).await });
        }
        Ok(started)
    }

    /// Time passing for an open watch, every `TICK_MS` at most; nothing is written unless a
    /// step is due (the engine asks the deploy's snapshot first).
    async fn tick(&self, row: &WatchRow, now: i64) {
        let due = match self.ticked.lock() {
            Ok(mut ticked) => match ticked.get(&row.id) {
                Some(at) if now - at < TICK_MS => false,
                _ => {
                    ticked.insert(row.id.clone(), now);
                    true
                }
            },
            Err(_) => false,
        };
        if due
            && let Err(e) = self
                .engine
                .apply_if_due(&row.id, row.last_seq, Input::Tick, "clock")
                .await
        {
            tracing::warn!(deploy = %row.id, error = %e, "watch tick failed");
        }
    }

    /// The watch is over: a tick ends it (the domain records how many checks were made).
    async fn end(&self, row: &WatchRow) {
        if let Err(e) = self
            .engine
            .apply_if_due(&row.id, row.last_seq, Input::Tick, "clock")
            .await
        {
            tracing::warn!(deploy = %row.id, error = %e, "watch end not applied");
        }
        if let Ok(mut last) = self.last.lock() {
            last.remove(&row.id);
        }
        if let Ok(mut ticked) = self.ticked.lock() {
            ticked.remove(&row.id);
        }
    }

    /// One watch check of one deploy: each watched criterion now, a day and a week earlier.
    pub async fn check(&self, deploy: Deploy, now_ms: i64) {
        let id = deploy.info.id.clone();
        let Some(prometheus) = self.prometheus.clone() else {
            return;
        };
        match read(&prometheus, &deploy, now_ms).await {
            Ok(readings) if readings.is_empty() => {}
            Ok(readings) => {
                if let Ok(mut failing) = self.failing.lock()
                    && failing.remove(&id).is_some()
                {
                    tracing::info!(deploy = %id, "watch: Prometheus readable again");
                }
                let input = Input::WatchCheck {
                    readings,
                    at_ms: now_ms,
                };
                if let Err(e) = self.engine.apply(&id, input, "prometheus").await {
                    tracing::warn!(deploy = %id, error = %e, "watch check not applied");
                }
            }
            // Prometheus unreachable: the watch is not the canary, nobody waits on it; said in
            // the log once per outage, and the next interval tries again.
            Err(error) => {
                let first = self
                    .failing
                    .lock()
                    .map(|mut f| f.insert(id.clone(), error.clone()).is_none())
                    .unwrap_or(true);
                if first {
                    tracing::warn!(deploy = %id, %error, "watch check: cannot read Prometheus; retrying every interval");
                }
            }
        }
    }
}

/// The readings of every watched criterion of `deploy` at `now_ms`, or the source's failure.
pub async fn read(
    prometheus: &Prometheus,
    deploy: &Deploy,
    now_ms: i64,
) -> Result<Vec<WatchReading>, String> {
    // A watch query names neither track nor version (the configuration refuses them).
    let vars = super::prometheus::Vars {
        track: "",
        service: &deploy.info.service,
        environment: &deploy.info.environment,
        version: "",
    };
    let mut calls = Vec::new();
    for c in &deploy.policy.criteria {
        let Some(q) = &c.watch_query else {
            continue;
        };
        let query = super::prometheus::render(q, &vars);
        let name = c.name.clone();
        let at = |ms: i64| ms as f64 / 1000.0;
        let (now, day, week) = (at(now_ms), at(now_ms - DAY_MS), at(now_ms - WEEK_MS));
        calls.push(async move {
            let (v, d, w) = tokio::join!(
                prometheus.query(&query, now),
                prometheus.query(&query, day),
                prometheus.query(&query, week)
            );
            (name, v, d, w)
        });
    }
    let mut readings = Vec::new();
    for (criterion, v, d, w) in futures_util::future::join_all(calls).await {
        let mut why = Vec::new();
        let mut value = |r: Result<Reading, String>, what: &str| match r? {
            Reading::Value(v) => Ok(Some(v)),
            Reading::NoData(reason) => {
                why.push(format!("{what}: {reason}"));
                Ok::<_, String>(None)
            }
        };
        let (value, day_ago, week_ago) = (
            value(v, "now")?,
            value(d, "1 day ago")?,
            value(w, "7 days ago")?,
        );
        readings.push(WatchReading {
            criterion,
            value,
            day_ago,
            week_ago,
            no_data_reason: (!why.is_empty()).then(|| why.join("; ")),
        });
    }
    Ok(readings)
}
