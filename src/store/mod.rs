//! The store: sqlx over SQLite (default) or PostgreSQL, through the `Any` driver with runtime
//! queries. Times are integers (UTC ms) so both backends read them the same way.

use crate::domain::{DeployInfo, Event, EventData, Sample, State};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::time::Duration;

mod group;

pub mod stats;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Someone else appended to the deploy first; reload and try again.
    #[error("concurrent update of deploy {0}")]
    Conflict(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The inbound delivery named in the append was acted on before; nothing was written.
    #[error("delivery {0} was already processed")]
    Duplicate(String),
    /// A grouped commit failed as a whole (the store went away, the disk is full).
    #[error("database: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite: appends go through one writer that commits whatever is queued together (group
    /// commit: one sync to disk for many appends). PostgreSQL groups concurrent commits itself.
    writer: Option<group::GroupWriter>,
}

/// A list limit meaning "every row": the workers must see every active deploy, however many.
pub const ALL: i64 = i64::MAX;

/// A deploy row as listed.
#[derive(Debug, Clone)]
pub struct DeployRow {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub state: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub drill: bool,
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

/// A new outbox row.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub target: String,
    pub payload: String,
}

/// A pending outbox row.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub deploy_id: String,
    pub target: String,
    pub payload: String,
    /// Tries started so far: more than zero means an earlier try may have reached the platform.
    pub attempts: i64,
    pub next_at_ms: i64,
    pub created_at_ms: i64,
}

/// The inbound delivery (webhook, metric push, interaction) an append acts on, stored in the same
/// transaction so that a redelivery after a crash cannot act twice.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryKey<'a> {
    pub source: &'a str,
    pub id: &'a str,
}

/// Everything one input writes, in one transaction.
pub struct Append<'a> {
    pub deploy_id: &'a str,
    /// Set when this append creates the deploy.
    pub new_deploy: Option<&'a DeployInfo>,
    /// The last seq the caller saw; the append fails with `Conflict` if it moved.
    pub expected_last_seq: i64,
    pub events: &'a [Event],
    pub state: State,
    pub outbox: &'a [NewOutbox],
    pub samples: &'a [Sample],
    pub samples_at_ms: i64,
    pub now_ms: i64,
    /// Set when the append answers an inbound delivery; fails with `Duplicate` if it was seen.
    pub delivery: Option<DeliveryKey<'a>>,
}

impl Store {
    /// Connects, creating a SQLite file on first run, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (backend, url) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            let url = if url.contains("mode=") {
                url.to_string()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await?;
        let writer = (backend == Backend::Sqlite).then(|| group::GroupWriter::spawn(pool.clone()));
        let store = Store {
            pool,
            backend,
            writer,
        };
        match backend {
            Backend::Sqlite => {
                // WAL lets readers go on while one writer appends; it persists in the file.
                sqlx::query("PRAGMA journal_mode=WAL")
                    .execute(&store.pool)
                    .await?;
                sqlx::migrate!("./migrations/sqlite")
                    .run(&store.pool)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&store.pool)
                    .await?;
            }
        }
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The deploy's whole timeline, or `None` if there is no such deploy.
    pub async fn events(&self, deploy_id: &str) -> Result<Option<Vec<Event>>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, kind, actor, source, summary, details FROM events WHERE deploy_id = $1 ORDER BY seq",
        )
        .bind(deploy_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            let details: String = r.try_get("details")?;
            let details: serde_json::Value = serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("{deploy_id}: {e}")))?;
            let data = EventData::from_parts(&kind, details).map_err(StoreError::Corrupt)?;
            out.push(Event {
                seq: r.try_get("seq")?,
                at_ms: r.try_get("at_ms")?,
                actor: r.try_get("actor")?,
                source: r.try_get("source")?,
                summary: r.try_get("summary")?,
                data,
            });
        }
        Ok(Some(out))
    }

    /// Deploys and drills, newest first: what is going on, for the workers and chat commands.
    pub async fn deploys(
        &self,
        service: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeployRow>, StoreError> {
        self.deploys_where(service, state, Drills::Include, limit)
            .await
    }

    /// Deploys, newest first, with or without drills.
    pub async fn deploys_where(
        &self,
        service: Option<&str>,
        state: Option<&str>,
        drills: Drills,
        limit: i64,
    ) -> Result<Vec<DeployRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service, environment, version, state, created_at_ms, updated_at_ms, drill FROM deploys
             WHERE ($1 = '' OR service = $1) AND ($2 = '' OR state = $2) AND ($4 = 2 OR drill = $4)
             ORDER BY created_at_ms DESC, id DESC LIMIT $3",
        )
        .bind(service.unwrap_or(""))
        .bind(state.unwrap_or(""))
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
                    state: r.try_get("state")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                    drill: r.try_get::<i64, _>("drill")? != 0,
                })
            })
            .collect()
    }

    /// Appends events and their effects atomically. Fails with `Conflict` when another writer
    /// appended first (or created the same deploy).
    pub async fn append(&self, a: Append<'_>) -> Result<(), StoreError> {
        if let Some(writer) = &self.writer {
            return writer.append(group::OwnedAppend::from(&a)).await;
        }
        let mut tx = self.pool.begin().await?;
        write_append(&mut tx, &a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Undelivered outbox rows for one target, oldest first.
    pub async fn pending(&self, target: &str, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, deploy_id, target, payload, attempts, next_at_ms, created_at_ms FROM outbox
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
                })
            })
            .collect()
    }

    /// Takes an outbox row until `lease_until_ms` so that no other worker starts it meanwhile,
    /// counting the try. Returns false when someone else took it first.
    pub async fn claim(
        &self,
        id: i64,
        seen_next_at_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET next_at_ms = $1, attempts = attempts + 1
             WHERE id = $2 AND next_at_ms = $3 AND done_at_ms IS NULL AND dead = 0",
        )
        .bind(lease_until_ms)
        .bind(id)
        .bind(seen_next_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Extends the lease of a row whose try is still running.
    pub async fn renew(&self, id: i64, lease_until_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET next_at_ms = $1 WHERE id = $2 AND done_at_ms IS NULL")
            .bind(lease_until_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delivered(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET done_at_ms = $1, last_error = NULL WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed try and when to try again (the try was counted when it was claimed).
    pub async fn retry_later(
        &self,
        id: i64,
        next_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET next_at_ms = $1, last_error = $2 WHERE id = $3")
            .bind(next_at_ms)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn give_up(&self, id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET dead = 1, last_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
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

    pub async fn thread(
        &self,
        deploy_id: &str,
        platform: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query(
            "SELECT thread_ref FROM chat_threads WHERE deploy_id = $1 AND platform = $2",
        )
        .bind(deploy_id)
        .bind(platform)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("thread_ref")?),
            None => None,
        })
    }

    pub async fn set_thread(
        &self,
        deploy_id: &str,
        platform: &str,
        thread_ref: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_threads (deploy_id, platform, thread_ref) VALUES ($1, $2, $3)
             ON CONFLICT (deploy_id, platform) DO UPDATE SET thread_ref = excluded.thread_ref",
        )
        .bind(deploy_id)
        .bind(platform)
        .bind(thread_ref)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The deploy whose thread on `platform` is `thread_ref`.
    pub async fn deploy_by_thread(
        &self,
        platform: &str,
        thread_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query(
            "SELECT deploy_id FROM chat_threads WHERE platform = $1 AND thread_ref = $2",
        )
        .bind(platform)
        .bind(thread_ref)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("deploy_id")?),
            None => None,
        })
    }

    /// The deploy whose thread reference on `platform` ends with `/{last}` (a Discord thread id).
    pub async fn deploy_by_thread_end(
        &self,
        platform: &str,
        last: &str,
    ) -> Result<Option<String>, StoreError> {
        self.deploy_by_thread_like(platform, format!("%/{last}"))
            .await
    }

    /// The deploy whose thread reference on `platform` has `/{middle}/` inside (a root message id).
    pub async fn deploy_by_thread_middle(
        &self,
        platform: &str,
        middle: &str,
    ) -> Result<Option<String>, StoreError> {
        self.deploy_by_thread_like(platform, format!("%/{middle}/%"))
            .await
    }

    async fn deploy_by_thread_like(
        &self,
        platform: &str,
        pattern: String,
    ) -> Result<Option<String>, StoreError> {
        if pattern.len() < 4 || pattern[1..pattern.len() - 1].contains('%') || pattern.contains('_')
        {
            return Ok(None);
        }
        let r = sqlx::query(
            "SELECT deploy_id FROM chat_threads WHERE platform = $1 AND thread_ref LIKE $2",
        )
        .bind(platform)
        .bind(pattern)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match r {
            Some(r) => Some(r.try_get("deploy_id")?),
            None => None,
        })
    }

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
        sqlx::query(
            "INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source, delivery_id) DO UPDATE SET status = excluded.status, response = excluded.response
             WHERE deliveries.status = 0",
        )
        .bind(source)
        .bind(id)
        .bind(i64::from(status))
        .bind(response)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes the lease `name` until `until_ms` if it is free (absent or expired at `now_ms`), or
    /// renews it if `holder` holds it and `renew` is set. Returns whether `holder` has it now.
    pub async fn lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
        renew: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.until_ms <= $4 OR ($5 = 1 AND leases.holder = excluded.holder)",
        )
        .bind(name)
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms)
        .bind(i64::from(renew))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets deliveries seen before `before_ms`; returns how many.
    pub async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM deliveries WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Gives up every lease `holder` holds (a replica stopping), so others need not wait.
    pub async fn release_leases(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets leases that ran out before `before_ms` (one per deploy ever checked).
    pub async fn purge_leases(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM leases WHERE until_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Stored samples of one deploy, oldest first: `(criterion, at_ms, canary, baseline)`.
    pub async fn samples(
        &self,
        deploy_id: &str,
    ) -> Result<Vec<(String, i64, Option<f64>, Option<f64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT criterion, at_ms, canary, baseline FROM samples WHERE deploy_id = $1 ORDER BY id",
        )
        .bind(deploy_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    r.try_get("criterion")?,
                    r.try_get("at_ms")?,
                    r.try_get("canary")?,
                    r.try_get("baseline")?,
                ))
            })
            .collect()
    }
}

/// The writes of one append, inside the caller's transaction; an error leaves the transaction to
/// be rolled back (or rolled back to a savepoint) by the caller.
async fn write_append(conn: &mut sqlx::AnyConnection, a: &Append<'_>) -> Result<(), StoreError> {
    if let Some(d) = a.delivery {
        // Status 0: acted on, answer not recorded yet (the handler records it after commit).
        let fresh = sqlx::query(
                "INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ($1, $2, 0, '', $3)
                 ON CONFLICT (source, delivery_id) DO NOTHING",
            )
            .bind(d.source)
            .bind(d.id)
            .bind(a.now_ms)
            .execute(&mut *conn)
            .await?;
        if fresh.rows_affected() != 1 {
            return Err(StoreError::Duplicate(format!("{}:{}", d.source, d.id)));
        }
    }
    let last_seq = a
        .events
        .last()
        .map(|e| e.seq)
        .unwrap_or(a.expected_last_seq);
    if let Some(info) = a.new_deploy {
        let done = sqlx::query(
                "INSERT INTO deploys (id, service, environment, version, state, last_seq, created_at_ms, updated_at_ms, drill)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&info.id)
            .bind(&info.service)
            .bind(&info.environment)
            .bind(&info.version)
            .bind(a.state.as_str())
            .bind(last_seq)
            .bind(a.now_ms)
            .bind(i64::from(info.is_drill()))
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(a.deploy_id.to_string()));
        }
    } else {
        let done = sqlx::query(
                "UPDATE deploys SET last_seq = $1, state = $2, updated_at_ms = COALESCE($3, updated_at_ms) WHERE id = $4 AND last_seq = $5",
            )
            .bind(last_seq)
            .bind(a.state.as_str())
            // updated_at is the time of the last timeline event, as the timeline shows it.
            .bind(a.events.last().map(|e| e.at_ms))
            .bind(a.deploy_id)
            .bind(a.expected_last_seq)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(a.deploy_id.to_string()));
        }
    }
    for e in a.events {
        let details = serde_json::to_string(&e.data.details())
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        sqlx::query(
            "INSERT INTO events (deploy_id, seq, at_ms, kind, actor, source, summary, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.deploy_id)
        .bind(e.seq)
        .bind(e.at_ms)
        .bind(e.data.kind())
        .bind(&e.actor)
        .bind(&e.source)
        .bind(&e.summary)
        .bind(details)
        .execute(&mut *conn)
        .await?;
        if let EventData::VoteCast {
            voter,
            choice,
            reason,
            ..
        } = &e.data
        {
            sqlx::query(
                    "INSERT INTO votes (deploy_id, seq, voter, choice, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(a.deploy_id)
                .bind(e.seq)
                .bind(voter)
                .bind(choice.as_str())
                .bind(reason.clone())
                .bind(e.at_ms)
                .execute(&mut *conn)
                .await?;
        }
    }
    for s in a.samples {
        sqlx::query(
                "INSERT INTO samples (deploy_id, criterion, at_ms, canary, baseline) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(a.deploy_id)
            .bind(&s.criterion)
            .bind(a.samples_at_ms)
            .bind(s.canary)
            .bind(s.baseline)
            .execute(&mut *conn)
            .await?;
    }
    for o in a.outbox {
        sqlx::query(
                "INSERT INTO outbox (deploy_id, target, payload, created_at_ms, next_at_ms) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(a.deploy_id)
            .bind(&o.target)
            .bind(&o.payload)
            .bind(a.now_ms)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
