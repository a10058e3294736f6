//! The inputs an existing deploy reacts to.

use super::event::{ChatNote, FrozenAtStart, MessageRef, Person};
use super::model::{ExecutorOutcome, PipelineEvent, Sample};
use crate::domain::decision::{Choice, Vote, Voter};
use crate::domain::normal::Normals;
use std::collections::BTreeMap;

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
    /// A person's note from chat: a pinned message, or `/canary note`. A message already noted
    /// adds nothing.
    AddNote {
        text: String,
        note: ChatNote,
    },
    /// The pin that added a message's note was taken off: `by` must be who added it.
    WithdrawNote {
        message: MessageRef,
        by: Person,
    },
    /// The deploy started while a freeze covered its service (the pipeline shipped it anyway).
    StartedDuringFreeze {
        freeze: FrozenAtStart,
    },
    /// A paging provider refused a page for good (it will not be retried).
    PageFailed {
        provider: String,
        error: String,
    },
    /// A decider confirms the rollback held because a newer deploy started after this one.
    ConfirmRollback {
        by: Voter,
    },
    /// What was normal at this hour before the deploy, read from Prometheus after the lock. The
    /// first is recorded; a later one, or one for a drill, changes nothing.
    NormalFetched(Normals),
    /// A watch check of a promoted deploy: each watched criterion's value now and at the same
    /// time 1 and 7 days earlier.
    WatchCheck {
        readings: Vec<WatchReading>,
        at_ms: i64,
    },
}

/// One watched criterion in a watch check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchReading {
    pub criterion: String,
    pub value: Option<f64>,
    pub day_ago: Option<f64>,
    pub week_ago: Option<f64>,
    /// Why a value is missing, when the source knows.
    pub no_data_reason: Option<String>,
}

/// What the shell knows about other deploys when an input is handled: the domain cannot look
/// them up itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The latest deploy of the same service and environment started after this one (not a
    /// drill, not rolled back): rolling this one back would also undo it.
    pub newer_deploy: Option<NewerDeploy>,
    /// The watch checks stored for this deploy so far (the shell counts them when the watch
    /// ends: checks that pass record no event).
    pub watch_checks: Option<u32>,
}

/// A deploy of the same service and environment that started after the one being handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewerDeploy {
    pub id: String,
    pub version: String,
    pub started_at_ms: i64,
}
