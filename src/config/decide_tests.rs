//! The decide phase's keys: `[service.escalation]`, the paging providers, reasons and four eyes.

use super::tests::{GOOD, env};
use super::*;

/// `GOOD` with checkout's `[service.escalation]` set to `keys` (before its criteria).
fn with_escalation(keys: &str) -> Result<Config, ConfigError> {
    let text = GOOD.replace(
        "check_interval = \"30s\"\n",
        &format!("check_interval = \"30s\"\n[service.escalation]\n{keys}\n"),
    );
    crate::registry::config_from_toml(&text, &env)
}

#[test]
fn escalation_steps_default_as_documented_and_lock_into_the_policy() {
    let c = with_escalation("").expect("valid");
    let s = c.service("checkout").expect("service");
    let p = s.policy(Vec::new()).expect("policy");
    let e = p.escalation.expect("escalation");
    assert_eq!(e.remind_after_s, Some(300));
    assert_eq!(e.page_after_s, Some(600));
    assert_eq!(e.decide_after_s, Some(1200));
    assert_eq!(e.default_decision, crate::domain::DefaultDecision::Rollback);
    // A service without the section waits for people, and its policy hash is unchanged by the
    // new keys (stored policies keep their hashes).
    let plain = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    let p = plain
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(p.escalation.is_none());
    assert!(
        !serde_json::to_string(&p)
            .expect("json")
            .contains("escalation")
    );

    let c = with_escalation(
        "page_after = \"off\"\ndecide_after = \"30m\"\ndefault_decision = \"none\"",
    )
    .expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    let e = p.escalation.expect("escalation");
    assert_eq!(e.page_after_s, None);
    assert_eq!(e.decide_after_s, Some(1800));
    assert_eq!(e.default_decision, crate::domain::DefaultDecision::None);
}

#[test]
fn escalation_steps_out_of_order_or_unreadable_are_named() {
    let e = with_escalation("remind_after = \"15m\"\npage_after = \"10m\"")
        .expect_err("out of order")
        .to_string();
    assert!(
        e.contains("service[checkout].escalation.page_after: 10m comes before remind_after (15m)"),
        "{e}"
    );
    let e = with_escalation("remind_after = \"0s\"")
        .expect_err("zero")
        .to_string();
    assert!(e.contains("escalation.remind_after: must be > 0"), "{e}");
    let e = with_escalation("remind_after = 5")
        .expect_err("no unit")
        .to_string();
    assert!(e.contains("not a duration"), "{e}");
    let e = with_escalation("remind_after = \"soon\"")
        .expect_err("bad")
        .to_string();
    assert!(e.contains("`soon` is not a duration"), "{e}");
    let e = with_escalation("default_decision = \"promote\"")
        .expect_err("bad")
        .to_string();
    assert!(e.contains("default_decision"), "{e}");
}

/// `require_reason` and `forbid_self_promote` default off (a policy without them keeps its hash)
/// and lock into the policy when set.
#[test]
fn reasons_and_four_eyes_lock_into_the_policy() {
    let plain = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    let p = plain
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(!p.require_reason && !p.forbid_self_promote);
    let json = serde_json::to_string(&p).expect("json");
    assert!(
        !json.contains("require_reason") && !json.contains("forbid_self_promote"),
        "{json}"
    );
    let text = GOOD.replace(
        "canary_window = \"15m\"",
        "canary_window = \"15m\"\nrequire_reason = true\nforbid_self_promote = true",
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(p.require_reason && p.forbid_self_promote);
    let e = crate::registry::config_from_toml(
        &GOOD.replace("canary_window = \"15m\"", "require_reason = \"yes\""),
        &env,
    )
    .expect_err("not a boolean")
    .to_string();
    assert!(e.contains("require_reason"), "{e}");
}

/// `[[people]]` `github` and `aliases` become the names a voter deploys as; bad ones are named
/// by their key, and a name tied to two people is refused.
#[test]
fn people_deploy_as_their_github_login_and_aliases() {
    let people = "\n[[people]]\nname = \"alice\"\nslack = \"U01ALICE\"\ngithub = \"alice-gh\"\naliases = [\"ci-alice\"]\n";
    let c = crate::registry::config_from_toml(&format!("{GOOD}{people}"), &env).expect("valid");
    let v = c.voter("slack:U01ALICE", "Alice A.", vec![]);
    assert_eq!(v.person.as_deref(), Some("alice"));
    assert_eq!(v.deploys_as, vec!["alice-gh", "ci-alice"]);
    assert!(c.voter("slack:U02BOB", "bob", vec![]).deploys_as.is_empty());

    let bad = "\n[[people]]\nname = \"alice\"\nslack = \"U01ALICE\"\ngithub = \"-alice_\"\naliases = [\"ci-alice\", \" \"]\n\
               [[people]]\nname = \"bob\"\nslack = \"U02BOB\"\naliases = [\"CI-Alice\"]\n";
    let e = crate::registry::config_from_toml(&format!("{GOOD}{bad}"), &env)
        .expect_err("bad people")
        .to_string();
    for expected in [
        "people[0].github: `-alice_` is not a GitHub login",
        "people[0].aliases[1]: must not be empty",
        "people[1]: the deploy actor `CI-Alice` (github or aliases) is tied to two people",
    ] {
        assert!(e.contains(expected), "{expected}: {e}");
    }
}

/// `GOOD` with `sections` added before its services.
fn with_pagers(sections: &str) -> Result<Config, ConfigError> {
    let text = format!("{sections}\n{GOOD}").replace(
        "check_interval = \"30s\"\n",
        "check_interval = \"30s\"\n[service.escalation]\n",
    );
    let lookup = |name: &str| match name {
        "PD_ROUTING_KEY" => Some("R0UTINGKEY0123456789abcdef012345".to_string()),
        "OPSGENIE_KEY" => Some("0psgenie-key-0123456789".to_string()),
        other => env(other),
    };
    crate::registry::config_from_toml(&text, &lookup)
}

#[test]
fn pagers_are_configured_with_env_keys_and_locked_into_escalations() {
    let c = with_pagers(
        "[pagerduty]\nrouting_key = \"${PD_ROUTING_KEY}\"\n[opsgenie]\napi_key = \"${OPSGENIE_KEY}\"\napi_url = \"https://api.eu.opsgenie.com\"\n",
    )
    .expect("valid");
    let pd = c.pagerduty.as_ref().expect("pagerduty");
    assert_eq!(pd.routing_key, "R0UTINGKEY0123456789abcdef012345");
    assert_eq!(pd.api_url, "https://events.pagerduty.com");
    assert!(!pd.change_events, "off unless asked");
    assert!(c.change_event_providers().is_empty());
    let og = c.opsgenie.as_ref().expect("opsgenie");
    assert_eq!(og.api_key, "0psgenie-key-0123456789");
    assert_eq!(og.api_url, "https://api.eu.opsgenie.com");
    assert_eq!(c.pagers(), vec!["pagerduty", "opsgenie"]);
    // A deploy locks the providers into its escalation.
    let s = c.service("checkout").expect("service");
    let info = crate::domain::DeployInfo {
        id: "checkout:production:1".into(),
        service: "checkout".into(),
        environment: "production".into(),
        version: "1".into(),
        ..Default::default()
    };
    let p = c.lock_policy(s, Vec::new(), &info, 0).expect("policy");
    assert_eq!(
        p.escalation.expect("escalation").pagers,
        vec!["pagerduty", "opsgenie"]
    );
    // Neither key is ever printed.
    let debug = format!("{c:?}");
    assert!(!debug.contains("R0UTINGKEY"), "{debug}");
    assert!(!debug.contains("0psgenie-key"), "{debug}");
    assert!(debug.contains("routing_key: <redacted>"), "{debug}");
    assert!(debug.contains("api_key: <redacted>"), "{debug}");
    let changes =
        with_pagers("[pagerduty]\nrouting_key = \"${PD_ROUTING_KEY}\"\nchange_events = true\n")
            .expect("valid");
    assert_eq!(changes.change_event_providers(), vec!["pagerduty"]);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    // Without a section, nobody is paged, and `page_after` says so.
    let none = with_pagers("").expect("valid");
    assert!(none.pagers().is_empty());
    let w = none.warnings().join("\n");
    assert!(
        w.contains("service[checkout].escalation.page_after: no [pagerduty] or [opsgenie] section"),
        "{w}"
    );
}

#[test]
fn pager_problems_are_named_by_key() {
    let e = with_pagers("[pagerduty]\nrouting_key = \"\"\napi_url = \"events.pagerduty.com\"\n")
        .expect_err("invalid")
        .to_string();
    assert!(
        e.contains("pagerduty.routing_key: must not be empty"),
        "{e}"
    );
    assert!(
        e.contains("pagerduty.api_url: `events.pagerduty.com` must start with http:// or https://"),
        "{e}"
    );
    let e = with_pagers("[opsgenie]\napi_key = \" \"\napi_url = \"ftp://x\"\n")
        .expect_err("invalid")
        .to_string();
    assert!(e.contains("opsgenie.api_key: must not be empty"), "{e}");
    assert!(e.contains("opsgenie.api_url: `ftp://x`"), "{e}");
    let e = with_pagers("[opsgenie]\napi_key = \"k\"\nteam = \"sre\"\n")
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("team"), "{e}");
}
