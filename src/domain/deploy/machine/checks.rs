//! Checks of the criteria during the canary, and the breach they can call.

use super::{CriterionReport, Work};
use crate::domain::criteria::{
    Criterion, DEFAULT_MIN_POINTS, Evaluation, Judge, TestResult, Verdict, fmt_num,
};
use crate::domain::decision::Choice;
use crate::domain::deploy::effect::Said;
use crate::domain::deploy::event::{BreachCause, EventData};
use crate::domain::deploy::fold::DomainError;
use crate::domain::deploy::model::{BOT, OnBreach, Sample, State};

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
            self.emit(BOT, EventData::MetricsRestored {});
            self.say(Said::MetricsRestored);
        }
        match self.d.state {
            State::Canary | State::Breached => self.canary_check(&samples),
            State::RolledBack => self.verify_check(&samples),
            _ => {
                // Nothing to decide from it; report the verdicts only.
                for s in &samples {
                    if let Some(c) = self.d.policy.criterion(&s.criterion) {
                        let e = judged(c, s);
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
            let mut ev = judged(&c, s);
            // A test over a window shows the medians it compared.
            let (canary, baseline) = match &ev.test {
                Some(TestResult::MannWhitney(t)) => {
                    (Some(t.canary_median), Some(t.baseline_median))
                }
                _ => (s.canary, s.baseline),
            };
            // Too few points over the window.
            let points_short = match (&ev.test, ev.verdict) {
                (Some(TestResult::MannWhitney(t)), Verdict::Insufficient) => Some(Shortfall {
                    count: t.canary_points.min(t.baseline_points) as f64,
                    needed: f64::from(c.min_points.unwrap_or(DEFAULT_MIN_POINTS)),
                    points: true,
                }),
                _ => None,
            };
            let warm_until = c
                .initial_delay
                .map(|d| self.d.started_at_ms.saturating_add(d.as_millis() as i64));
            if let Some(until_ms) = warm_until.filter(|until| self.now_ms < *until) {
                // Shown and stored, neither pass nor fail: a cold canary's first minutes.
                ev.reasons = vec![format!(
                    "warming up for {} more",
                    humantime::format_duration(std::time::Duration::from_secs(
                        ((until_ms - self.now_ms) / 1000).max(0) as u64
                    ))
                )];
                ev.verdict = Verdict::WarmingUp;
                if status.last != Some(Verdict::WarmingUp) {
                    self.emit(
                        BOT,
                        EventData::WarmingUp {
                            criterion: c.name.clone(),
                            canary,
                            baseline,
                            until_ms,
                        },
                    );
                }
            }
            // Too little canary traffic behind the value: neither pass nor fail.
            let canary_requests = s.canary_requests.or(s.counts.map(|n| n.canary_requests));
            let thin = match (c.min_requests, canary_requests) {
                (Some(min), Some(n)) if n < min && ev.verdict != Verdict::WarmingUp => {
                    Some(Shortfall {
                        count: n,
                        needed: min,
                        points: false,
                    })
                }
                _ => None,
            };
            if let Some(t) = thin {
                ev.verdict = Verdict::Insufficient;
                ev.reasons = vec![format!(
                    "too little canary traffic to judge: {} requests, {} needed",
                    fmt_num(t.count),
                    fmt_num(t.needed)
                )];
            }
            let shortfall = thin.or(points_short.filter(|_| ev.verdict == Verdict::Insufficient));
            if let (Verdict::NoData, Some(why)) = (ev.verdict, &s.no_data_reason) {
                ev.reasons = vec![why.clone()];
            }
            match ev.verdict {
                Verdict::Fail => {
                    let consecutive = status.consecutive_failures + 1;
                    self.emit(
                        BOT,
                        EventData::CheckFailed {
                            criterion: c.name.clone(),
                            canary,
                            baseline,
                            reasons: ev.reasons.clone(),
                            consecutive,
                            failure_limit: c.failure_limit,
                            test: ev.test.clone(),
                        },
                    );
                    if c.dry_run {
                        // Shown and stored; at the limit the thread hears what would have
                        // happened, once per failing streak, and nothing happens.
                        if consecutive == c.failure_limit {
                            self.emit(
                                BOT,
                                EventData::WouldHaveBreached {
                                    criterion: c.name.clone(),
                                    consecutive,
                                },
                            );
                            self.say(Said::WouldHaveBreached {
                                criterion: c.name.clone(),
                                consecutive,
                            });
                        }
                    } else {
                        // The thread hears when a criterion starts failing and when it
                        // breaches; the counts in between show in the root's live status.
                        if consecutive == 1 && consecutive < c.failure_limit {
                            self.say(Said::Failing {
                                criterion: c.name.clone(),
                                consecutive,
                                failure_limit: c.failure_limit,
                                reasons: ev.reasons.clone(),
                            });
                        }
                        if consecutive >= c.failure_limit {
                            breaching.push(c.name.clone());
                        }
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
                            EventData::NoData {
                                criterion: c.name.clone(),
                                reason: reason.clone(),
                                consecutive,
                            },
                        );
                    }
                    if consecutive == 1 {
                        self.say(Said::NoData {
                            criterion: c.name.clone(),
                            reason,
                        });
                    }
                    if limit > 0 && consecutive == limit && !c.dry_run {
                        no_data_breach.push(c.name.clone());
                    }
                }
                Verdict::WarmingUp => {}
                Verdict::Insufficient => {
                    let Shortfall {
                        count: requests,
                        needed: min_requests,
                        points,
                    } = shortfall.unwrap_or_default();
                    let consecutive = if status.last == Some(Verdict::Insufficient) {
                        status.consecutive_insufficient.max(1) + 1
                    } else {
                        1
                    };
                    let limit = c.insufficient_limit;
                    // Recorded when it starts and while it counts toward the limit, as no data.
                    if consecutive == 1 || (limit > 0 && consecutive <= limit) {
                        self.emit(
                            BOT,
                            EventData::Insufficient {
                                criterion: c.name.clone(),
                                requests,
                                min_requests,
                                consecutive,
                                points,
                            },
                        );
                    }
                    if limit > 0 && consecutive == limit && !c.dry_run {
                        self.say(Said::TooLittleTraffic {
                            criterion: c.name.clone(),
                            requests,
                            min_requests,
                            checks: consecutive,
                            points,
                        });
                    }
                }
                Verdict::Pass => {
                    if matches!(status.last, Some(Verdict::Fail | Verdict::NoData)) {
                        self.emit(
                            BOT,
                            EventData::Recovered {
                                criterion: c.name.clone(),
                                canary,
                                baseline,
                                reasons: ev.reasons.clone(),
                                test: ev.test.clone(),
                            },
                        );
                        self.say(Said::PassingAgain {
                            criterion: c.name.clone(),
                            canary,
                            baseline,
                        });
                    } else if matches!(
                        status.last,
                        None | Some(Verdict::WarmingUp | Verdict::Insufficient)
                    ) {
                        // The first pass is recorded so the fold knows every criterion has been
                        // seen passing (the canary window needs it); later plain passes are not.
                        self.emit(
                            BOT,
                            EventData::CheckPassed {
                                criterion: c.name.clone(),
                                canary,
                                baseline,
                                reasons: ev.reasons.clone(),
                                test: ev.test.clone(),
                            },
                        );
                    }
                }
            }
            if let Some(st) = self.d.criteria.get_mut(&c.name) {
                // Latest values for the live status, also when no event records them.
                (st.canary, st.baseline) = (canary, baseline);
                st.requests = match shortfall {
                    Some(s) if s.points => Some(s.count),
                    _ => canary_requests,
                };
                st.short_of_points = shortfall.is_some_and(|s| s.points);
                st.why = ev.reasons.clone();
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
            self.breach(breaching, BreachCause::FailureLimit);
        }
        if !no_data_breach.is_empty() {
            let checks = self.d.policy.no_data_limit;
            self.breach(no_data_breach, BreachCause::NoData { checks });
        }
    }

    pub(super) fn metrics_unavailable(&mut self, error: String) {
        if self.d.metrics_down || self.d.state.is_final() {
            return; // recorded once per outage
        }
        self.emit(
            BOT,
            EventData::MetricsUnavailable {
                error: error.clone(),
            },
        );
        self.say(Said::MetricsUnavailable { error });
    }

    /// Declares a breach (once per deploy) and does what the policy says.
    pub(super) fn breach(&mut self, breaching: Vec<String>, cause: BreachCause) {
        if self.d.state != State::Canary {
            return;
        }
        self.emit(
            BOT,
            EventData::BreachDetected {
                criteria: breaching.clone(),
                cause: Some(cause.clone()),
            },
        );
        self.say(Said::Breach {
            criteria: breaching.clone(),
            cause,
        });
        self.charts(&breaching);
        if self.d.policy.on_breach == OnBreach::Rollback {
            let reason = format!("breach: {}", breaching.join(", "));
            self.decide(Choice::Rollback, vec![BOT.to_string()], reason, BOT);
        }
    }
}

/// One sample judged by its criterion's judge.
fn judged(c: &Criterion, s: &Sample) -> Evaluation {
    match c.judge {
        Judge::Threshold => c.evaluate(s.canary, s.baseline),
        Judge::Sequential => c.evaluate_counts(s.counts),
        Judge::MannWhitney => c.evaluate_points(s.points.as_ref()),
    }
}

/// Why a check could not be judged for want of evidence: `count` of `needed` requests, or (`points`)
/// points over the window.
#[derive(Debug, Clone, Copy, Default)]
struct Shortfall {
    count: f64,
    needed: f64,
    points: bool,
}
