//! An unanswered decision, bounded: remind the deciders, page, then decide the service's default.
//! Every step is read off the timeline (`Deploy::escalation`), so a step due while the bot was
//! down runs once when it comes back, and the ticker's lease runs it once across replicas.

use super::Work;
use crate::domain::decision::Choice;
use crate::domain::deploy::effect::{ChatEffect, Direct, Effect, PageAction, PageRequest, Said};
use crate::domain::deploy::event::{EventData, PageReason};
use crate::domain::deploy::model::{BOT, DefaultDecision, State};

impl Work {
    /// The steps due now for the decision asked for, in order; each at most once per ask.
    pub(super) fn escalate(&mut self) {
        let Some(e) = self.d.policy.escalation.clone() else {
            return;
        };
        let Some(asked) = self.d.escalation.asked_at_ms else {
            return;
        };
        // Only a deploy still waiting on people: breached, or its window passed with `ask`.
        // A drift after promotion is asked like a breach: remind, page, decide the default.
        let waiting_on_breach = self.d.state == State::Breached || self.drift_vote_open();
        let waiting_on_window = self.d.state == State::Canary && self.d.window_passed;
        if !(waiting_on_breach || waiting_on_window) {
            return;
        }
        let waited_s = (self.now_ms.saturating_sub(asked) / 1000).max(0) as u64;
        if let Some(after) = e.remind_after_s
            && waited_s >= after
            && !self.d.escalation.reminded
        {
            self.remind(after);
        }
        // A passed window only reminds: nothing is wrong, nobody is paged or overruled.
        if !waiting_on_breach {
            return;
        }
        if let Some(after) = e.page_after_s
            && waited_s >= after
            && !self.d.escalation.paged
            && !e.pagers.is_empty()
        {
            self.page(PageReason::NoDecision);
        }
        if let Some(after) = e.decide_after_s
            && waited_s >= after
            && e.default_decision == DefaultDecision::Rollback
        {
            self.decide(
                Choice::Rollback,
                vec![BOT.to_string()],
                format!(
                    "no decision within {}",
                    crate::domain::criteria::span(after)
                ),
                BOT,
            );
        }
    }

    /// Mentions the deciders in the thread and messages each decider directly. Each chat
    /// adapter delivers the direct messages of its own people and skips the rest: a group
    /// (`slack-group:…`, `discord-role:…`) is mentioned in the thread, not messaged one by one.
    fn remind(&mut self, after_s: u64) {
        let deciders = self.d.policy.deciders.clone();
        self.emit(
            BOT,
            EventData::EscalationReminded {
                after_s,
                deciders: deciders.clone(),
            },
        );
        self.say(Said::Reminder {
            waiting_s: after_s,
            deciders: deciders.clone(),
        });
        for decider in deciders {
            self.out.effects.push(Effect::Chat(ChatEffect::Direct {
                to: decider,
                direct: Direct::DecisionWaiting { waiting_s: after_s },
            }));
        }
    }

    /// Pages through the policy's providers, unless a page is already open.
    pub(super) fn page(&mut self, reason: PageReason) {
        let Some(e) = &self.d.policy.escalation else {
            return;
        };
        if e.pagers.is_empty() || self.d.escalation.open_page.is_some() {
            return;
        }
        let providers = e.pagers.clone();
        let dedup_key = self.d.info.id.clone();
        let waiting_since_ms = self.d.escalation.asked_at_ms;
        self.emit(
            BOT,
            EventData::Paged {
                providers: providers.clone(),
                dedup_key: dedup_key.clone(),
                reason,
            },
        );
        self.out.effects.push(Effect::Page(PageRequest {
            action: PageAction::Trigger,
            dedup_key,
            reason,
            providers: providers.clone(),
            waiting_since_ms,
        }));
        self.say(Said::Paged { providers, reason });
    }

    /// Resolves the open page: a decision was recorded, or the deploy reached a final state.
    pub(super) fn resolve_page(&mut self, reason: PageReason) {
        let Some(dedup_key) = self.d.escalation.open_page.clone() else {
            return;
        };
        let providers = self
            .d
            .policy
            .escalation
            .as_ref()
            .map(|e| e.pagers.clone())
            .unwrap_or_default();
        self.emit(
            BOT,
            EventData::PageResolved {
                dedup_key: dedup_key.clone(),
            },
        );
        self.out.effects.push(Effect::Page(PageRequest {
            action: PageAction::Resolve,
            dedup_key,
            reason,
            providers,
            waiting_since_ms: None,
        }));
    }

    /// A provider refused a page for good: recorded, and said loudly.
    pub(super) fn page_failed(&mut self, provider: String, error: String) {
        self.emit(
            BOT,
            EventData::PageFailed {
                provider: provider.clone(),
                error: error.clone(),
            },
        );
        self.say(Said::PageFailed { provider, error });
    }
}
