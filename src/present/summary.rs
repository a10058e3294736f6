//! The one-line summary of each timeline event, stored with it and shown in the timeline, the
//! postmortem and the page.

use super::chat::said::breach_cause;
use super::words::{duration, values};
use crate::domain::deploy::{Deploy, Event, EventData};

/// `: text`, or nothing when there is none.
fn colon(text: Option<&str>) -> String {
    text.map(|t| format!(": {t}")).unwrap_or_default()
}

/// The summary of event `data` of deploy `d` (the deploy after the input that caused it).
pub fn summary(data: &EventData, d: &Deploy) -> String {
    match data {
        EventData::DeployStarted { deploy } => format!(
            "{} {} started in {}",
            deploy.service, deploy.version, deploy.environment
        ),
        EventData::CriteriaLocked { policy, hash } => format!(
            "criteria locked: {} (hash {})",
            policy
                .criteria
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            hash.get(..12).unwrap_or(hash)
        ),
        EventData::CheckFailed {
            criterion,
            reasons,
            consecutive,
            failure_limit,
            ..
        } => format!(
            "{criterion} failing {consecutive}/{failure_limit}: {}",
            reasons.join("; ")
        ),
        EventData::CheckPassed {
            criterion,
            canary,
            baseline,
            reasons,
            ..
        } => format!(
            "{criterion} passing ({}){}",
            values(*canary, *baseline),
            colon_reasons(reasons)
        ),
        EventData::NoData {
            criterion, reason, ..
        } => format!("{criterion}: no data ({reason})"),
        EventData::MetricsUnavailable { error } => format!("metrics unavailable: {error}"),
        EventData::MetricsRestored {} => "metrics readable again".to_string(),
        EventData::VerifyTimedOut { after_s } => format!(
            "no recovery {} after the rollback",
            duration(*after_s as f64)
        ),
        EventData::GateAnswered {
            gate,
            open,
            asked_by,
        } => format!(
            "{asked_by} {} gate: {}",
            gate.as_str(),
            if *open { "open" } else { "closed" }
        ),
        EventData::Alert {
            name,
            firing,
            annotations,
        } => {
            let said = annotations
                .get("summary")
                .or_else(|| annotations.get("description"))
                .filter(|s| !s.is_empty());
            let said = colon(said.map(String::as_str));
            format!(
                "alert {name} {}{said}",
                if *firing { "firing" } else { "resolved" }
            )
        }
        EventData::Recovered {
            criterion,
            canary,
            baseline,
            reasons,
            ..
        } => format!(
            "{criterion} passing again ({}){}",
            values(*canary, *baseline),
            colon_reasons(reasons)
        ),
        EventData::BreachDetected { criteria, cause } => match cause {
            Some(cause) => format!("BREACH: {} {}", criteria.join(", "), breach_cause(cause)),
            None => format!("BREACH: {}", criteria.join(", ")),
        },
        EventData::CanaryWindowPassed { window_s } => format!(
            "canary window of {} passed with every criterion passing",
            duration(*window_s as f64)
        ),
        EventData::VoteCast {
            name,
            choice,
            reason,
            tally,
            quorum,
            ..
        } => format!(
            "{name} votes {} ({tally}/{quorum}){}",
            choice.as_str(),
            colon(reason.as_deref())
        ),
        EventData::VoteDenied {
            name, choice, why, ..
        } => format!("{} vote by {name} refused: {why}", choice.as_str()),
        EventData::Decision {
            action,
            decided_by,
            reason,
            ..
        } => format!(
            "decision: {} by {} ({reason})",
            action.as_str(),
            decided_by.join(", ")
        ),
        EventData::RollbackHeldForNewerDeploy {
            newer_id,
            newer_version,
            ..
        } => format!(
            "rollback held: rolling back {} would also undo {newer_version} (deploy {newer_id}), started after it; a decider must confirm",
            d.info.version
        ),
        EventData::RollbackConfirmed { name, .. } => {
            format!("rollback confirmed by {name}: calling the deploy system")
        }
        EventData::RollbackStarted { detail, .. } => format!("rollback started: {detail}"),
        EventData::RollbackSucceeded { detail, .. } => format!("rollback succeeded: {detail}"),
        EventData::RollbackFailed { error, .. } => format!("ROLLBACK FAILED: {error}"),
        EventData::VerifyCheck {
            passed,
            consecutive,
            needed,
            reasons,
            ..
        } => {
            if *passed {
                format!("recovery check passed ({consecutive}/{needed})")
            } else {
                format!("recovery check failed: {}", reasons.join("; "))
            }
        }
        EventData::RollbackVerified { checks } => {
            format!("recovery verified after {checks} passing checks")
        }
        EventData::Promoted { description, .. } => format!(
            "{} {} promoted{}",
            d.info.service,
            d.info.version,
            colon(description.as_deref())
        ),
        EventData::DeployFailed { reason } => format!("deploy failed: {reason}"),
        EventData::Note { text, chat: None } => text.clone(),
        // The time it was added is the event's: `fill` words it with that.
        EventData::Note {
            text,
            chat: Some(chat),
        } => super::notes::summary(text, chat, chat.said_at_ms),
        EventData::NoteWithdrawn { by, .. } => {
            format!(
                "note withdrawn by {}: the 📌 was taken off its message",
                by.name
            )
        }
        EventData::StartedDuringFreeze(f) => format!(
            "started during a freeze of {} by {}{}",
            if f.scope == "all" {
                "every service"
            } else {
                &f.scope
            },
            f.by,
            colon(f.reason.as_deref())
        ),
        EventData::EscalationReminded { after_s, deciders } => format!(
            "no decision after {}: reminded {}",
            duration(*after_s as f64),
            deciders.join(", ")
        ),
        EventData::Paged {
            providers, reason, ..
        } => format!(
            "paged through {} ({})",
            providers.join(", "),
            super::chat::said::page_reason(*reason, d)
        ),
        EventData::PageResolved { .. } => "page resolved".to_string(),
        EventData::Insufficient {
            criterion,
            requests,
            min_requests,
            consecutive,
            points,
        } => format!(
            "{criterion}: {} to judge ({} {}, {} needed; {consecutive} in a row)",
            if *points {
                "too few points"
            } else {
                "too little canary traffic"
            },
            crate::domain::criteria::fmt_num(*requests),
            if *points { "points" } else { "requests" },
            crate::domain::criteria::fmt_num(*min_requests)
        ),
        EventData::WarmingUp {
            criterion,
            canary,
            baseline,
            until_ms,
        } => format!(
            "{criterion} warming up until {} ({}): neither pass nor fail",
            super::words::timestamp(*until_ms),
            values(*canary, *baseline)
        ),
        EventData::WouldHaveBreached {
            criterion,
            consecutive,
        } => format!(
            "{criterion} would have breached (dry run, {consecutive} failing checks in a row)"
        ),
        EventData::PageFailed { provider, error } => {
            format!("page through {provider} failed: {error}")
        }
        EventData::NormalRecorded(normals) => {
            let said: Vec<String> = super::normal::lines(&d.policy.criteria, normals)
                .into_iter()
                .map(|(name, words)| format!("{name} {words}"))
                .collect();
            format!(
                "normal at {} on {} recorded: {}",
                super::normal::hour_words(normals.at_ms),
                super::normal::days_words(normals.days),
                if said.is_empty() {
                    "no criterion was asked".to_string()
                } else {
                    said.join("; ")
                }
            )
        }
        EventData::WatchStarted {
            until_ms, criteria, ..
        } => format!(
            "watching {} after promotion until {}: {} against 1 and 7 days ago",
            d.info.service,
            super::words::timestamp(*until_ms),
            criteria.join(", ")
        ),
        EventData::WatchCheckFailed {
            criterion,
            value,
            day_ago,
            week_ago,
            ratio,
            consecutive,
            limit,
        } => format!(
            "watch: {criterion} {} is {} (more than {}× allowed), {consecutive}/{limit}",
            super::watch::value(d, criterion, *value),
            super::watch::against_references(d, criterion, *value, *day_ago, *week_ago),
            crate::domain::criteria::fmt_num(*ratio)
        ),
        EventData::WatchRecovered {
            criterion,
            value,
            day_ago,
            week_ago,
        } => format!(
            "watch: {criterion} back within its references ({} is {})",
            super::watch::value(d, criterion, *value),
            super::watch::against_references(d, criterion, *value, *day_ago, *week_ago)
        ),
        EventData::DriftDetected { criteria } => format!(
            "DRIFT after promotion: {}",
            criteria
                .iter()
                .map(|r| super::watch::drift_reading(d, r))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        EventData::WatchEnded {
            checks,
            drifts,
            why,
        } => format!(
            "stopped watching: {}, {}",
            super::watch::end_words(d, *why),
            super::watch::checks_and_drifts(*checks, *drifts)
        ),
    }
}

/// Fills the summary of each new event of `d`.
pub fn fill(events: &mut [Event], d: &Deploy) {
    for e in events {
        e.summary = match &e.data {
            EventData::Note {
                text,
                chat: Some(chat),
            } => super::notes::summary(text, chat, e.at_ms),
            // An alert while the promoted deploy is watched: how long after the promotion.
            EventData::Alert { firing: true, .. }
                if d.state == crate::domain::deploy::State::Promoted
                    && d.watch.open()
                    && d.watch.started_at_ms.is_some() =>
            {
                let after = e.at_ms - d.watch.started_at_ms.unwrap_or(e.at_ms);
                format!(
                    "{}; {} after {} {} was promoted",
                    summary(&e.data, d),
                    super::chat::said::hours((after / 1000).max(0) as u64),
                    d.info.service,
                    d.info.version
                )
            }
            data => summary(data, d),
        };
    }
}

/// `: canary 0.004 ≤ max 0.01` — what held, when the check says.
fn colon_reasons(reasons: &[String]) -> String {
    if reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", reasons.join("; "))
    }
}
