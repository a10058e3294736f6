//! Shared by the benches: the real release binary started as a child process (`canarybot serve`),
//! fake Slack and Prometheus on loopback, PostgreSQL databases made and dropped per run, latency
//! statistics, the disk's sync rate, and CPU/RSS readings from `/proc`.
//!
//! Every bench prints the machine's load next to its figures: the 1-minute load average, and over
//! the measured window how busy the whole machine was, split into the server, this bench process
//! (load generator and fakes) and everything else.

#![allow(dead_code)]

use axum::extract::{Path as AxPath, Query};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

pub const SECRET: &str = "bench-webhook-secret-0123456789";
pub const SLACK_SECRET: &str = "bench-slack-signing-secret-0123";
pub const TOKEN: &str = "bench-api-token-0123456789abcdef";

/// The server binary: `BENCH_BINARY` (to compare builds), else the release binary cargo built
/// for this bench (`cargo bench` builds it with the bench profile, which is the release profile).
pub fn binary() -> String {
    std::env::var("BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_canarybot").to_string())
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A multi-threaded runtime for the load generator and the fakes (this process only; the server
/// under test is another process with its own runtime).
pub fn runtime() -> tokio::runtime::Runtime {
    let threads = env_or("BENCH_CLIENT_THREADS", 2usize);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Where the bench's databases, configurations and server logs go (`BENCH_DIR`, default the
/// system temp dir, which is on the same disk as PostgreSQL's data on these machines). With
/// `BENCH_KEEP=1` they are kept after the run (the path is printed).
pub fn tempdir() -> tempfile::TempDir {
    let mut b = tempfile::Builder::new();
    b.prefix("canarybot-bench-");
    let mut dir = match std::env::var("BENCH_DIR") {
        Ok(d) => b.tempdir_in(d).expect("tempdir in BENCH_DIR"),
        Err(_) => b.tempdir().expect("tempdir"),
    };
    if std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1") {
        dir.disable_cleanup(true);
        println!("kept: {}", dir.path().display());
    }
    dir
}

// ---------------------------------------------------------------------------------------------
// The machine

pub fn clk_tck() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// CPU time (user + system) of a process so far, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / clk_tck() as f64
}

/// `VmRSS` and `VmHWM` (peak RSS) of a process, in MiB.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or("");
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `loadavg 1.52 1.20 0.98 (2 cores)`
pub fn load_line() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("loadavg {} ({} cores)", v.join(" "), cores())
}

/// The busiest other processes right now (from `top`), to say what loaded the machine.
pub fn top_others() -> String {
    let out = Command::new("top")
        .args(["-bn1", "-w", "200"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let mut lines = out
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PID"));
    lines.next();
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let cpu: f64 = f.get(8)?.parse().ok()?;
            (cpu >= 5.0).then(|| format!("{} {cpu:.0}%", f.get(11).unwrap_or(&"?")))
        })
        .take(5)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How busy the machine was over a window, and who made it so.
pub struct Window {
    started: Instant,
    machine: (u64, u64),
    server: Option<(u32, f64)>,
    me: f64,
    load: String,
}

impl Window {
    pub fn start(server_pid: Option<u32>) -> Window {
        Window {
            started: Instant::now(),
            machine: machine_ticks(),
            server: server_pid.map(|p| (p, cpu_seconds(p))),
            me: cpu_seconds(std::process::id()),
            load: load_line(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Server CPU seconds used since the start of the window.
    pub fn server_cpu(&self) -> f64 {
        self.server.map(|(p, c)| cpu_seconds(p) - c).unwrap_or(0.0)
    }

    /// `load: loadavg … at start; machine 1.62/2 cores busy: server 0.81, bench 0.55, others 0.26`
    pub fn report(&self) -> String {
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        let (busy, total) = machine_ticks();
        let busy_s = (busy - self.machine.0) as f64 / clk_tck() as f64;
        let total_s = (total - self.machine.1) as f64 / clk_tck() as f64;
        let ncores = cores() as f64;
        let busy_cores = if total_s > 0.0 {
            busy_s / total_s * ncores
        } else {
            0.0
        };
        let server = self.server_cpu() / wall;
        let me = (cpu_seconds(std::process::id()) - self.me) / wall;
        let others = (busy_cores - server - me).max(0.0);
        let top = top_others();
        format!(
            "load: {} at start; over {:.1}s the machine was {:.2}/{} cores busy: server {:.2}, bench process {:.2}, others {:.2}{}",
            self.load,
            wall,
            busy_cores,
            ncores,
            server,
            me,
            others,
            if top.is_empty() {
                String::new()
            } else {
                format!(" (top now: {top})")
            }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Latencies in ms.
pub fn summary(ms: &[f64]) -> Summary {
    let mut v = ms.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        return Summary {
            n,
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            max: 0.0,
            mean: 0.0,
        };
    }
    // Nearest rank.
    let pick = |q: f64| v[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Summary {
        n,
        p50: pick(0.50),
        p90: pick(0.90),
        p99: pick(0.99),
        max: v[n - 1],
        mean: v.iter().sum::<f64>() / n as f64,
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms mean={:.2}ms",
            self.n, self.p50, self.p90, self.p99, self.max, self.mean
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The disk

/// Single 8 kB writes at offset 0, each followed by fdatasync, for `dur` in `dir`: syncs per
/// second (what pg_test_fsync calls "one 8kB write, fdatasync").
pub fn sync_rate(dir: &Path, dur: Duration) -> f64 {
    use std::os::unix::fs::FileExt;
    let path = dir.join("sync-rate.probe");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("probe file");
    let block = vec![0x5au8; 8192];
    file.write_all_at(&block, 0).expect("write");
    file.sync_all().expect("sync");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        file.write_all_at(&block, 0).expect("write");
        file.sync_data().expect("fdatasync");
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    rate
}

/// `pg_test_fsync`'s own figure for one 8 kB write + fdatasync, when the tool is installed.
pub fn pg_test_fsync(dir: &Path) -> Option<f64> {
    let tool = ["/usr/lib/postgresql/15/bin/pg_test_fsync", "pg_test_fsync"]
        .into_iter()
        .find(|t| Path::new(t).exists() || which(t))?;
    let out = Command::new(tool)
        .args(["-s", "1", "-f"])
        .arg(dir.join("pg_test_fsync.out"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The first "fdatasync" line is under "Compare file sync methods using one 8kB write".
    text.lines()
        .find(|l| l.trim_start().starts_with("fdatasync"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.replace(',', "").parse::<f64>().ok())
        })
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/// The admin URL for PostgreSQL runs: `BENCH_POSTGRES_URL`, else `CANARYBOT_TEST_POSTGRES_URL`.
pub fn postgres_admin() -> Option<String> {
    std::env::var("BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("CANARYBOT_TEST_POSTGRES_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

/// A fresh database `bench_<what>_<pid>_<ms>`; returns its URL and its name.
pub async fn create_database(admin: &str, what: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!(
        "bench_{what}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connect to BENCH_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create bench database");
    let _ = conn.close().await;
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (admin.to_string(), String::new()),
    };
    let prefix = base
        .rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or(base);
    (format!("{prefix}/{name}{query}"), name)
}

pub async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}

/// The backends a bench runs on, from `<PREFIX>_BACKEND` (`sqlite`, `postgres` or `both`).
pub fn backends(var: &str, default: &str) -> Vec<&'static str> {
    let want = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let mut out = Vec::new();
    if want == "sqlite" || want == "both" {
        out.push("sqlite");
    }
    if want == "postgres" || want == "both" {
        if postgres_admin().is_some() {
            out.push("postgres");
        } else {
            println!(
                "SKIPPED postgres: set BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test to run it"
            );
        }
    }
    out
}

/// A database for one run: a SQLite file in `dir`, or a fresh PostgreSQL database (dropped by
/// [`Db::drop_now`]).
pub struct Db {
    pub url: String,
    pub pg: Option<(String, String)>,
}

impl Db {
    pub async fn new(backend: &str, dir: &Path, what: &str) -> Db {
        match backend {
            "postgres" => {
                let admin = postgres_admin().expect("postgres url");
                let (url, name) = create_database(&admin, what).await;
                Db {
                    url,
                    pg: Some((admin, name)),
                }
            }
            _ => Db {
                url: format!("sqlite://{}", dir.join(format!("{what}.db")).display()),
                pg: None,
            },
        }
    }

    pub async fn drop_now(self) {
        if let Some((admin, name)) = self.pg {
            drop_database(&admin, &name).await;
        }
    }

    /// One number from the database (the server may still be running).
    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.url)
            .await
            .expect("connect to the bench database");
        let n: i64 = sqlx::query(sql)
            .fetch_one(&pool)
            .await
            .expect("count")
            .try_get(0)
            .expect("a number");
        pool.close().await;
        n
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `canarybot serve` as a child process.
pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub url: String,
    /// From spawning the process to the first 200 on `/readyz`.
    pub ready_after: Duration,
    pub log: PathBuf,
}

/// The configuration text with `{PORT}` and `{DB}` filled in is written to `dir/canarybot.toml`
/// (mode 0600).
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("canarybot.toml");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .expect("config file");
    f.write_all(text.as_bytes()).expect("write config");
    path
}

impl Server {
    /// Starts `canarybot serve --config <config>` (stdout and stderr to files in `dir`) and waits
    /// for `/readyz`. `url` is `http://127.0.0.1:<port>` of the config's `listen`.
    pub async fn start(dir: &Path, config: &Path, port: u16) -> Server {
        let log = dir.join(format!("serve-{port}.log"));
        let out = std::fs::File::create(dir.join(format!("serve-{port}.out"))).expect("out");
        let err = std::fs::File::create(&log).expect("log");
        let url = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let spawned = Instant::now();
        let child = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env(
                "CANARYBOT_LOG",
                std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn canarybot serve");
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            url,
            ready_after: Duration::ZERO,
            log,
        };
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "canarybot serve exited ({status}) before it was ready:\n{}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            if let Ok(r) = probe.get(format!("{}/readyz", server.url)).send().await
                && r.status().as_u16() == 200
            {
                server.ready_after = spawned.elapsed();
                break;
            }
            if spawned.elapsed() > Duration::from_secs(60) {
                panic!("canarybot serve not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server
    }

    /// SIGTERM, then waits (SIGKILL after 20 s).
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn rss_mib(&self) -> (f64, f64) {
        rss_mib(self.pid)
    }

    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid)
    }

    /// Lines of the server's log at WARN or above, for the report (at most `n`).
    pub fn warnings(&self, n: usize) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(n)
            .map(str::to_string)
            .collect()
    }
}

/// A client with one keep-alive HTTP/1.1 connection (one per load-generating task).
pub fn one_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A client for set-up work.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// POSTs a signed deploy or metric webhook; returns status and body.
pub async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    delivery: Option<&str>,
) -> (u16, String) {
    let raw = serde_json::to_vec(body).expect("json");
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("X-Canarybot-Signature", canarybot::auth::sign(SECRET, &raw));
    if let Some(d) = delivery {
        req = req.header("X-Canarybot-Delivery", d);
    }
    match req.body(raw).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Runs `n` jobs over `concurrency` tasks (each with its own connection); job `i` gets the
/// task's client and `i`.
pub async fn for_each_concurrent<F, Fut>(n: usize, concurrency: usize, job: F)
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let job = Arc::new(job);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (next, job) = (next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let http = one_connection_client();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                job(http.clone(), i).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

/// Waits until the server's outbox is empty (chat and executor work done), up to `limit`.
pub async fn wait_outbox_empty(http: &reqwest::Client, url: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(r) = http.get(format!("{url}/metrics")).send().await {
            let text = r.text().await.unwrap_or_default();
            let backlog = text
                .lines()
                .find(|l| l.starts_with("canarybot_outbox_backlog "))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok());
            if backlog == Some(0.0) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Fakes

/// A fake Slack Web API: counts calls per method, posts get increasing timestamps, and
/// `usergroups.users.list` answers from `groups`.
#[derive(Clone, Default)]
pub struct FakeSlack {
    pub api_url: String,
    pub calls: Arc<Mutex<HashMap<String, u64>>>,
    pub groups: Arc<Mutex<HashMap<String, Vec<String>>>>,
    next_ts: Arc<AtomicU64>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fake = FakeSlack {
            api_url: format!("http://{}/api", listener.local_addr().expect("addr")),
            next_ts: Arc::new(AtomicU64::new(1)),
            ..FakeSlack::default()
        };
        let (a, b) = (fake.clone(), fake.clone());
        let app = axum::Router::new().route(
            "/api/{method}",
            axum::routing::post(
                move |AxPath(method): AxPath<String>, body: axum::body::Bytes| {
                    let f = a.clone();
                    async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                            serde_urlencoded::from_bytes::<HashMap<String, String>>(&body)
                                .map(|m| json!(m))
                                .unwrap_or(Value::Null)
                        });
                        axum::Json(f.answer(&method, &v))
                    }
                },
            )
            .get(
                move |AxPath(method): AxPath<String>, Query(q): Query<HashMap<String, String>>| {
                    let f = b.clone();
                    async move { axum::Json(f.answer(&method, &json!(q))) }
                },
            ),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    fn answer(&self, method: &str, body: &Value) -> Value {
        *self
            .calls
            .lock()
            .expect("calls")
            .entry(method.to_string())
            .or_default() += 1;
        let channel = body["channel"].clone();
        match method {
            "chat.postMessage" => {
                let ts = format!(
                    "1700000000.{:06}",
                    self.next_ts.fetch_add(1, Ordering::Relaxed)
                );
                json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": ""}})
            }
            "chat.update" => {
                json!({"ok": true, "channel": channel, "ts": body["ts"], "text": "", "message": {"text": "", "user": "U0BOT"}})
            }
            "chat.postEphemeral" => json!({"ok": true, "message_ts": "1700000000.999999"}),
            "conversations.history" | "conversations.replies" => {
                json!({"ok": true, "messages": [], "has_more": false})
            }
            "usergroups.users.list" => {
                let group = body["usergroup"].as_str().unwrap_or_default();
                let users = self
                    .groups
                    .lock()
                    .expect("groups")
                    .get(group)
                    .cloned()
                    .unwrap_or_default();
                json!({"ok": true, "users": users})
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        }
    }

    pub fn count(&self, method: &str) -> u64 {
        self.calls
            .lock()
            .expect("calls")
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.calls.lock().expect("calls").values().sum()
    }
}

/// A fake Prometheus answering every instant query with one series: around 0.01 for queries on
/// errors and 0.2 for others, moving a little with every answer (as real values do) when
/// `jitter` is set, so that each check has new latest values.
#[derive(Clone, Default)]
pub struct FakePrometheus {
    pub url: String,
    pub queries: Arc<AtomicU64>,
}

impl FakePrometheus {
    pub async fn start(jitter: bool) -> FakePrometheus {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fake = FakePrometheus {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            queries: Arc::new(AtomicU64::new(0)),
        };
        let q = fake.queries.clone();
        let app = axum::Router::new().route(
            "/api/v1/query",
            axum::routing::get(move |Query(p): Query<HashMap<String, String>>| {
                let q = q.clone();
                async move {
                    let n = q.fetch_add(1, Ordering::Relaxed);
                    let query = p.get("query").map(String::as_str).unwrap_or("");
                    let base = if query.contains("error") { 0.01 } else { 0.2 };
                    let v = if jitter {
                        base * (1.0 + (n % 17) as f64 / 100.0)
                    } else {
                        base
                    };
                    axum::Json(json!({"status": "success", "data": {"resultType": "vector",
                        "result": [{"metric": {}, "value": [0, format!("{v:.5}")]}]}}))
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

/// Prints the header every bench starts with: what runs, on which machine.
pub fn header(what: &str) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    println!("== {what}");
    println!(
        "machine: {} cores ({cpu}), {mem} RAM; server: {}; {}",
        cores(),
        binary(),
        load_line()
    );
}
