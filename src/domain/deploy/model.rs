//! What a deploy is: its identity, the policy agreed before it, its states, and the values and
//! reports the outside world sends about it.

use crate::domain::criteria::Criterion;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Whether the drill's escalation pages (a drill times the whole chain, paging only when
    /// asked to).
    #[serde(default, skip_serializing_if = "is_false")]
    pub page: bool,
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
    /// How an unanswered decision escalates; none: it waits for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
    /// A vote counts only with a reason (buttons ask for it in a modal).
    #[serde(default, skip_serializing_if = "is_false")]
    pub require_reason: bool,
    /// The person who deployed cannot count toward *promote* (their rollback votes count).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forbid_self_promote: bool,
    /// Watching after promotion (`[service.watch]`); none: the deploy is not watched once
    /// promoted. Absent from deploys without one, whose policy hash is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchPolicy>,
}

/// How long and how often a promoted deploy's `watch_query` criteria are checked against the
/// same hour 1 and 7 days earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchPolicy {
    /// The watch ends this long after the promotion.
    pub after_promotion_s: u64,
    /// A watch check every this long.
    pub interval_s: u64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The steps of an unanswered decision, each counted from the moment the decision was asked for
/// (the breach, or the canary window passing with `on_pass = "ask"`). A step that is `None` is
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// Mention the deciders again in the thread and message each person decider directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_s: Option<u64>,
    /// Page through the configured providers (named here; none: no page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_after_s: Option<u64>,
    /// canarybot decides `default_decision` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_after_s: Option<u64>,
    #[serde(default)]
    pub default_decision: DefaultDecision,
    /// The paging providers a page goes to (`pagerduty`, `opsgenie`); empty: nobody is paged,
    /// also not when a rollback fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pagers: Vec<String>,
}

/// What canarybot decides when nobody did within `decide_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultDecision {
    #[default]
    Rollback,
    /// Nothing: the deploy waits for people.
    None,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// The canary's traffic behind the value (the criterion's `requests`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_requests: Option<f64>,
    /// Errors and requests since the deploy started, per track: what `judge = "sequential"`
    /// judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<crate::domain::stats::SequentialCounts>,
    /// Both tracks' points over the criterion's window: what `judge = "mann-whitney"` judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<crate::domain::criteria::TrackPoints>,
}

impl Sample {
    /// A sample of points over a window, with each track's median as its value: what the charts
    /// draw and the samples store (the points themselves are not kept).
    pub fn with_medians(&self) -> Sample {
        match &self.points {
            None => self.clone(),
            Some(p) => Sample {
                canary: self
                    .canary
                    .or(crate::domain::stats::mann_whitney::median(&p.canary)),
                baseline: self
                    .baseline
                    .or(crate::domain::stats::mann_whitney::median(&p.baseline)),
                points: None,
                ..self.clone()
            },
        }
    }
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
