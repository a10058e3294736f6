//! What a service's criteria did at this hour on the last days, read from Prometheus: for each
//! criterion with a query and each day, one range query of the baseline track over the hour
//! ending at the same time of day (`crate::domain::normal::day_window`), a point a minute. Asking
//! at a shifted time is what PromQL's `offset` does to every selector of an expression, and it
//! works for any expression (subqueries, functions, `offset` already in it). The numbers are
//! `crate::domain::normal`'s.

use super::prometheus::{Prometheus, RangeReading, Vars, render};
use crate::config::Config;
use crate::domain::Criterion;
use crate::domain::normal::{self, Normal, Normals, STEP_S};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// At most this many range queries in flight at once, whatever the criteria and days.
pub const CONCURRENT: usize = 8;

/// Where `/canary baseline` reads history: this Prometheus, the configuration's services.
pub struct PrometheusHistory {
    pub prometheus: Arc<Prometheus>,
    pub config: Arc<Config>,
}

#[async_trait::async_trait]
impl crate::http::History for PrometheusHistory {
    async fn normals(
        &self,
        service: &str,
        environment: &str,
        days: u32,
        at_ms: i64,
    ) -> Result<Normals, String> {
        let Some(svc) = self.config.service(service) else {
            return Err(format!("unknown service `{service}`"));
        };
        let ask = Ask {
            service,
            environment,
            baseline_track: &svc.tracks.baseline,
            at_ms,
            days,
        };
        normals(&self.prometheus, &svc.criteria, &ask).await
    }
}

/// What is asked: whose history, which track, which hour, how many days.
pub struct Ask<'a> {
    pub service: &'a str,
    pub environment: &'a str,
    /// The stable version's track label (`tracks.baseline`).
    pub baseline_track: &'a str,
    /// Each day's hour ends at this time of day.
    pub at_ms: i64,
    pub days: u32,
}

/// `3 days ago (2026-11-29 14:00–15:00 UTC)`
fn day_words(at_ms: i64, day: u32) -> String {
    let (_, end) = normal::day_window(at_ms, day);
    let date = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(end)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!(
        "{day} day{} ago ({date} {})",
        if day == 1 { "" } else { "s" },
        crate::present::normal::hour_words(end)
    )
}

/// The normal of each of `criteria` with a query. The query is filled for the baseline track,
/// with `{{version}}` empty: the versions that ran on those days are not known. `Err` when
/// Prometheus could not be read or refused a query, naming the criterion and the day; a day
/// without data is counted as such, and a criterion without data on any day has no normal.
pub async fn normals(
    prometheus: &Arc<Prometheus>,
    criteria: &[Criterion],
    ask: &Ask<'_>,
) -> Result<Normals, String> {
    let vars = |version| Vars {
        track: ask.baseline_track,
        service: ask.service,
        environment: ask.environment,
        version,
    };
    let queried: Vec<(&Criterion, String, bool)> = normal::queried(criteria)
        .map(|c| {
            let q = c.query.as_deref().unwrap_or_default();
            let promql = render(q, &vars(""));
            // The query names `{{version}}`: history has only series of the versions then.
            let versioned = promql != render(q, &vars("v"));
            (c, promql, versioned)
        })
        .collect();
    let limit = Arc::new(Semaphore::new(CONCURRENT));
    let mut calls = tokio::task::JoinSet::new();
    for (i, (_, promql, _)) in queried.iter().enumerate() {
        for day in 1..=ask.days {
            let (start, end) = normal::day_window(ask.at_ms, day);
            let (p, limit, promql) = (prometheus.clone(), limit.clone(), promql.clone());
            calls.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let read = p
                    .query_range(
                        &promql,
                        start as f64 / 1000.0,
                        end as f64 / 1000.0,
                        STEP_S as f64,
                    )
                    .await;
                (i, day, read)
            });
        }
    }
    let mut points: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); ask.days as usize]; queried.len()];
    let mut why: Vec<BTreeSet<String>> = vec![BTreeSet::new(); queried.len()];
    let mut failed: Option<(usize, u32, String)> = None;
    while let Some(joined) = calls.join_next().await {
        let Ok((i, day, read)) = joined else {
            continue;
        };
        match read {
            Ok(RangeReading::Points(p)) => points[i][day as usize - 1] = p,
            Ok(RangeReading::NoData(reason)) => {
                why[i].insert(reason);
            }
            // The earliest day of the first criterion that failed, whatever order they came in.
            Err(e) => {
                if failed
                    .as_ref()
                    .is_none_or(|(fi, fd, _)| (i, day) < (*fi, *fd))
                {
                    failed = Some((i, day, e));
                }
            }
        }
    }
    if let Some((i, day, e)) = failed {
        return Err(format!(
            "{}, {}: {e}",
            queried[i].0.name,
            day_words(ask.at_ms, day)
        ));
    }
    let mut out = Normals {
        at_ms: ask.at_ms,
        days: ask.days,
        ..Normals::default()
    };
    for (i, (c, _, versioned)) in queried.iter().enumerate() {
        let mut reasons: Vec<String> = why[i].iter().cloned().collect();
        if *versioned {
            reasons.push("the query names {{version}}, left empty for history".into());
        }
        match Normal::from_days(&c.name, &points[i], Some(&reasons.join("; "))) {
            Ok(n) => out.normals.push(n),
            Err(missing) => out.missing.push(missing),
        }
    }
    Ok(out)
}
