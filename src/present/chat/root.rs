//! The thread root (criteria, live status, outcome) and the closing summary. Each chat adapter
//! lays these out its own way.

use crate::domain::criteria::{DEFAULT_MIN_POINTS, Judge, Verdict};
use crate::domain::decision::Choice;
use crate::domain::deploy::{Deploy, OnBreach, State};
use crate::present::words::{duration, state_words, values, with_unit};
use serde::{Deserialize, Serialize};

/// One row of the root's criteria table: the agreement and the live status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionRow {
    pub name: String,
    pub bounds: String,
    pub failure_limit: u32,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    pub verdict: Option<Verdict>,
    pub failures: u32,
    /// This criterion is one the breach named.
    #[serde(default)]
    pub breached: bool,
    #[serde(default)]
    pub unit: Option<String>,
    /// A side-by-side view of canary and baseline.
    #[serde(default)]
    pub link: Option<String>,
    /// The canary's traffic at the latest check, and how much is enough to judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_requests: Option<f64>,
    /// Evaluated and shown, never breaching (`dry_run`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// `requests`/`min_requests` count points over the window (`judge = "mann-whitney"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub points: bool,
    /// A statistical judge's latest test in words: `p = 0.003, canary median 412ms vs 250ms
    /// (+65 %) …` (a threshold's values and bound are the table's own columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// What was normal at this hour before the deploy (`240–280ms`, or `unknown (why)`), once
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<String>,
}

impl CriterionRow {
    /// The verdict column: `✅ pass`, `⚠️ failing 2/3`, `❌ breached`, `❔ no data`, `⏳ waiting`.
    pub fn verdict_cell(&self) -> String {
        let cell = self.plain_verdict_cell();
        if self.dry_run {
            format!("🧪 {cell} (dry run)")
        } else {
            cell
        }
    }

    fn plain_verdict_cell(&self) -> String {
        match self.verdict {
            None => "⏳ waiting".to_string(),
            Some(Verdict::Pass) => "✅ pass".to_string(),
            Some(Verdict::NoData) => "❔ no data".to_string(),
            Some(Verdict::WarmingUp) => "🌡️ warming up".to_string(),
            Some(Verdict::Insufficient) => self.too_little(),
            Some(Verdict::Fail) if self.breached => "❌ breached".to_string(),
            Some(Verdict::Fail) => format!("⚠️ failing {}/{}", self.failures, self.failure_limit),
        }
    }

    /// `📉 too little traffic (37/200)`, `📉 too few points (23/50)`
    fn too_little(&self) -> String {
        if self.points {
            return match (self.requests, self.min_requests) {
                (Some(n), Some(min)) => format!(
                    "📉 too few points ({}/{})",
                    crate::domain::criteria::fmt_num(n),
                    crate::domain::criteria::fmt_num(min)
                ),
                _ => "📉 too few points".to_string(),
            };
        }
        match (self.requests, self.min_requests) {
            (Some(n), Some(min)) => format!(
                "📉 too little traffic ({}/{})",
                crate::domain::criteria::fmt_num(n),
                crate::domain::criteria::fmt_num(min)
            ),
            _ => "📉 too little traffic".to_string(),
        }
    }

    /// `normal at this hour: 240–280ms`, once the normal before the deploy is recorded.
    pub fn normal_line(&self) -> Option<String> {
        self.normal
            .as_ref()
            .map(|n| format!("normal at this hour: {n}"))
    }

    /// A value with this criterion's unit: `250ms`, `2%`, `120 req/s`.
    pub fn value(&self, v: Option<f64>) -> String {
        with_unit(v, self.unit.as_deref())
    }

    /// `✅ passing`, `❌ failing 2/3`, `❔ no data`, `⏳ waiting for data`
    pub fn status(&self) -> String {
        match self.verdict {
            None => "⏳ waiting for data".to_string(),
            Some(Verdict::Pass) => "✅ passing".to_string(),
            Some(Verdict::NoData) => "❔ no data".to_string(),
            Some(Verdict::WarmingUp) => "🌡️ warming up".to_string(),
            Some(Verdict::Insufficient) => self.too_little(),
            Some(Verdict::Fail) => format!("❌ failing {}/{}", self.failures, self.failure_limit),
        }
    }
}

/// The thread root, platform-neutral: each chat adapter lays it out its own way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootView {
    pub deploy_id: String,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub state: State,
    pub actor: Option<String>,
    pub sha: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub criteria_hash: String,
    pub criteria: Vec<CriterionRow>,
    pub deciders: Vec<String>,
    pub rollback_quorum: u32,
    pub promote_quorum: u32,
    pub on_breach: OnBreach,
    pub canary_window_s: u64,
    /// Buttons while a decision is open.
    pub buttons: Vec<Choice>,
    /// Once decided, what was decided and what came of it.
    pub outcome: Option<String>,
    /// A rollback drill, not a real deploy.
    #[serde(default)]
    pub drill: bool,
    /// The deploy's web page.
    #[serde(default)]
    pub page_url: Option<String>,
}

impl RootView {
    /// `Canary · checkout v2.4.1 → production`
    pub fn headline(&self) -> String {
        let v = if self.version.starts_with(|c: char| c.is_ascii_digit()) {
            format!("v{}", self.version)
        } else {
            self.version.clone()
        };
        let kind = if self.drill {
            "🧯 DRILL · Canary"
        } else {
            "Canary"
        };
        format!("{kind} · {} {v} → {}", self.service, self.environment)
    }

    pub fn status_line(&self) -> &'static str {
        state_words(self.state)
    }

    /// Who deployed, the sha and the link, on one line.
    pub fn byline(&self) -> Option<String> {
        let mut who = Vec::new();
        if let Some(a) = &self.actor {
            who.push(format!("by {a}"));
        }
        if let Some(sha) = &self.sha {
            who.push(format!("sha {}", &sha[..sha.len().min(12)]));
        }
        if let Some(url) = &self.url {
            who.push(url.clone());
        }
        (!who.is_empty()).then(|| who.join(" · "))
    }

    /// The live status as a monospace table.
    pub fn status_table(&self) -> String {
        status_table(self)
    }

    pub fn policy_line(&self) -> String {
        format!(
            "rollback quorum {} · promote quorum {} · on breach: {} · window {}",
            self.rollback_quorum,
            self.promote_quorum,
            match self.on_breach {
                OnBreach::Ask => "ask",
                OnBreach::Rollback => "roll back at once",
            },
            duration(self.canary_window_s as f64)
        )
    }

    /// Plain text: the console's rendering and every platform's notification fallback.
    pub fn text(&self) -> String {
        let mut text = format!("*{}* — {}\n", self.headline(), self.status_line());
        if let Some(desc) = &self.description {
            text.push_str(&format!("{desc}\n"));
        }
        if let Some(b) = self.byline() {
            text.push_str(&format!("{b}\n"));
        }
        text.push_str(&format!(
            "Criteria (locked, hash {}):\n",
            self.criteria_hash
        ));
        for c in &self.criteria {
            text.push_str(&format!(
                "• {}: canary {}; breach after {} failing check{} — {} ({})\n",
                c.name,
                c.bounds,
                c.failure_limit,
                if c.failure_limit == 1 { "" } else { "s" },
                c.status(),
                values(c.canary, c.baseline)
            ));
            if let Some(normal) = c.normal_line() {
                text.push_str(&format!("  {normal}\n"));
            }
            if let Some(why) = &c.why {
                text.push_str(&format!("  {why}\n"));
            }
        }
        for c in self.criteria.iter().filter(|c| c.link.is_some()) {
            text.push_str(&format!(
                "  {} side by side: {}\n",
                c.name,
                c.link.clone().unwrap_or_default()
            ));
        }
        text.push_str(&format!(
            "Deciders: {} · {}",
            self.deciders.join(", "),
            self.policy_line()
        ));
        if let Some(o) = &self.outcome {
            text.push_str(&format!("\n{o}"));
        }
        text
    }
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n >= width {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(width - n))
    }
}

/// Rows as a monospace table (Slack has no table block for bots).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    format!("```\n{}\n```", out.join("\n"))
}

/// Canary beside baseline, per criterion, with the verdict and the failure count.
pub fn status_table(root: &RootView) -> String {
    let live: Vec<Vec<String>> = root
        .criteria
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.value(c.baseline),
                c.value(c.canary),
                c.bounds.clone(),
                c.verdict_cell(),
            ]
        })
        .collect();
    let table = table(
        &["criterion", "baseline", "canary", "bound", "verdict"],
        &live,
    );
    // A statistical judge's test, under the table: the numbers behind its verdict.
    let why: Vec<String> = root
        .criteria
        .iter()
        .filter_map(|c| c.why.as_ref().map(|w| format!("{}: {w}", c.name)))
        .collect();
    if why.is_empty() {
        table
    } else {
        format!("{table}\n{}", why.join("\n"))
    }
}

/// The root as it stands for this deploy: the deploy's info and policy, and its
/// [`root_facts`](crate::domain::deploy::Deploy::root_facts) — a change in those and only those
/// changes the root.
pub fn root_view(d: &Deploy) -> RootView {
    let p = &d.policy;
    let criteria = p
        .criteria
        .iter()
        .map(|c| {
            let st = d.criteria.get(&c.name);
            // Too few points over the window counts points against `min_points`.
            let points = st.is_some_and(|s| s.short_of_points);
            CriterionRow {
                name: c.name.clone(),
                bounds: c.bounds(),
                failure_limit: c.failure_limit,
                canary: st.and_then(|s| s.canary),
                baseline: st.and_then(|s| s.baseline),
                verdict: st.and_then(|s| s.last),
                failures: st.map(|s| s.consecutive_failures).unwrap_or(0),
                breached: d.breached_criteria.contains(&c.name),
                unit: c.unit.clone(),
                link: c.link.clone(),
                dry_run: c.dry_run,
                requests: st.and_then(|s| s.requests),
                min_requests: if points {
                    Some(f64::from(c.min_points.unwrap_or(DEFAULT_MIN_POINTS)))
                } else {
                    c.min_requests
                },
                points,
                why: st
                    .filter(|s| c.judge != Judge::Threshold && !s.why.is_empty())
                    .map(|s| s.why.join("; ")),
                normal: d
                    .normal
                    .as_ref()
                    .and_then(|n| crate::present::normal::root_normal(c, n)),
            }
        })
        .collect();
    let buttons = match d.state {
        State::Canary | State::Breached => vec![Choice::Rollback, Choice::Promote],
        State::RollbackFailed => vec![Choice::Rollback],
        _ => vec![],
    };
    let decided = d.current_decision.as_ref().map(|x| {
        format!(
            "Decision: {} by {} ({})",
            x.action.as_str(),
            x.decided_by.join(", "),
            x.reason
        )
    });
    let outcome = match d.state {
        State::Canary | State::Breached => None,
        _ => Some(match (decided, d.rollback_held()) {
            (Some(dec), Some(held)) => format!(
                "{dec} → held: it would also undo {} (deploy {}); waiting for a decider to confirm",
                held.newer_version, held.newer_id
            ),
            (Some(dec), None) => format!("{dec} → {}", state_words(d.state)),
            (None, _) => state_words(d.state).to_string(),
        }),
    };
    RootView {
        deploy_id: d.info.id.clone(),
        service: d.info.service.clone(),
        version: d.info.version.clone(),
        environment: d.info.environment.clone(),
        state: d.state,
        actor: d.info.actor.clone(),
        sha: d.info.sha.clone(),
        description: d.info.description.clone(),
        url: d.info.url.clone(),
        criteria_hash: d.policy_hash[..d.policy_hash.len().min(12)].to_string(),
        criteria,
        deciders: p.deciders.clone(),
        rollback_quorum: p.rollback_quorum,
        promote_quorum: p.promote_quorum,
        on_breach: p.on_breach,
        canary_window_s: p.canary_window_s,
        buttons,
        outcome,
        drill: d.info.is_drill(),
        page_url: d.info.page_url.clone(),
    }
}

/// Posted in the thread when a deploy reaches a final state: the outcome, the phases, the page.
pub fn closing_summary(d: &Deploy) -> String {
    let p = d.milestones.phases();
    let f = |v: Option<f64>| v.map(duration).unwrap_or_else(|| "—".into());
    let what = if d.info.is_drill() {
        "🏁 Drill finished"
    } else {
        "🏁 Closed"
    };
    let mut text = format!(
        "{what}: {}.\nDetect {} · Decide {} · Execute {} · Verify {} · Total {}",
        state_words(d.state),
        f(p.detect_s),
        f(p.decide_s),
        f(p.execute_s),
        f(p.verify_s),
        f(p.total_s)
    );
    if let Some(url) = &d.info.page_url {
        text.push_str(&format!("\nPostmortem: {url}"));
    }
    text
}
