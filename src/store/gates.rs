//! What the gate reads and writes: freezes people set, a service's own timeline, and the builds
//! promoted in an environment.

use super::exec::Arg;
use super::{Store, StoreError};
use crate::domain::freeze::{Freeze, FreezeScope};
use sqlx::Row;

/// One entry of a service's own timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ServiceEvent {
    pub id: i64,
    pub service: String,
    pub at_ms: i64,
    /// `freeze_set`, `freeze_lifted`, `gate_approved`, `gate_rejected`, `gate_held`, …
    pub kind: String,
    pub actor: String,
    pub summary: String,
    pub details: serde_json::Value,
}

fn scope_text(scope: &FreezeScope) -> String {
    scope.label().to_string()
}

fn scope_of(text: String) -> FreezeScope {
    if text == "all" {
        FreezeScope::All
    } else {
        FreezeScope::Service(text)
    }
}

impl Store {
    pub async fn add_freeze(&self, f: &Freeze) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO freezes (id, scope, by_id, by_name, reason, at_ms, until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Arg::Text(f.id.clone()),
                Arg::Text(scope_text(&f.scope)),
                Arg::Text(f.by.clone()),
                Arg::Text(f.by_name.clone()),
                Arg::MaybeText(f.reason.clone()),
                Arg::Int(f.at_ms),
                Arg::MaybeInt(f.until_ms),
            ],
        )
        .await?;
        Ok(())
    }

    /// Freezes not lifted and not run out at `now_ms`, oldest first.
    pub async fn active_freezes(&self, now_ms: i64) -> Result<Vec<Freeze>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, scope, by_id, by_name, reason, at_ms, until_ms FROM freezes
             WHERE lifted_at_ms IS NULL AND (until_ms IS NULL OR until_ms > $1)
             ORDER BY at_ms, id",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Freeze {
                    id: r.try_get("id")?,
                    scope: scope_of(r.try_get("scope")?),
                    by: r.try_get("by_id")?,
                    by_name: r.try_get("by_name")?,
                    reason: r.try_get("reason")?,
                    at_ms: r.try_get("at_ms")?,
                    until_ms: r.try_get("until_ms")?,
                })
            })
            .collect()
    }

    /// Lifts the active freezes of exactly this scope (`all` lifts the freezes of everything,
    /// not each service's own). Returns how many were lifted.
    pub async fn lift_freezes(
        &self,
        scope: &FreezeScope,
        by: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.write(
            "UPDATE freezes SET lifted_at_ms = $1, lifted_by = $2
             WHERE scope = $3 AND lifted_at_ms IS NULL AND (until_ms IS NULL OR until_ms > $4)",
            vec![
                Arg::Int(now_ms),
                Arg::Text(by.to_string()),
                Arg::Text(scope_text(scope)),
                Arg::Int(now_ms),
            ],
        )
        .await
    }

    pub async fn append_service_event(
        &self,
        service: &str,
        at_ms: i64,
        kind: &str,
        actor: &str,
        summary: &str,
        details: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO service_events (service, at_ms, kind, actor, summary, details) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Arg::Text(service.to_string()),
                Arg::Int(at_ms),
                Arg::Text(kind.to_string()),
                Arg::Text(actor.to_string()),
                Arg::Text(summary.to_string()),
                Arg::Text(details.to_string()),
            ],
        )
        .await?;
        Ok(())
    }

    /// A service's own timeline, oldest first, the newest `limit` entries.
    pub async fn service_events(
        &self,
        service: &str,
        limit: i64,
    ) -> Result<Vec<ServiceEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service, at_ms, kind, actor, summary, details FROM service_events
             WHERE service = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(service)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(ServiceEvent {
                    id: r.try_get("id")?,
                    service: r.try_get("service")?,
                    at_ms: r.try_get("at_ms")?,
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    summary: r.try_get("summary")?,
                    details: serde_json::from_str(&details)
                        .map_err(|e| StoreError::Corrupt(format!("service_events.details: {e}")))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.reverse();
        Ok(out)
    }

    /// The newest deploy (not a drill) of this service in this environment that was promoted
    /// with this sha.
    pub async fn promoted_build(
        &self,
        service: &str,
        environment: &str,
        sha: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT id FROM deploys
             WHERE service = $1 AND environment = $2 AND sha = $3 AND state = 'promoted' AND drill = 0
             ORDER BY created_at_ms DESC, id DESC LIMIT 1",
        )
        .bind(service)
        .bind(environment)
        .bind(sha)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("id")).transpose().map_err(Into::into)
    }
}
