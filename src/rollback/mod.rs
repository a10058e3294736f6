//! Rollback executors: how canarybot asks a deploy system to act on a decision.

pub mod command;
pub mod github;
pub mod webhook;
pub mod worker;

use crate::domain::{DeployInfo, ExecuteRequest, ExecutorOutcome};
use async_trait::async_trait;

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
