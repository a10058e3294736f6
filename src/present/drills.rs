//! The history of drills per service (median, best, latest, and the trend against the previous
//! drill), as chat, the terminal and the API show it.

use super::words::{duration, rfc3339, timestamp};
use crate::domain::deploy::State;
use crate::domain::timeline::Phases;
use serde::Serialize;

/// One finished or running drill, as the history lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillRun {
    pub id: String,
    pub started_at_ms: i64,
    pub state: State,
    pub phases: Phases,
    /// Whether the drill's escalation paged someone before the decision.
    pub paged: bool,
}

/// Reads one phase's seconds.
pub type PhaseOf = fn(&Phases) -> Option<f64>;

/// The phase names, in order, with their accessor.
pub const PHASES: [(&str, PhaseOf); 5] = [
    ("detect", |p| p.detect_s),
    ("decide", |p| p.decide_s),
    ("execute", |p| p.execute_s),
    ("verify", |p| p.verify_s),
    ("total", |p| p.total_s),
];

/// How one phase of the latest drill compares with the drill before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseTrend {
    pub phase: String,
    pub latest_s: f64,
    pub previous_s: f64,
    /// Positive: slower than last time.
    pub change_s: f64,
    /// `decide: 4m 10s, 1m 05s slower than last time`
    pub text: String,
}

/// A service's drill history: every drill, oldest first, and the figures people compare.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceDrills {
    pub service: String,
    pub drills: Vec<DrillRun>,
    /// Drills that reached a verified rollback: the ones the figures are made of.
    pub completed: usize,
    pub median: Phases,
    pub best: Phases,
    pub latest: Option<DrillRun>,
    pub trend: Vec<PhaseTrend>,
    /// Median time to decision of the completed drills that paged, and of those that did not.
    pub decide_paged_s: Option<f64>,
    pub decide_unpaged_s: Option<f64>,
}

fn stat(values: &[f64], pick: impl Fn(&[f64]) -> f64) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        Some(pick(&v))
    }
}

fn median(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn per_phase(runs: &[&DrillRun], pick: impl Fn(&[f64]) -> f64 + Copy) -> Phases {
    let of = |f: PhaseOf| {
        let values: Vec<f64> = runs.iter().filter_map(|r| f(&r.phases)).collect();
        stat(&values, pick)
    };
    Phases {
        detect_s: of(PHASES[0].1),
        decide_s: of(PHASES[1].1),
        execute_s: of(PHASES[2].1),
        verify_s: of(PHASES[3].1),
        total_s: of(PHASES[4].1),
    }
}

/// `1m 05s slower than last time`, `12.0s faster than last time`, `same as last time`
pub fn change_words(change_s: f64) -> String {
    if change_s.abs() < 0.5 {
        "same as last time".to_string()
    } else if change_s > 0.0 {
        format!("{} slower than last time", duration(change_s))
    } else {
        format!("{} faster than last time", duration(-change_s))
    }
}

/// The history of one service's drills; `runs` in any order.
pub fn history(service: &str, mut runs: Vec<DrillRun>) -> ServiceDrills {
    runs.sort_by_key(|r| (r.started_at_ms, r.id.clone()));
    let completed: Vec<&DrillRun> = runs
        .iter()
        .filter(|r| r.state == State::RollbackVerified)
        .collect();
    let latest = completed.last().map(|r| (*r).clone());
    let previous = completed.len().checked_sub(2).map(|i| completed[i]);
    let mut trend = Vec::new();
    if let (Some(l), Some(p)) = (&latest, previous) {
        for (name, f) in PHASES {
            if let (Some(a), Some(b)) = (f(&l.phases), f(&p.phases)) {
                trend.push(PhaseTrend {
                    phase: name.to_string(),
                    latest_s: a,
                    previous_s: b,
                    change_s: a - b,
                    text: format!("{name}: {}, {}", duration(a), change_words(a - b)),
                });
            }
        }
    }
    let decide_median = |paged: bool| {
        let v: Vec<f64> = completed
            .iter()
            .filter(|r| r.paged == paged)
            .filter_map(|r| r.phases.decide_s)
            .collect();
        stat(&v, median)
    };
    ServiceDrills {
        service: service.to_string(),
        decide_paged_s: decide_median(true),
        decide_unpaged_s: decide_median(false),
        completed: completed.len(),
        median: per_phase(&completed, median),
        best: per_phase(&completed, |v| v[0]),
        latest,
        trend,
        drills: runs,
    }
}

/// `detect 30.0s · decide 1m 05s · execute 2.0s · verify 8.0s · total 1m 45s`
pub fn phases_line(p: &Phases) -> String {
    PHASES
        .iter()
        .map(|(name, f)| {
            format!(
                "{name} {}",
                f(p).map(duration).unwrap_or_else(|| "—".to_string())
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The drill history as chat and the terminal show it.
pub fn to_text(services: &[ServiceDrills]) -> String {
    if services.is_empty() {
        return "No drills yet. Start one with `/canary drill <service>` or `canarybot drill --service <service>`.".to_string();
    }
    let mut out = String::new();
    for s in services {
        out.push_str(&format!(
            "🧯 {} — {} drill{}, {} completed\n",
            s.service,
            s.drills.len(),
            if s.drills.len() == 1 { "" } else { "s" },
            s.completed
        ));
        match &s.latest {
            Some(l) => {
                out.push_str(&format!(
                    "  latest  {} ({}): {}\n",
                    timestamp(l.started_at_ms),
                    l.id,
                    phases_line(&l.phases)
                ));
                out.push_str(&format!("  median  {}\n", phases_line(&s.median)));
                out.push_str(&format!("  best    {}\n", phases_line(&s.best)));
                if let Some(paged) = s.decide_paged_s {
                    let unpaged = s
                        .decide_unpaged_s
                        .map(duration)
                        .unwrap_or_else(|| "—".to_string());
                    out.push_str(&format!(
                        "  decide  median {} with paging, {unpaged} without\n",
                        duration(paged)
                    ));
                }
                if s.trend.is_empty() {
                    out.push_str("  trend   (needs two completed drills)\n");
                }
                for t in &s.trend {
                    out.push_str(&format!("  trend   {}\n", t.text));
                }
            }
            None => out.push_str("  no drill has reached a verified rollback yet\n"),
        }
        for r in s
            .drills
            .iter()
            .rev()
            .filter(|r| r.state != State::RollbackVerified)
        {
            out.push_str(&format!(
                "  open    {} ({}): {}\n",
                r.id,
                r.state.as_str(),
                phases_line(&r.phases)
            ));
        }
    }
    out
}

/// The drill history as the API returns it.
pub fn to_json(services: &[ServiceDrills]) -> serde_json::Value {
    let run = |r: &DrillRun| {
        serde_json::json!({
            "id": r.id,
            "started_at": rfc3339(r.started_at_ms),
            "state": r.state.as_str(),
            "phases": r.phases,
            "paged": r.paged,
        })
    };
    serde_json::json!({
        "services": services.iter().map(|s| serde_json::json!({
            "service": s.service,
            "drills": s.drills.iter().map(run).collect::<Vec<_>>(),
            "completed": s.completed,
            "median": s.median,
            "best": s.best,
            "latest": s.latest.as_ref().map(run),
            "trend": s.trend,
            "decide_median_s": {"paged": s.decide_paged_s, "not_paged": s.decide_unpaged_s},
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, at: i64, state: State, decide_s: f64) -> DrillRun {
        DrillRun {
            id: id.into(),
            started_at_ms: at,
            state,
            paged: false,
            phases: Phases {
                detect_s: Some(30.0),
                decide_s: Some(decide_s),
                execute_s: Some(12.0),
                verify_s: Some(20.0),
                total_s: Some(62.0 + decide_s),
            },
        }
    }

    #[test]
    fn time_to_decision_is_told_with_and_without_paging() {
        let paged = |id: &str, at: i64, decide_s: f64| DrillRun {
            paged: true,
            ..run(id, at, State::RollbackVerified, decide_s)
        };
        let h = history(
            "checkout",
            vec![
                run("a", 1_000, State::RollbackVerified, 300.0),
                paged("b", 2_000, 660.0),
                paged("c", 3_000, 700.0),
                run("d", 4_000, State::RollbackVerified, 100.0),
            ],
        );
        assert_eq!(h.decide_paged_s, Some(680.0));
        assert_eq!(h.decide_unpaged_s, Some(200.0));
        let text = to_text(std::slice::from_ref(&h));
        assert!(
            text.contains("decide  median 11m 20s with paging, 3m 20s without"),
            "{text}"
        );
        let json = to_json(&[h]);
        assert_eq!(json["services"][0]["decide_median_s"]["paged"], 680.0);
        assert_eq!(json["services"][0]["drills"][1]["paged"], true);
        // Without a paged drill, the line is not there.
        let h = history(
            "checkout",
            vec![run("a", 1_000, State::RollbackVerified, 300.0)],
        );
        assert!(!to_text(&[h]).contains("with paging"));
    }

    #[test]
    fn history_median_best_latest_and_trend() {
        let h = history(
            "checkout",
            vec![
                run("c", 3_000, State::RollbackVerified, 250.0),
                run("a", 1_000, State::RollbackVerified, 120.0),
                run("b", 2_000, State::RollbackVerified, 185.0),
                run("d", 4_000, State::Breached, 999.0),
            ],
        );
        assert_eq!(h.completed, 3);
        assert_eq!(h.drills.len(), 4);
        assert_eq!(h.latest.as_ref().map(|r| r.id.as_str()), Some("c"));
        assert_eq!(h.median.decide_s, Some(185.0));
        assert_eq!(h.best.decide_s, Some(120.0));
        let decide = h
            .trend
            .iter()
            .find(|t| t.phase == "decide")
            .expect("decide");
        assert_eq!(decide.change_s, 65.0);
        assert_eq!(decide.text, "decide: 4m 10s, 1m 05s slower than last time");
        let detect = h
            .trend
            .iter()
            .find(|t| t.phase == "detect")
            .expect("detect");
        assert_eq!(detect.text, "detect: 30.0s, same as last time");
        let text = to_text(&[h]);
        assert!(text.contains("checkout — 4 drills, 3 completed"), "{text}");
        assert!(text.contains("trend   decide: 4m 10s, 1m 05s slower than last time"));
        assert!(text.contains("open    d (breached)"), "{text}");
    }

    #[test]
    fn one_drill_has_no_trend_and_faster_reads_faster() {
        let h = history("x", vec![run("a", 1, State::RollbackVerified, 60.0)]);
        assert!(h.trend.is_empty());
        assert!(to_text(&[h]).contains("needs two completed drills"));
        assert_eq!(change_words(-12.0), "12.0s faster than last time");
        assert!(to_text(&[]).starts_with("No drills yet"));
    }
}
