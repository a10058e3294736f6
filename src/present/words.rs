//! Small formatters every presentation shares: durations, times, values with units, state words.

use crate::domain::criteria::fmt_num;
use crate::domain::deploy::State;
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

/// `250ms`, `2%`, `120 req/s`; units of one or two symbols stick to the number.
pub fn with_unit(v: Option<f64>, unit: Option<&str>) -> String {
    match v {
        None => "—".into(),
        Some(v) => crate::domain::criteria::value_with_unit(v, unit),
    }
}

/// What a breach does, as the postmortem and the page say it.
pub fn on_breach(o: crate::domain::OnBreach) -> &'static str {
    match o {
        crate::domain::OnBreach::Ask => "ask the deciders",
        crate::domain::OnBreach::Rollback => "roll back at once",
    }
}
