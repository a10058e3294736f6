//! Runs executor calls from the outbox and feeds their outcome back into the engine.

use super::{ExecutorCall, RollbackExecutor};
use crate::Clock;
use crate::domain::{ExecutorOutcome, Input};
use crate::engine::{EXECUTOR_TARGET, Engine, ExecItem};
use crate::store::OutboxItem;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// How often a running call renews its hold: often enough that a replica on another host takes
/// over soon after a death (the lease can be short), with room for two missed renewals.
pub fn renew_every(lease: Duration) -> Duration {
    (lease / 4).min(Duration::from_secs(2))
}

#[derive(Clone)]
pub struct ExecutorWorker {
    pub engine: Arc<Engine>,
    pub executors: Arc<HashMap<String, Arc<dyn RollbackExecutor>>>,
    pub clock: Clock,
    /// How long a started call holds its outbox row; a running call renews it (see
    /// [`renew_every`]), so only a call whose process died is taken over (and run again with the
    /// same delivery id): at once by a restarted process or a replica of the same host, after
    /// the lease by a replica on another host.
    pub lease: Duration,
    /// Calls running now, waited for on shutdown.
    pub in_flight: Arc<AtomicUsize>,
}

impl ExecutorWorker {
    pub fn new(
        engine: Arc<Engine>,
        executors: HashMap<String, Arc<dyn RollbackExecutor>>,
        clock: Clock,
        lease: Duration,
    ) -> Self {
        ExecutorWorker {
            engine,
            executors: Arc::new(executors),
            clock,
            lease,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Starts calls until `stop` names a deadline; then waits for running calls until it passes
    /// (a call cut short is taken over by the next start).
    pub async fn run(self, mut stop: watch::Receiver<Option<tokio::time::Instant>>) {
        let wake = self.engine.executor_wake.clone();
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %e, "executor outbox pass failed");
            }
            let deadline = *stop.borrow();
            if let Some(deadline) = deadline {
                while self.in_flight.load(Ordering::SeqCst) > 0
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Starts every due call; each runs in its own task so a slow deploy system holds up nothing.
    pub async fn drain(&self) -> Result<usize, crate::store::StoreError> {
        let store = self.engine.store().clone();
        let items = store.pending(EXECUTOR_TARGET, 50).await?;
        let mut started = 0;
        for item in items {
            let now = (self.clock)();
            if !store.may_start(&item, now) {
                continue;
            }
            if !store
                .claim(
                    item.id,
                    item.next_at_ms,
                    now + self.lease.as_millis() as i64,
                )
                .await?
            {
                continue;
            }
            started += 1;
            let worker = self.clone();
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                worker.run_one(item).await;
                worker.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
        Ok(started)
    }

    async fn run_one(&self, item: OutboxItem) {
        let store = self.engine.store().clone();
        let exec: ExecItem = match serde_json::from_str(&item.payload) {
            Ok(x) => x,
            Err(e) => {
                let _ = store
                    .give_up(item.id, &format!("unreadable outbox item: {e}"))
                    .await;
                return;
            }
        };
        // A drill goes to the service's drill executor when one is configured.
        let executor = exec
            .drill
            .then(|| {
                self.executors
                    .get(&super::drill_executor_key(&exec.service))
            })
            .flatten()
            .or_else(|| self.executors.get(&exec.service));
        let outcome = match (self.engine.deploy(&item.deploy_id).await, executor) {
            // Taken over after a crash that came after the answer was recorded.
            (Ok(deploy), _)
                if item.attempts > 0
                    && deploy.rollback_call_answered(&exec.request.decision_id) =>
            {
                tracing::info!(deploy = %item.deploy_id, decision = %exec.request.decision_id, "executor call already answered; not calling again");
                let _ = store.delivered(item.id, (self.clock)()).await;
                return;
            }
            (Ok(deploy), Some(executor)) => {
                let call = ExecutorCall {
                    deploy: deploy.info,
                    request: exec.request.clone(),
                    drill: exec.drill,
                };
                // Renew the hold while the deploy system works, however long it takes.
                let renew = async {
                    loop {
                        tokio::time::sleep(renew_every(self.lease)).await;
                        let until = (self.clock)() + self.lease.as_millis() as i64;
                        if let Err(e) = store.renew(item.id, until).await {
                            tracing::warn!(deploy = %item.deploy_id, error = %e, "cannot renew the executor call's lease");
                        }
                    }
                };
                tokio::select! {
                    outcome = executor.execute(&call) => outcome,
                    _ = renew => unreachable!("the renew loop never ends"),
                }
            }
            (Ok(_), None) => ExecutorOutcome::Failed {
                error: format!(
                    "no rollback executor is configured for service {}",
                    exec.service
                ),
                attempts: 0,
            },
            (Err(e), _) => {
                tracing::error!(deploy = %item.deploy_id, error = %e, "executor call for an unreadable deploy");
                let _ = store.give_up(item.id, &e.to_string()).await;
                return;
            }
        };
        let input = Input::Executor {
            decision_id: exec.request.decision_id.clone(),
            outcome,
        };
        match self.engine.apply(&item.deploy_id, input, "executor").await {
            Ok(_) => {
                let now = (self.clock)();
                let _ = store.delivered(item.id, now).await;
                self.engine
                    .telemetry
                    .delivered(EXECUTOR_TARGET, now - item.created_at_ms);
            }
            Err(e) => {
                tracing::error!(deploy = %item.deploy_id, error = %e, "cannot record the executor outcome; will retry");
                self.engine.telemetry.retried(EXECUTOR_TARGET, false);
                let error = e.to_string();
                let failed = crate::store::Failed {
                    error: &error,
                    maybe_sent: true,
                    grows_backoff: true,
                };
                let _ = store
                    .retry_later(item.id, (self.clock)() + 5_000, failed)
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_call_renews_its_hold_several_times_per_lease() {
        let lease = crate::config::DeliveryConfig::default().lease;
        assert!(
            lease <= Duration::from_secs(10),
            "a dead replica's call is taken over within ~10 s"
        );
        assert!(renew_every(lease) <= Duration::from_secs(2));
        assert!(renew_every(lease) * 3 <= lease, "two renewals may fail");
        assert_eq!(
            renew_every(Duration::from_secs(1)),
            Duration::from_millis(250)
        );
    }
}
