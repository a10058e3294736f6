//! The decision timeline as people and programs read it: phases, JSON and Markdown.

use super::criteria::fmt_num;
use super::decision::Choice;
use super::deploy::{Deploy, Event, EventData, State};
use super::render::{duration, rfc3339, timestamp};
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
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Milestones {
    pub started: Option<i64>,
    /// The breach, or the first rollback vote if people saw it before the criteria did.
    pub detected: Option<i64>,
    pub decided: Option<i64>,
    pub executed: Option<i64>,
    pub verified: Option<i64>,
}

pub fn milestones(events: &[Event]) -> Milestones {
    let mut m = Milestones::default();
    let first = |slot: &mut Option<i64>, at: i64| {
        if slot.is_none() {
            *slot = Some(at);
        }
    };
    for e in events {
        match &e.data {
            EventData::DeployStarted { .. } => first(&mut m.started, e.at_ms),
            EventData::BreachDetected { .. } => first(&mut m.detected, e.at_ms),
            EventData::VoteCast {
                choice: Choice::Rollback,
                ..
            }
            | EventData::VoteDenied {
                choice: Choice::Rollback,
                ..
            } => first(&mut m.detected, e.at_ms),
            EventData::Decision { .. } => first(&mut m.decided, e.at_ms),
            EventData::RollbackSucceeded { .. } => first(&mut m.executed, e.at_ms),
            EventData::RollbackVerified { .. } => first(&mut m.verified, e.at_ms),
            _ => {}
        }
    }
    m
}

/// Each phase runs from the previous milestone reached to its own:
/// detect = start → detection; decide = detection (or start) → decision;
/// execute = decision → rollback succeeded; verify = rollback succeeded → verified;
/// total = start → the latest milestone reached.
pub fn phases(events: &[Event]) -> Phases {
    let m = milestones(events);
    let Some(start) = m.started else {
        return Phases::default();
    };
    let secs = |from: i64, to: i64| ((to - from).max(0) as f64) / 1000.0;
    let detect_s = m.detected.map(|t| secs(start, t));
    let decide_from = m.detected.unwrap_or(start);
    let decide_s = m.decided.map(|t| secs(decide_from.min(t), t));
    let execute_from = m.decided.or(m.detected).unwrap_or(start);
    let execute_s = m.executed.map(|t| secs(execute_from.min(t), t));
    let verify_s = match (m.executed, m.verified) {
        (Some(x), Some(v)) => Some(secs(x, v)),
        _ => None,
    };
    let last = [m.detected, m.decided, m.executed, m.verified]
        .into_iter()
        .flatten()
        .max();
    Phases {
        detect_s,
        decide_s,
        execute_s,
        verify_s,
        total_s: last.map(|t| secs(start, t)),
    }
}

pub fn event_json(e: &Event) -> Value {
    json!({
        "seq": e.seq,
        "at": rfc3339(e.at_ms),
        "kind": e.data.kind(),
        "actor": e.actor,
        "source": e.source,
        "summary": e.summary,
        "details": e.data.details(),
    })
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
    })
}

/// `{"deploy", "criteria", "policy", "events", "phases"}`
pub fn to_json(d: &Deploy, events: &[Event]) -> Value {
    let updated = events.last().map(|e| e.at_ms).unwrap_or(d.started_at_ms);
    json!({
        "deploy": deploy_json(d, updated),
        "criteria": d.policy.criteria,
        "policy": {
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
        },
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "phases": phases(events),
    })
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn opt_bound(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "—".into())
}

/// The postmortem-ready Markdown timeline.
pub fn to_markdown(d: &Deploy, events: &[Event]) -> String {
    let mut md = String::new();
    let i = &d.info;
    md.push_str(&format!(
        "# {} {} → {}: {}\n\n",
        i.service,
        i.version,
        i.environment,
        d.state.as_str()
    ));
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!("| Deploy | `{}` |\n", cell(&i.id)));
    md.push_str(&format!("| State | {} |\n", d.state.as_str()));
    md.push_str(&format!(
        "| Started | {}{} |\n",
        timestamp(d.started_at_ms),
        i.actor
            .as_deref()
            .map(|a| format!(" by {}", cell(a)))
            .unwrap_or_default()
    ));
    if let Some(sha) = &i.sha {
        md.push_str(&format!("| SHA | `{}` |\n", cell(sha)));
    }
    if let Some(desc) = &i.description {
        md.push_str(&format!("| Change | {} |\n", cell(desc)));
    }
    if let Some(url) = &i.url {
        md.push_str(&format!("| Link | {} |\n", cell(url)));
    }
    let p = &d.policy;
    md.push_str(&format!(
        "\n## Criteria (locked, hash `{}`)\n\n",
        &d.policy_hash[..d.policy_hash.len().min(12)]
    ));
    md.push_str("| Criterion | max | min | max_ratio | max_delta | Failure limit |\n|---|---|---|---|---|---|\n");
    for c in &p.criteria {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&c.name),
            opt_bound(c.max),
            opt_bound(c.min),
            opt_bound(c.max_ratio),
            opt_bound(c.max_delta),
            c.failure_limit
        ));
    }
    md.push_str(&format!(
        "\nDeciders: {}. Rollback quorum {}, promote quorum {}. On breach: {}. Canary window {}. Recovery verified by {} consecutive passing checks.\n",
        p.deciders.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
        p.rollback_quorum,
        p.promote_quorum,
        match p.on_breach {
            super::deploy::OnBreach::Ask => "ask the deciders",
            super::deploy::OnBreach::Rollback => "roll back at once",
        },
        duration(p.canary_window_s as f64),
        p.verify_checks
    ));

    let ph = phases(events);
    let m = milestones(events);
    md.push_str("\n## Phases\n\n| Phase | Reached at | Duration |\n|---|---|---|\n");
    let row = |name: &str, at: Option<i64>, s: Option<f64>| {
        format!(
            "| {name} | {} | {} |\n",
            at.map(timestamp).unwrap_or_else(|| "not reached".into()),
            s.map(duration).unwrap_or_else(|| "—".into())
        )
    };
    md.push_str(&row(
        "Detect (start → breach or first rollback vote)",
        m.detected,
        ph.detect_s,
    ));
    md.push_str(&row("Decide (→ decision)", m.decided, ph.decide_s));
    md.push_str(&row(
        "Execute (→ rollback succeeded)",
        m.executed,
        ph.execute_s,
    ));
    md.push_str(&row(
        "Verify (→ recovery verified)",
        m.verified,
        ph.verify_s,
    ));
    let last = [m.detected, m.decided, m.executed, m.verified]
        .into_iter()
        .flatten()
        .max();
    md.push_str(&row("**Total**", last, ph.total_s));

    md.push_str(
        "\n## Timeline\n\n| # | Time | Event | Actor | What happened |\n|---|---|---|---|---|\n",
    );
    for e in events {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            e.seq,
            timestamp(e.at_ms),
            e.data.kind(),
            cell(&e.actor),
            cell(&e.summary)
        ));
    }
    if !matches!(
        d.state,
        State::RollbackVerified | State::Promoted | State::Failed
    ) {
        md.push_str(&format!(
            "\n_The deploy is still {}; this timeline is not final._\n",
            d.state.as_str()
        ));
    }
    md
}
