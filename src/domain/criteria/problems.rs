//! What is wrong with a criterion, as `(key, problem)` pairs the configuration and the deploy
//! webhook name by path.

use super::*;

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
        if let Some(r) = self.watch_max_ratio
            && !(r.is_finite() && r > 1.0)
        {
            out.push((
                "watch_max_ratio",
                "must be a number > 1, e.g. 1.5 (fail above 1.5× yesterday and last week)"
                    .to_string(),
            ));
        }
        if self.watch_failure_limit == Some(0) {
            out.push(("watch_failure_limit", "must be >= 1".to_string()));
        }
        if self.watch_query.is_none() {
            for (field, set) in [
                ("watch_max_ratio", self.watch_max_ratio.is_some()),
                ("watch_failure_limit", self.watch_failure_limit.is_some()),
            ] {
                if set {
                    out.push((
                        field,
                        "set, but watch_query is not: only a watched criterion uses it".to_string(),
                    ));
                }
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
}
