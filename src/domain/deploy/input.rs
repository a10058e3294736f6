//! The inputs an existing deploy reacts to.

use super::model::{ExecutorOutcome, PipelineEvent, Sample};
use crate::domain::decision::{Choice, Vote};
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
    /// A paging provider refused a page for good (it will not be retried).
    PageFailed {
        provider: String,
        error: String,
    },
}
