//! The store as the engine uses it, on both backends: timelines and samples read back exactly as
//! written (the database builds them into one JSON text, so every character must survive), the
//! workers' list of active deploys, and replicas that see each other's appends through their
//! in-memory snapshots.

use crate::on_both_backends;
use crate::support::{Backend, database, drop_database};
use canarybot::domain::{DeployInfo, Event, Input, Policy, Sample, State};
use canarybot::engine::Engine;
use canarybot::store::Store;
use serde_json::json;
use std::sync::Arc;

on_both_backends!(
    timelines_read_back_exactly,
    samples_read_back_exactly,
    active_lists_what_the_workers_watch,
    a_replica_sees_what_another_appended,
);

/// Text that JSON must escape, and text that looks like the JSON around it.
const AWKWARD: &str = "quote \" backslash \\ slash / newline \n tab \t nul-ish \u{1} \u{1f} bell \u{7} \
     emoji 🐤 accents éü CJK 金丝雀 RTL \u{202e} json },{\"kind\":\"note\",\"details\":{}}] \
     colon :production ' apostrophe";

fn policy() -> Policy {
    serde_json::from_value(json!({
        "criteria": [
            {"name": "5xx ratio", "max": 0.01, "max_ratio": 1.5, "failure_limit": 3},
            {"name": "p99 \"latency\" 🐢", "max": 0.5, "failure_limit": 2}
        ],
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

fn info(id: &str) -> DeployInfo {
    DeployInfo {
        id: id.to_string(),
        service: "checkout".into(),
        environment: "production".into(),
        version: format!("v{AWKWARD}"),
        actor: Some(AWKWARD.to_string()),
        description: Some(AWKWARD.to_string()),
        ..DeployInfo::default()
    }
}

struct Db {
    url: String,
    cleanup: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

async fn db(backend: Backend) -> Option<Db> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, cleanup) = database(backend, dir.path()).await?;
    Some(Db {
        url,
        cleanup,
        _dir: dir,
    })
}

fn engine(store: Store) -> Engine {
    Engine::new(store, vec![], canarybot::system_clock())
}

async fn timelines_read_back_exactly(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let store = Store::connect(&db.url).await.expect("store");
    let engine = engine(store.clone());
    let id = "checkout:production:awkward";
    let mut written: Vec<Event> = engine
        .start(info(id), policy(), AWKWARD)
        .await
        .expect("start")
        .outcome
        .events;
    for n in 0..30 {
        let applied = engine
            .apply(
                id,
                Input::Note {
                    actor: format!("{AWKWARD} #{n}"),
                    text: format!("note {n}: {AWKWARD}"),
                    announce: false,
                },
                AWKWARD,
            )
            .await
            .expect("note");
        written.extend(applied.outcome.events);
    }
    assert_eq!(written.len(), 32);
    let read = store.events(id).await.expect("events").expect("deploy");
    assert_eq!(
        read, written,
        "the timeline reads back as written, in order"
    );
    // After a seq: only the later events, in order; none past the end.
    let after = store.events_after(id, 20).await.expect("after");
    assert_eq!(after, written[20..].to_vec());
    assert!(store.events_after(id, 32).await.expect("end").is_empty());
    assert!(
        store
            .events("no-such-deploy")
            .await
            .expect("none")
            .is_none()
    );
    store.close().await;
    drop_database(db.cleanup).await;
}

async fn samples_read_back_exactly(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let store = Store::connect(&db.url).await.expect("store");
    let engine = engine(store.clone());
    let id = "checkout:production:samples";
    engine
        .start(info(id), policy(), "test")
        .await
        .expect("start");
    // Missing values first: each pooled connection then prepares the insert with a NULL before
    // it sees numbers (sqlx 0.9's `Any` types a missing f64 as float4; see `store::exec`).
    let mut values = vec![(None, None), (None, Some(1e-7)), (Some(12_345.678_9), None)];
    for n in 0..12 {
        values.push((Some(0.1 * f64::from(n)), Some(0.2)));
        values.push((None, Some(-3.5)));
    }
    values.extend([(Some(0.0), Some(-3.5)), (Some(1e21), Some(2.5e-300))]);
    let mut expected = Vec::new();
    for (i, (canary, baseline)) in values.iter().enumerate() {
        let at_ms = 1_700_000_000_000 + i as i64 * 1000;
        engine
            .apply(
                id,
                Input::Check {
                    samples: vec![
                        Sample {
                            criterion: "5xx ratio".into(),
                            canary: *canary,
                            baseline: *baseline,
                            ..Sample::default()
                        },
                        Sample {
                            criterion: "p99 \"latency\" 🐢".into(),
                            canary: Some(0.25),
                            baseline: None,
                            ..Sample::default()
                        },
                    ],
                    at_ms: Some(at_ms),
                },
                "metrics-webhook",
            )
            .await
            .expect("check");
        expected.push(("5xx ratio".to_string(), at_ms, *canary, *baseline));
        expected.push(("p99 \"latency\" 🐢".to_string(), at_ms, Some(0.25), None));
    }
    let read = store.samples(id).await.expect("samples");
    assert_eq!(read.len(), expected.len());
    for (got, want) in read.iter().zip(&expected) {
        assert_eq!((&got.0, got.1), (&want.0, want.1));
        for (g, w) in [(got.2, want.2), (got.3, want.3)] {
            match (g, w) {
                (Some(g), Some(w)) => {
                    assert!((g - w).abs() <= w.abs() * 1e-14, "{g} read back for {w}")
                }
                (g, w) => assert_eq!(g, w),
            }
        }
    }
    assert!(
        store
            .samples("no-such-deploy")
            .await
            .expect("none")
            .is_empty()
    );
    store.close().await;
    drop_database(db.cleanup).await;
}

async fn active_lists_what_the_workers_watch(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let store = Store::connect(&db.url).await.expect("store");
    let engine = engine(store.clone());
    assert!(
        store
            .active(&[State::Canary])
            .await
            .expect("empty")
            .is_empty()
    );
    for n in 0..3 {
        engine
            .start(info(&format!("checkout:production:{n}")), policy(), "test")
            .await
            .expect("start");
    }
    engine
        .apply(
            "checkout:production:1",
            Input::Note {
                actor: "sre".into(),
                text: "looking".into(),
                announce: false,
            },
            "api",
        )
        .await
        .expect("note");
    let mut rows = store
        .active(&[State::Canary, State::RolledBack])
        .await
        .expect("active");
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let seen: Vec<(String, String, State, i64, i64)> = rows
        .into_iter()
        .map(|r| (r.id, r.service, r.state, r.last_seq, r.drill))
        .collect();
    let row = |n: usize, seq: i64| {
        (
            format!("checkout:production:{n}"),
            "checkout".to_string(),
            State::Canary,
            seq,
            0,
        )
    };
    assert_eq!(seen, vec![row(0, 2), row(1, 3), row(2, 2)]);
    assert!(
        store
            .active(&[State::Promoted])
            .await
            .expect("none")
            .is_empty()
    );
    store.close().await;
    drop_database(db.cleanup).await;
}

async fn a_replica_sees_what_another_appended(backend: Backend) {
    let Some(db) = db(backend).await else { return };
    let a = Arc::new(engine(Store::connect(&db.url).await.expect("store a")));
    let b = Arc::new(engine(Store::connect(&db.url).await.expect("store b")));
    let id = "checkout:production:shared";
    a.start(info(id), policy(), "test").await.expect("start");
    assert_eq!(a.deploy(id).await.expect("a").last_seq, 2);
    // A `started` redelivered to the other replica finds the deploy (the store refuses the
    // second insert) and creates nothing.
    let again = b.start(info(id), policy(), "test").await.expect("again");
    assert!(!again.created);
    assert_eq!(again.deploy.last_seq, 2);
    let note = |who: &str| Input::Note {
        actor: who.to_string(),
        text: format!("from {who}"),
        announce: false,
    };
    // B appends; A, whose snapshot stops at seq 2, reads what B wrote before acting.
    b.apply(id, note("b"), "api").await.expect("b note");
    assert_eq!(a.deploy(id).await.expect("a sees b").last_seq, 3);
    let applied = a.apply(id, note("a"), "api").await.expect("a note");
    assert_eq!(applied.outcome.events[0].seq, 4);
    // Both at once, many times: every note lands once, seqs without gaps.
    let mut tasks = Vec::new();
    for n in 0..10 {
        for (engine, who) in [(a.clone(), "a"), (b.clone(), "b")] {
            tasks.push(tokio::spawn(async move {
                engine
                    .apply(id, note(&format!("{who}{n}")), "api")
                    .await
                    .map(|_| ())
            }));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("apply");
    }
    let events = a.store().events(id).await.expect("events").expect("deploy");
    assert_eq!(events.len(), 24);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as i64 + 1)
    );
    assert_eq!(a.deploy(id).await.expect("a").last_seq, 24);
    assert_eq!(b.deploy(id).await.expect("b").last_seq, 24);
    a.store().close().await;
    b.store().close().await;
    drop_database(db.cleanup).await;
}
