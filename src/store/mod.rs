//! The store: sqlx over SQLite (default) or PostgreSQL, through the `Any` driver with runtime
//! queries. Times are integers (UTC ms) so both backends read them the same way.

use crate::domain::{DeployInfo, Event, EventData, Sample, State};
use exec::{Arg, Exec};
use group::Statement;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::time::Duration;

mod exec;
mod group;
mod owner;

pub use owner::Owner;

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
    /// SQLite's library refused a write of the writer's thread.
    #[error("database: {0}")]
    Lite(String),
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
    /// This store, as the outbox rows it holds name it.
    holder: std::sync::Arc<str>,
}

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
        let mut store = Store {
            pool,
            backend,
            writer: None,
            holder: Owner::new_store().text().into(),
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
                let file: Option<String> = sqlx::query("PRAGMA database_list")
                    .fetch_all(&store.pool)
                    .await?
                    .iter()
                    .find(|r| r.try_get::<String, _>("name").is_ok_and(|n| n == "main"))
                    .and_then(|r| r.try_get::<String, _>("file").ok())
                    .filter(|f| !f.is_empty());
                // The writer opens the file a second time; an in-memory database would be a
                // different one for each connection.
                let Some(file) = file else {
                    return Err(StoreError::Unavailable(
                        "database.url: SQLite needs a file (sqlite://path/to/canarybot.db), not an in-memory database".into(),
                    ));
                };
                store.writer = Some(group::GroupWriter::spawn(std::path::Path::new(&file))?);
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
        let events = self.events_after(deploy_id, 0).await?;
        Ok((!events.is_empty()).then_some(events))
    }

    /// The deploy's events after `seq`, in order (none when there are none, or no such deploy).
    ///
    /// The database writes the rows out as one JSON array, each event's data in the shape
    /// `EventData::from_parts` reads (`{"kind": kind, "details": …}`, the stored text as it is):
    /// a timeline of 10,000 events then costs one row through the driver instead of 10,000, and
    /// one parse.
    pub async fn events_after(&self, deploy_id: &str, seq: i64) -> Result<Vec<Event>, StoreError> {
        let sql = match self.backend {
            // No ORDER BY in the aggregate: sorting megabytes of text in SQLite costs more than
            // sorting the (already ordered) events here.
            Backend::Sqlite => {
                "SELECT COALESCE('[' || group_concat('[' || seq || ',' || at_ms || ',' || json_quote(actor) || ','
                   || json_quote(source) || ',' || json_quote(summary) || ',{\"kind\":'
                   || json_quote(kind) || ',\"details\":' || details || '}]', ',') || ']', '[]') AS timeline
                 FROM events WHERE deploy_id = $1 AND seq > $2"
            }
            Backend::Postgres => {
                "SELECT COALESCE('[' || string_agg('[' || seq || ',' || at_ms || ',' || to_json(actor)::text || ','
                   || to_json(source)::text || ',' || to_json(summary)::text || ',{\"kind\":'
                   || to_json(kind)::text || ',\"details\":' || details || '}]', ',' ORDER BY seq) || ']', '[]') AS timeline
                 FROM events WHERE deploy_id = $1 AND seq > $2"
            }
        };
        let row = sqlx::query(sql)
            .bind(deploy_id)
            .bind(seq)
            .fetch_one(&self.pool)
            .await?;
        let text: String = row.try_get("timeline")?;
        let rows: Vec<(i64, i64, String, String, String, EventData)> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{deploy_id}: {e}")))?;
        let mut events: Vec<Event> = rows
            .into_iter()
            .map(|(seq, at_ms, actor, source, summary, data)| Event {
                seq,
                at_ms,
                actor,
                source,
                summary,
                data,
            })
            .collect();
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

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

    /// Appends events and their effects atomically. Fails with `Conflict` when another writer
    /// appended first (or created the same deploy).
    pub async fn append(&self, a: Append<'_>) -> Result<(), StoreError> {
        if let Some(writer) = &self.writer {
            return writer.append(group::OwnedAppend::from(&a)).await;
        }
        let mut tx = self.pool.begin().await?;
        write_append(&mut *tx, &a).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs one write durably: on SQLite with the writer's next group (see `group`), on
    /// PostgreSQL on its own. Returns the rows changed.
    async fn write(&self, sql: &'static str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let statement = Statement { sql, args };
        match &self.writer {
            Some(writer) => writer.statement(statement).await,
            None => {
                let mut conn = self.pool.acquire().await?;
                statement.run(&mut *conn).await
            }
        }
    }

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
        self.write(
            "INSERT INTO chat_threads (deploy_id, platform, thread_ref) VALUES ($1, $2, $3)
             ON CONFLICT (deploy_id, platform) DO UPDATE SET thread_ref = excluded.thread_ref",
            vec![
                Arg::Text(deploy_id.to_string()),
                Arg::Text(platform.to_string()),
                Arg::Text(thread_ref.to_string()),
            ],
        )
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

    /// Forgets deliveries seen before `before_ms`; returns how many.
    pub async fn purge_deliveries(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(
            "DELETE FROM deliveries WHERE at_ms < $1",
            vec![Arg::Int(before_ms)],
        )
        .await
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

    /// Stored samples of one deploy, oldest first: `(criterion, at_ms, canary, baseline)`.
    /// Read as one JSON array built by the database, as `events_after` does.
    pub async fn samples(
        &self,
        deploy_id: &str,
    ) -> Result<Vec<(String, i64, Option<f64>, Option<f64>)>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COALESCE('[' || group_concat('[' || id || ',' || json_quote(criterion) || ',' || at_ms || ','
                   || COALESCE(json_quote(canary), 'null') || ',' || COALESCE(json_quote(baseline), 'null') || ']', ',')
                   || ']', '[]') AS samples
                 FROM samples WHERE deploy_id = $1"
            }
            // Only finite values are stored; anything else would not be JSON, so it reads as no value.
            Backend::Postgres => {
                "SELECT COALESCE('[' || string_agg('[' || id || ',' || to_json(criterion)::text || ',' || at_ms || ','
                   || CASE WHEN canary IS NULL OR canary IN ('NaN', 'Infinity', '-Infinity') THEN 'null' ELSE canary::text END || ','
                   || CASE WHEN baseline IS NULL OR baseline IN ('NaN', 'Infinity', '-Infinity') THEN 'null' ELSE baseline::text END
                   || ']', ',') || ']', '[]') AS samples
                 FROM samples WHERE deploy_id = $1"
            }
        };
        let row = sqlx::query(sql)
            .bind(deploy_id)
            .fetch_one(&self.pool)
            .await?;
        let text: String = row.try_get("samples")?;
        type Stored = (i64, String, i64, Option<f64>, Option<f64>);
        let mut rows: Vec<Stored> = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("{deploy_id} samples: {e}")))?;
        rows.sort_by_key(|r| r.0);
        Ok(rows
            .into_iter()
            .map(|(_, criterion, at_ms, canary, baseline)| (criterion, at_ms, canary, baseline))
            .collect())
    }
}

/// The writes of one append, inside the caller's transaction. An append refused by its own
/// checks (a duplicate delivery, a concurrent update) leaves nothing behind, so a group needs no
/// savepoint for those; any other error leaves the transaction to be rolled back (or rolled back
/// to a savepoint) by the caller.
async fn write_append<E: Exec>(conn: &mut E, a: &Append<'_>) -> Result<(), StoreError> {
    let id = || Arg::Text(a.deploy_id.to_string());
    if let Some(d) = a.delivery {
        // Status 0: acted on, answer not recorded yet (the handler records it after commit).
        let fresh = conn
            .exec(
                "INSERT INTO deliveries (source, delivery_id, status, response, at_ms) VALUES ($1, $2, 0, '', $3)
                 ON CONFLICT (source, delivery_id) DO NOTHING",
                &[
                    Arg::Text(d.source.to_string()),
                    Arg::Text(d.id.to_string()),
                    Arg::Int(a.now_ms),
                ],
            )
            .await?;
        if fresh != 1 {
            return Err(StoreError::Duplicate(format!("{}:{}", d.source, d.id)));
        }
    }
    let last_seq = a
        .events
        .last()
        .map(|e| e.seq)
        .unwrap_or(a.expected_last_seq);
    let moved = match a.new_deploy {
        Some(info) => {
            conn.exec(
                "INSERT INTO deploys (id, service, environment, version, state, last_seq, created_at_ms, updated_at_ms, drill)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (id) DO NOTHING",
                &[
                    Arg::Text(info.id.clone()),
                    Arg::Text(info.service.clone()),
                    Arg::Text(info.environment.clone()),
                    Arg::Text(info.version.clone()),
                    Arg::Text(a.state.as_str().to_string()),
                    Arg::Int(last_seq),
                    Arg::Int(a.now_ms),
                    Arg::Int(i64::from(info.is_drill())),
                ],
            )
            .await?
        }
        None => {
            conn.exec(
                "UPDATE deploys SET last_seq = $1, state = $2, updated_at_ms = COALESCE($3, updated_at_ms) WHERE id = $4 AND last_seq = $5",
                &[
                    Arg::Int(last_seq),
                    Arg::Text(a.state.as_str().to_string()),
                    // updated_at is the time of the last timeline event, as the timeline shows it.
                    Arg::MaybeInt(a.events.last().map(|e| e.at_ms)),
                    id(),
                    Arg::Int(a.expected_last_seq),
                ],
            )
            .await?
        }
    };
    if moved != 1 {
        if let Some(d) = a.delivery {
            // Take back the delivery row written above: the caller retries with it.
            conn.exec(
                "DELETE FROM deliveries WHERE source = $1 AND delivery_id = $2",
                &[Arg::Text(d.source.to_string()), Arg::Text(d.id.to_string())],
            )
            .await?;
        }
        return Err(StoreError::Conflict(a.deploy_id.to_string()));
    }
    // One statement for all of the append's events, samples or outbox rows (in chunks: SQLite
    // takes at most 32,766 values in one statement).
    for chunk in a.events.chunks(500) {
        let mut args = vec![id()];
        for e in chunk {
            args.extend([
                Arg::Int(e.seq),
                Arg::Int(e.at_ms),
                Arg::Text(e.data.kind().to_string()),
                Arg::Text(e.actor.clone()),
                Arg::Text(e.source.clone()),
                Arg::Text(e.summary.clone()),
                Arg::Text(e.data.details_json()),
            ]);
        }
        let sql = values(
            "INSERT INTO events (deploy_id, seq, at_ms, kind, actor, source, summary, details) VALUES ",
            chunk.len(),
            |n| {
                format!(
                    "($1, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n * 7 + 2,
                    n * 7 + 3,
                    n * 7 + 4,
                    n * 7 + 5,
                    n * 7 + 6,
                    n * 7 + 7,
                    n * 7 + 8
                )
            },
        );
        conn.exec(&sql, &args).await?;
    }
    for e in a.events {
        if let EventData::VoteCast {
            voter,
            choice,
            reason,
            ..
        } = &e.data
        {
            conn.exec(
                "INSERT INTO votes (deploy_id, seq, voter, choice, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    id(),
                    Arg::Int(e.seq),
                    Arg::Text(voter.clone()),
                    Arg::Text(choice.as_str().to_string()),
                    Arg::MaybeText(reason.clone()),
                    Arg::Int(e.at_ms),
                ],
            )
            .await?;
        }
    }
    for chunk in a.samples.chunks(500) {
        let mut args = vec![id(), Arg::Int(a.samples_at_ms)];
        for s in chunk {
            args.extend([
                Arg::Text(s.criterion.clone()),
                Arg::MaybeReal(s.canary),
                Arg::MaybeReal(s.baseline),
            ]);
        }
        let sql = values(
            "INSERT INTO samples (deploy_id, criterion, at_ms, canary, baseline) VALUES ",
            chunk.len(),
            |n| {
                format!(
                    "($1, ${}, $2, NULLIF(${}, 'NaN'), NULLIF(${}, 'NaN'))",
                    n * 3 + 3,
                    n * 3 + 4,
                    n * 3 + 5
                )
            },
        );
        conn.exec(&sql, &args).await?;
    }
    for chunk in a.outbox.chunks(500) {
        let mut args = vec![id(), Arg::Int(a.now_ms)];
        for o in chunk {
            args.extend([Arg::Text(o.target.clone()), Arg::Text(o.payload.clone())]);
        }
        let sql = values(
            "INSERT INTO outbox (deploy_id, target, payload, created_at_ms, next_at_ms) VALUES ",
            chunk.len(),
            |n| format!("($1, ${}, ${}, $2, $2)", n * 2 + 3, n * 2 + 4),
        );
        conn.exec(&sql, &args).await?;
    }
    Ok(())
}

/// `head` followed by `rows` tuples of placeholders, the n-th made by `row(n)`.
fn values(head: &str, rows: usize, row: impl Fn(usize) -> String) -> String {
    let mut sql = String::from(head);
    for n in 0..rows {
        if n > 0 {
            sql.push(',');
        }
        sql.push_str(&row(n));
    }
    sql
}

#[cfg(test)]
mod takeover_tests {
    use super::*;

    async fn sqlite(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Store::connect(&url).await.expect("store")
    }

    /// On SQLite only one process runs: what an earlier one held is free for the next at once.
    #[tokio::test]
    async fn on_sqlite_a_restart_takes_over_what_the_earlier_process_held() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = sqlite(&dir).await;
        sqlx::query(
            "INSERT INTO outbox (deploy_id, target, payload, created_at_ms, next_at_ms) VALUES ('d', 'executor', '{}', 0, 0)",
        )
        .execute(&before.pool)
        .await
        .expect("row");
        let now = 1_000;
        let item = before.pending("executor", 10).await.expect("pending")[0].clone();
        assert!(before.claim(item.id, 0, now + 8_000).await.expect("claim"));
        assert!(
            before
                .lease("ticker", "earlier", now, now + 6_000, true)
                .await
                .expect("lease")
        );
        let held = before.pending("executor", 10).await.expect("pending")[0].clone();
        assert!(held.maybe_sent, "a claimed try may reach the platform");
        assert!(!before.may_start(&held, now), "its own hold is respected");
        before.close().await;

        let after = sqlite(&dir).await;
        let held = after.pending("executor", 10).await.expect("pending")[0].clone();
        assert!(
            after.may_start(&held, now),
            "the dead process's hold is not waited out"
        );
        assert!(
            after
                .claim(held.id, held.next_at_ms, now + 8_000)
                .await
                .expect("claim")
        );
        let mine = after.pending("executor", 10).await.expect("pending")[0].clone();
        assert!(!after.may_start(&mine, now), "and now it is held again");
        assert!(
            after
                .lease("ticker", "later", now, now + 6_000, true)
                .await
                .expect("lease")
        );
        assert!(
            !after
                .lease("ticker", "later", now, now + 6_000, false)
                .await
                .expect("lease")
        );
        // A clean refusal: nothing reached the platform, and the wait does not grow.
        let failed = Failed {
            error: "429",
            maybe_sent: false,
            grows_backoff: false,
        };
        after
            .retry_later(mine.id, now + 1_000, failed)
            .await
            .expect("retry");
        let waiting = after.pending("executor", 10).await.expect("pending")[0].clone();
        assert_eq!(
            (waiting.holder, waiting.maybe_sent, waiting.failures),
            (None, false, 0)
        );
        after.close().await;
    }
}
