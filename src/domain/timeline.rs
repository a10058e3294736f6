//! The decision timeline as people and programs read it: phases, JSON and Markdown.

use super::decision::Choice;
use super::deploy::{Deploy, Event, EventData};
use super::render::rfc3339;
use serde::Serialize;
use serde_json::{Value, json};

/// Seconds spent in each phase; `None` until the phase is reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    pub detect_s: Option<f64>,
    pub decide_s: Option<f64>,
    pub execute_s: Option<f64>,
    pub verify_s: Option<f64>,
    pub total_s: Option<f64>,
}

/// When each milestone was first reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Milestones {
    pub started: Option<i64>,
    /// The breach, or the first rollback vote if people saw it before the criteria did.
    pub detected: Option<i64>,
    pub decided: Option<i64>,
    pub executed: Option<i64>,
    pub verified: Option<i64>,
}

impl Milestones {
    /// Notes the milestone `e` reaches, if it is the first of its kind.
    pub fn observe(&mut self, e: &Event) {
        let first = |slot: &mut Option<i64>, at: i64| {
            if slot.is_none() {
                *slot = Some(at);
            }
        };
        match &e.data {
            EventData::DeployStarted { .. } => first(&mut self.started, e.at_ms),
            EventData::BreachDetected { .. } => first(&mut self.detected, e.at_ms),
            EventData::VoteCast {
                choice: Choice::Rollback,
                ..
            }
            | EventData::VoteDenied {
                choice: Choice::Rollback,
                ..
            } => first(&mut self.detected, e.at_ms),
            EventData::Decision { .. } => first(&mut self.decided, e.at_ms),
            EventData::RollbackSucceeded { .. } => first(&mut self.executed, e.at_ms),
            EventData::RollbackVerified { .. } => first(&mut self.verified, e.at_ms),
            _ => {}
        }
    }

    /// The latest milestone reached after the start.
    pub fn last(&self) -> Option<i64> {
        [self.detected, self.decided, self.executed, self.verified]
            .into_iter()
            .flatten()
            .max()
    }

    /// Seconds spent in each phase. Each phase runs from the previous milestone reached to its
    /// own: detect = start → detection; decide = detection (or start) → decision; execute =
    /// decision → rollback succeeded; verify = rollback succeeded → verified; total = start → the
    /// latest milestone reached.
    pub fn phases(&self) -> Phases {
        let Some(start) = self.started else {
            return Phases::default();
        };
        let secs = |from: i64, to: i64| ((to - from).max(0) as f64) / 1000.0;
        let detect_s = self.detected.map(|t| secs(start, t));
        let decide_from = self.detected.unwrap_or(start);
        let decide_s = self.decided.map(|t| secs(decide_from.min(t), t));
        let execute_from = self.decided.or(self.detected).unwrap_or(start);
        let execute_s = self.executed.map(|t| secs(execute_from.min(t), t));
        let verify_s = match (self.executed, self.verified) {
            (Some(x), Some(v)) => Some(secs(x, v)),
            _ => None,
        };
        Phases {
            detect_s,
            decide_s,
            execute_s,
            verify_s,
            total_s: self.last().map(|t| secs(start, t)),
        }
    }
}

pub fn milestones(events: &[Event]) -> Milestones {
    let mut m = Milestones::default();
    for e in events {
        m.observe(e);
    }
    m
}

/// Seconds spent in each phase (see [`Milestones::phases`]).
pub fn phases(events: &[Event]) -> Phases {
    milestones(events).phases()
}

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
}

impl<'a> EventOut<'a> {
    fn of(e: &'a Event) -> EventOut<'a> {
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
        }
    }
}

/// Serializes the events one by one as they are written out.
struct EventsOut<'a>(&'a [Event]);

impl Serialize for EventsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(EventOut::of))
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

/// `{"deploy", "criteria", "policy", "events", "phases"}`
pub fn to_json<'a>(d: &'a Deploy, events: &'a [Event]) -> impl Serialize + 'a {
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
        events: EventsOut(events),
        phases: phases(events),
    }
}
