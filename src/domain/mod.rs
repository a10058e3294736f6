//! The pure domain core: no I/O, no async. A deploy is an event-sourced aggregate; this module
//! turns (state, input) into (events, effects) and renders timelines for people.

pub mod criteria;
pub mod decision;
pub mod deploy;
pub mod drill;
pub mod page;
pub mod postmortem;
pub mod render;
mod state;
pub mod timeline;

#[cfg(test)]
mod tests;

pub use criteria::{Criterion, Verdict};
pub use decision::{Choice, Vote, Voter};
pub use deploy::{
    BOT, ChatEffect, ChatMessage, Deploy, DeployInfo, DomainError, Drill, Effect, Event, EventData,
    ExecuteRequest, ExecutorOutcome, Input, NamedPerson, OnBreach, OnPass, Outcome, PipelineEvent,
    Policy, Sample, State,
};
