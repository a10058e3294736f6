//! Criteria: the bounds agreed before a deploy, and the verdict of one check against them.

use crate::domain::stats::{Direction, MannWhitney, Sequential};
use serde::{Deserialize, Serialize};

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
}

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
    /// Problems with this criterion as `(field, problem)` pairs; empty when it is usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(("name", "must not be empty".to_string()));
        }
        for (field, value) in [
            ("max", self.max),
            ("min", self.min),
            ("max_ratio", self.max_ratio),
            ("max_delta", self.max_delta),
        ] {
            if let Some(v) = value
                && !v.is_finite()
            {
                out.push((field, "must be a finite number".to_string()));
            }
        }
        if let Some(r) = self.max_ratio
            && r.is_finite()
            && r <= 0.0
        {
            out.push(("max_ratio", "must be > 0".to_string()));
        }
        if let Some(d) = self.max_delta
            && d.is_finite()
            && d < 0.0
        {
            out.push(("max_delta", "must be >= 0".to_string()));
        }
        if let (Some(min), Some(max)) = (self.min, self.max)
            && min > max
        {
            out.push(("min", format!("must be <= max ({max})")));
        }
        if self.failure_limit == 0 {
            out.push(("failure_limit", "must be >= 1".to_string()));
        }
        if let Some(m) = self.min_requests
            && !(m.is_finite() && m >= 0.0)
        {
            out.push(("min_requests", "must be a number >= 0".to_string()));
        }
        if self.requests.is_some() && self.min_requests.is_none() && self.judge != Judge::Sequential
        {
            out.push((
                "requests",
                "set, but min_requests is not: say how much canary traffic is enough to judge"
                    .to_string(),
            ));
        }
        // The Mann-Whitney judge is also insufficient on too few points, without min_requests.
        if self.insufficient_limit > 0
            && self.min_requests.is_none()
            && self.judge != Judge::MannWhitney
        {
            out.push((
                "insufficient_limit",
                "set, but min_requests is not".to_string(),
            ));
        }
        match self.judge {
            Judge::Sequential => self.sequential_problems(&mut out),
            Judge::MannWhitney => self.mann_whitney_problems(&mut out),
            Judge::Threshold => {}
        }
        // Keys of one judge set under another: said, so nobody believes they count.
        let only = [
            (Judge::Sequential, "errors", self.errors.is_some()),
            (Judge::Sequential, "alpha", self.alpha.is_some()),
            (Judge::MannWhitney, "window", self.window.is_some()),
            (Judge::MannWhitney, "step", self.step.is_some()),
            (Judge::MannWhitney, "direction", self.direction.is_some()),
            (Judge::MannWhitney, "confidence", self.confidence.is_some()),
            (
                Judge::MannWhitney,
                "effect_size",
                self.effect_size.is_some(),
            ),
            (Judge::MannWhitney, "min_points", self.min_points.is_some()),
        ];
        for (judge, field, set) in only {
            if set && self.judge != judge {
                out.push((
                    field,
                    format!("only judge = \"{}\" uses it", judge.as_str()),
                ));
            }
        }
        if self.judge == Judge::Threshold
            && self.max.is_none()
            && self.min.is_none()
            && self.max_ratio.is_none()
            && self.max_delta.is_none()
        {
            out.push((
                "max",
                "a criterion needs at least one bound: max, min, max_ratio or max_delta"
                    .to_string(),
            ));
        }
        out
    }

    fn sequential_problems(&self, out: &mut Vec<(&'static str, String)>) {
        if self.errors.is_none() {
            out.push((
                "errors",
                "judge = \"sequential\" needs an errors query (errors since the deploy started, per {{track}})"
                    .to_string(),
            ));
        }
        if self.requests.is_none() {
            out.push((
                "requests",
                "judge = \"sequential\" needs a requests query (requests since the deploy started, per {{track}})"
                    .to_string(),
            ));
        }
        if let Some(a) = self.alpha
            && !(a > 0.0 && a < 1.0)
        {
            out.push(("alpha", "must be between 0 and 1, e.g. 0.01".to_string()));
        }
        for (field, set) in [
            ("max", self.max.is_some()),
            ("min", self.min.is_some()),
            ("max_delta", self.max_delta.is_some()),
            ("query", self.query.is_some()),
        ] {
            if set {
                out.push((
                    field,
                    "not used by judge = \"sequential\" (it compares error rates; max_ratio is the ratio allowed)"
                        .to_string(),
                ));
            }
        }
    }

    fn mann_whitney_problems(&self, out: &mut Vec<(&'static str, String)>) {
        if self.query.is_none() {
            out.push((
                "query",
                "judge = \"mann-whitney\" needs a query (the signal per {{track}}, read over the window)"
                    .to_string(),
            ));
        }
        if let Some(c) = self.confidence
            && !(c > 0.0 && c < 1.0)
        {
            out.push((
                "confidence",
                "must be between 0 and 1, e.g. 0.95".to_string(),
            ));
        }
        if let Some(e) = self.effect_size
            && !(e.is_finite() && e >= 0.0)
        {
            out.push((
                "effect_size",
                "must be a fraction >= 0, e.g. 0.1 for 10 %".to_string(),
            ));
        }
        if self.min_points == Some(0) {
            out.push(("min_points", "must be >= 1".to_string()));
        }
        let window = self.window.unwrap_or(DEFAULT_WINDOW);
        let step = self.step.unwrap_or(DEFAULT_STEP);
        // Prometheus reads the step in seconds, to the millisecond.
        if step < std::time::Duration::from_millis(1) {
            out.push(("step", "must be at least 1ms".to_string()));
        } else if step > window {
            out.push((
                "step",
                format!(
                    "must not be longer than the window ({})",
                    humantime::format_duration(window)
                ),
            ));
        } else {
            let min = self.min_points.unwrap_or(DEFAULT_MIN_POINTS) as u64;
            if self.window_points() < min {
                out.push((
                    "min_points",
                    format!(
                        "{min} points cannot fit in a {} window at a {} step ({} points): lengthen window, shorten step or lower min_points",
                        humantime::format_duration(window),
                        humantime::format_duration(step),
                        self.window_points()
                    ),
                ));
            }
        }
        if step >= std::time::Duration::from_millis(1)
            && self.window_points() > PROMETHEUS_MAX_POINTS
        {
            out.push((
                "step",
                format!(
                    "a {} window at a {} step is {} points; Prometheus answers at most {PROMETHEUS_MAX_POINTS} per series: lengthen step",
                    humantime::format_duration(window),
                    humantime::format_duration(step),
                    self.window_points()
                ),
            ));
        }
        for (field, set) in [
            ("max", self.max.is_some()),
            ("min", self.min.is_some()),
            ("max_ratio", self.max_ratio.is_some()),
            ("max_delta", self.max_delta.is_some()),
        ] {
            if set {
                out.push((
                    field,
                    "not used by judge = \"mann-whitney\" (it compares distributions; effect_size is the change allowed)"
                        .to_string(),
                ));
            }
        }
    }

    /// A `judge = "sequential"` check on counts since the deploy started: fails when the test
    /// rejects "the canary's error rate is at most `max_ratio` × the baseline's". Without counts
    /// it is `no_data`.
    pub fn evaluate_counts(
        &self,
        counts: Option<crate::domain::stats::SequentialCounts>,
    ) -> Evaluation {
        let Some(counts) = counts else {
            return Evaluation::of(
                Verdict::NoData,
                vec!["no error and request counts".to_string()],
            );
        };
        let ratio = self.max_ratio.unwrap_or(1.0);
        let alpha = self.alpha.unwrap_or(DEFAULT_ALPHA);
        match crate::domain::stats::sequential(counts, ratio, alpha) {
            Err(e) => Evaluation::of(Verdict::NoData, vec![e.to_string()]),
            Ok(t) => {
                let share = |v: Option<f64>| {
                    v.map(|x| fmt_num((x * 1000.0).round() / 1000.0))
                        .unwrap_or_else(|| "—".to_string())
                };
                let because = format!(
                    "canary {}/{} errors vs baseline {}/{}: the canary's share of errors {} against {} allowed ({}× its share of traffic {}); ln Λ {} {} {} (α {})",
                    fmt_num(t.canary_errors),
                    fmt_num(t.canary_requests),
                    fmt_num(t.baseline_errors),
                    fmt_num(t.baseline_requests),
                    share(t.error_share),
                    share(t.null_share),
                    fmt_num(ratio),
                    share(t.traffic_share),
                    fmt_num((t.statistic * 100.0).round() / 100.0),
                    if t.breached { "≥" } else { "<" },
                    fmt_num((t.threshold * 100.0).round() / 100.0),
                    fmt_num(alpha)
                );
                let verdict = if t.breached {
                    Verdict::Fail
                } else {
                    Verdict::Pass
                };
                Evaluation {
                    verdict,
                    reasons: vec![because],
                    test: Some(TestResult::Sequential(t)),
                }
            }
        }
    }

    /// A `judge = "mann-whitney"` check of the points read over the window: fails when the
    /// canary is worse with `confidence` *and* its median by at least `effect_size`. Fewer than
    /// `min_points` in either track is `insufficient`; no points at all is `no_data`.
    pub fn evaluate_points(&self, points: Option<&TrackPoints>) -> Evaluation {
        let Some(points) = points else {
            return Evaluation::of(
                Verdict::NoData,
                vec!["no points over the window".to_string()],
            );
        };
        let direction = self.direction.unwrap_or_default();
        let t =
            match crate::domain::stats::mann_whitney(&points.canary, &points.baseline, direction) {
                Ok(t) => t,
                Err(e) => return Evaluation::of(Verdict::NoData, vec![e.to_string()]),
            };
        let min = self.min_points.unwrap_or(DEFAULT_MIN_POINTS) as usize;
        if t.canary_points < min || t.baseline_points < min {
            return Evaluation {
                verdict: Verdict::Insufficient,
                reasons: vec![format!(
                    "too few points to judge: canary {}, baseline {}, {min} needed",
                    t.canary_points, t.baseline_points
                )],
                test: Some(TestResult::MannWhitney(t)),
            };
        }
        let confidence = self.confidence.unwrap_or(DEFAULT_CONFIDENCE);
        let effect_size = self.effect_size.unwrap_or(DEFAULT_EFFECT_SIZE);
        let significant = t.p_value < 1.0 - confidence;
        // Without a baseline median to divide by, any move of the median the bad way counts.
        let worse = match (direction, t.effect) {
            (Direction::Increase, Some(e)) => e >= effect_size,
            (Direction::Decrease, Some(e)) => -e >= effect_size,
            (Direction::Either, Some(e)) => e.abs() >= effect_size,
            (Direction::Increase, None) => t.canary_median > t.baseline_median,
            (Direction::Decrease, None) => t.canary_median < t.baseline_median,
            (Direction::Either, None) => t.canary_median != t.baseline_median,
        };
        let mut because = format!(
            "{}, canary median {} vs {}{} over {} vs {} points",
            p_text(t.p_value),
            self.value_text(t.canary_median),
            self.value_text(t.baseline_median),
            t.effect
                .map(|e| format!(" ({})", percent_change(e)))
                .unwrap_or_default(),
            t.canary_points,
            t.baseline_points,
        );
        let level = fmt_num(((1.0 - confidence) * 1e6).round() / 1e6);
        let size = percent(effect_size);
        because.push_str(&match (significant, worse) {
            (true, true) => format!(": worse with p < {level} and by ≥ {size}"),
            (false, _) => format!(": no significant difference (p ≥ {level})"),
            (true, false) => format!(": significant, but within the {size} effect size"),
        });
        Evaluation {
            verdict: if significant && worse {
                Verdict::Fail
            } else {
                Verdict::Pass
            },
            reasons: vec![because],
            test: Some(TestResult::MannWhitney(t)),
        }
    }

    /// A value with this criterion's unit: `250ms`, `2%`, `120 req/s`.
    pub fn value_text(&self, v: f64) -> String {
        value_with_unit(v, self.unit.as_deref())
    }

    /// Absolute bounds (max/min) are what recovery is verified against after a rollback.
    pub fn has_absolute_bounds(&self) -> bool {
        self.max.is_some() || self.min.is_some()
    }

    fn has_relative_bounds(&self) -> bool {
        self.max_ratio.is_some() || self.max_delta.is_some()
    }

    /// Checks a canary value against every bound. A missing or non-finite canary value is
    /// `no_data`; a missing baseline is `no_data` only when a relative bound is what would decide.
    /// A pass says what held, a failure what broke.
    pub fn evaluate(&self, canary: Option<f64>, baseline: Option<f64>) -> Evaluation {
        let Some(c) = canary.filter(|v| v.is_finite()) else {
            return Evaluation::of(Verdict::NoData, vec!["no canary value".to_string()]);
        };
        let (mut failures, mut held) = self.absolute_reasons(c, "canary");
        let baseline = baseline.filter(|v| v.is_finite());
        match baseline {
            Some(b) => {
                let relative = [
                    self.max_ratio
                        .map(|r| (b * r, format!("baseline {} × {}", fmt_num(b), fmt_num(r)))),
                    self.max_delta
                        .map(|d| (b + d, format!("baseline {} + {}", fmt_num(b), fmt_num(d)))),
                ];
                for (limit, what) in relative.into_iter().flatten() {
                    if c > limit {
                        failures.push(format!(
                            "canary {} > {what} = {}",
                            fmt_num(c),
                            fmt_num(limit)
                        ));
                    } else {
                        held.push(format!(
                            "canary {} ≤ {what} = {}",
                            fmt_num(c),
                            fmt_num(limit)
                        ));
                    }
                }
            }
            None if self.has_relative_bounds() && failures.is_empty() => {
                return Evaluation::of(
                    Verdict::NoData,
                    vec!["no baseline value for the relative bounds".to_string()],
                );
            }
            None => {}
        }
        if failures.is_empty() {
            Evaluation::of(Verdict::Pass, held)
        } else {
            Evaluation::of(Verdict::Fail, failures)
        }
    }

    /// Checks one value against the absolute bounds only (recovery verification after a rollback).
    pub fn evaluate_absolute(&self, value: Option<f64>, label: &str) -> Evaluation {
        let Some(v) = value.filter(|v| v.is_finite()) else {
            return Evaluation::of(Verdict::NoData, vec![format!("no {label} value")]);
        };
        let (failures, held) = self.absolute_reasons(v, label);
        if failures.is_empty() {
            Evaluation::of(Verdict::Pass, held)
        } else {
            Evaluation::of(Verdict::Fail, failures)
        }
    }

    /// `(broken, held)`: the absolute bounds in words, each on the side it fell.
    fn absolute_reasons(&self, v: f64, label: &str) -> (Vec<String>, Vec<String>) {
        let (mut broken, mut held) = (Vec::new(), Vec::new());
        if let Some(max) = self.max {
            let (side, out) = if v > max {
                (">", &mut broken)
            } else {
                ("≤", &mut held)
            };
            out.push(format!(
                "{label} {} {side} max {}",
                fmt_num(v),
                fmt_num(max)
            ));
        }
        if let Some(min) = self.min {
            let (side, out) = if v < min {
                ("<", &mut broken)
            } else {
                ("≥", &mut held)
            };
            out.push(format!(
                "{label} {} {side} min {}",
                fmt_num(v),
                fmt_num(min)
            ));
        }
        (broken, held)
    }

    /// The bounds alone, e.g. `≤ 0.01, ≤ baseline × 1.5`; a statistical judge's test in short.
    pub fn bounds(&self) -> String {
        match self.judge {
            Judge::Threshold => self.threshold_bounds().join(", "),
            Judge::Sequential => format!(
                "error rate ≤ baseline × {} (sequential, α {})",
                fmt_num(self.max_ratio.unwrap_or(1.0)),
                fmt_num(self.alpha.unwrap_or(DEFAULT_ALPHA))
            ),
            Judge::MannWhitney => {
                let size = percent(self.effect_size.unwrap_or(DEFAULT_EFFECT_SIZE));
                let median = match self.direction.unwrap_or_default() {
                    Direction::Increase => format!("median < baseline +{size}"),
                    Direction::Decrease => format!("median > baseline −{size}"),
                    Direction::Either => format!("median within ±{size} of baseline"),
                };
                format!(
                    "{median} (Mann-Whitney, {} confidence, {} window)",
                    percent(self.confidence.unwrap_or(DEFAULT_CONFIDENCE)),
                    humantime::format_duration(self.window.unwrap_or(DEFAULT_WINDOW))
                )
            }
        }
    }

    fn threshold_bounds(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(v) = self.max {
            parts.push(format!("≤ {}", fmt_num(v)));
        }
        if let Some(v) = self.min {
            parts.push(format!("≥ {}", fmt_num(v)));
        }
        if let Some(v) = self.max_ratio {
            parts.push(format!("≤ baseline × {}", fmt_num(v)));
        }
        if let Some(v) = self.max_delta {
            parts.push(format!("≤ baseline + {}", fmt_num(v)));
        }
        parts
    }

    /// The bounds in words, e.g. `canary ≤ 0.01 and ≤ baseline × 1.5; breach after 3 failing checks`.
    pub fn describe(&self) -> String {
        let test = match self.judge {
            Judge::Threshold => self.threshold_bounds().join(" and "),
            _ => self.bounds(),
        };
        format!(
            "canary {test}; breach after {} failing check{}",
            self.failure_limit,
            if self.failure_limit == 1 { "" } else { "s" }
        )
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

/// `p = 0.003`, `p = 0.41`, `p < 0.0001`: two significant digits, as people read p-values.
pub fn p_text(p: f64) -> String {
    if p < 1e-4 {
        return "p < 0.0001".to_string();
    }
    let digits = (-p.log10().floor()) as i32 + 1;
    let scale = 10f64.powi(digits.max(1));
    format!("p = {}", fmt_num((p * scale).round() / scale))
}

/// `+65 %`, `−12 %`, `+0.5 %` from a fraction.
pub fn percent_change(fraction: f64) -> String {
    let sign = if fraction < 0.0 { "−" } else { "+" };
    format!("{sign}{}", percent(fraction.abs()))
}

/// `10 %` from 0.1; `95 %` from 0.95; one decimal below 10 %.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    let rounded = if p.abs() < 10.0 {
        (p * 10.0).round() / 10.0
    } else {
        p.round()
    };
    format!("{} %", fmt_num(rounded))
}

/// A value with a unit: short units stick (`250ms`, `2%`), long ones take a space (`120 req/s`).
pub fn value_with_unit(v: f64, unit: Option<&str>) -> String {
    match unit {
        None => fmt_num(v),
        Some(u) if u.chars().count() <= 2 => format!("{}{u}", fmt_num(v)),
        Some(u) => format!("{} {u}", fmt_num(v)),
    }
}

/// Numbers as people write them: no trailing zeros, at most 6 significant decimals; beyond a
/// billion (or below a millionth) in scientific notation, `1e308` rather than 309 digits.
pub fn fmt_num(v: f64) -> String {
    if v.is_finite() && v != 0.0 && !(1e-6..1e9).contains(&v.abs()) {
        let s = format!("{v:.5e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crit() -> Criterion {
        Criterion {
            name: "5xx ratio".into(),
            failure_limit: 3,
            ..Criterion::default()
        }
    }

    #[test]
    fn extreme_numbers_are_written_compactly() {
        assert_eq!(fmt_num(1e308), "1e308");
        assert_eq!(fmt_num(-2.5e12), "-2.5e12");
        assert_eq!(fmt_num(1_234_567_891.0), "1.23457e9");
        assert_eq!(fmt_num(3e-9), "3e-9");
        assert_eq!(fmt_num(999_999_999.0), "999999999");
        assert_eq!(fmt_num(0.000_001), "0.000001");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.25), "0.25");
        let e = Criterion {
            max: Some(0.5),
            ..crit()
        }
        .evaluate(Some(1e308), None);
        assert_eq!(e.reasons, vec!["canary 1e308 > max 0.5"]);
    }

    #[test]
    fn max_bound() {
        let c = Criterion {
            max: Some(0.01),
            ..crit()
        };
        assert_eq!(c.evaluate(Some(0.01), None).verdict, Verdict::Pass);
        let e = c.evaluate(Some(0.02), None);
        assert_eq!(e.verdict, Verdict::Fail);
        assert_eq!(e.reasons, vec!["canary 0.02 > max 0.01"]);
    }

    #[test]
    fn a_pass_says_what_held() {
        let c = Criterion {
            max: Some(0.01),
            min: Some(0.0),
            max_ratio: Some(1.5),
            max_delta: Some(0.01),
            ..crit()
        };
        let e = c.evaluate(Some(0.004), Some(0.003));
        assert_eq!(e.verdict, Verdict::Pass);
        assert_eq!(
            e.reasons,
            vec![
                "canary 0.004 ≤ max 0.01",
                "canary 0.004 ≥ min 0",
                "canary 0.004 ≤ baseline 0.003 × 1.5 = 0.0045",
                "canary 0.004 ≤ baseline 0.003 + 0.01 = 0.013",
            ]
        );
        // A failure names only what broke.
        let e = c.evaluate(Some(0.005), Some(0.003));
        assert_eq!(
            e.reasons,
            vec!["canary 0.005 > baseline 0.003 × 1.5 = 0.0045"]
        );
    }

    #[test]
    fn p_values_and_changes_read_as_people_write_them() {
        assert_eq!(p_text(0.003_12), "p = 0.0031");
        assert_eq!(p_text(0.41), "p = 0.41");
        assert_eq!(p_text(0.05), "p = 0.05");
        assert_eq!(p_text(1.0), "p = 1");
        assert_eq!(p_text(3e-7), "p < 0.0001");
        assert_eq!(percent_change(0.648), "+65 %");
        assert_eq!(percent_change(-0.4), "−40 %");
        assert_eq!(percent_change(0.027), "+2.7 %");
        assert_eq!(percent(0.95), "95 %");
    }

    #[test]
    fn min_bound() {
        let c = Criterion {
            min: Some(100.0),
            ..crit()
        };
        assert_eq!(c.evaluate(Some(150.0), None).verdict, Verdict::Pass);
        assert_eq!(c.evaluate(Some(99.5), None).verdict, Verdict::Fail);
    }

    #[test]
    fn ratio_and_delta_bounds_use_the_baseline() {
        let ratio = Criterion {
            max_ratio: Some(1.5),
            ..crit()
        };
        assert_eq!(ratio.evaluate(Some(0.3), Some(0.2)).verdict, Verdict::Pass);
        let e = ratio.evaluate(Some(0.31), Some(0.2));
        assert_eq!(e.verdict, Verdict::Fail);
        assert!(e.reasons[0].contains("baseline 0.2 × 1.5 = 0.3"), "{e:?}");
        let delta = Criterion {
            max_delta: Some(0.005),
            ..crit()
        };
        assert_eq!(
            delta.evaluate(Some(0.014), Some(0.01)).verdict,
            Verdict::Pass
        );
        assert_eq!(
            delta.evaluate(Some(0.016), Some(0.01)).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn missing_values_are_no_data_not_a_pass() {
        let c = Criterion {
            max: Some(1.0),
            max_ratio: Some(1.5),
            ..crit()
        };
        assert_eq!(c.evaluate(None, Some(1.0)).verdict, Verdict::NoData);
        assert_eq!(
            c.evaluate(Some(f64::NAN), Some(1.0)).verdict,
            Verdict::NoData
        );
        // Relative bound cannot be judged without a baseline…
        assert_eq!(c.evaluate(Some(0.5), None).verdict, Verdict::NoData);
        // …but a broken absolute bound is a failure regardless.
        assert_eq!(c.evaluate(Some(2.0), None).verdict, Verdict::Fail);
        // Only absolute bounds: no baseline needed.
        let abs = Criterion {
            max: Some(1.0),
            ..crit()
        };
        assert_eq!(abs.evaluate(Some(0.5), None).verdict, Verdict::Pass);
    }

    #[test]
    fn problems_name_the_field() {
        let c = Criterion {
            max_ratio: Some(0.0),
            failure_limit: 0,
            ..crit()
        };
        let p = c.problems();
        assert!(
            p.contains(&("max_ratio", "must be > 0".to_string())),
            "{p:?}"
        );
        assert!(p.iter().any(|(f, _)| *f == "failure_limit"));
        let none = crit().problems();
        assert!(none.iter().any(|(_, m)| m.contains("at least one bound")));
        let inverted = Criterion {
            min: Some(2.0),
            max: Some(1.0),
            ..crit()
        };
        assert!(inverted.problems().iter().any(|(f, _)| *f == "min"));
    }

    #[test]
    fn absolute_evaluation_for_verification() {
        let c = Criterion {
            max: Some(0.5),
            max_ratio: Some(1.2),
            ..crit()
        };
        assert!(c.has_absolute_bounds());
        assert_eq!(
            c.evaluate_absolute(Some(0.4), "baseline").verdict,
            Verdict::Pass
        );
        assert_eq!(
            c.evaluate_absolute(Some(0.6), "baseline").verdict,
            Verdict::Fail
        );
        assert_eq!(
            c.evaluate_absolute(None, "baseline").verdict,
            Verdict::NoData
        );
    }

    #[test]
    fn describes_bounds() {
        let c = Criterion {
            max: Some(0.01),
            max_ratio: Some(1.5),
            ..crit()
        };
        assert_eq!(
            c.describe(),
            "canary ≤ 0.01 and ≤ baseline × 1.5; breach after 3 failing checks"
        );
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(3.0), "3");
    }
}
