//! Figures about the store for `/metrics`: how deep the outbox is, per target.

use super::{Store, StoreError};
use sqlx::Row;

/// Undelivered outbox rows of one target (`chat:slack`, `chat:discord`, `executor`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxDepth {
    pub target: String,
    /// Rows neither delivered nor given up.
    pub pending: i64,
    /// When the oldest of them was written (UTC ms).
    pub oldest_created_at_ms: i64,
}

impl Store {
    /// Undelivered outbox rows grouped by target, with the age of the oldest; targets with none
    /// are absent.
    pub async fn outbox_depth(&self) -> Result<Vec<OutboxDepth>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM outbox
             WHERE done_at_ms IS NULL AND dead = 0 GROUP BY target ORDER BY target",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxDepth {
                    target: r.try_get("target")?,
                    pending: r.try_get("n")?,
                    oldest_created_at_ms: r.try_get("oldest")?,
                })
            })
            .collect()
    }
}
