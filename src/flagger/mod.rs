//! Flagger: its event webhook puts the canary's phases in the timeline, and its gates ask
//! canarybot whether to promote or roll back. Nothing here knows chat or other deploy systems.

pub mod hooks;

use crate::domain::ExecutorOutcome;
use crate::rollback::{ExecutorCall, RollbackExecutor};
use async_trait::async_trait;

/// Executor kind `flagger`: nothing to call; the decision opens the gate Flagger asks next.
pub struct FlaggerGate;

#[async_trait]
impl RollbackExecutor for FlaggerGate {
    fn kind(&self) -> &str {
        "flagger"
    }

    async fn execute(&self, call: &ExecutorCall) -> ExecutorOutcome {
        ExecutorOutcome::Accepted {
            detail: format!(
                "the {} gate is open; Flagger acts at its next check",
                call.request.action.as_str()
            ),
        }
    }
}
