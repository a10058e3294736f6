//! The pages as a browser gets them: layout, charts and the list, from real domain outcomes.

use super::charts::{BOTTOM, H, TOP};
use super::*;
use crate::domain::criteria::Criterion;
use crate::domain::decision::{Choice, Vote, Voter};
use crate::domain::deploy::State;
use crate::domain::deploy::{
    DeployInfo, Drill, Event, ExecutorOutcome, Input, PipelineEvent, Policy, Sample,
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
        max_ratio: ratio,
        failure_limit: limit,
        ..Criterion::default()
    }
}

/// The aggregate tests' policy, with p99 measured in seconds (the charts show units).
fn policy() -> Policy {
    let mut p = crate::present::tests::policy();
    p.criteria[1].unit = Some("s".into());
    p
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
                        ..Sample::default()
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
                    deploys_as: Vec::new(),
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
            links: Default::default(),
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
    assert!(html.contains("<title>Postmortem: checkout 2.4.1 → production — canarybot</title>"));
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
    assert!(html.contains("<a href=\"/api/deploys/checkout%3Aproduction%3A2.4.1/timeline.md\">"));
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
        started
            .contains("(<a href=\"https://example.slack.com/archives/C1/p123\">Slack thread</a>)")
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
    i.drill = Some(Drill {
        breach_after_s: 60,
        page: false,
    });
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
    let first = table.find("<tr data-id=\"drill:checkout/1\" data-state=\"rollback_verified\">");
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

#[test]
fn warming_thin_and_dry_run_checks_are_marked_on_their_own_chart() {
    let mut p = policy();
    // 5xx ratio: a dry run that warms up for a minute and needs 100 requests.
    p.criteria[0].dry_run = true;
    p.criteria[0].initial_delay = Some(std::time::Duration::from_secs(60));
    p.criteria[0].min_requests = Some(100.0);
    let mut r = Run::new(info(), p);
    r.both(Some(0.002), 0.2); // 30 s: warming up
    r.feed(
        Input::Check {
            at_ms: None,
            samples: vec![Sample {
                criterion: "5xx ratio".into(),
                canary: Some(0.5),
                baseline: Some(0.004),
                canary_requests: Some(12.0),
                ..Sample::default()
            }],
        },
        30_000,
    ); // 60 s: too little traffic
    for _ in 0..3 {
        r.both(Some(0.5), 0.2); // fails 3/3: would have breached
    }
    let pm = r.postmortem();
    let html = deploy_page(&pm);
    let five_xx = element(
        &html,
        "<figure class=\"chart\" data-criterion=\"5xx ratio\">",
        "</figure>",
    );
    let p99 = element(
        &html,
        "<figure class=\"chart\" data-criterion=\"p99 latency\">",
        "</figure>",
    );
    for class in ["warmed-up", "insufficient", "would-have-breached"] {
        assert!(
            five_xx.contains(&format!("<g class=\"marker {class}\"")),
            "{class} on its own chart:\n{five_xx}"
        );
        assert!(
            !p99.contains(&format!("marker {class}")),
            "{class} not on another criterion's chart"
        );
    }
    assert!(five_xx.contains("stroke-dasharray=\"4 3\""));
    assert!(
        five_xx.contains("<strong>5xx ratio (dry run)</strong>"),
        "{five_xx}"
    );
    assert!(html.contains("Dry run: 5xx ratio would have breached at "));
}

/// Each timeline row links to the messages of its event, platform by platform; rows of events
/// that posted nothing link nowhere, and a link that is not http(s) is shown as text.
#[test]
fn timeline_rows_link_to_their_messages() {
    use crate::present::postmortem::MessageLink;
    let r = rolled_back();
    let mut pm = r.postmortem();
    let link = |platform: &str, url: &str| MessageLink {
        platform: platform.into(),
        url: url.into(),
    };
    pm.links.insert(
        1,
        vec![
            link("slack", "https://acme.slack.com/archives/C1/p1"),
            link("discord", "https://discord.com/channels/9/1/2"),
        ],
    );
    pm.links.insert(
        3,
        vec![
            link(
                "slack",
                "https://acme.slack.com/archives/C1/p2?thread_ts=1&cid=C1",
            ),
            link("slack", "javascript:alert(1)"),
        ],
    );
    let html = deploy_page(&pm);
    let start = element(
        &html,
        "<tr data-kind=\"deploy_started\" data-seq=\"1\">",
        "</tr>",
    );
    assert!(
        start.contains("<td class=\"messages\"><a href=\"https://acme.slack.com/archives/C1/p1\">Slack</a> · <a href=\"https://discord.com/channels/9/1/2\">Discord</a></td>"),
        "{start}"
    );
    // The start links its message, not the thread as well.
    assert!(!start.contains("Slack thread"), "{start}");
    let third = element(&html, "data-seq=\"3\">", "</tr>");
    assert!(
        third.contains("<a href=\"https://acme.slack.com/archives/C1/p2?thread_ts=1&amp;cid=C1\">Slack</a> · Slack 2</td>"),
        "{third}"
    );
    let locked = element(&html, "data-seq=\"2\">", "</tr>");
    assert!(
        locked.ends_with("<td class=\"messages\"></td></tr>"),
        "{locked}"
    );

    let md = crate::present::postmortem::to_markdown(&pm);
    assert!(md.contains(" | [Slack](https://acme.slack.com/archives/C1/p1) · [Discord](https://discord.com/channels/9/1/2) |\n"), "{md}");
    assert!(md.contains("| Time (UTC) | Actor | Source | Event | What happened | Message |"));
}
