//! The words of the thread's replies and of private notices, one arm per fact.

use super::closing_summary;
use super::message::ChatMessage;
use crate::domain::decision::Choice;
use crate::domain::deploy::{
    BreachCause, CANNOT_VERIFY, Deploy, Direct, Notice, OnBreach, PageReason, Said,
};
use crate::present::words::{duration, values};

/// `s` when `n` is not one.
fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `: text`, or nothing for no text.
fn colon(text: Option<&str>) -> String {
    text.map(|t| format!(": {t}")).unwrap_or_default()
}

/// Why a breach was called: `reached the failure limit`, `is firing: …`.
pub fn breach_cause(cause: &BreachCause) -> String {
    match cause {
        BreachCause::FailureLimit => "reached the failure limit".to_string(),
        BreachCause::NoData { checks } => format!("had no data for {checks} checks in a row"),
        BreachCause::AlertFiring { summary } => {
            format!(
                "is firing{}",
                colon(Some(summary).filter(|s| !s.is_empty()).map(String::as_str))
            )
        }
    }
}

/// A loud message that calls the deciders by name.
fn calling_deciders(d: &Deploy, text: String, buttons: Vec<Choice>) -> ChatMessage {
    ChatMessage {
        buttons,
        loud: true,
        mentions: d.policy.deciders.clone(),
        ..ChatMessage::plain(text)
    }
}

fn loud(text: String) -> ChatMessage {
    ChatMessage {
        loud: true,
        ..ChatMessage::plain(text)
    }
}

/// The reply that tells the thread `said`, about `d` (the deploy after the input).
pub fn message(said: &Said, d: &Deploy) -> ChatMessage {
    let (service, version) = (&d.info.service, &d.info.version);
    match said {
        Said::MetricsRestored => ChatMessage::plain("✅ Metrics readable again.".into()),
        Said::MetricsUnavailable { error } => loud(format!(
            "⚠️ Cannot read the metrics: {error}. Retrying every check interval."
        )),
        Said::Failing {
            criterion,
            consecutive,
            failure_limit,
            reasons,
        } => ChatMessage::plain(format!(
            "⚠️ *{criterion}* failing ({consecutive}/{failure_limit}): {}",
            reasons.join("; ")
        )),
        Said::NoData { criterion, reason } => ChatMessage::plain(format!(
            "❔ *{criterion}*: no data ({reason}) — not counted as a pass"
        )),
        Said::PassingAgain {
            criterion,
            canary,
            baseline,
        } => ChatMessage::plain(format!(
            "✅ *{criterion}* passing again ({})",
            values(*canary, *baseline)
        )),
        Said::Breach { criteria, cause } => {
            let head = format!(
                "🚨 *BREACH* on {service} {version}: {} {}.",
                criteria.join(", "),
                breach_cause(cause)
            );
            match d.policy.on_breach {
                OnBreach::Ask => {
                    let q = d.policy.rollback_quorum;
                    calling_deciders(
                        d,
                        format!(
                            "{head} Deciders: vote *Roll back* or *Proceed* ({q} rollback vote{} decide{}).",
                            plural(q),
                            if q == 1 { "s" } else { "" },
                        ),
                        vec![Choice::Rollback, Choice::Promote],
                    )
                }
                OnBreach::Rollback => loud(format!("{head} Policy says roll back at once.")),
            }
        }
        Said::VoteRefused {
            identity,
            name,
            choice,
        } => ChatMessage::about(
            identity,
            name,
            "⛔ ",
            &format!("'s {} vote was not counted: not a decider", choice.as_str()),
        ),
        Said::VoteCast {
            identity,
            name,
            choice,
            count,
            quorum,
            reason,
        } => ChatMessage::about(
            identity,
            name,
            "🗳️ ",
            &format!(
                " votes *{}* ({count}/{quorum}){}",
                choice.as_str(),
                colon(reason.as_deref())
            ),
        ),
        Said::Decided {
            action: Choice::Rollback,
            decided_by,
            reason,
        } => loud(format!(
            "⏪ Decision: *roll back* {service} {version} (by {}; {reason}).{}",
            decided_by.join(", "),
            if d.rollback_held().is_some() {
                " Held: a newer deploy started after it."
            } else if d.policy.executor.is_some() {
                " Calling the deploy system…"
            } else {
                " No rollback executor is configured: roll back by hand, then announce `rolled_back`."
            }
        )),
        Said::Decided {
            action: Choice::Promote,
            decided_by,
            reason,
        } => ChatMessage::plain(format!(
            "✅ Decision: *promote* {service} {version} (by {}; {reason}).",
            decided_by.join(", ")
        )),
        Said::RollbackHeld {
            newer_id,
            newer_version,
        } => ChatMessage {
            confirm_rollback: true,
            ..calling_deciders(
                d,
                format!(
                    "✋ Rolling back {version} would also undo {newer_version} (deploy {newer_id}), started after it. A decider must confirm: `/canary rollback {} confirm` or the Confirm button.",
                    d.info.id
                ),
                vec![],
            )
        },
        Said::RollbackConfirmed { identity, name } => ChatMessage {
            loud: true,
            ..ChatMessage::about(
                identity,
                name,
                "⏪ ",
                &format!(
                    " confirmed the rollback of {service} {version}. Calling the deploy system…"
                ),
            )
        },
        Said::Warning { text } => loud(format!("⚠️ {text}")),
        Said::RollbackStarted { detail } => {
            ChatMessage::plain(format!("🔄 Rollback started: {detail}"))
        }
        Said::RolledBack {
            detail,
            verify_checks: Some(needed),
        } => ChatMessage::plain(format!(
            "↩️ Rolled back ({detail}). Verifying recovery: {needed} consecutive passing check{} of the absolute bounds needed.",
            plural(*needed)
        )),
        Said::RolledBack {
            detail,
            verify_checks: None,
        } => loud(format!("↩️ Rolled back ({detail}). ⚠️ {CANNOT_VERIFY}.")),
        Said::RollbackFailed { error } => calling_deciders(
            d,
            format!(
                "🚨 ROLLBACK FAILED for {service} {version}: {error}. Roll back by hand now; deciders can vote rollback again to retry."
            ),
            vec![Choice::Rollback],
        ),
        Said::RecoveryCheckFailed { reasons } => loud(format!(
            "⚠️ After the rollback, recovery check failed: {}",
            reasons.join("; ")
        )),
        Said::RecoveryVerified { checks } => ChatMessage::plain(format!(
            "✅ Recovery verified: {checks} consecutive passing checks after the rollback."
        )),
        Said::PromotedByPipeline { actor, description } => ChatMessage::plain(format!(
            "✅ Promoted by {actor}{}.{}",
            colon(description.as_deref()),
            // A watched deploy says next how it is watched after promotion.
            if d.watch.until_ms.is_some() {
                ""
            } else {
                " Watching ends."
            }
        )),
        Said::DeployFailed { actor, reason } => {
            loud(format!("❌ Deploy failed ({actor}): {reason}"))
        }
        Said::Alert {
            name,
            firing,
            summary,
        } => ChatMessage {
            loud: *firing,
            ..ChatMessage::plain(format!(
                "{} Alert *{name}* {}{}",
                if *firing { "🔔" } else { "🔕" },
                if *firing { "firing" } else { "resolved" },
                colon(Some(summary.as_str()).filter(|s| !s.is_empty()))
            ))
        },
        Said::WindowPassed => {
            let q = d.policy.promote_quorum;
            ChatMessage {
                buttons: vec![Choice::Promote, Choice::Rollback],
                ..ChatMessage::plain(format!(
                    "🟢 Canary window passed with every criterion passing. Deciders: *Proceed* to promote ({q} vote{} needed).",
                    plural(q)
                ))
            }
        }
        Said::NoRecovery { after_s } => calling_deciders(
            d,
            format!(
                "🚨 No recovery {} after rolling back {service} {version}: the signals are still outside their bounds or silent. Look now.",
                duration(*after_s as f64)
            ),
            vec![],
        ),
        Said::StartedDuringFreeze(f) => calling_deciders(
            d,
            format!(
                "🥶 *STARTED DURING A FREEZE*: {service} {version} was deployed while {} is frozen by {}{}{}. The pipeline shipped it anyway; deciders, watch it closely.",
                if f.scope == "all" {
                    "every service"
                } else {
                    f.scope.as_str()
                },
                f.by,
                f.when
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default(),
                colon(f.reason.as_deref())
            ),
            vec![],
        ),
        Said::Note { text } => ChatMessage::plain(format!("ℹ️ {text}")),
        Said::Closed => ChatMessage::plain(closing_summary(d)),
        Said::Reminder {
            waiting_s,
            deciders,
        } => {
            let buttons = match d.state {
                crate::domain::deploy::State::Canary => vec![Choice::Promote, Choice::Rollback],
                // A drift after promotion: only a rollback is left to decide.
                crate::domain::deploy::State::Promoted => vec![Choice::Rollback],
                _ => vec![Choice::Rollback, Choice::Promote],
            };
            ChatMessage {
                buttons,
                loud: true,
                mentions: deciders.clone(),
                ..ChatMessage::plain(format!(
                    "⏰ Still waiting for a decision on {service} {version} after {}.{}",
                    duration(*waiting_s as f64),
                    next_step(d, *waiting_s)
                ))
            }
        }
        Said::Paged { providers, reason } => loud(format!(
            "📟 Paged through {} ({}).",
            providers.join(" and "),
            page_reason(*reason, d)
        )),
        Said::TooLittleTraffic {
            criterion,
            requests,
            min_requests,
            checks,
            points,
        } => calling_deciders(
            d,
            format!(
                "📉 {} to judge *{criterion}*: {} {} ({} needed), {checks} checks in a row. Deciders: judge by hand — *Roll back* or *Proceed*.",
                if *points {
                    "Too few points over the window"
                } else {
                    "Too little canary traffic"
                },
                crate::domain::criteria::fmt_num(*requests),
                if *points { "points" } else { "requests" },
                crate::domain::criteria::fmt_num(*min_requests)
            ),
            vec![Choice::Rollback, Choice::Promote],
        ),
        Said::WouldHaveBreached {
            criterion,
            consecutive,
        } => ChatMessage::plain(format!(
            "🧪 Dry run: *{criterion}* would have breached now ({consecutive} failing checks in a row). Nothing is done: it is a dry run."
        )),
        Said::PageFailed { provider, error } => calling_deciders(
            d,
            format!("🚨 PAGE FAILED through {provider}: {error}. Nobody was paged through it."),
            vec![],
        ),
        Said::WatchStarted => ChatMessage::plain(format!(
            "👀 Watching {service} for {} after promotion: {} against 1 and 7 days ago.",
            crate::present::watch::span(d.policy.watch.map(|w| w.after_promotion_s).unwrap_or(0)),
            crate::present::watch::watched(d)
        )),
        Said::Drift { criteria, newer } => {
            let numbers: Vec<String> = criteria
                .iter()
                .map(|r| crate::present::watch::drift_reading(d, r))
                .collect();
            let head = format!(
                "📈 *DRIFT* on {service} {version} after promotion: {}.",
                numbers.join("; ")
            );
            match newer {
                None => {
                    let q = d.policy.rollback_quorum;
                    calling_deciders(
                        d,
                        format!(
                            "{head} It is still the latest deploy of {service} in {}. Deciders: *Roll back* ({q} vote{} decide{}).",
                            d.info.environment,
                            plural(q),
                            if q == 1 { "s" } else { "" },
                        ),
                        vec![Choice::Rollback],
                    )
                }
                Some(n) => calling_deciders(
                    d,
                    format!(
                        "{head} A newer deploy is live: {service} {} (deploy {}); rolling {version} back would undo it too, so no *Roll back* is offered here. Look at the newer deploy's thread.",
                        n.version, n.id
                    ),
                    vec![],
                ),
            }
        }
        Said::DriftRecovered {
            criterion,
            value,
            day_ago,
            week_ago,
        } => ChatMessage::plain(format!(
            "✅ *{criterion}* back within its references: {} is {}.",
            crate::present::watch::value(d, criterion, *value),
            crate::present::watch::against_references(d, criterion, *value, *day_ago, *week_ago)
        )),
        Said::AlertDuringWatch {
            name,
            summary,
            after_s,
            newer,
        } => loud(format!(
            "🔔 Alert *{name}* fired {} after {version} was promoted; {}{}",
            hours(*after_s),
            match newer {
                None => format!("it is the latest change to {service}."),
                Some(n) => format!(
                    "a newer deploy of {service} started since: {} (deploy {}).",
                    n.version, n.id
                ),
            },
            Some(summary.as_str())
                .filter(|s| !s.is_empty())
                .map(|s| format!(" Alert: {s}"))
                .unwrap_or_default()
        )),
        Said::WatchEnded {
            checks,
            drifts,
            why,
        } => ChatMessage::plain(format!(
            "👋 Stopped watching {service} {version}: {}, {}.",
            crate::present::watch::end_words(d, *why),
            crate::present::watch::checks_and_drifts(*checks, *drifts)
        )),
    }
}

/// `26 h`, `45 min`: how long after a promotion something happened.
pub fn hours(secs: u64) -> String {
    if secs >= 3600 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} min", secs / 60)
    }
}

/// What happens next if nobody decides: `` Paging in 5m.``, `` canarybot rolls back in 15m.``
fn next_step(d: &Deploy, waited_s: u64) -> String {
    let Some(e) = &d.policy.escalation else {
        return String::new();
    };
    let page = e
        .page_after_s
        .filter(|at| *at > waited_s && !e.pagers.is_empty() && !d.escalation.paged)
        .map(|at| format!(" Paging in {}.", duration((at - waited_s) as f64)));
    let decide = e
        .decide_after_s
        .filter(|at| {
            *at > waited_s
                && e.default_decision == crate::domain::deploy::DefaultDecision::Rollback
                && (d.state == crate::domain::deploy::State::Breached
                    || (d.state == crate::domain::deploy::State::Promoted && d.watch.drift_open))
        })
        .map(|at| {
            format!(
                " canarybot rolls back in {}.",
                duration((at - waited_s) as f64)
            )
        });
    [page, decide].into_iter().flatten().collect()
}

/// Why people were paged, in words.
pub fn page_reason(reason: PageReason, d: &Deploy) -> String {
    match reason {
        PageReason::NoDecision => match d.escalation.asked_at_ms {
            Some(_) => "no decision yet".to_string(),
            None => "no decision".to_string(),
        },
        PageReason::RollbackFailed => "the rollback failed".to_string(),
        PageReason::VerifyTimedOut => "no recovery after the rollback".to_string(),
    }
}

/// The text of a direct message about `d`.
pub fn direct(direct: &Direct, d: &Deploy) -> ChatMessage {
    let (service, version, env) = (&d.info.service, &d.info.version, &d.info.environment);
    match direct {
        Direct::DecisionWaiting { waiting_s } => ChatMessage::plain(format!(
            "⏰ {service} {version} in {env} has waited {} for your decision. Vote in the canary thread.{}",
            duration(*waiting_s as f64),
            d.info
                .page_url
                .as_deref()
                .map(|u| format!(" Timeline: {u}"))
                .unwrap_or_default()
        )),
    }
}

/// The text of a private notice about `d`.
pub fn notice(notice: &Notice, d: &Deploy) -> String {
    let service = &d.info.service;
    match notice {
        Notice::VoteNotOpen { choice, state } => format!(
            "Your {} vote was not counted: {service} {} is {}.",
            choice.as_str(),
            d.info.version,
            state.as_str()
        ),
        Notice::VoteAlreadyRefused { choice } => format!(
            "Your {} vote was already refused: you are not a decider for {service}.",
            choice.as_str()
        ),
        Notice::NotADecider { choice } => format!(
            "You are not a decider for {service}, so your {} vote was not counted. Deciders: {}.",
            choice.as_str(),
            d.policy.deciders.join(", ")
        ),
        Notice::VoteAlreadyCounted { choice } => {
            format!("Your {} vote is already counted.", choice.as_str())
        }
        Notice::ReasonRequired { choice } => format!(
            "Your {} vote was not counted: {service} asks for a reason with every vote. Press the button again and write the reason in the form it opens, or type `{}`.",
            choice.as_str(),
            match choice {
                Choice::Rollback => format!("/rollback {service} <reason>"),
                Choice::Promote => format!("/canary proceed {service} <reason>"),
            }
        ),
        Notice::NothingToConfirm { state } => format!(
            "Nothing to confirm: no rollback of {service} {} is waiting for confirmation (it is {}).",
            d.info.version,
            state.as_str()
        ),
        Notice::SelfPromote => format!(
            "Your promote vote was not counted: you deployed {service} {}, and {service} needs someone else to promote it. Your rollback votes count.",
            d.info.version
        ),
    }
}

/// The line posted instead of charts when the platform refuses files (no `files:write`, no
/// *Attach Files*): a link to each chart on the postmortem page, or, without a public address,
/// where to find them.
pub fn chart_fallback(
    public_url: Option<&str>,
    deploy_id: &str,
    criteria: &[String],
) -> ChatMessage {
    let id = crate::present::postmortem::path_segment(deploy_id);
    let text = match public_url {
        Some(base) => criteria
            .iter()
            .map(|c| {
                format!(
                    "📈 Chart of {c}: {}/deploys/{id}/charts/{}.png",
                    base.trim_end_matches('/'),
                    crate::present::postmortem::path_segment(c)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => format!(
            "📈 The chart of {} is on the deploy's postmortem page.",
            criteria.join(", ")
        ),
    };
    ChatMessage::plain(text)
}
