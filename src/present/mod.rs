//! Presentation: the words and pages people read, made from the domain's facts. Chat wording, the
//! Markdown postmortem, the timeline JSON, the drill history and the HTML pages live here; the
//! domain (`crate::domain`) decides, this room says it.

pub mod chart_png;
pub mod chat;
pub mod drills;
pub mod export;
pub mod html;
pub mod normal;
pub mod notes;
pub mod outcome;
pub mod page;
pub mod paging;
pub mod postmortem;
pub mod summary;
pub mod watch;
pub mod words;

pub use outcome::{RenderedEffect, RenderedOutcome};

#[cfg(test)]
mod chart_effects_tests;
#[cfg(test)]
mod decisions_tests;
#[cfg(test)]
mod escalation_tests;
#[cfg(test)]
mod judging_tests;
#[cfg(test)]
mod mann_whitney_tests;
#[cfg(test)]
mod newer_deploy_tests;
#[cfg(test)]
mod postmortem_tests;
#[cfg(test)]
mod root_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod watch_tests;
