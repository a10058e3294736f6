//! Configuration: one TOML file, `${VAR}` taken from the environment, every problem named by its
//! key path. Unknown keys are errors: a typo must not silently disable a criterion.

use crate::domain::{Criterion, OnBreach, OnPass, Policy, Voter, decision::parse_decider};
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
    #[serde(default)]
    pub discord: Option<DiscordConfig>,
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    #[serde(default)]
    pub github: Option<GithubConfig>,
    #[serde(default)]
    pub flagger: Option<FlaggerConfig>,
    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// Ties one person's identities across platforms: one person, one vote.
    #[serde(default)]
    pub people: Vec<PersonConfig>,
    #[serde(default)]
    pub log: LogConfig,
}

/// How the server logs (`[log]`); `CANARYBOT_LOG_FORMAT` overrides `format`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
}

/// `text` for people at a terminal, `json` (one object per line) for log collectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("log format `{other}`: write `text` or `json`")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonConfig {
    pub name: String,
    /// Slack user id (`U…`).
    #[serde(default)]
    pub slack: Option<String>,
    /// Discord user id (a snowflake).
    #[serde(default)]
    pub discord: Option<String>,
}

impl PersonConfig {
    pub fn identities(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.slack {
            out.push(format!("slack:{s}"));
        }
        if let Some(d) = &self.discord {
            out.push(format!("discord:{d}"));
        }
        out
    }
}

/// A Slack app: the bot token for the Web API and the signing secrets for inbound requests.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub bot_token: String,
    /// Any one of these may sign a Slack request (rotation).
    pub signing_secrets: Vec<String>,
    /// Every Web API call goes here (a fake on loopback in tests).
    #[serde(default = "default_slack_api_url")]
    pub api_url: String,
    /// How long user-group memberships are trusted before asking Slack again.
    #[serde(default = "default_group_cache", with = "humantime_serde")]
    pub group_cache: Duration,
    /// `https://acme.slack.com`: lets postmortems link to the canary threads.
    #[serde(default)]
    pub workspace_url: Option<String>,
}

/// Flagger's webhooks: tokens accepted as `metadata.token` or `?token=`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlaggerConfig {
    pub tokens: Vec<String>,
}

/// Which Flagger canary is this service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFlagger {
    pub name: String,
    pub namespace: String,
}

/// GitHub's deployment webhooks.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// Any one of these may sign (`X-Hub-Signature-256`).
    pub webhook_secrets: Vec<String>,
}

/// Which GitHub deployments are this service's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceGithub {
    /// `owner/name`
    pub repo: String,
    /// Deployment environments that are this service's (empty: all of them).
    #[serde(default)]
    pub environments: Vec<String>,
}

/// Alertmanager's webhook receiver: bearer tokens and the labels that name a deploy.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Any one of these may be sent as `Authorization: Bearer …` (http_config.authorization).
    pub tokens: Vec<String>,
    #[serde(default = "default_service_label")]
    pub service_label: String,
    #[serde(default = "default_environment_label")]
    pub environment_label: String,
}

fn default_service_label() -> String {
    "service".into()
}
fn default_environment_label() -> String {
    "environment".into()
}

/// Where criteria with a `query` are checked.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090`.
    pub url: String,
    #[serde(default = "default_prometheus_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Extra headers for every query (auth proxies).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Prometheus UI for side-by-side graph links (default: `url`).
    #[serde(default)]
    pub ui_url: Option<String>,
}

fn default_prometheus_timeout() -> Duration {
    Duration::from_secs(5)
}

/// A Discord application: the bot token for REST, the public key that signs interactions.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub bot_token: String,
    pub application_id: String,
    /// The application's Ed25519 public key, hex.
    pub public_key: String,
    /// Every REST call goes here (a fake on loopback in tests).
    #[serde(default = "default_discord_api_url")]
    pub api_url: String,
    /// The server (guild) id: lets postmortems link to the canary threads.
    #[serde(default)]
    pub guild_id: Option<String>,
}

pub const DISCORD_API_URL: &str = "https://discord.com/api/v10";

fn default_discord_api_url() -> String {
    DISCORD_API_URL.into()
}

/// Whether an identity's id has the form its platform gives ids, so that it can ever match
/// someone: Slack user ids `U…`/`W…`, user-group ids `S…`, Discord snowflakes. Names, @handles
/// and `name#1234` tags never match anyone.
pub fn platform_id_problem(identity: &str) -> Result<(), String> {
    let (kind, id) = identity.split_once(':').unwrap_or(("", identity));
    let slack_id = |first: &[char]| {
        id.len() >= 2
            && id.starts_with(first)
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    match kind {
        "slack" if !slack_id(&['U', 'W']) => Err(format!(
            "`{identity}` is not a Slack user id; write slack:U… or slack:W… (profile → ⋮ → Copy member ID), not a name or @handle"
        )),
        "slack-group" if !slack_id(&['S']) => Err(format!(
            "`{identity}` is not a Slack user-group id; write slack-group:S… (the group's id, not its @handle)"
        )),
        "discord" | "discord-role" if !snowflake(id) => Err(format!(
            "`{identity}` is not a Discord id; write {kind}:<digits> (Developer Mode → Copy {} ID), not a name or tag",
            if kind == "discord" { "User" } else { "Role" }
        )),
        _ => Ok(()),
    }
}

fn snowflake(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.chars().all(|c| c.is_ascii_digit()) && s != "0"
}

fn default_slack_api_url() -> String {
    "https://slack.com/api".into()
}
fn default_group_cache() -> Duration {
    Duration::from_secs(300)
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where people and pipelines reach this server (links, `announce` default).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Bearer tokens for `/api/*`; empty means the API is open.
    #[serde(default)]
    pub api_tokens: Vec<String>,
    /// Largest request body, in bytes or as `1MiB` / `512KiB` (413 above it).
    #[serde(default = "default_max_body", with = "bytes_serde")]
    pub max_body: usize,
    /// Largest request line plus headers, in bytes or as `16KiB` (431 above it).
    #[serde(default = "default_max_header_bytes", with = "bytes_serde")]
    pub max_header_bytes: usize,
    /// How long a client may take to send a request's headers (and how long an idle keep-alive
    /// connection is kept); the connection is closed.
    #[serde(default = "default_header_timeout", with = "humantime_serde")]
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in (408).
    #[serde(default = "default_body_timeout", with = "humantime_serde")]
    pub body_timeout: Duration,
    /// How long a handler may take once the body is in (503).
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            public_url: None,
            api_tokens: Vec::new(),
            max_body: default_max_body(),
            max_header_bytes: default_max_header_bytes(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            request_timeout: default_request_timeout(),
        }
    }
}

impl ServerConfig {
    /// Problems with the size and time limits.
    fn limit_problems(&self) -> Vec<String> {
        use crate::limits::*;
        let mut out = Vec::new();
        if !(MIN_MAX_BODY..=MAX_MAX_BODY).contains(&self.max_body) {
            out.push(format!(
                "server.max_body: {} bytes is outside {} to {}",
                self.max_body,
                human_bytes(MIN_MAX_BODY),
                human_bytes(MAX_MAX_BODY)
            ));
        }
        if !(MIN_MAX_HEADER_BYTES..=MAX_MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            out.push(format!(
                "server.max_header_bytes: {} bytes is outside {} to {}",
                self.max_header_bytes,
                human_bytes(MIN_MAX_HEADER_BYTES),
                human_bytes(MAX_MAX_HEADER_BYTES)
            ));
        }
        for (key, d) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                out.push(format!("server.{key}: must be > 0"));
            }
        }
        out
    }
}

/// A warning when a configuration file may be read (or changed) by other users: it names
/// secrets, or the variables that hold them, and says who may decide rollbacks. `None` when only
/// the owner has access, and on systems without Unix permissions.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        let who = match (mode & 0o044 != 0, mode & 0o022 != 0) {
            (true, true) => "readable and writable by other users",
            (false, true) => "writable by other users",
            (true, false) => "readable by other users",
            (false, false) => "open to other users",
        };
        let p = path.display();
        Some(format!(
            "{p} is {who} (mode {mode:04o}); it may hold secrets: run `chmod 600 {p}`"
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn default_max_body() -> usize {
    crate::limits::DEFAULT_MAX_BODY
}
fn default_max_header_bytes() -> usize {
    crate::limits::DEFAULT_MAX_HEADER_BYTES
}
fn default_header_timeout() -> Duration {
    crate::limits::DEFAULT_HEADER_TIMEOUT
}
fn default_body_timeout() -> Duration {
    crate::limits::DEFAULT_BODY_TIMEOUT
}
fn default_request_timeout() -> Duration {
    crate::limits::DEFAULT_REQUEST_TIMEOUT
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default = "default_db_url")]
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: default_db_url(),
        }
    }
}

fn default_db_url() -> String {
    "sqlite://canarybot.db".into()
}

/// How effects are delivered and inbound deliveries remembered (`[delivery]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// How long a started chat message or executor call is held before a replica on another host
    /// may take it over (its holder died). Running executor calls renew their hold every 2 s (or
    /// a quarter of it, if shorter); a restarted process, or a replica of the same host, takes
    /// over the holds of a dead process at once.
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
    /// The longest wait between tries of a message a platform keeps refusing for now (jittered;
    /// a `Retry-After` is obeyed as it is).
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
    /// On SIGTERM: how long to finish requests in flight and deliver what is pending.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long webhook, metric and interaction ids are remembered to refuse redeliveries.
    #[serde(default = "default_dedup_window", with = "humantime_serde")]
    pub dedup_window: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            lease: default_lease(),
            max_backoff: default_max_backoff(),
            shutdown_grace: default_shutdown_grace(),
            dedup_window: default_dedup_window(),
        }
    }
}

fn default_lease() -> Duration {
    Duration::from_secs(8)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(2)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(10)
}
fn default_dedup_window() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Any one of these may sign a deploy or metrics webhook (rotation).
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    #[serde(default)]
    pub deciders: Vec<String>,
    #[serde(default = "one")]
    pub rollback_quorum: u32,
    #[serde(default = "one")]
    pub promote_quorum: u32,
    #[serde(default = "default_on_breach")]
    pub on_breach: OnBreach,
    #[serde(default = "default_on_pass")]
    pub on_pass: OnPass,
    #[serde(default = "default_window", with = "humantime_serde")]
    pub canary_window: Duration,
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub check_interval: Duration,
    #[serde(default = "default_verify_checks")]
    pub verify_checks: u32,
    /// Consecutive checks without data that are themselves a breach (0: never).
    #[serde(default = "default_no_data_limit")]
    pub no_data_limit: u32,
    /// How long recovery may take after a rollback before it is called out loudly.
    #[serde(default = "default_verify_timeout", with = "humantime_serde")]
    pub verify_timeout: Duration,
    /// Label values for the two tracks in query templates (`{{track}}`).
    #[serde(default)]
    pub tracks: Tracks,
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    #[serde(default)]
    pub rollback: Option<RollbackConfig>,
    /// Where drills roll back instead of `rollback` (e.g. a non-critical twin of the service);
    /// same keys as `rollback`. Without it, drills call `rollback` with `"drill": true`.
    #[serde(default)]
    pub drill_executor: Option<RollbackConfig>,
    /// Slack channel id (`C…`) for this service's canary threads; none means no Slack thread.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Discord channel id for this service's canary threads; none means no Discord thread.
    #[serde(default)]
    pub discord_channel: Option<String>,
    /// GitHub deployments that announce this service's deploys.
    #[serde(default)]
    pub github: Option<ServiceGithub>,
    /// The Flagger canary that is this service.
    #[serde(default)]
    pub flagger: Option<ServiceFlagger>,
}

fn one() -> u32 {
    1
}
fn default_on_breach() -> OnBreach {
    OnBreach::Ask
}
fn default_on_pass() -> OnPass {
    OnPass::Ask
}
fn default_window() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_verify_checks() -> u32 {
    2
}
fn default_no_data_limit() -> u32 {
    3
}
fn default_verify_timeout() -> Duration {
    Duration::from_secs(600)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tracks {
    #[serde(default = "default_canary_track")]
    pub canary: String,
    #[serde(default = "default_baseline_track")]
    pub baseline: String,
}

impl Default for Tracks {
    fn default() -> Self {
        Tracks {
            canary: default_canary_track(),
            baseline: default_baseline_track(),
        }
    }
}

fn default_canary_track() -> String {
    "canary".into()
}
fn default_baseline_track() -> String {
    "baseline".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackKind {
    /// A signed POST to the deploy system.
    Webhook,
    /// A program run without a shell (e.g. `kubectl argo rollouts abort …`).
    Command,
    /// A GitHub Actions workflow dispatch.
    GithubWorkflow,
    /// Flagger carries the decision out when it asks canarybot's gates.
    Flagger,
}

impl RollbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RollbackKind::Webhook => "webhook",
            RollbackKind::Command => "command",
            RollbackKind::GithubWorkflow => "github-workflow",
            RollbackKind::Flagger => "flagger",
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackConfig {
    pub kind: RollbackKind,
    /// `webhook`: where to POST.
    #[serde(default)]
    pub url: Option<String>,
    /// `command`: the program and its arguments (no shell).
    #[serde(default)]
    pub argv: Vec<String>,
    /// `command`: extra environment; values never reach logs or the timeline.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// `command`: working directory.
    #[serde(default)]
    pub workdir: Option<String>,
    /// `github-workflow`: `owner/name`.
    #[serde(default)]
    pub repo: Option<String>,
    /// `github-workflow`: workflow file name or id.
    #[serde(default)]
    pub workflow: Option<String>,
    /// `github-workflow`: the git ref to run the workflow on.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// `github-workflow`: a token allowed to dispatch workflows.
    #[serde(default)]
    pub token: Option<String>,
    /// `github-workflow`: GitHub API base URL.
    #[serde(default)]
    pub api_url: Option<String>,
    /// `github-workflow`: workflow inputs; values may use `{{deploy_id}}`, `{{service}}`,
    /// `{{environment}}`, `{{version}}`, `{{sha}}`, `{{action}}`, `{{reason}}`.
    #[serde(default)]
    pub inputs: std::collections::BTreeMap<String, String>,
    /// Signs the executor call; defaults to the first `[webhooks] secrets` entry.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts after the first one, on timeouts, connection errors and non-2xx answers.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; doubles each time.
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}

/// Serde glue for `30s` / `15m` / `1h` durations.
mod humantime_serde {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    /// A bare number is read too, only to say that it needs a unit.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Integer(i64),
        Float(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = match Raw::deserialize(d)? {
            Raw::Integer(n) => n.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Text(s) => s,
        };
        if !s.is_empty() && s.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(serde::de::Error::custom(format!(
                "`{s}` has no unit; write e.g. 15m (or 30s, 1h, 500ms)"
            )));
        }
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration ({e}); write e.g. 30s, 15m, 1h"
            ))
        })
    }
}

/// Serde glue for sizes: an integer (bytes) or a string such as `1MiB`.
mod bytes_serde {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        match Size::deserialize(d)? {
            Size::Bytes(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            Size::Text(t) => crate::limits::parse_bytes(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// `Debug` of the configuration: every secret (tokens, signing secrets, passwords in URLs,
/// executor environment values, extra Prometheus header values) shows as `<redacted>`.
mod debug_impls {
    use super::*;
    use crate::redact;
    use std::fmt;

    impl fmt::Debug for ServerConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("ServerConfig")
                .field("listen", &self.listen)
                .field("public_url", &self.public_url)
                .field("api_tokens", &redact::list(&self.api_tokens))
                .field("max_body", &self.max_body)
                .field("max_header_bytes", &self.max_header_bytes)
                .field("header_timeout", &self.header_timeout)
                .field("body_timeout", &self.body_timeout)
                .field("request_timeout", &self.request_timeout)
                .finish()
        }
    }

    impl fmt::Debug for DatabaseConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("DatabaseConfig")
                .field("url", &redact::url(&self.url))
                .finish()
        }
    }

    impl fmt::Debug for WebhooksConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("WebhooksConfig")
                .field("secrets", &redact::list(&self.secrets))
                .finish()
        }
    }

    impl fmt::Debug for SlackConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SlackConfig")
                .field("bot_token", &redact::Redacted)
                .field("signing_secrets", &redact::list(&self.signing_secrets))
                .field("api_url", &redact::url(&self.api_url))
                .field("group_cache", &self.group_cache)
                .field("workspace_url", &self.workspace_url)
                .finish()
        }
    }

    impl fmt::Debug for DiscordConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("DiscordConfig")
                .field("bot_token", &redact::Redacted)
                .field("application_id", &self.application_id)
                .field("public_key", &self.public_key)
                .field("api_url", &redact::url(&self.api_url))
                .field("guild_id", &self.guild_id)
                .finish()
        }
    }

    impl fmt::Debug for PrometheusConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("PrometheusConfig")
                .field("url", &redact::url(&self.url))
                .field("timeout", &self.timeout)
                .field("headers", &redact::values(&self.headers))
                .field("ui_url", &self.ui_url.as_deref().map(redact::url))
                .finish()
        }
    }

    impl fmt::Debug for AlertmanagerConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("AlertmanagerConfig")
                .field("tokens", &redact::list(&self.tokens))
                .field("service_label", &self.service_label)
                .field("environment_label", &self.environment_label)
                .finish()
        }
    }

    impl fmt::Debug for GithubConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("GithubConfig")
                .field("webhook_secrets", &redact::list(&self.webhook_secrets))
                .finish()
        }
    }

    impl fmt::Debug for FlaggerConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("FlaggerConfig")
                .field("tokens", &redact::list(&self.tokens))
                .finish()
        }
    }

    impl fmt::Debug for RollbackConfig {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RollbackConfig")
                .field("kind", &self.kind)
                .field("url", &self.url.as_deref().map(redact::url))
                .field("argv", &self.argv)
                .field("env", &redact::values(&self.env))
                .field("workdir", &self.workdir)
                .field("repo", &self.repo)
                .field("workflow", &self.workflow)
                .field("git_ref", &self.git_ref)
                .field("token", &redact::opt(&self.token))
                .field("api_url", &self.api_url.as_deref().map(redact::url))
                .field("inputs", &self.inputs)
                .field("secret", &redact::opt(&self.secret))
                .field("timeout", &self.timeout)
                .field("retries", &self.retries)
                .field("backoff", &self.backoff)
                .finish()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Env(String),
    #[error("{0}")]
    Parse(String),
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Replaces every `${VAR}` with `lookup(VAR)`; a missing variable is an error naming it (and the
/// line it is on). `$${` escapes a literal `${`.
pub fn substitute_env(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    substitute_env_tracked(text, lookup).map(|(out, _)| out)
}

/// [`substitute_env`], also returning each variable substituted with its value, so that errors
/// can show `${VAR}` instead of a secret.
fn substitute_env_tracked(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let mut used = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    for (lineno, full) in text.split_inclusive('\n').enumerate() {
        // Comments are left alone: a commented-out `${OLD_SECRET}` must not be required.
        let cut = comment_start(full);
        let (line, comment) = full.split_at(cut);
        let mut rest = line;
        while let Some(pos) = rest.find("${") {
            if rest[..pos].ends_with('$') {
                out.push_str(&rest[..pos - 1]);
                out.push_str("${");
                rest = &rest[pos + 2..];
                continue;
            }
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else {
                return Err(ConfigError::Env(format!(
                    "line {}: `${{` without a closing `}}`",
                    lineno + 1
                )));
            };
            let name = &after[..end];
            match lookup(name) {
                Some(v) => {
                    out.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
                    used.push((name.to_string(), v));
                }
                None => missing.push(format!(
                    "line {}: environment variable {name} is not set",
                    lineno + 1
                )),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    if missing.is_empty() {
        Ok((out, used))
    } else {
        Err(ConfigError::Env(missing.join("\n")))
    }
}

/// Byte offset of a `#` comment outside TOML strings, or the line's length.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => return i,
                _ => {}
            },
        }
    }
    line.len()
}

impl Config {
    /// Reads, substitutes from the process environment, parses and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, &|name| std::env::var(name).ok())
    }

    /// Parses TOML with `${VAR}` taken from `lookup`, then validates.
    pub fn from_toml(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (text, used) = substitute_env_tracked(text, lookup)?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            // A parse error quotes the offending line: show `${VAR}`, never the secret in it.
            let mut message = e.to_string();
            for (name, value) in &used {
                if value.len() >= 4 {
                    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
                    message = message
                        .replace(escaped.as_str(), &format!("${{{name}}}"))
                        .replace(value.as_str(), &format!("${{{name}}}"));
                }
            }
            ConfigError::Parse(message)
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// Every problem as `key.path: what is wrong`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.server.listen.parse::<SocketAddr>().is_err() {
            out.push(format!(
                "server.listen: `{}` is not an address such as 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if let Some(u) = &self.server.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            out.push(format!(
                "server.public_url: `{u}` must start with http:// or https://"
            ));
        }
        for (i, t) in self.server.api_tokens.iter().enumerate() {
            if t.len() < 16 {
                out.push(format!(
                    "server.api_tokens[{i}]: too short ({} characters); use at least 16",
                    t.len()
                ));
            }
        }
        out.extend(self.server.limit_problems());
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            out.push(format!(
                "database.url: `{url}` must start with sqlite:// or postgres://"
            ));
        }
        let d = &self.delivery;
        if d.lease < Duration::from_secs(1) {
            out.push("delivery.lease: must be at least 1s".to_string());
        }
        if d.max_backoff < Duration::from_secs(1) {
            out.push("delivery.max_backoff: must be at least 1s".to_string());
        }
        if d.dedup_window < Duration::from_secs(60) {
            out.push(
                "delivery.dedup_window: must be at least 1m (redeliveries come minutes apart)"
                    .to_string(),
            );
        }
        for (i, s) in self.webhooks.secrets.iter().enumerate() {
            if s.len() < 16 {
                out.push(format!(
                    "webhooks.secrets[{i}]: too short ({} characters); use at least 16",
                    s.len()
                ));
            }
        }
        if self.webhooks.secrets.is_empty() {
            out.push(
                "webhooks.secrets: at least one secret is needed to accept signed webhooks".into(),
            );
        }
        if let Some(slack) = &self.slack {
            if slack.bot_token.trim().is_empty() {
                out.push("slack.bot_token: must not be empty".into());
            }
            if slack.signing_secrets.is_empty() {
                out.push("slack.signing_secrets: at least one signing secret is needed".into());
            }
            for (i, s) in slack.signing_secrets.iter().enumerate() {
                if s.trim().is_empty() {
                    out.push(format!("slack.signing_secrets[{i}]: must not be empty"));
                }
            }
            if !(slack.api_url.starts_with("http://") || slack.api_url.starts_with("https://")) {
                out.push(format!(
                    "slack.api_url: `{}` must start with http:// or https://",
                    slack.api_url
                ));
            }
        }
        if let Some(d) = &self.discord {
            if d.bot_token.trim().is_empty() {
                out.push("discord.bot_token: must not be empty".into());
            }
            if !snowflake(&d.application_id) {
                out.push(format!(
                    "discord.application_id: `{}` is not a Discord id (digits)",
                    d.application_id
                ));
            }
            let key_ok = hex::decode(d.public_key.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .is_some_and(|k| serenity::interactions_endpoint::Verifier::try_new(k).is_ok());
            if !key_ok {
                out.push(
                    "discord.public_key: must be the application's 64-hex-digit Ed25519 public key"
                        .into(),
                );
            }
            if !(d.api_url.starts_with("http://") || d.api_url.starts_with("https://")) {
                out.push(format!(
                    "discord.api_url: `{}` must start with http:// or https://",
                    d.api_url
                ));
            }
        }
        if let Some(g) = &self.github
            && g.webhook_secrets.iter().all(|s| s.trim().is_empty())
        {
            out.push("github.webhook_secrets: at least one secret is needed".into());
        }
        for s in &self.services {
            if let Some(g) = &s.github {
                if self.github.is_none() {
                    out.push(format!(
                        "service[{}].github: set, but there is no [github] section",
                        s.name
                    ));
                }
                if g.repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
                    out.push(format!(
                        "service[{}].github.repo: `{}` is not owner/name",
                        s.name, g.repo
                    ));
                }
            }
        }
        if let Some(f) = &self.flagger
            && f.tokens.iter().all(|t| t.len() < 16)
        {
            out.push(
                "flagger.tokens: at least one token of 16 or more characters is needed".into(),
            );
        }
        for s in &self.services {
            if s.flagger.is_some() && self.flagger.is_none() {
                out.push(format!(
                    "service[{}].flagger: set, but there is no [flagger] section",
                    s.name
                ));
            }
        }
        if let Some(a) = &self.alertmanager {
            if a.tokens.is_empty() {
                out.push("alertmanager.tokens: at least one token is needed; alerts are never accepted unauthenticated".into());
            }
            for (i, t) in a.tokens.iter().enumerate() {
                if t.len() < 16 {
                    out.push(format!(
                        "alertmanager.tokens[{i}]: too short ({} characters); use at least 16",
                        t.len()
                    ));
                }
            }
        }
        if let Some(p) = &self.prometheus {
            if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                out.push(format!(
                    "prometheus.url: `{}` must start with http:// or https://",
                    p.url
                ));
            }
            if p.timeout.is_zero() {
                out.push("prometheus.timeout: must be > 0".into());
            }
        }
        let mut people = HashSet::new();
        let mut tied = HashSet::new();
        for (i, p) in self.people.iter().enumerate() {
            let key = format!("people[{i}]");
            if p.name.trim().is_empty() {
                out.push(format!("{key}.name: must not be empty"));
            } else if !people.insert(p.name.clone()) {
                out.push(format!("{key}.name: `{}` appears twice", p.name));
            }
            if p.identities().is_empty() {
                out.push(format!("{key}: name at least one of slack, discord"));
            }
            for id in p.identities() {
                if let Err(e) = platform_id_problem(&id) {
                    let field = id.split(':').next().unwrap_or_default();
                    out.push(format!("{key}.{field}: {e}"));
                }
                if !tied.insert(id.clone()) {
                    out.push(format!("{key}: `{id}` is tied to two people"));
                }
            }
        }
        let mut names = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let key = if s.name.is_empty() {
                format!("service[{i}]")
            } else {
                format!("service[{}]", s.name)
            };
            if s.name.trim().is_empty() {
                out.push(format!("{key}.name: must not be empty"));
            } else if s.name.chars().count() > crate::limits::SERVICE {
                out.push(format!(
                    "{key}.name: longer than {} characters",
                    crate::limits::SERVICE
                ));
            } else if !names.insert(s.name.clone()) {
                out.push(format!("{key}.name: `{}` is configured twice", s.name));
            }
            if s.deciders.is_empty() {
                out.push(format!(
                    "{key}.deciders: name at least one person or group who may decide"
                ));
            }
            for (j, d) in s.deciders.iter().enumerate() {
                if let Err(e) = parse_decider(d).and_then(|()| platform_id_problem(d)) {
                    out.push(format!("{key}.deciders[{j}]: {e}"));
                }
            }
            if s.canary_window.is_zero() {
                out.push(format!("{key}.canary_window: must be > 0; write e.g. 15m"));
            }
            if let Some(c) = s
                .name
                .chars()
                .find(|c| crate::server::hooks::is_unprintable(*c))
            {
                out.push(format!(
                    "{key}.name: contains U+{:04X}, a control or invisible format character; use printable characters",
                    c as u32
                ));
            }
            if s.rollback_quorum == 0 {
                out.push(format!("{key}.rollback_quorum: must be >= 1"));
            }
            if s.promote_quorum == 0 {
                out.push(format!("{key}.promote_quorum: must be >= 1"));
            }
            if s.check_interval.is_zero() {
                out.push(format!("{key}.check_interval: must be > 0"));
            }
            if s.verify_checks == 0 {
                out.push(format!("{key}.verify_checks: must be >= 1"));
            }
            if s.criteria.is_empty() {
                out.push(format!("{key}.criteria: at least one criterion is needed"));
            }
            if let Some(ch) = &s.discord_channel {
                if self.discord.is_none() {
                    out.push(format!(
                        "{key}.discord_channel: set, but there is no [discord] section"
                    ));
                }
                if !snowflake(ch) {
                    out.push(format!(
                        "{key}.discord_channel: `{ch}` must be a channel id (digits)"
                    ));
                }
            }
            if let Some(ch) = &s.slack_channel {
                if self.slack.is_none() {
                    out.push(format!(
                        "{key}.slack_channel: set, but there is no [slack] section"
                    ));
                }
                let looks_like_id = ch.len() >= 2
                    && ch.starts_with(['C', 'G', 'D'])
                    && ch
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if !looks_like_id {
                    out.push(format!(
                        "{key}.slack_channel: `{ch}` must be a channel id such as C0123ABCD, not a name"
                    ));
                }
            }
            out.extend(criteria_problems(&key, &s.criteria));
            for (j, c) in s.criteria.iter().enumerate() {
                if c.query.is_some() && self.prometheus.is_none() {
                    out.push(format!(
                        "{key}.criteria[{j}].query: set, but there is no [prometheus] section"
                    ));
                }
            }
            if let Some(r) = &s.rollback {
                self.executor_problems(&key, "rollback", s, r, &mut out);
            }
            if let Some(r) = &s.drill_executor {
                self.executor_problems(&key, "drill_executor", s, r, &mut out);
            }
        }
        out
    }

    /// Problems with one executor table (`rollback` or `drill_executor`) of a service.
    fn executor_problems(
        &self,
        key: &str,
        field: &str,
        s: &ServiceConfig,
        r: &RollbackConfig,
        out: &mut Vec<String>,
    ) {
        match r.kind {
            RollbackKind::Webhook => {
                match &r.url {
                    None => out.push(format!(
                        "{key}.{field}.url: required for kind = \"webhook\""
                    )),
                    Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                        out.push(format!(
                            "{key}.{field}.url: `{u}` must start with http:// or https://"
                        ));
                    }
                    Some(_) => {}
                }
                if r.secret.is_none() && self.webhooks.secrets.is_empty() {
                    out.push(format!(
                        "{key}.{field}.secret: no secret and no [webhooks] secrets to sign with"
                    ));
                }
            }
            RollbackKind::GithubWorkflow => {
                for (name, v) in [
                    ("repo", &r.repo),
                    ("workflow", &r.workflow),
                    ("ref", &r.git_ref),
                    ("token", &r.token),
                ] {
                    if v.as_deref().is_none_or(|v| v.trim().is_empty()) {
                        out.push(format!(
                            "{key}.{field}.{name}: required for kind = \"github-workflow\""
                        ));
                    }
                }
            }
            RollbackKind::Flagger => {
                if s.flagger.is_none() {
                    out.push(format!("{key}.{field}.kind: \"flagger\" needs the service's flagger = {{ name, namespace }}"));
                }
            }
            RollbackKind::Command => {
                if r.argv.is_empty() || r.argv[0].trim().is_empty() {
                    out.push(format!(
                    "{key}.{field}.argv: name the program and its arguments, e.g. [\"kubectl\", \"argo\", \"rollouts\", \"abort\", \"checkout\"]"
                ));
                }
                if r.url.is_some() {
                    out.push(format!("{key}.{field}.url: not used by kind = \"command\""));
                }
            }
        }
        if r.timeout.is_zero() {
            out.push(format!("{key}.{field}.timeout: must be > 0"));
        }
    }

    /// Warnings that do not stop the server.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.server.api_tokens.is_empty() {
            let loopback = self
                .server
                .listen
                .parse::<SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or(false);
            if !loopback {
                out.push(format!(
                    "server.api_tokens: empty while listening on {}: the timeline API and votes API are open to anyone who can reach it",
                    self.server.listen
                ));
            }
        }
        if self.services.is_empty() {
            out.push(
                "service: no services configured; every deploy webhook will be refused".into(),
            );
        }
        out
    }

    /// The voter behind a platform identity, with the person it is tied to, if any.
    pub fn voter(&self, identity: &str, name: &str, groups: Vec<String>) -> Voter {
        let person = self
            .people
            .iter()
            .find(|p| p.identities().iter().any(|i| i == identity));
        match person {
            Some(p) => Voter {
                identity: identity.to_string(),
                name: p.name.clone(),
                groups,
                person: Some(p.name.clone()),
                aliases: p
                    .identities()
                    .into_iter()
                    .filter(|i| i != identity)
                    .collect(),
            },
            None => Voter {
                identity: identity.to_string(),
                name: name.to_string(),
                groups,
                person: None,
                aliases: Vec::new(),
            },
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }

    /// The agreement to lock into a new deploy: the service's criteria plus the deploy's own, each
    /// given its side-by-side view. Every deploy source starts deploys through this.
    pub fn lock_policy(
        &self,
        service: &ServiceConfig,
        extra: Vec<Criterion>,
        info: &crate::domain::DeployInfo,
        now_ms: i64,
    ) -> Result<Policy, String> {
        let mut policy = service.policy(extra)?;
        crate::metrics::prometheus::lock_links(
            self,
            &service.tracks,
            info,
            now_ms,
            &mut policy.criteria,
        );
        Ok(policy)
    }

    /// The agreement a drill of `service` runs under: the service's deciders, quorums and
    /// verification, its drill executor if it has one, and the synthetic `drill` criterion.
    pub fn drill_policy(
        &self,
        service: &ServiceConfig,
        breach_after_s: u64,
    ) -> Result<Policy, String> {
        let mut policy = crate::domain::drill::policy(service.policy(Vec::new())?, breach_after_s);
        if let Some(r) = &service.drill_executor {
            policy.executor = Some(r.kind.as_str().to_string());
        }
        Ok(policy)
    }

    /// A link to a canary thread, where the platform's address is configured.
    pub fn thread_link(&self, platform: &str, thread_ref: &str) -> Option<String> {
        match platform {
            "slack" => {
                crate::slack::permalink(self.slack.as_ref()?.workspace_url.as_deref()?, thread_ref)
            }
            "discord" => {
                crate::discord::permalink(self.discord.as_ref()?.guild_id.as_deref()?, thread_ref)
            }
            _ => None,
        }
    }

    /// The secret the rollback executor signs with.
    pub fn executor_secret(&self, rollback: &RollbackConfig) -> String {
        rollback
            .secret
            .clone()
            .or_else(|| self.webhooks.secrets.first().cloned())
            .unwrap_or_default()
    }
}

/// Problems with a list of criteria, keyed `{prefix}.criteria[i].field`.
pub fn criteria_problems(prefix: &str, criteria: &[Criterion]) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in criteria.iter().enumerate() {
        for (field, problem) in c.problems() {
            out.push(format!("{prefix}.criteria[{i}].{field}: {problem}"));
        }
        if !names.insert(c.name.as_str()) {
            out.push(format!(
                "{prefix}.criteria[{i}].name: `{}` appears twice",
                c.name
            ));
        }
    }
    out
}

impl ServiceConfig {
    /// The agreement to lock into a new deploy, with the deploy's own extra criteria merged in.
    pub fn policy(&self, extra: Vec<Criterion>) -> Result<Policy, String> {
        let mut criteria = self.criteria.clone();
        for c in extra {
            if criteria.iter().any(|k| k.name == c.name) {
                return Err(format!(
                    "criteria: `{}` is already a criterion of service {}; extra criteria must have new names",
                    c.name, self.name
                ));
            }
            criteria.push(c);
        }
        Ok(Policy {
            criteria,
            deciders: self.deciders.clone(),
            rollback_quorum: self.rollback_quorum,
            promote_quorum: self.promote_quorum,
            on_breach: self.on_breach,
            on_pass: self.on_pass,
            canary_window_s: self.canary_window.as_secs(),
            verify_checks: self.verify_checks,
            executor: self.rollback.as_ref().map(|r| r.kind.as_str().to_string()),
            no_data_limit: self.no_data_limit,
            verify_timeout_s: self.verify_timeout.as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"
api_tokens = ["${TOKEN}"]
[database]
url = "sqlite://x.db"
[webhooks]
secrets = ["${SECRET}", "an-older-secret-still-valid"]
[[service]]
name = "checkout"
deciders = ["slack:U01ALICE", "slack-group:S01SRE"]
canary_window = "15m"
check_interval = "30s"
[[service.criteria]]
name = "5xx ratio"
max = 0.01
max_ratio = 1.5
failure_limit = 3
[service.rollback]
kind = "webhook"
url = "http://127.0.0.1:9/rollback"
timeout = "10s"
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("token-0123456789abcdef".into()),
            "SECRET" => Some("secret-0123456789abcdef".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_with_env_and_defaults() {
        let c = Config::from_toml(GOOD, &env).expect("valid");
        assert_eq!(c.webhooks.secrets[0], "secret-0123456789abcdef");
        let s = c.service("checkout").expect("service");
        assert_eq!(s.canary_window, Duration::from_secs(900));
        assert_eq!(s.verify_checks, 2);
        assert_eq!(s.rollback.as_ref().map(|r| r.retries), Some(3));
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn missing_env_var_is_named() {
        let err =
            Config::from_toml(GOOD, &|n| if n == "TOKEN" { env(n) } else { None }).unwrap_err();
        assert!(
            err.to_string()
                .contains("environment variable SECRET is not set"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = GOOD.replace("max_ratio = 1.5", "max_ratoi = 1.5");
        let err = Config::from_toml(&text, &env).unwrap_err();
        assert!(err.to_string().contains("max_ratoi"), "{err}");
    }

    #[test]
    fn problems_carry_key_paths() {
        let text = GOOD
            .replace("max_ratio = 1.5", "max_ratio = 0")
            .replace("\"slack-group:S01SRE\"", "\"slak:U02\"");
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(
            err.contains("service[checkout].criteria[0].max_ratio: must be > 0"),
            "{err}"
        );
        assert!(
            err.contains("service[checkout].deciders[1]: unknown kind `slak`"),
            "{err}"
        );
    }

    #[test]
    fn ids_that_can_never_match_are_refused() {
        let text = GOOD.replace(
            "deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]",
            "deciders = [\"slack:@bob\", \"slack-group:sre-oncall\", \"discord:mason#1337\", \"discord-role:oncall\", \"slack:W0123ABC\", \"discord:445566778899\"]",
        );
        assert_ne!(text, GOOD);
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        for expected in [
            "deciders[0]: `slack:@bob` is not a Slack user id; write slack:U… or slack:W…",
            "deciders[1]: `slack-group:sre-oncall` is not a Slack user-group id; write slack-group:S…",
            "deciders[2]: `discord:mason#1337` is not a Discord id; write discord:<digits>",
            "deciders[3]: `discord-role:oncall` is not a Discord id; write discord-role:<digits>",
        ] {
            assert!(err.contains(expected), "{expected}: {err}");
        }
        assert!(
            !err.contains("deciders[4]") && !err.contains("deciders[5]"),
            "{err}"
        );
        let people = format!(
            "{GOOD}\n[[people]]\nname = \"bob\"\nslack = \"bob\"\ndiscord = \"mason#1337\"\n"
        );
        let err = Config::from_toml(&people, &env).unwrap_err().to_string();
        assert!(
            err.contains("people[0].slack: `slack:bob` is not a Slack user id"),
            "{err}"
        );
        assert!(
            err.contains("people[0].discord: `discord:mason#1337` is not a Discord id"),
            "{err}"
        );
    }

    #[test]
    fn durations_need_a_unit_and_the_window_time() {
        for bare in ["\"900\"", "900"] {
            let text = GOOD.replace("\"15m\"", bare);
            let err = Config::from_toml(&text, &env).unwrap_err().to_string();
            assert!(
                err.contains("`900` has no unit; write e.g. 15m"),
                "{bare}: {err}"
            );
        }
        let text = GOOD.replace("\"15m\"", "\"0s\"");
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(
            err.contains("service[checkout].canary_window: must be > 0"),
            "{err}"
        );
    }

    #[test]
    fn bad_duration_is_explained() {
        let text = GOOD.replace("\"15m\"", "\"fifteen\"");
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(err.contains("`fifteen` is not a duration"), "{err}");
    }

    #[test]
    fn open_api_on_a_public_address_warns() {
        let text = GOOD
            .replace("api_tokens = [\"${TOKEN}\"]", "")
            .replace("127.0.0.1:8080", "0.0.0.0:8080");
        let c = Config::from_toml(&text, &env).expect("valid");
        assert!(c.warnings()[0].contains("server.api_tokens"));
    }

    #[test]
    fn extra_criteria_merge_and_clash() {
        let c = Config::from_toml(GOOD, &env).expect("valid");
        let s = c.service("checkout").expect("service");
        let extra = Criterion {
            name: "cart errors".into(),
            max: Some(1.0),
            min: None,
            max_ratio: None,
            max_delta: None,
            failure_limit: 2,
            query: None,
            unit: None,
            link: None,
        };
        let p = s.policy(vec![extra.clone()]).expect("merged");
        assert_eq!(p.criteria.len(), 2);
        let clash = Criterion {
            name: "5xx ratio".into(),
            ..extra
        };
        assert!(
            s.policy(vec![clash])
                .unwrap_err()
                .contains("`5xx ratio` is already")
        );
    }

    #[test]
    fn comments_are_not_substituted() {
        let out = substitute_env("# old = \"${GONE}\"\na = \"x#${V}\" # ${GONE}\n", &|n| {
            (n == "V").then(|| "v".to_string())
        })
        .expect("comments skipped");
        assert_eq!(out, "# old = \"${GONE}\"\na = \"x#v\" # ${GONE}\n");
    }

    #[test]
    fn slack_channel_needs_a_slack_section() {
        let text = GOOD.replace(
            "canary_window = ",
            "slack_channel = \"C0CHECKOUT\"\ncanary_window = ",
        );
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(
            err.contains("service[checkout].slack_channel: set, but there is no [slack] section"),
            "{err}"
        );
        let named = text.replace("C0CHECKOUT", "checkout");
        let err = Config::from_toml(&named, &env).unwrap_err().to_string();
        assert!(
            err.contains("must be a channel id such as C0123ABCD"),
            "{err}"
        );
        let with_slack = text.replace(
            "[database]",
            "[slack]\nbot_token = \"xoxb-1\"\nsigning_secrets = [\"s1\", \"s0\"]\n[database]",
        );
        let c = Config::from_toml(&with_slack, &env).expect("valid");
        assert_eq!(
            c.slack.as_ref().map(|s| s.api_url.as_str()),
            Some("https://slack.com/api")
        );
    }

    #[test]
    fn rollback_kinds_need_their_keys() {
        let text = GOOD.replace(
            "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"",
            "kind = \"command\"",
        );
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(
            err.contains("service[checkout].rollback.argv: name the program"),
            "{err}"
        );
        let ok = text.replace(
            "kind = \"command\"",
            "kind = \"command\"\nargv = [\"kubectl\", \"argo\", \"rollouts\", \"abort\", \"checkout\"]",
        );
        let c = Config::from_toml(&ok, &env).expect("valid");
        let p = c
            .service("checkout")
            .expect("svc")
            .policy(vec![])
            .expect("policy");
        assert_eq!(p.executor.as_deref(), Some("command"));
        let no_url = GOOD.replace("url = \"http://127.0.0.1:9/rollback\"\n", "");
        let err = Config::from_toml(&no_url, &env).unwrap_err().to_string();
        assert!(
            err.contains("rollback.url: required for kind = \"webhook\""),
            "{err}"
        );
    }

    /// Every secret the configuration can hold, each a distinct marker.
    const ALL_SECRETS: &str = r#"
[server]
listen = "127.0.0.1:8080"
api_tokens = ["SECRET-api-token-0001"]
[database]
url = "postgres://canarybot:SECRET-db-password-0002@db:5432/canarybot"
[webhooks]
secrets = ["SECRET-webhook-secret-0003", "SECRET-webhook-secret-0004"]
[slack]
bot_token = "SECRET-xoxb-slack-0005"
signing_secrets = ["SECRET-slack-signing-0006"]
[discord]
bot_token = "SECRET-discord-bot-0007"
application_id = "424242"
public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[prometheus]
url = "http://prom:SECRET-prom-password-0008@prometheus:9090"
headers = { Authorization = "Bearer SECRET-prom-header-0009" }
[alertmanager]
tokens = ["SECRET-alertmanager-0010"]
[github]
webhook_secrets = ["SECRET-github-0011"]
[flagger]
tokens = ["SECRET-flagger-token-0012"]
[[service]]
name = "checkout"
deciders = ["slack:U01ALICE"]
[[service.criteria]]
name = "5xx ratio"
max = 0.01
[service.rollback]
kind = "webhook"
url = "https://deploy.example/rollback?token=SECRET-url-token-0013"
secret = "SECRET-executor-secret-0014"
[service.drill_executor]
kind = "github-workflow"
repo = "acme/checkout"
workflow = "rollback.yml"
ref = "main"
token = "SECRET-github-token-0015"
[[service]]
name = "search"
deciders = ["slack:U01ALICE"]
[[service.criteria]]
name = "errors"
max = 5
[service.rollback]
kind = "command"
argv = ["kubectl", "argo", "rollouts", "abort", "search"]
env = { KUBE_TOKEN = "SECRET-command-env-0016" }
"#;

    #[test]
    fn debug_never_shows_a_secret() {
        let c = match Config::from_toml(ALL_SECRETS, &|_| None) {
            Ok(c) => c,
            Err(e) => panic!("valid: {e}"),
        };
        let debug = format!("{c:?}");
        let pretty = format!("{c:#?}");
        for text in [&debug, &pretty] {
            assert!(!text.contains("SECRET"), "a secret leaked: {text}");
        }
        // What is not secret is still there, and the secrets are counted.
        assert!(debug.contains("listen: \"127.0.0.1:8080\""), "{debug}");
        assert!(
            debug.contains("postgres://canarybot:<redacted>@db:5432/canarybot"),
            "{debug}"
        );
        assert!(
            debug.contains("secrets: [<redacted>, <redacted>]"),
            "{debug}"
        );
        assert!(debug.contains("KUBE_TOKEN"), "{debug}");
        assert!(debug.contains("rollback?token=<redacted>"), "{debug}");
    }

    #[test]
    fn parse_errors_show_the_variable_not_its_value() {
        let text = "[server]\napi_tokens = \"${TOKEN}\"\n";
        let err = Config::from_toml(text, &env).unwrap_err().to_string();
        assert!(!err.contains("token-0123456789abcdef"), "{err}");
        assert!(err.contains("${TOKEN}"), "{err}");
    }

    #[test]
    fn server_limits_parse_and_are_checked() {
        let c = Config::from_toml(GOOD, &env).expect("valid");
        assert_eq!(c.server.max_body, 1024 * 1024);
        assert_eq!(c.server.max_header_bytes, 16 * 1024);
        assert_eq!(c.server.header_timeout, Duration::from_secs(10));
        assert_eq!(c.server.body_timeout, Duration::from_secs(10));
        assert_eq!(c.server.request_timeout, Duration::from_secs(30));
        let text = GOOD.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nmax_body = \"256KiB\"\nmax_header_bytes = 32768\nheader_timeout = \"5s\"\nbody_timeout = \"2s\"\nrequest_timeout = \"1m\"",
        );
        let c = Config::from_toml(&text, &env).expect("valid");
        assert_eq!(c.server.max_body, 256 * 1024);
        assert_eq!(c.server.max_header_bytes, 32768);
        assert_eq!(c.server.request_timeout, Duration::from_secs(60));
        let bad = GOOD.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nmax_body = \"10\"\nbody_timeout = \"0s\"",
        );
        let err = Config::from_toml(&bad, &env).unwrap_err().to_string();
        assert!(
            err.contains("server.max_body: 10 bytes is outside 1 KiB to 64 MiB"),
            "{err}"
        );
        assert!(err.contains("server.body_timeout: must be > 0"), "{err}");
        let unit = GOOD.replace(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8080\"\nmax_body = \"1 parsec\"",
        );
        let err = Config::from_toml(&unit, &env).unwrap_err().to_string();
        assert!(err.contains("unknown unit"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn files_others_can_read_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("canarybot.toml");
        std::fs::write(&path, GOOD).expect("write");
        for (mode, expected) in [
            (0o644, Some("readable by other users (mode 0644)")),
            (0o640, Some("readable by other users (mode 0640)")),
            (
                0o660,
                Some("readable and writable by other users (mode 0660)"),
            ),
            (0o620, Some("writable by other users (mode 0620)")),
            (0o600, None),
            (0o400, None),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let w = permission_warning(&path);
            match expected {
                None => assert_eq!(w, None, "{mode:o}"),
                Some(e) => {
                    let w = w.expect("a warning");
                    assert!(w.contains(e), "{w}");
                    assert!(w.contains(&format!("chmod 600 {}", path.display())), "{w}");
                }
            }
        }
        assert_eq!(permission_warning(&dir.path().join("missing.toml")), None);
    }

    #[test]
    fn dollar_escape() {
        let out = substitute_env("a = \"$${HOME}\"", &|_| None).expect("escaped");
        assert_eq!(out, "a = \"${HOME}\"");
    }
}
