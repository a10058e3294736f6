//! Effects: what the shell must do after the events are stored (chat, the deploy system). Chat
//! effects are facts — what happened, to whom — and the presentation layer (`crate::present`)
//! words them.

use super::event::{BreachCause, PageReason};
use super::model::State;
use crate::domain::decision::Choice;
use serde::{Deserialize, Serialize};

/// Something the shell must do after the events are stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Chat(ChatEffect),
    Execute(ExecuteRequest),
    /// Page people, or resolve a page, through the paging providers.
    Page(PageRequest),
}

/// A page to send or resolve. The words (summary, details) are `crate::present`'s; each provider
/// in `providers` gets one outbox item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageRequest {
    pub action: PageAction,
    /// The same key triggers and resolves (PagerDuty `dedup_key`, Opsgenie `alias`).
    pub dedup_key: String,
    pub reason: PageReason,
    pub providers: Vec<String>,
    /// When the decision was asked for (UTC ms), if one is waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAction {
    Trigger,
    Resolve,
}

/// What the canary thread must hear; each is worded against the deploy after the input.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEffect {
    /// Open the canary thread: the root pins the locked criteria and the live status.
    PostRoot,
    /// What the root shows changed: rewrite it.
    UpdateRoot,
    /// Say something in the thread.
    Reply { said: Said },
    /// A private answer to one person (identity such as `slack:U01ALICE`).
    Notice { to: String, notice: Notice },
    /// A direct message to one person decider (identity such as `slack:U01ALICE`), outside the
    /// thread: the platform's DM.
    Direct { to: String, direct: Direct },
    /// Post the chart of `criterion` in the thread, as it stood at `until_ms` (the time of the
    /// breach or the close, so a retry shows the same picture). `with` are all the criteria
    /// charted for the same event (this one included): a platform that refuses files gets one
    /// text line with all their links instead.
    Chart {
        criterion: String,
        with: Vec<String>,
        until_ms: i64,
    },
}

/// What a person is told in a direct message.
#[derive(Debug, Clone, PartialEq)]
pub enum Direct {
    /// A decision has waited `waiting_s` in the thread.
    DecisionWaiting { waiting_s: u64 },
}

/// What the thread is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    /// The metric source answers again after an outage.
    MetricsRestored,
    /// The metric source cannot be read (once per outage).
    MetricsUnavailable { error: String },
    /// A criterion failed for the first time in a row.
    Failing {
        criterion: String,
        consecutive: u32,
        failure_limit: u32,
        reasons: Vec<String>,
    },
    /// A criterion started having no data.
    NoData { criterion: String, reason: String },
    /// A criterion that failed or had no data passes again.
    PassingAgain {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
    },
    /// The breach; what follows is the policy's `on_breach`.
    Breach {
        criteria: Vec<String>,
        cause: BreachCause,
    },
    /// A vote by someone who is not a decider was refused.
    VoteRefused {
        identity: String,
        name: String,
        choice: Choice,
    },
    /// A vote was counted.
    VoteCast {
        identity: String,
        name: String,
        choice: Choice,
        count: u32,
        quorum: u32,
        reason: Option<String>,
    },
    /// A decision was made.
    Decided {
        action: Choice,
        decided_by: Vec<String>,
        reason: String,
    },
    /// The rollback just decided is held: rolling back would also undo `newer_version`
    /// (deploy `newer_id`), started after this deploy. A decider must confirm.
    RollbackHeld {
        newer_id: String,
        newer_version: String,
    },
    /// A decider confirmed the held rollback; the deploy system is called.
    RollbackConfirmed { identity: String, name: String },
    /// Something went wrong that people must see; `text` is the note recorded about it.
    Warning { text: String },
    /// The deploy system accepted the rollback.
    RollbackStarted { detail: String },
    /// The rollback is done; `verify_checks` passing checks will verify recovery, or `None`
    /// when no criterion can (no absolute bounds).
    RolledBack {
        detail: String,
        verify_checks: Option<u32>,
    },
    /// The rollback failed: people must roll back by hand or vote again.
    RollbackFailed { error: String },
    /// A recovery check after the rollback failed.
    RecoveryCheckFailed { reasons: Vec<String> },
    /// Enough recovery checks passed in a row.
    RecoveryVerified { checks: u32 },
    /// The deploy system promoted the deploy itself.
    PromotedByPipeline {
        actor: String,
        description: Option<String>,
    },
    /// The deploy system reports the deploy failed.
    DeployFailed { actor: String, reason: String },
    /// An alert fired or resolved without calling a breach.
    Alert {
        name: String,
        firing: bool,
        summary: String,
    },
    /// The canary window passed with every criterion passing; the deciders are asked.
    WindowPassed,
    /// No recovery within the verify timeout after the rollback.
    NoRecovery { after_s: u64 },
    /// The deploy started while a freeze covered its service: the deciders are called.
    StartedDuringFreeze(super::event::FrozenAtStart),
    /// A deploy system's note, announced.
    Note { text: String },
    /// The deploy reached a final state.
    Closed,
    /// Nobody decided within `waiting_s`: the deciders are mentioned again.
    Reminder {
        waiting_s: u64,
        deciders: Vec<String>,
    },
    /// People were paged through `providers`.
    Paged {
        providers: Vec<String>,
        reason: PageReason,
    },
    /// `insufficient_limit` checks in a row had too little canary traffic to judge: the deciders
    /// are asked instead of a breach.
    TooLittleTraffic {
        criterion: String,
        requests: f64,
        min_requests: f64,
        checks: u32,
        /// Counted in points over the window, not requests.
        points: bool,
    },
    /// A dry-run criterion reached its failure limit: it would have breached.
    WouldHaveBreached { criterion: String, consecutive: u32 },
    /// A provider refused the page for good: nobody was paged through it.
    PageFailed { provider: String, error: String },
    /// The deploy is promoted and watched from now on.
    WatchStarted,
    /// Watched criteria drift above their references; the deciders are called. *Roll back* is
    /// offered unless `newer` (a newer deploy of the service started after this one) is live.
    Drift {
        criteria: Vec<super::event::DriftReading>,
        newer: Option<super::input::NewerDeploy>,
    },
    /// A criterion that drifted is within its references again.
    DriftRecovered {
        criterion: String,
        value: f64,
        day_ago: Option<f64>,
        week_ago: Option<f64>,
    },
    /// An alert fired about the service while this promoted deploy is watched.
    AlertDuringWatch {
        name: String,
        summary: String,
        /// How long after the promotion it fired.
        after_s: u64,
        newer: Option<super::input::NewerDeploy>,
    },
    /// The watch is over.
    WatchEnded {
        checks: u32,
        drifts: u32,
        why: super::event::WatchEnd,
    },
}

/// A private answer to a voter.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// The deploy is in a state where this vote decides nothing.
    VoteNotOpen { choice: Choice, state: State },
    /// The same refused vote again.
    VoteAlreadyRefused { choice: Choice },
    /// The voter is not a decider.
    NotADecider { choice: Choice },
    /// The same counted vote again.
    VoteAlreadyCounted { choice: Choice },
    /// The service asks for a reason with every vote, and none was given.
    ReasonRequired { choice: Choice },
    /// The person who deployed cannot count toward *promote*.
    SelfPromote,
    /// A confirmation came, and no rollback of this deploy waits for one.
    NothingToConfirm { state: State },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub decision_id: String,
    pub action: Choice,
    pub reason: String,
    pub decided_by: Vec<String>,
}
