//! A page in words: what PagerDuty and Opsgenie show the person woken up. One `PageMessage` per
//! page request; the paging worker sends it to each provider named, adding the thread links.

use super::chat::said::page_reason;
use super::words::{duration, rfc3339, values};
use crate::domain::deploy::{Deploy, DeployInfo, Event, EventData, PageAction, PageRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A page as the outbox stores it (one row per provider) and the paging adapters receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageMessage {
    pub action: PageAction,
    /// The same key triggers and resolves (PagerDuty `dedup_key`, Opsgenie `alias`): the deploy id.
    pub dedup_key: String,
    pub providers: Vec<String>,
    /// One line: `checkout 2.4.1 in production: 5xx ratio breached, no decision yet`.
    pub summary: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    /// The criteria's statuses, the deciders, since when a decision waits.
    pub details: BTreeMap<String, String>,
    /// The deploy's web page, when the server has a public URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    #[serde(default)]
    pub drill: bool,
}

/// Words `request` against `d`, the deploy after the input that caused it.
pub fn render(request: &PageRequest, d: &Deploy) -> PageMessage {
    let info = &d.info;
    let what = if d.breached_criteria.is_empty() {
        "waiting for a decision".to_string()
    } else {
        format!("{} breached", d.breached_criteria.join(", "))
    };
    let drill = if info.is_drill() { "[DRILL] " } else { "" };
    let summary = format!(
        "{drill}{} {} in {}: {what}, {}",
        info.service,
        info.version,
        info.environment,
        page_reason(request.reason, d)
    );
    let mut details = BTreeMap::new();
    for (name, status) in &d.criteria {
        let verdict = status
            .last
            .map(|v| format!("{v:?}").to_lowercase())
            .unwrap_or_else(|| "not checked".to_string());
        details.insert(
            format!("criterion: {name}"),
            format!("{verdict} ({})", values(status.canary, status.baseline)),
        );
    }
    details.insert("deciders".to_string(), d.policy.deciders.join(", "));
    details.insert("state".to_string(), d.state.as_str().to_string());
    if let Some(since) = request.waiting_since_ms {
        details.insert("waiting since".to_string(), rfc3339(since));
    }
    if let Some(e) = &d.policy.escalation
        && let Some(after) = e.decide_after_s
        && request.action == PageAction::Trigger
    {
        details.insert(
            "automatic decision".to_string(),
            format!("{:?} after {}", e.default_decision, duration(after as f64)).to_lowercase(),
        );
    }
    PageMessage {
        action: request.action,
        dedup_key: request.dedup_key.clone(),
        providers: request.providers.clone(),
        summary,
        service: info.service.clone(),
        environment: info.environment.clone(),
        version: info.version.clone(),
        details,
        page_url: info.page_url.clone(),
        drill: info.is_drill(),
    }
}

/// A change event (PagerDuty `change_events`): a deploy started, promoted or rolled back, shown
/// on the service's timeline in PagerDuty beside its incidents. Not a page: nobody is woken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeMessage {
    /// `started`, `promoted`, `rolled_back`.
    pub change: String,
    /// One line: `checkout 2.4.1 rolled back in production`.
    pub summary: String,
    /// When it happened (UTC ms).
    pub at_ms: i64,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub details: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
}

/// The change event `event` makes, if it is one: a deploy started, promoted, or rolled back (the
/// deploy system said the rollback is done). Drills make none: nothing changed.
pub fn change(event: &Event, info: &DeployInfo) -> Option<ChangeMessage> {
    if info.is_drill() {
        return None;
    }
    let (change, verb) = match &event.data {
        EventData::DeployStarted { .. } => ("started", "started its canary"),
        EventData::Promoted { .. } => ("promoted", "promoted"),
        EventData::RollbackSucceeded { .. } => ("rolled_back", "rolled back"),
        _ => return None,
    };
    let mut details = BTreeMap::new();
    details.insert("actor".to_string(), event.actor.clone());
    details.insert("event".to_string(), event.summary.clone());
    if let Some(sha) = &info.sha {
        details.insert("sha".to_string(), sha.clone());
    }
    Some(ChangeMessage {
        change: change.to_string(),
        summary: format!(
            "{} {} {verb} in {}",
            info.service, info.version, info.environment
        ),
        at_ms: event.at_ms,
        service: info.service.clone(),
        environment: info.environment.clone(),
        version: info.version.clone(),
        details,
        page_url: info.page_url.clone(),
    })
}
