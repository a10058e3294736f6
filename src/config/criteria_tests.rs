//! A criterion's judging keys: dry runs, warm-up, traffic and the sequential judge.

use super::tests::{GOOD, env, names_all, refused};
use std::time::Duration;

#[test]
fn a_dry_run_criterion_is_written_in_the_file_and_locked() {
    let text = GOOD.replace("failure_limit = 3\n", "failure_limit = 3\ndry_run = true\n");
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(p.criteria[0].dry_run);
    // Off by default, and then absent from the stored policy (old hashes hold).
    let c = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert!(!p.criteria[0].dry_run);
    assert!(!serde_json::to_string(&p).expect("json").contains("dry_run"));
    let e = crate::registry::config_from_toml(
        &GOOD.replace(
            "failure_limit = 3\n",
            "failure_limit = 3\ndry_run = \"yes\"\n",
        ),
        &env,
    )
    .expect_err("not a bool")
    .to_string();
    assert!(e.contains("dry_run"), "{e}");
}

#[test]
fn an_initial_delay_is_a_duration_locked_with_the_criterion() {
    let text = GOOD.replace(
        "failure_limit = 3\n",
        "failure_limit = 3\ninitial_delay = \"2m\"\n",
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert_eq!(p.criteria[0].initial_delay, Some(Duration::from_secs(120)));
    assert!(
        serde_json::to_string(&p)
            .expect("json")
            .contains("\"initial_delay\":\"2m\"")
    );
    let e = crate::registry::config_from_toml(
        &GOOD.replace(
            "failure_limit = 3\n",
            "failure_limit = 3\ninitial_delay = \"soon\"\n",
        ),
        &env,
    )
    .expect_err("not a duration")
    .to_string();
    assert!(e.contains("`soon` is not a duration"), "{e}");
}

#[test]
fn traffic_keys_need_each_other_and_a_query() {
    let with =
        |keys: &str| GOOD.replace("failure_limit = 3\n", &format!("failure_limit = 3\n{keys}"));
    names_all(
        &refused(&with("requests = 'sum(x{track=\"{{track}}\"})'\n")),
        &[
            "service[checkout].criteria[0].requests: set, but min_requests is not",
            "service[checkout].criteria[0].requests: set, but the criterion has no query",
        ],
    );
    names_all(
        &refused(&with("insufficient_limit = 2\n")),
        &["criteria[0].insufficient_limit: set, but min_requests is not"],
    );
    names_all(
        &refused(&with("min_requests = -1\n")),
        &["criteria[0].min_requests: must be a number >= 0"],
    );
    let ok = crate::registry::config_from_toml(
        &with("min_requests = 200\ninsufficient_limit = 3\n"),
        &env,
    )
    .expect("pushed samples carry the count");
    let p = ok
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert_eq!(p.criteria[0].min_requests, Some(200.0));
}

#[test]
fn a_sequential_judge_needs_its_queries_and_no_bounds_it_does_not_use() {
    let with = |keys: &str| {
        GOOD.replace(
            "max = 0.01\nmax_ratio = 1.5\nfailure_limit = 3\n",
            &format!("judge = \"sequential\"\n{keys}failure_limit = 3\n"),
        )
    };
    names_all(
        &refused(&with("")),
        &[
            "service[checkout].criteria[0].errors: judge = \"sequential\" needs an errors query",
            "service[checkout].criteria[0].requests: judge = \"sequential\" needs a requests query",
        ],
    );
    let queries = "errors = 'sum(increase(errors_total{track=\"{{track}}\"}[1h]))'\nrequests = 'sum(increase(requests_total{track=\"{{track}}\"}[1h]))'\n";
    names_all(
        &refused(&with(&format!("{queries}max = 0.01\nalpha = 2\n"))),
        &[
            "criteria[0].max: not used by judge = \"sequential\"",
            "criteria[0].alpha: must be between 0 and 1",
            "criteria[0].errors: set, but there is no [prometheus] section",
        ],
    );
    names_all(
        &refused(&with("").replace("judge = \"sequential\"", "judge = \"mann-whitney\"")),
        &["unknown variant `mann-whitney`"],
    );
    let text = with(queries).replace(
        "[[service]]",
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n\n[[service]]",
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy");
    assert_eq!(
        p.criteria[0].judge,
        crate::domain::criteria::Judge::Sequential
    );
    assert!(
        serde_json::to_string(&p)
            .expect("json")
            .contains("\"judge\":\"sequential\"")
    );
}
