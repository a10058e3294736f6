//! `POST /hooks/github` bodies (`deployment`, `deployment_status`, `ping`, anything else GitHub
//! sends): `github::payload::parse_payload` under each event name, then what the handler reads
//! before it needs the store: the version (`Deployment::version`, `ref@sha7`, made
//! deploy-id-safe) and whether it is a rollback.
#![no_main]

use canarybot::github::payload::{Deployment, GithubEvent, parse_payload};
use libfuzzer_sys::fuzz_target;

fn check(deployment: &Deployment) {
    let version = deployment.version();
    assert!(
        !version.contains(|c: char| c.is_whitespace()
            || c.is_control()
            || matches!(c, '/' | '?' | '#' | '%' | '\\')),
        "version {version:?} cannot stand in a deploy id"
    );
    if deployment.undoes().is_some() {
        assert!(deployment.is_rollback());
    }
}

fuzz_target!(|data: &[u8]| {
    // The body as a deployment on its own, and as each event.
    if let Ok(d) = serde_json::from_slice::<Deployment>(data) {
        check(&d);
    }
    for event in [
        "deployment",
        "deployment_status",
        "deployment_protection_rule",
        "ping",
        "push",
    ] {
        match parse_payload(event, data) {
            Ok(GithubEvent::Deployment(e)) => check(&e.deployment),
            Ok(GithubEvent::DeploymentStatus(e)) => check(&e.deployment),
            Ok(GithubEvent::ProtectionRule(e)) => {
                assert_eq!(event, "deployment_protection_rule");
                if let Some(d) = &e.deployment {
                    check(&d.deployment);
                }
            }
            Ok(GithubEvent::Ping(_)) => assert_eq!(event, "ping"),
            Ok(GithubEvent::Other(name)) => assert_eq!(name, event),
            Err(e) => assert_eq!(e.status, 400),
        }
    }
});
