//! A criterion's bounds and its numbers in words: `≤ baseline × 1.5`, `p = 0.003`, `+65 %`.

use super::*;

impl Criterion {
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

/// `48h`, `30m`, `1h 30m`, `45s`: a span of seconds as people write it (the stored reason of an
/// automatic decision, a watch's length).
pub fn span(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_string()
    } else {
        parts.join(" ")
    }
}
