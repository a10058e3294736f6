//! The outbox: effects waiting to be delivered, claimed one try at a time.

use super::*;

/// A new outbox row.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub target: String,
    pub payload: String,
}

/// How a try failed, as [`Store::retry_later`] records it.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub error: &'a str,
    /// Some try so far may have reached the platform.
    pub maybe_sent: bool,
    /// The failure counts toward the doubling backoff (a 429 with its `Retry-After` does not).
    pub grows_backoff: bool,
}

/// A pending outbox row.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub deploy_id: String,
    pub target: String,
    pub payload: String,
    /// Tries started so far.
    pub attempts: i64,
    pub next_at_ms: i64,
    pub created_at_ms: i64,
    /// Who holds the row while a try runs (see [`Owner`]); `None` between tries.
    pub holder: Option<String>,
    /// An earlier try may have reached the platform (a crash or a timeout after sending), so
    /// this one looks for what it posted first.
    pub maybe_sent: bool,
    /// Failed tries that grow the backoff.
    pub failures: i64,
}

impl Store {
    /// Undelivered outbox rows for one target, oldest first.
    pub async fn pending(&self, target: &str, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, deploy_id, target, payload, attempts, next_at_ms, created_at_ms, holder, maybe_sent, failures FROM outbox
             WHERE target = $1 AND done_at_ms IS NULL AND dead = 0 ORDER BY id LIMIT $2",
        )
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    deploy_id: r.try_get("deploy_id")?,
                    target: r.try_get("target")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    next_at_ms: r.try_get("next_at_ms")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    holder: r.try_get("holder")?,
                    maybe_sent: r.try_get::<i64, _>("maybe_sent")? != 0,
                    failures: r.try_get("failures")?,
                })
            })
            .collect()
    }

    /// Whether a try of `item` may start at `now_ms`: it is due, or the process holding it is
    /// known to be dead. On SQLite only one process runs, so a row held by an earlier one is
    /// free at once; on PostgreSQL a replica takes over at once the rows of a process of its own
    /// host that no longer runs, and those of other hosts once their lease runs out.
    pub fn may_start(&self, item: &OutboxItem, now_ms: i64) -> bool {
        if item.next_at_ms <= now_ms {
            return true;
        }
        match item.holder.as_deref() {
            Some(h) if h != &*self.holder => match self.backend {
                Backend::Sqlite => true,
                Backend::Postgres => Owner::me().is_gone(h),
            },
            _ => false,
        }
    }

    /// Takes an outbox row until `lease_until_ms` so that no other worker starts it meanwhile,
    /// counting the try and marking it as one that may reach the platform. Returns false when
    /// someone else took it first.
    pub async fn claim(
        &self,
        id: i64,
        seen_next_at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(
                "UPDATE outbox SET next_at_ms = $1, attempts = attempts + 1, holder = $4, maybe_sent = 1
                 WHERE id = $2 AND next_at_ms = $3 AND done_at_ms IS NULL AND dead = 0",
                vec![
                    Arg::Int(lease_until_ms),
                    Arg::Int(id),
                    Arg::Int(seen_next_at_ms),
                    Arg::Text(self.holder.to_string()),
                ],
            )
            .await?;
        Ok(done == 1)
    }

    /// Extends the lease of a row whose try is still running here (not if another took it over).
    pub async fn renew(&self, id: i64, lease_until_ms: i64) -> Result<(), StoreError> {
        self.write(
            "UPDATE outbox SET next_at_ms = $1 WHERE id = $2 AND done_at_ms IS NULL AND holder = $3",
            vec![
                Arg::Int(lease_until_ms),
                Arg::Int(id),
                Arg::Text(self.holder.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn delivered(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.write(
            "UPDATE outbox SET done_at_ms = $1, last_error = NULL WHERE id = $2",
            vec![Arg::Int(now_ms), Arg::Int(id)],
        )
        .await?;
        Ok(())
    }

    /// Records a failed try and when to try again (the try was counted when it was claimed),
    /// whether some try so far may have reached the platform, and whether this failure grows
    /// the backoff.
    pub async fn retry_later(
        &self,
        id: i64,
        next_at_ms: i64,
        failed: Failed<'_>,
    ) -> Result<(), StoreError> {
        self.write(
            "UPDATE outbox SET next_at_ms = $1, last_error = $2, holder = NULL, maybe_sent = $4,
               failures = failures + $5 WHERE id = $3",
            vec![
                Arg::Int(next_at_ms),
                Arg::Text(failed.error.to_string()),
                Arg::Int(id),
                Arg::Int(i64::from(failed.maybe_sent)),
                Arg::Int(i64::from(failed.grows_backoff)),
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn give_up(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.write(
            "UPDATE outbox SET dead = 1, last_error = $1 WHERE id = $2",
            vec![Arg::Text(error.to_string()), Arg::Int(id)],
        )
        .await?;
        Ok(())
    }

    /// Counts of undelivered rows per target (diagnostics, tests).
    pub async fn outbox_backlog(&self) -> Result<i64, StoreError> {
        let r =
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE done_at_ms IS NULL AND dead = 0")
                .fetch_one(&self.pool)
                .await?;
        Ok(r.try_get("n")?)
    }
}
