//! The web pages: a deploy's postmortem and the list of deploys, as plain HTML with inline SVG
//! charts. No scripts and no external assets: the pages read the same without JavaScript, offline
//! and on paper. The postmortem page carries the same content as
//! [`to_markdown`](super::postmortem::to_markdown), section by section, plus one chart per
//! criterion. Everything is written through [`Html`], which escapes every value.

mod charts;
mod list;

pub use charts::chart_svg;
pub use list::{ListRow, deploys_page};

use super::html::{Html, Markup};
use super::postmortem::{
    ChartPoint, Postmortem, criteria_changes, decisions, markers, outcome, path_segment,
    phase_rows, title, votes,
};
use super::words::{duration, state_words, timestamp};
use crate::domain::criteria::fmt_num;
use crate::domain::deploy::{Deploy, EventData, OnBreach};
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
    phases_section(&mut b, d);
    criteria_section(&mut b, pm);
    charts_section(&mut b, pm);
    decision_section(&mut b, pm);
    votes_section(&mut b, pm);
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

fn phases_section(b: &mut Html, d: &Deploy) {
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
    b.push_raw("</tbody>\n</table>\n</div>\n</section>\n");
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
            c.name,
            opt_bound(c.max),
            opt_bound(c.min),
            opt_bound(c.max_ratio),
            opt_bound(c.max_delta),
            c.failure_limit,
            c.unit.as_deref().unwrap_or("")
        );
    }
    b.push_raw("</tbody>\n</table>\n</div>\n");
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
        match p.on_breach {
            OnBreach::Ask => "ask the deciders",
            OnBreach::Rollback => "roll back at once",
        },
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
            charts::chart(c, points, &marks, breached),
            c.name,
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

fn timeline_section(b: &mut Html, pm: &Postmortem) {
    b.push_raw("<section class=\"timeline\">\n<h2>Timeline</h2>\n<div class=\"wrap\">\n<table id=\"timeline\">\n");
    b.push_raw("<thead><tr><th>#</th><th>Time (UTC)</th><th>Actor</th><th>Source</th><th>Event</th><th>What happened</th></tr></thead>\n<tbody>\n");
    for e in &pm.events {
        let kind = e.data.kind();
        let mut summary = Html::text(&e.summary);
        if matches!(e.data, EventData::DeployStarted { .. }) {
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
            "<tr data-kind=\"{}\" data-seq=\"{}\"><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"kind\"><code>{}</code></td><td>{}</td></tr>\n",
            kind,
            e.seq,
            e.seq,
            timestamp(e.at_ms),
            e.actor,
            e.source,
            kind,
            summary
        );
    }
    b.push_raw("</tbody>\n</table>\n</div>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::charts::{BOTTOM, H, TOP};
    use super::*;
    use crate::domain::criteria::Criterion;
    use crate::domain::decision::{Choice, Vote, Voter};
    use crate::domain::deploy::State;
    use crate::domain::deploy::{
        DeployInfo, Drill, Event, ExecutorOutcome, Input, OnPass, PipelineEvent, Policy, Sample,
    };
    // The domain's answers in words (summaries filled), as the engine writes them.
    use crate::domain::timeline::Phases;
    use crate::domain::timeline::phases;
    use crate::present::html::escape;
    use crate::present::outcome::{handle, start};
    use crate::present::postmortem::ThreadLink;
    use crate::present::postmortem::{Marker, MarkerKind};
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
            let out = handle(&self.deploy(), input, self.now, "test").expect("handle");
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
            state: state.parse().expect("a deploy state"),
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
