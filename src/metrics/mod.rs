//! Metric sources the bot reads by itself: Prometheus queries on a schedule, and Alertmanager's
//! webhook. Samples pushed over `/hooks/metrics` need neither.

pub mod alertmanager;
pub mod history;
pub mod prometheus;
pub mod scheduler;
pub mod watch;

/// Runs `pass` every 250 ms until shutdown; a pass that fails is logged as `what` and the next one
/// runs (the scheduler's checks, the watch after promotion).
pub(crate) async fn every_pass<F, Fut>(
    what: &'static str,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, crate::store::StoreError>>,
{
    loop {
        if let Err(e) = pass().await {
            tracing::warn!(error = %e, "{what} failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A claimed check slot ends this much before the next interval, so that the replica that made
/// this check can claim the next one on time.
const SLOT_SLACK_MS: i64 = 250;

/// Claims `slot` (`check:<id>`, `watch:<id>`) for this interval: with several replicas, the first
/// to claim an interval's check makes it.
pub(crate) async fn claim_interval(
    engine: &crate::engine::Engine,
    slot: &str,
    now: i64,
    interval_ms: i64,
) -> Result<bool, crate::store::StoreError> {
    let until = now + (interval_ms - SLOT_SLACK_MS).max(SLOT_SLACK_MS);
    engine
        .store()
        .lease(slot, engine.replica(), now, until, false)
        .await
}
