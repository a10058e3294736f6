//! The watch after promotion in words: a drift's numbers against both references, the watch's
//! period and checks, shared by the thread, the timeline summaries, the postmortem and the page.

use crate::domain::deploy::{Deploy, DriftReading, Event, EventData, WatchEnd};

/// `220ms` with the criterion's unit, when `d` knows the criterion.
pub fn value(d: &Deploy, criterion: &str, v: f64) -> String {
    match d.policy.criterion(criterion) {
        Some(c) => c.value_text(v),
        None => crate::domain::criteria::fmt_num(v),
    }
}

/// `1.9×`: how many times `reference` the value is (`—` for a reference of zero).
fn times(value: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.1}×", value / reference)
    } else {
        "above".to_string()
    }
}

/// `1.9× yesterday's 220ms and 1.8× last week's 230ms at this hour` (either reference may be
/// missing).
pub fn against_references(
    d: &Deploy,
    criterion: &str,
    v: f64,
    day_ago: Option<f64>,
    week_ago: Option<f64>,
) -> String {
    let mut parts = Vec::new();
    if let Some(r) = day_ago {
        parts.push(format!(
            "{} yesterday's {}",
            times(v, r),
            value(d, criterion, r)
        ));
    }
    if let Some(r) = week_ago {
        parts.push(format!(
            "{} last week's {}",
            times(v, r),
            value(d, criterion, r)
        ));
    }
    format!("{} at this hour", parts.join(" and "))
}

/// `latency 420ms is 1.9× yesterday's 220ms and 1.8× last week's 230ms at this hour, for 6
/// checks (30m)`
pub fn drift_reading(d: &Deploy, r: &DriftReading) -> String {
    let span = u64::from(r.consecutive) * d.watch.interval_s;
    format!(
        "{} {} is {}, for {} checks ({})",
        r.criterion,
        value(d, &r.criterion, r.value),
        against_references(d, &r.criterion, r.value, r.day_ago, r.week_ago),
        r.consecutive,
        self::span(span)
    )
}

pub use crate::domain::criteria::span;

/// The criteria a watch checks: `latency, errors`.
pub fn watched(d: &Deploy) -> String {
    d.policy
        .criteria
        .iter()
        .filter(|c| c.watch_query.is_some())
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a watch ended, in words: `48h after promotion`, `rolled back`.
pub fn end_words(d: &Deploy, why: WatchEnd) -> String {
    match why {
        WatchEnd::Elapsed => format!(
            "{} after promotion",
            span(d.policy.watch.map(|w| w.after_promotion_s).unwrap_or(0))
        ),
        WatchEnd::RolledBack => "the deploy is being rolled back".to_string(),
    }
}

/// `576 checks, no drift` / `12 checks, 1 drift`
pub fn checks_and_drifts(checks: u32, drifts: u32) -> String {
    format!(
        "{checks} check{}, {}",
        if checks == 1 { "" } else { "s" },
        match drifts {
            0 => "no drift".to_string(),
            1 => "1 drift".to_string(),
            n => format!("{n} drifts"),
        }
    )
}

/// What a deploy's watch was, for the postmortem and the page: the period, the checks and each
/// drift with its values. `None` for a deploy never watched.
pub struct WatchReport {
    pub period: String,
    pub checks: String,
    pub drifts: Vec<String>,
    pub failed_checks: usize,
}

pub fn report(d: &Deploy, events: &[Event]) -> Option<WatchReport> {
    let started = d.watch.started_at_ms?;
    let until = d.watch.until_ms?;
    let mut ended_at = None;
    let mut drifts = Vec::new();
    let mut failed_checks = 0;
    let mut end = None;
    for e in events {
        match &e.data {
            EventData::DriftDetected { criteria } => {
                for r in criteria {
                    drifts.push(format!(
                        "{}: {}",
                        super::words::timestamp(e.at_ms),
                        drift_reading(d, r)
                    ));
                }
            }
            EventData::WatchCheckFailed { .. } => failed_checks += 1,
            EventData::WatchEnded {
                checks,
                drifts: n,
                why,
            } => {
                ended_at = Some(e.at_ms);
                end = Some((*checks, *n, *why));
            }
            _ => {}
        }
    }
    let period = format!(
        "{} → {}{}",
        super::words::timestamp(started),
        super::words::timestamp(ended_at.unwrap_or(until)),
        match end {
            Some((_, _, why)) => format!(" (ended: {})", end_words(d, why)),
            None => " (watching)".to_string(),
        }
    );
    let checks = match end {
        Some((checks, n, _)) => checks_and_drifts(checks, n),
        None => format!("watch running; {}", watched(d)),
    };
    Some(WatchReport {
        period,
        checks,
        drifts,
        failed_checks,
    })
}
