//! The pure domain core: no I/O, no async. A deploy is an event-sourced aggregate; this module
//! turns (state, input) into (events, effects) and renders timelines for people.

pub mod criteria;
pub mod decision;
pub mod deploy;
pub mod drill;
/// The phases of a deploy (kept at its old path).
pub use deploy::phases as timeline;
mod state;

pub use criteria::{Criterion, Verdict};
pub use decision::{Choice, Vote, Voter};
pub use deploy::{
    BOT, ChatEffect, ChatMessage, Deploy, DeployInfo, DomainError, Drill, Effect, Event, EventData,
    ExecuteRequest, ExecutorOutcome, Input, NamedPerson, OnBreach, OnPass, Outcome, PipelineEvent,
    Policy, Sample, State,
};
