//! What "normal" is for a criterion: its values at the same hour of day on each of the last days,
//! pooled, as a few percentiles. Pure computation: the points come in (read by
//! `crate::metrics::history` from Prometheus), the numbers go out — to the deploy's timeline
//! (`normal_recorded`), the `baseline` table and the suggested bounds (`crate::present::normal`).

use super::criteria::Criterion;
use serde::{Deserialize, Serialize};

/// How many days of history are asked by default, and at most.
pub const DEFAULT_DAYS: u32 = 7;
pub const MAX_DAYS: u32 = 28;
/// Each day's window: the hour ending at the same time of day, one point a minute.
pub const WINDOW_S: i64 = 3600;
pub const STEP_S: i64 = 60;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// One criterion's values at this hour over the days asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normal {
    pub criterion: String,
    pub days_asked: u32,
    /// Days on which the query gave at least one value.
    pub days_with_data: u32,
    /// Values pooled over those days (`NaN` dropped).
    pub points: u32,
    pub p1: f64,
    pub p5: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
}

/// A criterion with a query for which no normal could be made, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoNormal {
    pub criterion: String,
    pub reason: String,
}

/// Every queried criterion's normal at one hour of day: what a deploy records once, and what the
/// `baseline` command shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Normals {
    /// Each day's hour ends at this time of day (the deploy's start, or when asked).
    pub at_ms: i64,
    /// Days asked (1 ..= [`MAX_DAYS`]).
    pub days: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normals: Vec<Normal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<NoNormal>,
}

impl Normals {
    pub fn of(&self, criterion: &str) -> Option<&Normal> {
        self.normals.iter().find(|n| n.criterion == criterion)
    }

    pub fn missing_of(&self, criterion: &str) -> Option<&NoNormal> {
        self.missing.iter().find(|n| n.criterion == criterion)
    }
}

/// One day's window: `(start_ms, end_ms)` of the hour ending `day` days (1 = yesterday) before
/// `at_ms`'s time of day.
pub fn day_window(at_ms: i64, day: u32) -> (i64, i64) {
    let end = at_ms - i64::from(day) * DAY_MS;
    (end - WINDOW_S * 1000, end)
}

/// The criteria whose history can be asked: those with a `query`.
pub fn queried(criteria: &[Criterion]) -> impl Iterator<Item = &Criterion> {
    criteria.iter().filter(|c| c.query.is_some())
}

/// The `p`-quantile (0 ..= 1) of sorted values by linear interpolation between the closest
/// ranks: NumPy's default (`method="linear"`), R's type 7.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

impl Normal {
    /// The normal of `criterion` from each day's points (one list per day asked, empty for a day
    /// without data); `NaN` and infinities are dropped. No point on any day: no normal, with
    /// the reason (`why_empty`, e.g. what Prometheus said, when the caller knows it).
    pub fn from_days(
        criterion: &str,
        days: &[Vec<f64>],
        why_empty: Option<&str>,
    ) -> Result<Normal, NoNormal> {
        let mut all = Vec::new();
        let mut with_data = 0;
        for day in days {
            let before = all.len();
            all.extend(day.iter().copied().filter(|v| v.is_finite()));
            if all.len() > before {
                with_data += 1;
            }
        }
        if all.is_empty() {
            let asked = days.len();
            let mut reason = format!(
                "no data at this hour on any of the last {asked} day{}",
                if asked == 1 { "" } else { "s" }
            );
            if let Some(why) = why_empty.filter(|w| !w.is_empty()) {
                reason.push_str(&format!(" ({why})"));
            }
            return Err(NoNormal {
                criterion: criterion.to_string(),
                reason,
            });
        }
        all.sort_by(f64::total_cmp);
        let q = |p| percentile(&all, p).unwrap_or(f64::NAN);
        Ok(Normal {
            criterion: criterion.to_string(),
            days_asked: days.len() as u32,
            days_with_data: with_data,
            points: all.len() as u32,
            p1: q(0.01),
            p5: q(0.05),
            median: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        })
    }
}

/// `v` to `digits` significant digits (`0.28416` → `0.284`, `12345` → `12300`).
pub fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let magnitude = v.abs().log10().floor() as i32 + 1;
    let shift = digits - magnitude;
    if shift >= 0 {
        let scale = 10f64.powi(shift);
        (v * scale).round() / scale
    } else {
        let scale = 10f64.powi(-shift);
        (v / scale).round() * scale
    }
}

/// Which way a criterion is worse, for a suggested bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// `max`, `max_ratio`, `max_delta`, or no bound at all.
    Higher,
    /// `min` only.
    Lower,
    /// Both `max` and `min`.
    Both,
}

impl Worse {
    pub fn of(c: &Criterion) -> Worse {
        let higher = c.max.is_some() || c.max_ratio.is_some() || c.max_delta.is_some();
        match (higher, c.min.is_some()) {
            (true, true) => Worse::Both,
            (false, true) => Worse::Lower,
            _ => Worse::Higher,
        }
    }
}

/// How much room a suggested bound leaves beyond the normal's tail.
pub const MAX_FACTOR: f64 = 1.2;
pub const MIN_FACTOR: f64 = 0.8;

/// The bounds suggested from a normal: `max` = p99 × 1.2 where higher is worse, `min` = p1 × 0.8
/// where lower is worse, each to 3 significant digits.
pub fn suggested_bounds(c: &Criterion, n: &Normal) -> (Option<f64>, Option<f64>) {
    let max = || round_significant(n.p99 * MAX_FACTOR, 3);
    let min = || round_significant(n.p1 * MIN_FACTOR, 3);
    match Worse::of(c) {
        Worse::Higher => (Some(max()), None),
        Worse::Lower => (None, Some(min())),
        Worse::Both => (Some(max()), Some(min())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Hand-computed with NumPy's rule: h = (n − 1)·p, between x[⌊h⌋] and x[⌊h⌋ + 1].
    #[test]
    fn percentiles_interpolate_linearly_as_numpy_does() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // h = 3 × 0.5 = 1.5 → 2 + 0.5 × (3 − 2)
        assert!(close(percentile(&x, 0.5).unwrap(), 2.5));
        // h = 3 × 0.95 = 2.85 → 3 + 0.85 × 1
        assert!(close(percentile(&x, 0.95).unwrap(), 3.85));
        // h = 3 × 0.05 = 0.15 → 1.15
        assert!(close(percentile(&x, 0.05).unwrap(), 1.15));
        assert!(close(percentile(&x, 0.0).unwrap(), 1.0));
        assert!(close(percentile(&x, 1.0).unwrap(), 4.0));
        // np.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 99) = 99.1 (h = 8.91)
        let y: Vec<f64> = (1..=10).map(|i| f64::from(i) * 10.0).collect();
        assert!(close(percentile(&y, 0.99).unwrap(), 99.1));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn days_are_pooled_nan_dropped_and_days_without_data_counted() {
        let days = vec![
            vec![4.0, f64::NAN, 1.0],
            vec![],
            vec![3.0, 2.0],
            vec![f64::NAN],
        ];
        let n = Normal::from_days("p99", &days, None).expect("a normal");
        assert_eq!((n.days_asked, n.days_with_data, n.points), (4, 2, 4));
        // Pooled and sorted: 1 2 3 4, as above.
        assert!(close(n.median, 2.5));
        assert!(close(n.p5, 1.15));
        assert!(close(n.p95, 3.85));
        // h = 3 × 0.99 = 2.97 → 3.97; h = 0.03 → 1.03
        assert!(close(n.p99, 3.97));
        assert!(close(n.p1, 1.03));
    }

    #[test]
    fn no_point_on_any_day_is_no_normal_with_the_reason() {
        let none = Normal::from_days("p99", &[vec![], vec![f64::NAN]], Some("empty result"))
            .expect_err("no normal");
        assert_eq!(none.criterion, "p99");
        assert_eq!(
            none.reason,
            "no data at this hour on any of the last 2 days (empty result)"
        );
    }

    #[test]
    fn each_day_is_the_hour_ending_at_the_same_time_of_day() {
        let at = 1_764_684_000_000;
        assert_eq!(day_window(at, 1), (at - DAY_MS - 3_600_000, at - DAY_MS));
        assert_eq!(day_window(at, 7).1, at - 7 * DAY_MS);
    }

    #[test]
    fn significant_digits() {
        assert_eq!(round_significant(0.28416, 3), 0.284);
        assert_eq!(round_significant(0.3408, 3), 0.341);
        assert_eq!(round_significant(12345.0, 3), 12300.0);
        assert_eq!(round_significant(-0.0012345, 3), -0.00123);
        assert_eq!(round_significant(0.0, 3), 0.0);
        assert_eq!(round_significant(300.0, 3), 300.0);
    }

    #[test]
    fn bounds_follow_which_way_is_worse() {
        let n = Normal {
            criterion: "x".into(),
            days_asked: 7,
            days_with_data: 7,
            points: 427,
            p1: 100.0,
            p5: 110.0,
            median: 120.0,
            p95: 130.0,
            p99: 140.0,
        };
        let latency = Criterion {
            name: "x".into(),
            max: Some(0.5),
            ..Criterion::default()
        };
        assert_eq!(suggested_bounds(&latency, &n), (Some(168.0), None));
        let ratio_only = Criterion {
            max_ratio: Some(2.0),
            ..Criterion::default()
        };
        assert_eq!(suggested_bounds(&ratio_only, &n), (Some(168.0), None));
        let no_bound = Criterion::default();
        assert_eq!(suggested_bounds(&no_bound, &n), (Some(168.0), None));
        let throughput = Criterion {
            min: Some(1.0),
            ..Criterion::default()
        };
        assert_eq!(suggested_bounds(&throughput, &n), (None, Some(80.0)));
        let both = Criterion {
            min: Some(1.0),
            max: Some(500.0),
            ..Criterion::default()
        };
        assert_eq!(suggested_bounds(&both, &n), (Some(168.0), Some(80.0)));
    }
}
