//! Timeline events: the facts a deploy is folded from, and their stored shape.

use super::model::{DeployInfo, Policy};
use crate::domain::criteria::{TestResult, Verdict};
use crate::domain::decision::Choice;
use crate::domain::normal::Normals;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The typed content of a timeline event; `kind` is the tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "details", rename_all = "snake_case")]
pub enum EventData {
    DeployStarted {
        deploy: DeployInfo,
    },
    CriteriaLocked {
        policy: Policy,
        hash: String,
    },
    CheckFailed {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
        reasons: Vec<String>,
        consecutive: u32,
        failure_limit: u32,
        /// A statistical judge's test: its statistic, p-value or threshold, and counts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<TestResult>,
    },
    CheckPassed {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
        /// What held (values against bounds, or the test).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<TestResult>,
    },
    NoData {
        criterion: String,
        reason: String,
        #[serde(default)]
        consecutive: u32,
    },
    /// The metric source could not be read (recorded once per outage).
    MetricsUnavailable {
        error: String,
    },
    MetricsRestored {},
    /// No recovery within the verify timeout after the rollback.
    VerifyTimedOut {
        after_s: u64,
    },
    /// A deploy system's gate was answered differently from the last time.
    GateAnswered {
        gate: Choice,
        open: bool,
        asked_by: String,
    },
    /// An Alertmanager alert about this deploy's service. Stored as `alert_firing` or
    /// `alert_resolved` (see `kind`), which read back as this variant.
    #[serde(alias = "alert_firing", alias = "alert_resolved")]
    Alert {
        name: String,
        firing: bool,
        annotations: BTreeMap<String, String>,
    },
    Recovered {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<TestResult>,
    },
    BreachDetected {
        criteria: Vec<String>,
        /// Why it is a breach. Absent from events stored before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<BreachCause>,
    },
    CanaryWindowPassed {
        window_s: u64,
    },
    VoteCast {
        voter: String,
        name: String,
        choice: Choice,
        reason: Option<String>,
        authorized_by: String,
        tally: u32,
        quorum: u32,
    },
    VoteDenied {
        voter: String,
        name: String,
        choice: Choice,
        why: String,
    },
    Decision {
        id: String,
        action: Choice,
        decided_by: Vec<String>,
        reason: String,
    },
    /// The rollback decided (`decision_id`) was not sent to the deploy system: a newer deploy
    /// of the same service and environment started after this one, and rolling back would undo
    /// it too. A decider must confirm.
    RollbackHeldForNewerDeploy {
        decision_id: String,
        newer_id: String,
        newer_version: String,
    },
    /// A decider confirmed the held rollback: the deploy system is called.
    RollbackConfirmed {
        decision_id: String,
        /// Whom the confirmation counts for (as a vote's `voter`).
        by: String,
        name: String,
        authorized_by: String,
    },
    RollbackStarted {
        decision_id: String,
        detail: String,
    },
    RollbackSucceeded {
        decision_id: Option<String>,
        detail: String,
    },
    RollbackFailed {
        decision_id: Option<String>,
        error: String,
        attempts: u32,
    },
    VerifyCheck {
        passed: bool,
        consecutive: u32,
        needed: u32,
        reasons: Vec<String>,
        /// Each criterion's verdict in this recovery check, so that the root shows the recovery
        /// rather than the canary's last failures. Absent from events stored before it was kept.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        criteria: Vec<RecoveryVerdict>,
    },
    RollbackVerified {
        checks: u32,
    },
    Promoted {
        decision_id: Option<String>,
        /// What the deploy system said when it promoted the deploy itself. Absent when the
        /// deciders promoted it, and from events stored before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    DeployFailed {
        reason: String,
    },
    /// Something said about the deploy: a deploy system's or canarybot's own note (`chat` absent),
    /// or what a person said in chat, pinned to the timeline (`chat`: who, when, where).
    Note {
        text: String,
        /// A person's note from chat. Absent from system notes and from events stored before
        /// people could add notes, which read and store as they were.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chat: Option<ChatNote>,
    },
    /// A person's note was withdrawn (the 📌 taken off its message). The note stays in the
    /// timeline; "What people said" leaves it out.
    NoteWithdrawn {
        message: MessageRef,
        by: Person,
    },
    /// The deploy started while a freeze covered its service.
    StartedDuringFreeze(FrozenAtStart),
    /// Nobody decided within `after_s`: the deciders were mentioned again and messaged.
    EscalationReminded {
        after_s: u64,
        deciders: Vec<String>,
    },
    /// People were paged (`providers`), under `dedup_key`, because of `reason`.
    Paged {
        providers: Vec<String>,
        dedup_key: String,
        reason: PageReason,
    },
    /// The page under `dedup_key` was resolved: a decision was recorded, or the deploy ended.
    PageResolved {
        dedup_key: String,
    },
    /// A criterion's first check within its `initial_delay`: checks until `until_ms` neither pass
    /// nor fail.
    WarmingUp {
        criterion: String,
        canary: Option<f64>,
        baseline: Option<f64>,
        until_ms: i64,
    },
    /// Too little canary traffic to judge a criterion; recorded when it starts and while it
    /// counts toward `insufficient_limit`.
    Insufficient {
        criterion: String,
        /// The canary's requests, or (`points`) the fewer points of the two tracks.
        requests: f64,
        min_requests: f64,
        consecutive: u32,
        /// Counted in points over the window (`judge = "mann-whitney"`), not requests.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        points: bool,
    },
    /// A dry-run criterion reached its failure limit: it would have breached, and did nothing.
    WouldHaveBreached {
        criterion: String,
        consecutive: u32,
    },
    /// A provider refused a page for good (a bad routing key, say): people must know nobody
    /// was paged.
    PageFailed {
        provider: String,
        error: String,
    },
    /// What each queried criterion did at this hour on the days before the deploy (the stable
    /// track), read from Prometheus once after the lock: shown beside the criteria, never judged.
    NormalRecorded(Normals),
    /// The deploy was promoted and its policy watches it: watch checks run until `until_ms`.
    WatchStarted {
        until_ms: i64,
        interval_s: u64,
        /// The criteria watched (those with a `watch_query`).
        criteria: Vec<String>,
    },
    /// A watch check found a criterion above its references by more than its ratio.
    WatchCheckFailed {
        criterion: String,
        value: f64,
        /// The same query 1 day earlier, and 7 days earlier, when they had data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        day_ago: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        week_ago: Option<f64>,
        /// The ratio the value was allowed (`watch_max_ratio`).
        ratio: f64,
        consecutive: u32,
        limit: u32,
    },
    /// A criterion that failed watch checks is within its references again.
    WatchRecovered {
        criterion: String,
        value: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        day_ago: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        week_ago: Option<f64>,
    },
    /// Criteria failed `watch_failure_limit` watch checks in a row: the promoted deploy drifts.
    DriftDetected {
        criteria: Vec<DriftReading>,
    },
    /// The watch is over: `checks` watch checks made, `drifts` drifts detected.
    WatchEnded {
        checks: u32,
        drifts: u32,
        why: WatchEnd,
    },
}

/// One criterion of a drift: its value and both references at the check that reached the limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReading {
    pub criterion: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_ago: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_ago: Option<f64>,
    /// The ratio the value was allowed (`watch_max_ratio`).
    pub ratio: f64,
    pub consecutive: u32,
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchEnd {
    /// `after_promotion` passed.
    Elapsed,
    /// The deploy is being rolled back: nothing left to watch.
    RolledBack,
}

/// The freeze a deploy started under, as its timeline keeps it: what it covered, who froze and
/// why (its own shape, so that a change to the gate's answer cannot break stored events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenAtStart {
    /// The service, or `all`.
    pub scope: String,
    /// Who froze, or `the configuration`.
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A person's freeze's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze_id: Option<String>,
    /// A scheduled freeze's window in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

impl From<&crate::domain::freeze::FreezeCause> for FrozenAtStart {
    fn from(c: &crate::domain::freeze::FreezeCause) -> Self {
        FrozenAtStart {
            scope: c.scope.clone(),
            by: c.by.clone(),
            reason: c.reason.clone(),
            freeze_id: c.freeze_id.clone(),
            when: c.when.clone(),
        }
    }
}

/// Why people were paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageReason {
    /// Nobody decided within `page_after`.
    NoDecision,
    /// The rollback failed: people must roll back by hand.
    RollbackFailed,
    /// No recovery within the verify timeout after the rollback.
    VerifyTimedOut,
}

/// Why a breach was called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachCause {
    /// The criteria failed `failure_limit` checks in a row.
    FailureLimit,
    /// The criteria had no data for `checks` checks in a row.
    NoData { checks: u32 },
    /// An Alertmanager alert is firing; `summary` is its summary or description annotation.
    AlertFiring {
        #[serde(default, skip_serializing_if = "String::is_empty")]
        summary: String,
    },
}

/// The note recorded when a rollback is done but no criterion can verify recovery.
pub const CANNOT_VERIFY: &str =
    "recovery cannot be verified: no criterion has absolute bounds (max/min)";

/// One criterion in a recovery check after a rollback: its verdict and the values checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryVerdict {
    pub criterion: String,
    pub verdict: Verdict,
    #[serde(default)]
    pub canary: Option<f64>,
    #[serde(default)]
    pub baseline: Option<f64>,
}

/// A person as a note names them: their identity (`slack:U…`, `discord:…`) and the name shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub identity: String,
    pub name: String,
}

/// A file attached to a message, kept as a link (canarybot never copies the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLink {
    pub name: String,
    pub url: String,
}

/// What a person said in chat, as a note keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatNote {
    pub author: Person,
    /// When the message was said: its place in the timeline (the event's own time is when it
    /// was added).
    pub said_at_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileLink>,
    /// Who added it, when not the author (pinned someone else's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<Person>,
    /// The message it came from; absent for `/canary note`, which is said to canarybot itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
}

impl ChatNote {
    /// Who added the note: the pinner, else the author.
    pub fn adder(&self) -> &Person {
        self.added_by.as_ref().unwrap_or(&self.author)
    }
}

/// A chat message a timeline event is tied to on one platform: the message canarybot posted for
/// it, or the message a person pinned as a note. Links to it are built by the platform
/// (`ChatPlatform`), never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    /// `slack`, `discord`: the platform's registry name.
    pub platform: String,
    /// The thread as the threads table stores it (Slack `C…/ts` of the root, Discord
    /// `channel/message/thread`).
    pub thread: String,
    /// The message in it (Slack `ts`, Discord message id).
    pub message: String,
}

impl EventData {
    /// A system note: something said by a deploy system or canarybot itself.
    pub fn note(text: impl Into<String>) -> Self {
        EventData::Note {
            text: text.into(),
            chat: None,
        }
    }

    /// The chat message the event itself names (a note's message), when it names one. Messages
    /// canarybot posted for an event are recorded by the outbox, not in the event.
    pub fn message_ref(&self) -> Option<&MessageRef> {
        match self {
            EventData::Note {
                chat: Some(chat), ..
            } => chat.message.as_ref(),
            EventData::NoteWithdrawn { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            EventData::DeployStarted { .. } => "deploy_started",
            EventData::CriteriaLocked { .. } => "criteria_locked",
            EventData::CheckFailed { .. } => "check_failed",
            EventData::CheckPassed { .. } => "check_passed",
            EventData::NoData { .. } => "no_data",
            EventData::MetricsUnavailable { .. } => "metrics_unavailable",
            EventData::MetricsRestored {} => "metrics_restored",
            EventData::VerifyTimedOut { .. } => "verify_timed_out",
            EventData::GateAnswered { .. } => "gate_answered",
            EventData::Alert { firing: true, .. } => "alert_firing",
            EventData::Alert { firing: false, .. } => "alert_resolved",
            EventData::Recovered { .. } => "recovered",
            EventData::BreachDetected { .. } => "breach_detected",
            EventData::CanaryWindowPassed { .. } => "canary_window_passed",
            EventData::VoteCast { .. } => "vote_cast",
            EventData::VoteDenied { .. } => "vote_denied",
            EventData::Decision { .. } => "decision",
            EventData::RollbackHeldForNewerDeploy { .. } => "rollback_held_for_newer_deploy",
            EventData::RollbackConfirmed { .. } => "rollback_confirmed",
            EventData::RollbackStarted { .. } => "rollback_started",
            EventData::RollbackSucceeded { .. } => "rollback_succeeded",
            EventData::RollbackFailed { .. } => "rollback_failed",
            EventData::VerifyCheck { .. } => "verify_check",
            EventData::RollbackVerified { .. } => "rollback_verified",
            EventData::Promoted { .. } => "promoted",
            EventData::DeployFailed { .. } => "deploy_failed",
            EventData::Note { .. } => "note",
            EventData::NoteWithdrawn { .. } => "note_withdrawn",
            EventData::StartedDuringFreeze(_) => "started_during_freeze",
            EventData::EscalationReminded { .. } => "escalation_reminded",
            EventData::Paged { .. } => "paged",
            EventData::PageResolved { .. } => "page_resolved",
            EventData::PageFailed { .. } => "page_failed",
            EventData::WouldHaveBreached { .. } => "would_have_breached",
            EventData::WarmingUp { .. } => "warming_up",
            EventData::Insufficient { .. } => "insufficient",
            EventData::NormalRecorded(_) => "normal_recorded",
            EventData::WatchStarted { .. } => "watch_started",
            EventData::WatchCheckFailed { .. } => "watch_check_failed",
            EventData::WatchRecovered { .. } => "watch_recovered",
            EventData::DriftDetected { .. } => "drift_detected",
            EventData::WatchEnded { .. } => "watch_ended",
        }
    }

    /// The `details` half of the serialized event as JSON text, as it is stored and exported.
    /// Serialized straight to text (no `Value` tree): timelines of thousands of events are
    /// written and exported this way.
    pub fn details_json(&self) -> String {
        const DETAILS: &str = ",\"details\":";
        let whole = serde_json::to_string(self).unwrap_or_default();
        // Adjacently tagged: `{"kind":"…","details":…}`; tags are snake_case names, so the
        // first `,"details":` is the field.
        match whole.find(DETAILS) {
            Some(at) if whole.ends_with('}') => {
                whole[at + DETAILS.len()..whole.len() - 1].to_string()
            }
            _ => "null".to_string(),
        }
    }

    /// Rebuilds an event from its stored kind and details: `{"kind": kind, "details": details}`
    /// is what it reads (the store has the database write timelines in that shape).
    pub fn from_parts(kind: &str, details: &str) -> Result<Self, String> {
        // The tag first, so serde reads the details straight into the variant (a `Value` or
        // the tag last would make it buffer them first).
        let tag = serde_json::to_string(kind).map_err(|e| e.to_string())?;
        serde_json::from_str(&format!("{{\"kind\":{tag},\"details\":{details}}}"))
            .map_err(|e| format!("event kind `{kind}`: {e}"))
    }
}

/// One entry in a deploy's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    /// Where the input came from: `deploy-webhook`, `metrics`, `slack`, `executor`, `canarybot`…
    pub source: String,
    pub summary: String,
    pub data: EventData,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_check_stored_before_its_verdicts_were_kept_still_reads() {
        let old = r#"{"passed":true,"consecutive":1,"needed":2,"reasons":[]}"#;
        let e = EventData::from_parts("verify_check", old).expect("reads");
        assert!(matches!(&e, EventData::VerifyCheck { criteria, .. } if criteria.is_empty()));
        assert_eq!(e.details_json(), old, "and is stored as it was");
    }

    #[test]
    fn breaches_and_promotions_stored_before_their_new_facts_read_and_store_as_they_were() {
        for (kind, old) in [
            ("breach_detected", r#"{"criteria":["p99 latency"]}"#),
            ("promoted", r#"{"decision_id":null}"#),
            ("promoted", r#"{"decision_id":"d/decision-7"}"#),
        ] {
            let e = EventData::from_parts(kind, old).expect("reads");
            assert_eq!(e.details_json(), old, "{kind} is stored as it was");
        }
        let new = EventData::BreachDetected {
            criteria: vec!["alert:Down".into()],
            cause: Some(BreachCause::AlertFiring {
                summary: "a \"quoted\" summary".into(),
            }),
        };
        let back = EventData::from_parts("breach_detected", &new.details_json()).expect("reads");
        assert_eq!(back, new);
    }
}
