//! The timeline as programs read it: the deploy and its events as JSON, streamed.

use super::postmortem::{EventLinks, MessageLink};
use super::words::rfc3339;
use crate::domain::deploy::{Deploy, Event};
use crate::domain::timeline::{Phases, phases};
use serde::Serialize;
use serde_json::{Value, json};

/// One event as exported: serialized straight to text, its details as the stored JSON (a
/// timeline of 10,000 events must not become 10,000 `Value` trees first).
#[derive(Serialize)]
struct EventOut<'a> {
    seq: i64,
    at: String,
    kind: &'a str,
    actor: &'a str,
    source: &'a str,
    summary: &'a str,
    details: Box<serde_json::value::RawValue>,
    /// The chat messages the event is tied to (posted for it, or named by it), linked; empty
    /// when it has none or the platforms cannot be linked to.
    message_links: &'a [MessageLink],
}

impl<'a> EventOut<'a> {
    fn of(e: &'a Event, links: &'a EventLinks) -> EventOut<'a> {
        let details = serde_json::value::RawValue::from_string(e.data.details_json())
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned());
        EventOut {
            seq: e.seq,
            at: rfc3339(e.at_ms),
            kind: e.data.kind(),
            actor: &e.actor,
            source: &e.source,
            summary: &e.summary,
            details,
            message_links: links.get(&e.seq).map(Vec::as_slice).unwrap_or_default(),
        }
    }
}

/// Serializes the events one by one as they are written out.
struct EventsOut<'a>(&'a [Event], &'a EventLinks);

impl Serialize for EventsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|e| EventOut::of(e, self.1)))
    }
}

/// The deploy as listed by the API.
pub fn deploy_json(d: &Deploy, updated_at_ms: i64) -> Value {
    json!({
        "id": d.info.id,
        "service": d.info.service,
        "environment": d.info.environment,
        "version": d.info.version,
        "sha": d.info.sha,
        "actor": d.info.actor,
        "description": d.info.description,
        "url": d.info.url,
        "state": d.state.as_str(),
        "started_at": rfc3339(d.started_at_ms),
        "updated_at": rfc3339(updated_at_ms),
        "criteria_hash": d.policy_hash,
        "drill": d.info.is_drill(),
        "page_url": d.info.page_url,
    })
}

/// `{"deploy", "criteria", "policy", "events", "phases"}`; each event with its `message_links`.
pub fn to_json<'a>(
    d: &'a Deploy,
    events: &'a [Event],
    links: &'a EventLinks,
) -> impl Serialize + 'a {
    #[derive(Serialize)]
    struct Timeline<'a> {
        deploy: Value,
        criteria: Value,
        policy: Value,
        events: EventsOut<'a>,
        phases: Phases,
    }
    let updated = events.last().map(|e| e.at_ms).unwrap_or(d.started_at_ms);
    Timeline {
        deploy: deploy_json(d, updated),
        criteria: serde_json::to_value(&d.policy.criteria).unwrap_or(Value::Null),
        policy: json!({
            "deciders": d.policy.deciders,
            "rollback_quorum": d.policy.rollback_quorum,
            "promote_quorum": d.policy.promote_quorum,
            "on_breach": d.policy.on_breach,
            "on_pass": d.policy.on_pass,
            "canary_window_s": d.policy.canary_window_s,
            "verify_checks": d.policy.verify_checks,
            "executor": d.policy.executor,
            "no_data_limit": d.policy.no_data_limit,
            "verify_timeout_s": d.policy.verify_timeout_s,
            "hash": d.policy_hash,
        }),
        events: EventsOut(events, links),
        phases: phases(events),
    }
}
