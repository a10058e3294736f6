//! The postmortem: everything a review needs, gathered from the timeline and the stored samples,
//! rendered as Markdown here and as a web page in `page`.

use super::words::{duration, state_words, timestamp};
use crate::domain::criteria::{Criterion, fmt_num};
use crate::domain::decision::Choice;
use crate::domain::deploy::{Deploy, Event, EventData, State};
use crate::domain::timeline::Milestones;
use std::collections::BTreeMap;

/// One stored sample of one criterion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartPoint {
    pub at_ms: i64,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
}

/// Where the deploy's thread is on a chat platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadLink {
    pub platform: String,
    pub url: String,
}

/// A link to one chat message an event is tied to: one canarybot posted for it, or the message
/// the event names (a note's).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MessageLink {
    /// `slack`, `discord`: the platform's registry name.
    pub platform: String,
    pub url: String,
}

/// Each event's message links, by the event's seq; events without any are absent.
pub type EventLinks = BTreeMap<i64, Vec<MessageLink>>;

/// Stored samples `(criterion, at_ms, canary, baseline)` as chart points by criterion, oldest
/// first.
pub fn chart_points(
    stored: Vec<(String, i64, Option<f64>, Option<f64>)>,
) -> BTreeMap<String, Vec<ChartPoint>> {
    let mut samples: BTreeMap<String, Vec<ChartPoint>> = BTreeMap::new();
    for (criterion, at_ms, canary, baseline) in stored {
        samples.entry(criterion).or_default().push(ChartPoint {
            at_ms,
            canary,
            baseline,
        });
    }
    for points in samples.values_mut() {
        points.sort_by_key(|p| p.at_ms);
    }
    samples
}

/// What the postmortem is made of. The shell reads it from the store and the configuration.
#[derive(Debug, Clone)]
pub struct Postmortem {
    pub deploy: Deploy,
    pub events: Vec<Event>,
    /// Stored samples by criterion, oldest first.
    pub samples: BTreeMap<String, Vec<ChartPoint>>,
    /// The canary threads, where the platform can link to them.
    pub threads: Vec<ThreadLink>,
    /// The messages each event is tied to, where the platform can link to them.
    pub links: EventLinks,
    /// The service's criteria as the configuration holds them now, to call out changes made since
    /// they were locked. `None` when the service is no longer configured.
    pub criteria_now: Option<Vec<Criterion>>,
}

/// `rolled back, recovery verified`, `promoted`, …, with `(drill)` for drills.
pub fn outcome(d: &Deploy) -> String {
    let words = match d.state {
        State::Canary => "still in canary",
        State::Breached => "breached, waiting for a decision",
        State::RollingBack => "rolling back",
        State::RolledBack => "rolled back, recovery not yet verified",
        State::RollbackVerified => "rolled back, recovery verified",
        State::RollbackFailed => "rollback failed",
        State::Promoted => "promoted",
        State::Failed => "deploy failed",
    };
    words.to_string()
}

/// One row of the phase table.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRow {
    pub name: &'static str,
    pub what: &'static str,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub secs: Option<f64>,
}

/// Detect, decide, execute, verify and total, with the moments each ran between.
pub fn phase_rows(m: &Milestones) -> Vec<PhaseRow> {
    let p = m.phases();
    let decide_from = m.detected.or(m.started);
    let execute_from = m.decided.or(m.detected).or(m.started);
    vec![
        PhaseRow {
            name: "Detect",
            what: "start → breach or first rollback vote",
            start_ms: m.started,
            end_ms: m.detected,
            secs: p.detect_s,
        },
        PhaseRow {
            name: "Decide",
            what: "→ decision",
            start_ms: m.decided.and(decide_from),
            end_ms: m.decided,
            secs: p.decide_s,
        },
        PhaseRow {
            name: "Execute",
            what: "decision → rollback carried out",
            start_ms: m.executed.and(execute_from),
            end_ms: m.executed,
            secs: p.execute_s,
        },
        PhaseRow {
            name: "Verify",
            what: "rollback → recovery verified",
            start_ms: m.verified.and(m.executed),
            end_ms: m.verified,
            secs: p.verify_s,
        },
        PhaseRow {
            name: "Total",
            what: "start → last milestone",
            start_ms: m.started,
            end_ms: m.last(),
            secs: p.total_s,
        },
    ]
}

/// The decide phase as it went, when it escalated: `reminded at 5m, paged (pagerduty) at 10m,
/// decided by slack:U01ALICE at 12m 40s`, each counted from the detection.
pub fn decide_story(m: &Milestones, events: &[Event]) -> Option<String> {
    let from = m.detected.or(m.started)?;
    let since = |at: i64| duration((at - from).max(0) as f64 / 1000.0);
    let mut parts = Vec::new();
    let mut escalated = false;
    for e in events.iter().filter(|e| e.at_ms >= from) {
        match &e.data {
            EventData::EscalationReminded { .. } => {
                escalated = true;
                parts.push(format!("reminded at {}", since(e.at_ms)));
            }
            EventData::Paged { providers, .. } => {
                escalated = true;
                parts.push(format!(
                    "paged ({}) at {}",
                    providers.join(", "),
                    since(e.at_ms)
                ));
            }
            EventData::Decision { decided_by, .. } => {
                parts.push(format!(
                    "decided by {} at {}",
                    decided_by.join(", "),
                    since(e.at_ms)
                ));
                break;
            }
            _ => {}
        }
    }
    escalated.then(|| parts.join(", "))
}

/// When each dry-run criterion would have breached: `(criterion, at_ms)`.
pub fn would_have_breached(events: &[Event]) -> Vec<(&str, i64)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::WouldHaveBreached { criterion, .. } => Some((criterion.as_str(), e.at_ms)),
            _ => None,
        })
        .collect()
}

/// A criterion's name as the criteria tables show it: dry-run ones marked.
pub fn criterion_label(c: &Criterion) -> String {
    if c.dry_run {
        format!("{} (dry run)", c.name)
    } else {
        c.name.clone()
    }
}

/// Everything that judges the criterion is the same (its unit and link only show it).
fn same_bounds(a: &Criterion, b: &Criterion) -> bool {
    let judged = |c: &Criterion| Criterion {
        unit: None,
        link: None,
        ..c.clone()
    };
    judged(a) == judged(b)
}

/// `≤ 0.01 (failure limit 3)`, `… (failure limit 3, dry run)`
fn agreed(c: &Criterion) -> String {
    format!(
        "{} (failure limit {}{})",
        c.bounds(),
        c.failure_limit,
        if c.dry_run { ", dry run" } else { "" }
    )
}

/// What differs between the locked criteria and the configuration now, one line each. Criteria
/// added by the deploy itself (not in the configuration) are not changes.
pub fn criteria_changes(d: &Deploy, now: &[Criterion]) -> Vec<String> {
    if d.info.is_drill() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for c in now {
        match d.policy.criterion(&c.name) {
            Some(locked) if !same_bounds(locked, c) => out.push(format!(
                "`{}`: locked as {}, configured now as {}",
                c.name,
                agreed(locked),
                agreed(c)
            )),
            Some(_) => {}
            None => out.push(format!(
                "`{}`: added to the configuration since the lock ({})",
                c.name,
                c.bounds()
            )),
        }
    }
    out
}

/// A decision as the postmortem tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    pub at_ms: i64,
    pub action: Choice,
    pub decided_by: Vec<String>,
    pub reason: String,
    pub quorum: u32,
}

pub fn decisions(d: &Deploy, events: &[Event]) -> Vec<DecisionRow> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Decision {
                action,
                decided_by,
                reason,
                ..
            } => Some(DecisionRow {
                at_ms: e.at_ms,
                action: *action,
                decided_by: decided_by.clone(),
                reason: reason.clone(),
                quorum: match action {
                    Choice::Rollback => d.policy.rollback_quorum,
                    Choice::Promote => d.policy.promote_quorum,
                },
            }),
            _ => None,
        })
        .collect()
}

/// A vote, counted or refused.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteRow {
    pub at_ms: i64,
    pub name: String,
    pub voter: String,
    pub choice: Choice,
    pub counted: bool,
    /// `authorized as group:sre, 1/2`, or why it was refused.
    pub detail: String,
    pub reason: Option<String>,
}

pub fn votes(events: &[Event]) -> Vec<VoteRow> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::VoteCast {
                voter,
                name,
                choice,
                reason,
                authorized_by,
                tally,
                quorum,
            } => Some(VoteRow {
                at_ms: e.at_ms,
                name: name.clone(),
                voter: voter.clone(),
                choice: *choice,
                counted: true,
                detail: format!("authorized as {authorized_by}, {tally}/{quorum}"),
                reason: reason.clone(),
            }),
            EventData::VoteDenied {
                voter,
                name,
                choice,
                why,
            } => Some(VoteRow {
                at_ms: e.at_ms,
                name: name.clone(),
                voter: voter.clone(),
                choice: *choice,
                counted: false,
                detail: why.clone(),
                reason: None,
            }),
            _ => None,
        })
        .collect()
}

/// A moment drawn on the charts: on every chart, or (the judging marks) only on the charts of
/// the criteria it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Breach,
    Decision,
    Rollback,
    Verified,
    Promoted,
    /// The end of a criterion's `initial_delay`: before it, checks neither passed nor failed.
    WarmedUp,
    /// A check with too little canary traffic to judge.
    Insufficient,
    /// A dry-run criterion reached its failure limit.
    WouldHaveBreached,
    /// A person's note, at the time it was said.
    Note,
}

impl MarkerKind {
    /// Drawn only on the charts of the criteria the marker names.
    pub fn per_criterion(self) -> bool {
        matches!(
            self,
            MarkerKind::WarmedUp | MarkerKind::Insufficient | MarkerKind::WouldHaveBreached
        )
    }
}

impl MarkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::Breach => "breach",
            MarkerKind::Decision => "decision",
            MarkerKind::Rollback => "rollback",
            MarkerKind::Verified => "verified",
            MarkerKind::Promoted => "promoted",
            MarkerKind::WarmedUp => "warmed-up",
            MarkerKind::Insufficient => "insufficient",
            MarkerKind::WouldHaveBreached => "would-have-breached",
            MarkerKind::Note => "note",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_ms: i64,
    pub kind: MarkerKind,
    pub label: String,
    /// For a breach: the criteria it named.
    pub criteria: Vec<String>,
}

/// Breach, decisions, rollback and its verification, promotion and people's notes, in time
/// order.
pub fn markers(events: &[Event]) -> Vec<Marker> {
    let mut all: Vec<Marker> = events
        .iter()
        .filter_map(|e| {
            let (kind, label, criteria) = match &e.data {
                EventData::BreachDetected { criteria, .. } => (
                    MarkerKind::Breach,
                    format!("breach: {}", criteria.join(", ")),
                    criteria.clone(),
                ),
                EventData::Decision {
                    action, decided_by, ..
                } => (
                    MarkerKind::Decision,
                    format!("decision: {} by {}", action.as_str(), decided_by.join(", ")),
                    vec![],
                ),
                EventData::RollbackSucceeded { .. } => {
                    (MarkerKind::Rollback, "rolled back".to_string(), vec![])
                }
                EventData::RollbackVerified { .. } => (
                    MarkerKind::Verified,
                    "recovery verified".to_string(),
                    vec![],
                ),
                EventData::Promoted { .. } => {
                    (MarkerKind::Promoted, "promoted".to_string(), vec![])
                }
                EventData::WarmingUp {
                    criterion,
                    until_ms,
                    ..
                } => {
                    return Some(Marker {
                        at_ms: *until_ms,
                        kind: MarkerKind::WarmedUp,
                        label: format!(
                            "{criterion}: warm-up ends; checks before it neither pass nor fail"
                        ),
                        criteria: vec![criterion.clone()],
                    });
                }
                EventData::Insufficient {
                    criterion,
                    requests,
                    min_requests,
                    ..
                } => (
                    MarkerKind::Insufficient,
                    format!(
                        "{criterion}: too little canary traffic ({} requests, {} needed)",
                        fmt_num(*requests),
                        fmt_num(*min_requests)
                    ),
                    vec![criterion.clone()],
                ),
                EventData::WouldHaveBreached { criterion, .. } => (
                    MarkerKind::WouldHaveBreached,
                    format!("{criterion} would have breached (dry run)"),
                    vec![criterion.clone()],
                ),
                _ => return None,
            };
            Some(Marker {
                at_ms: e.at_ms,
                kind,
                label,
                criteria,
            })
        })
        .collect();
    all.extend(super::notes::markers(events));
    all.sort_by_key(|m| m.at_ms);
    all
}

/// `service version → environment` with `DRILL` in front for drills.
pub fn title(d: &Deploy) -> String {
    let i = &d.info;
    format!(
        "{}{} {} → {}",
        if i.is_drill() { "DRILL: " } else { "" },
        i.service,
        i.version,
        i.environment
    )
}

/// Text from outside (names, reasons, summaries with outside text in them) as a table cell or a
/// line: every character Markdown could read as markup escaped, so it never becomes a link, an
/// image or a tag in a Markdown viewer.
fn cell(s: &str) -> String {
    super::notes::markdown_text(&s.replace('\n', " "))
}

/// A value inside a code span or a link canarybot made: only what would end the cell.
fn raw_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ").replace('`', "'")
}

/// `threshold`, or the statistical test in short.
fn judge_cell(c: &Criterion) -> String {
    match c.judge {
        crate::domain::criteria::Judge::Threshold => "threshold".to_string(),
        _ => format!("{}: {}", c.judge.as_str(), c.bounds()),
    }
}

fn opt_bound(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "—".into())
}

fn at(ms: Option<i64>) -> String {
    ms.map(timestamp).unwrap_or_else(|| "—".into())
}

/// How an event's message links read: the platform (`Slack`, `Discord`), numbered from the
/// second when one event has several messages on a platform (`Slack 2`).
pub fn link_labels(links: &[MessageLink]) -> Vec<(String, &str)> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    links
        .iter()
        .map(|l| {
            let n = seen.entry(l.platform.as_str()).or_default();
            *n += 1;
            let mut name: String = l
                .platform
                .chars()
                .take(1)
                .flat_map(char::to_uppercase)
                .collect();
            name.extend(l.platform.chars().skip(1));
            if *n > 1 {
                name = format!("{name} {n}");
            }
            (name, l.url.as_str())
        })
        .collect()
}

/// The postmortem in Markdown.
pub fn to_markdown(pm: &Postmortem) -> String {
    let d = &pm.deploy;
    let i = &d.info;
    let p = &d.policy;
    let mut md = format!("# Postmortem: {}\n\n", cell(&title(d)));
    if i.is_drill() {
        md.push_str("> 🧯 **DRILL.** A rehearsal with a synthetic breach, not a real deploy.\n\n");
    }

    md.push_str("## Summary\n\n| | |\n|---|---|\n");
    md.push_str(&format!("| Service | {} |\n", cell(&i.service)));
    md.push_str(&format!("| Version | {} |\n", cell(&i.version)));
    md.push_str(&format!("| Environment | {} |\n", cell(&i.environment)));
    md.push_str(&format!(
        "| Deployer | {} |\n",
        cell(i.actor.as_deref().unwrap_or("unknown"))
    ));
    md.push_str(&format!(
        "| Outcome | {} (`{}`) |\n",
        outcome(d),
        d.state.as_str()
    ));
    md.push_str(&format!("| Started | {} |\n", timestamp(d.started_at_ms)));
    md.push_str(&format!("| Deploy id | `{}` |\n", raw_cell(&i.id)));
    if let Some(sha) = &i.sha {
        md.push_str(&format!("| SHA | `{}` |\n", raw_cell(sha)));
    }
    if let Some(desc) = &i.description {
        md.push_str(&format!("| Change | {} |\n", cell(desc)));
    }
    if let Some(url) = &i.url {
        md.push_str(&format!("| Deploy link | {} |\n", cell(url)));
    }
    for t in &pm.threads {
        md.push_str(&format!(
            "| {} thread | [{}]({}) |\n",
            cell(&t.platform),
            raw_cell(&t.url),
            t.url
        ));
    }
    if let Some(url) = &i.page_url {
        md.push_str(&format!("| Web page | [{url}]({url}) |\n"));
    }

    md.push_str("\n## Phases\n\n| Phase | From | To | Duration |\n|---|---|---|---|\n");
    for r in phase_rows(&d.milestones) {
        let name = if r.name == "Total" {
            "**Total**".to_string()
        } else {
            format!("{} ({})", r.name, r.what)
        };
        md.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            at(r.start_ms),
            if r.end_ms.is_some() {
                at(r.end_ms)
            } else {
                "not reached".into()
            },
            r.secs.map(duration).unwrap_or_else(|| "—".into())
        ));
    }
    if let Some(story) = decide_story(&d.milestones, &pm.events) {
        md.push_str(&format!("\nDecide: {story}.\n"));
    }

    md.push_str(&format!(
        "\n## Criteria as agreed before the deploy\n\nLocked at {} with hash `{}`.\n\n",
        timestamp(d.started_at_ms),
        d.policy_hash
    ));
    md.push_str("| Criterion | max | min | max_ratio | max_delta | Failure limit | Unit | Judge |\n|---|---|---|---|---|---|---|---|\n");
    for c in &p.criteria {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&criterion_label(c)),
            opt_bound(c.max),
            opt_bound(c.min),
            opt_bound(c.max_ratio),
            opt_bound(c.max_delta),
            c.failure_limit,
            cell(c.unit.as_deref().unwrap_or("")),
            raw_cell(&judge_cell(c))
        ));
    }
    // What each criterion's last check found, and why: the numbers behind the verdicts.
    let found: Vec<String> = p
        .criteria
        .iter()
        .filter_map(|c| {
            let st = d.criteria.get(&c.name)?;
            let verdict = st.last?;
            let why = if st.why.is_empty() {
                String::new()
            } else {
                format!(": {}", st.why.join("; "))
            };
            Some(format!(
                "- {} — {}{}\n",
                cell(&criterion_label(c)),
                verdict.as_str(),
                raw_cell(&why)
            ))
        })
        .collect();
    if !found.is_empty() {
        md.push_str("\nThe last recorded check of each criterion, and why:\n\n");
        md.extend(found);
    }
    if let Some(normals) = &d.normal {
        md.push_str(&format!(
            "\n{} ({}):\n\n",
            super::normal::before_deploy_heading(normals),
            super::normal::range_meaning(normals.days)
        ));
        for (name, words) in super::normal::lines(&p.criteria, normals) {
            md.push_str(&format!("- {}\n", cell(&format!("{name} — {words}"))));
        }
    }
    for (criterion, at_ms) in would_have_breached(&pm.events) {
        md.push_str(&format!(
            "\nDry run: {} would have breached at {}; nothing was done.\n",
            cell(criterion),
            timestamp(at_ms)
        ));
    }
    md.push_str(&format!(
        "\nDeciders: {}. Rollback quorum {}, promote quorum {}. On breach: {}. Canary window {}. Recovery verified by {} consecutive passing checks.\n",
        p.deciders.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
        p.rollback_quorum,
        p.promote_quorum,
        crate::present::words::on_breach(p.on_breach),
        duration(p.canary_window_s as f64),
        p.verify_checks
    ));
    match &pm.criteria_now {
        Some(now) => {
            let changes = criteria_changes(d, now);
            if changes.is_empty() {
                md.push_str("\nThe configuration still holds these criteria: nothing changed after the lock.\n");
            } else {
                md.push_str("\n**⚠️ Changed after the lock.** The configuration no longer matches what this deploy was judged by; the locked criteria above are the ones that applied:\n\n");
                for c in changes {
                    md.push_str(&format!("- {c}\n"));
                }
            }
        }
        None if !i.is_drill() => md.push_str(&format!(
            "\nService {} is no longer configured; the locked criteria above are the ones that applied.\n",
            cell(&i.service)
        )),
        None => {}
    }

    md.push_str("\n## Decision\n\n");
    let decided = decisions(d, &pm.events);
    if decided.is_empty() {
        md.push_str("No decision was taken.\n");
    }
    for x in &decided {
        md.push_str(&format!(
            "- **{}** at {} by {} (quorum {}): {}\n",
            x.action.as_str(),
            timestamp(x.at_ms),
            cell(&x.decided_by.join(", ")),
            x.quorum,
            cell(&x.reason)
        ));
    }

    if let Some(w) = super::watch::report(d, &pm.events) {
        md.push_str("\n## Watch after promotion\n\n");
        md.push_str(&format!(
            "- **Period:** {}\n- **Checks:** {} (criteria: {}; {} failing check{} recorded)\n",
            super::notes::markdown_text(&w.period),
            super::notes::markdown_text(&w.checks),
            super::notes::markdown_text(&super::watch::watched(d)),
            w.failed_checks,
            if w.failed_checks == 1 { "" } else { "s" }
        ));
        if w.drifts.is_empty() {
            md.push_str("- **Drift:** none\n");
        }
        for drift in &w.drifts {
            md.push_str(&format!(
                "- **Drift:** {}\n",
                super::notes::markdown_text(drift)
            ));
        }
    }

    md.push_str("\n## Votes\n\n");
    let all_votes = votes(&pm.events);
    if all_votes.is_empty() {
        md.push_str("No votes.\n");
    } else {
        md.push_str(
            "| Time | Who | Vote | Counted | Detail | Reason |\n|---|---|---|---|---|---|\n",
        );
        for v in &all_votes {
            md.push_str(&format!(
                "| {} | {} (`{}`) | {} | {} | {} | {} |\n",
                timestamp(v.at_ms),
                cell(&v.name),
                cell(&v.voter),
                v.choice.as_str(),
                if v.counted { "yes" } else { "**refused**" },
                cell(&v.detail),
                cell(v.reason.as_deref().unwrap_or(""))
            ));
        }
    }

    md.push_str(&super::notes::markdown_section(&pm.events));

    md.push_str("\n## Timeline\n\n| # | Time (UTC) | Actor | Source | Event | What happened | Message |\n|---|---|---|---|---|---|---|\n");
    for e in super::notes::timeline_order(&pm.events) {
        let links = pm.links.get(&e.seq).map(Vec::as_slice).unwrap_or_default();
        let mut summary = super::notes::markdown_cell(e).unwrap_or_else(|| cell(&e.summary));
        // The thread, when the start's own message cannot be linked to.
        if matches!(e.data, EventData::DeployStarted { .. }) && links.is_empty() {
            for t in &pm.threads {
                summary.push_str(&format!(" ([{} thread]({}))", t.platform, t.url));
            }
        }
        let messages: Vec<String> = link_labels(links)
            .into_iter()
            .map(|(label, url)| format!("[{label}]({})", raw_cell(url)))
            .collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            e.seq,
            timestamp(super::notes::shown_at_ms(e)),
            cell(&e.actor),
            cell(&e.source),
            e.data.kind(),
            summary,
            messages.join(" · ")
        ));
    }
    if !d.state.is_final() {
        md.push_str(&format!(
            "\n_The deploy is still {} ({}); this postmortem is not final._\n",
            d.state.as_str(),
            state_words(d.state)
        ));
    }
    md
}

/// A deploy id as one URL path segment: anything but `A-Z a-z 0-9 . _ ~ -` percent-encoded.
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
