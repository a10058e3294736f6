//! Inbound deliveries already answered (webhook and interaction ids), for de-duplication.

use super::*;

impl Store {
    /// The first answer given to a delivery id, if it was seen.
    pub async fn delivery(
        &self,
        source: &str,
        id: &str,
    ) -> Result<Option<(u16, String)>, StoreError> {
        let r = sqlx::query(
            "SELECT status, response FROM deliveries WHERE source = $1 AND delivery_id = $2",
        )
        .bind(source)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => {
                let status: i64 = r.try_get("status")?;
                Some((u16::try_from(status).unwrap_or(500), r.try_get("response")?))
            }
            None => None,
        })
    }

    /// Records the answer to a delivery; the first answer recorded wins (an append that acted on
    /// the delivery leaves a placeholder, status 0, which the answer fills in).
    pub async fn record_delivery(
        &self,
        source: &str,
        id: &str,
        status: u16,
        response: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source, delivery_id) DO UPDATE SET status = excluded.status, response = excluded.response
             WHERE deliveries.status = 0",
            vec![
                Arg::Text(source.to_string()),
                Arg::Text(id.to_string()),
                Arg::Int(i64::from(status)),
                Arg::Text(response.to_string()),
                Arg::Int(now_ms),
            ],
        )
        .await?;
        Ok(())
    }

    /// Forgets deliveries seen before `before_ms`; returns how many.
    pub async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(
            "DELETE FROM deliveries WHERE at_ms < $1",
            vec![Arg::Int(before_ms)],
        )
        .await
    }
}
