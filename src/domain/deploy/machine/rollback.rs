//! The rollback: the deploy system's answers, success and failure, and verifying recovery.

use super::{CriterionReport, Work};
use crate::domain::criteria::{Criterion, Evaluation, Verdict};
use crate::domain::decision::Choice;
use crate::domain::deploy::effect::Said;
use crate::domain::deploy::event::{CANNOT_VERIFY, EventData, RecoveryVerdict};
use crate::domain::deploy::model::{BOT, ExecutorOutcome, Sample, State};

impl Work {
    pub(super) fn executor(&mut self, decision_id: String, outcome: ExecutorOutcome) {
        let Some((current_id, action)) = self
            .d
            .current_decision
            .as_ref()
            .map(|d| (d.id.clone(), d.action))
        else {
            return;
        };
        if current_id != decision_id {
            return; // a late answer about an older decision
        }
        if action == Choice::Promote {
            if let ExecutorOutcome::Failed { error, attempts } = outcome {
                let text = format!(
                    "promote call to the deploy system failed after {attempts} attempts: {error}"
                );
                self.emit("executor", EventData::note(text.clone()));
                self.say(Said::Warning { text });
            }
            return;
        }
        if self.d.state != State::RollingBack {
            return;
        }
        match outcome {
            ExecutorOutcome::Accepted { detail } => {
                if !self.d.rollback_started {
                    self.emit(
                        "executor",
                        EventData::RollbackStarted {
                            decision_id,
                            detail: detail.clone(),
                        },
                    );
                    self.say(Said::RollbackStarted { detail });
                }
            }
            ExecutorOutcome::Done { detail } => {
                if !self.d.rollback_started {
                    self.emit(
                        "executor",
                        EventData::RollbackStarted {
                            decision_id: decision_id.clone(),
                            detail: detail.clone(),
                        },
                    );
                }
                self.rollback_succeeded("executor", Some(decision_id), detail);
            }
            ExecutorOutcome::Failed { error, attempts } => {
                self.rollback_failed("executor", Some(decision_id), error, attempts);
            }
        }
    }

    pub(super) fn rollback_succeeded(
        &mut self,
        actor: &str,
        decision_id: Option<String>,
        detail: String,
    ) {
        self.emit(
            actor,
            EventData::RollbackSucceeded {
                decision_id,
                detail: detail.clone(),
            },
        );
        let verifiable = self
            .d
            .policy
            .criteria
            .iter()
            .any(Criterion::has_absolute_bounds);
        if !verifiable {
            self.emit(BOT, EventData::note(CANNOT_VERIFY));
        }
        self.say(Said::RolledBack {
            detail,
            verify_checks: verifiable.then_some(self.d.policy.verify_checks),
        });
    }

    pub(super) fn rollback_failed(
        &mut self,
        actor: &str,
        decision_id: Option<String>,
        error: String,
        attempts: u32,
    ) {
        self.emit(
            actor,
            EventData::RollbackFailed {
                decision_id,
                error: error.clone(),
                attempts,
            },
        );
        self.say(Said::RollbackFailed { error });
    }

    pub(super) fn verify_check(&mut self, samples: &[Sample]) {
        let mut reasons = Vec::new();
        let mut any_verdict = false;
        let mut failed = false;
        let mut criteria = Vec::new();
        for s in samples {
            let Some(c) = self.d.policy.criterion(&s.criterion).cloned() else {
                continue;
            };
            // A dry-run criterion does not decide whether the rollback worked either.
            if c.dry_run {
                continue;
            }
            let ev = if c.has_absolute_bounds() {
                c.evaluate_absolute(s.baseline, "baseline")
            } else {
                Evaluation::of(
                    Verdict::NoData,
                    vec![format!("{}: no absolute bounds to verify against", c.name)],
                )
            };
            match ev.verdict {
                Verdict::Pass => any_verdict = true,
                Verdict::Fail => {
                    any_verdict = true;
                    failed = true;
                    reasons.extend(ev.reasons.iter().map(|r| format!("{}: {r}", c.name)));
                }
                Verdict::NoData | Verdict::WarmingUp | Verdict::Insufficient => {}
            }
            criteria.push(RecoveryVerdict {
                criterion: c.name.clone(),
                verdict: ev.verdict,
                canary: s.canary,
                baseline: s.baseline,
            });
            let st = &self.d.criteria[&c.name];
            self.out.reports.push(CriterionReport {
                criterion: c.name.clone(),
                verdict: ev.verdict,
                consecutive_failures: st.consecutive_failures,
                failure_limit: c.failure_limit,
                reasons: ev.reasons,
            });
        }
        if !any_verdict {
            // No absolute-bound data in this check: it neither counts nor resets the streak.
            return;
        }
        let needed = self.d.policy.verify_checks.max(1);
        let consecutive = if failed {
            0
        } else {
            self.d.verify_consecutive + 1
        };
        self.emit(
            BOT,
            EventData::VerifyCheck {
                passed: !failed,
                consecutive,
                needed,
                reasons: reasons.clone(),
                criteria,
            },
        );
        if failed {
            self.say(Said::RecoveryCheckFailed { reasons });
        } else if consecutive >= needed {
            self.emit(
                BOT,
                EventData::RollbackVerified {
                    checks: consecutive,
                },
            );
            self.say(Said::RecoveryVerified {
                checks: consecutive,
            });
        }
    }
}
