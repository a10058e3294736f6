//! `POST /hooks/deploy` bodies: `server::hooks::parse_deploy_hook` (JSON, required fields, the
//! default environment and deploy id, `check_deploy_id`), then the criteria checks a `started`
//! deploy goes through (`started_criteria_problems`, i.e. `config::criteria_problems`), and each
//! usable criterion evaluated as the engine would.
#![no_main]

use canarybot::webhooks::{
    DeployEventKind, check_deploy_id, parse_deploy_hook, started_criteria_problems,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The id rule alone, on raw text (ids also come from URLs and chat).
    if let Ok(text) = std::str::from_utf8(data) {
        if check_deploy_id(text).is_ok() {
            assert!(!text.is_empty() && text.len() <= 200);
            assert!(!text.contains(['/', '?', '#', '%', '\\']));
        }
    }
    let Ok(req) = parse_deploy_hook(data) else {
        return;
    };
    let hook = &req.hook;
    assert!(!hook.service.trim().is_empty());
    assert!(!hook.version.trim().is_empty());
    assert!(!req.environment.trim().is_empty());
    assert!(check_deploy_id(&req.deploy_id).is_ok());
    if hook.deploy_id.is_none() {
        assert_eq!(
            req.deploy_id,
            format!("{}:{}:{}", hook.service, req.environment, hook.version)
        );
    }
    if hook.event != DeployEventKind::Started {
        return;
    }
    for has_prometheus in [false, true] {
        let problems = started_criteria_problems(&hook.criteria, has_prometheus);
        for p in &problems {
            assert!(p.starts_with("criteria["), "{p}");
        }
    }
    let problems = started_criteria_problems(&hook.criteria, true);
    for (i, c) in hook.criteria.iter().enumerate() {
        if problems
            .iter()
            .any(|p| p.starts_with(&format!("criteria[{i}].")))
        {
            continue;
        }
        for (canary, baseline) in [
            (Some(0.0), Some(0.0)),
            (Some(1.0), Some(0.5)),
            (Some(-1e308), Some(1e308)),
            (Some(f64::NAN), Some(1.0)),
            (Some(1.0), None),
            (None, Some(1.0)),
        ] {
            let e = c.evaluate(canary, baseline);
            assert_eq!(
                e.reasons.is_empty(),
                e.verdict == canarybot::domain::Verdict::Pass
            );
            let _ = c.evaluate_absolute(canary, "canary");
        }
    }
});
