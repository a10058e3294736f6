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

type Job = (OwnedAppend, oneshot::Sender<Result<(), StoreError>>);

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
        let (done, result) = oneshot::channel();
        self.jobs
            .send((append, done))
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
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let message = e.to_string();
            for (_, done) in group {
                let _ = done.send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(group.len());
    for (append, _) in &group {
        results.push(one(&mut tx, append).await);
    }
    if let Err(e) = tx.commit().await {
        let message = e.to_string();
        for r in results.iter_mut().filter(|r| r.is_ok()) {
            *r = Err(StoreError::Unavailable(message.clone()));
        }
    }
    for ((_, done), result) in group.into_iter().zip(results) {
        let _ = done.send(result);
    }
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
