//! Executor kind `flagger`: Flagger carries the decision out itself, when it next asks
//! canarybot's gates (`flagger::hooks`).

use super::{ExecutorCall, RollbackExecutor};
use crate::domain::ExecutorOutcome;
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
