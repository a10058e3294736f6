//! Runs executor calls from the outbox and feeds their outcome back into the engine.

use super::{ExecutorCall, RollbackExecutor};
use crate::Clock;
use crate::domain::{ExecutorOutcome, Input};
use crate::engine::{EXECUTOR_TARGET, Engine, ExecItem};
use crate::store::OutboxItem;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a started call holds its outbox row before another worker may take it over.
const LEASE_MS: i64 = 15 * 60 * 1000;

#[derive(Clone)]
pub struct ExecutorWorker {
    pub engine: Arc<Engine>,
    pub executors: Arc<HashMap<String, Arc<dyn RollbackExecutor>>>,
    pub clock: Clock,
}

impl ExecutorWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = self.engine.executor_wake.clone();
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %e, "executor outbox pass failed");
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => return,
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
            if item.next_at_ms > now {
                continue;
            }
            if !store
                .claim(item.id, item.next_at_ms, now + LEASE_MS)
                .await?
            {
                continue;
            }
            started += 1;
            let worker = self.clone();
            tokio::spawn(async move { worker.run_one(item).await });
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
                    .get(&crate::app::drill_executor_key(&exec.service))
            })
            .flatten()
            .or_else(|| self.executors.get(&exec.service));
        let outcome = match (self.engine.load(&item.deploy_id).await, executor) {
            (Ok((deploy, _)), Some(executor)) => {
                let call = ExecutorCall {
                    deploy: deploy.info,
                    request: exec.request.clone(),
                    drill: exec.drill,
                };
                executor.execute(&call).await
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
                let _ = store.delivered(item.id, (self.clock)()).await;
            }
            Err(e) => {
                tracing::error!(deploy = %item.deploy_id, error = %e, "cannot record the executor outcome; will retry");
                let _ = store
                    .retry_later(item.id, (self.clock)() + 5_000, &e.to_string())
                    .await;
            }
        }
    }
}
