//! GitHub deployment protection rule reviews: recorded when asked, decided at once or held, and
//! answered to GitHub by a worker (so an answer survives a crash between deciding and sending).

use super::exec::Arg;
use super::{Store, StoreError};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GateReview {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub sha: Option<String>,
    pub callback_url: String,
    pub installation_id: i64,
    pub deploy_id: Option<String>,
    /// `held`, `approved`, `rejected`
    pub decision: String,
    pub comment: String,
    pub decided_by: String,
    pub requested_at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Tries of an answer before it is left for a person to see in the service's timeline.
pub const MAX_ANSWER_ATTEMPTS: i64 = 20;

/// The columns a review is read from (a macro, so the statements stay `&'static str`).
macro_rules! columns {
    () => {
        "id, service, environment, sha, callback_url, installation_id, deploy_id, decision, comment, decided_by, requested_at_ms, answered_at_ms, attempts, last_error"
    };
}

fn review(r: sqlx::any::AnyRow) -> Result<GateReview, StoreError> {
    Ok(GateReview {
        id: r.try_get("id")?,
        service: r.try_get("service")?,
        environment: r.try_get("environment")?,
        sha: r.try_get("sha")?,
        callback_url: r.try_get("callback_url")?,
        installation_id: r.try_get("installation_id")?,
        deploy_id: r.try_get("deploy_id")?,
        decision: r.try_get("decision")?,
        comment: r.try_get("comment")?,
        decided_by: r.try_get("decided_by")?,
        requested_at_ms: r.try_get("requested_at_ms")?,
        answered_at_ms: r.try_get("answered_at_ms")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
    })
}

impl Store {
    /// Records a review; `false` when one with this id exists (a redelivery, or GitHub asking
    /// again for the same deployment and environment).
    pub async fn insert_review(&self, r: &GateReview) -> Result<bool, StoreError> {
        let n = self
            .write(
                "INSERT INTO gate_reviews (id, service, environment, sha, callback_url, installation_id, deploy_id, decision, comment, decided_by, requested_at_ms, decided_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING",
                vec![
                    Arg::Text(r.id.clone()),
                    Arg::Text(r.service.clone()),
                    Arg::Text(r.environment.clone()),
                    Arg::MaybeText(r.sha.clone()),
                    Arg::Text(r.callback_url.clone()),
                    Arg::Int(r.installation_id),
                    Arg::MaybeText(r.deploy_id.clone()),
                    Arg::Text(r.decision.clone()),
                    Arg::Text(r.comment.clone()),
                    Arg::Text(r.decided_by.clone()),
                    Arg::Int(r.requested_at_ms),
                    Arg::MaybeInt((r.decision != "held").then_some(r.requested_at_ms)),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn review(&self, id: &str) -> Result<Option<GateReview>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM gate_reviews WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(review).transpose()
    }

    /// Held reviews, and decided ones GitHub has not been told of yet (oldest first).
    pub async fn open_reviews(&self) -> Result<Vec<GateReview>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM gate_reviews WHERE answered_at_ms IS NULL AND attempts < $1 ORDER BY requested_at_ms, id"
        ))
            .bind(MAX_ANSWER_ATTEMPTS)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(review).collect()
    }

    /// Decides a held review; `false` when it is not held (already decided).
    pub async fn decide_review(
        &self,
        id: &str,
        decision: &str,
        comment: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .write(
                "UPDATE gate_reviews SET decision = $1, comment = $2, decided_by = $3, decided_at_ms = $4
                 WHERE id = $5 AND decision = 'held'",
                vec![
                    Arg::Text(decision.to_string()),
                    Arg::Text(comment.to_string()),
                    Arg::Text(by.to_string()),
                    Arg::Int(now_ms),
                    Arg::Text(id.to_string()),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// GitHub has the answer (or refused it for good: `error`).
    pub async fn review_answered(
        &self,
        id: &str,
        now_ms: i64,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        self.write(
            "UPDATE gate_reviews SET answered_at_ms = $1, last_error = $2, attempts = attempts + 1 WHERE id = $3",
            vec![Arg::Int(now_ms), Arg::MaybeText(error), Arg::Text(id.to_string())],
        )
        .await?;
        Ok(())
    }

    /// A try that may work later.
    pub async fn review_failed(&self, id: &str, error: &str) -> Result<(), StoreError> {
        self.write(
            "UPDATE gate_reviews SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
            vec![Arg::Text(error.to_string()), Arg::Text(id.to_string())],
        )
        .await?;
        Ok(())
    }
}
