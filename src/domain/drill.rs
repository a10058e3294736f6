//! Rollback drills: the synthetic signal a drill breaches and the policy a drill is judged by.

use super::criteria::Criterion;
use super::deploy::{DRILL_CRITERION, Deploy, Policy, Sample, State};

/// The criterion a drill is judged by: the synthetic signal is 0 until the breach, then 1 until
/// the rollback is done. One failing check is the breach.
pub fn criterion() -> Criterion {
    Criterion {
        name: DRILL_CRITERION.to_string(),
        max: Some(0.0),
        failure_limit: 1,
        ..Criterion::default()
    }
}

/// A service's policy turned into a drill's: the same deciders, quorums, executor and
/// verification, judged by the synthetic `drill` criterion only. The canary window is set past the
/// breach so a drill is never promoted by waiting.
pub fn policy(mut service_policy: Policy, breach_after_s: u64) -> Policy {
    service_policy.criteria = vec![criterion()];
    service_policy.canary_window_s = service_policy
        .canary_window_s
        .max(breach_after_s.saturating_add(3600));
    service_policy.no_data_limit = 0;
    // A drill is never promoted for real: nothing to watch after it.
    service_policy.watch = None;
    service_policy
}

/// The synthetic sample for a drill at `now_ms`, or `None` for a real deploy. The signal is bad
/// from `breach_after` until the rollback has been carried out, so recovery is verified by the
/// same consecutive passing checks as a real rollback.
pub fn sample(d: &Deploy, now_ms: i64) -> Option<Sample> {
    let drill = d.info.drill?;
    let breach_at = d.started_at_ms + (drill.breach_after_s as i64) * 1000;
    let bad = now_ms >= breach_at
        && matches!(
            d.state,
            State::Canary | State::Breached | State::RollingBack | State::RollbackFailed
        );
    let value = if bad { 1.0 } else { 0.0 };
    Some(Sample {
        criterion: DRILL_CRITERION.to_string(),
        canary: Some(value),
        baseline: Some(0.0),
        ..Sample::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_signal_breaches_after_the_delay_until_rolled_back() {
        use crate::domain::deploy::{DeployInfo, start};
        use crate::domain::{Deploy, OnBreach, OnPass};
        let info = DeployInfo {
            id: "drill-x".into(),
            service: "x".into(),
            environment: "drill".into(),
            version: "drill #1".into(),
            drill: Some(crate::domain::Drill {
                breach_after_s: 30,
                page: false,
            }),
            ..DeployInfo::default()
        };
        let p = policy(
            Policy {
                criteria: vec![],
                deciders: vec!["slack:U1".into()],
                rollback_quorum: 1,
                promote_quorum: 1,
                on_breach: OnBreach::Ask,
                on_pass: OnPass::Promote,
                canary_window_s: 600,
                verify_checks: 2,
                executor: None,
                no_data_limit: 3,
                verify_timeout_s: 600,
                escalation: None,
                require_reason: false,
                forbid_self_promote: false,
                watch: None,
            },
            30,
        );
        assert_eq!(p.criteria, vec![criterion()]);
        assert!(p.canary_window_s > 30 + 600, "never promoted by waiting");
        let out = start(info, p, 1_000, "test");
        let mut d = Deploy::fold(&out.events).expect("fold");
        assert_eq!(sample(&d, 30_999).and_then(|s| s.canary), Some(0.0));
        assert_eq!(sample(&d, 31_000).and_then(|s| s.canary), Some(1.0));
        d.state = State::RolledBack;
        assert_eq!(sample(&d, 60_000).and_then(|s| s.canary), Some(0.0));
        let c = criterion();
        assert_eq!(
            c.evaluate(Some(1.0), Some(0.0)).verdict,
            crate::domain::Verdict::Fail
        );
        assert_eq!(
            c.evaluate(Some(0.0), Some(0.0)).verdict,
            crate::domain::Verdict::Pass
        );
    }
}
