//! The web pages: a deploy's postmortem and the list of deploys, as plain HTML with inline SVG
//! charts. No scripts and no external assets: the pages read the same without JavaScript, offline
//! and on paper. The postmortem page carries the same content as
//! [`to_markdown`](super::postmortem::to_markdown), section by section, plus one chart per
//! criterion. Everything is written through [`Html`], which escapes every value.

pub(crate) mod charts;
mod list;
mod notes;
mod service;

pub use charts::chart_svg;
pub use list::{ListRow, deploys_page};
pub use service::{ServiceRow, service_page};

use super::html::{Html, Markup};
use super::postmortem::{
    ChartPoint, MessageLink, Postmortem, criteria_changes, criterion_label, decide_story,
    decisions, link_labels, markers, outcome, path_segment, phase_rows, title, votes,
    would_have_breached,
};
use super::words::{duration, state_words, timestamp};
use crate::domain::criteria::fmt_num;
use crate::domain::deploy::{Deploy, Event, EventData};
use crate::html;

// ---------------------------------------------------------------------------------------------
// Shared page furniture
// ---------------------------------------------------------------------------------------------

/// The pages' one stylesheet, inlined: no external assets.
const STYLE: &str = include_str!("page.css");

fn document(title_text: &str, body: &Html) -> String {
    let mut out = Html::new();
    html!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — canarybot</title>\n<style>\n{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        title_text,
        Html::raw(STYLE),
        body
    );
    out.into_string()
}

/// A link when the URL is one a browser may follow safely (http, https, or a path on this
/// server); the escaped text otherwise.
fn link(url: &str, text: &str) -> Html {
    let lower = url.trim_start().to_ascii_lowercase();
    let safe = lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//"));
    let mut out = Html::new();
    if safe {
        html!(out, "<a href=\"{}\">{}</a>", url.trim_start(), text);
    } else {
        out.push(text);
    }
    out
}

/// Escapes text that uses Markdown backticks for code (as `criteria_changes` does), turning the
/// backtick spans into `<code>`.
fn code_spans(s: &str) -> Html {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: leave it as text.
        return Html::text(s);
    }
    let mut out = Html::new();
    for (i, p) in parts.iter().enumerate() {
        if i % 2 == 1 {
            html!(out, "<code>{}</code>", *p);
        } else {
            out.push(*p);
        }
    }
    out
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
    let mut b = Html::new();

    html!(
        b,
        "<nav class=\"links\"><a href=\"/deploys\">← All deploys</a> <a href=\"{}\">Markdown</a></nav>\n",
        md_url
    );
    b.push_raw("<main>\n");
    html!(b, "<h1>{}</h1>\n", heading);
    if i.is_drill() {
        b.push_raw("<p class=\"drill-banner\">🧯 DRILL — a rehearsal with a synthetic breach, not a real deploy.</p>\n");
    }
    if !d.state.is_final() {
        html!(
            b,
            "<p class=\"not-final\">The deploy is still <code>{}</code> ({}); this postmortem is not final.</p>\n",
            d.state.as_str(),
            state_words(d.state)
        );
    }

    summary_section(&mut b, pm, &md_url);
    phases_section(&mut b, d, &pm.events);
    criteria_section(&mut b, pm);
    charts_section(&mut b, pm);
    decision_section(&mut b, pm);
    watch_section(&mut b, pm);
    votes_section(&mut b, pm);
    notes::notes_section(&mut b, &pm.events);
    timeline_section(&mut b, pm);

    b.push_raw("</main>\n");
    b.push_raw("<nav class=\"links\"><a href=\"/deploys\">← All deploys</a></nav>\n");
    document(&heading, &b)
}

fn kv(b: &mut Html, key: &str, value: impl Markup) {
    html!(
        b,
        "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n",
        key,
        value
    );
}

fn code(text: &str) -> Html {
    let mut out = Html::new();
    html!(out, "<code>{}</code>", text);
    out
}

fn summary_section(b: &mut Html, pm: &Postmortem, md_url: &str) {
    let d = &pm.deploy;
    let i = &d.info;
    b.push_raw("<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n<tbody>\n");
    kv(b, "Service", &i.service);
    kv(b, "Version", &i.version);
    kv(b, "Environment", &i.environment);
    kv(b, "Deployer", i.actor.as_deref().unwrap_or("unknown"));
    let mut outcome_cell = Html::new();
    html!(
        outcome_cell,
        "{} (<code>{}</code>)",
        outcome(d),
        d.state.as_str()
    );
    kv(b, "Outcome", outcome_cell);
    kv(b, "Started", timestamp(d.started_at_ms));
    kv(b, "Deploy id", code(&i.id));
    if let Some(sha) = &i.sha {
        kv(b, "SHA", code(sha));
    }
    if let Some(desc) = &i.description {
        kv(b, "Change", desc);
    }
    if let Some(url) = &i.url {
        kv(b, "Deploy link", link(url, url));
    }
    for t in &pm.threads {
        kv(b, &format!("{} thread", t.platform), link(&t.url, &t.url));
    }
    if let Some(url) = &i.page_url {
        kv(b, "Web page", link(url, url));
    }
    kv(b, "Markdown", link(md_url, "timeline.md"));
    b.push_raw("</tbody>\n</table>\n</section>\n");
}

fn phases_section(b: &mut Html, d: &Deploy, events: &[Event]) {
    b.push_raw("<section class=\"phases\">\n<h2>Phases</h2>\n<div class=\"wrap\">\n<table id=\"phases\">\n");
    b.push_raw("<thead><tr><th>Phase</th><th>From</th><th>To</th><th>Duration</th></tr></thead>\n<tbody>\n");
    for r in phase_rows(&d.milestones) {
        let mut name = Html::new();
        if r.name == "Total" {
            name.push_raw("<strong>Total</strong>");
        } else {
            html!(name, "{} <span class=\"what\">({})</span>", r.name, r.what);
        }
        let to = if r.end_ms.is_some() {
            opt_time(r.end_ms)
        } else {
            "not reached".into()
        };
        html!(
            b,
            "<tr data-phase=\"{}\"><td class=\"phase\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td class=\"duration\">{}</td></tr>\n",
            r.name.to_ascii_lowercase(),
            name,
            opt_time(r.start_ms),
            to,
            opt_duration(r.secs)
        );
    }
    b.push_raw("</tbody>\n</table>\n</div>\n");
    if let Some(story) = decide_story(&d.milestones, events) {
        html!(b, "<p class=\"escalation\">Decide: {}.</p>\n", story);
    }
    b.push_raw("</section>\n");
}

fn criteria_section(b: &mut Html, pm: &Postmortem) {
    let d = &pm.deploy;
    let p = &d.policy;
    b.push_raw("<section id=\"criteria\">\n<h2>Criteria as agreed before the deploy</h2>\n");
    html!(
        b,
        "<p>Locked at {} with hash <code class=\"hash\">{}</code>.</p>\n",
        timestamp(d.started_at_ms),
        d.policy_hash
    );
    b.push_raw("<div class=\"wrap\">\n<table id=\"criteria-table\">\n<thead><tr><th>Criterion</th><th>max</th><th>min</th><th>max_ratio</th><th>max_delta</th><th>Failure limit</th><th>Unit</th></tr></thead>\n<tbody>\n");
    for c in &p.criteria {
        html!(
            b,
            "<tr data-criterion=\"{}\"><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            c.name,
            criterion_label(c),
            opt_bound(c.max),
            opt_bound(c.min),
            opt_bound(c.max_ratio),
            opt_bound(c.max_delta),
            c.failure_limit,
            c.unit.as_deref().unwrap_or("")
        );
    }
    b.push_raw("</tbody>\n</table>\n</div>\n");
    if let Some(normals) = &d.normal {
        html!(
            b,
            "<div class=\"normal\">\n<p>{} ({}):</p>\n<ul>\n",
            super::normal::before_deploy_heading(normals),
            super::normal::range_meaning(normals.days)
        );
        for (name, words) in super::normal::lines(&p.criteria, normals) {
            html!(
                b,
                "<li data-criterion=\"{}\"><strong>{}</strong>: {}</li>\n",
                name,
                name,
                words
            );
        }
        b.push_raw("</ul>\n</div>\n");
    }
    for (criterion, at_ms) in would_have_breached(&pm.events) {
        html!(
            b,
            "<p class=\"dry-run\">Dry run: {} would have breached at {}; nothing was done.</p>\n",
            criterion,
            timestamp(at_ms)
        );
    }
    let mut deciders = Html::new();
    for (n, x) in p.deciders.iter().enumerate() {
        if n > 0 {
            deciders.push_raw(", ");
        }
        deciders.push(code(x));
    }
    html!(
        b,
        "<p class=\"policy\">Deciders: {}. Rollback quorum {}, promote quorum {}. On breach: {}. Canary window {}. Recovery verified by {} consecutive passing checks.</p>\n",
        deciders,
        p.rollback_quorum,
        p.promote_quorum,
        crate::present::words::on_breach(p.on_breach),
        duration(p.canary_window_s as f64),
        p.verify_checks
    );
    match &pm.criteria_now {
        Some(now) => {
            let changes = criteria_changes(d, now);
            if changes.is_empty() {
                b.push_raw("<p class=\"unchanged\">The configuration still holds these criteria: nothing changed after the lock.</p>\n");
            } else {
                b.push_raw("<div class=\"changed\">\n<p><strong>⚠️ Changed after the lock.</strong> The configuration no longer matches what this deploy was judged by; the locked criteria above are the ones that applied:</p>\n<ul>\n");
                for c in changes {
                    html!(b, "<li>{}</li>\n", code_spans(&c));
                }
                b.push_raw("</ul>\n</div>\n");
            }
        }
        None if !d.info.is_drill() => {
            html!(
                b,
                "<div class=\"changed unconfigured\"><p>Service {} is no longer configured; the locked criteria above are the ones that applied.</p></div>\n",
                d.info.service
            );
        }
        None => {}
    }
    b.push_raw("</section>\n");
}

fn charts_section(b: &mut Html, pm: &Postmortem) {
    let d = &pm.deploy;
    let marks = markers(&pm.events);
    b.push_raw("<section id=\"charts\">\n<h2>Charts</h2>\n");
    if d.policy.criteria.is_empty() {
        b.push_raw("<p class=\"empty\">No criteria.</p>\n");
    }
    for c in &d.policy.criteria {
        let points: &[ChartPoint] = pm.samples.get(&c.name).map(Vec::as_slice).unwrap_or(&[]);
        let breached = d.breached_criteria.contains(&c.name);
        let stored = points.len();
        html!(
            b,
            "<figure class=\"chart\" data-criterion=\"{}\">\n{}\n<figcaption><strong>{}</strong>: canary {} (breach after {} failing check{}); {} sample{} stored{}.</figcaption>\n</figure>\n",
            c.name,
            charts::chart(&charts::PAGE, c, points, &marks, breached, &[], None),
            criterion_label(c),
            c.bounds(),
            c.failure_limit,
            if c.failure_limit == 1 { "" } else { "s" },
            stored,
            if stored == 1 { "" } else { "s" },
            if breached { "; breached" } else { "" }
        );
    }
    b.push_raw("</section>\n");
}

fn decision_section(b: &mut Html, pm: &Postmortem) {
    b.push_raw("<section id=\"decision\">\n<h2>Decision</h2>\n");
    let decided = decisions(&pm.deploy, &pm.events);
    if decided.is_empty() {
        b.push_raw("<p>No decision was taken.</p>\n");
    } else {
        b.push_raw("<ul class=\"decisions\">\n");
        for x in &decided {
            html!(
                b,
                "<li class=\"decision\" data-action=\"{}\" data-at=\"{}\"><strong>{}</strong> at {} by {} (quorum {}): {}</li>\n",
                x.action.as_str(),
                x.at_ms,
                x.action.as_str(),
                timestamp(x.at_ms),
                x.decided_by.join(", "),
                x.quorum,
                x.reason
            );
        }
        b.push_raw("</ul>\n");
    }
    b.push_raw("</section>\n");
}

/// The watch after promotion: its period, its checks and each drift with its values.
fn watch_section(b: &mut Html, pm: &Postmortem) {
    let d = &pm.deploy;
    let Some(w) = crate::present::watch::report(d, &pm.events) else {
        return;
    };
    b.push_raw(
        "<section id=\"watch\">\n<h2>Watch after promotion</h2>\n<table class=\"kv\">\n<tbody>\n",
    );
    kv(b, "Period", &w.period);
    kv(b, "Criteria", crate::present::watch::watched(d));
    kv(
        b,
        "Checks",
        format!("{} ({} failing recorded)", w.checks, w.failed_checks),
    );
    b.push_raw("</tbody>\n</table>\n");
    if w.drifts.is_empty() {
        b.push_raw("<p>No drift.</p>\n");
    } else {
        b.push_raw("<ul class=\"drifts\">\n");
        for drift in &w.drifts {
            html!(b, "<li class=\"drift\">{}</li>\n", drift);
        }
        b.push_raw("</ul>\n");
    }
    b.push_raw("</section>\n");
}

fn votes_section(b: &mut Html, pm: &Postmortem) {
    b.push_raw("<section class=\"votes\">\n<h2>Votes</h2>\n");
    let all = votes(&pm.events);
    if all.is_empty() {
        b.push_raw("<p>No votes.</p>\n");
    } else {
        b.push_raw("<div class=\"wrap\">\n<table id=\"votes\">\n<thead><tr><th>Time</th><th>Who</th><th>Vote</th><th>Counted</th><th>Detail</th><th>Reason</th></tr></thead>\n<tbody>\n");
        for v in &all {
            html!(
                b,
                "<tr class=\"vote {}\"><td class=\"time\">{}</td><td>{} (<code>{}</code>)</td><td>{}</td><td class=\"counted\">{}</td><td>{}</td><td>{}</td></tr>\n",
                if v.counted { "counted" } else { "refused" },
                timestamp(v.at_ms),
                v.name,
                v.voter,
                v.choice.as_str(),
                if v.counted {
                    Html::raw("yes")
                } else {
                    Html::raw("<strong>refused</strong>")
                },
                v.detail,
                v.reason.as_deref().unwrap_or("")
            );
        }
        b.push_raw("</tbody>\n</table>\n</div>\n");
    }
    b.push_raw("</section>\n");
}

/// An event's message links, ` · ` between them.
fn message_links(links: &[MessageLink]) -> Html {
    let mut out = Html::new();
    for (i, (label, url)) in link_labels(links).into_iter().enumerate() {
        if i > 0 {
            out.push_raw(" · ");
        }
        html!(out, "{}", link(url, &label));
    }
    out
}

fn timeline_section(b: &mut Html, pm: &Postmortem) {
    b.push_raw("<section class=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"wrap\">\n<table id=\"timeline\">\n");
    b.push_raw("<thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Source</th><th>Event</th><th>What happened</th><th>Message</th></tr></thead>\n<tbody>\n");
    for e in super::notes::timeline_order(&pm.events) {
        let kind = e.data.kind();
        let links = pm.links.get(&e.seq).map(Vec::as_slice).unwrap_or_default();
        let mut summary = Html::text(&e.summary);
        // The thread, when the start's own message cannot be linked to.
        if matches!(e.data, EventData::DeployStarted { .. }) && links.is_empty() {
            for t in &pm.threads {
                html!(
                    summary,
                    " ({})",
                    link(&t.url, &format!("{} thread", t.platform))
                );
            }
        }
        html!(
            b,
            "<tr data-kind=\"{}\" data-seq=\"{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"kind\"><code>{}</code></td><td>{}</td><td class=\"messages\">{}</td></tr>\n",
            kind,
            e.seq,
            e.seq,
            timestamp(super::notes::shown_at_ms(e)),
            e.actor,
            e.source,
            kind,
            summary,
            message_links(links)
        );
    }
    b.push_raw("</tbody>\n</table>\n</div>\n</section>\n");
}

#[cfg(test)]
mod tests;
