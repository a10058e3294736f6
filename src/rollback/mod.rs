//! Rollback executors: how canarybot asks a deploy system to act on a decision.

//!
//! One rule: the executor of `kind = "<kind>"` lives in `src/rollback/<kind>.rs` (hyphens become
//! underscores) and is built by [`build`], the one place that lists the kinds' executors.

pub mod command;
pub mod flagger;
pub mod github_workflow;
pub mod webhook;
pub mod worker;

use crate::config::{Config, RollbackConfig};
use crate::domain::{DeployInfo, ExecuteRequest, ExecutorOutcome};
use crate::retry::{Backoff, Try};
use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The executor of one `[service.rollback]` or `[service.drill_executor]`.
pub fn build(
    config: &Config,
    client: &reqwest::Client,
    r: &RollbackConfig,
) -> Arc<dyn RollbackExecutor> {
    match r {
        RollbackConfig::Webhook(w) => Arc::new(webhook::WebhookExecutor::new(
            client.clone(),
            w,
            config.executor_secret(w),
        )),
        RollbackConfig::Command(c) => Arc::new(command::CommandExecutor::new(c)),
        RollbackConfig::GithubWorkflow(g) => {
            Arc::new(github_workflow::WorkflowExecutor::new(client.clone(), g))
        }
        RollbackConfig::Flagger(_) => Arc::new(flagger::FlaggerGate),
    }
}

/// The key under which a service's drill executor is kept.
pub fn drill_executor_key(service: &str) -> String {
    format!("{service}#drill")
}

/// The rollback executor of each service that configures one, and each drill executor (keyed by
/// [`drill_executor_key`]).
pub fn executors(config: &Config) -> anyhow::Result<HashMap<String, Arc<dyn RollbackExecutor>>> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("canarybot/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut out: HashMap<String, Arc<dyn RollbackExecutor>> = HashMap::new();
    for s in &config.services {
        if let Some(r) = &s.rollback {
            out.insert(s.name.clone(), build(config, &client, r));
        }
        if let Some(r) = &s.drill_executor {
            out.insert(drill_executor_key(&s.name), build(config, &client, r));
        }
    }
    Ok(out)
}

/// The longest wait between two tries of an executor call, however many `retries` and however
/// long a `backoff`: a rollback must not sleep for hours before its last try.
pub const RETRY_CAP: Duration = Duration::from_secs(30);

/// Runs one executor call up to `1 + retries` times, doubling the wait from `backoff` (at most
/// [`RETRY_CAP`], jittered); every failure is worth another try. The last failure, with the
/// number of tries, when none succeeds.
pub async fn call_with_retries<F, Fut>(
    what: &'static str,
    deploy_id: &str,
    retries: u32,
    backoff: Duration,
    mut attempt: F,
) -> ExecutorOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ExecutorOutcome, String>>,
{
    let outcome = crate::retry::with_retries(
        Backoff::new(backoff, RETRY_CAP.max(backoff)),
        retries,
        |_| {
            let call = attempt();
            async move {
                match call.await {
                    Ok(outcome) => Try::Done(outcome),
                    Err(error) => Try::Again {
                        error,
                        retry_after: None,
                    },
                }
            }
        },
        |n, e, wait| tracing::warn!(deploy = %deploy_id, attempt = n, error = %e, ?wait, "{what} failed; trying again"),
    )
    .await;
    match outcome {
        Ok(o) => o,
        Err((error, attempts)) => {
            tracing::warn!(deploy = %deploy_id, attempts, error = %error, "{what} failed; giving up");
            ExecutorOutcome::Failed { error, attempts }
        }
    }
}

/// One call: the deploy, the decision, and whether it is a drill.
#[derive(Debug, Clone)]
pub struct ExecutorCall {
    pub deploy: DeployInfo,
    pub request: ExecuteRequest,
    pub drill: bool,
}

/// A deploy system that can roll back (and be told about promotions). Implementations retry as
/// their system needs and report one final outcome.
#[async_trait]
pub trait RollbackExecutor: Send + Sync {
    fn kind(&self) -> &str;
    async fn execute(&self, call: &ExecutorCall) -> ExecutorOutcome;
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn every_failure_is_tried_again_up_to_retries_then_the_last_one_is_kept() {
        let tries = AtomicU32::new(0);
        let outcome = call_with_retries("test call", "d", 2, Duration::from_millis(1), || {
            let n = tries.fetch_add(1, Ordering::SeqCst) + 1;
            async move { Err::<ExecutorOutcome, _>(format!("HTTP 500 on try {n}")) }
        })
        .await;
        assert_eq!(
            outcome,
            ExecutorOutcome::Failed {
                error: "HTTP 500 on try 3".into(),
                attempts: 3
            }
        );
        let tries = AtomicU32::new(0);
        let outcome = call_with_retries("test call", "d", 5, Duration::from_millis(1), || {
            let n = tries.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n < 2 {
                    Err("timeout".to_string())
                } else {
                    Ok(ExecutorOutcome::Accepted {
                        detail: "202".into(),
                    })
                }
            }
        })
        .await;
        assert_eq!(
            outcome,
            ExecutorOutcome::Accepted {
                detail: "202".into()
            }
        );
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_long_backoff_never_waits_past_the_cap() {
        let b = Backoff::new(
            Duration::from_secs(60),
            RETRY_CAP.max(Duration::from_secs(60)),
        );
        assert_eq!(b.full(10), Duration::from_secs(60));
        let b = Backoff::new(Duration::from_secs(1), RETRY_CAP);
        assert_eq!(b.full(10), RETRY_CAP);
    }
}
