//! Deploys as rows: the lists the workers, the API and chat commands read.

use super::*;
use crate::domain::NewerDeploy;

/// A deploy row as listed.
#[derive(Debug, Clone)]
pub struct DeployRow {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub state: State,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub drill: bool,
}

/// A deploy in one of the states the workers watch: what they need to know without reading it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ActiveRow {
    pub id: String,
    pub service: String,
    pub state: State,
    /// The last seq of its timeline: a snapshot at this seq is current.
    pub last_seq: i64,
    pub drill: i64,
}

/// Whether a list of deploys holds drills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drills {
    /// Real deploys only: what lists and figures mean unless asked.
    Exclude,
    Include,
    Only,
}

impl Drills {
    fn code(self) -> i64 {
        match self {
            Drills::Exclude => 0,
            Drills::Only => 1,
            Drills::Include => 2,
        }
    }
}

impl Store {
    /// Every deploy in one of `states` (at most three), for the workers that go over all of them
    /// several times a second: one row through the driver, built by the database as JSON (as
    /// `events_after` does), however many deploys there are.
    pub async fn active(&self, states: &[State]) -> Result<Vec<ActiveRow>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COALESCE('[' || group_concat(json_object('id', id, 'service', service, 'state', state, 'last_seq', last_seq, 'drill', drill)) || ']', '[]') AS rows
                 FROM deploys WHERE state IN ($1, $2, $3)"
            }
            Backend::Postgres => {
                "SELECT COALESCE(json_agg(json_build_object('id', id, 'service', service, 'state', state, 'last_seq', last_seq, 'drill', drill))::text, '[]') AS rows
                 FROM deploys WHERE state IN ($1, $2, $3)"
            }
        };
        let Some(first) = states.first() else {
            return Ok(Vec::new());
        };
        let state = |i: usize| states.get(i).unwrap_or(first).as_str();
        let row = sqlx::query(sql)
            .bind(state(0))
            .bind(state(1))
            .bind(state(2))
            .fetch_one(&self.pool)
            .await?;
        let text: String = row.try_get("rows")?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("deploys: {e}")))
    }

    /// Deploys and drills, newest first: what is going on, for the workers and chat commands.
    pub async fn deploys(
        &self,
        service: Option<&str>,
        state: Option<State>,
        limit: i64,
    ) -> Result<Vec<DeployRow>, StoreError> {
        self.deploys_where(service, state, Drills::Include, limit)
            .await
    }

    /// Deploys, newest first, with or without drills.
    pub async fn deploys_where(
        &self,
        service: Option<&str>,
        state: Option<State>,
        drills: Drills,
        limit: i64,
    ) -> Result<Vec<DeployRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service, environment, version, state, created_at_ms, updated_at_ms, drill FROM deploys
             WHERE ($1 = '' OR service = $1) AND ($2 = '' OR state = $2) AND ($4 = 2 OR drill = $4)
             ORDER BY created_at_ms DESC, id DESC LIMIT $3",
        )
        .bind(service.unwrap_or(""))
        .bind(state.map_or("", State::as_str))
        .bind(limit)
        .bind(drills.code())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeployRow {
                    id: r.try_get("id")?,
                    service: r.try_get("service")?,
                    environment: r.try_get("environment")?,
                    version: r.try_get("version")?,
                    state: r
                        .try_get::<String, _>("state")?
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("deploys.state: {e}")))?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                    drill: r.try_get::<i64, _>("drill")? != 0,
                })
            })
            .collect()
    }

    /// The latest real deploy of `service` in `environment` started after `started_at_ms`, other
    /// than `id`, that is not rolled back: what rolling back `id` would also undo. Deploys that
    /// started in the same millisecond are not "after".
    pub async fn newer_deploy(
        &self,
        id: &str,
        service: &str,
        environment: &str,
        started_at_ms: i64,
    ) -> Result<Option<NewerDeploy>, StoreError> {
        let row = sqlx::query(
            "SELECT id, version, created_at_ms FROM deploys
             WHERE service = $1 AND environment = $2 AND id <> $3 AND created_at_ms > $4
               AND drill = 0 AND state NOT IN ($5, $6)
             ORDER BY created_at_ms DESC, id DESC LIMIT 1",
        )
        .bind(service)
        .bind(environment)
        .bind(id)
        .bind(started_at_ms)
        .bind(State::RolledBack.as_str())
        .bind(State::RollbackVerified.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(NewerDeploy {
                id: r.try_get("id")?,
                version: r.try_get("version")?,
                started_at_ms: r.try_get("created_at_ms")?,
            })
        })
        .transpose()
    }

    /// Promoted deploys whose watch has not ended, oldest first: what the watch loop checks.
    pub async fn open_watches(&self) -> Result<Vec<WatchRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service, environment, last_seq, watch_until_ms FROM deploys
             WHERE watch_until_ms IS NOT NULL ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(WatchRow {
                    id: r.try_get("id")?,
                    service: r.try_get("service")?,
                    environment: r.try_get("environment")?,
                    last_seq: r.try_get("last_seq")?,
                    until_ms: r.try_get("watch_until_ms")?,
                })
            })
            .collect()
    }

    /// The deploys of `service` (in `environment`, when given) whose watch is open, each the
    /// newest of its environment: where an alert about the service goes when no canary runs.
    pub async fn watched(
        &self,
        service: &str,
        environment: Option<&str>,
    ) -> Result<Vec<WatchRow>, StoreError> {
        let mut newest: Vec<WatchRow> = Vec::new();
        for row in self.open_watches().await? {
            if row.service != service || environment.is_some_and(|e| e != row.environment) {
                continue;
            }
            // Oldest first: a newer watched deploy of the same environment replaces it.
            newest.retain(|r| r.environment != row.environment);
            newest.push(row);
        }
        Ok(newest)
    }

    /// How many watch checks are stored for `deploy_id` (each stores its readings as samples
    /// under `watch:<criterion>` at the check's time).
    pub async fn watch_checks(&self, deploy_id: &str) -> Result<u32, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT at_ms) AS n FROM samples WHERE deploy_id = $1 AND criterion LIKE 'watch:%'",
        )
        .bind(deploy_id)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }
}

/// A promoted deploy whose watch is open.
#[derive(Debug, Clone)]
pub struct WatchRow {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub last_seq: i64,
    pub until_ms: i64,
}
