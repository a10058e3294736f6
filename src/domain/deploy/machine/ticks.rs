//! Time passing: the canary window closing, and recovery overdue after a rollback.

use super::Work;
use crate::domain::criteria::Verdict;
use crate::domain::decision::Choice;
use crate::domain::deploy::effect::Said;
use crate::domain::deploy::event::EventData;
use crate::domain::deploy::model::{BOT, OnPass, State};

impl Work {
    pub(super) fn window(&mut self) {
        if self.d.state != State::Canary || self.d.window_passed {
            return;
        }
        let window_ms = self.d.policy.canary_window_s as i64 * 1000;
        if self.now_ms - self.d.started_at_ms < window_ms {
            return;
        }
        // Dry-run criteria never hold the window back.
        let all_pass = self
            .d
            .policy
            .criteria
            .iter()
            .filter(|c| !c.dry_run)
            .filter_map(|c| self.d.criteria.get(&c.name))
            .all(|s| s.last == Some(Verdict::Pass) && s.consecutive_failures == 0);
        if !all_pass {
            return;
        }
        let window_s = self.d.policy.canary_window_s;
        self.emit(BOT, EventData::CanaryWindowPassed { window_s });
        match self.d.policy.on_pass {
            OnPass::Promote => self.decide(
                Choice::Promote,
                vec![BOT.to_string()],
                "canary window passed".to_string(),
                BOT,
            ),
            OnPass::Ask => self.say(Said::WindowPassed),
        }
    }

    pub(super) fn verify_deadline(&mut self) {
        if self.d.state != State::RolledBack || self.d.verify_timed_out {
            return;
        }
        let Some(at) = self.d.rolled_back_at_ms else {
            return;
        };
        let timeout_ms = self.d.policy.verify_timeout_s as i64 * 1000;
        if self.now_ms - at < timeout_ms {
            return;
        }
        let after_s = self.d.policy.verify_timeout_s;
        self.emit(BOT, EventData::VerifyTimedOut { after_s });
        self.say(Said::NoRecovery { after_s });
    }
}
