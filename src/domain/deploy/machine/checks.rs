//! Checks of the criteria during the canary, and the breach they can call.

use super::{CriterionReport, Work};
use crate::domain::criteria::Verdict;
use crate::domain::decision::Choice;
use crate::domain::deploy::event::EventData;
use crate::domain::deploy::fold::DomainError;
use crate::domain::deploy::model::{BOT, OnBreach, Sample, State};
use crate::present::words;

impl Work {
    pub(super) fn check(&mut self, samples: Vec<Sample>) -> Result<(), DomainError> {
        if samples.is_empty() {
            return Err(DomainError::BadInput("samples: must not be empty".into()));
        }
        let known: Vec<&str> = self
            .d
            .policy
            .criteria
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let mut seen = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            if !known.contains(&s.criterion.as_str()) {
                return Err(DomainError::BadInput(format!(
                    "samples[{i}].criterion: unknown criterion `{}` (this deploy's criteria: {})",
                    s.criterion,
                    known.join(", ")
                )));
            }
            if seen.contains(&s.criterion.as_str()) {
                return Err(DomainError::BadInput(format!(
                    "samples[{i}].criterion: `{}` appears twice in one check",
                    s.criterion
                )));
            }
            seen.push(s.criterion.as_str());
        }
        if self.d.metrics_down {
            self.emit(
                BOT,
                "metrics readable again".into(),
                EventData::MetricsRestored {},
            );
            self.reply("✅ Metrics readable again.".into(), vec![], false);
        }
        match self.d.state {
            State::Canary | State::Breached => self.canary_check(&samples),
            State::RolledBack => self.verify_check(&samples),
            _ => {
                // Nothing to decide from it; report the verdicts only.
                for s in &samples {
                    if let Some(c) = self.d.policy.criterion(&s.criterion) {
                        let e = c.evaluate(s.canary, s.baseline);
                        let st = &self.d.criteria[&s.criterion];
                        self.out.reports.push(CriterionReport {
                            criterion: s.criterion.clone(),
                            verdict: e.verdict,
                            consecutive_failures: st.consecutive_failures,
                            failure_limit: c.failure_limit,
                            reasons: e.reasons,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn canary_check(&mut self, samples: &[Sample]) {
        let mut breaching = Vec::new();
        let mut no_data_breach = Vec::new();
        for s in samples {
            let Some(c) = self.d.policy.criterion(&s.criterion).cloned() else {
                continue;
            };
            let status = self.d.criteria[&c.name].clone();
            let mut ev = c.evaluate(s.canary, s.baseline);
            if let (Verdict::NoData, Some(why)) = (ev.verdict, &s.no_data_reason) {
                ev.reasons = vec![why.clone()];
            }
            match ev.verdict {
                Verdict::Fail => {
                    let consecutive = status.consecutive_failures + 1;
                    self.emit(
                        BOT,
                        format!(
                            "{} failing {consecutive}/{}: {}",
                            c.name,
                            c.failure_limit,
                            ev.reasons.join("; ")
                        ),
                        EventData::CheckFailed {
                            criterion: c.name.clone(),
                            canary: s.canary,
                            baseline: s.baseline,
                            reasons: ev.reasons.clone(),
                            consecutive,
                            failure_limit: c.failure_limit,
                        },
                    );
                    // The thread hears when a criterion starts failing and when it breaches;
                    // the counts in between show in the root's live status.
                    if consecutive == 1 && consecutive < c.failure_limit {
                        self.reply(
                            format!(
                                "⚠️ *{}* failing ({consecutive}/{}): {}",
                                c.name,
                                c.failure_limit,
                                ev.reasons.join("; ")
                            ),
                            vec![],
                            false,
                        );
                    }
                    if consecutive >= c.failure_limit {
                        breaching.push(c.name.clone());
                    }
                }
                Verdict::NoData => {
                    // Recorded when it starts and while it counts toward the no-data limit, so
                    // the fold knows the count; the thread hears only when it starts.
                    let consecutive = if status.last == Some(Verdict::NoData) {
                        status.consecutive_no_data.max(1) + 1
                    } else {
                        1
                    };
                    let limit = self.d.policy.no_data_limit;
                    let reason = ev.reasons.join("; ");
                    if consecutive == 1 || (limit > 0 && consecutive <= limit) {
                        self.emit(
                            BOT,
                            format!("{}: no data ({reason})", c.name),
                            EventData::NoData {
                                criterion: c.name.clone(),
                                reason: reason.clone(),
                                consecutive,
                            },
                        );
                    }
                    if consecutive == 1 {
                        self.reply(
                            format!(
                                "❔ *{}*: no data ({reason}) — not counted as a pass",
                                c.name
                            ),
                            vec![],
                            false,
                        );
                    }
                    if limit > 0 && consecutive == limit {
                        no_data_breach.push(c.name.clone());
                    }
                }
                Verdict::Pass => {
                    if matches!(status.last, Some(Verdict::Fail | Verdict::NoData)) {
                        let values = words::values(s.canary, s.baseline);
                        self.emit(
                            BOT,
                            format!("{} passing again ({values})", c.name),
                            EventData::Recovered {
                                criterion: c.name.clone(),
                                canary: s.canary,
                                baseline: s.baseline,
                            },
                        );
                        self.reply(
                            format!("✅ *{}* passing again ({values})", c.name),
                            vec![],
                            false,
                        );
                    } else if status.last.is_none() {
                        // The first pass is recorded so the fold knows every criterion has been
                        // seen passing (the canary window needs it); later plain passes are not.
                        let values = words::values(s.canary, s.baseline);
                        self.emit(
                            BOT,
                            format!("{} passing ({values})", c.name),
                            EventData::CheckPassed {
                                criterion: c.name.clone(),
                                canary: s.canary,
                                baseline: s.baseline,
                            },
                        );
                    }
                }
            }
            if let Some(st) = self.d.criteria.get_mut(&c.name) {
                // Latest values for the live status, also when no event records them.
                (st.canary, st.baseline) = (s.canary, s.baseline);
            }
            let st = &self.d.criteria[&c.name];
            self.out.reports.push(CriterionReport {
                criterion: c.name.clone(),
                verdict: ev.verdict,
                consecutive_failures: st.consecutive_failures,
                failure_limit: c.failure_limit,
                reasons: ev.reasons,
            });
        }
        if !breaching.is_empty() {
            self.breach(breaching, "reached the failure limit");
        }
        if !no_data_breach.is_empty() {
            let limit = self.d.policy.no_data_limit;
            self.breach(
                no_data_breach,
                &format!("had no data for {limit} checks in a row"),
            );
        }
    }

    pub(super) fn metrics_unavailable(&mut self, error: String) {
        if self.d.metrics_down || self.d.state.is_final() {
            return; // recorded once per outage
        }
        self.emit(
            BOT,
            format!("metrics unavailable: {error}"),
            EventData::MetricsUnavailable {
                error: error.clone(),
            },
        );
        self.reply(
            format!("⚠️ Cannot read the metrics: {error}. Retrying every check interval."),
            vec![],
            true,
        );
    }

    /// Declares a breach (once per deploy) and does what the policy says.
    pub(super) fn breach(&mut self, breaching: Vec<String>, why: &str) {
        if self.d.state != State::Canary {
            return;
        }
        self.emit(
            BOT,
            format!("BREACH: {} {why}", breaching.join(", ")),
            EventData::BreachDetected {
                criteria: breaching.clone(),
            },
        );
        match self.d.policy.on_breach {
            OnBreach::Ask => {
                let q = self.d.policy.rollback_quorum;
                self.call_deciders(
                    format!(
                        "🚨 *BREACH* on {} {}: {} {why}. Deciders: vote *Roll back* or *Proceed* ({q} rollback vote{} decide{}).",
                        self.d.info.service,
                        self.d.info.version,
                        breaching.join(", "),
                        if q == 1 { "" } else { "s" },
                        if q == 1 { "s" } else { "" },
                    ),
                    vec![Choice::Rollback, Choice::Promote],
                );
            }
            OnBreach::Rollback => {
                let reason = format!("breach: {}", breaching.join(", "));
                self.reply(
                    format!(
                        "🚨 *BREACH* on {} {}: {} {why}. Policy says roll back at once.",
                        self.d.info.service,
                        self.d.info.version,
                        breaching.join(", ")
                    ),
                    vec![],
                    true,
                );
                self.decide(Choice::Rollback, vec![BOT.to_string()], reason, BOT);
            }
        }
    }
}
