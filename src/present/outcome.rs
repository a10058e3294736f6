//! The domain's answer to an input, in words: event summaries filled in and chat effects worded,
//! against the deploy after the input. The engine writes this; tests read it as people would.

use super::chat::{RenderedChat, render as render_chat};
use super::paging::PageMessage;
use super::summary;
use crate::domain::deploy::{
    self, Context, CriterionReport, Deploy, DeployInfo, DomainError, Effect, Event, ExecuteRequest,
    Input, Outcome, Policy,
};

/// An effect as the shell delivers it: chat in words, executor calls as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum RenderedEffect {
    Chat(RenderedChat),
    Execute(ExecuteRequest),
    Page(PageMessage),
}

/// What one input produced, in words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderedOutcome {
    /// The new events, their summaries filled in.
    pub events: Vec<Event>,
    pub effects: Vec<RenderedEffect>,
    pub reports: Vec<CriterionReport>,
}

/// Words `outcome` against the deploy as the input left it.
pub fn render(outcome: Outcome) -> RenderedOutcome {
    let Outcome {
        mut events,
        effects,
        reports,
        deploy,
    } = outcome;
    summary::fill(&mut events, &deploy);
    let effects = effects
        .iter()
        .map(|e| match e {
            Effect::Chat(chat) => RenderedEffect::Chat(render_chat(chat, &deploy)),
            Effect::Execute(x) => RenderedEffect::Execute(x.clone()),
            Effect::Page(p) => RenderedEffect::Page(super::paging::render(p, &deploy)),
        })
        .collect();
    RenderedOutcome {
        events,
        effects,
        reports,
    }
}

/// Opens a deploy ([`deploy::start`]), in words.
pub fn start(info: DeployInfo, policy: Policy, now_ms: i64, source: &str) -> RenderedOutcome {
    render(deploy::start(info, policy, now_ms, source))
}

/// Runs one input against `d` ([`Deploy::handle`]), in words.
pub fn handle(
    d: &Deploy,
    input: Input,
    now_ms: i64,
    source: &str,
) -> Result<RenderedOutcome, DomainError> {
    d.handle(input, now_ms, source).map(render)
}

/// Runs one input against `d` knowing other deploys ([`Deploy::handle_in`]), in words.
pub fn handle_in(
    d: &Deploy,
    input: Input,
    context: &Context,
    now_ms: i64,
    source: &str,
) -> Result<RenderedOutcome, DomainError> {
    d.handle_in(input, context, now_ms, source).map(render)
}
