//! Words for people: chat messages and small formatting helpers shared by the renderers.

use super::criteria::{Verdict, fmt_num};
use super::decision::Choice;
use super::deploy::{ChatMessage, Deploy, State};
use chrono::{DateTime, Utc};

/// `canary 0.02 / baseline 0.01`
pub fn values(canary: Option<f64>, baseline: Option<f64>) -> String {
    let f = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "—".into());
    format!("canary {} / baseline {}", f(canary), f(baseline))
}

/// Seconds as people read them: `850ms`, `12.3s`, `4m 05s`, `1h 02m`.
pub fn duration(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round() as i64);
    }
    if secs < 60.0 {
        return format!("{:.1}s", secs);
    }
    let total = secs.round() as i64;
    if total < 3600 {
        return format!("{}m {:02}s", total / 60, total % 60);
    }
    format!("{}h {:02}m", total / 3600, (total % 3600) / 60)
}

/// `2026-11-26 15:40:36.123 UTC`
pub fn timestamp(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        None => format!("{ms} ms"),
    }
}

/// RFC 3339 with milliseconds, for JSON.
pub fn rfc3339(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

pub fn state_words(state: State) -> &'static str {
    match state {
        State::Canary => "🐤 canary: watching",
        State::Breached => "🚨 BREACHED: decision needed",
        State::RollingBack => "⏪ rolling back",
        State::RolledBack => "↩️ rolled back: verifying recovery",
        State::RollbackVerified => "✅ rolled back, recovery verified",
        State::RollbackFailed => "🔥 ROLLBACK FAILED",
        State::Promoted => "✅ promoted",
        State::Failed => "❌ deploy failed",
    }
}

/// The thread root: what is deployed, the locked criteria with live status, who decides.
pub fn root_message(d: &Deploy) -> ChatMessage {
    let p = &d.policy;
    let mut text = format!(
        "*{} {}* → {} — {}\n",
        d.info.service,
        d.info.version,
        d.info.environment,
        state_words(d.state)
    );
    if let Some(desc) = &d.info.description {
        text.push_str(&format!("{desc}\n"));
    }
    let mut who = Vec::new();
    if let Some(a) = &d.info.actor {
        who.push(format!("by {a}"));
    }
    if let Some(sha) = &d.info.sha {
        who.push(format!("sha {}", &sha[..sha.len().min(12)]));
    }
    if let Some(url) = &d.info.url {
        who.push(url.clone());
    }
    if !who.is_empty() {
        text.push_str(&format!("{}\n", who.join(" · ")));
    }
    text.push_str(&format!(
        "Criteria (locked, hash {}):\n",
        &d.policy_hash[..d.policy_hash.len().min(12)]
    ));
    for c in &p.criteria {
        let status = d.criteria.get(&c.name);
        let mark = match status.and_then(|s| s.last) {
            None => "⏳ waiting for data".to_string(),
            Some(Verdict::Pass) => "✅ passing".to_string(),
            Some(Verdict::NoData) => "❔ no data".to_string(),
            Some(Verdict::Fail) => format!(
                "❌ failing {}/{}",
                status.map(|s| s.consecutive_failures).unwrap_or(0),
                c.failure_limit
            ),
        };
        text.push_str(&format!("• {}: {} — {mark}\n", c.name, c.describe()));
    }
    text.push_str(&format!(
        "Deciders: {} · rollback quorum {} · promote quorum {} · on breach: {} · window {}",
        p.deciders.join(", "),
        p.rollback_quorum,
        p.promote_quorum,
        match p.on_breach {
            super::deploy::OnBreach::Ask => "ask",
            super::deploy::OnBreach::Rollback => "roll back at once",
        },
        duration(p.canary_window_s as f64)
    ));
    let buttons = match d.state {
        State::Canary | State::Breached => vec![Choice::Rollback, Choice::Promote],
        State::RollbackFailed => vec![Choice::Rollback],
        _ => vec![],
    };
    ChatMessage {
        text,
        buttons,
        loud: matches!(d.state, State::Breached | State::RollbackFailed),
    }
}
