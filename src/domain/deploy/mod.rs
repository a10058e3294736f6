//! The deploy aggregate: timeline events are the truth, the state is a fold over them, and
//! `Deploy::handle` turns one input into new events plus the effects the shell must perform.
//!
//! - [`model`]: the deploy, its policy and states;
//! - [`event`]: timeline events; [`input`]: what a deploy reacts to; [`effect`]: what the shell does;
//! - [`fold`]: the state rebuilt from events; [`phases`]: detect/decide/execute/verify timing;
//! - [`root`]: what the thread root shows that can change;
//! - `machine`: the state machine, split by concern.

pub mod effect;
pub mod event;
pub mod fold;
pub mod input;
mod machine;
pub mod model;
pub mod phases;
pub mod root;

pub use effect::*;
pub use event::*;
pub use fold::*;
pub use input::*;
pub use machine::{CriterionReport, Outcome, WatchVerdict, judge_watch, start};
pub use model::*;
pub use root::RootFacts;
