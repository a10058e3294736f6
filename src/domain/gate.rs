//! The gate before a deploy: may a deploy of this service start in this environment now? Pure: the
//! caller gathers the facts (freezes, the service's deploys, promotions upstream), this decides and
//! says which rule decided.

use super::State;
use super::freeze::{FreezeCause, FreezeKind};
use serde::{Deserialize, Serialize};

/// What the gate knows when it is asked.
#[derive(Debug, Clone, PartialEq)]
pub struct GateFacts {
    pub service: String,
    pub environment: String,
    /// The build asked about, when the asker says (a GitHub deployment's sha).
    pub sha: Option<String>,
    pub frozen: Option<FreezeCause>,
    /// The service's deploys (any environment) that are breached, rolling back or failed to roll
    /// back: `(deploy id, state)`.
    pub troubled: Vec<(String, State)>,
    /// `require_promoted_in`: the environment, and whether this sha was promoted there.
    pub upstream: Option<Upstream>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub environment: String,
    /// The deploy that promoted this sha there, if one did.
    pub promoted_by: Option<String>,
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateRule {
    /// Every rule holds.
    Open,
    Frozen,
    Breached,
    RollingBack,
    RollbackFailed,
    NotPromotedUpstream,
    /// The asker named no sha, and a promotion upstream must be of the same build.
    NoSha,
}

impl GateRule {
    /// The gate may open by itself once this clears (a held review waits for it).
    pub fn may_clear(self) -> bool {
        matches!(
            self,
            GateRule::Frozen
                | GateRule::Breached
                | GateRule::RollingBack
                | GateRule::RollbackFailed
        )
    }
}

/// The gate's answer, with the rule that decided and its words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateAnswer {
    pub open: bool,
    pub rule: GateRule,
    pub reason: String,
    /// The deploy the answer is about (a troubled deploy, the promotion upstream), for a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    /// The freeze that closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<FreezeCause>,
}

/// Decides. The order is the order a person would check: a freeze first, then the service's
/// trouble, then the promotion upstream.
pub fn decide(f: &GateFacts) -> GateAnswer {
    let closed = |rule, reason: String, deploy_id: Option<String>| GateAnswer {
        open: false,
        rule,
        reason,
        deploy_id,
        freeze: None,
    };
    if let Some(freeze) = &f.frozen {
        let why = freeze
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let reason = match freeze.kind {
            FreezeKind::Set => format!(
                "{} is frozen by {}{why}",
                frozen_scope(&freeze.scope, &f.service),
                freeze.by
            ),
            FreezeKind::Scheduled => format!(
                "{} is frozen by the configuration ({}){why}",
                frozen_scope(&freeze.scope, &f.service),
                freeze.when.as_deref().unwrap_or("scheduled")
            ),
        };
        return GateAnswer {
            freeze: Some(freeze.clone()),
            ..closed(GateRule::Frozen, reason, None)
        };
    }
    if let Some((id, state)) = f.troubled.first() {
        let (rule, what) = match state {
            State::Breached => (GateRule::Breached, "is breached"),
            State::RollingBack => (GateRule::RollingBack, "is rolling back"),
            _ => (GateRule::RollbackFailed, "failed to roll back"),
        };
        return closed(
            rule,
            format!("{} deploy {id} {what}", f.service),
            Some(id.clone()),
        );
    }
    if let Some(up) = &f.upstream {
        let Some(sha) = &f.sha else {
            return closed(
                GateRule::NoSha,
                format!(
                    "{} needs the build promoted in {} first, and no sha was given to look it up",
                    f.environment, up.environment
                ),
                None,
            );
        };
        match &up.promoted_by {
            None => {
                return closed(
                    GateRule::NotPromotedUpstream,
                    format!(
                        "{} {} was not promoted in {} yet",
                        f.service,
                        short(sha),
                        up.environment
                    ),
                    None,
                );
            }
            Some(id) => {
                return GateAnswer {
                    open: true,
                    rule: GateRule::Open,
                    reason: format!(
                        "every rule holds: not frozen, no deploy of {} in trouble, {} promoted in {} (deploy {id})",
                        f.service,
                        short(sha),
                        up.environment
                    ),
                    deploy_id: Some(id.clone()),
                    freeze: None,
                };
            }
        }
    }
    GateAnswer {
        open: true,
        rule: GateRule::Open,
        reason: format!(
            "every rule holds: not frozen, no deploy of {} in trouble",
            f.service
        ),
        deploy_id: None,
        freeze: None,
    }
}

fn frozen_scope(scope: &str, service: &str) -> String {
    if scope == "all" {
        "every service".to_string()
    } else {
        service.to_string()
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> GateFacts {
        GateFacts {
            service: "checkout".into(),
            environment: "production".into(),
            sha: Some("0123456789abcdef0123".into()),
            frozen: None,
            troubled: Vec::new(),
            upstream: None,
        }
    }

    #[test]
    fn open_when_every_rule_holds() {
        let a = decide(&facts());
        assert!(a.open);
        assert_eq!(a.rule, GateRule::Open);
        assert_eq!(
            a.reason,
            "every rule holds: not frozen, no deploy of checkout in trouble"
        );
    }

    #[test]
    fn a_freeze_closes_first_and_says_who_and_why() {
        let f = GateFacts {
            frozen: Some(FreezeCause {
                kind: FreezeKind::Set,
                scope: "all".into(),
                by: "alice".into(),
                reason: Some("incident 42".into()),
                until_ms: None,
                freeze_id: Some("f1".into()),
                when: None,
            }),
            troubled: vec![("checkout:production:1".into(), State::Breached)],
            ..facts()
        };
        let a = decide(&f);
        assert!(!a.open);
        assert_eq!(a.rule, GateRule::Frozen);
        assert_eq!(a.reason, "every service is frozen by alice: incident 42");
        assert!(a.rule.may_clear());
    }

    #[test]
    fn a_troubled_deploy_closes_and_is_named() {
        for (state, rule, words) in [
            (State::Breached, GateRule::Breached, "is breached"),
            (State::RollingBack, GateRule::RollingBack, "is rolling back"),
            (
                State::RollbackFailed,
                GateRule::RollbackFailed,
                "failed to roll back",
            ),
        ] {
            let a = decide(&GateFacts {
                troubled: vec![("checkout:staging:9".into(), state)],
                ..facts()
            });
            assert_eq!((a.open, a.rule), (false, rule));
            assert_eq!(
                a.reason,
                format!("checkout deploy checkout:staging:9 {words}")
            );
            assert_eq!(a.deploy_id.as_deref(), Some("checkout:staging:9"));
        }
    }

    #[test]
    fn production_waits_for_the_same_build_promoted_upstream() {
        let mut f = GateFacts {
            upstream: Some(Upstream {
                environment: "staging".into(),
                promoted_by: None,
            }),
            ..facts()
        };
        let a = decide(&f);
        assert_eq!((a.open, a.rule), (false, GateRule::NotPromotedUpstream));
        assert_eq!(
            a.reason,
            "checkout 0123456789ab was not promoted in staging yet"
        );
        assert!(!a.rule.may_clear(), "a held review does not wait for it");
        f.upstream = Some(Upstream {
            environment: "staging".into(),
            promoted_by: Some("checkout:staging:0123".into()),
        });
        let a = decide(&f);
        assert!(a.open);
        assert!(
            a.reason
                .contains("0123456789ab promoted in staging (deploy checkout:staging:0123)")
        );
        f.sha = None;
        assert_eq!(decide(&f).rule, GateRule::NoSha);
    }
}
