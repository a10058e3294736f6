//! One check judged: bounds on one value (threshold), the anytime-valid test on error counts
//! (sequential), the Mann-Whitney test on points over a window — each with its reasons.

use super::*;

impl Criterion {
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

    fn has_relative_bounds(&self) -> bool {
        self.max_ratio.is_some() || self.max_delta.is_some()
    }
}
