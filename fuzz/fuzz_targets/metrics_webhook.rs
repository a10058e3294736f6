//! `POST /hooks/metrics` bodies: `server::hooks::parse_metrics_hook` (JSON, the RFC 3339 `at`,
//! `check_deploy_id`), then each sample evaluated against a criterion of the same shape as the
//! configured ones.
#![no_main]

use canarybot::domain::{Criterion, Verdict};
use canarybot::webhooks::{check_deploy_id, parse_metrics_hook};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = parse_metrics_hook(data) else {
        return;
    };
    assert!(check_deploy_id(&req.deploy_id).is_ok());
    if let Some(ms) = req.at_ms {
        // chrono's range is about ±262,000 years.
        assert!(ms.unsigned_abs() < 9_000_000_000_000_000);
    }
    let criterion = Criterion {
        name: "5xx ratio".into(),
        max: Some(0.02),
        min: Some(0.0),
        max_ratio: Some(1.5),
        max_delta: Some(0.01),
        failure_limit: 3,
        unit: Some("%".into()),
        ..Criterion::default()
    };
    for s in &req.samples {
        let e = criterion.evaluate(s.canary, s.baseline);
        if s.canary.is_none_or(|c| !c.is_finite()) {
            assert_eq!(e.verdict, Verdict::NoData);
        }
        assert_eq!(e.reasons.is_empty(), e.verdict == Verdict::Pass);
    }
});
