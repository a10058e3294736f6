//! The deploy aggregate: timeline events are the truth, the state is a fold over them, and
//! `handle` turns one input into new events plus the effects the shell must perform.

use super::criteria::{Criterion, Evaluation, Verdict};
use super::decision::{Choice, Tally, Vote, authorizing_entry};
use super::timeline::Milestones;
use crate::present::chat::{RootView, closing_summary, root_view};
use crate::present::words;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The actor recorded when canarybot itself acts.
pub const BOT: &str = "canarybot";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployInfo {
    pub id: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Set when this deploy is a rollback drill, not a real deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
    /// The deploy's web page (postmortem), when the server has a public URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
}

/// A rollback drill: the same path as a real rollback, with a synthetic breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    /// When the synthetic breach starts, after the drill opens.
    pub breach_after_s: u64,
}

/// The criterion a drill breaches.
pub const DRILL_CRITERION: &str = "drill";

impl DeployInfo {
    pub fn is_drill(&self) -> bool {
        self.drill.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Post the breach and call the vote.
    Ask,
    /// Decide a rollback at once, as canarybot.
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnPass {
    Ask,
    Promote,
}

/// Everything agreed before the deploy, locked into the timeline when it starts so that a config
/// change mid-deploy cannot move the goalposts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub criteria: Vec<Criterion>,
    pub deciders: Vec<String>,
    pub rollback_quorum: u32,
    pub promote_quorum: u32,
    pub on_breach: OnBreach,
    pub on_pass: OnPass,
    pub canary_window_s: u64,
    pub verify_checks: u32,
    /// The rollback executor kind (`webhook`), or none: then people roll back by hand.
    pub executor: Option<String>,
    /// Consecutive checks without data that are themselves a breach.
    #[serde(default = "default_no_data_limit")]
    pub no_data_limit: u32,
    /// How long recovery may take after a rollback before it is called out.
    #[serde(default = "default_verify_timeout_s")]
    pub verify_timeout_s: u64,
}

fn default_no_data_limit() -> u32 {
    3
}

fn default_verify_timeout_s() -> u64 {
    600
}

impl Policy {
    /// Content hash of the agreement, shown in the thread and the timeline.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    pub fn criterion(&self, name: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Canary,
    Breached,
    RollingBack,
    RolledBack,
    RollbackVerified,
    RollbackFailed,
    Promoted,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Canary => "canary",
            State::Breached => "breached",
            State::RollingBack => "rolling_back",
            State::RolledBack => "rolled_back",
            State::RollbackVerified => "rollback_verified",
            State::RollbackFailed => "rollback_failed",
            State::Promoted => "promoted",
            State::Failed => "failed",
        }
    }

    /// Nothing more will happen to the deploy on its own.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::RollbackVerified | State::Promoted | State::Failed
        )
    }
}

/// One sample of one criterion: canary and baseline values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub criterion: String,
    #[serde(default)]
    pub canary: Option<f64>,
    #[serde(default)]
    pub baseline: Option<f64>,
    /// Why a value is missing, when the source knows (empty result, several series, NaN…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_reason: Option<String>,
}

/// What a deploy pipeline reports about a deploy that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineEvent {
    Promoted,
    RolledBack,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorOutcome {
    /// The deploy system accepted the request (2xx); it will report when done.
    Accepted { detail: String },
    /// The deploy system says the action is done.
    Done { detail: String },
    /// Every attempt failed.
    Failed { error: String, attempts: u32 },
}

/// Inputs to an existing deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Pipeline {
        event: PipelineEvent,
        actor: Option<String>,
        description: Option<String>,
    },
    Check {
        samples: Vec<Sample>,
        /// When the values were measured, if the sender said so (kept with the samples).
        at_ms: Option<i64>,
    },
    Vote(Vote),
    Executor {
        decision_id: String,
        outcome: ExecutorOutcome,
    },
    /// Time passing: lets the canary window close without a new check.
    Tick,
    /// The metric source could not be read for a scheduled check.
    MetricsUnavailable {
        error: String,
    },
    /// An Alertmanager alert for this deploy's service.
    Alert {
        name: String,
        firing: bool,
        annotations: BTreeMap<String, String>,
    },
    /// A deploy system asks whether it may go on (`promote`) or must roll back (`rollback`).
    Gate {
        gate: Choice,
        asked_by: String,
    },
    /// Something a deploy system said that changes nothing but belongs in the timeline.
    Note {
        actor: String,
        text: String,
        /// Also post it in the thread.
        announce: bool,
    },
}

/// The typed content of a timeline event; `kind` is the tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "details", rename_all = "snake_case")]
pub enum EventData {
    DeployStarted {
        deploy: DeployInfo,
    },
    CriteriaLocked {
        policy: Policy,
        hash: String,
    },
    CheckFailed {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
        reasons: Vec<String>,
        consecutive: u32,
        failure_limit: u32,
    },
    CheckPassed {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
    },
    NoData {
        criterion: String,
        reason: String,
        #[serde(default)]
        consecutive: u32,
    },
    /// The metric source could not be read (recorded once per outage).
    MetricsUnavailable {
        error: String,
    },
    MetricsRestored {},
    /// No recovery within the verify timeout after the rollback.
    VerifyTimedOut {
        after_s: u64,
    },
    /// A deploy system's gate was answered differently from the last time.
    GateAnswered {
        gate: Choice,
        open: bool,
        asked_by: String,
    },
    /// An Alertmanager alert about this deploy's service. Stored as `alert_firing` or
    /// `alert_resolved` (see `kind`), which read back as this variant.
    #[serde(alias = "alert_firing", alias = "alert_resolved")]
    Alert {
        name: String,
        firing: bool,
        annotations: BTreeMap<String, String>,
    },
    Recovered {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
    },
    BreachDetected {
        criteria: Vec<String>,
    },
    CanaryWindowPassed {
        window_s: u64,
    },
    VoteCast {
        voter: String,
        name: String,
        choice: Choice,
        reason: Option<String>,
        authorized_by: String,
        tally: u32,
        quorum: u32,
    },
    VoteDenied {
        voter: String,
        name: String,
        choice: Choice,
        why: String,
    },
    Decision {
        id: String,
        action: Choice,
        decided_by: Vec<String>,
        reason: String,
    },
    RollbackStarted {
        decision_id: String,
        detail: String,
    },
    RollbackSucceeded {
        decision_id: Option<String>,
        detail: String,
    },
    RollbackFailed {
        decision_id: Option<String>,
        error: String,
        attempts: u32,
    },
    VerifyCheck {
        passed: bool,
        consecutive: u32,
        needed: u32,
        reasons: Vec<String>,
    },
    RollbackVerified {
        checks: u32,
    },
    Promoted {
        decision_id: Option<String>,
    },
    DeployFailed {
        reason: String,
    },
    Note {
        text: String,
    },
}

impl EventData {
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::DeployStarted { .. } => "deploy_started",
            EventData::CriteriaLocked { .. } => "criteria_locked",
            EventData::CheckFailed { .. } => "check_failed",
            EventData::CheckPassed { .. } => "check_passed",
            EventData::NoData { .. } => "no_data",
            EventData::MetricsUnavailable { .. } => "metrics_unavailable",
            EventData::MetricsRestored {} => "metrics_restored",
            EventData::VerifyTimedOut { .. } => "verify_timed_out",
            EventData::GateAnswered { .. } => "gate_answered",
            EventData::Alert { firing: true, .. } => "alert_firing",
            EventData::Alert { firing: false, .. } => "alert_resolved",
            EventData::Recovered { .. } => "recovered",
            EventData::BreachDetected { .. } => "breach_detected",
            EventData::CanaryWindowPassed { .. } => "canary_window_passed",
            EventData::VoteCast { .. } => "vote_cast",
            EventData::VoteDenied { .. } => "vote_denied",
            EventData::Decision { .. } => "decision",
            EventData::RollbackStarted { .. } => "rollback_started",
            EventData::RollbackSucceeded { .. } => "rollback_succeeded",
            EventData::RollbackFailed { .. } => "rollback_failed",
            EventData::VerifyCheck { .. } => "verify_check",
            EventData::RollbackVerified { .. } => "rollback_verified",
            EventData::Promoted { .. } => "promoted",
            EventData::DeployFailed { .. } => "deploy_failed",
            EventData::Note { .. } => "note",
        }
    }

    /// The `details` half of the serialized event as JSON text, as it is stored and exported.
    /// Serialized straight to text (no `Value` tree): timelines of thousands of events are
    /// written and exported this way.
    pub fn details_json(&self) -> String {
        const DETAILS: &str = ",\"details\":";
        let whole = serde_json::to_string(self).unwrap_or_default();
        // Adjacently tagged: `{"kind":"…","details":…}`; tags are snake_case names, so the
        // first `,"details":` is the field.
        match whole.find(DETAILS) {
            Some(at) if whole.ends_with('}') => {
                whole[at + DETAILS.len()..whole.len() - 1].to_string()
            }
            _ => "null".to_string(),
        }
    }

    /// Rebuilds an event from its stored kind and details: `{"kind": kind, "details": details}`
    /// is what it reads (the store has the database write timelines in that shape).
    pub fn from_parts(kind: &str, details: &str) -> Result<Self, String> {
        // The tag first, so serde reads the details straight into the variant (a `Value` or
        // the tag last would make it buffer them first).
        let tag = serde_json::to_string(kind).map_err(|e| e.to_string())?;
        serde_json::from_str(&format!("{{\"kind\":{tag},\"details\":{details}}}"))
            .map_err(|e| format!("event kind `{kind}`: {e}"))
    }
}

/// One entry in a deploy's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    /// Where the input came from: `deploy-webhook`, `metrics`, `slack`, `executor`, `canarybot`…
    pub source: String,
    pub summary: String,
    pub data: EventData,
}

/// Something the shell must do after the events are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Chat(ChatEffect),
    Execute(ExecuteRequest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChatEffect {
    /// Open the canary thread: the root pins the locked criteria and the live status.
    PostRoot {
        root: Box<RootView>,
    },
    /// Rewrite the root with the current status.
    UpdateRoot {
        root: Box<RootView>,
    },
    Reply {
        message: ChatMessage,
    },
    /// A private notice to one person (identity such as `slack:U01ALICE`).
    Notice {
        to: String,
        text: String,
    },
}

/// Platform-neutral message; each chat adapter renders it its own way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub text: String,
    /// Buttons to offer (Roll back / Proceed).
    #[serde(default)]
    pub buttons: Vec<Choice>,
    /// Worth a highlight: breaches and failed rollbacks.
    #[serde(default)]
    pub loud: bool,
    /// Decider identities to mention (`slack:U…`, `slack-group:S…`); each adapter renders the
    /// ones of its own platform.
    #[serde(default)]
    pub mentions: Vec<String>,
    /// The person the message is about (a voter), named in `text`: an adapter may show them its
    /// own way (a Slack identity as `<@U…>`, so Slack shows the real account, not a claimed name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<NamedPerson>,
}

/// Where `text` names a person: the identity, and the byte range of their name in the text. The
/// range is set by the state machine, never found by searching, so no outside text can make a
/// mention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedPerson {
    pub identity: String,
    pub start: usize,
    pub end: usize,
}

impl ChatMessage {
    /// The text split around the person: `(before, identity, name, after)`, when a person is
    /// named and the range still fits the text.
    pub fn person_split(&self) -> Option<(&str, &str, &str, &str)> {
        let p = self.person.as_ref()?;
        let name = self.text.get(p.start..p.end)?;
        Some((
            &self.text[..p.start],
            p.identity.as_str(),
            name,
            &self.text[p.end..],
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub decision_id: String,
    pub action: Choice,
    pub reason: String,
    pub decided_by: Vec<String>,
}

/// The latest decision, as the thread shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionInfo {
    pub id: String,
    pub action: Choice,
    pub decided_by: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionStatus {
    pub consecutive_failures: u32,
    pub last: Option<Verdict>,
    #[serde(default)]
    pub consecutive_no_data: u32,
    /// The latest values seen, for the live status table.
    #[serde(default)]
    pub canary: Option<f64>,
    #[serde(default)]
    pub baseline: Option<f64>,
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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    BadInput(String),
    #[error("timeline is corrupt: {0}")]
    Corrupt(String),
}

/// The report of one criterion after a check, for the caller.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionReport {
    pub criterion: String,
    pub verdict: Verdict,
    pub consecutive_failures: u32,
    pub failure_limit: u32,
    pub reasons: Vec<String>,
}

/// What one input produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    pub reports: Vec<CriterionReport>,
}

/// Opens a deploy: `deploy_started`, `criteria_locked`, and the canary thread.
pub fn start(info: DeployInfo, policy: Policy, now_ms: i64, source: &str) -> Outcome {
    let actor = info.actor.clone().unwrap_or_else(|| "pipeline".to_string());
    let hash = policy.hash();
    let mut out = Outcome::default();
    out.events.push(Event {
        seq: 1,
        at_ms: now_ms,
        actor: actor.clone(),
        source: source.to_string(),
        summary: format!(
            "{} {} started in {}",
            info.service, info.version, info.environment
        ),
        data: EventData::DeployStarted { deploy: info },
    });
    out.events.push(Event {
        seq: 2,
        at_ms: now_ms,
        actor: BOT.to_string(),
        source: source.to_string(),
        summary: format!(
            "criteria locked: {} (hash {})",
            policy
                .criteria
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            &hash[..12]
        ),
        data: EventData::CriteriaLocked { policy, hash },
    });
    if let Ok(deploy) = Deploy::fold(&out.events) {
        out.effects.push(Effect::Chat(ChatEffect::PostRoot {
            root: Box::new(root_view(&deploy)),
        }));
    }
    out
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
        let mut d = Deploy {
            info: info.clone(),
            policy: policy.clone(),
            policy_hash: hash.clone(),
            state: State::Canary,
            started_at_ms: first.at_ms,
            last_seq: second.seq,
            criteria: policy
                .criteria
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        CriterionStatus {
                            consecutive_failures: 0,
                            last: None,
                            consecutive_no_data: 0,
                            canary: None,
                            baseline: None,
                        },
                    )
                })
                .collect(),
            tally: Tally::default(),
            denied: Default::default(),
            decisions: 0,
            current_decision: None,
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
        };
        d.milestones.observe(first);
        for e in it {
            d.apply(e);
        }
        Ok(d)
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
                ..
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.consecutive_failures = *consecutive;
                    s.consecutive_no_data = 0;
                    s.last = Some(Verdict::Fail);
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
            }
            | EventData::CheckPassed {
                criterion,
                canary,
                baseline,
            } => {
                if let Some(s) = self.criteria.get_mut(criterion) {
                    s.consecutive_failures = 0;
                    s.consecutive_no_data = 0;
                    s.last = Some(Verdict::Pass);
                    (s.canary, s.baseline) = (*canary, *baseline);
                }
            }
            EventData::BreachDetected { criteria } => {
                if self.state == State::Canary {
                    self.state = State::Breached;
                }
                self.breached_criteria.extend(criteria.iter().cloned());
            }
            EventData::CanaryWindowPassed { .. } => self.window_passed = true,
            EventData::VoteCast { voter, choice, .. } => self.tally.record(voter, *choice),
            EventData::VoteDenied { voter, choice, .. } => {
                self.denied.insert((voter.clone(), *choice));
            }
            EventData::Note { .. } => {}
            EventData::Decision {
                id,
                action,
                decided_by,
                reason,
            } => {
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
            EventData::RollbackStarted { .. } => self.rollback_started = true,
            EventData::RollbackSucceeded { .. } => {
                self.state = State::RolledBack;
                self.verify_consecutive = 0;
                self.rolled_back_at_ms = Some(e.at_ms);
            }
            EventData::RollbackFailed { .. } => self.state = State::RollbackFailed,
            EventData::VerifyCheck { consecutive, .. } => self.verify_consecutive = *consecutive,
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
    }

    /// The current decision if it is a rollback still in flight.
    fn rollback_decision_id(&self) -> Option<String> {
        match &self.current_decision {
            Some(d) if d.action == Choice::Rollback => Some(d.id.clone()),
            _ => None,
        }
    }

    /// Runs one input against the current state.
    pub fn handle(&self, input: Input, now_ms: i64, source: &str) -> Result<Outcome, DomainError> {
        let mut w = Work {
            d: self.clone(),
            out: Outcome::default(),
            now_ms,
            source: source.to_string(),
        };
        match input {
            Input::Pipeline {
                event,
                actor,
                description,
            } => w.pipeline(event, actor, description),
            Input::Check { samples, .. } => {
                w.check(samples)?;
                w.window();
            }
            Input::Vote(vote) => w.vote(vote),
            Input::Executor {
                decision_id,
                outcome,
            } => w.executor(decision_id, outcome),
            Input::Tick => {
                w.window();
                w.verify_deadline();
            }
            Input::MetricsUnavailable { error } => w.metrics_unavailable(error),
            Input::Gate { gate, asked_by } => w.gate(gate, asked_by),
            Input::Note {
                actor,
                text,
                announce,
            } => {
                w.emit(&actor, text.clone(), EventData::Note { text: text.clone() });
                if announce {
                    w.reply(format!("ℹ️ {text}"), vec![], false);
                }
            }
            Input::Alert {
                name,
                firing,
                annotations,
            } => w.alert(name, firing, annotations),
        }
        if !self.state.is_final() && w.d.state.is_final() {
            let summary = closing_summary(&w.d);
            w.reply(summary, vec![], false);
        }
        let root = root_view(&w.d);
        if root != root_view(self) {
            w.out.effects.push(Effect::Chat(ChatEffect::UpdateRoot {
                root: Box::new(root),
            }));
        }
        Ok(w.out)
    }
}

/// A working copy: every emitted event is applied at once, so later steps see it.
struct Work {
    d: Deploy,
    out: Outcome,
    now_ms: i64,
    source: String,
}

impl Work {
    fn emit(&mut self, actor: &str, summary: String, data: EventData) {
        let e = Event {
            seq: self.d.last_seq + 1,
            at_ms: self.now_ms,
            actor: actor.to_string(),
            source: self.source.clone(),
            summary,
            data,
        };
        self.d.apply(&e);
        self.out.events.push(e);
    }

    fn reply(&mut self, text: String, buttons: Vec<Choice>, loud: bool) {
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text,
                buttons,
                loud,
                mentions: Vec::new(),
                person: None,
            },
        }));
    }

    /// A reply that names a person: `before`, their name, `after`.
    fn reply_about(&mut self, identity: &str, name: &str, before: &str, after: String) {
        let start = before.len();
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text: format!("{before}{name}{after}"),
                buttons: Vec::new(),
                loud: false,
                mentions: Vec::new(),
                person: Some(NamedPerson {
                    identity: identity.to_string(),
                    start,
                    end: start + name.len(),
                }),
            },
        }));
    }

    /// A loud reply that calls the deciders by name.
    fn call_deciders(&mut self, text: String, buttons: Vec<Choice>) {
        let mentions = self.d.policy.deciders.clone();
        self.out.effects.push(Effect::Chat(ChatEffect::Reply {
            message: ChatMessage {
                text,
                buttons,
                loud: true,
                mentions,
                person: None,
            },
        }));
    }

    fn notice(&mut self, to: &str, text: String) {
        self.out.effects.push(Effect::Chat(ChatEffect::Notice {
            to: to.to_string(),
            text,
        }));
    }

    fn pipeline(
        &mut self,
        event: PipelineEvent,
        actor: Option<String>,
        description: Option<String>,
    ) {
        let actor = actor.unwrap_or_else(|| "pipeline".to_string());
        let said = description.map(|d| format!(": {d}")).unwrap_or_default();
        match (event, self.d.state) {
            (PipelineEvent::RolledBack, State::RolledBack | State::RollbackVerified) => {}
            (PipelineEvent::RolledBack, _) => {
                let decision_id = self.d.rollback_decision_id();
                let detail = if decision_id.is_some() {
                    format!("deploy system reports the rollback done{said}")
                } else {
                    format!("rolled back by {actor} outside canarybot{said}")
                };
                self.rollback_succeeded(&actor, decision_id, detail);
            }
            (PipelineEvent::Promoted, State::Promoted) => {}
            (PipelineEvent::Promoted, State::Canary | State::Breached) => {
                self.emit(
                    &actor,
                    format!(
                        "{} {} promoted{said}",
                        self.d.info.service, self.d.info.version
                    ),
                    EventData::Promoted { decision_id: None },
                );
                self.reply(
                    format!("✅ Promoted by {actor}{said}. Watching ends."),
                    vec![],
                    false,
                );
            }
            (PipelineEvent::Promoted, state) => {
                let text = format!(
                    "{actor} reported a promotion while the deploy is {}{said}; state unchanged",
                    state.as_str()
                );
                self.emit(&actor, text.clone(), EventData::Note { text: text.clone() });
                self.reply(format!("⚠️ {text}"), vec![], true);
            }
            (PipelineEvent::Failed, State::RollingBack) => {
                let decision_id = self.d.rollback_decision_id();
                let error = format!("deploy system reports failure{said}");
                self.rollback_failed(&actor, decision_id, error, 0);
            }
            (PipelineEvent::Failed, State::Failed) => {}
            (PipelineEvent::Failed, _) => {
                let reason = if said.is_empty() {
                    "reported failed".to_string()
                } else {
                    said.trim_start_matches(": ").to_string()
                };
                self.emit(
                    &actor,
                    format!("deploy failed: {reason}"),
                    EventData::DeployFailed {
                        reason: reason.clone(),
                    },
                );
                self.reply(
                    format!("❌ Deploy failed ({actor}): {reason}"),
                    vec![],
                    true,
                );
            }
        }
    }

    fn rollback_succeeded(&mut self, actor: &str, decision_id: Option<String>, detail: String) {
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

    fn rollback_failed(
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

    fn check(&mut self, samples: Vec<Sample>) -> Result<(), DomainError> {
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

    fn canary_check(&mut self, samples: &[Sample]) {
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

    fn metrics_unavailable(&mut self, error: String) {
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

    fn alert(&mut self, name: String, firing: bool, annotations: BTreeMap<String, String>) {
        // Alertmanager repeats firing alerts every repeat_interval: record changes only.
        if firing == self.d.firing_alerts.contains(&name) {
            return;
        }
        let summary = annotations
            .get("summary")
            .or_else(|| annotations.get("description"))
            .cloned()
            .unwrap_or_default();
        let said = if summary.is_empty() {
            String::new()
        } else {
            format!(": {summary}")
        };
        self.emit(
            "alertmanager",
            format!(
                "alert {name} {}{said}",
                if firing { "firing" } else { "resolved" }
            ),
            EventData::Alert {
                name: name.clone(),
                firing,
                annotations,
            },
        );
        if firing && self.d.state == State::Canary {
            self.breach(vec![format!("alert:{name}")], &format!("is firing{said}"));
        } else {
            self.reply(
                format!(
                    "{} Alert *{name}* {}{said}",
                    if firing { "🔔" } else { "🔕" },
                    if firing { "firing" } else { "resolved" }
                ),
                vec![],
                firing,
            );
        }
    }

    /// A gate opens when the deciders decided that very action; its answer is recorded when it
    /// changes, not every time the deploy system asks.
    fn gate(&mut self, gate: Choice, asked_by: String) {
        let open = self.d.gate_open(gate);
        if self.d.gates.get(&gate) == Some(&open) {
            return;
        }
        self.emit(
            &asked_by,
            format!(
                "{asked_by} {} gate: {}",
                gate.as_str(),
                if open { "open" } else { "closed" }
            ),
            EventData::GateAnswered {
                gate,
                open,
                asked_by: asked_by.clone(),
            },
        );
    }

    fn verify_deadline(&mut self) {
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
        self.emit(
            BOT,
            format!(
                "no recovery {} after the rollback",
                words::duration(after_s as f64)
            ),
            EventData::VerifyTimedOut { after_s },
        );
        self.call_deciders(
            format!(
                "🚨 No recovery {} after rolling back {} {}: the signals are still outside their bounds or silent. Look now.",
                words::duration(after_s as f64),
                self.d.info.service,
                self.d.info.version
            ),
            vec![],
        );
    }

    /// Declares a breach (once per deploy) and does what the policy says.
    fn breach(&mut self, breaching: Vec<String>, why: &str) {
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

    fn verify_check(&mut self, samples: &[Sample]) {
        let mut reasons = Vec::new();
        let mut any_verdict = false;
        let mut failed = false;
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

    fn window(&mut self) {
        if self.d.state != State::Canary || self.d.window_passed {
            return;
        }
        let window_ms = self.d.policy.canary_window_s as i64 * 1000;
        if self.now_ms - self.d.started_at_ms < window_ms {
            return;
        }
        let all_pass = self
            .d
            .criteria
            .values()
            .all(|s| s.last == Some(Verdict::Pass) && s.consecutive_failures == 0);
        if !all_pass {
            return;
        }
        let window_s = self.d.policy.canary_window_s;
        self.emit(
            BOT,
            format!(
                "canary window of {} passed with every criterion passing",
                words::duration(window_s as f64)
            ),
            EventData::CanaryWindowPassed { window_s },
        );
        match self.d.policy.on_pass {
            OnPass::Promote => self.decide(
                Choice::Promote,
                vec![BOT.to_string()],
                "canary window passed".to_string(),
                BOT,
            ),
            OnPass::Ask => {
                let q = self.d.policy.promote_quorum;
                self.reply(
                    format!(
                        "🟢 Canary window passed with every criterion passing. Deciders: *Proceed* to promote ({q} vote{} needed).",
                        if q == 1 { "" } else { "s" }
                    ),
                    vec![Choice::Promote, Choice::Rollback],
                    false,
                );
            }
        }
    }

    fn vote(&mut self, vote: Vote) {
        // One person is one vote, whichever platform they vote from; private answers go back to
        // the identity that voted.
        let who = vote.voter.key();
        let reply_to = vote.voter.identity.clone();
        let name = vote.voter.name.clone();
        let open = match vote.choice {
            Choice::Rollback => matches!(
                self.d.state,
                State::Canary | State::Breached | State::RollbackFailed
            ),
            Choice::Promote => matches!(self.d.state, State::Canary | State::Breached),
        };
        if !open {
            self.notice(
                &reply_to,
                format!(
                    "Your {} vote was not counted: {} {} is {}.",
                    vote.choice.as_str(),
                    self.d.info.service,
                    self.d.info.version,
                    self.d.state.as_str()
                ),
            );
            return;
        }
        let Some(entry) =
            authorizing_entry(&self.d.policy.deciders, &vote.voter).map(str::to_string)
        else {
            if self.d.denied.contains(&(who.clone(), vote.choice)) {
                // A double click or a retry: the refusal is on record already.
                self.notice(
                    &reply_to,
                    format!(
                        "Your {} vote was already refused: you are not a decider for {}.",
                        vote.choice.as_str(),
                        self.d.info.service
                    ),
                );
                return;
            }
            let why = format!(
                "{who} is not among the deciders for {}",
                self.d.info.service
            );
            self.emit(
                &who,
                format!("{} vote by {name} refused: {why}", vote.choice.as_str()),
                EventData::VoteDenied {
                    voter: who.clone(),
                    name: name.clone(),
                    choice: vote.choice,
                    why: why.clone(),
                },
            );
            self.reply_about(
                &reply_to,
                &name,
                "⛔ ",
                format!(
                    "'s {} vote was not counted: not a decider",
                    vote.choice.as_str()
                ),
            );
            self.notice(
                &reply_to,
                format!(
                    "You are not a decider for {}, so your {} vote was not counted. Deciders: {}.",
                    self.d.info.service,
                    vote.choice.as_str(),
                    self.d.policy.deciders.join(", ")
                ),
            );
            return;
        };
        if self.d.tally.choice_of(&who) == Some(vote.choice) {
            self.notice(
                &reply_to,
                format!("Your {} vote is already counted.", vote.choice.as_str()),
            );
            return;
        }
        let quorum = match vote.choice {
            Choice::Rollback => self.d.policy.rollback_quorum,
            Choice::Promote => self.d.policy.promote_quorum,
        }
        .max(1);
        let mut tally = self.d.tally.clone();
        tally.record(&who, vote.choice);
        let count = tally.count(vote.choice);
        let why = vote
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        self.emit(
            &who,
            format!(
                "{name} votes {} ({count}/{quorum}){why}",
                vote.choice.as_str()
            ),
            EventData::VoteCast {
                voter: who.clone(),
                name: name.clone(),
                choice: vote.choice,
                reason: vote.reason.clone(),
                authorized_by: entry,
                tally: count,
                quorum,
            },
        );
        self.reply_about(
            &reply_to,
            &name,
            "🗳️ ",
            format!(" votes *{}* ({count}/{quorum}){why}", vote.choice.as_str()),
        );
        if count >= quorum {
            let decided_by = self.d.tally.voters_for(vote.choice);
            let reason = vote
                .reason
                .clone()
                .unwrap_or_else(|| format!("{} quorum reached", vote.choice.as_str()));
            self.decide(vote.choice, decided_by, reason, &who);
        }
    }

    fn decide(&mut self, action: Choice, decided_by: Vec<String>, reason: String, actor: &str) {
        let id = format!("{}/decision-{}", self.d.info.id, self.d.last_seq + 1);
        self.emit(
            actor,
            format!(
                "decision: {} by {} ({reason})",
                action.as_str(),
                decided_by.join(", ")
            ),
            EventData::Decision {
                id: id.clone(),
                action,
                decided_by: decided_by.clone(),
                reason: reason.clone(),
            },
        );
        let has_executor = self.d.policy.executor.is_some();
        match action {
            Choice::Rollback => {
                self.reply(
                    format!(
                        "⏪ Decision: *roll back* {} {} (by {}; {reason}).{}",
                        self.d.info.service,
                        self.d.info.version,
                        decided_by.join(", "),
                        if has_executor {
                            " Calling the deploy system…"
                        } else {
                            " No rollback executor is configured: roll back by hand, then announce `rolled_back`."
                        }
                    ),
                    vec![],
                    true,
                );
            }
            Choice::Promote => {
                self.emit(
                    actor,
                    format!("{} {} promoted", self.d.info.service, self.d.info.version),
                    EventData::Promoted {
                        decision_id: Some(id.clone()),
                    },
                );
                self.reply(
                    format!(
                        "✅ Decision: *promote* {} {} (by {}; {reason}).",
                        self.d.info.service,
                        self.d.info.version,
                        decided_by.join(", ")
                    ),
                    vec![],
                    false,
                );
            }
        }
        if has_executor {
            self.out.effects.push(Effect::Execute(ExecuteRequest {
                decision_id: id,
                action,
                reason,
                decided_by,
            }));
        }
    }

    fn executor(&mut self, decision_id: String, outcome: ExecutorOutcome) {
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
}
