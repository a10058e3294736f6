//! Group commit for SQLite: one task takes every append that is waiting, writes each inside its
//! own savepoint of one transaction, and commits once — one sync to disk for the whole group, so
//! durable ingest is bounded by the disk's sync rate divided by the group size, not multiplied.
//! An append that fails (a concurrent-update conflict, a duplicate delivery) rolls back only its
//! savepoint; the others commit.

use super::{Append, DeliveryKey, NewOutbox, StoreError, write_append};
use crate::domain::{DeployInfo, Event, Sample, State};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// The most appends committed together.
const MAX_GROUP: usize = 256;

/// An append that owns its data, to travel to the writer.
pub(super) struct OwnedAppend {
    deploy_id: String,
    new_deploy: Option<DeployInfo>,
    expected_last_seq: i64,
    events: Vec<Event>,
    state: State,
    outbox: Vec<NewOutbox>,
    samples: Vec<Sample>,
    samples_at_ms: i64,
    now_ms: i64,
    delivery: Option<(String, String)>,
}

impl From<&Append<'_>> for OwnedAppend {
    fn from(a: &Append<'_>) -> Self {
        OwnedAppend {
            deploy_id: a.deploy_id.to_string(),
            new_deploy: a.new_deploy.cloned(),
            expected_last_seq: a.expected_last_seq,
            events: a.events.to_vec(),
            state: a.state,
            outbox: a.outbox.to_vec(),
            samples: a.samples.to_vec(),
            samples_at_ms: a.samples_at_ms,
            now_ms: a.now_ms,
            delivery: a.delivery.map(|d| (d.source.to_string(), d.id.to_string())),
        }
    }
}

impl OwnedAppend {
    fn view(&self) -> Append<'_> {
        Append {
            deploy_id: &self.deploy_id,
            new_deploy: self.new_deploy.as_ref(),
            expected_last_seq: self.expected_last_seq,
            events: &self.events,
            state: self.state,
            outbox: &self.outbox,
            samples: &self.samples,
            samples_at_ms: self.samples_at_ms,
            now_ms: self.now_ms,
            delivery: self.delivery.as_ref().map(|(source, id)| DeliveryKey {
                source: source.as_str(),
                id: id.as_str(),
            }),
        }
    }
}

/// A value bound to a statement the writer runs for someone else.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// One statement written for someone else (an outbox claim, a recorded answer, a lease): it joins
/// the next group rather than taking SQLite's write lock on its own, which would make it and the
/// writer wait on each other (SQLite's busy handler sleeps) and cost a sync of its own.
pub(crate) struct Statement {
    pub(crate) sql: &'static str,
    pub(crate) args: Vec<Arg>,
}

impl Statement {
    pub(super) async fn run(&self, conn: &mut sqlx::AnyConnection) -> Result<u64, StoreError> {
        let mut query = sqlx::query(self.sql);
        for arg in &self.args {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.clone()),
            };
        }
        Ok(query.execute(conn).await?.rows_affected())
    }
}

enum Work {
    Append(Box<OwnedAppend>),
    Statement(Statement),
}

/// What the writer answers: rows changed for a statement, nothing for an append.
type Job = (Work, oneshot::Sender<Result<u64, StoreError>>);

#[derive(Clone)]
pub(super) struct GroupWriter {
    jobs: mpsc::UnboundedSender<Job>,
}

impl GroupWriter {
    /// Starts the writer task on the current runtime.
    pub(super) fn spawn(pool: AnyPool) -> GroupWriter {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, rx));
        GroupWriter { jobs }
    }

    /// Appends durably: returns once the group holding this append is committed.
    pub(super) async fn append(&self, append: OwnedAppend) -> Result<(), StoreError> {
        self.send(Work::Append(Box::new(append))).await.map(|_| ())
    }

    /// Runs one statement durably with the next group; returns the rows it changed.
    pub(super) async fn statement(&self, statement: Statement) -> Result<u64, StoreError> {
        self.send(Work::Statement(statement)).await
    }

    async fn send(&self, work: Work) -> Result<u64, StoreError> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send((work, done))
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
    }
}

async fn run(pool: AnyPool, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit(&pool, group).await;
    }
}

async fn commit(pool: &AnyPool, group: Vec<Job>) {
    // Appends refused by their own checks write nothing, so the group is first written without
    // savepoints (each costs two statements); only if something else fails is it written again,
    // each append in its own savepoint, so that the failure stays with its append.
    let results = match write_group(pool, &group, false).await {
        Ok(results) => Ok(results),
        Err(_) => write_group(pool, &group, true).await,
    };
    let results = match results {
        Ok(results) => results,
        Err(message) => group
            .iter()
            .map(|_| Err(StoreError::Unavailable(message.clone())))
            .collect(),
    };
    for ((_, done), result) in group.into_iter().zip(results) {
        let _ = done.send(result);
    }
}

/// Writes and commits the group: the result of each job, or why nothing was committed. Without
/// savepoints, an error other than an append's own refusal abandons the group (rolled back).
async fn write_group(
    pool: &AnyPool,
    group: &[Job],
    savepoints: bool,
) -> Result<Vec<Result<u64, StoreError>>, String> {
    let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
    let mut results = Vec::with_capacity(group.len());
    for (work, _) in group {
        let result = match work {
            Work::Append(append) if savepoints => one(&mut tx, append).await.map(|_| 0),
            Work::Append(append) => write_append(&mut tx, &append.view()).await.map(|_| 0),
            // A failing statement undoes only itself (SQLite's statement-level rollback).
            Work::Statement(statement) => statement.run(&mut tx).await,
        };
        let refused = matches!(
            result,
            Err(StoreError::Conflict(_) | StoreError::Duplicate(_))
        );
        if !savepoints && result.is_err() && !refused {
            let _ = tx.rollback().await;
            return Err(format!("{:?}", result.err()));
        }
        results.push(result);
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(results)
}

/// One append in its own savepoint.
async fn one(conn: &mut sqlx::AnyConnection, append: &OwnedAppend) -> Result<(), StoreError> {
    sqlx::query("SAVEPOINT append").execute(&mut *conn).await?;
    let result = write_append(conn, &append.view()).await;
    if result.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT append")
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT append")
        .execute(&mut *conn)
        .await?;
    result
}
