//! The kill -9 harness: the real binary runs the breach → vote → rollback → verify scenario
//! against fake Slack, Discord and deploy system, is killed with SIGKILL at one point of it,
//! and is started again on the same database and port. After each run: exactly one root per
//! platform, every timeline event present once (the same timeline as a run without a crash), one
//! execution per decision, every chat message in its thread once and in order, and the scenario
//! complete.
//!
//! CI runs the fixed kill points below (more than 20 per backend). `CANARYBOT_CRASH_EXTRA=N`
//! adds N kills at random moments, for runs by hand.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::support::{
    Backend, ExecutorMode, SECRET, SLACK_SECRET, Setup, config_text, database, drop_database,
    outbox_drained, shape,
};
use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Where the bot is killed.
#[derive(Debug, Clone)]
enum KillPoint {
    /// Right after the bot acknowledged scenario step `n`.
    AfterStep(usize),
    /// While fake Slack holds the `n`th call to `method` (it has acted on it, as Slack would,
    /// but the bot never hears back): a crash between send and record.
    SlackCall(&'static str, usize),
    /// While fake Discord holds the `n`th `method` call whose path ends with `suffix`.
    DiscordCall(&'static str, &'static str, usize),
    /// While the deploy system holds the `n`th rollback call.
    ExecutorCall(usize),
    /// After a delay from the first start.
    After(Duration),
}

/// The inbound steps of the scenario, as pipelines, metrics and people send them.
const STEPS: usize = 7;

fn fixed_points() -> Vec<KillPoint> {
    let mut points: Vec<KillPoint> = (0..STEPS).map(KillPoint::AfterStep).collect();
    for n in 1..=6 {
        points.push(KillPoint::SlackCall("chat.postMessage", n));
    }
    points.push(KillPoint::SlackCall("chat.update", 1));
    points.push(KillPoint::SlackCall("chat.update", 2));
    points.push(KillPoint::DiscordCall("POST", "/1111/messages", 1));
    points.push(KillPoint::DiscordCall("POST", "/threads", 1));
    points.push(KillPoint::DiscordCall("POST", "/messages", 3));
    points.push(KillPoint::DiscordCall("PATCH", "", 1));
    points.push(KillPoint::ExecutorCall(1));
    points
}

/// Which call to hold unanswered, and whom to tell when it arrives.
type HeldCall = Option<(usize, oneshot::Sender<()>)>;

/// A deploy system that records calls and holds the `trap`th one unanswered.
#[derive(Clone, Default)]
pub struct Executor {
    pub url: String,
    /// Delivery ids of the calls received, in order.
    deliveries: Arc<Mutex<Vec<String>>>,
    /// When each call arrived, in the same order.
    arrivals: Arc<Mutex<Vec<Instant>>>,
    trap: Arc<Mutex<HeldCall>>,
}

impl Executor {
    pub async fn start() -> Executor {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind executor");
        let mut ex = Executor {
            url: format!("http://{}/rollback", listener.local_addr().expect("addr")),
            ..Executor::default()
        };
        let e = ex.clone();
        let app = axum::Router::new().route(
            "/rollback",
            axum::routing::post(move |headers: HeaderMap, _body: Bytes| {
                let e = e.clone();
                async move {
                    let delivery = headers
                        .get("x-canarybot-delivery")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("(none)")
                        .to_string();
                    let n = {
                        let mut d = e.deliveries.lock().expect("deliveries");
                        d.push(delivery);
                        e.arrivals.lock().expect("arrivals").push(Instant::now());
                        d.len()
                    };
                    let trapped = {
                        let mut trap = e.trap.lock().expect("trap");
                        match trap.take() {
                            Some((nth, tx)) if nth == n => Some(tx),
                            other => {
                                *trap = other;
                                None
                            }
                        }
                    };
                    if let Some(tx) = trapped {
                        let _ = tx.send(());
                        std::future::pending::<()>().await;
                    }
                    axum::Json(json!({"status": "done"}))
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ex.url = ex.url.clone();
        ex
    }
}

/// The bot as a child process.
pub struct Bot {
    config_path: std::path::PathBuf,
    log_path: std::path::PathBuf,
    pub url: String,
    child: Option<Child>,
    starts: usize,
    /// Set in the process's environment (e.g. `HOSTNAME`, to play another host).
    pub env: Vec<(String, String)>,
}

impl Bot {
    /// A bot whose configuration `text` is written into `dir`, serving on `port`.
    pub fn new(dir: &std::path::Path, text: &str, port: u16) -> Bot {
        let config_path = dir.join("canarybot.toml");
        std::fs::write(&config_path, text).expect("write config");
        Bot {
            config_path,
            log_path: dir.join("canarybot.log"),
            url: format!("http://127.0.0.1:{port}"),
            child: None,
            starts: 0,
            env: Vec::new(),
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// SIGTERM: the polite stop a supervisor sends.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Waits for the process to exit on its own.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        match tokio::time::timeout(within, child.wait()).await {
            Ok(status) => status.expect("exit status"),
            Err(_) => {
                let _ = child.start_kill();
                panic!(
                    "canarybot did not exit within {within:?}; log:\n{}",
                    self.log()
                );
            }
        }
    }

    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_canarybot"))
            .args(["serve", "--config"])
            .arg(&self.config_path)
            .env("CANARYBOT_LOG", "canarybot=debug,info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start canarybot");
        self.child = Some(child);
        self.starts += 1;
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("canarybot did not become ready; log:\n{}", self.log());
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// Everything one run observed, to compare with the run without a crash.
#[derive(Debug)]
struct Observed {
    kinds: Vec<String>,
    slack_roots: usize,
    slack_thread: Vec<String>,
    discord_roots: usize,
    discord_threads: usize,
    discord_thread: Vec<String>,
    executions: Vec<String>,
    decisions: usize,
    starts: usize,
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// Sends until the bot acknowledges (it may be down or restarting): as a sender retries.
    async fn send(&self, step: &Step) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let attempt = self.try_send(step).await;
            match attempt {
                Ok((status, body)) if (200..300).contains(&status) => return body,
                Ok((status, body)) if status < 500 => {
                    panic!("step {step:?} refused: {status} {body}")
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "step {step:?} never acknowledged"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn try_send(&self, step: &Step) -> Result<(u16, Value), reqwest::Error> {
        let req = match step {
            Step::Signed {
                path,
                body,
                delivery,
            } => {
                let raw = body.to_string();
                self.http
                    .post(format!("{}{path}", self.url))
                    .header("content-type", "application/json")
                    .header(
                        "x-canarybot-signature",
                        canarybot::auth::sign(SECRET, raw.as_bytes()),
                    )
                    .header("x-canarybot-delivery", *delivery)
                    .body(raw)
            }
            Step::Button { user, deploy_id } => {
                let payload = json!({
                    "type": "block_actions",
                    "user": {"id": user, "username": user.to_lowercase()},
                    "channel": {"id": "C0CHECKOUT"},
                    "actions": [{"action_id": "canary_rollback", "value": deploy_id, "type": "button"}],
                });
                let form =
                    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
                let ts = chrono::Utc::now().timestamp().to_string();
                let sig = canarybot::auth::slack_sign(SLACK_SECRET, &ts, form.as_bytes());
                self.http
                    .post(format!("{}/slack/interactions", self.url))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-slack-request-timestamp", ts)
                    .header("x-slack-signature", sig)
                    .body(form)
            }
        };
        let resp = req.timeout(Duration::from_secs(10)).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn deploy(&self, id: &str) -> Option<Value> {
        let resp = self
            .http
            .get(format!("{}/api/deploys/{id}/timeline", self.url))
            .bearer_auth(crate::support::TOKEN)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json().await.ok()
    }

    /// Waits (up to 60 s, through restarts) for the deploy to reach `state`.
    async fn wait_state(&self, id: &str, state: &str, bot_log: impl Fn() -> String) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(t) = self.deploy(id).await {
                if t["deploy"]["state"] == state {
                    return t;
                }
                if Instant::now() > deadline {
                    panic!(
                        "deploy never became {state}: {}\nlog:\n{}",
                        t["deploy"]["state"],
                        bot_log()
                    );
                }
            } else if Instant::now() > deadline {
                panic!("deploy never readable; log:\n{}", bot_log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Signed {
        path: &'static str,
        body: Value,
        delivery: &'static str,
    },
    Button {
        user: &'static str,
        deploy_id: String,
    },
}

const DEPLOY_ID: &str = "checkout:production:9.9.9";

fn steps() -> Vec<Step> {
    let check = |five_xx: f64, p99: f64| {
        json!({"deploy_id": DEPLOY_ID, "samples": [
            {"criterion": "5xx ratio", "canary": five_xx, "baseline": 0.004},
            {"criterion": "p99 latency", "canary": p99, "baseline": 0.2},
        ]})
    };
    let recovered = json!({"deploy_id": DEPLOY_ID, "samples": [
        {"criterion": "5xx ratio", "baseline": 0.004},
        {"criterion": "p99 latency", "baseline": 0.2},
    ]});
    vec![
        Step::Signed {
            path: "/hooks/deploy",
            body: json!({"event": "started", "service": "checkout", "version": "9.9.9", "sha": "abc1234", "actor": "ci"}),
            delivery: "deploy-1",
        },
        Step::Signed {
            path: "/hooks/metrics",
            body: check(0.004, 0.9),
            delivery: "metrics-1",
        },
        Step::Signed {
            path: "/hooks/metrics",
            body: check(0.004, 0.9),
            delivery: "metrics-2",
        },
        Step::Button {
            user: "U01ALICE",
            deploy_id: DEPLOY_ID.into(),
        },
        Step::Button {
            user: "U02BOB",
            deploy_id: DEPLOY_ID.into(),
        },
        Step::Signed {
            path: "/hooks/metrics",
            body: recovered.clone(),
            delivery: "verify-1",
        },
        Step::Signed {
            path: "/hooks/metrics",
            body: recovered,
            delivery: "verify-2",
        },
    ]
}

/// One run of the scenario, killed at `point` (or not at all).
async fn run(backend: Backend, point: Option<KillPoint>) -> Option<Observed> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, cleanup) = database(backend, dir.path()).await?;
    let slack = FakeSlack::start().await;
    let discord = FakeDiscord::start().await;
    let executor = Executor::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        rollback_quorum: 2,
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url)).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    ) + "\n[delivery]\nlease = \"2s\"\nshutdown_grace = \"3s\"\n";
    let mut bot = Bot::new(dir.path(), &text, port);

    // Arm the kill point.
    let (kill_tx, mut kill_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut kill_after_step = None;
    match &point {
        Some(KillPoint::AfterStep(n)) => kill_after_step = Some(*n),
        Some(KillPoint::SlackCall(method, n)) => {
            let reached = slack.trap(method, *n);
            let tx = kill_tx.clone();
            tokio::spawn(async move {
                if reached.await.is_ok() {
                    let _ = tx.send(()).await;
                }
            });
        }
        Some(KillPoint::DiscordCall(method, suffix, n)) => {
            let reached = discord.trap(method, suffix, *n);
            let tx = kill_tx.clone();
            tokio::spawn(async move {
                if reached.await.is_ok() {
                    let _ = tx.send(()).await;
                }
            });
        }
        Some(KillPoint::ExecutorCall(n)) => {
            let (reached_tx, reached) = oneshot::channel();
            *executor.trap.lock().expect("trap") = Some((*n, reached_tx));
            let tx = kill_tx.clone();
            tokio::spawn(async move {
                if reached.await.is_ok() {
                    let _ = tx.send(()).await;
                }
            });
        }
        Some(KillPoint::After(delay)) => {
            let tx = kill_tx.clone();
            let delay = *delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(()).await;
            });
        }
        None => {}
    }

    bot.start().await;
    let client = Client {
        http: reqwest::Client::new(),
        url: bot.url.clone(),
    };
    // The scenario drives the bot while this task watches for the kill signal; a kill is
    // followed at once by a restart, as a supervisor would.
    let scenario = async {
        for (i, step) in steps().iter().enumerate() {
            if i == 5 {
                // Recovery is checked once the rollback is done.
                client
                    .wait_state(DEPLOY_ID, "rolled_back", String::new)
                    .await;
            }
            client.send(step).await;
            if kill_after_step == Some(i) {
                let _ = kill_tx.send(()).await;
            }
        }
        client
            .wait_state(DEPLOY_ID, "rollback_verified", String::new)
            .await
    };
    tokio::pin!(scenario);
    let mut killed = false;
    let timeline = loop {
        tokio::select! {
            t = &mut scenario => break t,
            Some(()) = kill_rx.recv(), if !killed => {
                killed = true;
                bot.kill().await;
                bot.start().await;
            }
        }
    };
    // A kill point in the chat or executor traffic may come after the last step was answered.
    let waits_for_kill = !matches!(point, None | Some(KillPoint::After(_)));
    if waits_for_kill && !killed {
        match tokio::time::timeout(Duration::from_secs(30), kill_rx.recv()).await {
            Ok(Some(())) => {
                bot.kill().await;
                bot.start().await;
            }
            _ => panic!(
                "the kill point {point:?} was never reached; log:\n{}",
                bot.log()
            ),
        }
    }
    // Wait for every message due to be delivered.
    let store = canarybot::store::Store::connect(&database_url)
        .await
        .expect("store");
    let backlog = outbox_drained(&store, Duration::from_secs(20)).await;
    store.close().await;
    bot.kill().await;
    assert_eq!(
        backlog,
        0,
        "messages still undelivered after {point:?}; log:\n{}",
        bot.log()
    );

    let kinds: Vec<String> = timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    let decisions = kinds.iter().filter(|k| *k == "decision").count();
    let slack_roots = slack.roots();
    let slack_thread = slack_roots
        .first()
        .map(|r| slack.thread_shape(&r.ts))
        .unwrap_or_default();
    let discord_roots = discord.messages_in("1111");
    let discord_thread = discord_roots
        .first()
        .map(|r| {
            discord
                .messages_in(&r.id)
                .iter()
                // Charts go in their own lane: their place among later messages may vary.
                .filter(|m| m.files.is_empty())
                .map(|m| shape(m.body["content"].as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let observed = Observed {
        kinds,
        slack_roots: slack_roots.len(),
        slack_thread,
        discord_roots: discord_roots.len(),
        discord_threads: discord.threads.lock().expect("threads").len(),
        discord_thread,
        executions: executor.deliveries.lock().expect("deliveries").clone(),
        decisions,
        starts: bot.starts,
    };
    drop_database(cleanup).await;
    Some(observed)
}

fn check(point: &KillPoint, base: &Observed, seen: &Observed) {
    let at = format!("killed at {point:?}");
    assert_eq!(seen.starts, 2, "{at}: the kill point was never reached");
    assert_eq!(seen.slack_roots, 1, "{at}: one Slack root");
    assert_eq!(seen.discord_roots, 1, "{at}: one Discord root");
    assert_eq!(seen.discord_threads, 1, "{at}: one Discord thread");
    assert_eq!(seen.kinds, base.kinds, "{at}: every timeline event once");
    assert_eq!(
        seen.slack_thread, base.slack_thread,
        "{at}: the Slack thread complete, once and in order"
    );
    assert_eq!(
        seen.discord_thread, base.discord_thread,
        "{at}: the Discord thread complete, once and in order"
    );
    let mut distinct = seen.executions.clone();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.decisions,
        "{at}: one execution per decision (retries reuse the delivery id): {:?}",
        seen.executions
    );
    assert!(
        distinct.iter().all(|d| d != "(none)"),
        "{at}: executor calls carry the decision id"
    );
}

async fn kill_points(backend: Backend) {
    let Some(base) = run(backend, None).await else {
        return;
    };
    // The run without a crash is the reference; it must itself be right.
    assert_eq!(base.slack_roots, 1);
    assert_eq!(base.discord_roots, 1);
    assert_eq!(base.decisions, 1);
    assert_eq!(base.executions.len(), 1);
    assert!(base.kinds.iter().any(|k| k == "rollback_verified"));
    assert!(
        base.slack_thread.len() >= 6,
        "the scenario must post enough replies to kill between them: {:?}",
        base.slack_thread
    );
    let mut points = fixed_points();
    let extra: usize = std::env::var("CANARYBOT_CRASH_EXTRA")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for i in 0..extra {
        // Spread over the scenario's first seconds, deterministic per index.
        let ms = (i as u64 * 7919) % 4000 + 50;
        points.push(KillPoint::After(Duration::from_millis(ms)));
    }
    // `CANARYBOT_CRASH_ONLY=SlackCall` runs only the points whose name contains it (debugging).
    let only = std::env::var("CANARYBOT_CRASH_ONLY").unwrap_or_default();
    points.retain(|p| format!("{p:?}").contains(&only));
    for point in points {
        let Some(seen) = run(backend, Some(point.clone())).await else {
            return;
        };
        if let KillPoint::After(_) = point {
            // A timed kill may land after the scenario ended; the checks hold either way.
            if seen.starts == 1 {
                continue;
            }
        }
        check(&point, &base, &seen);
    }
}

crate::on_both_backends!(
    kill_points,
    a_restart_takes_over_the_rollback_at_once,
    escalation_steps_due_while_down_run_once_after_a_restart,
);

impl Executor {
    /// Holds the `nth` call unanswered; the receiver fires when it arrives.
    pub fn trap(&self, nth: usize) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.trap.lock().expect("trap") = Some((nth, tx));
        rx
    }

    /// Waits (up to 60 s) for the `nth` call; returns its delivery id and when it arrived.
    pub async fn wait_call(&self, nth: usize) -> (String, Instant) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let seen = {
                let d = self.deliveries.lock().expect("deliveries");
                let a = self.arrivals.lock().expect("arrivals");
                d.get(nth - 1).cloned().zip(a.get(nth - 1).copied())
            };
            if let Some(call) = seen {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the deploy system never got call {nth}");
    }
}

/// `kill -9` while the deploy system holds the rollback call, then an immediate restart with the
/// default `[delivery]` settings: the restarted process must call again (same delivery id) at
/// once, not when the dead process's lease runs out.
async fn a_restart_takes_over_the_rollback_at_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = database(backend, dir.path()).await else {
        return;
    };
    let executor = Executor::start().await;
    let slack = FakeSlack::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        rollback_quorum: 2,
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url)).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let mut bot = Bot::new(dir.path(), &text, port);
    let held = executor.trap(1);
    bot.start().await;
    let client = Client {
        http: reqwest::Client::new(),
        url: bot.url.clone(),
    };
    // Deploy, breach, and the two deciders' votes: the decision calls the deploy system.
    for step in steps().iter().take(5) {
        client.send(step).await;
    }
    tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the rollback call was made")
        .expect("trap");
    let (first, _) = executor.wait_call(1).await;
    bot.kill().await;
    let restarting = Instant::now();
    bot.start().await;
    let ready = Instant::now();
    let (again, at) = executor.wait_call(2).await;
    let restart = ready - restarting;
    let after_ready = at.saturating_duration_since(ready);
    eprintln!(
        "MEASURED ({backend:?}): restart took {restart:?}; the restarted process called the deploy system {after_ready:?} after it was ready ({:?} after the kill)",
        at - restarting
    );
    assert_eq!(again, first, "the same delivery id (the decision's)");
    assert!(
        after_ready < Duration::from_secs(5),
        "the rollback waited {after_ready:?} after the restart (the dead process's lease)"
    );
    client
        .wait_state(DEPLOY_ID, "rolled_back", || bot.log())
        .await;
    bot.kill().await;
    drop_database(cleanup).await;
}

/// The bot is killed right after the breach and stays down past every escalation step: when it
/// comes back, the reminder and the automatic rollback run, each once, in order.
async fn escalation_steps_due_while_down_run_once_after_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = database(backend, dir.path()).await else {
        return;
    };
    let executor = Executor::start().await;
    let slack = FakeSlack::start().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        slack_api: Some(slack.api_url.clone()),
        escalation: Some("remind_after = \"1s\"\npage_after = \"off\"\ndecide_after = \"2s\""),
        ..Setup::default()
    };
    let text = config_text(&setup, &database_url, Some(&executor.url)).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let mut bot = Bot::new(dir.path(), &text, port);
    bot.start().await;
    let client = Client {
        http: reqwest::Client::new(),
        url: bot.url.clone(),
    };
    // Deploy and breach, then the bot dies before the first step is due.
    for step in steps().iter().take(3) {
        client.send(step).await;
    }
    client.wait_state(DEPLOY_ID, "breached", || bot.log()).await;
    bot.kill().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = Instant::now();
    bot.start().await;
    client
        .wait_state(DEPLOY_ID, "rolled_back", || bot.log())
        .await;
    eprintln!(
        "MEASURED ({backend:?}): both overdue steps ran {:?} after the restart began",
        restarting.elapsed()
    );
    // Another tick or two: nothing runs twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = client.deploy(DEPLOY_ID).await.expect("timeline");
    let kinds: Vec<&str> = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(count("escalation_reminded"), 1, "{kinds:?}");
    assert_eq!(count("decision"), 1, "{kinds:?}");
    let at = |k: &str| kinds.iter().position(|x| *x == k);
    assert!(at("escalation_reminded") < at("decision"), "{kinds:?}");
    assert_eq!(
        executor.deliveries.lock().expect("deliveries").len(),
        1,
        "the deploy system is called once"
    );
    bot.kill().await;
    drop_database(cleanup).await;
}
