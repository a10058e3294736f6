//! `[service.rollback]` and `[service.drill_executor]`: which executor carries a decision out, and
//! exactly the keys of that kind. A key of another kind is refused naming it, so that
//! `kind = "command"` with a `url` is never silently a command without one.

use super::units::humantime_serde;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

/// One executor, tagged by `kind`.
#[derive(Clone)]
pub enum RollbackConfig {
    /// A signed POST to the deploy system.
    Webhook(WebhookRollback),
    /// A program run without a shell (e.g. `kubectl argo rollouts abort …`).
    Command(CommandRollback),
    /// A GitHub Actions workflow dispatch.
    GithubWorkflow(WorkflowRollback),
    /// Flagger carries the decision out when it asks canarybot's gates.
    Flagger(FlaggerRollback),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackKind {
    Webhook,
    Command,
    GithubWorkflow,
    Flagger,
}

impl RollbackKind {
    pub const ALL: [RollbackKind; 4] = [
        RollbackKind::Webhook,
        RollbackKind::Command,
        RollbackKind::GithubWorkflow,
        RollbackKind::Flagger,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RollbackKind::Webhook => "webhook",
            RollbackKind::Command => "command",
            RollbackKind::GithubWorkflow => "github-workflow",
            RollbackKind::Flagger => "flagger",
        }
    }
}

impl RollbackConfig {
    pub fn kind(&self) -> RollbackKind {
        match self {
            RollbackConfig::Webhook(_) => RollbackKind::Webhook,
            RollbackConfig::Command(_) => RollbackKind::Command,
            RollbackConfig::GithubWorkflow(_) => RollbackKind::GithubWorkflow,
            RollbackConfig::Flagger(_) => RollbackKind::Flagger,
        }
    }
}

/// `kind = "webhook"`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookRollback {
    /// Where to POST. Required (checked with the other problems, so that it is named with its
    /// key path).
    #[serde(default)]
    pub url: String,
    /// Signs the call; defaults to the first `[webhooks] secrets` entry.
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

/// `kind = "command"`: runs once per decision, so it has no `retries` or `backoff`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRollback {
    /// The program and its arguments (no shell). Required.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Extra environment; values never reach logs or the timeline.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// `kind = "github-workflow"`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRollback {
    /// `owner/name`. Required.
    #[serde(default)]
    pub repo: String,
    /// Workflow file name or id. Required.
    #[serde(default)]
    pub workflow: String,
    /// The git ref to run the workflow on. Required.
    #[serde(default, rename = "ref")]
    pub git_ref: String,
    /// A token allowed to dispatch workflows. Required.
    #[serde(default)]
    pub token: String,
    /// GitHub API base URL.
    #[serde(default = "default_github_api_url")]
    pub api_url: String,
    /// Workflow inputs; values may use the placeholders of [`crate::template::WORKFLOW_INPUT`].
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
}

/// `kind = "flagger"`: calls nothing (Flagger asks canarybot's gates), so it has no keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlaggerRollback {}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn default_github_api_url() -> String {
    "https://api.github.com".into()
}

/// Retries allowed for the executors that retry: a deploy system that failed ten times in a row
/// is down, and the people waiting should hear it.
pub const MAX_RETRIES: u32 = 10;
/// The wait before the first retry: long enough not to hammer, short enough that doubling it
/// [`MAX_RETRIES`] times stays within hours, not days.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

fn kinds_list() -> String {
    RollbackKind::ALL
        .iter()
        .map(|k| format!("\"{}\"", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads `kind` first, then the rest of the table as exactly that kind's keys; every message
/// names the kind, so `unknown field url` reads as "not a key of kind = command".
impl<'de> Deserialize<'de> for RollbackConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "kind: a {} where a string is expected; write one of {}",
                    other.type_str(),
                    kinds_list()
                )));
            }
            None => {
                return Err(D::Error::custom(format!(
                    "missing field `kind`; write one of {}",
                    kinds_list()
                )));
            }
        };
        let Some(kind) = RollbackKind::ALL.into_iter().find(|k| k.as_str() == kind) else {
            return Err(D::Error::custom(format!(
                "kind: unknown kind `{kind}`; write one of {}",
                kinds_list()
            )));
        };
        let rest = toml::Value::Table(table);
        let of_kind = |e: toml::de::Error| {
            D::Error::custom(format!("kind = \"{}\": {}", kind.as_str(), e.message()))
        };
        Ok(match kind {
            RollbackKind::Webhook => RollbackConfig::Webhook(rest.try_into().map_err(of_kind)?),
            RollbackKind::Command => RollbackConfig::Command(rest.try_into().map_err(of_kind)?),
            RollbackKind::GithubWorkflow => {
                RollbackConfig::GithubWorkflow(rest.try_into().map_err(of_kind)?)
            }
            RollbackKind::Flagger => RollbackConfig::Flagger(rest.try_into().map_err(of_kind)?),
        })
    }
}
