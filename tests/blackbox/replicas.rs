//! Several replicas on one PostgreSQL: two real `canarybot serve` processes share the work —
//! requests reach either, one is killed midway, the survivor finishes — with no root, vote,
//! execution or timeline event doubled, each canary checked by one replica per interval, and
//! each page sent once.

use crate::crash::Bot;
use crate::fake_pager::{FakePager, PagerRequest};
use crate::fake_prometheus::FakePrometheus;
use crate::fake_slack::FakeSlack;
use crate::support::{
    Backend, ExecutorMode, FakeExecutor, SECRET, SLACK_SECRET, Setup, TOKEN, config_text, database,
    drop_database, outbox_drained,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Two replicas of one configuration on one database, each on its own port.
async fn replicas(dir: &std::path::Path, text: &str) -> Vec<Bot> {
    let mut bots = Vec::new();
    for i in 0..2 {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let sub = dir.join(format!("replica-{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        let text = text.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        ) + "\n[delivery]\nlease = \"2s\"\n";
        let mut bot = Bot::new(&sub, &text, port);
        bot.start().await;
        bots.push(bot);
    }
    bots
}

/// Requests go to the preferred replica, and to the other when it does not answer (what a load
/// balancer does once a replica fails its health check).
struct Balancer {
    http: reqwest::Client,
    urls: Vec<String>,
}

enum Req<'a> {
    Signed(&'a str, Value),
    Button(&'a str, &'a str),
}

impl Balancer {
    async fn send(&self, prefer: usize, req: Req<'_>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut i = prefer;
        loop {
            let url = &self.urls[i % self.urls.len()];
            let builder = match &req {
                Req::Signed(path, body) => {
                    let raw = body.to_string();
                    self.http
                        .post(format!("{url}{path}"))
                        .header("content-type", "application/json")
                        .header(
                            "x-canarybot-signature",
                            canarybot::auth::sign(SECRET, raw.as_bytes()),
                        )
                        .body(raw)
                }
                Req::Button(user, deploy_id) => {
                    let payload = json!({
                        "type": "block_actions",
                        "user": {"id": user, "username": user.to_lowercase()},
                        "channel": {"id": "C0CHECKOUT"},
                        "actions": [{"action_id": "canary_rollback", "value": deploy_id, "type": "button"}],
                    });
                    let form = serde_urlencoded::to_string([("payload", payload.to_string())])
                        .expect("form");
                    let ts = chrono::Utc::now().timestamp().to_string();
                    self.http
                        .post(format!("{url}/slack/interactions"))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header(
                            "x-slack-signature",
                            canarybot::auth::slack_sign(SLACK_SECRET, &ts, form.as_bytes()),
                        )
                        .header("x-slack-request-timestamp", ts)
                        .body(form)
                }
            };
            if let Ok(resp) = builder.timeout(Duration::from_secs(10)).send().await {
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    return body;
                }
                assert!(status.is_server_error(), "refused: {status} {body}");
            }
            assert!(Instant::now() < deadline, "no replica answered");
            i += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn timeline(&self, id: &str) -> Option<Value> {
        for url in &self.urls {
            let resp = self
                .http
                .get(format!("{url}/api/deploys/{id}/timeline"))
                .bearer_auth(TOKEN)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(r) = resp
                && r.status().is_success()
            {
                return r.json().await.ok();
            }
        }
        None
    }

    async fn wait_state(&self, id: &str, state: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.timeline(id).await;
            if seen.as_ref().is_some_and(|t| t["deploy"]["state"] == state) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {state}: {:?}",
                seen.map(|t| t["deploy"]["state"].clone())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Many deploys, requests spread over both replicas, one replica killed midway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_work_and_survive_one_dying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let slack = FakeSlack::start().await;
    let executor = FakeExecutor::start(ExecutorMode::Done).await;
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        rollback_quorum: 2,
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url));
    let mut bots = replicas(dir.path(), &text).await;
    let lb = Balancer {
        http: reqwest::Client::new(),
        urls: bots.iter().map(|b| b.url.clone()).collect(),
    };
    const DEPLOYS: usize = 6;
    let ids: Vec<String> = (0..DEPLOYS)
        .map(|i| format!("checkout:production:10.0.{i}"))
        .collect();
    let breach = |id: &str| {
        json!({"deploy_id": id, "samples": [
            {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
            {"criterion": "p99 latency", "canary": 0.9, "baseline": 0.2},
        ]})
    };
    for (i, id) in ids.iter().enumerate() {
        let version = format!("10.0.{i}");
        lb.send(
            i,
            Req::Signed(
                "/hooks/deploy",
                json!({"event": "started", "service": "checkout", "version": version}),
            ),
        )
        .await;
        lb.send(i + 1, Req::Signed("/hooks/metrics", breach(id)))
            .await;
        lb.send(i, Req::Signed("/hooks/metrics", breach(id))).await;
        // The deciders' votes arrive at different replicas.
        lb.send(0, Req::Button("U01ALICE", id)).await;
        lb.send(1, Req::Button("U02BOB", id)).await;
        if i == DEPLOYS / 2 {
            // Replica 0 dies with work in flight; replica 1 carries on.
            bots[0].kill().await;
        }
    }
    let recovered = |id: &str| {
        json!({"deploy_id": id, "samples": [
            {"criterion": "5xx ratio", "baseline": 0.004},
            {"criterion": "p99 latency", "baseline": 0.2},
        ]})
    };
    for id in &ids {
        lb.wait_state(id, "rolled_back").await;
        lb.send(0, Req::Signed("/hooks/metrics", recovered(id)))
            .await;
        lb.send(0, Req::Signed("/hooks/metrics", recovered(id)))
            .await;
    }
    for id in &ids {
        lb.wait_state(id, "rollback_verified").await;
    }
    let store = canarybot::store::Store::connect(&database_url)
        .await
        .expect("store");
    assert_eq!(
        outbox_drained(&store, Duration::from_secs(20)).await,
        0,
        "the survivor delivered everything; its log:\n{}",
        bots[1].log()
    );
    store.close().await;

    // Every deploy's timeline is the same story, each event once.
    let mut timelines = Vec::new();
    for id in &ids {
        timelines.push(kinds(&lb.timeline(id).await.expect("timeline")));
    }
    let first = &timelines[0];
    assert_eq!(first.iter().filter(|k| *k == "vote_cast").count(), 2);
    assert_eq!(first.iter().filter(|k| *k == "decision").count(), 1);
    assert!(first.iter().any(|k| k == "rollback_verified"), "{first:?}");
    for (id, t) in ids.iter().zip(&timelines) {
        assert_eq!(t, first, "{id}: the same events, each once");
    }
    // One root per deploy, and every thread complete and in order.
    let mut roots: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for root in slack.roots() {
        let deploy = root.metadata["event_payload"]["deploy_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        roots.entry(deploy).or_default().push(root.ts);
    }
    assert_eq!(roots.len(), DEPLOYS, "{roots:?}");
    assert!(
        roots.values().all(|r| r.len() == 1),
        "one root each: {roots:?}"
    );
    let threads: Vec<Vec<String>> = roots.values().map(|r| slack.thread_shape(&r[0])).collect();
    assert!(threads.iter().all(|t| *t == threads[0]), "{threads:#?}");
    // One execution per decision (a call cut short by the kill is retried with its id).
    let mut decisions: Vec<String> = executor
        .calls()
        .iter()
        .map(|c| c.delivery.clone().unwrap_or_default())
        .collect();
    decisions.sort();
    decisions.dedup();
    assert_eq!(decisions.len(), DEPLOYS, "{decisions:?}");
    bots[1].kill().await;
    drop_database(cleanup).await;
}

/// Each canary is checked once per interval, by whichever replica claims the interval; when it
/// dies, the other goes on checking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_check_per_interval_across_replicas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let prometheus = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prometheus.url.clone()),
        canary_window: "10m",
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, None);
    let mut bots = replicas(dir.path(), &text).await;
    let lb = Balancer {
        http: reqwest::Client::new(),
        urls: bots.iter().map(|b| b.url.clone()).collect(),
    };
    lb.send(
        0,
        Req::Signed(
            "/hooks/deploy",
            json!({"event": "started", "service": "api", "version": "1.0.0"}),
        ),
    )
    .await;
    // Evaluation times of the checks made (every query of one check shares its time).
    let check_times = || {
        let mut times: Vec<f64> = prometheus
            .seen
            .lock()
            .expect("seen")
            .iter()
            .filter_map(|(_, t)| t.parse::<f64>().ok())
            .collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        times
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while check_times().len() < 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let times = check_times();
    assert!(times.len() >= 3, "checks are made within 15 s: {times:?}");
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= 0.7,
            "two checks in one 1 s interval (both replicas checked): {times:?}"
        );
    }
    // The replica that has been checking may be either; kill replica 0 and the checks go on.
    bots[0].kill().await;
    let before = check_times().len();
    let deadline = Instant::now() + Duration::from_secs(15);
    while check_times().len() < before + 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = check_times();
    assert!(
        after.len() >= before + 2,
        "the survivor checks: {} then {}",
        before,
        after.len()
    );
    for pair in after.windows(2) {
        assert!(pair[1] - pair[0] >= 0.7, "{after:?}");
    }
    bots[1].kill().await;
    drop_database(cleanup).await;
}

/// Two replicas on one PostgreSQL with the default `[delivery]` settings, each started with
/// `HOSTNAME` set to its entry of `hosts`.
async fn replicas_on(dir: &std::path::Path, text: &str, hosts: [&str; 2]) -> Vec<Bot> {
    let mut bots = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let sub = dir.join(format!("replica-{i}"));
        std::fs::create_dir_all(&sub).expect("dir");
        let text = text.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        );
        let mut bot = Bot::new(&sub, &text, port);
        bot.env.push(("HOSTNAME".into(), host.to_string()));
        bot.start().await;
        bots.push(bot);
    }
    bots
}

/// The replica whose process holds the executor call now.
async fn holder_of_the_call(database_url: &str, bots: &[Bot]) -> usize {
    let store = canarybot::store::Store::connect(database_url)
        .await
        .expect("store");
    let held = store
        .pending(canarybot::engine::EXECUTOR_TARGET, 10)
        .await
        .expect("pending")
        .into_iter()
        .find_map(|i| i.holder)
        .expect("the call is held");
    store.close().await;
    let pid = canarybot::store::Owner::parse(&held).expect("a holder").pid;
    bots.iter()
        .position(|b| b.pid() == Some(pid))
        .expect("held by one of the replicas")
}

/// Kills the replica whose rollback call the deploy system holds; returns how long after the
/// kill the survivor called again (with the same delivery id).
async fn rollback_taken_over_after_a_kill(hosts: [&str; 2]) -> Option<Duration> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, cleanup) = database(Backend::Postgres, dir.path()).await?;
    let slack = FakeSlack::start().await;
    let executor = crate::crash::Executor::start().await;
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        rollback_quorum: 2,
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url));
    let mut bots = replicas_on(dir.path(), &text, hosts).await;
    let lb = Balancer {
        http: reqwest::Client::new(),
        urls: bots.iter().map(|b| b.url.clone()).collect(),
    };
    let held = executor.trap(1);
    let id = "checkout:production:11.0.0";
    let breach = json!({"deploy_id": id, "samples": [
        {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
        {"criterion": "p99 latency", "canary": 0.9, "baseline": 0.2},
    ]});
    lb.send(
        0,
        Req::Signed(
            "/hooks/deploy",
            json!({"event": "started", "service": "checkout", "version": "11.0.0"}),
        ),
    )
    .await;
    lb.send(1, Req::Signed("/hooks/metrics", breach.clone()))
        .await;
    lb.send(0, Req::Signed("/hooks/metrics", breach)).await;
    lb.send(0, Req::Button("U01ALICE", id)).await;
    lb.send(1, Req::Button("U02BOB", id)).await;
    tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the rollback call was made")
        .expect("trap");
    let (first, _) = executor.wait_call(1).await;
    let dying = holder_of_the_call(&database_url, &bots).await;
    let killed = Instant::now();
    bots[dying].kill().await;
    let (again, at) = executor.wait_call(2).await;
    let took = at - killed;
    assert_eq!(again, first, "the same delivery id (the decision's)");
    lb.wait_state(id, "rolled_back").await;
    bots[1 - dying].kill().await;
    drop_database(cleanup).await;
    Some(took)
}

/// Replicas on two hosts: the lease is the only signal, and it is short and renewed often.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_rollback_is_taken_over_within_seconds_from_another_host() {
    let Some(took) = rollback_taken_over_after_a_kill(["host-a", "host-b"]).await else {
        return;
    };
    eprintln!(
        "MEASURED: replica on another host killed mid-rollback; the survivor called the deploy system {took:?} after the kill"
    );
    assert!(
        took < Duration::from_secs(12),
        "taken over {took:?} after the kill (about 10 s at most)"
    );
}

/// Replicas on one host: the survivor sees the holder's pid is gone and takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_rollback_is_taken_over_at_once_on_the_same_host() {
    let Some(took) = rollback_taken_over_after_a_kill(["host-a", "host-a"]).await else {
        return;
    };
    eprintln!(
        "MEASURED: replica on the same host killed mid-rollback; the survivor called the deploy system {took:?} after the kill"
    );
    assert!(
        took < Duration::from_secs(3),
        "taken over {took:?} after the kill (at once expected)"
    );
}

/// Two replicas page once per deploy, and resolve once: the ticker's lease records one `paged`,
/// and the outbox claim lets one replica's paging worker send it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_page_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = database(Backend::Postgres, dir.path()).await else {
        return;
    };
    let slack = FakeSlack::start().await;
    let pd = FakePager::pagerduty().await;
    let executor = FakeExecutor::start(ExecutorMode::Done).await;
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        slack_api: Some(slack.api_url.clone()),
        escalation: Some("remind_after = \"off\"\npage_after = \"1s\"\ndecide_after = \"off\""),
        pagerduty_api: Some(pd.api_url.clone()),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url));
    let mut bots = replicas(dir.path(), &text).await;
    let lb = Balancer {
        http: reqwest::Client::new(),
        urls: bots.iter().map(|b| b.url.clone()).collect(),
    };
    const DEPLOYS: usize = 4;
    let ids: Vec<String> = (0..DEPLOYS)
        .map(|i| format!("checkout:production:11.0.{i}"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let version = format!("11.0.{i}");
        lb.send(
            i,
            Req::Signed(
                "/hooks/deploy",
                json!({"event": "started", "service": "checkout", "version": version}),
            ),
        )
        .await;
        for replica in [i, i + 1] {
            let breach = json!({"deploy_id": id, "samples": [
                {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                {"criterion": "p99 latency", "canary": 0.9, "baseline": 0.2},
            ]});
            lb.send(replica, Req::Signed("/hooks/metrics", breach))
                .await;
        }
    }
    let triggered = |r: &[PagerRequest], action: &str| -> Vec<String> {
        r.iter()
            .filter(|r| r.body["event_action"] == action && r.status == 202)
            .filter_map(|r| r.body["dedup_key"].as_str().map(str::to_string))
            .collect()
    };
    pd.wait_for("a trigger for every deploy", |r| {
        let mut keys = triggered(r, "trigger");
        keys.sort();
        keys.dedup();
        keys.len() == DEPLOYS
    })
    .await;
    // A vote at either replica resolves each page.
    for (i, id) in ids.iter().enumerate() {
        lb.send(i, Req::Button("U01ALICE", id)).await;
    }
    pd.wait_for("a resolve for every deploy", |r| {
        let mut keys = triggered(r, "resolve");
        keys.sort();
        keys.dedup();
        keys.len() == DEPLOYS
    })
    .await;
    let store = canarybot::store::Store::connect(&database_url)
        .await
        .expect("store");
    assert_eq!(outbox_drained(&store, Duration::from_secs(20)).await, 0);
    store.close().await;
    // Everything sent is in: each deploy triggered once and resolved once, in that order.
    let requests = pd.requests();
    for id in &ids {
        let actions: Vec<&str> = requests
            .iter()
            .filter(|r| r.body["dedup_key"] == id.as_str())
            .filter_map(|r| r.body["event_action"].as_str())
            .collect();
        assert_eq!(actions, vec!["trigger", "resolve"], "{id}: {requests:#?}");
        let t = kinds(&lb.timeline(id).await.expect("timeline"));
        assert_eq!(t.iter().filter(|k| *k == "paged").count(), 1, "{t:?}");
    }
    for bot in &mut bots {
        bot.kill().await;
    }
    drop_database(cleanup).await;
}
