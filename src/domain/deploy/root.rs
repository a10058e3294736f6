//! What the thread root shows that can change during a deploy: when it changes, the root is
//! rewritten. The presentation (`crate::present::chat::root_view`) shows exactly these facts
//! beside the deploy's info and policy, which never change after the start.

use super::fold::Deploy;
use super::model::State;
use crate::domain::criteria::Verdict;
use crate::domain::decision::Choice;
use crate::domain::normal::{NoNormal, Normal};

/// The live facts of the root; equal facts mean an equal root.
#[derive(Debug, Clone, PartialEq)]
pub struct RootFacts<'a> {
    state: State,
    criteria: Vec<CriterionFacts<'a>>,
    /// The current decision as shown: its id is not.
    decision: Option<(Choice, &'a [String], &'a str)>,
    /// The rollback decided waits for a decider's confirmation.
    held: bool,
}

/// One row of the root's live status.
#[derive(Debug, Clone, PartialEq)]
struct CriterionFacts<'a> {
    name: &'a str,
    canary: Option<f64>,
    baseline: Option<f64>,
    verdict: Option<Verdict>,
    failures: u32,
    breached: bool,
    why: &'a [String],
    /// What was normal at this hour before the deploy, once recorded.
    normal: Option<&'a Normal>,
    missing: Option<&'a NoNormal>,
}

impl Deploy {
    /// What the root shows of this deploy that can change.
    pub fn root_facts(&self) -> RootFacts<'_> {
        RootFacts {
            state: self.state,
            criteria: self
                .policy
                .criteria
                .iter()
                .map(|c| {
                    let st = self.criteria.get(&c.name);
                    CriterionFacts {
                        name: &c.name,
                        canary: st.and_then(|s| s.canary),
                        baseline: st.and_then(|s| s.baseline),
                        verdict: st.and_then(|s| s.last),
                        failures: st.map(|s| s.consecutive_failures).unwrap_or(0),
                        breached: self.breached_criteria.contains(&c.name),
                        why: st.map(|s| s.why.as_slice()).unwrap_or_default(),
                        normal: self.normal.as_ref().and_then(|n| n.of(&c.name)),
                        missing: self.normal.as_ref().and_then(|n| n.missing_of(&c.name)),
                    }
                })
                .collect(),
            decision: self
                .current_decision
                .as_ref()
                .map(|d| (d.action, d.decided_by.as_slice(), d.reason.as_str())),
            held: self.rollback_held().is_some(),
        }
    }
}
