//! The configuration's shape: one type per TOML section, with its defaults. What each value
//! must satisfy is checked in `validate`; how secrets print is in `debug`.

use super::units::{bytes_serde, humantime_serde, step_serde};
use super::{Criterion, RollbackConfig};
use crate::domain::deploy::DefaultDecision;
use crate::domain::{OnBreach, OnPass};
use serde::Deserialize;
use std::time::Duration;

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
    /// The person's id on each chat platform, as `<person prefix> = "id"` in the file
    /// (`slack = "U01ALICE"`, `discord = "445566…"`), in the platforms' order. Taken out of the
    /// file by the platforms (`config::platforms`).
    #[serde(skip)]
    pub ids: Vec<(String, String)>,
    /// GitHub login: a deploy whose `actor` is this login was deployed by this person (four eyes,
    /// `forbid_self_promote`). Compared without regard to case, as GitHub does.
    #[serde(default)]
    pub github: Option<String>,
    /// Other names a deploy's `actor` may give this person (`ci-alice`, a deploy system's user).
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl PersonConfig {
    pub fn identities(&self) -> Vec<String> {
        self.ids
            .iter()
            .map(|(prefix, id)| format!("{prefix}:{id}"))
            .collect()
    }

    /// The names a deploy's `actor` may give this person besides their chat identities: the
    /// GitHub login and the aliases.
    pub fn deploy_names(&self) -> Vec<String> {
        self.github
            .iter()
            .chain(self.aliases.iter())
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect()
    }
}

/// Flagger's webhooks: tokens accepted as `metadata.token` or `?token=`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlaggerConfig {
    pub tokens: Vec<String>,
}

/// `[pagerduty]`: pages through the Events API v2 of one PagerDuty service (its integration's
/// routing key).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The Events API v2 integration key of the service to page (`${PD_ROUTING_KEY}`).
    pub routing_key: String,
    /// Where events go (a fake on loopback in tests).
    #[serde(default = "default_pagerduty_api_url")]
    pub api_url: String,
    /// Also send each deploy started, promoted and rolled back as a change event.
    #[serde(default)]
    pub change_events: bool,
}

pub const PAGERDUTY_API_URL: &str = "https://events.pagerduty.com";

fn default_pagerduty_api_url() -> String {
    PAGERDUTY_API_URL.into()
}

/// `[opsgenie]`: pages as Opsgenie alerts, with an API integration's key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieConfig {
    /// The API integration's key, sent as `Authorization: GenieKey …` (`${OPSGENIE_KEY}`).
    pub api_key: String,
    /// Where alerts go: `https://api.eu.opsgenie.com` for the EU instance (a fake in tests).
    #[serde(default = "default_opsgenie_api_url")]
    pub api_url: String,
}

pub const OPSGENIE_API_URL: &str = "https://api.opsgenie.com";

fn default_opsgenie_api_url() -> String {
    OPSGENIE_API_URL.into()
}

/// Which Flagger canary is this service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFlagger {
    pub name: String,
    pub namespace: String,
}

/// GitHub's deployment webhooks, and the GitHub App that answers deployment protection rules.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// Any one of these may sign (`X-Hub-Signature-256`); the App's events are signed the same way.
    pub webhook_secrets: Vec<String>,
    /// The GitHub App's id (its settings page, "App ID"); without it there is no App.
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The App's private key as PEM text (`${GITHUB_APP_PRIVATE_KEY}`); or `private_key_path`.
    #[serde(default)]
    pub private_key: Option<String>,
    /// A file holding the App's private key as PEM; or `private_key`.
    #[serde(default)]
    pub private_key_path: Option<String>,
    /// GitHub's REST API: `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise.
    /// Protection-rule callbacks are answered only under it.
    #[serde(default = "super::executor::default_github_api_url")]
    pub api_url: String,
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
    /// The service's channel on each chat platform (platform name → channel id), written
    /// `<platform>_channel = "…"` (`slack_channel = "C0123ABCD"`); a platform without one gives
    /// the service no thread there. Taken out of the file by the platforms.
    #[serde(skip)]
    pub channels: std::collections::BTreeMap<String, String>,
    /// GitHub deployments that announce this service's deploys.
    #[serde(default)]
    pub github: Option<ServiceGithub>,
    /// The Flagger canary that is this service.
    #[serde(default)]
    pub flagger: Option<ServiceFlagger>,
    /// How an unanswered decision escalates; without it a decision waits for people.
    #[serde(default)]
    pub escalation: Option<EscalationConfig>,
    /// A vote counts only with a reason: the buttons ask for it in a modal, a command without one
    /// is answered with how to give one.
    #[serde(default)]
    pub require_reason: bool,
    /// Four eyes: the person who deployed (the deploy's `actor`, matched against their chat
    /// identities and `[[people]]` `github`/`aliases`) cannot count toward promote.
    #[serde(default)]
    pub forbid_self_promote: bool,
    /// Whether a deploy may start: GitHub protection rules, Flagger's confirm-rollout,
    /// `canarybot gate`.
    #[serde(default)]
    pub gate: Option<super::GateConfig>,
    /// Watching after promotion: each criterion's `watch_query` against 1 and 7 days earlier.
    /// Off without the section.
    #[serde(default)]
    pub watch: Option<WatchConfig>,
}

/// `[service.watch]`: how long after promotion the watch runs, and how often it checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    #[serde(default = "default_after_promotion", with = "humantime_serde")]
    pub after_promotion: Duration,
    #[serde(default = "default_watch_interval", with = "humantime_serde")]
    pub interval: Duration,
}

fn default_after_promotion() -> Duration {
    Duration::from_secs(48 * 3600)
}
fn default_watch_interval() -> Duration {
    Duration::from_secs(5 * 60)
}

/// `[service.escalation]`: remind, page, then decide, each counted from the moment a decision was
/// asked for. Each step is on with the default shown unless written `"off"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    #[serde(default = "default_remind_after", with = "step_serde")]
    pub remind_after: Option<Duration>,
    #[serde(default = "default_page_after", with = "step_serde")]
    pub page_after: Option<Duration>,
    #[serde(default = "default_decide_after", with = "step_serde")]
    pub decide_after: Option<Duration>,
    #[serde(default)]
    pub default_decision: DefaultDecision,
}

fn default_remind_after() -> Option<Duration> {
    Some(Duration::from_secs(5 * 60))
}
fn default_page_after() -> Option<Duration> {
    Some(Duration::from_secs(10 * 60))
}
fn default_decide_after() -> Option<Duration> {
    Some(Duration::from_secs(20 * 60))
}

impl ServiceConfig {
    /// The service's channel on `platform`, if it has one.
    pub fn channel(&self, platform: &str) -> Option<&str> {
        self.channels.get(platform).map(String::as_str)
    }
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
