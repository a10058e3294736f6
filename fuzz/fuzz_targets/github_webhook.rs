//! `POST /hooks/github` bodies (`deployment`, `deployment_status`, anything else GitHub sends):
//! `github::hooks::parse_payload`, then what the handler reads before it needs the store: the
//! version (`version_of`, `ref@sha7`, made deploy-id-safe) and whether it is a rollback.
#![no_main]

use canarybot::github::hooks::{is_rollback, parse_payload, version_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = parse_payload(data) else {
        return;
    };
    for deployment in [&v["deployment"], &v] {
        let version = version_of(deployment);
        assert!(
            !version.contains(|c: char| c.is_whitespace()
                || c.is_control()
                || matches!(c, '/' | '?' | '#' | '%' | '\\')),
            "version {version:?} cannot stand in a deploy id"
        );
        let _ = is_rollback(deployment);
    }
});
