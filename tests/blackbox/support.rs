//! Test support: the real server on 127.0.0.1:0 with a temp SQLite file or a fresh PostgreSQL
//! database, a fake deploy system that records what it receives, and a recording chat port.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use canarybot::app::{self, Options, Running};
use canarybot::auth::sign;
use canarybot::chat::{Attempt, ChatError, ChatPort, Opened, ThreadTarget};
use canarybot::present::chat::ChatMessage;
use canarybot::present::chat::RootView;
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

pub const SECRET: &str = "test-secret-0123456789";
pub const OLD_SECRET: &str = "older-secret-0123456789";
pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const POSTGRES_ENV: &str = "CANARYBOT_TEST_POSTGRES_URL";
pub const FLAGGER_TOKEN: &str = "flagger-token-0123456789";
pub const GITHUB_SECRET: &str = "github-webhook-secret-0123";
pub const ALERTMANAGER_TOKEN: &str = "am-token-0123456789abcdef";
pub const SLACK_SECRET: &str = "slack-signing-secret-new";
pub const SLACK_OLD_SECRET: &str = "slack-signing-secret-old";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a scenario on one backend; each backend gets its own `#[tokio::test]`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

/// How the fake deploy system answers rollback calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExecutorMode {
    /// 202 `{"status":"accepted"}`: the rollback is reported later by a deploy event.
    Accept,
    /// 200 `{"status":"done"}`
    Done,
    /// 500 every time
    Fail,
}

#[derive(Debug, Clone)]
pub struct ExecutorCall {
    pub signature: Option<String>,
    pub delivery: Option<String>,
    pub raw: Vec<u8>,
    pub body: Value,
}

pub struct FakeExecutor {
    pub url: String,
    pub mode: Arc<Mutex<ExecutorMode>>,
    pub calls: Arc<Mutex<Vec<ExecutorCall>>>,
}

impl FakeExecutor {
    pub async fn start(mode: ExecutorMode) -> FakeExecutor {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind executor");
        let url = format!("http://{}/rollback", listener.local_addr().expect("addr"));
        let mode = Arc::new(Mutex::new(mode));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (m, c) = (mode.clone(), calls.clone());
        let app = axum::Router::new().route(
            "/rollback",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (m, c) = (m.clone(), c.clone());
                async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    };
                    c.lock().expect("calls").push(ExecutorCall {
                        signature: header("x-canarybot-signature"),
                        delivery: header("x-canarybot-delivery"),
                        raw: body.to_vec(),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    });
                    let mode = *m.lock().expect("mode");
                    match mode {
                        ExecutorMode::Accept => (
                            StatusCode::ACCEPTED,
                            axum::Json(json!({"status": "accepted"})),
                        ),
                        ExecutorMode::Done => {
                            (StatusCode::OK, axum::Json(json!({"status": "done"})))
                        }
                        ExecutorMode::Fail => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            axum::Json(json!({"error": "deploy system down"})),
                        ),
                    }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeExecutor { url, mode, calls }
    }

    pub fn calls(&self) -> Vec<ExecutorCall> {
        self.calls.lock().expect("calls").clone()
    }

    /// Waits (up to 10 s) for `n` calls; the caller's assertions say what must have happened.
    pub async fn wait_for_calls(&self, n: usize) {
        for _ in 0..200 {
            if self.calls().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a chat platform was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatOp {
    Root(String),
    Update(String),
    Reply {
        text: String,
        loud: bool,
    },
    Notice {
        to: String,
        text: String,
    },
    /// A chart posted in the thread.
    Image {
        title: String,
        alt_text: String,
    },
}

#[derive(Default)]
pub struct RecordingChat {
    pub ops: Mutex<Vec<ChatOp>>,
    /// This many calls fail (as a rate limit would) before calls succeed again.
    pub fail_next: std::sync::atomic::AtomicU32,
}

impl RecordingChat {
    fn refuse(&self) -> Result<(), ChatError> {
        let left = self.fail_next.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_next.store(left - 1, Ordering::SeqCst);
            return Err(ChatError::Transient {
                message: "rate limited".into(),
                retry_after_ms: Some(100),
            });
        }
        Ok(())
    }

    pub fn ops(&self) -> Vec<ChatOp> {
        self.ops.lock().expect("ops").clone()
    }
    pub fn replies(&self) -> Vec<String> {
        self.ops()
            .into_iter()
            .filter_map(|o| match o {
                ChatOp::Reply { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl ChatPort for RecordingChat {
    fn platform(&self) -> &str {
        "console"
    }
    async fn post_root(
        &self,
        target: &ThreadTarget,
        root: &RootView,
        _: &Attempt,
    ) -> Result<Option<Opened>, ChatError> {
        self.refuse()?;
        self.ops
            .lock()
            .expect("ops")
            .push(ChatOp::Root(root.text()));
        Ok(Some(Opened {
            thread: format!("thread-{}", target.deploy_id),
            message: "root".into(),
        }))
    }
    async fn update_root(
        &self,
        _: &ThreadTarget,
        _: &str,
        root: &RootView,
    ) -> Result<(), ChatError> {
        self.refuse()?;
        self.ops
            .lock()
            .expect("ops")
            .push(ChatOp::Update(root.text()));
        Ok(())
    }
    async fn reply(
        &self,
        _: &ThreadTarget,
        _: &str,
        m: &ChatMessage,
        _: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        self.refuse()?;
        let mut ops = self.ops.lock().expect("ops");
        ops.push(ChatOp::Reply {
            text: m.text.clone(),
            loud: m.loud,
        });
        Ok(Some(format!("reply-{}", ops.len())))
    }
    async fn post_image(
        &self,
        _: &ThreadTarget,
        _: &str,
        image: &canarybot::chat::ChatImage,
        _: &Attempt,
    ) -> Result<Option<String>, ChatError> {
        self.refuse()?;
        let mut ops = self.ops.lock().expect("ops");
        ops.push(ChatOp::Image {
            title: image.title.clone(),
            alt_text: image.alt_text.clone(),
        });
        Ok(Some(format!("image-{}", ops.len())))
    }
    async fn notice(
        &self,
        _: &ThreadTarget,
        _: Option<&str>,
        to: &str,
        text: &str,
    ) -> Result<(), ChatError> {
        self.refuse()?;
        self.ops.lock().expect("ops").push(ChatOp::Notice {
            to: to.to_string(),
            text: text.to_string(),
        });
        Ok(())
    }
}

/// Knobs a scenario may turn.
pub struct Setup {
    pub executor: Option<ExecutorMode>,
    pub api_tokens: bool,
    pub rollback_quorum: u32,
    pub on_breach: &'static str,
    pub on_pass: &'static str,
    pub canary_window: &'static str,
    pub retries: u32,
    /// The fake Slack Web API to point `[slack] api_url` at; checkout posts to C0CHECKOUT.
    pub slack_api: Option<String>,
    /// Also post `search` threads to C0CHECKOUT (a channel shared by two services).
    pub search_in_slack: bool,
    /// The fake Discord REST API; checkout posts to channel 1111, and Alice is tied across
    /// platforms (`[[people]]`: slack U01ALICE = discord 4455).
    pub discord_api: Option<String>,
    /// The fake (or real) Prometheus; adds service `api`, whose criteria are queries checked every
    /// second (tracks canary/stable).
    pub prometheus: Option<String>,
    /// Accept Alertmanager webhooks with `ALERTMANAGER_TOKEN`.
    pub alertmanager: bool,
    /// Replace the `api` service's two query templates (error ratio, p99 latency).
    pub api_queries: Option<[&'static str; 2]>,
    /// Replace checkout's `[service.rollback]` section.
    pub rollback_toml: Option<String>,
    /// Accept GitHub deployment webhooks signed with `GITHUB_SECRET`; checkout is
    /// Codertocat/Hello-World in production (the fixtures' repository).
    pub github: bool,
    /// With `github`: the GitHub App (`[github] app_id`, the test-only key, `api_url` = this fake
    /// GitHub API), so protection rules are answered.
    pub github_app: Option<String>,
    /// The keys of checkout's `[service.gate]`; none: no such section.
    pub gate: Option<&'static str>,
    /// Accept Flagger webhooks with `FLAGGER_TOKEN`; checkout is the canary test/podinfo.
    pub flagger: bool,
    /// The keys of checkout's `[service.escalation]`; none: no such section.
    pub escalation: Option<&'static str>,
    /// The fake PagerDuty Events API (`[pagerduty] api_url`, routing key
    /// `fake_pager::PD_ROUTING_KEY`).
    pub pagerduty_api: Option<String>,
    /// `[pagerduty] change_events = true`.
    pub change_events: bool,
    /// The fake Opsgenie API (`[opsgenie] api_url`, key `fake_pager::OPSGENIE_KEY`).
    pub opsgenie_api: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            executor: Some(ExecutorMode::Accept),
            api_tokens: true,
            rollback_quorum: 1,
            on_breach: "ask",
            on_pass: "ask",
            canary_window: "15m",
            retries: 2,
            slack_api: None,
            search_in_slack: false,
            discord_api: None,
            prometheus: None,
            alertmanager: false,
            api_queries: None,
            rollback_toml: None,
            github: false,
            github_app: None,
            gate: None,
            flagger: false,
            escalation: None,
            pagerduty_api: None,
            change_events: false,
            opsgenie_api: None,
        }
    }
}

pub struct TestApp {
    pub running: Running,
    pub url: String,
    pub http: reqwest::Client,
    pub chat: Arc<RecordingChat>,
    pub executor: Option<FakeExecutor>,
    pub database_url: String,
    pub config_text: String,
    _dir: tempfile::TempDir,
    pg_cleanup: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Set by CI: a PostgreSQL variant that would be skipped fails instead.
pub const REQUIRE_POSTGRES_ENV: &str = "CANARYBOT_REQUIRE_POSTGRES";
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Says, past the test harness's capture (so a plain `cargo test` shows it), which PostgreSQL
/// variant passes without running and how many have so far; fails the test when CI requires
/// PostgreSQL.
fn postgres_skipped() {
    let test = std::thread::current()
        .name()
        .unwrap_or("a PostgreSQL variant")
        .to_string();
    if std::env::var_os(REQUIRE_POSTGRES_ENV).is_some() {
        panic!(
            "{test}: {REQUIRE_POSTGRES_ENV} is set but {POSTGRES_ENV} is not: PostgreSQL variants must run"
        );
    }
    let n = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED #{n}: {test} passes without running; set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/test to run it"
    );
}

/// A fresh database URL for the backend, or `None` (with a SKIPPED line) when PostgreSQL is not
/// configured. Returns (url, cleanup: (admin url, database name)).
pub async fn database(
    backend: Backend,
    dir: &std::path::Path,
) -> Option<(String, Option<(String, String)>)> {
    match backend {
        Backend::Sqlite => Some((
            format!("sqlite://{}", dir.join("canarybot.db").display()),
            None,
        )),
        Backend::Postgres => {
            let Ok(admin) = std::env::var(POSTGRES_ENV) else {
                postgres_skipped();
                return None;
            };
            let name = format!(
                "canarybot_t{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                chrono::Utc::now().timestamp_millis()
            );
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to CANARYBOT_TEST_POSTGRES_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let _ = conn.close().await;
            let (base, query) = match admin.split_once('?') {
                Some((b, q)) => (b.to_string(), format!("?{q}")),
                None => (admin.clone(), String::new()),
            };
            let prefix = base
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or(base);
            Some((format!("{prefix}/{name}{query}"), Some((admin, name))))
        }
    }
}

pub fn config_text(setup: &Setup, database_url: &str, executor_url: Option<&str>) -> String {
    let tokens = if setup.api_tokens {
        format!("[\"{TOKEN}\"]")
    } else {
        "[]".into()
    };
    let rollback = match (&setup.rollback_toml, executor_url) {
        (Some(toml), _) => toml.clone(),
        (None, executor_url) => match executor_url {
            Some(url) => format!(
                "[service.rollback]\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"2s\"\nretries = {}\nbackoff = \"50ms\"\n",
                setup.retries
            ),
            None => String::new(),
        },
    };
    let (slack, channel) = match &setup.slack_api {
        Some(url) => (
            format!(
                "[slack]\nbot_token = \"xoxb-test-token\"\nsigning_secrets = [\"{SLACK_SECRET}\", \"{SLACK_OLD_SECRET}\"]\napi_url = \"{url}\"\n"
            ),
            "slack_channel = \"C0CHECKOUT\"".to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let (discord, discord_channel) = match &setup.discord_api {
        Some(url) => (
            format!(
                "[discord]\nbot_token = \"discord-test-token\"\napplication_id = \"424242\"\npublic_key = \"{}\"\napi_url = \"{url}\"\n\n[[people]]\nname = \"alice\"\nslack = \"U01ALICE\"\ndiscord = \"4455\"\n",
                crate::fake_discord::public_key_hex()
            ),
            "discord_channel = \"1111\"".to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let mut prometheus = match &setup.prometheus {
        Some(url) => format!("[prometheus]\nurl = \"{url}\"\ntimeout = \"2s\"\n"),
        None => String::new(),
    };
    let mut github_service = if setup.github {
        prometheus.push_str(&format!(
            "[github]\nwebhook_secrets = [\"{GITHUB_SECRET}\"]\n"
        ));
        if let Some(api_url) = &setup.github_app {
            prometheus.push_str(&format!(
                "app_id = {}\nprivate_key_path = \"{}/tests/fixtures/github/test-only-app-key.pem\"\napi_url = \"{api_url}\"\n",
                crate::fake_github_app::APP_ID,
                env!("CARGO_MANIFEST_DIR")
            ));
        }
        "github = { repo = \"Codertocat/Hello-World\", environments = [\"production\"] }"
            .to_string()
    } else {
        String::new()
    };
    if setup.flagger {
        prometheus.push_str(&format!("[flagger]\ntokens = [\"{FLAGGER_TOKEN}\"]\n"));
        github_service.push_str("\nflagger = { name = \"podinfo\", namespace = \"test\" }");
    }
    if setup.alertmanager {
        prometheus.push_str(&format!(
            "[alertmanager]\ntokens = [\"{ALERTMANAGER_TOKEN}\"]\n"
        ));
    }
    if let Some(url) = &setup.pagerduty_api {
        prometheus.push_str(&format!(
            "[pagerduty]\nrouting_key = \"{}\"\napi_url = \"{url}\"\nchange_events = {}\n",
            crate::fake_pager::PD_ROUTING_KEY,
            setup.change_events
        ));
    }
    if let Some(url) = &setup.opsgenie_api {
        prometheus.push_str(&format!(
            "[opsgenie]\napi_key = \"{}\"\napi_url = \"{url}\"\n",
            crate::fake_pager::OPSGENIE_KEY
        ));
    }
    // Written without format! so the PromQL templates keep their braces.
    let api_service = match &setup.prometheus {
        Some(_) => [
            "\n[[service]]\nname = \"api\"\ndeciders = [\"slack:U01ALICE\"]\ncheck_interval = \"1s\"\n",
            &format!("canary_window = \"{}\"\non_pass = \"{}\"\n", setup.canary_window, setup.on_pass),
            "verify_checks = 2\nno_data_limit = 3\nverify_timeout = \"4s\"\ntracks = { canary = \"canary\", baseline = \"stable\" }\n",
            "[[service.criteria]]\nname = \"error ratio\"\n",
            &format!("query = '{}'\n", setup.api_queries.map(|q| q[0]).unwrap_or("sum(rate(http_errors_total{service=\"{{service}}\",track=\"{{track}}\"}[1m]))")),
            "max = 0.05\nmax_ratio = 3\nfailure_limit = 2\nunit = \"%\"\n",
            "[[service.criteria]]\nname = \"p99 latency\"\n",
            &format!("query = '{}'\n", setup.api_queries.map(|q| q[1]).unwrap_or("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"{{service}}\",track=\"{{track}}\"}[1m])))")),
            "max = 0.5\nfailure_limit = 2\nunit = \"s\"\n",
            &match executor_url {
                Some(url) => format!("[service.rollback]\nkind = \"webhook\"\nurl = \"{url}\"\ntimeout = \"2s\"\nretries = 0\nbackoff = \"50ms\"\n"),
                None => String::new(),
            },
        ]
        .concat(),
        None => String::new(),
    };
    let text = format!(
        r#"
{slack}
{discord}
{prometheus}
[server]
listen = "127.0.0.1:0"
api_tokens = {tokens}
[database]
url = "{database_url}"
[webhooks]
secrets = ["{SECRET}", "{OLD_SECRET}"]

[[service]]
name = "checkout"
deciders = ["slack:U01ALICE", "slack-group:S01SRE", "discord:4455", "discord-role:6677"]
{github_service}
{channel}
{discord_channel}
rollback_quorum = {quorum}
promote_quorum = 1
on_breach = "{on_breach}"
on_pass = "{on_pass}"
canary_window = "{window}"
check_interval = "30s"
verify_checks = 2
{escalation}
{gate}

[[service.criteria]]
name = "5xx ratio"
max = 0.01
max_ratio = 1.5
failure_limit = 3

[[service.criteria]]
name = "p99 latency"
max = 0.5
failure_limit = 2

{rollback}
[[service]]
name = "search"
deciders = ["slack:U01ALICE"]
{search_channel}
[[service.criteria]]
name = "errors"
max = 5
"#,
        quorum = setup.rollback_quorum,
        on_breach = setup.on_breach,
        on_pass = setup.on_pass,
        window = setup.canary_window,
        escalation = setup
            .escalation
            .map(|keys| format!("\n[service.escalation]\n{keys}\n"))
            .unwrap_or_default(),
        gate = setup
            .gate
            .map(|keys| format!("\n[service.gate]\n{keys}\n"))
            .unwrap_or_default(),
        search_channel = if setup.search_in_slack && setup.slack_api.is_some() {
            "slack_channel = \"C0CHECKOUT\""
        } else {
            ""
        },
    );
    text + &api_service
}

impl TestApp {
    pub async fn spawn(backend: Backend, setup: Setup) -> Option<TestApp> {
        TestApp::spawn_with(backend, setup, |text| text).await
    }

    /// POSTs a body to a Slack endpoint signed the way Slack signs, at `ts` (seconds).
    pub async fn slack_post_at(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
        secret: &str,
        ts: i64,
    ) -> (u16, Value) {
        let ts = ts.to_string();
        let sig = canarybot::auth::slack_sign(secret, &ts, body.as_bytes());
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body.to_string())
            .send()
            .await
            .expect("slack request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("text");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn slack_post(&self, path: &str, body: &str, content_type: &str) -> (u16, Value) {
        let now = chrono::Utc::now().timestamp();
        self.slack_post_at(path, body, content_type, SLACK_SECRET, now)
            .await
    }

    /// A slash command as Slack sends it.
    pub async fn slack_command(
        &self,
        command: &str,
        text: &str,
        user: &str,
        channel: &str,
    ) -> (u16, Value) {
        let form = serde_urlencoded::to_string([
            ("token", "ignored"),
            ("team_id", "T1"),
            ("channel_id", channel),
            ("user_id", user),
            ("user_name", &user.to_lowercase()),
            ("command", command),
            ("text", text),
            ("response_url", "https://hooks.slack.com/commands/T1/1/x"),
            ("trigger_id", "1.2.3"),
        ])
        .expect("form");
        self.slack_post(
            "/slack/commands",
            &form,
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// An interaction signed with the test application key at `ts` (seconds).
    pub async fn discord_at(
        &self,
        interaction: &Value,
        key: &ed25519_dalek::SigningKey,
        ts: i64,
    ) -> (u16, Value) {
        let body = interaction.to_string();
        let ts = ts.to_string();
        let sig = crate::fake_discord::sign(key, &ts, &body);
        let resp = self
            .http
            .post(format!("{}/discord/interactions", self.url))
            .header("content-type", "application/json")
            .header("x-signature-ed25519", sig)
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
            .await
            .expect("discord request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("text");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn discord(&self, interaction: &Value) -> (u16, Value) {
        let key = crate::fake_discord::signing_key();
        self.discord_at(interaction, &key, chrono::Utc::now().timestamp())
            .await
    }

    /// A button press on the canary thread.
    pub async fn slack_button(&self, user: &str, action_id: &str, deploy_id: &str) -> (u16, Value) {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase()},
            "channel": {"id": "C0CHECKOUT"},
            "container": {"type": "message", "channel_id": "C0CHECKOUT", "message_ts": "1700000000.000001"},
            "actions": [{"action_id": action_id, "value": deploy_id, "type": "button"}],
        });
        let form = serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form");
        self.slack_post(
            "/slack/interactions",
            &form,
            "application/x-www-form-urlencoded",
        )
        .await
    }

    /// Stops the server and starts it again on the same database with a new chat platform,
    /// as after a crash or a deploy of canarybot itself.
    pub async fn restart(self, chat: Arc<RecordingChat>) -> TestApp {
        let options = Options {
            chat: vec![chat.clone() as Arc<dyn ChatPort>],
            ..Options::default()
        };
        let mut app = self.restart_with(options).await;
        app.chat = chat;
        app
    }

    /// Stops the server and starts it again on the same database with `options` (another
    /// clock, say).
    pub async fn restart_with(mut self, options: Options) -> TestApp {
        self.running.stop().await;
        let config = canarybot::registry::config_from_toml(&self.config_text, &|_| None)
            .expect("test config is valid");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        self.running = app::start(config, listener, options)
            .await
            .expect("app restarts");
        self.url = self.running.url();
        self
    }

    /// Stops the app and drops a PostgreSQL test database.
    pub async fn finish(self) {
        self.running.stop().await;
        if let Some((admin, name)) = self.pg_cleanup
            && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }

    /// POST with a raw body and the given headers.
    pub async fn post_raw(
        &self,
        path: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POST signed with the current secret.
    pub async fn signed(&self, path: &str, body: &Value) -> (u16, Value) {
        let raw = serde_json::to_vec(body).expect("json");
        let sig = sign(SECRET, &raw);
        self.post_raw(path, &raw, &[("X-Canarybot-Signature", sig)])
            .await
    }

    pub async fn signed_with_delivery(
        &self,
        path: &str,
        body: &Value,
        delivery: &str,
    ) -> (u16, Value) {
        let raw = serde_json::to_vec(body).expect("json");
        let sig = sign(SECRET, &raw);
        self.post_raw(
            path,
            &raw,
            &[
                ("X-Canarybot-Signature", sig),
                ("X-Canarybot-Delivery", delivery.to_string()),
            ],
        )
        .await
    }

    pub async fn start_deploy(&self, version: &str) -> String {
        let (status, body) = self
            .signed(
                "/hooks/deploy",
                &json!({"event": "started", "service": "checkout", "version": version, "sha": "abc1234", "actor": "ci"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["deploy_id"].as_str().expect("deploy_id").to_string()
    }

    pub async fn check(&self, deploy_id: &str, five_xx: f64, p99: f64) -> Value {
        let (status, body) = self
            .signed(
                "/hooks/metrics",
                &json!({"deploy_id": deploy_id, "samples": [
                    {"criterion": "5xx ratio", "canary": five_xx, "baseline": 0.004},
                    {"criterion": "p99 latency", "canary": p99, "baseline": 0.2},
                ]}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body
    }

    pub async fn vote(
        &self,
        deploy_id: &str,
        identity: &str,
        groups: &[&str],
        choice: &str,
    ) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/deploys/{deploy_id}/votes", self.url))
            .bearer_auth(TOKEN)
            .json(&json!({"identity": identity, "name": identity, "groups": groups, "choice": choice, "reason": "p99 doubled"}))
            .send()
            .await
            .expect("vote");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get");
        (resp.status().as_u16(), resp.text().await.expect("text"))
    }

    pub async fn timeline(&self, deploy_id: &str) -> Value {
        let (status, text) = self
            .get(&format!("/api/deploys/{deploy_id}/timeline"))
            .await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("timeline json")
    }

    pub async fn kinds(&self, deploy_id: &str) -> Vec<String> {
        self.timeline(deploy_id).await["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub async fn state(&self, deploy_id: &str) -> String {
        self.timeline(deploy_id).await["deploy"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits (up to 10 s) for an event of `kind` in the timeline; fails naming the kind, and what
    /// the timeline holds, when none comes.
    pub async fn wait_kind(&self, deploy_id: &str, kind: &str) {
        for _ in 0..200 {
            if self.kinds(deploy_id).await.iter().any(|k| k == kind) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "deploy {deploy_id} never had a `{kind}` event within 10 s; timeline kinds: {:?}",
            self.kinds(deploy_id).await
        );
    }

    /// Waits (up to 15 s) for the deploy to reach `state`.
    pub async fn wait_state(&self, deploy_id: &str, state: &str) {
        for _ in 0..300 {
            if self.state(deploy_id).await == state {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "deploy {deploy_id} never became {state}; timeline kinds: {:?}",
            self.kinds(deploy_id).await
        );
    }

    /// Waits (up to 30 s) until every queued chat message has been delivered.
    pub async fn settle_chat(&self) {
        let backlog = outbox_drained(self.running.engine.store(), Duration::from_secs(30)).await;
        assert_eq!(
            backlog, 0,
            "the outbox never drained within 30 s: {backlog} chat messages still queued (-1: unreadable)"
        );
    }
}

/// Waits up to `within` for the outbox to empty; returns what is left in it (-1: unreadable).
pub async fn outbox_drained(store: &canarybot::store::Store, within: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let backlog = store.outbox_backlog().await.unwrap_or(-1);
        if backlog == 0 || tokio::time::Instant::now() >= deadline {
            return backlog;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A chat message's words and their order, without what varies between runs: every number
/// (and a duration's unit: `850ms`, `1.2s`) becomes `#`.
pub fn shape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            for unit in ["ms", "s", "m", "h"] {
                let n = unit.len();
                let word: String = chars[i..(i + n).min(chars.len())].iter().collect();
                let after = chars.get(i + n).is_none_or(|c| !c.is_alphanumeric());
                if word == unit && after {
                    i += n;
                    break;
                }
            }
            out.push('#');
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

impl TestApp {
    /// [`TestApp::spawn`] with the configuration text changed by `edit` first (e.g. to add
    /// `[server]` limits).
    pub async fn spawn_with(
        backend: Backend,
        setup: Setup,
        edit: impl Fn(String) -> String,
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (database_url, pg_cleanup) = database(backend, dir.path()).await?;
        let executor = match setup.executor {
            Some(mode) => Some(FakeExecutor::start(mode).await),
            None => None,
        };
        let text = edit(config_text(
            &setup,
            &database_url,
            executor.as_ref().map(|e| e.url.as_str()),
        ));
        let config =
            canarybot::registry::config_from_toml(&text, &|_| None).expect("test config is valid");
        let chat = Arc::new(RecordingChat::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let options = Options {
            chat: vec![chat.clone() as Arc<dyn ChatPort>],
            ..Options::default()
        };
        let running = app::start(config, listener, options)
            .await
            .expect("app starts");
        Some(TestApp {
            url: running.url(),
            running,
            http: reqwest::Client::new(),
            chat,
            executor,
            database_url,
            config_text: text,
            _dir: dir,
            pg_cleanup,
        })
    }
}

/// Drops a PostgreSQL test database made by [`database`] (the cleanup half of its answer).
pub async fn drop_database(cleanup: Option<(String, String)>) {
    if let Some((admin, name)) = cleanup
        && let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await
    {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}
