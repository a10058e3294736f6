//! The state of a deploy as a fold over its timeline.

use super::event::{Event, EventData, PageReason};
use super::model::{DeployInfo, OnPass, Policy, State};
use super::phases::Milestones;
use crate::domain::criteria::Verdict;
use crate::domain::decision::{Choice, Tally};
use crate::domain::normal::Normals;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The latest decision, as the thread shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionInfo {
    pub id: String,
    pub action: Choice,
    pub decided_by: Vec<String>,
    pub reason: String,
}

/// A rollback decided but not sent to the deploy system, because a newer deploy of the same
/// service and environment started after this one: it waits for a decider's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRollback {
    pub decision_id: String,
    pub newer_id: String,
    pub newer_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CriterionStatus {
    pub consecutive_failures: u32,
    pub last: Option<Verdict>,
    #[serde(default)]
    pub consecutive_no_data: u32,
    /// Consecutive checks with too little canary traffic.
    #[serde(default)]
    pub consecutive_insufficient: u32,
    /// The canary's traffic at the latest check, when known.
    #[serde(default)]
    pub requests: Option<f64>,
    /// The latest values seen, for the live status table.
    #[serde(default)]
    pub canary: Option<f64>,
    #[serde(default)]
    pub baseline: Option<f64>,
    /// Why the latest check came out as it did (values against bounds, or the test).
    #[serde(default)]
    pub why: Vec<String>,
    /// The latest `insufficient` counted points over the window, not requests.
    #[serde(default)]
    pub short_of_points: bool,
}

/// The state of a deploy, folded from its timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    pub info: DeployInfo,
    pub policy: Policy,
    pub policy_hash: String,
    pub state: State,
    pub started_at_ms: i64,
    pub last_seq: i64,
    pub criteria: BTreeMap<String, CriterionStatus>,
    /// Votes since the last decision.
    pub tally: Tally,
    /// Refused voters since the last decision: a repeat is answered, not recorded again.
    pub denied: std::collections::BTreeSet<(String, Choice)>,
    pub decisions: u32,
    pub current_decision: Option<DecisionInfo>,
    /// The current rollback decision, while it waits for a decider to confirm it.
    pub held_rollback: Option<HeldRollback>,
    pub rollback_started: bool,
    pub verify_consecutive: u32,
    pub window_passed: bool,
    pub metrics_down: bool,
    /// Alerts firing now, by name.
    pub firing_alerts: std::collections::BTreeSet<String>,
    /// The criteria the breach named.
    pub breached_criteria: Vec<String>,
    /// The last answer given at each deploy-system gate.
    pub gates: BTreeMap<Choice, bool>,
    pub rolled_back_at_ms: Option<i64>,
    pub verify_timed_out: bool,
    /// When detect, decide, execute and verify were reached, for phases and the closing summary.
    pub milestones: Milestones,
    /// Where an unanswered decision stands in its escalation.
    pub escalation: EscalationState,
    /// The chat messages noted and not withdrawn, keyed by (platform, thread, message), with
    /// the identity of who added each: a second pin adds nothing, and only that person's
    /// un-pinning withdraws it.
    pub noted: BTreeMap<(String, String, String), String>,
    /// What was normal at this hour before the deploy, once recorded (`normal_recorded`).
    pub normal: Option<Normals>,
    /// The watch after promotion, from its events.
    pub watch: WatchState,
}

/// The watch after promotion, folded from `watch_started`, `watch_check_failed`,
/// `watch_recovered`, `drift_detected` and `watch_ended` (so a failing streak survives a restart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchState {
    /// When the watch started (the promotion) and when it ends; none: never watched.
    pub started_at_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub interval_s: u64,
    pub ended: bool,
    /// Consecutive failing watch checks, by criterion (absent: passing).
    pub failing: BTreeMap<String, u32>,
    /// The criteria that drifted in this watch: each is posted once per watch.
    pub drifted: std::collections::BTreeSet<String>,
    pub drifts: u32,
    /// The last drift is open: a rollback vote counts, and escalation runs, until a decision
    /// is recorded, every drifted criterion recovers, or the watch ends.
    pub drift_open: bool,
    /// From `watch_ended`.
    pub checks: Option<u32>,
}

impl WatchState {
    /// The watch runs: started and not ended.
    pub fn open(&self) -> bool {
        self.until_ms.is_some() && !self.ended
    }
}

/// A message's key among the noted ones.
pub fn noted_key(m: &super::event::MessageRef) -> (String, String, String) {
    (m.platform.clone(), m.thread.clone(), m.message.clone())
}

/// The escalation of the decision asked for now, from the timeline (so it survives restarts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EscalationState {
    /// When a decision was asked for (the breach, or the window passing with `on_pass = "ask"`)
    /// and none has been recorded since.
    pub asked_at_ms: Option<i64>,
    /// The deciders were reminded of this ask.
    pub reminded: bool,
    /// People were paged because nobody decided this ask.
    pub paged: bool,
    /// The dedup key of a page sent and not resolved yet.
    pub open_page: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    BadInput(String),
    #[error("timeline is corrupt: {0}")]
    Corrupt(String),
}

impl Deploy {
    /// Whether the deploy system's answer to `decision_id`'s rollback call is already on the
    /// timeline (or the decision is no longer current): then a call taken over after a crash need
    /// not be made again.
    pub fn rollback_call_answered(&self, decision_id: &str) -> bool {
        match &self.current_decision {
            Some(d) if d.id == decision_id => {
                d.action == Choice::Rollback
                    && (self.state != State::RollingBack || self.rollback_started)
            }
            _ => true,
        }
    }

    /// Rebuilds the state from the timeline.
    pub fn fold(events: &[Event]) -> Result<Deploy, DomainError> {
        let mut it = events.iter();
        let (Some(first), Some(second)) = (it.next(), it.next()) else {
            return Err(DomainError::Corrupt("fewer than two events".into()));
        };
        let EventData::DeployStarted { deploy: info } = &first.data else {
            return Err(DomainError::Corrupt(
                "first event is not deploy_started".into(),
            ));
        };
        let EventData::CriteriaLocked { policy, hash } = &second.data else {
            return Err(DomainError::Corrupt(
                "second event is not criteria_locked".into(),
            ));
        };
        let mut d = Deploy::opened(first, info, policy, hash, second.seq);
        for e in it {
            d.apply(e);
        }
        Ok(d)
    }

    /// The deploy as its first two events open it: `first` started it under `policy`.
    pub(super) fn opened(
        first: &Event,
        info: &DeployInfo,
        policy: &Policy,
        hash: &str,
        last_seq: i64,
    ) -> Deploy {
        let mut d = Deploy {
            info: info.clone(),
            policy: policy.clone(),
            policy_hash: hash.to_string(),
            state: State::Canary,
            started_at_ms: first.at_ms,
            last_seq,
            criteria: policy
                .criteria
                .iter()
                .map(|c| (c.name.clone(), CriterionStatus::default()))
                .collect(),
            tally: Tally::default(),
            denied: Default::default(),
            decisions: 0,
            current_decision: None,
            held_rollback: None,
            rollback_started: false,
            verify_consecutive: 0,
            window_passed: false,
            metrics_down: false,
            firing_alerts: Default::default(),
            breached_criteria: Vec::new(),
            gates: BTreeMap::new(),
            rolled_back_at_ms: None,
            verify_timed_out: false,
            milestones: Milestones::default(),
            escalation: EscalationState::default(),
            noted: BTreeMap::new(),
            normal: None,
            watch: WatchState::default(),
        };
        d.milestones.observe(first);
        d
    }

    /// Applies one stored event. Unknown criteria are ignored: the fold never fails midway.
    pub fn apply(&mut self, e: &Event) {
        self.last_seq = e.seq;
        self.milestones.observe(e);
        match &e.data {
            EventData::DeployStarted { .. } | EventData::CriteriaLocked { .. } => {}
            EventData::CheckFailed {
                criterion,
                consecutive,
                canary,
                baseline,
                reasons,
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.why = reasons.clone();
                    s.consecutive_failures = *consecutive;
                    s.consecutive_no_data = 0;
                    s.last = Some(Verdict::Fail);
                    s.consecutive_insufficient = 0;
                    (s.canary, s.baseline) = (*canary, *baseline);
                }
            }
            EventData::NoData {
                criterion,
                consecutive,
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.last = Some(Verdict::NoData);
                    s.consecutive_insufficient = 0;
                    s.consecutive_no_data = (*consecutive).max(1);
                }
            }
            EventData::MetricsUnavailable { .. } => self.metrics_down = true,
            EventData::MetricsRestored {} => self.metrics_down = false,
            EventData::VerifyTimedOut { .. } => self.verify_timed_out = true,
            EventData::GateAnswered { gate, open, .. } => {
                self.gates.insert(*gate, *open);
            }
            EventData::Alert { name, firing, .. } => {
                if *firing {
                    self.firing_alerts.insert(name.clone());
                } else {
                    self.firing_alerts.remove(name);
                }
            }
            EventData::Recovered {
                criterion,
                canary,
                baseline,
                reasons,
                ..
            }
            | EventData::CheckPassed {
                criterion,
                canary,
                baseline,
                reasons,
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.why = reasons.clone();
                    s.consecutive_failures = 0;
                    s.consecutive_no_data = 0;
                    s.last = Some(Verdict::Pass);
                    s.consecutive_insufficient = 0;
                    (s.canary, s.baseline) = (*canary, *baseline);
                }
            }
            EventData::BreachDetected { criteria, .. } => {
                if self.state == State::Canary {
                    self.state = State::Breached;
                    self.ask_decision(e.at_ms);
                }
                self.breached_criteria.extend(criteria.iter().cloned());
            }
            EventData::CanaryWindowPassed { .. } => {
                self.window_passed = true;
                if self.policy.on_pass == OnPass::Ask {
                    self.ask_decision(e.at_ms);
                }
            }
            EventData::EscalationReminded { .. } => self.escalation.reminded = true,
            EventData::Paged {
                dedup_key, reason, ..
            } => {
                self.escalation.open_page = Some(dedup_key.clone());
                if *reason == PageReason::NoDecision {
                    self.escalation.paged = true;
                }
            }
            EventData::PageResolved { .. } => self.escalation.open_page = None,
            EventData::PageFailed { .. } | EventData::WouldHaveBreached { .. } => {}
            EventData::NormalRecorded(normals) => {
                if self.normal.is_none() {
                    self.normal = Some(normals.clone());
                }
            }
            EventData::Insufficient {
                criterion,
                requests,
                consecutive,
                points,
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.short_of_points = *points;
                    s.last = Some(Verdict::Insufficient);
                    s.consecutive_insufficient = (*consecutive).max(1);
                    s.requests = Some(*requests);
                }
            }
            EventData::WarmingUp {
                criterion,
                canary,
                baseline,
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.last = Some(Verdict::WarmingUp);
                    (s.canary, s.baseline) = (*canary, *baseline);
                }
            }
            EventData::VoteCast { voter, choice, .. } => self.tally.record(voter, *choice),
            EventData::VoteDenied { voter, choice, .. } => {
                self.denied.insert((voter.clone(), *choice));
            }
            EventData::Note {
                chat: Some(chat), ..
            } => {
                if let Some(m) = &chat.message {
                    self.noted
                        .insert(noted_key(m), chat.adder().identity.clone());
                }
            }
            EventData::NoteWithdrawn { message, .. } => {
                self.noted.remove(&noted_key(message));
            }
            EventData::Note { .. } | EventData::StartedDuringFreeze(_) => {}
            EventData::WatchStarted {
                until_ms,
                interval_s,
                ..
            } => {
                self.watch.started_at_ms = Some(e.at_ms);
                self.watch.until_ms = Some(*until_ms);
                self.watch.interval_s = *interval_s;
            }
            EventData::WatchCheckFailed {
                criterion,
                consecutive,
                ..
            } => {
                self.watch.failing.insert(criterion.clone(), *consecutive);
            }
            EventData::WatchRecovered { criterion, .. } => {
                self.watch.failing.remove(criterion);
                // Every drifted criterion within its references again: the drift is over.
                if self.watch.drift_open
                    && !self
                        .watch
                        .drifted
                        .iter()
                        .any(|c| self.watch.failing.contains_key(c))
                {
                    self.watch.drift_open = false;
                    if self.state == State::Promoted {
                        self.escalation.asked_at_ms = None;
                    }
                }
            }
            EventData::DriftDetected { criteria } => {
                self.watch.drifts += 1;
                self.watch.drift_open = true;
                self.watch
                    .drifted
                    .extend(criteria.iter().map(|c| c.criterion.clone()));
                if self.state == State::Promoted {
                    self.ask_decision(e.at_ms);
                }
            }
            EventData::WatchEnded { checks, .. } => {
                self.watch.ended = true;
                self.watch.drift_open = false;
                self.watch.checks = Some(*checks);
                if self.state == State::Promoted {
                    self.escalation.asked_at_ms = None;
                }
            }
            EventData::Decision {
                id,
                action,
                decided_by,
                reason,
            } => {
                self.watch.drift_open = false;
                self.escalation.asked_at_ms = None;
                self.held_rollback = None;
                self.decisions += 1;
                self.tally.clear();
                self.denied.clear();
                self.current_decision = Some(DecisionInfo {
                    id: id.clone(),
                    action: *action,
                    decided_by: decided_by.clone(),
                    reason: reason.clone(),
                });
                if *action == Choice::Rollback {
                    self.state = State::RollingBack;
                    self.rollback_started = false;
                }
            }
            EventData::RollbackHeldForNewerDeploy {
                decision_id,
                newer_id,
                newer_version,
            } => {
                self.held_rollback = Some(HeldRollback {
                    decision_id: decision_id.clone(),
                    newer_id: newer_id.clone(),
                    newer_version: newer_version.clone(),
                });
            }
            EventData::RollbackConfirmed { .. } => self.held_rollback = None,
            EventData::RollbackStarted { .. } => self.rollback_started = true,
            EventData::RollbackSucceeded { .. } => {
                self.state = State::RolledBack;
                self.verify_consecutive = 0;
                self.rolled_back_at_ms = Some(e.at_ms);
            }
            EventData::RollbackFailed { .. } => self.state = State::RollbackFailed,
            EventData::VerifyCheck {
                consecutive,
                criteria,
                ..
            } => {
                self.verify_consecutive = *consecutive;
                // The live status now tells the recovery: the canary's failures are history.
                for r in criteria {
                    if let Some(s) = self.criteria.get_mut(&r.criterion) {
                        s.last = Some(r.verdict);
                        (s.canary, s.baseline) = (r.canary, r.baseline);
                        if r.verdict == Verdict::Pass {
                            s.consecutive_failures = 0;
                        }
                    }
                }
            }
            EventData::RollbackVerified { .. } => self.state = State::RollbackVerified,
            EventData::Promoted { .. } => self.state = State::Promoted,
            EventData::DeployFailed { .. } => self.state = State::Failed,
        }
    }

    /// Whether a deploy system may go ahead with `gate`: only when that is what was decided.
    pub fn gate_open(&self, gate: Choice) -> bool {
        self.current_decision
            .as_ref()
            .is_some_and(|d| d.action == gate)
            && !matches!(self.state, State::Failed)
            && !(gate == Choice::Rollback && self.rollback_held().is_some())
    }

    /// The rollback held for a decider's confirmation, while it is still the deploy's current
    /// decision and nothing has overtaken it (the deploy system reporting on its own).
    pub fn rollback_held(&self) -> Option<&HeldRollback> {
        let held = self.held_rollback.as_ref()?;
        let current = self.current_decision.as_ref()?;
        (current.id == held.decision_id && self.state == State::RollingBack).then_some(held)
    }

    /// The current decision if it is a rollback still in flight.
    pub(super) fn rollback_decision_id(&self) -> Option<String> {
        match &self.current_decision {
            Some(d) if d.action == Choice::Rollback => Some(d.id.clone()),
            _ => None,
        }
    }
}

impl Deploy {
    /// A decision is asked for from `at_ms` on, unless one already is.
    fn ask_decision(&mut self, at_ms: i64) {
        if self.escalation.asked_at_ms.is_none() {
            self.escalation.asked_at_ms = Some(at_ms);
            self.escalation.reminded = false;
            self.escalation.paged = false;
        }
    }
}
