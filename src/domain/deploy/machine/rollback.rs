//! The rollback: the deploy system's answers, success and failure, and verifying recovery.

use super::{CriterionReport, Work};
use crate::domain::criteria::{Criterion, Evaluation, Verdict};
use crate::domain::decision::Choice;
use crate::domain::deploy::event::{EventData, RecoveryVerdict};
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
                self.emit(
                    "executor",
                    text.clone(),
                    EventData::Note { text: text.clone() },
                );
                self.reply(format!("⚠️ {text}"), vec![], true);
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
                        format!("rollback started: {detail}"),
                        EventData::RollbackStarted {
                            decision_id,
                            detail: detail.clone(),
                        },
                    );
                    self.reply(format!("🔄 Rollback started: {detail}"), vec![], false);
                }
            }
            ExecutorOutcome::Done { detail } => {
                if !self.d.rollback_started {
                    self.emit(
                        "executor",
                        format!("rollback started: {detail}"),
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
            format!("rollback succeeded: {detail}"),
            EventData::RollbackSucceeded {
                decision_id,
                detail: detail.clone(),
            },
        );
        let needed = self.d.policy.verify_checks;
        if self
            .d
            .policy
            .criteria
            .iter()
            .any(Criterion::has_absolute_bounds)
        {
            self.reply(
                format!(
                    "↩️ Rolled back ({detail}). Verifying recovery: {needed} consecutive passing check{} of the absolute bounds needed.",
                    if needed == 1 { "" } else { "s" }
                ),
                vec![],
                false,
            );
        } else {
            let text = "recovery cannot be verified: no criterion has absolute bounds (max/min)"
                .to_string();
            self.emit(BOT, text.clone(), EventData::Note { text: text.clone() });
            self.reply(
                format!("↩️ Rolled back ({detail}). ⚠️ {text}."),
                vec![],
                true,
            );
        }
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
            format!("ROLLBACK FAILED: {error}"),
            EventData::RollbackFailed {
                decision_id,
                error: error.clone(),
                attempts,
            },
        );
        self.call_deciders(
            format!(
                "🚨 ROLLBACK FAILED for {} {}: {error}. Roll back by hand now; deciders can vote rollback again to retry.",
                self.d.info.service, self.d.info.version
            ),
            vec![Choice::Rollback],
        );
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
            let ev = if c.has_absolute_bounds() {
                c.evaluate_absolute(s.baseline, "baseline")
            } else {
                Evaluation {
                    verdict: Verdict::NoData,
                    reasons: vec![format!("{}: no absolute bounds to verify against", c.name)],
                }
            };
            match ev.verdict {
                Verdict::Pass => any_verdict = true,
                Verdict::Fail => {
                    any_verdict = true;
                    failed = true;
                    reasons.extend(ev.reasons.iter().map(|r| format!("{}: {r}", c.name)));
                }
                Verdict::NoData => {}
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
        let summary = if failed {
            format!("recovery check failed: {}", reasons.join("; "))
        } else {
            format!("recovery check passed ({consecutive}/{needed})")
        };
        self.emit(
            BOT,
            summary.clone(),
            EventData::VerifyCheck {
                passed: !failed,
                consecutive,
                needed,
                reasons,
                criteria,
            },
        );
        if failed {
            self.reply(format!("⚠️ After the rollback, {summary}"), vec![], true);
        } else if consecutive >= needed {
            self.emit(
                BOT,
                format!("recovery verified after {consecutive} passing checks"),
                EventData::RollbackVerified {
                    checks: consecutive,
                },
            );
            self.reply(
                format!(
                    "✅ Recovery verified: {consecutive} consecutive passing checks after the rollback."
                ),
                vec![],
                false,
            );
        }
    }
}
