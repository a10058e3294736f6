//! Group commit for SQLite: one writer takes every write that is waiting (appends, and single
//! statements such as outbox claims), writes them in one transaction and commits once — one sync
//! to disk for the whole group, so durable ingest is bounded by the disk's sync rate times the
//! group size, and no two writers ever wait on SQLite's lock. An append refused by its own checks
//! (a concurrent-update conflict, a duplicate delivery) writes nothing; the others commit.
//!
//! The writer is a thread of its own with its own connection through SQLite's library
//! (rusqlite): each statement is a function call, where through sqlx's connection worker it is
//! a round trip between threads, several times slower — and the writer does every write there is.
//! Reads stay on the sqlx pool (WAL: readers never wait for the writer).

use super::exec::{Arg, Exec, Lite};
use super::timeline::write_append;
use super::{Append, DeliveryKey, NewOutbox, StoreError};
use crate::domain::{DeployInfo, Event, Sample, State};
use std::path::Path;
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

/// One statement written for someone else (an outbox claim, a recorded answer, a lease): it joins
/// the next group rather than taking SQLite's write lock on its own, which would make it and the
/// writer wait on each other (SQLite's busy handler sleeps) and cost a sync of its own.
pub(crate) struct Statement {
    pub(crate) sql: &'static str,
    pub(crate) args: Vec<Arg>,
}

impl Statement {
    pub(super) async fn run<E: Exec>(&self, conn: &mut E) -> Result<u64, StoreError> {
        conn.exec(self.sql, &self.args).await
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
    /// Starts the writer: a thread with its own connection to the database file `path`.
    pub(super) fn spawn(path: &Path) -> Result<GroupWriter, StoreError> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let conn = open(path)?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(GroupWriter { jobs })
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

/// The writer's connection: every write waits for the disk (`synchronous = FULL`), and for a
/// reader's checkpoint at most a few seconds.
fn open(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let lite = |e: rusqlite::Error| StoreError::Lite(format!("{}: {e}", path.display()));
    let conn = rusqlite::Connection::open(path).map_err(lite)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(lite)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(lite)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn run(conn: rusqlite::Connection, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let results = commit(&conn, &group);
        answer(group, results);
    }
}

/// Writes and commits a group: the result of each job, or why nothing was committed.
///
/// Appends refused by their own checks write nothing, so the group is first written without
/// savepoints (each costs two statements); only if something else fails is it written again,
/// each append in its own savepoint, so that the failure stays with its append. A panic must not
/// take the writer (and with it every write) down: the group is then refused, its transaction
/// rolled back, and the next group is written as usual.
fn commit(
    conn: &rusqlite::Connection,
    group: &[Job],
) -> Result<Vec<Result<u64, StoreError>>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_now(async {
            match write_group(conn, group, false).await {
                Ok(results) => Ok(results),
                Err(_) => write_group(conn, group, true).await,
            }
        })
    }))
    .unwrap_or_else(|_| {
        let _ = conn.execute_batch("ROLLBACK");
        Err("the store's writer failed on this group".to_string())
    })
}

/// Runs a future that never waits on anything (the writer thread's writes are plain calls into
/// SQLite's library; `async` only lets them share their code with PostgreSQL's).
fn run_now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

/// Writes the group in one transaction and commits it: the result of each job, or why nothing
/// was committed. Without savepoints, an error other than an append's own refusal abandons the
/// group (rolled back).
async fn write_group(
    conn: &rusqlite::Connection,
    group: &[Job],
    savepoints: bool,
) -> Result<Vec<Result<u64, StoreError>>, String> {
    let mut lite = Lite(conn);
    lite.exec("BEGIN IMMEDIATE", &[])
        .await
        .map_err(|e| e.to_string())?;
    match write_jobs(&mut lite, group, savepoints).await {
        Ok(results) => match lite.exec("COMMIT", &[]).await {
            Ok(_) => Ok(results),
            Err(e) => {
                let _ = lite.exec("ROLLBACK", &[]).await;
                Err(e.to_string())
            }
        },
        Err(e) => {
            let _ = lite.exec("ROLLBACK", &[]).await;
            Err(e)
        }
    }
}

fn answer(group: Vec<Job>, results: Result<Vec<Result<u64, StoreError>>, String>) {
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

/// Writes the jobs of a group inside the caller's transaction: the result of each, or (without
/// savepoints) the first error other than an append's own refusal, the transaction then to be
/// rolled back.
async fn write_jobs<E: Exec>(
    conn: &mut E,
    group: &[Job],
    savepoints: bool,
) -> Result<Vec<Result<u64, StoreError>>, String> {
    let mut results = Vec::with_capacity(group.len());
    for (work, _) in group {
        let result = match work {
            Work::Append(append) if savepoints => one(conn, append).await.map(|_| 0),
            Work::Append(append) => write_append(conn, &append.view()).await.map(|_| 0),
            // A failing statement undoes only itself (SQLite's statement-level rollback).
            Work::Statement(statement) => statement.run(conn).await,
        };
        let refused = matches!(
            result,
            Err(StoreError::Conflict(_) | StoreError::Duplicate(_))
        );
        if !savepoints
            && let Err(e) = &result
            && !refused
        {
            return Err(e.to_string());
        }
        results.push(result);
    }
    Ok(results)
}

/// One append in its own savepoint.
async fn one<E: Exec>(conn: &mut E, append: &OwnedAppend) -> Result<(), StoreError> {
    conn.exec("SAVEPOINT append", &[]).await?;
    let result = write_append(conn, &append.view()).await;
    if result.is_err() {
        conn.exec("ROLLBACK TO SAVEPOINT append", &[]).await?;
    }
    conn.exec("RELEASE SAVEPOINT append", &[]).await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Policy, deploy};
    use crate::store::Store;

    fn policy() -> Policy {
        serde_json::from_value(serde_json::json!({
            "criteria": [{"name": "5xx ratio", "max": 0.01, "failure_limit": 3}],
            "deciders": ["slack:U01ALICE"],
            "rollback_quorum": 1,
            "promote_quorum": 1,
            "on_breach": "ask",
            "on_pass": "ask",
            "canary_window_s": 3600,
            "verify_checks": 2,
            "executor": null
        }))
        .expect("policy")
    }

    fn opening(id: &str) -> (DeployInfo, Vec<Event>) {
        let info = DeployInfo {
            id: id.into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "1.0".into(),
            ..DeployInfo::default()
        };
        let events = deploy::start(info.clone(), policy(), 1_000, "test").events;
        (info, events)
    }

    /// An append opening `info`; nobody waits for its answer (the test reads the results).
    fn job(info: &DeployInfo, events: &[Event]) -> Job {
        let append = Append {
            deploy_id: &info.id,
            new_deploy: Some(info),
            expected_last_seq: 0,
            events,
            state: State::Canary,
            outbox: &[],
            samples: &[],
            samples_at_ms: 1_000,
            now_ms: 1_000,
            delivery: None,
        };
        let (done, _) = oneshot::channel();
        (Work::Append(Box::new(OwnedAppend::from(&append))), done)
    }

    /// An append that fails for a reason of its own making (here two events with one seq) is
    /// rolled back alone: the group is written again with savepoints and the others commit.
    #[tokio::test]
    async fn a_failing_append_leaves_no_trace_and_its_group_commits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("canarybot.db");
        let store = Store::connect(&format!("sqlite://{}", file.display()))
            .await
            .expect("store");
        let (good, good_events) = opening("checkout:production:good");
        let (bad, mut bad_events) = opening("checkout:production:bad");
        bad_events[1].seq = bad_events[0].seq;
        let (after, after_events) = opening("checkout:production:after");
        let group = vec![
            job(&good, &good_events),
            job(&bad, &bad_events),
            job(&after, &after_events),
        ];
        let conn = open(&file).expect("writer connection");
        let results = commit(&conn, &group).expect("the group commits");
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(results[1].is_err(), "{results:?}");
        for (id, events) in [(&good.id, &good_events), (&after.id, &after_events)] {
            assert_eq!(store.events(id).await.expect("read").as_ref(), Some(events));
        }
        assert!(store.events(&bad.id).await.expect("read").is_none());
        let listed = store.active(&[State::Canary]).await.expect("active");
        assert!(listed.iter().all(|r| r.id != bad.id), "{listed:?}");
        assert_eq!(listed.len(), 2);
    }
}
