//! The pure domain core: no I/O, no async. A deploy is an event-sourced aggregate; this module
//! turns (state, input) into (events, effects). It states facts; the words people read are
//! `crate::present`'s. It uses nothing of the crate outside `crate::domain` (a test checks).

#[cfg(test)]
mod boundary;
pub mod criteria;
pub mod decision;
pub mod deploy;
pub mod drill;
pub mod freeze;
pub mod gate;
pub mod normal;
pub mod stats;
/// The phases of a deploy (kept at its old path).
pub use deploy::phases as timeline;
mod state;

pub use criteria::{Criterion, Verdict};
pub use decision::{Choice, Vote, Voter};
pub use deploy::{
    BOT, BreachCause, ChatEffect, Context, DefaultDecision, Deploy, DeployInfo, Direct,
    DomainError, Drill, Effect, Escalation, Event, EventData, ExecuteRequest, ExecutorOutcome,
    Input, NewerDeploy, Notice, OnBreach, OnPass, Outcome, PageAction, PageReason, PageRequest,
    PipelineEvent, Policy, Said, Sample, State, WatchPolicy, WatchReading,
};
