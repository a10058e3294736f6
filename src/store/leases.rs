//! Named leases (the ticker's, a deploy's checks): who may do a periodic job now.

use super::*;

impl Store {
    /// Takes the lease `name` until `until_ms` if it is free (absent or expired at `now_ms`, or on
    /// SQLite held by an earlier process), or renews it if `holder` holds it and `renew` is set. Returns whether `holder` has it now.
    pub async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
        renew: bool,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(
                "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
                 WHERE leases.until_ms <= $4 OR ($5 = 1 AND leases.holder = excluded.holder)
                   OR ($6 = 1 AND leases.holder <> excluded.holder)",
                vec![
                    Arg::Text(name.to_string()),
                    Arg::Text(holder.to_string()),
                    Arg::Int(until_ms),
                    Arg::Int(now_ms),
                    Arg::Int(i64::from(renew)),
                    // SQLite: one process runs, so another holder is an earlier, dead one.
                    Arg::Int(i64::from(self.backend == Backend::Sqlite)),
                ],
            )
            .await?;
        Ok(done == 1)
    }

    /// Gives up one lease, if `holder` holds it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.write(
            "DELETE FROM leases WHERE name = $1 AND holder = $2",
            vec![Arg::Text(name.to_string()), Arg::Text(holder.to_string())],
        )
        .await?;
        Ok(())
    }

    /// Gives up every lease `holder` holds (a replica stopping), so others need not wait.
    pub async fn release_leases(&self, holder: &str) -> Result<(), StoreError> {
        self.write(
            "DELETE FROM leases WHERE holder = $1",
            vec![Arg::Text(holder.to_string())],
        )
        .await?;
        Ok(())
    }

    /// Forgets leases that ran out before `before_ms` (one per deploy ever checked).
    pub async fn purge_leases(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(
            "DELETE FROM leases WHERE until_ms < $1",
            vec![Arg::Int(before_ms)],
        )
        .await
    }
}
