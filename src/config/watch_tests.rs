//! Watching after promotion: `[service.watch]` and the criteria's `watch_*` keys.

use super::tests::{GOOD, env};
use super::*;

/// `GOOD` with a `[prometheus]` section, checkout's criterion given `criterion_keys` and its
/// `[service.watch]` set to `watch` (none: no section).
fn with_watch(criterion_keys: &str, watch: Option<&str>) -> Result<Config, ConfigError> {
    let mut text = GOOD.replace(
        "failure_limit = 3\n",
        &format!("failure_limit = 3\n{criterion_keys}\n"),
    );
    text = text.replace(
        "[[service]]\n",
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n[[service]]\n",
    );
    if let Some(keys) = watch {
        text = text.replace(
            "check_interval = \"30s\"\n",
            &format!("check_interval = \"30s\"\n[service.watch]\n{keys}\n"),
        );
    }
    crate::registry::config_from_toml(&text, &env)
}

const QUERY: &str =
    r#"watch_query = 'sum(rate(errors{service="{{service}}",env="{{environment}}"}[5m]))'"#;

#[test]
fn a_watch_defaults_as_documented_and_locks_into_the_policy() {
    let c = with_watch(QUERY, Some("")).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert_eq!(
        p.watch,
        Some(crate::domain::WatchPolicy {
            after_promotion_s: 48 * 3600,
            interval_s: 300
        })
    );
    assert_eq!(p.criteria[0].watch_ratio(), 1.5);
    assert_eq!(p.criteria[0].watch_limit(), 6);
    let c = with_watch(
        &format!("{QUERY}\nwatch_max_ratio = 2\nwatch_failure_limit = 3"),
        Some("after_promotion = \"24h\"\ninterval = \"1m\""),
    )
    .expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert_eq!(
        p.watch.map(|w| (w.after_promotion_s, w.interval_s)),
        Some((86_400, 60))
    );
    assert_eq!(
        (p.criteria[0].watch_ratio(), p.criteria[0].watch_limit()),
        (2.0, 3)
    );
    // Without a watch the policy, and so its hash, is as before.
    let plain = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    let p = plain
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(!serde_json::to_string(&p).expect("json").contains("watch"));
}

#[test]
fn watch_problems_are_named_by_key() {
    let problem = |keys: &str, watch: Option<&str>| match with_watch(keys, watch) {
        Ok(_) => panic!("accepted: {keys} / {watch:?}"),
        Err(e) => e.to_string(),
    };
    let e = problem(
        r#"watch_query = 'rate(x{service="{{service}}",track="{{track}}"}[5m])'"#,
        Some(""),
    );
    assert!(
        e.contains("service[checkout].criteria[0].watch_query: `{{track}}` cannot be used"),
        "{e}"
    );
    let e = problem(
        r#"watch_query = 'rate(x{version="{{version}}"}[5m])'"#,
        None,
    );
    assert!(
        e.contains("criteria[0].watch_query: `{{version}}` cannot be used"),
        "{e}"
    );
    let e = problem(r#"watch_query = 'rate(x{s="{{servce}}"}[5m])'"#, None);
    assert!(
        e.contains("criteria[0].watch_query: unknown placeholder `{{servce}}`"),
        "{e}"
    );
    let e = problem(&format!("{QUERY}\nwatch_max_ratio = 1"), None);
    assert!(
        e.contains("criteria[0].watch_max_ratio: must be a number > 1"),
        "{e}"
    );
    let e = problem(&format!("{QUERY}\nwatch_failure_limit = 0"), None);
    assert!(
        e.contains("criteria[0].watch_failure_limit: must be >= 1"),
        "{e}"
    );
    let e = problem("watch_max_ratio = 2", None);
    assert!(
        e.contains("criteria[0].watch_max_ratio: set, but watch_query is not"),
        "{e}"
    );
    let e = problem("", Some(""));
    assert!(
        e.contains("service[checkout].watch: service checkout has [service.watch] but no criterion with a watch_query"),
        "{e}"
    );
    let e = problem(QUERY, Some("interval = \"5\""));
    assert!(e.contains("interval") && e.contains("has no unit"), "{e}");
    let e = problem(QUERY, Some("intervall = \"5m\""));
    assert!(e.contains("intervall"), "{e}");
    let e = problem(QUERY, Some("after_promotion = \"1m\"\ninterval = \"5m\""));
    assert!(
        e.contains("service[checkout].watch.interval: 5m is longer than after_promotion"),
        "{e}"
    );
}
