//! The phases of a deploy: when detect, decide, execute and verify were reached, and how long
//! each took.

use super::event::{Event, EventData};
use crate::domain::decision::Choice;
use serde::Serialize;

/// Seconds spent in each phase; `None` until the phase is reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    pub detect_s: Option<f64>,
    pub decide_s: Option<f64>,
    pub execute_s: Option<f64>,
    pub verify_s: Option<f64>,
    pub total_s: Option<f64>,
}

/// When each milestone was first reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Milestones {
    pub started: Option<i64>,
    /// The breach, or the first rollback vote if people saw it before the criteria did.
    pub detected: Option<i64>,
    pub decided: Option<i64>,
    pub executed: Option<i64>,
    pub verified: Option<i64>,
}

impl Milestones {
    /// Notes the milestone `e` reaches, if it is the first of its kind.
    pub fn observe(&mut self, e: &Event) {
        let first = |slot: &mut Option<i64>, at: i64| {
            if slot.is_none() {
                *slot = Some(at);
            }
        };
        match &e.data {
            EventData::DeployStarted { .. } => first(&mut self.started, e.at_ms),
            EventData::BreachDetected { .. } => first(&mut self.detected, e.at_ms),
            EventData::VoteCast {
                choice: Choice::Rollback,
                ..
            }
            | EventData::VoteDenied {
                choice: Choice::Rollback,
                ..
            } => first(&mut self.detected, e.at_ms),
            EventData::Decision { .. } => first(&mut self.decided, e.at_ms),
            EventData::RollbackSucceeded { .. } => first(&mut self.executed, e.at_ms),
            EventData::RollbackVerified { .. } => first(&mut self.verified, e.at_ms),
            _ => {}
        }
    }

    /// The latest milestone reached after the start.
    pub fn last(&self) -> Option<i64> {
        [self.detected, self.decided, self.executed, self.verified]
            .into_iter()
            .flatten()
            .max()
    }

    /// Seconds spent in each phase. Each phase runs from the previous milestone reached to its
    /// own: detect = start → detection; decide = detection (or start) → decision; execute =
    /// decision → rollback succeeded; verify = rollback succeeded → verified; total = start → the
    /// latest milestone reached.
    pub fn phases(&self) -> Phases {
        let Some(start) = self.started else {
            return Phases::default();
        };
        let secs = |from: i64, to: i64| ((to - from).max(0) as f64) / 1000.0;
        let detect_s = self.detected.map(|t| secs(start, t));
        let decide_from = self.detected.unwrap_or(start);
        let decide_s = self.decided.map(|t| secs(decide_from.min(t), t));
        let execute_from = self.decided.or(self.detected).unwrap_or(start);
        let execute_s = self.executed.map(|t| secs(execute_from.min(t), t));
        let verify_s = match (self.executed, self.verified) {
            (Some(x), Some(v)) => Some(secs(x, v)),
            _ => None,
        };
        Phases {
            detect_s,
            decide_s,
            execute_s,
            verify_s,
            total_s: self.last().map(|t| secs(start, t)),
        }
    }
}

pub fn milestones(events: &[Event]) -> Milestones {
    let mut m = Milestones::default();
    for e in events {
        m.observe(e);
    }
    m
}

/// Seconds spent in each phase (see [`Milestones::phases`]).
pub fn phases(events: &[Event]) -> Phases {
    milestones(events).phases()
}
