//! The store: sqlx over SQLite (default) or PostgreSQL, through the `Any` driver with runtime
//! queries. Times are integers (UTC ms) so both backends read them the same way.

// The store's rooms (deploys, timeline, outbox, threads, deliveries, leases) see these through
// `use super::*`: one `Store`, one connection pool, one writer, split by what is stored.
use crate::domain::{DeployInfo, Event, EventData, Sample, State};
use exec::{Arg, Exec};
use group::Statement;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::time::Duration;

mod deliveries;
mod deploys;
mod exec;
mod gates;
mod group;
mod leases;
mod messages;
mod outbox;
mod owner;
mod reviews;
mod threads;
mod timeline;

pub use deploys::{ActiveRow, DeployRow, Drills, WatchRow};
pub use messages::PostedMessage;
pub use outbox::{Failed, NewOutbox, OutboxItem};
pub use owner::Owner;
pub use timeline::{Append, DeliveryKey};

pub mod stats;
pub use gates::ServiceEvent;
pub use reviews::{GateReview, MAX_ANSWER_ATTEMPTS};

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
    /// This store, as the outbox rows and leases it holds name it.
    holder: std::sync::Arc<str>,
}

impl Store {
    /// This process and store as its outbox rows and leases name it (see [`Owner`]): the one
    /// identity a replica has among those sharing the store.
    pub fn holder(&self) -> &str {
        &self.holder
    }

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
