//! The gate before a deploy: `[freeze]` (who may freeze everything, and scheduled freezes) and a
//! service's `[service.gate]` (which environments it guards, and its rules).
//!
//! TOML cannot have both `[freeze] admins` and `[[freeze]]` entries (issue 19 wrote both), so the
//! schedule is `[[freeze.schedule]]` under one `[freeze]` table.

use super::platforms::Platforms;
use crate::domain::freeze::{ScheduledFreeze, WeeklyWindow};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    /// Who may freeze `all` besides a decider of every service (`slack:U…`, `slack-group:S…`, …).
    #[serde(default)]
    pub admins: Vec<String>,
    #[serde(default)]
    pub schedule: Vec<ScheduleConfig>,
}

/// One scheduled freeze: a period (`from`, `to`), a weekly window, or both.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Service names, or `*` (the default) for every service.
    #[serde(default = "every_service")]
    pub services: Vec<String>,
    /// RFC 3339 times, e.g. `2026-12-24T00:00:00Z`.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// `Fri 16:00 - Mon 08:00`, on the wall clock of `timezone`.
    #[serde(default)]
    pub weekly: Option<String>,
    /// An IANA zone (`Europe/Berlin`); default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

fn every_service() -> Vec<String> {
    vec!["*".to_string()]
}

/// `[service.gate]`: whether a deploy of this service may start, asked by GitHub's deployment
/// protection rules, Flagger's `confirm-rollout` and `canarybot gate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// The environments the gate guards (empty: every one).
    #[serde(default)]
    pub environments: Vec<String>,
    /// The same sha must have been promoted in this environment first.
    #[serde(default)]
    pub require_promoted_in: Option<String>,
    /// Hold a GitHub review while the service is frozen, breached or rolling back, and approve it
    /// when that clears, instead of rejecting it.
    #[serde(default)]
    pub hold: bool,
}

impl GateConfig {
    pub fn guards(&self, environment: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == environment)
    }
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time ({e}); write e.g. 2026-12-24T00:00:00Z")
        })
}

impl ScheduleConfig {
    /// The domain's freeze, or what is wrong as `(key, problem)`.
    pub fn scheduled(&self) -> Result<ScheduledFreeze, (&'static str, String)> {
        let from = self
            .from
            .as_deref()
            .map(time)
            .transpose()
            .map_err(|e| ("from", e))?;
        let to = self
            .to
            .as_deref()
            .map(time)
            .transpose()
            .map_err(|e| ("to", e))?;
        let weekly = match &self.weekly {
            Some(w) => Some(
                WeeklyWindow::parse(w, self.timezone.as_deref().unwrap_or("UTC")).map_err(|e| {
                    let key = if e.contains("time zone") {
                        "timezone"
                    } else {
                        "weekly"
                    };
                    (key, e)
                })?,
            ),
            None if self.timezone.is_some() => {
                return Err((
                    "timezone",
                    "set, but there is no weekly window to read in it".into(),
                ));
            }
            None => None,
        };
        if from.is_none() && to.is_none() && weekly.is_none() {
            return Err((
                "from",
                "a scheduled freeze needs from and to, a weekly window, or both".into(),
            ));
        }
        if weekly.is_none() && (from.is_none() || to.is_none()) {
            return Err((
                if from.is_none() { "from" } else { "to" },
                "a freeze by dates needs both from and to".into(),
            ));
        }
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(("to", format!("must be after from ({})", f.to_rfc3339())));
        }
        Ok(ScheduledFreeze {
            services: self.services.clone(),
            from,
            to,
            weekly,
            reason: self.reason.clone(),
        })
    }
}

impl FreezeConfig {
    /// The schedule as the domain reads it (entries with problems are refused at load).
    pub fn scheduled(&self) -> Vec<ScheduledFreeze> {
        self.schedule
            .iter()
            .filter_map(|s| s.scheduled().ok())
            .collect()
    }

    pub fn problems(&self, services: &[String], chat: Platforms) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.admins.iter().enumerate() {
            if let Err(e) = chat
                .parse_decider(a)
                .and_then(|()| chat.platform_id_problem(a))
            {
                out.push(format!("freeze.admins[{i}]: {e}"));
            }
        }
        for (i, s) in self.schedule.iter().enumerate() {
            let key = format!("freeze.schedule[{i}]");
            if let Err((field, e)) = s.scheduled() {
                out.push(format!("{key}.{field}: {e}"));
            }
            if s.services.is_empty() {
                out.push(format!(
                    "{key}.services: name services, or \"*\" for every one"
                ));
            }
            for (j, name) in s.services.iter().enumerate() {
                if name != "*" && !services.contains(name) {
                    out.push(format!(
                        "{key}.services[{j}]: `{name}` is not a configured service (configured: {})",
                        services.join(", ")
                    ));
                }
            }
        }
        out
    }
}

/// `service[name].gate` problems.
pub fn gate_problems(key: &str, g: &GateConfig) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(up) = &g.require_promoted_in {
        if up.trim().is_empty() {
            out.push(format!(
                "{key}.require_promoted_in: must name an environment"
            ));
        } else if g.environments.iter().any(|e| e == up) {
            out.push(format!(
                "{key}.require_promoted_in: `{up}` is one of the environments it guards: a deploy there would wait for itself"
            ));
        }
    }
    if g.environments.iter().any(|e| e.trim().is_empty()) {
        out.push(format!("{key}.environments: an environment name is empty"));
    }
    out
}
