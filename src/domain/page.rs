//! The web pages: a deploy's postmortem and the list of deploys, as plain HTML with inline SVG
//! charts. No scripts and no external assets: the pages read the same without JavaScript, offline
//! and on paper. The postmortem page carries the same content as
//! [`to_markdown`](super::postmortem::to_markdown), section by section, plus one chart per
//! criterion.

use super::criteria::{Criterion, Verdict, fmt_num};
use super::deploy::{Deploy, EventData, OnBreach, State};
use super::postmortem::{
    ChartPoint, Marker, MarkerKind, Postmortem, criteria_changes, decisions, markers, outcome,
    path_segment, phase_rows, title, votes,
};
use super::render::{duration, state_words, timestamp, with_unit};
use super::timeline::Phases;
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// One row of GET /deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub id: String,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub state: String,
    pub drill: bool,
    pub started_at_ms: i64,
    pub phases: Phases,
}

/// HTML-escapes text (& < > " ').
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Shared page furniture
// ---------------------------------------------------------------------------------------------

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  margin: 0 auto; max-width: 1040px; padding: 1rem 1.25rem 3rem; color: #111827; background: #fff; }
nav.links { font-size: .9rem; margin-bottom: .75rem; }
nav.links a { margin-right: 1rem; }
a { color: #1d4ed8; }
h1 { font-size: 1.6rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #e5e7eb; padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th, table.kv th { background: #f9fafb; }
table.kv th { width: 12rem; font-weight: 600; }
td.duration, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.what { color: #6b7280; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; overflow-wrap: anywhere; }
td.kind code { white-space: nowrap; }
.wrap { overflow-x: auto; }
.drill-banner { background: #fff7ed; border: 1px solid #fdba74; border-radius: 4px; padding: .5rem .75rem; }
.not-final { background: #fefce8; border: 1px solid #fde047; border-radius: 4px; padding: .5rem .75rem; }
.changed { background: #fef2f2; border: 1px solid #fca5a5; border-radius: 4px; padding: .5rem .75rem; margin: .75rem 0; }
.changed ul { margin: .25rem 0; }
.badge { display: inline-block; font-size: .7rem; font-weight: 700; letter-spacing: .03em;
  padding: 0 .35rem; border-radius: 3px; margin-left: .4rem; vertical-align: middle; }
.badge.drill { background: #ffedd5; color: #9a3412; border: 1px solid #fdba74; }
tr.vote.refused { background: #fef2f2; }
tr.vote.refused td.counted { color: #991b1b; font-weight: 600; }
ul.decisions { padding-left: 1.2rem; }
figure.chart { margin: 1rem 0 1.5rem; break-inside: avoid; page-break-inside: avoid; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: .85rem; color: #4b5563; margin-top: .25rem; }
.empty { color: #4b5563; }
@media print {
  nav, nav.links { display: none; }
  body { color: #000; background: #fff; max-width: none; padding: 0; font-size: 11pt; }
  a { color: #000; text-decoration: none; }
  h2 { border-color: #000; }
  th, td { border-color: #999; }
  thead th, table.kv th { background: #fff; }
  figure, figure.chart, tr { break-inside: avoid; page-break-inside: avoid; }
  .drill-banner, .not-final, .changed, tr.vote.refused, .badge.drill { background: #fff; color: #000; border-color: #000; }
  figcaption, .what, .empty { color: #000; }
}
"#;

fn document(title_text: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — canarybot</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title_text)
    )
}

/// A link when the URL is one a browser may follow safely (http, https, or a path on this
/// server); the escaped text otherwise.
fn link(url: &str, text: &str) -> String {
    let lower = url.trim_start().to_ascii_lowercase();
    let safe = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//"));
    if safe {
        format!(
            "<a href=\"{}\">{}</a>",
            escape(url.trim_start()),
            escape(text)
        )
    } else {
        escape(text)
    }
}

/// Escapes text that uses Markdown backticks for code (as `criteria_changes` does), turning the
/// backtick spans into `<code>`.
fn code_spans(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: leave it as text.
        return escape(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(p))
            } else {
                escape(p)
            }
        })
        .collect()
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map(timestamp).unwrap_or_else(|| "—".into())
}

fn opt_duration(secs: Option<f64>) -> String {
    secs.map(duration).unwrap_or_else(|| "—".into())
}

fn opt_bound(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "—".into())
}

// ---------------------------------------------------------------------------------------------
// GET /deploys/{id}
// ---------------------------------------------------------------------------------------------

/// The full HTML document for GET /deploys/{id}.
pub fn deploy_page(pm: &Postmortem) -> String {
    let d = &pm.deploy;
    let i = &d.info;
    let md_url = format!("/api/deploys/{}/timeline.md", path_segment(&i.id));
    let heading = format!("Postmortem: {}", title(d));
    let mut b = String::new();

    let _ = writeln!(
        b,
        "<nav class=\"links\"><a href=\"/deploys\">← All deploys</a> <a href=\"{}\">Markdown</a></nav>",
        escape(&md_url)
    );
    b.push_str("<main>\n");
    let _ = writeln!(b, "<h1>{}</h1>", escape(&heading));
    if i.is_drill() {
        b.push_str("<p class=\"drill-banner\">🧯 DRILL — a rehearsal with a synthetic breach, not a real deploy.</p>\n");
    }
    if !d.state.is_final() {
        let _ = writeln!(
            b,
            "<p class=\"not-final\">The deploy is still <code>{}</code> ({}); this postmortem is not final.</p>",
            d.state.as_str(),
            escape(state_words(d.state))
        );
    }

    summary_section(&mut b, pm, &md_url);
    phases_section(&mut b, d);
    criteria_section(&mut b, pm);
    charts_section(&mut b, pm);
    decision_section(&mut b, pm);
    votes_section(&mut b, pm);
    timeline_section(&mut b, pm);

    b.push_str("</main>\n");
    b.push_str("<nav class=\"links\"><a href=\"/deploys\">← All deploys</a></nav>\n");
    document(&heading, &b)
}

fn kv(b: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(
        b,
        "<tr><th scope=\"row\">{}</th><td>{value_html}</td></tr>",
        escape(key)
    );
}

fn summary_section(b: &mut String, pm: &Postmortem, md_url: &str) {
    let d = &pm.deploy;
    let i = &d.info;
    b.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n<tbody>\n");
    kv(b, "Service", &escape(&i.service));
    kv(b, "Version", &escape(&i.version));
    kv(b, "Environment", &escape(&i.environment));
    kv(
        b,
        "Deployer",
        &escape(i.actor.as_deref().unwrap_or("unknown")),
    );
    kv(
        b,
        "Outcome",
        &format!(
            "{} (<code>{}</code>)",
            escape(&outcome(d)),
            d.state.as_str()
        ),
    );
    kv(b, "Started", &escape(&timestamp(d.started_at_ms)));
    kv(b, "Deploy id", &format!("<code>{}</code>", escape(&i.id)));
    if let Some(sha) = &i.sha {
        kv(b, "SHA", &format!("<code>{}</code>", escape(sha)));
    }
    if let Some(desc) = &i.description {
        kv(b, "Change", &escape(desc));
    }
    if let Some(url) = &i.url {
        kv(b, "Deploy link", &link(url, url));
    }
    for t in &pm.threads {
        kv(b, &format!("{} thread", t.platform), &link(&t.url, &t.url));
    }
    if let Some(url) = &i.page_url {
        kv(b, "Web page", &link(url, url));
    }
    kv(b, "Markdown", &link(md_url, "timeline.md"));
    b.push_str("</tbody>\n</table>\n</section>\n");
}

fn phases_section(b: &mut String, d: &Deploy) {
    b.push_str("<section class=\"phases\">\n<h2>Phases</h2>\n<div class=\"wrap\">\n<table id=\"phases\">\n");
    b.push_str("<thead><tr><th>Phase</th><th>From</th><th>To</th><th>Duration</th></tr></thead>\n<tbody>\n");
    for r in phase_rows(&d.milestones) {
        let name = if r.name == "Total" {
            "<strong>Total</strong>".to_string()
        } else {
            format!(
                "{} <span class=\"what\">({})</span>",
                escape(r.name),
                escape(r.what)
            )
        };
        let to = if r.end_ms.is_some() {
            opt_time(r.end_ms)
        } else {
            "not reached".into()
        };
        let _ = writeln!(
            b,
            "<tr data-phase=\"{}\"><td class=\"phase\">{name}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td class=\"duration\">{}</td></tr>",
            r.name.to_ascii_lowercase(),
            escape(&opt_time(r.start_ms)),
            escape(&to),
            escape(&opt_duration(r.secs))
        );
    }
    b.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

fn criteria_section(b: &mut String, pm: &Postmortem) {
    let d = &pm.deploy;
    let p = &d.policy;
    b.push_str("<section id=\"criteria\">\n<h2>Criteria as agreed before the deploy</h2>\n");
    let _ = writeln!(
        b,
        "<p>Locked at {} with hash <code class=\"hash\">{}</code>.</p>",
        escape(&timestamp(d.started_at_ms)),
        escape(&d.policy_hash)
    );
    b.push_str("<div class=\"wrap\">\n<table id=\"criteria-table\">\n<thead><tr><th>Criterion</th><th>max</th><th>min</th><th>max_ratio</th><th>max_delta</th><th>Failure limit</th><th>Unit</th></tr></thead>\n<tbody>\n");
    for c in &p.criteria {
        let _ = writeln!(
            b,
            "<tr data-criterion=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.name),
            opt_bound(c.max),
            opt_bound(c.min),
            opt_bound(c.max_ratio),
            opt_bound(c.max_delta),
            c.failure_limit,
            escape(c.unit.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</tbody>\n</table>\n</div>\n");
    let _ = writeln!(
        b,
        "<p class=\"policy\">Deciders: {}. Rollback quorum {}, promote quorum {}. On breach: {}. Canary window {}. Recovery verified by {} consecutive passing checks.</p>",
        p.deciders
            .iter()
            .map(|x| format!("<code>{}</code>", escape(x)))
            .collect::<Vec<_>>()
            .join(", "),
        p.rollback_quorum,
        p.promote_quorum,
        match p.on_breach {
            OnBreach::Ask => "ask the deciders",
            OnBreach::Rollback => "roll back at once",
        },
        escape(&duration(p.canary_window_s as f64)),
        p.verify_checks
    );
    match &pm.criteria_now {
        Some(now) => {
            let changes = criteria_changes(d, now);
            if changes.is_empty() {
                b.push_str("<p class=\"unchanged\">The configuration still holds these criteria: nothing changed after the lock.</p>\n");
            } else {
                b.push_str("<div class=\"changed\">\n<p><strong>⚠️ Changed after the lock.</strong> The configuration no longer matches what this deploy was judged by; the locked criteria above are the ones that applied:</p>\n<ul>\n");
                for c in changes {
                    let _ = writeln!(b, "<li>{}</li>", code_spans(&c));
                }
                b.push_str("</ul>\n</div>\n");
            }
        }
        None if !d.info.is_drill() => {
            let _ = writeln!(
                b,
                "<div class=\"changed unconfigured\"><p>Service {} is no longer configured; the locked criteria above are the ones that applied.</p></div>",
                escape(&d.info.service)
            );
        }
        None => {}
    }
    b.push_str("</section>\n");
}

fn charts_section(b: &mut String, pm: &Postmortem) {
    let d = &pm.deploy;
    let marks = markers(&pm.events);
    b.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    if d.policy.criteria.is_empty() {
        b.push_str("<p class=\"empty\">No criteria.</p>\n");
    }
    for c in &d.policy.criteria {
        let points: &[ChartPoint] = pm.samples.get(&c.name).map(Vec::as_slice).unwrap_or(&[]);
        let breached = d.breached_criteria.contains(&c.name);
        let stored = points.len();
        let _ = writeln!(
            b,
            "<figure class=\"chart\" data-criterion=\"{}\">\n{}\n<figcaption><strong>{}</strong>: canary {} (breach after {} failing check{}); {} sample{} stored{}.</figcaption>\n</figure>",
            escape(&c.name),
            chart_svg(c, points, &marks, breached),
            escape(&c.name),
            escape(&c.bounds()),
            c.failure_limit,
            if c.failure_limit == 1 { "" } else { "s" },
            stored,
            if stored == 1 { "" } else { "s" },
            if breached { "; breached" } else { "" }
        );
    }
    b.push_str("</section>\n");
}

fn decision_section(b: &mut String, pm: &Postmortem) {
    b.push_str("<section id=\"decision\">\n<h2>Decision</h2>\n");
    let decided = decisions(&pm.deploy, &pm.events);
    if decided.is_empty() {
        b.push_str("<p>No decision was taken.</p>\n");
    } else {
        b.push_str("<ul class=\"decisions\">\n");
        for x in &decided {
            let _ = writeln!(
                b,
                "<li class=\"decision\" data-action=\"{}\" data-at=\"{}\"><strong>{}</strong> at {} by {} (quorum {}): {}</li>",
                x.action.as_str(),
                x.at_ms,
                x.action.as_str(),
                escape(&timestamp(x.at_ms)),
                escape(&x.decided_by.join(", ")),
                x.quorum,
                escape(&x.reason)
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str("</section>\n");
}

fn votes_section(b: &mut String, pm: &Postmortem) {
    b.push_str("<section class=\"votes\">\n<h2>Votes</h2>\n");
    let all = votes(&pm.events);
    if all.is_empty() {
        b.push_str("<p>No votes.</p>\n");
    } else {
        b.push_str("<div class=\"wrap\">\n<table id=\"votes\">\n<thead><tr><th>Time</th><th>Who</th><th>Vote</th><th>Counted</th><th>Detail</th><th>Reason</th></tr></thead>\n<tbody>\n");
        for v in &all {
            let _ = writeln!(
                b,
                "<tr class=\"vote {}\"><td class=\"time\">{}</td><td>{} (<code>{}</code>)</td><td>{}</td><td class=\"counted\">{}</td><td>{}</td><td>{}</td></tr>",
                if v.counted { "counted" } else { "refused" },
                escape(&timestamp(v.at_ms)),
                escape(&v.name),
                escape(&v.voter),
                v.choice.as_str(),
                if v.counted {
                    "yes"
                } else {
                    "<strong>refused</strong>"
                },
                escape(&v.detail),
                escape(v.reason.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</tbody>\n</table>\n</div>\n");
    }
    b.push_str("</section>\n");
}

fn timeline_section(b: &mut String, pm: &Postmortem) {
    b.push_str("<section class=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"wrap\">\n<table id=\"timeline\">\n");
    b.push_str("<thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Source</th><th>Event</th><th>What happened</th></tr></thead>\n<tbody>\n");
    for e in &pm.events {
        let kind = e.data.kind();
        let mut summary = escape(&e.summary);
        if matches!(e.data, EventData::DeployStarted { .. }) {
            for t in &pm.threads {
                let _ = write!(
                    summary,
                    " ({})",
                    link(&t.url, &format!("{} thread", t.platform))
                );
            }
        }
        let _ = writeln!(
            b,
            "<tr data-kind=\"{kind}\" data-seq=\"{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"kind\"><code>{kind}</code></td><td>{summary}</td></tr>",
            e.seq,
            e.seq,
            escape(&timestamp(e.at_ms)),
            escape(&e.actor),
            escape(&e.source)
        );
    }
    b.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

const W: f64 = 720.0;
const H: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 36.0;

const CANARY: &str = "#dc2626";
const BASELINE: &str = "#2563eb";
const BOUND: &str = "#6b7280";

/// A coordinate rounded to one decimal, without `-0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == 0.0 || !r.is_finite() {
        "0".into()
    } else {
        format!("{r}")
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn marker_color(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::Breach => "#f59e0b",
        MarkerKind::Decision => "#7c3aed",
        MarkerKind::Rollback => "#0f766e",
        MarkerKind::Verified | MarkerKind::Promoted => "#16a34a",
    }
}

fn marker_short(m: &Marker) -> String {
    match m.kind {
        MarkerKind::Breach => "breach".into(),
        MarkerKind::Decision => m
            .label
            .split(" by ")
            .next()
            .unwrap_or("decision")
            .to_string(),
        MarkerKind::Rollback => "rolled back".into(),
        MarkerKind::Verified => "verified".into(),
        MarkerKind::Promoted => "promoted".into(),
    }
}

fn hms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

/// How far from zero the value axis may reach: ten times the typical magnitude (the median
/// sample, or a bound if larger). A value beyond it (`1e308` among values near 0.3) is drawn at
/// the edge and marked off scale instead of flattening every other point into the axis.
fn readable_reach(points: &[ChartPoint], bounds: &[Option<f64>]) -> f64 {
    let mut magnitudes: Vec<f64> = points
        .iter()
        .flat_map(|p| [finite(p.canary), finite(p.baseline)])
        .flatten()
        .map(f64::abs)
        .collect();
    magnitudes.sort_by(f64::total_cmp);
    let median = magnitudes.get(magnitudes.len() / 2).copied().unwrap_or(0.0);
    let typical = bounds
        .iter()
        .flatten()
        .map(|b| b.abs())
        .filter(|b| b.is_finite())
        .fold(median, f64::max);
    if typical > 0.0 {
        typical * 10.0
    } else {
        f64::INFINITY
    }
}

/// A "nice" step (1, 2, 2.5, 5 × 10^k) that splits `span` into about `parts` pieces.
fn nice_step(span: f64, parts: f64) -> f64 {
    let raw = span / parts;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Ticks on the time axis, at round clock times when the span allows it.
fn time_ticks(t0: i64, t1: i64) -> Vec<i64> {
    const STEPS_S: [i64; 19] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        604800,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS_S
        .iter()
        .map(|s| s * 1000)
        .find(|s| span / s <= 6)
        .unwrap_or_else(|| (span / 6).max(1));
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let mut out = Vec::new();
    let mut t = first;
    while t <= t1 && out.len() < 12 {
        out.push(t);
        t += step;
    }
    if out.is_empty() {
        out = vec![t0, t1];
    }
    out
}

/// One criterion's chart: canary and baseline over time, the bound, the breach, decision and rollback markers.
pub fn chart_svg(
    criterion: &Criterion,
    points: &[ChartPoint],
    markers: &[Marker],
    breached: bool,
) -> String {
    let unit = criterion.unit.as_deref();
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);

    // The time domain: samples and markers.
    let times: Vec<i64> = points
        .iter()
        .map(|p| p.at_ms)
        .chain(markers.iter().map(|m| m.at_ms))
        .collect();
    let (mut t0, mut t1) = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (0, 0),
    };
    if t1 <= t0 {
        t0 -= 30_000;
        t1 = t0 + 60_000;
    }

    // The value domain: both series and every bound drawn.
    let max_ratio = finite(criterion.max_ratio);
    let max_delta = finite(criterion.max_delta);
    let abs_max = finite(criterion.max);
    let abs_min = finite(criterion.min);
    let mut values: Vec<f64> = Vec::new();
    for p in points {
        values.extend(finite(p.canary));
        if let Some(b) = finite(p.baseline) {
            values.push(b);
            if let Some(r) = max_ratio {
                values.push(b * r);
            }
            if let Some(dl) = max_delta {
                values.push(b + dl);
            }
        }
    }
    values.extend(abs_max);
    values.extend(abs_min);
    values.retain(|v| v.is_finite());
    let reach = readable_reach(points, &[abs_max, abs_min]);
    let (above, below) = (
        values.iter().any(|v| *v > reach),
        values.iter().any(|v| *v < -reach),
    );
    values.retain(|v| v.abs() <= reach);
    // The axis then reaches the limit, so a point drawn at its edge reads as "beyond".
    if above {
        values.push(reach / 1.1);
    }
    if below {
        values.push(-reach);
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let vmin = if lo.is_finite() && lo < 0.0 { lo } else { 0.0 };
    let mut vmax = if !hi.is_finite() {
        1.0
    } else if hi > 0.0 {
        hi * 1.1
    } else {
        hi + 0.1 * (hi - vmin).abs()
    };
    if !(vmax.is_finite() && vmax > vmin) {
        vmax = vmin + 1.0;
    }

    let sx = |t: i64| x0 + ((t - t0) as f64) / ((t1 - t0) as f64) * (x1 - x0);
    // Off-scale values are drawn at the edge of the plot (and marked below).
    let sy = |v: f64| y1 - (v.clamp(vmin, vmax) - vmin) / (vmax - vmin) * (y1 - y0);

    let name = &criterion.name;
    let aria = format!(
        "{name}: canary and baseline over time; canary {}; {} sample{}{}",
        criterion.bounds(),
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        if breached { "; breached" } else { "" }
    );
    let mut s = format!(
        "<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n",
        escape(&aria)
    );
    let _ = writeln!(
        s,
        "<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>"
    );

    // Axes, grid and tick labels.
    s.push_str("<g class=\"axis\">\n");
    let step = nice_step(vmax - vmin, 4.0);
    let k0 = (vmin / step).ceil() as i64;
    let k1 = (vmax / step).floor() as i64;
    for k in k0..=k1.min(k0 + 12) {
        let v = k as f64 * step;
        let y = sy(v);
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#e5e7eb\" stroke-width=\"1\"/><text class=\"tick y\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#374151\">{}</text>",
            n(x0),
            n(y),
            n(x1),
            n(y),
            n(x0 - 6.0),
            n(y + 4.0),
            escape(&with_unit(Some(v), unit))
        );
    }
    for t in time_ticks(t0, t1) {
        let x = sx(t);
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#9ca3af\" stroke-width=\"1\"/><text class=\"tick x\" x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"#374151\">{}</text>",
            n(x),
            n(y1),
            n(x),
            n(y1 + 4.0),
            n(x),
            n(y1 + 16.0),
            // A label at the right edge would be cut off: end it at its tick.
            if x > x1 - 24.0 { "end" } else { "middle" },
            hms(t)
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#374151\" stroke-width=\"1\"/><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#374151\" stroke-width=\"1\"/>",
        n(x0),
        n(y0),
        n(x0),
        n(y1),
        n(x0),
        n(y1),
        n(x1),
        n(y1)
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#6b7280\">time (UTC)</text>",
        n(x1),
        n(H - 4.0)
    );
    s.push_str("</g>\n");

    // Bounds.
    let hline = |s: &mut String, which: &str, v: f64, label: String| {
        let y = sy(v);
        let _ = writeln!(
            s,
            "<line class=\"bound\" data-bound=\"{which}\" data-value=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{BOUND}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text class=\"bound-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{BOUND}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            escape(&fmt_num(v)),
            n(x0),
            n(y),
            n(x1),
            n(y),
            n(x1 - 4.0),
            n(if which == "min" { y + 12.0 } else { y - 4.0 }),
            escape(&label)
        );
    };
    if let Some(v) = abs_max {
        hline(
            &mut s,
            "max",
            v,
            format!("max {}", with_unit(Some(v), unit)),
        );
    }
    if let Some(v) = abs_min {
        hline(
            &mut s,
            "min",
            v,
            format!("min {}", with_unit(Some(v), unit)),
        );
    }
    let relative = |s: &mut String,
                    which: &str,
                    param: f64,
                    f: &dyn Fn(f64) -> f64,
                    label: String| {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| finite(p.baseline).map(|b| (sx(p.at_ms), sy(f(b)))))
            .filter(|(_, y)| y.is_finite())
            .collect();
        if pts.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "<polyline class=\"bound\" data-bound=\"{which}\" data-value=\"{}\" data-points=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{BOUND}\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
            escape(&fmt_num(param)),
            pts.len(),
            pts.iter()
                .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let (lx, ly) = pts[pts.len() - 1];
        let _ = writeln!(
            s,
            "<text class=\"bound-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{BOUND}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            n(lx.min(x1 - 4.0)),
            n(ly - 4.0),
            escape(&label)
        );
    };
    if let Some(r) = max_ratio {
        relative(
            &mut s,
            "max_ratio",
            r,
            &|b| b * r,
            format!("baseline × {}", fmt_num(r)),
        );
    }
    if let Some(dl) = max_delta {
        relative(
            &mut s,
            "max_delta",
            dl,
            &|b| b + dl,
            format!("baseline + {}", with_unit(Some(dl), unit)),
        );
    }

    // Markers.
    for (idx, m) in markers.iter().enumerate() {
        let other = m.kind == MarkerKind::Breach && !m.criteria.iter().any(|c| c == name);
        let x = sx(m.at_ms);
        let color = marker_color(m.kind);
        let ly = y0 + 10.0 + (idx % 4) as f64 * 12.0;
        let anchor_end = x > x1 - 90.0;
        let _ = writeln!(
            s,
            "<g class=\"marker {}{}\" data-at=\"{}\"{}><title>{}</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"1.5\"/><text x=\"{}\" y=\"{}\" text-anchor=\"{}\" fill=\"{color}\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text></g>",
            m.kind.as_str(),
            if other { " other" } else { "" },
            m.at_ms,
            if other { " opacity=\"0.35\"" } else { "" },
            escape(&format!("{} at {}", m.label, timestamp(m.at_ms))),
            n(x),
            n(y0),
            n(x),
            n(y1),
            n(if anchor_end { x - 3.0 } else { x + 3.0 }),
            n(ly),
            if anchor_end { "end" } else { "start" },
            escape(&marker_short(m))
        );
    }

    // The series.
    if points.is_empty() {
        let _ = writeln!(
            s,
            "<text class=\"no-data\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#6b7280\" font-size=\"14\">No samples stored</text>",
            n((x0 + x1) / 2.0),
            n((y0 + y1) / 2.0)
        );
    } else {
        for (class, color, is_canary) in [("baseline", BASELINE, false), ("canary", CANARY, true)] {
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| {
                    finite(if is_canary { p.canary } else { p.baseline })
                        .map(|v| (sx(p.at_ms), sy(v)))
                })
                .collect();
            let _ = writeln!(
                s,
                "<polyline class=\"series {class}\" data-points=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>",
                pts.len(),
                pts.iter()
                    .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            for p in points {
                let Some(v) = finite(if is_canary { p.canary } else { p.baseline }) else {
                    continue;
                };
                if (vmin..=vmax).contains(&v) {
                    continue;
                }
                // A triangle at the edge, pointing the way the value went.
                let (x, above) = (sx(p.at_ms), v > vmax);
                let (edge, tip) = if above {
                    (y0 + 9.0, y0)
                } else {
                    (y1 - 9.0, y1)
                };
                let _ = writeln!(
                    s,
                    "<path class=\"off-scale {class}\" data-at=\"{}\" data-value=\"{}\" d=\"M{},{} L{},{} L{},{} Z\" fill=\"{color}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>{}</title></path>",
                    p.at_ms,
                    escape(&fmt_num(v)),
                    n(x - 5.0),
                    n(edge),
                    n(x + 5.0),
                    n(edge),
                    n(x),
                    n(tip),
                    escape(&format!(
                        "{class} {} at {}: off scale",
                        with_unit(Some(v), unit),
                        timestamp(p.at_ms)
                    ))
                );
            }
            if let [(x, y)] = pts.as_slice() {
                // One point draws no line: show it as a dot.
                let _ = writeln!(
                    s,
                    "<circle class=\"sample {class}\" cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"{color}\"/>",
                    n(*x),
                    n(*y)
                );
            }
        }
        if breached {
            for p in points {
                let Some(c) = finite(p.canary) else { continue };
                if criterion.evaluate(Some(c), p.baseline).verdict == Verdict::Fail {
                    let _ = writeln!(
                        s,
                        "<circle class=\"breach-point\" data-at=\"{}\" cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{CANARY}\" stroke=\"#ffffff\" stroke-width=\"1\"/>",
                        p.at_ms,
                        n(sx(p.at_ms)),
                        n(sy(c))
                    );
                }
            }
        }
    }

    // Legend.
    let lx = x0 + 4.0;
    let ly = 14.0;
    s.push_str("<g class=\"legend\">\n");
    for (i, (label, color, dash)) in [
        ("canary", CANARY, ""),
        ("baseline", BASELINE, ""),
        ("bound", BOUND, " stroke-dasharray=\"6 4\""),
    ]
    .iter()
    .enumerate()
    {
        let x = lx + i as f64 * 96.0;
        let _ = writeln!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/><text x=\"{}\" y=\"{}\" fill=\"#111827\">{label}</text>",
            n(x),
            n(ly),
            n(x + 22.0),
            n(ly),
            n(x + 27.0),
            n(ly + 4.0)
        );
    }
    s.push_str("</g>\n</svg>");
    s
}

// ---------------------------------------------------------------------------------------------
// GET /deploys
// ---------------------------------------------------------------------------------------------

fn state_cell(state: &str) -> String {
    match serde_json::from_value::<State>(serde_json::Value::String(state.to_string())) {
        Ok(st) => escape(state_words(st)),
        Err(_) => escape(state),
    }
}

/// The full HTML document for GET /deploys (rows already newest first). `drills_shown` says whether drills are included (then show a DRILL badge on those rows); show a link to `/deploys?drills=include` or `/deploys` to switch.
pub fn deploys_page(rows: &[ListRow], drills_shown: bool) -> String {
    let mut b = String::new();
    b.push_str("<nav class=\"links\">");
    if drills_shown {
        b.push_str("<a href=\"/deploys\">Hide drills</a>");
    } else {
        b.push_str("<a href=\"/deploys?drills=include\">Show drills</a>");
    }
    b.push_str("</nav>\n<main>\n<h1>Deploys</h1>\n");
    let _ = writeln!(
        b,
        "<p class=\"shown\">Newest first{}.</p>",
        if drills_shown {
            ", drills included"
        } else {
            ", drills hidden"
        }
    );
    if rows.is_empty() {
        b.push_str("<p class=\"empty\">No deploys yet.</p>\n");
    } else {
        b.push_str("<div class=\"wrap\">\n<table id=\"deploys\">\n<thead><tr><th>Started (UTC)</th><th>Service</th><th>Version</th><th>Environment</th><th>State</th><th>Detect</th><th>Decide</th><th>Execute</th><th>Verify</th><th>Total</th><th>Deploy</th></tr></thead>\n<tbody>\n");
        for r in rows {
            let p = &r.phases;
            let _ = writeln!(
                b,
                "<tr data-id=\"{}\" data-state=\"{}\"><td class=\"time\">{}</td><td>{}{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td><a href=\"/deploys/{}\"><code>{}</code></a></td></tr>",
                escape(&r.id),
                escape(&r.state),
                escape(&timestamp(r.started_at_ms)),
                escape(&r.service),
                if r.drill {
                    "<span class=\"badge drill\">DRILL</span>"
                } else {
                    ""
                },
                escape(&r.version),
                escape(&r.environment),
                state_cell(&r.state),
                escape(&opt_duration(p.detect_s)),
                escape(&opt_duration(p.decide_s)),
                escape(&opt_duration(p.execute_s)),
                escape(&opt_duration(p.verify_s)),
                escape(&opt_duration(p.total_s)),
                escape(&path_segment(&r.id)),
                escape(&r.id)
            );
        }
        b.push_str("</tbody>\n</table>\n</div>\n");
    }
    b.push_str("</main>\n");
    document("Deploys", &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decision::{Choice, Vote, Voter};
    use crate::domain::deploy::{
        DeployInfo, Drill, Event, ExecutorOutcome, Input, OnPass, PipelineEvent, Policy, Sample,
        start,
    };
    use crate::domain::postmortem::ThreadLink;
    use crate::domain::timeline::phases;
    use std::collections::BTreeMap;

    const T0: i64 = 1_800_000_000_000; // 2027-01-15 08:00:00 UTC

    fn crit(name: &str, max: Option<f64>, ratio: Option<f64>, limit: u32) -> Criterion {
        Criterion {
            name: name.into(),
            max,
            min: None,
            max_ratio: ratio,
            max_delta: None,
            failure_limit: limit,
            query: None,
            unit: None,
            link: None,
        }
    }

    fn policy() -> Policy {
        let mut p99 = crit("p99 latency", Some(0.5), None, 2);
        p99.unit = Some("s".into());
        Policy {
            criteria: vec![crit("5xx ratio", Some(0.01), Some(1.5), 3), p99],
            deciders: vec!["slack:U01ALICE".into(), "slack-group:S01SRE".into()],
            rollback_quorum: 1,
            promote_quorum: 1,
            on_breach: OnBreach::Ask,
            on_pass: OnPass::Ask,
            canary_window_s: 900,
            verify_checks: 2,
            executor: Some("webhook".into()),
            no_data_limit: 3,
            verify_timeout_s: 600,
        }
    }

    fn info() -> DeployInfo {
        DeployInfo {
            id: "checkout:production:2.4.1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "2.4.1".into(),
            sha: Some("abc123".into()),
            actor: Some("ci & \"bots\"".into()),
            description: Some("<script>alert('x')</script> fix the cart".into()),
            url: Some("javascript:alert(1)".into()),
            ..DeployInfo::default()
        }
    }

    /// A deploy fed inputs the way the engine does, with the samples the store would keep.
    struct Run {
        events: Vec<Event>,
        samples: BTreeMap<String, Vec<ChartPoint>>,
        now: i64,
    }

    impl Run {
        fn new(info: DeployInfo, policy: Policy) -> Self {
            Run {
                events: start(info, policy, T0, "test").events,
                samples: BTreeMap::new(),
                now: T0,
            }
        }
        fn deploy(&self) -> Deploy {
            Deploy::fold(&self.events).expect("fold")
        }
        fn feed(&mut self, input: Input, advance_ms: i64) {
            self.now += advance_ms;
            let out = self
                .deploy()
                .handle(input, self.now, "test")
                .expect("handle");
            self.events.extend(out.events);
        }
        fn check(&mut self, samples: &[(&str, Option<f64>, Option<f64>)]) {
            let at = self.now + 30_000;
            for (name, canary, baseline) in samples {
                self.samples
                    .entry(name.to_string())
                    .or_default()
                    .push(ChartPoint {
                        at_ms: at,
                        canary: *canary,
                        baseline: *baseline,
                    });
            }
            self.feed(
                Input::Check {
                    at_ms: None,
                    samples: samples
                        .iter()
                        .map(|(name, canary, baseline)| Sample {
                            criterion: name.to_string(),
                            canary: *canary,
                            baseline: *baseline,
                            no_data_reason: None,
                        })
                        .collect(),
                },
                30_000,
            );
        }
        fn both(&mut self, five_xx: Option<f64>, p99: f64) {
            self.check(&[
                ("5xx ratio", five_xx, Some(0.004)),
                ("p99 latency", Some(p99), Some(0.2)),
            ]);
        }
        fn vote(&mut self, who: &str, groups: &[&str], choice: Choice) {
            self.feed(
                Input::Vote(Vote {
                    voter: Voter {
                        identity: who.into(),
                        name: who.into(),
                        groups: groups.iter().map(|s| s.to_string()).collect(),
                        person: None,
                        aliases: Vec::new(),
                    },
                    choice,
                    reason: Some("p99 <doubled>".into()),
                }),
                5_000,
            );
        }
        fn at(&self, kind: &str) -> i64 {
            self.events
                .iter()
                .find(|e| e.data.kind() == kind)
                .unwrap_or_else(|| panic!("no {kind}"))
                .at_ms
        }
        fn postmortem(&self) -> Postmortem {
            Postmortem {
                deploy: self.deploy(),
                events: self.events.clone(),
                samples: self.samples.clone(),
                threads: vec![ThreadLink {
                    platform: "Slack".into(),
                    url: "https://example.slack.com/archives/C1/p123".into(),
                }],
                criteria_now: Some(policy().criteria),
            }
        }
    }

    /// Breach on p99, one refused vote, a rollback decided, carried out and verified.
    fn rolled_back() -> Run {
        let mut r = Run::new(info(), policy());
        r.both(Some(0.002), 0.2);
        r.both(None, 0.9); // 5xx has no canary value this time
        r.both(Some(0.003), 0.9); // p99 fails 2/2 → breach
        assert_eq!(r.deploy().state, State::Breached);
        r.vote("slack:U09MALLORY", &[], Choice::Rollback);
        r.vote("slack:U02BOB", &["slack-group:S01SRE"], Choice::Rollback);
        let decision_id = r.deploy().current_decision.expect("decision").id.clone();
        r.feed(
            Input::Executor {
                decision_id,
                outcome: ExecutorOutcome::Accepted {
                    detail: "202".into(),
                },
            },
            1_000,
        );
        r.feed(
            Input::Pipeline {
                event: PipelineEvent::RolledBack,
                actor: Some("argo".into()),
                description: None,
            },
            20_000,
        );
        r.both(Some(0.004), 0.2);
        r.both(Some(0.004), 0.2);
        assert_eq!(r.deploy().state, State::RollbackVerified);
        r
    }

    /// The text of the element that starts at the first occurrence of `open`, up to `close`.
    fn element<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
        let start = html.find(open).unwrap_or_else(|| panic!("no {open}"));
        let end = html[start..]
            .find(close)
            .unwrap_or_else(|| panic!("no {close} after {open}"));
        &html[start..start + end + close.len()]
    }

    fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
        let key = format!(" {name}=\"");
        let i = tag
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {tag}"))
            + key.len();
        &tag[i..i + tag[i..].find('"').expect("closing quote")]
    }

    fn assert_self_contained(html: &str) {
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "no scripts");
        assert!(!lower.contains("src="), "no external sources");
        assert!(!lower.contains("<link"), "no stylesheets or fonts by URL");
        assert!(
            !lower.contains("@import") && !lower.contains("url("),
            "no CSS fetches"
        );
        assert!(!lower.contains("href=\"javascript:"), "no script URLs");
        assert!(
            !lower.contains("=\"nan") && !lower.contains("nan,"),
            "no NaN coordinates"
        );
    }

    #[test]
    fn escape_covers_the_five() {
        assert_eq!(
            escape(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escape("plain → ok"), "plain → ok");
    }

    #[test]
    fn deploy_page_has_every_section_and_no_scripts() {
        let r = rolled_back();
        let pm = r.postmortem();
        let html = deploy_page(&pm);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<meta charset=\"utf-8\">"));
        assert!(
            html.contains("<title>Postmortem: checkout 2.4.1 → production — canarybot</title>")
        );
        assert!(html.contains("<h1>Postmortem: checkout 2.4.1 → production</h1>"));
        for id in [
            "<section id=\"summary\">",
            "<table id=\"phases\">",
            "<section id=\"criteria\">",
            "<table id=\"criteria-table\">",
            "<section id=\"charts\">",
            "<section id=\"decision\">",
            "<table id=\"votes\">",
            "<table id=\"timeline\">",
            "<a href=\"/deploys\">",
            "@media print",
            "break-inside: avoid",
        ] {
            assert!(html.contains(id), "{id} missing");
        }
        assert!(!html.contains("class=\"drill-banner\""));
        assert!(
            !html.contains("class=\"not-final\""),
            "final deploys say nothing"
        );
        assert_self_contained(&html);
        // Data is escaped wherever it appears.
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; fix the cart"));
        assert!(html.contains("ci &amp; &quot;bots&quot;"));
        assert!(html.contains("p99 &lt;doubled&gt;"));
        // The unsafe deploy link is text, the thread a link, the Markdown a relative link.
        assert!(html.contains("<td>javascript:alert(1)</td>"));
        assert!(html.contains(
            "<a href=\"https://example.slack.com/archives/C1/p123\">https://example.slack.com/archives/C1/p123</a>"
        ));
        assert!(
            html.contains("<a href=\"/api/deploys/checkout%3Aproduction%3A2.4.1/timeline.md\">")
        );
        assert!(html.contains(&format!(
            "<code class=\"hash\">{}</code>",
            pm.deploy.policy_hash
        )));
        assert!(html.contains("<p class=\"unchanged\">"));
    }

    #[test]
    fn phase_rows_carry_the_durations() {
        let r = rolled_back();
        let html = deploy_page(&r.postmortem());
        let ph = phases(&r.events);
        assert_eq!(ph.detect_s, Some(90.0));
        for (name, secs) in [
            ("detect", ph.detect_s),
            ("decide", ph.decide_s),
            ("execute", ph.execute_s),
            ("verify", ph.verify_s),
            ("total", ph.total_s),
        ] {
            let row = element(&html, &format!("<tr data-phase=\"{name}\">"), "</tr>");
            let want = format!(
                "<td class=\"duration\">{}</td>",
                duration(secs.expect("reached"))
            );
            assert!(row.contains(&want), "{row} lacks {want}");
        }
        let detect = element(&html, "<tr data-phase=\"detect\">", "</tr>");
        assert!(
            detect.contains("<td class=\"duration\">1m 30s</td>"),
            "{detect}"
        );
        assert!(detect.contains(&timestamp(T0)));
        assert!(detect.contains(&timestamp(r.at("breach_detected"))));
    }

    #[test]
    fn unreached_phases_say_so() {
        let mut r = Run::new(info(), policy());
        r.both(Some(0.002), 0.2);
        let html = deploy_page(&r.postmortem());
        let decide = element(&html, "<tr data-phase=\"decide\">", "</tr>");
        assert!(decide.contains("not reached"));
        assert!(decide.contains("<td class=\"duration\">—</td>"));
        assert!(html.contains("<p class=\"not-final\">The deploy is still <code>canary</code>"));
        assert!(html.contains("<p>No decision was taken.</p>"));
        assert!(html.contains("<p>No votes.</p>"));
        assert!(!html.contains("<table id=\"votes\">"));
    }

    #[test]
    fn charts_draw_each_series_bound_and_marker() {
        let r = rolled_back();
        let html = deploy_page(&r.postmortem());
        let breach = r.at("breach_detected");
        let decision = r.at("decision");
        let rollback = r.at("rollback_succeeded");
        let verified = r.at("rollback_verified");

        // The breach named p99 only: on the 5xx chart it is another criterion's.
        for (name, canary_n, baseline_n, max, breach_class) in [
            ("5xx ratio", 4, 5, "0.01", "breach other"),
            ("p99 latency", 5, 5, "0.5", "breach"),
        ] {
            let fig = element(
                &html,
                &format!("<figure class=\"chart\" data-criterion=\"{name}\">"),
                "</figure>",
            );
            assert!(fig.contains("<figcaption>"));
            let canary = element(fig, "<polyline class=\"series canary\"", "/>");
            assert_eq!(attr(canary, "data-points"), canary_n.to_string(), "{name}");
            assert_eq!(attr(canary, "points").split(' ').count(), canary_n);
            assert_eq!(attr(canary, "stroke"), "#dc2626");
            let baseline = element(fig, "<polyline class=\"series baseline\"", "/>");
            assert_eq!(attr(baseline, "data-points"), baseline_n.to_string());
            assert_eq!(attr(baseline, "stroke"), "#2563eb");
            let bound = element(fig, "<line class=\"bound\" data-bound=\"max\"", "/>");
            assert_eq!(attr(bound, "data-value"), max);
            assert_eq!(attr(bound, "stroke-dasharray"), "6 4");
            for (kind, at) in [
                (breach_class, breach),
                ("decision", decision),
                ("rollback", rollback),
                ("verified", verified),
            ] {
                assert!(
                    fig.contains(&format!("<g class=\"marker {kind}\" data-at=\"{at}\"")),
                    "{name}: {kind} marker at {at}"
                );
            }
            assert!(fig.contains("<g class=\"legend\">"));
            assert!(fig.contains("<g class=\"axis\">"));
        }
        let five = element(
            &html,
            "<figure class=\"chart\" data-criterion=\"5xx ratio\">",
            "</figure>",
        );
        let ratio = element(
            five,
            "<polyline class=\"bound\" data-bound=\"max_ratio\"",
            "/>",
        );
        assert_eq!(attr(ratio, "data-value"), "1.5");
        assert_eq!(attr(ratio, "data-points"), "5");
        // The breach named p99 only: on the 5xx chart it is another criterion's.
        assert!(five.contains("<g class=\"marker breach other\""));
        assert!(!five.contains("breach-point"));
        let p99 = element(
            &html,
            "<figure class=\"chart\" data-criterion=\"p99 latency\">",
            "</figure>",
        );
        assert!(!p99.contains("breach other"), "{p99}");
        assert_eq!(p99.matches("class=\"breach-point\"").count(), 2);
        // The unit is on the y ticks; x ticks are clock times.
        assert!(
            p99.contains(">0.5s</text>") || p99.contains(">0.4s</text>"),
            "{p99}"
        );
        assert!(p99.contains(">08:0"), "{p99}");
    }

    #[test]
    fn extreme_values_are_marked_off_scale() {
        let c = crit("p99", Some(0.5), None, 1);
        let point = |i: i64, canary: f64| ChartPoint {
            at_ms: T0 + i * 30_000,
            canary: Some(canary),
            baseline: Some(0.3),
        };
        let points = [
            point(0, 0.3),
            point(1, 1e308),
            point(2, 0.35),
            point(3, -1e300),
        ];
        let svg = chart_svg(&c, &points, &[], false);
        let ticks: Vec<&str> = svg
            .split("<text class=\"tick y\"")
            .skip(1)
            .map(|t| &t[t.find('>').map_or(0, |i| i + 1)..t.find("</text>").unwrap_or(0)])
            .collect();
        assert!(!ticks.is_empty());
        assert!(
            ticks.iter().all(|t| t.len() <= 4),
            "the axis stays near the values: {ticks:?}"
        );
        let high = element(&svg, "<path class=\"off-scale canary\"", "</path>");
        assert_eq!(attr(high, "data-value"), "1e308");
        assert!(high.contains("canary 1e308 at "), "{high}");
        assert!(high.contains(": off scale</title>"), "{high}");
        assert_eq!(svg.matches("<path class=\"off-scale canary\"").count(), 2);
        assert!(svg.contains("data-value=\"-1e300\""), "{svg}");
        assert_eq!(svg.matches("class=\"off-scale baseline\"").count(), 0);
        // Every point of the line is inside the plot.
        let line = attr(
            element(&svg, "<polyline class=\"series canary\"", "/>"),
            "points",
        );
        for xy in line.split(' ') {
            let y: f64 = xy
                .split(',')
                .nth(1)
                .and_then(|y| y.parse().ok())
                .expect("y");
            assert!((TOP..=H - BOTTOM).contains(&y), "{xy}");
        }
    }

    #[test]
    fn chart_guards_against_no_data_and_odd_values() {
        let c = crit("x", Some(1.0), Some(2.0), 1);
        let empty = chart_svg(&c, &[], &[], false);
        assert!(empty.contains("<text class=\"no-data\""));
        assert!(empty.contains("No samples stored"));
        assert!(!empty.contains("<polyline"));
        assert!(empty.contains("<svg class=\"chart-svg\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 720 260\" width=\"720\" height=\"260\" role=\"img\" aria-label=\""));

        let flat = [
            ChartPoint {
                at_ms: T0,
                canary: Some(0.0),
                baseline: Some(0.0),
            },
            ChartPoint {
                at_ms: T0,
                canary: Some(f64::NAN),
                baseline: Some(f64::INFINITY),
            },
        ];
        let c0 = crit("flat", Some(0.0), None, 1);
        for svg in [
            chart_svg(&c0, &flat, &[], true),
            chart_svg(&c0, &flat[..1], &[], false),
        ] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            let canary = element(&svg, "<polyline class=\"series canary\"", "/>");
            assert_eq!(attr(canary, "data-points"), "1");
            assert!(svg.contains("<circle class=\"sample canary\""));
        }
        // Negative values put the axis below zero.
        let neg = [ChartPoint {
            at_ms: T0,
            canary: Some(-5.0),
            baseline: None,
        }];
        let svg = chart_svg(&crit("neg", None, None, 1), &neg, &[], false);
        assert!(
            svg.contains(">-5</text>") || svg.contains(">-4</text>"),
            "{svg}"
        );
        // Coordinates have at most one decimal.
        let pts = attr(
            element(&svg, "<polyline class=\"series canary\"", "/>"),
            "points",
        );
        for xy in pts.split([' ', ',']) {
            assert!(xy.split('.').nth(1).is_none_or(|d| d.len() <= 1), "{xy}");
        }
    }

    #[test]
    fn other_criteria_breaches_are_faint() {
        let c = crit("x", Some(1.0), None, 1);
        let m = Marker {
            at_ms: T0,
            kind: MarkerKind::Breach,
            label: "breach: y".into(),
            criteria: vec!["y".into()],
        };
        let svg = chart_svg(&c, &[], std::slice::from_ref(&m), false);
        assert!(svg.contains(&format!(
            "<g class=\"marker breach other\" data-at=\"{T0}\" opacity=\"0.35\">"
        )));
        assert!(svg.contains("stroke=\"#f59e0b\""));
        let mine = Marker {
            criteria: vec!["x".into()],
            ..m
        };
        let svg = chart_svg(&c, &[], &[mine], false);
        assert!(svg.contains(&format!("<g class=\"marker breach\" data-at=\"{T0}\">")));
    }

    #[test]
    fn votes_and_decisions_are_listed() {
        let r = rolled_back();
        let html = deploy_page(&r.postmortem());
        assert_eq!(html.matches("<tr class=\"vote counted\">").count(), 1);
        assert_eq!(html.matches("<tr class=\"vote refused\">").count(), 1);
        let refused = element(&html, "<tr class=\"vote refused\">", "</tr>");
        assert!(refused.contains("slack:U09MALLORY"));
        let decision = element(&html, "<section id=\"decision\">", "</section>");
        assert!(decision.contains("<strong>rollback</strong>"));
        assert!(decision.contains("by slack:U02BOB (quorum 1): p99 &lt;doubled&gt;"));
    }

    #[test]
    fn timeline_has_one_row_per_event_with_the_threads() {
        let r = rolled_back();
        let html = deploy_page(&r.postmortem());
        let table = element(&html, "<table id=\"timeline\">", "</table>");
        assert_eq!(table.matches("<tr data-kind=").count(), r.events.len());
        for e in &r.events {
            assert!(table.contains(&format!(
                "<tr data-kind=\"{}\" data-seq=\"{}\">",
                e.data.kind(),
                e.seq
            )));
        }
        let started = element(table, "<tr data-kind=\"deploy_started\"", "</tr>");
        assert!(
            started.contains(
                "(<a href=\"https://example.slack.com/archives/C1/p123\">Slack thread</a>)"
            )
        );
        assert!(started.contains(&timestamp(T0)));
    }

    #[test]
    fn criteria_changes_are_called_out() {
        let r = rolled_back();
        let mut pm = r.postmortem();
        let mut now = policy().criteria;
        now[1].max = Some(0.8);
        pm.criteria_now = Some(now);
        let html = deploy_page(&pm);
        let changed = element(&html, "<div class=\"changed\">", "</div>");
        assert!(
            changed.contains("<code>p99 latency</code>: locked as ≤ 0.5"),
            "{changed}"
        );
        let row = element(&html, "<tr data-criterion=\"5xx ratio\">", "</tr>");
        assert!(row.contains("<td class=\"num\">0.01</td>") && row.contains(">1.5<"));

        pm.criteria_now = None;
        let html = deploy_page(&pm);
        assert!(html.contains(
            "Service checkout is no longer configured; the locked criteria above are the ones that applied."
        ));
    }

    #[test]
    fn drills_wear_the_banner() {
        let mut i = info();
        i.drill = Some(Drill { breach_after_s: 60 });
        let mut r = Run::new(i, crate::domain::drill::policy(policy(), 60));
        r.check(&[("drill", Some(0.0), Some(0.0))]);
        r.check(&[("drill", Some(1.0), Some(0.0))]);
        let pm = Postmortem {
            criteria_now: None,
            ..r.postmortem()
        };
        let html = deploy_page(&pm);
        assert!(html.contains("<h1>Postmortem: DRILL: checkout 2.4.1 → production</h1>"));
        assert!(html.contains(
            "<p class=\"drill-banner\">🧯 DRILL — a rehearsal with a synthetic breach, not a real deploy.</p>"
        ));
        assert!(!html.contains("no longer configured"));
        let fig = element(
            &html,
            "<figure class=\"chart\" data-criterion=\"drill\">",
            "</figure>",
        );
        assert!(fig.contains(&format!(
            "<g class=\"marker breach\" data-at=\"{}\"",
            r.at("breach_detected")
        )));
        assert_eq!(fig.matches("class=\"breach-point\"").count(), 1);
        assert_self_contained(&html);
    }

    fn row(id: &str, service: &str, state: &str, drill: bool, at: i64) -> ListRow {
        ListRow {
            id: id.into(),
            service: service.into(),
            version: "1.0".into(),
            environment: "production".into(),
            state: state.into(),
            drill,
            started_at_ms: at,
            phases: Phases {
                detect_s: Some(90.0),
                decide_s: None,
                execute_s: None,
                verify_s: None,
                total_s: Some(90.0),
            },
        }
    }

    #[test]
    fn deploys_page_lists_rows_in_order() {
        let rows = vec![
            row(
                "drill:checkout/1",
                "checkout",
                "rollback_verified",
                true,
                T0 + 60_000,
            ),
            row(
                "checkout:production:2.4.1",
                "<b>checkout</b>",
                "canary",
                false,
                T0,
            ),
        ];
        let html = deploys_page(&rows, true);
        assert_self_contained(&html);
        assert!(html.contains("<title>Deploys — canarybot</title>"));
        let table = element(&html, "<table id=\"deploys\">", "</table>");
        let first =
            table.find("<tr data-id=\"drill:checkout/1\" data-state=\"rollback_verified\">");
        let second = table.find("<tr data-id=\"checkout:production:2.4.1\" data-state=\"canary\">");
        assert!(first.expect("first") < second.expect("second"));
        assert_eq!(
            table
                .matches("<span class=\"badge drill\">DRILL</span>")
                .count(),
            1
        );
        assert!(table.contains("<a href=\"/deploys/drill%3Acheckout%2F1\">"));
        assert!(table.contains("<a href=\"/deploys/checkout%3Aproduction%3A2.4.1\">"));
        assert!(table.contains("&lt;b&gt;checkout&lt;/b&gt;"));
        assert!(table.contains("<td class=\"duration\">1m 30s</td>"));
        assert!(table.contains("<td class=\"duration\">—</td>"));
        assert!(table.contains(&timestamp(T0)));
        assert!(html.contains("<a href=\"/deploys\">"));

        let hidden = deploys_page(&rows[1..], false);
        assert!(hidden.contains("<a href=\"/deploys?drills=include\">"));
        assert!(!hidden.contains("badge drill"));

        let empty = deploys_page(&[], false);
        assert!(empty.contains("No deploys yet."));
        assert!(!empty.contains("<table"));
    }
}
