//! Configuration: one TOML file, `${VAR}` taken from the environment into its string values,
//! every problem named by its key path. Unknown keys are errors: a typo must not silently disable
//! a criterion.
//!
//! The room: `schema` (one type per section) and `executor` (`[service.rollback]`, one variant per
//! kind) say what may be written; `env` fills `${VAR}`; `validate` says what is wrong, one
//! function per section; `policy` turns a service into the `Policy` a deploy locks in; `debug`
//! prints it without secrets; `units` reads durations and sizes.

#[cfg(test)]
mod criteria_tests;
mod debug;
#[cfg(test)]
mod decide_tests;
mod env;
mod executor;
mod gate;
#[cfg(test)]
mod gate_tests;
mod github_key;
mod permissions;
#[cfg(test)]
mod platform_tests;
mod platforms;
mod policy;
mod schema;
#[cfg(test)]
mod tests;
pub(crate) mod units;
mod validate;
#[cfg(test)]
mod watch_tests;

pub use env::substitute_env;
pub use executor::*;
pub use gate::{FreezeConfig, GateConfig, ScheduleConfig};
pub use github_key::{AppKey, app_key};
pub use permissions::permission_warning;
pub use platforms::{ChatRules, ChatSection, ChatSections, ParseSection, Platforms};
pub use schema::*;
pub use validate::{criteria_problems, http_url_problem};

use crate::domain::{Criterion, Voter};
use serde::Deserialize;
use std::path::Path;

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
    pub prometheus: Option<PrometheusConfig>,
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    #[serde(default)]
    pub github: Option<GithubConfig>,
    #[serde(default)]
    pub flagger: Option<FlaggerConfig>,
    #[serde(default)]
    pub pagerduty: Option<PagerDutyConfig>,
    #[serde(default)]
    pub opsgenie: Option<OpsgenieConfig>,
    /// Who may freeze everything, and the scheduled freezes.
    #[serde(default)]
    pub freeze: FreezeConfig,

    #[serde(default, rename = "service")]
    pub services: Vec<ServiceConfig>,
    /// Ties one person's identities across platforms: one person, one vote.
    #[serde(default)]
    pub people: Vec<PersonConfig>,
    #[serde(default)]
    pub log: LogConfig,
    /// The chat platforms' own sections (`[slack]`, `[discord]`), each read by its platform
    /// (`crate::slack::SlackConfig::of`).
    #[serde(skip)]
    pub chat: ChatSections,
}

/// The paging providers' names, as escalations and outbox targets (`page:pagerduty`) name them.
pub const PAGERDUTY: &str = "pagerduty";
pub const OPSGENIE: &str = "opsgenie";

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

impl Config {
    /// Reads, substitutes from the process environment, parses and validates against these chat
    /// platforms (`crate::registry::load_config` gives them all).
    pub fn load(path: &Path, chat: Platforms) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, &|name| std::env::var(name).ok(), chat)
    }

    /// Parses TOML, takes `${VAR}` in its string values from `lookup`, then validates against
    /// these chat platforms.
    pub fn from_toml(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
        chat: Platforms,
    ) -> Result<Config, ConfigError> {
        let mut document =
            toml::de::DeTable::parse(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let used = env::substitute_document(text, &mut document, lookup)?;
        let fail = |mut e: toml::de::Error| {
            // The error quotes the line as written (`${VAR}`); its message may quote a value:
            // show the variable there too, never the secret.
            e.set_input(Some(text));
            let mut message = e.to_string();
            for (name, value) in &used {
                if value.len() >= 4 {
                    let quoted = format!("{value:?}");
                    let quoted = &quoted[1..quoted.len() - 1];
                    message = message
                        .replace(quoted, &format!("${{{name}}}"))
                        .replace(value.as_str(), &format!("${{{name}}}"));
                }
            }
            ConfigError::Parse(message)
        };
        let taken = platforms::take_platform_keys(&mut document, chat, &fail)?;
        let mut config =
            Config::deserialize(toml::de::Deserializer::from(document)).map_err(fail)?;
        config.chat = taken.sections;
        for (service, channels) in config.services.iter_mut().zip(taken.channels) {
            service.channels = channels;
        }
        for (person, ids) in config.people.iter_mut().zip(taken.ids) {
            person.ids = ids;
        }
        let problems = config.problems(chat);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The paging providers configured, by name, in the order they are paged: `pagerduty`
    /// (`[pagerduty]`), then `opsgenie` (`[opsgenie]`). A deploy locks them into its escalation
    /// when it starts; without any, `page_after` is skipped.
    pub fn pagers(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.pagerduty.is_some() {
            out.push(PAGERDUTY.to_string());
        }
        if self.opsgenie.is_some() {
            out.push(OPSGENIE.to_string());
        }
        out
    }

    /// The paging providers that take change events (`[pagerduty] change_events = true`).
    pub fn change_event_providers(&self) -> Vec<String> {
        match &self.pagerduty {
            Some(pd) if pd.change_events => vec![PAGERDUTY.to_string()],
            _ => Vec::new(),
        }
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
                deploys_as: p.deploy_names(),
            },
            None => Voter {
                identity: identity.to_string(),
                name: name.to_string(),
                groups,
                person: None,
                aliases: Vec::new(),
                deploys_as: Vec::new(),
            },
        }
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }

    /// The secret a `webhook` executor signs with: its own, else the first `[webhooks]` secret
    /// (validation refuses a webhook executor with neither).
    pub fn executor_secret(&self, rollback: &WebhookRollback) -> String {
        rollback
            .secret
            .clone()
            .or_else(|| self.webhooks.secrets.first().cloned())
            .unwrap_or_default()
    }
}
