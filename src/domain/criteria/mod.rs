//! Criteria: the bounds agreed before a deploy, and the verdict of one check against them.
//!
//! - this file: a criterion's fields (locked with the deploy), its judge, verdicts and evaluations;
//! - [`problems`](Criterion::problems) (`problems.rs`): what is wrong with a criterion, by key;
//! - `judges.rs`: one check judged — bounds on a value, the sequential test on counts, Mann-Whitney
//!   on points over a window — with the reasons a person reads;
//! - `words.rs`: a criterion's bounds and numbers in words.

use crate::domain::stats::{Direction, MannWhitney, Sequential};
use serde::{Deserialize, Serialize};

mod judges;
mod problems;
#[cfg(test)]
mod tests;
mod words;

pub use words::{fmt_num, p_text, percent, percent_change, span, value_with_unit};

/// One signal and its bounds. Any subset of the four bounds may be set; at least one must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub name: String,
    /// canary ≤ max
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// canary ≥ min
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// canary ≤ baseline × max_ratio
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// canary ≤ baseline + max_delta
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delta: Option<f64>,
    /// Consecutive failing checks that make a breach.
    #[serde(default = "default_failure_limit")]
    pub failure_limit: u32,
    /// PromQL template checked by the bot (`{{track}}`, `{{service}}`, `{{environment}}`,
    /// `{{version}}`); without one, values come from `/hooks/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Unit for display: `ms`, `%`, `req/s`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Link template to a side-by-side view (`{{service}}`, `{{version}}`, `{{from}}`, `{{to}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Evaluated, stored and shown, but never breaches and never holds back the canary window:
    /// a new criterion tried on real deploys before it may roll anything back.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
    /// Checks this soon after the deploy starts are `warming_up`: shown and stored, neither pass
    /// nor fail, and the canary window cannot pass during them (a cold canary's first minutes).
    /// Written as a duration (`"2m"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub initial_delay: Option<std::time::Duration>,
    /// PromQL template of the traffic behind the criterion's value (same placeholders as
    /// `query`); the canary's count is checked against `min_requests`. Pushed samples carry it as
    /// `canary_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
    /// Fewer canary requests than this: the verdict is `insufficient` — not a failure, not
    /// `no_data`, and the failure count does not move.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<f64>,
    /// Consecutive insufficient checks that ask the deciders in the thread (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub insufficient_limit: u32,
    /// How a check is judged: bounds on one value (the default), or a statistical test.
    #[serde(default, skip_serializing_if = "Judge::is_threshold")]
    pub judge: Judge,
    /// `judge = "sequential"`: PromQL template of the errors since the deploy started, per track
    /// (with `requests`, the requests since the deploy started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,
    /// `judge = "sequential"`: the test's level — the chance of a false alarm over the whole
    /// canary, however often it is checked (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// `judge = "mann-whitney"`: how far back each check reads both tracks (default 10m; never
    /// before the deploy started).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub window: Option<std::time::Duration>,
    /// `judge = "mann-whitney"`: the spacing of the points read over the window (default 10s).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub step: Option<std::time::Duration>,
    /// `judge = "mann-whitney"`: which way is worse — `increase` (default), `decrease`, `either`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `judge = "mann-whitney"`: how sure the test must be that the canary differs (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// `judge = "mann-whitney"`: how much worse the canary's median must be, as a fraction of the
    /// baseline's, to count (default 0.1): a significant but tiny shift does not roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect_size: Option<f64>,
    /// `judge = "mann-whitney"`: fewer points than this in either track is `insufficient`
    /// (default 50, below which Kayenta warns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_points: Option<u32>,
    /// PromQL template of the whole service's signal after promotion (`{{service}}`,
    /// `{{environment}}`; no `{{track}}`, no `{{version}}`): checked every watch interval against
    /// the same query 1 and 7 days earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_query: Option<String>,
    /// A watch check fails when the value is above this many times each reference (default 1.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_max_ratio: Option<f64>,
    /// Consecutive failing watch checks that are a drift (default 6: half an hour at 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_failure_limit: Option<u32>,
}

/// The default `watch_max_ratio`.
pub const DEFAULT_WATCH_MAX_RATIO: f64 = 1.5;
/// The default `watch_failure_limit`.
pub const DEFAULT_WATCH_FAILURE_LIMIT: u32 = 6;

/// How a criterion's checks are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Judge {
    /// Bounds on one value per check (`max`, `min`, `max_ratio`, `max_delta`).
    #[default]
    Threshold,
    /// An anytime-valid test that the canary's error rate exceeds the baseline's by more than
    /// `max_ratio` (default 1), on counts since the deploy started (`errors`, `requests`).
    Sequential,
    /// Canary and baseline as two distributions over a window (Kayenta's test): fails when the
    /// canary is worse with `confidence` and by at least `effect_size`.
    MannWhitney,
}

impl Judge {
    pub fn as_str(self) -> &'static str {
        match self {
            Judge::Threshold => "threshold",
            Judge::Sequential => "sequential",
            Judge::MannWhitney => "mann-whitney",
        }
    }
}

/// The statistic behind a statistical judge's verdict, stored in the check's event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum TestResult {
    MannWhitney(MannWhitney),
    Sequential(Sequential),
}

impl Judge {
    fn is_threshold(&self) -> bool {
        *self == Judge::Threshold
    }
}

/// The default level of the sequential judge.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// The Mann-Whitney judge's defaults. The issue asked for a 15s step with a 10m window and 50
/// points: 41 points fit, so every check would be insufficient; the step is 10s (61 points,
/// leaving room for a few missed scrapes).
pub const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
pub const DEFAULT_STEP: std::time::Duration = std::time::Duration::from_secs(10);
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
pub const DEFAULT_EFFECT_SIZE: f64 = 0.1;
pub const DEFAULT_MIN_POINTS: u32 = 50;
/// Prometheus refuses a range query of more points per series than this.
pub const PROMETHEUS_MAX_POINTS: u64 = 11_000;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `"2m"` ⇄ a duration, as people write it in the file and in deploy webhooks.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration ({e}); write e.g. 30s, 2m"
            ))
        })
    }
}

fn default_failure_limit() -> u32 {
    3
}

/// A criterion with no name and no bound (which `problems` refuses), every other field as the
/// configuration defaults it: what literals in code start from (`..Criterion::default()`), so a
/// new field is written in one place.
impl Default for Criterion {
    fn default() -> Self {
        Criterion {
            name: String::new(),
            max: None,
            min: None,
            max_ratio: None,
            max_delta: None,
            failure_limit: default_failure_limit(),
            query: None,
            unit: None,
            link: None,
            dry_run: false,
            initial_delay: None,
            requests: None,
            min_requests: None,
            insufficient_limit: 0,
            judge: Judge::Threshold,
            errors: None,
            alpha: None,
            window: None,
            step: None,
            direction: None,
            confidence: None,
            effect_size: None,
            min_points: None,
            watch_query: None,
            watch_max_ratio: None,
            watch_failure_limit: None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
    /// Within the criterion's `initial_delay`: neither pass nor fail.
    WarmingUp,
    /// Too little canary traffic (below `min_requests`) to judge: neither pass nor fail.
    Insufficient,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NoData => "no_data",
            Verdict::WarmingUp => "warming_up",
            Verdict::Insufficient => "insufficient",
        }
    }
}

/// The verdict of one check of one criterion, with the reasons a person would want to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// A statistical judge's test, when it ran.
    pub test: Option<TestResult>,
}

impl Evaluation {
    pub fn of(verdict: Verdict, reasons: Vec<String>) -> Evaluation {
        Evaluation {
            verdict,
            reasons,
            test: None,
        }
    }
}

impl Criterion {
    /// A value with this criterion's unit: `250ms`, `2%`, `120 req/s`.
    pub fn value_text(&self, v: f64) -> String {
        value_with_unit(v, self.unit.as_deref())
    }

    /// How far above its references a watch check may be: `watch_max_ratio` or its default.
    pub fn watch_ratio(&self) -> f64 {
        self.watch_max_ratio.unwrap_or(DEFAULT_WATCH_MAX_RATIO)
    }

    /// Consecutive failing watch checks that are a drift: `watch_failure_limit` or its default.
    pub fn watch_limit(&self) -> u32 {
        self.watch_failure_limit
            .unwrap_or(DEFAULT_WATCH_FAILURE_LIMIT)
            .max(1)
    }

    /// Absolute bounds (max/min) are what recovery is verified against after a rollback.
    pub fn has_absolute_bounds(&self) -> bool {
        self.max.is_some() || self.min.is_some()
    }

    /// How many points the window holds at the step (both ends included).
    pub fn window_points(&self) -> u64 {
        let window = self.window.unwrap_or(DEFAULT_WINDOW).as_millis() as u64;
        let step = self.step.unwrap_or(DEFAULT_STEP).as_millis().max(1) as u64;
        window / step + 1
    }
}

/// The points a range query read for each track over a criterion's window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackPoints {
    pub canary: Vec<f64>,
    pub baseline: Vec<f64>,
}
