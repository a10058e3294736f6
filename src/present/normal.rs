//! What "normal" looks like, in words: the `baseline` table (CLI and chat), the root's "normal
//! at this hour" beside each criterion, the postmortem's lines, and the criteria suggested from
//! history as TOML for a person to review and paste.

use crate::domain::criteria::{Criterion, Judge, fmt_num};
use crate::domain::normal::{
    MAX_FACTOR, MIN_FACTOR, NoNormal, Normal, Normals, WINDOW_S, round_significant,
    suggested_bounds,
};
use chrono::{DateTime, Utc};

/// `14:00–15:00 UTC`: the hour of day each day's window covers.
pub fn hour_words(at_ms: i64) -> String {
    let hm = |ms: i64| {
        DateTime::<Utc>::from_timestamp_millis(ms)
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("{}–{} UTC", hm(at_ms - WINDOW_S * 1000), hm(at_ms))
}

/// `the last 7 days`, `yesterday`.
pub fn days_words(days: u32) -> String {
    if days == 1 {
        "yesterday".to_string()
    } else {
        format!("the last {days} days")
    }
}

/// A number as the tables show it: 3 significant digits.
fn num(v: f64) -> String {
    fmt_num(round_significant(v, 3))
}

/// A value with the criterion's unit, 3 significant digits: `250ms`, `0.3%`.
fn value(c: &Criterion, v: f64) -> String {
    c.value_text(round_significant(v, 3))
}

/// `240–280ms`: p5 to p95, the middle 90 % of the values.
pub fn range(c: &Criterion, n: &Normal) -> String {
    format!("{}–{}", num(n.p5), value(c, n.p95))
}

/// What the root shows beside a criterion once the normal is recorded (after `normal at this
/// hour:`): `240–280ms`, or `unknown (why)`. Nothing for a criterion that was not asked (no
/// query).
pub fn root_normal(c: &Criterion, normals: &Normals) -> Option<String> {
    if let Some(n) = normals.of(&c.name) {
        return Some(range(c, n));
    }
    normals
        .missing_of(&c.name)
        .map(|m| format!("unknown ({})", m.reason))
}

/// What the range means, said once under a table or a list.
pub fn range_meaning(days: u32) -> String {
    format!(
        "normal range: p5–p95, the middle 90 % of the values at this hour over {}",
        days_words(days)
    )
}

/// Lines for the postmortem (Markdown escapes the names; the page writes them through `Html`):
/// `(criterion, words)` for each criterion the normal speaks of, in the criteria's order.
pub fn lines<'a>(criteria: &'a [Criterion], normals: &Normals) -> Vec<(&'a str, String)> {
    criteria
        .iter()
        .filter_map(|c| {
            if let Some(n) = normals.of(&c.name) {
                Some((
                    c.name.as_str(),
                    format!(
                        "{} (median {}, p99 {}; {}/{} days with data, {} values)",
                        range(c, n),
                        value(c, n.median),
                        value(c, n.p99),
                        n.days_with_data,
                        n.days_asked,
                        n.points
                    ),
                ))
            } else {
                normals
                    .missing_of(&c.name)
                    .map(|m| (c.name.as_str(), format!("unknown: {}", m.reason)))
            }
        })
        .collect()
}

/// The heading of what normal means for a deploy: `What was normal at 14:00–15:00 UTC on the
/// last 7 days before the deploy (the stable track)`.
pub fn before_deploy_heading(normals: &Normals) -> String {
    format!(
        "What was normal at {} on {} before the deploy (the stable track)",
        hour_words(normals.at_ms),
        days_words(normals.days)
    )
}

/// The `baseline` answer: which hour, track and days were asked, then a table of criterion,
/// days with data, median, p95, p99 and the normal range; criteria without a normal or without
/// a query are listed under it with why. `fenced`: the table in a code block (chat).
pub fn baseline_text(
    service: &str,
    environment: &str,
    baseline_track: &str,
    criteria: &[Criterion],
    normals: &Normals,
    fenced: bool,
) -> String {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for c in criteria {
        if c.query.is_none() {
            notes.push(format!(
                "{}: no query (its values come from /hooks/metrics)",
                c.name
            ));
            continue;
        }
        match (normals.of(&c.name), normals.missing_of(&c.name)) {
            (Some(n), _) => rows.push(vec![
                c.name.clone(),
                format!("{}/{}", n.days_with_data, n.days_asked),
                value(c, n.median),
                value(c, n.p95),
                value(c, n.p99),
                range(c, n),
            ]),
            (None, missing) => {
                rows.push(vec![
                    c.name.clone(),
                    format!("0/{}", normals.days),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                ]);
                if let Some(NoNormal { reason, .. }) = missing {
                    notes.push(format!("{}: {reason}", c.name));
                }
            }
        }
    }
    let mut out = format!(
        "What normal looks like for {service} in {environment}: track `{baseline_track}` at {} on each of {}.\n",
        hour_words(normals.at_ms),
        days_words(normals.days)
    );
    if rows.is_empty() {
        out.push_str("No criterion of this service has a query: there is no history to ask.\n");
    } else {
        let table = crate::present::chat::table(
            &["criterion", "days", "median", "p95", "p99", "normal range"],
            &rows,
        );
        let table = if fenced {
            table
        } else {
            table
                .trim_start_matches("```\n")
                .trim_end_matches("\n```")
                .to_string()
        };
        out.push_str(&table);
        out.push('\n');
        out.push_str(&range_meaning(normals.days));
        out.push_str(".\n");
    }
    for n in notes {
        out.push_str(&n);
        out.push('\n');
    }
    out
}

/// The comment that says how a bound was derived: `# max = p99 of 7 days at 14:00–15:00 UTC
/// (0.284) × 1.2, configured now: 0.5`.
fn derivation(
    key: &str,
    of: &str,
    tail: f64,
    factor: f64,
    now: Option<f64>,
    normals: &Normals,
) -> String {
    format!(
        "# {key} = {of} of {} day{} at {} ({}) × {}{}",
        normals.days,
        if normals.days == 1 { "" } else { "s" },
        hour_words(normals.at_ms),
        num(tail),
        fmt_num(factor),
        now.map(|v| format!("; configured now: {}", fmt_num(v)))
            .unwrap_or_else(|| "; not configured now".into())
    )
}

/// One criterion as TOML key lines, `comments` put before the line of their key.
fn criterion_toml(c: &Criterion, comments: &[(&str, String)], before: &[String]) -> String {
    let mut out = String::from("[[service.criteria]]\n");
    for b in before {
        out.push_str(b);
        out.push('\n');
    }
    let body = match toml::to_string(c) {
        Ok(body) => body,
        Err(e) => return format!("{out}# cannot write this criterion as TOML: {e}\n"),
    };
    for line in body.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        for (k, comment) in comments {
            if *k == key {
                out.push_str(comment);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `[[service.criteria]]` TOML for `service`, each criterion as configured with the bounds
/// derived from its normal (`max` = p99 × 1.2 where higher is worse, `min` = p1 × 0.8 where lower
/// is worse), each with a comment saying how; a criterion without a query or without history,
/// or judged by a test that takes no bounds, is printed unchanged with the reason.
pub fn suggest_toml(
    service: &str,
    environment: &str,
    baseline_track: &str,
    criteria: &[Criterion],
    normals: &Normals,
) -> String {
    let mut out = format!(
        "# Criteria for {service} suggested by canarybot from Prometheus history: the values of\n\
         # track `{baseline_track}` in {environment} at {} on each of {}.\n\
         # Where higher is worse (max, max_ratio, max_delta, or no bound yet): max = p99 × {}.\n\
         # Where lower is worse (min): min = p1 × {}. Rounded to 3 significant digits.\n\
         # Review them, then paste them in place of the [[service.criteria]] of the service named\n\
         # \"{service}\": the criteria are agreed by people before the deploy.\n",
        hour_words(normals.at_ms),
        days_words(normals.days),
        fmt_num(MAX_FACTOR),
        fmt_num(MIN_FACTOR)
    );
    for c in criteria {
        out.push('\n');
        let why_not = if c.query.is_none() {
            Some("no query (its values come from /hooks/metrics), so no history".to_string())
        } else if c.judge != Judge::Threshold {
            Some(format!(
                "judge = \"{}\" compares the tracks and takes no max or min",
                c.judge.as_str()
            ))
        } else {
            normals.missing_of(&c.name).map(|m| m.reason.clone())
        };
        let normal = normals.of(&c.name);
        match (why_not, normal) {
            (None, Some(n)) => {
                let (max, min) = suggested_bounds(c, n);
                let mut suggested = c.clone();
                let mut comments = Vec::new();
                if let Some(max) = max {
                    comments.push((
                        "max",
                        derivation("max", "p99", n.p99, MAX_FACTOR, c.max, normals),
                    ));
                    suggested.max = Some(max);
                }
                if let Some(min) = min {
                    comments.push((
                        "min",
                        derivation("min", "p1", n.p1, MIN_FACTOR, c.min, normals),
                    ));
                    suggested.min = Some(min);
                }
                out.push_str(&criterion_toml(&suggested, &comments, &[]));
            }
            (why, _) => {
                let mut before = vec![format!(
                    "# unchanged: no bound derived: {}",
                    why.unwrap_or_else(|| "no history was asked".into())
                )];
                if let Some(n) = normal {
                    before.push(format!(
                        "# normal at {}: {} (p5–p95), median {}",
                        hour_words(normals.at_ms),
                        range(c, n),
                        value(c, n.median)
                    ));
                }
                out.push_str(&criterion_toml(c, &[], &before));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::criteria::Judge;

    /// 2026-12-02 15:00 UTC.
    const AT: i64 = 1_796_223_600_000;

    fn latency() -> Criterion {
        Criterion {
            name: "p99 latency".into(),
            query: Some("histogram_quantile(0.99, x{track=\"{{track}}\"})".into()),
            max: Some(0.5),
            failure_limit: 2,
            unit: Some("s".into()),
            ..Criterion::default()
        }
    }

    fn normals() -> Normals {
        Normals {
            at_ms: AT,
            days: 7,
            normals: vec![Normal {
                criterion: "p99 latency".into(),
                days_asked: 7,
                days_with_data: 6,
                points: 366,
                p1: 0.2312,
                p5: 0.2404,
                median: 0.25049,
                p95: 0.27961,
                p99: 0.2844,
            }],
            missing: vec![NoNormal {
                criterion: "error ratio".into(),
                reason: "no data at this hour on any of the last 7 days (empty result)".into(),
            }],
        }
    }

    fn errors() -> Criterion {
        Criterion {
            name: "error ratio".into(),
            query: Some("errors".into()),
            max_ratio: Some(2.0),
            ..Criterion::default()
        }
    }

    #[test]
    fn the_hour_is_the_one_ending_at_the_time_asked() {
        assert_eq!(hour_words(AT), "14:00–15:00 UTC");
        assert_eq!(hour_words(AT + 23 * 60_000), "14:23–15:23 UTC");
    }

    #[test]
    fn the_root_shows_p5_to_p95_with_the_unit() {
        let n = normals();
        assert_eq!(root_normal(&latency(), &n).as_deref(), Some("0.24–0.28s"));
        assert_eq!(
            root_normal(&errors(), &n).as_deref(),
            Some("unknown (no data at this hour on any of the last 7 days (empty result))")
        );
        let pushed = Criterion {
            name: "pushed".into(),
            max: Some(1.0),
            ..Criterion::default()
        };
        assert_eq!(root_normal(&pushed, &n), None);
    }

    #[test]
    fn the_baseline_table_shows_each_criterion_and_says_why_one_has_none() {
        let pushed = Criterion {
            name: "pushed".into(),
            max: Some(1.0),
            ..Criterion::default()
        };
        let text = baseline_text(
            "checkout",
            "production",
            "stable",
            &[latency(), errors(), pushed],
            &normals(),
            false,
        );
        assert_eq!(
            text,
            "What normal looks like for checkout in production: track `stable` at 14:00–15:00 UTC on each of the last 7 days.\n\
             criterion    days  median  p95    p99     normal range\n\
             p99 latency  6/7   0.25s   0.28s  0.284s  0.24–0.28s\n\
             error ratio  0/7   —       —      —       —\n\
             normal range: p5–p95, the middle 90 % of the values at this hour over the last 7 days.\n\
             error ratio: no data at this hour on any of the last 7 days (empty result)\n\
             pushed: no query (its values come from /hooks/metrics)\n"
        );
        let chat = baseline_text(
            "checkout",
            "production",
            "stable",
            &[latency()],
            &normals(),
            true,
        );
        assert!(chat.contains("```\ncriterion"), "{chat}");
    }

    #[test]
    fn suggestions_keep_every_key_and_say_how_each_bound_was_derived() {
        let toml_text = suggest_toml(
            "checkout",
            "production",
            "stable",
            &[
                latency(),
                errors(),
                Criterion {
                    name: "throughput".into(),
                    query: Some("rps".into()),
                    min: Some(10.0),
                    ..Criterion::default()
                },
            ],
            &Normals {
                normals: vec![
                    normals().normals[0].clone(),
                    Normal {
                        criterion: "throughput".into(),
                        p1: 101.4,
                        ..normals().normals[0].clone()
                    },
                ],
                ..normals()
            },
        );
        // p99 0.2844 × 1.2 = 0.34128 → 0.341; p1 101.4 × 0.8 = 81.12 → 81.1
        assert!(
            toml_text.contains(
                "# max = p99 of 7 days at 14:00–15:00 UTC (0.284) × 1.2; configured now: 0.5\nmax = 0.341\n"
            ),
            "{toml_text}"
        );
        assert!(
            toml_text.contains(
                "# min = p1 of 7 days at 14:00–15:00 UTC (101) × 0.8; configured now: 10\nmin = 81.1\n"
            ),
            "{toml_text}"
        );
        assert!(
            toml_text.contains("# unchanged: no bound derived: no data at this hour"),
            "{toml_text}"
        );
        // Valid TOML whose criteria read back as configured but for the bounds.
        #[derive(serde::Deserialize)]
        struct File {
            service: Vec<Service>,
        }
        #[derive(serde::Deserialize)]
        struct Service {
            criteria: Vec<Criterion>,
        }
        let file: File = toml::from_str(&format!("[[service]]\n{toml_text}")).expect("valid TOML");
        let back = &file.service[0].criteria;
        assert_eq!(
            back[0],
            Criterion {
                max: Some(0.341),
                ..latency()
            }
        );
        assert_eq!(back[1], errors());
        assert_eq!(back[2].min, Some(81.1));
    }

    #[test]
    fn a_statistical_judge_is_left_as_it_is_with_its_normal_for_reference() {
        let mw = Criterion {
            judge: Judge::MannWhitney,
            max: None,
            ..latency()
        };
        let text = suggest_toml("checkout", "production", "stable", &[mw], &normals());
        assert!(
            text.contains("# unchanged: no bound derived: judge = \"mann-whitney\" compares the tracks and takes no max or min\n# normal at 14:00–15:00 UTC: 0.24–0.28s (p5–p95), median 0.25s\n"),
            "{text}"
        );
        assert!(!text.contains("\nmax ="), "{text}");
    }

    #[test]
    fn postmortem_lines_name_the_days_and_values() {
        let criteria = [latency(), errors()];
        let lines = lines(&criteria, &normals());
        assert_eq!(
            lines,
            vec![
                (
                    "p99 latency",
                    "0.24–0.28s (median 0.25s, p99 0.284s; 6/7 days with data, 366 values)"
                        .to_string()
                ),
                (
                    "error ratio",
                    "unknown: no data at this hour on any of the last 7 days (empty result)"
                        .to_string()
                ),
            ]
        );
    }
}
