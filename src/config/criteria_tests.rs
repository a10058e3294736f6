//! A criterion's judging keys: dry runs, warm-up, traffic and the statistical judges.

use super::tests::{GOOD, env, names_all, refused};
use std::time::Duration;

/// The locked policy of the file's `checkout` service.
fn policy_of(text: &str) -> crate::domain::Policy {
    crate::registry::config_from_toml(text, &env)
        .expect("valid")
        .service("checkout")
        .expect("service")
        .policy(Vec::new())
        .expect("policy")
}

#[test]
fn a_dry_run_criterion_is_written_in_the_file_and_locked() {
    let text = GOOD.replace("failure_limit = 3\n", "failure_limit = 3\ndry_run = true\n");
    let p = policy_of(&text);
    assert!(p.criteria[0].dry_run);
    // Off by default, and then absent from the stored policy (old hashes hold).
    let p = policy_of(GOOD);
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
    let p = policy_of(&text);
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
        &refused(&with("").replace("judge = \"sequential\"", "judge = \"bayesian\"")),
        &[
            "unknown variant `bayesian`",
            "threshold",
            "sequential",
            "mann-whitney",
        ],
    );
    let text = with(queries).replace(
        "[[service]]",
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n\n[[service]]",
    );
    let p = policy_of(&text);
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

#[test]
fn a_mann_whitney_judge_needs_a_query_and_a_window_that_holds_its_points() {
    let with = |keys: &str| {
        GOOD.replace(
            "max = 0.01\nmax_ratio = 1.5\nfailure_limit = 3\n",
            &format!("judge = \"mann-whitney\"\n{keys}failure_limit = 3\n"),
        )
    };
    names_all(
        &refused(&with("max = 0.5\nalpha = 0.01\n")),
        &[
            "service[checkout].criteria[0].query: judge = \"mann-whitney\" needs a query",
            "criteria[0].max: not used by judge = \"mann-whitney\"",
            "criteria[0].alpha: only judge = \"sequential\" uses it",
        ],
    );
    let query = "query = 'histogram_quantile(0.99, sum by (le) (rate(http_seconds_bucket{track=\"{{track}}\"}[1m])))'\n";
    // The 15s step holds 41 points in 10 minutes: fewer than the 50 needed.
    names_all(
        &refused(&with(&format!("{query}step = \"15s\"\n"))),
        &["criteria[0].min_points: 50 points cannot fit in a 10m window at a 15s step (41 points)"],
    );
    names_all(
        &refused(&with(&format!(
            "{query}window = \"1m\"\nstep = \"2m\"\nconfidence = 1.5\neffect_size = -0.1\ndirection = \"up\"\n"
        ))),
        &["unknown variant `up`", "increase", "decrease", "either"],
    );
    names_all(
        &refused(&with(&format!(
            "{query}window = \"1m\"\nstep = \"2m\"\nconfidence = 1.5\neffect_size = -0.1\n"
        ))),
        &[
            "criteria[0].step: must not be longer than the window (1m)",
            "criteria[0].confidence: must be between 0 and 1",
            "criteria[0].effect_size: must be a fraction >= 0",
        ],
    );
    names_all(
        &refused(&with(&format!("{query}window = \"24h\"\nstep = \"1s\"\n"))),
        &[
            "criteria[0].step: a 1day window at a 1s step is 86401 points; Prometheus answers at most 11000",
        ],
    );
    names_all(
        &refused(&with(&format!("{query}step = \"0s\"\n"))),
        &["criteria[0].step: must be at least 1ms"],
    );
    // Another judge's keys are refused by name.
    names_all(
        &refused(&GOOD.replace(
            "failure_limit = 3\n",
            "failure_limit = 3\nwindow = \"5m\"\n",
        )),
        &["criteria[0].window: only judge = \"mann-whitney\" uses it"],
    );
    let text = with(&format!(
        "{query}direction = \"decrease\"\nwindow = \"5m\"\nstep = \"5s\"\nmin_points = 40\nunit = \"ms\"\n"
    ))
    .replace(
        "[[service]]",
        "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n\n[[service]]",
    );
    let p = policy_of(&text);
    let crit = &p.criteria[0];
    assert_eq!(crit.judge, crate::domain::criteria::Judge::MannWhitney);
    assert_eq!(crit.window, Some(Duration::from_secs(300)));
    assert_eq!(crit.window_points(), 61);
    assert_eq!(
        crit.bounds(),
        "median > baseline −10 % (Mann-Whitney, 95 % confidence, 5m window)"
    );
    // Locked with the criteria: the stored policy says how it is judged.
    let json = serde_json::to_string(&p).expect("json");
    assert!(json.contains("\"judge\":\"mann-whitney\""), "{json}");
    assert!(json.contains("\"direction\":\"decrease\""), "{json}");
    // The defaults alone (10m window, 10s step, 50 points) are a valid judge.
    crate::registry::config_from_toml(
        &with(query).replace(
            "[[service]]",
            "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n\n[[service]]",
        ),
        &env,
    )
    .expect("the defaults fit together");
}
