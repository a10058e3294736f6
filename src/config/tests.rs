use super::*;
use std::time::Duration;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"
api_tokens = ["${TOKEN}"]
[database]
url = "sqlite://x.db"
[webhooks]
secrets = ["${SECRET}", "an-older-secret-still-valid"]
[[service]]
name = "checkout"
deciders = ["slack:U01ALICE", "slack-group:S01SRE"]
canary_window = "15m"
check_interval = "30s"
[[service.criteria]]
name = "5xx ratio"
max = 0.01
max_ratio = 1.5
failure_limit = 3
[service.rollback]
kind = "webhook"
url = "http://127.0.0.1:9/rollback"
timeout = "10s"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("token-0123456789abcdef".into()),
        "SECRET" => Some("secret-0123456789abcdef".into()),
        _ => None,
    }
}

#[test]
fn parses_with_env_and_defaults() {
    let c = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    assert_eq!(c.webhooks.secrets[0], "secret-0123456789abcdef");
    let s = c.service("checkout").expect("service");
    assert_eq!(s.canary_window, Duration::from_secs(900));
    assert_eq!(s.verify_checks, 2);
    let retries = |r: &RollbackConfig| match r {
        RollbackConfig::Webhook(w) => w.retries,
        _ => 0,
    };
    assert_eq!(s.rollback.as_ref().map(retries), Some(3));
    assert!(c.warnings().is_empty());
}

#[test]
fn missing_env_var_is_named() {
    let err =
        crate::registry::config_from_toml(GOOD, &|n| if n == "TOKEN" { env(n) } else { None })
            .unwrap_err();
    assert!(
        err.to_string()
            .contains("environment variable SECRET is not set"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_errors() {
    let text = GOOD.replace("max_ratio = 1.5", "max_ratoi = 1.5");
    let err = crate::registry::config_from_toml(&text, &env).unwrap_err();
    assert!(err.to_string().contains("max_ratoi"), "{err}");
}

#[test]
fn problems_carry_key_paths() {
    let text = GOOD
        .replace("max_ratio = 1.5", "max_ratio = 0")
        .replace("\"slack-group:S01SRE\"", "\"slak:U02\"");
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].criteria[0].max_ratio: must be > 0"),
        "{err}"
    );
    assert!(
        err.contains("service[checkout].deciders[1]: unknown kind `slak`"),
        "{err}"
    );
}

#[test]
fn ids_that_can_never_match_are_refused() {
    let text = GOOD.replace(
        "deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]",
        "deciders = [\"slack:@bob\", \"slack-group:sre-oncall\", \"discord:mason#1337\", \"discord-role:oncall\", \"slack:W0123ABC\", \"discord:445566778899\"]",
    );
    assert_ne!(text, GOOD);
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    for expected in [
        "deciders[0]: `slack:@bob` is not a Slack user id; write slack:U… or slack:W…",
        "deciders[1]: `slack-group:sre-oncall` is not a Slack user-group id; write slack-group:S…",
        "deciders[2]: `discord:mason#1337` is not a Discord id; write discord:<digits>",
        "deciders[3]: `discord-role:oncall` is not a Discord id; write discord-role:<digits>",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(
        !err.contains("deciders[4]") && !err.contains("deciders[5]"),
        "{err}"
    );
    let people =
        format!("{GOOD}\n[[people]]\nname = \"bob\"\nslack = \"bob\"\ndiscord = \"mason#1337\"\n");
    let err = crate::registry::config_from_toml(&people, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("people[0].slack: `slack:bob` is not a Slack user id"),
        "{err}"
    );
    assert!(
        err.contains("people[0].discord: `discord:mason#1337` is not a Discord id"),
        "{err}"
    );
}

#[test]
fn durations_need_a_unit_and_the_window_time() {
    for bare in ["\"900\"", "900"] {
        let text = GOOD.replace("\"15m\"", bare);
        let err = crate::registry::config_from_toml(&text, &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`900` has no unit; write e.g. 15m"),
            "{bare}: {err}"
        );
    }
    let text = GOOD.replace("\"15m\"", "\"0s\"");
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].canary_window: must be > 0"),
        "{err}"
    );
}

#[test]
fn bad_duration_is_explained() {
    let text = GOOD.replace("\"15m\"", "\"fifteen\"");
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`fifteen` is not a duration"), "{err}");
}

#[test]
fn open_api_on_a_public_address_warns() {
    let text = GOOD
        .replace("api_tokens = [\"${TOKEN}\"]", "")
        .replace("127.0.0.1:8080", "0.0.0.0:8080");
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    assert!(c.warnings()[0].contains("server.api_tokens"));
}

#[test]
fn extra_criteria_merge_and_clash() {
    let c = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    let s = c.service("checkout").expect("service");
    let extra = Criterion {
        name: "cart errors".into(),
        max: Some(1.0),
        failure_limit: 2,
        ..Criterion::default()
    };
    let p = s.policy(vec![extra.clone()]).expect("merged");
    assert_eq!(p.criteria.len(), 2);
    let clash = Criterion {
        name: "5xx ratio".into(),
        ..extra
    };
    assert!(
        s.policy(vec![clash])
            .unwrap_err()
            .contains("`5xx ratio` is already")
    );
}

/// Substitution happens in parsed values, so comments are never looked at (it was a text pass
/// that skipped them: the same two lines, now read as a configuration).
#[test]
fn comments_are_not_substituted() {
    let text = GOOD.replace(
        "[database]",
        "# old = \"${GONE}\"\npublic_url = \"https://x#${V}\" # ${GONE}\n[database]",
    );
    let lookup = |n: &str| match n {
        "V" => Some("v".to_string()),
        _ => env(n),
    };
    let c = crate::registry::config_from_toml(&text, &lookup).expect("comments skipped");
    assert_eq!(c.server.public_url.as_deref(), Some("https://x#v"));
}

#[test]
fn slack_channel_needs_a_slack_section() {
    let text = GOOD.replace(
        "canary_window = ",
        "slack_channel = \"C0CHECKOUT\"\ncanary_window = ",
    );
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].slack_channel: set, but there is no [slack] section"),
        "{err}"
    );
    let named = text.replace("C0CHECKOUT", "checkout");
    let err = crate::registry::config_from_toml(&named, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("must be a channel id such as C0123ABCD"),
        "{err}"
    );
    let with_slack = text.replace(
        "[database]",
        "[slack]\nbot_token = \"xoxb-1\"\nsigning_secrets = [\"s1\", \"s0\"]\n[database]",
    );
    let c = crate::registry::config_from_toml(&with_slack, &env).expect("valid");
    assert_eq!(
        crate::slack::SlackConfig::of(&c).map(|s| s.api_url.as_str()),
        Some("https://slack.com/api")
    );
}

#[test]
fn rollback_kinds_need_their_keys() {
    let text = GOOD.replace(
        "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"",
        "kind = \"command\"",
    );
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].rollback.argv: name the program"),
        "{err}"
    );
    let ok = text.replace(
        "kind = \"command\"",
        "kind = \"command\"\nargv = [\"kubectl\", \"argo\", \"rollouts\", \"abort\", \"checkout\"]",
    );
    let c = crate::registry::config_from_toml(&ok, &env).expect("valid");
    let p = c
        .service("checkout")
        .expect("svc")
        .policy(vec![])
        .expect("policy");
    assert_eq!(p.executor.as_deref(), Some("command"));
    let no_url = GOOD.replace("url = \"http://127.0.0.1:9/rollback\"\n", "");
    let err = crate::registry::config_from_toml(&no_url, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rollback.url: required for kind = \"webhook\""),
        "{err}"
    );
}

/// Every secret the configuration can hold, each a distinct marker.
const ALL_SECRETS: &str = r#"
[server]
listen = "127.0.0.1:8080"
api_tokens = ["SECRET-api-token-0001"]
[database]
url = "postgres://canarybot:SECRET-db-password-0002@db:5432/canarybot"
[webhooks]
secrets = ["SECRET-webhook-secret-0003", "SECRET-webhook-secret-0004"]
[slack]
bot_token = "SECRET-xoxb-slack-0005"
signing_secrets = ["SECRET-slack-signing-0006"]
[discord]
bot_token = "SECRET-discord-bot-0007"
application_id = "424242"
public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[prometheus]
url = "http://prom:SECRET-prom-password-0008@prometheus:9090"
headers = { Authorization = "Bearer SECRET-prom-header-0009" }
[alertmanager]
tokens = ["SECRET-alertmanager-0010"]
[github]
webhook_secrets = ["SECRET-github-0011"]
[flagger]
tokens = ["SECRET-flagger-token-0012"]
[[service]]
name = "checkout"
deciders = ["slack:U01ALICE"]
[[service.criteria]]
name = "5xx ratio"
max = 0.01
[service.rollback]
kind = "webhook"
url = "https://deploy.example/rollback?token=SECRET-url-token-0013"
secret = "SECRET-executor-secret-0014"
[service.drill_executor]
kind = "github-workflow"
repo = "acme/checkout"
workflow = "rollback.yml"
ref = "main"
token = "SECRET-github-token-0015"
[[service]]
name = "search"
deciders = ["slack:U01ALICE"]
[[service.criteria]]
name = "errors"
max = 5
[service.rollback]
kind = "command"
argv = ["kubectl", "argo", "rollouts", "abort", "search"]
env = { KUBE_TOKEN = "SECRET-command-env-0016" }
"#;

#[test]
fn debug_never_shows_a_secret() {
    let c = match crate::registry::config_from_toml(ALL_SECRETS, &|_| None) {
        Ok(c) => c,
        Err(e) => panic!("valid: {e}"),
    };
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    for text in [&debug, &pretty] {
        assert!(!text.contains("SECRET"), "a secret leaked: {text}");
    }
    // What is not secret is still there, and the secrets are counted.
    assert!(debug.contains("listen: \"127.0.0.1:8080\""), "{debug}");
    assert!(
        debug.contains("postgres://canarybot:<redacted>@db:5432/canarybot"),
        "{debug}"
    );
    assert!(
        debug.contains("secrets: [<redacted>, <redacted>]"),
        "{debug}"
    );
    assert!(debug.contains("KUBE_TOKEN"), "{debug}");
    assert!(debug.contains("rollback?token=<redacted>"), "{debug}");
}

#[test]
fn parse_errors_show_the_variable_not_its_value() {
    let text = "[server]\napi_tokens = \"${TOKEN}\"\n";
    let err = crate::registry::config_from_toml(text, &env)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("token-0123456789abcdef"), "{err}");
    assert!(err.contains("${TOKEN}"), "{err}");
}

#[test]
fn server_limits_parse_and_are_checked() {
    let c = crate::registry::config_from_toml(GOOD, &env).expect("valid");
    assert_eq!(c.server.max_body, 1024 * 1024);
    assert_eq!(c.server.max_header_bytes, 16 * 1024);
    assert_eq!(c.server.header_timeout, Duration::from_secs(10));
    assert_eq!(c.server.body_timeout, Duration::from_secs(10));
    assert_eq!(c.server.request_timeout, Duration::from_secs(30));
    let text = GOOD.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmax_body = \"256KiB\"\nmax_header_bytes = 32768\nheader_timeout = \"5s\"\nbody_timeout = \"2s\"\nrequest_timeout = \"1m\"",
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    assert_eq!(c.server.max_body, 256 * 1024);
    assert_eq!(c.server.max_header_bytes, 32768);
    assert_eq!(c.server.request_timeout, Duration::from_secs(60));
    let bad = GOOD.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmax_body = \"10\"\nbody_timeout = \"0s\"",
    );
    let err = crate::registry::config_from_toml(&bad, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.max_body: 10 bytes is outside 1 KiB to 64 MiB"),
        "{err}"
    );
    assert!(err.contains("server.body_timeout: must be > 0"), "{err}");
    let unit = GOOD.replace(
        "listen = \"127.0.0.1:8080\"",
        "listen = \"127.0.0.1:8080\"\nmax_body = \"1 parsec\"",
    );
    let err = crate::registry::config_from_toml(&unit, &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown unit"), "{err}");
}

#[cfg(unix)]
#[test]
fn files_others_can_read_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("canarybot.toml");
    std::fs::write(&path, GOOD).expect("write");
    for (mode, expected) in [
        (0o644, Some("readable by other users (mode 0644)")),
        (0o640, Some("readable by other users (mode 0640)")),
        (
            0o660,
            Some("readable and writable by other users (mode 0660)"),
        ),
        (0o620, Some("writable by other users (mode 0620)")),
        (0o600, None),
        (0o400, None),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let w = permission_warning(&path);
        match expected {
            None => assert_eq!(w, None, "{mode:o}"),
            Some(e) => {
                let w = w.expect("a warning");
                assert!(w.contains(e), "{w}");
                assert!(w.contains(&format!("chmod 600 {}", path.display())), "{w}");
            }
        }
    }
    assert_eq!(permission_warning(&dir.path().join("missing.toml")), None);
}

#[test]
fn dollar_escape() {
    let out = substitute_env("a = \"$${HOME}\"", &|_| None).expect("escaped");
    assert_eq!(out, "a = \"${HOME}\"");
}

/// `${VAR}` goes into the parsed value: quotes, backslashes and newlines arrive exactly (a text
/// substitution broke the string, or had to escape them).
#[test]
fn secrets_with_quotes_backslashes_and_newlines_arrive_unchanged() {
    let secret = "a\"b\\c\nd-0123456789abcdef";
    let text = GOOD
        .replace(
            "[database]",
            "[slack]\nbot_token = \"${SECRET}\"\nsigning_secrets = ['${SECRET}', \"s-${SECRET}\"]\n[database]",
        )
        .replace("timeout = \"10s\"", "timeout = \"10s\"\nsecret = \"${SECRET}\"");
    let lookup = |n: &str| match n {
        "SECRET" => Some(secret.to_string()),
        _ => env(n),
    };
    let c = crate::registry::config_from_toml(&text, &lookup).expect("valid");
    assert_eq!(c.webhooks.secrets[0], secret);
    let slack = crate::slack::SlackConfig::of(&c).expect("slack");
    assert_eq!(slack.bot_token, secret);
    assert_eq!(
        slack.signing_secrets,
        [secret.to_string(), format!("s-{secret}")]
    );
    let Some(RollbackConfig::Webhook(w)) = &c.service("checkout").expect("svc").rollback else {
        panic!("a webhook executor");
    };
    assert_eq!(c.executor_secret(w), secret);
    // `$${` stays a literal `${`, and a value is never substituted again.
    let literal = GOOD.replace("${TOKEN}", "$${TOKEN}-0123456789abcdef");
    let c = crate::registry::config_from_toml(&literal, &|n| match n {
        "SECRET" => Some("${TOKEN}-0123456789".into()),
        _ => None,
    })
    .expect("valid");
    assert_eq!(c.server.api_tokens[0], "${TOKEN}-0123456789abcdef");
    assert_eq!(c.webhooks.secrets[0], "${TOKEN}-0123456789");
}

#[test]
fn an_unset_variable_is_named_with_its_key_path_and_line() {
    let err =
        crate::registry::config_from_toml(GOOD, &|n| if n == "TOKEN" { env(n) } else { None })
            .unwrap_err()
            .to_string();
    assert_eq!(
        err,
        "webhooks.secrets[0] (line 8): environment variable SECRET is not set"
    );
    let in_service = GOOD.replace(
        "url = \"http://127.0.0.1:9/rollback\"",
        "url = \"http://127.0.0.1:9/rollback?t=${ROLLBACK_TOKEN}\"",
    );
    let err = crate::registry::config_from_toml(&in_service, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].rollback.url (line 21): environment variable ROLLBACK_TOKEN is not set"),
        "{err}"
    );
}

#[test]
fn a_key_of_another_executor_kind_is_refused_naming_it() {
    let cases = [
        (
            "kind = \"command\"\nargv = [\"true\"]\nurl = \"http://127.0.0.1:9/rollback\"",
            "kind = \"command\": unknown field `url`, expected one of `argv`, `env`, `workdir`, `timeout`",
        ),
        (
            "kind = \"command\"\nargv = [\"true\"]\nretries = 2",
            "kind = \"command\": unknown field `retries`",
        ),
        (
            "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"\nargv = [\"true\"]",
            "kind = \"webhook\": unknown field `argv`",
        ),
        (
            "kind = \"flagger\"\nurl = \"http://127.0.0.1:9/rollback\"",
            "kind = \"flagger\": unknown field `timeout`, there are no fields",
        ),
        (
            "kind = \"webhok\"\nurl = \"http://127.0.0.1:9/rollback\"",
            "kind: unknown kind `webhok`; write one of \"webhook\", \"command\", \"github-workflow\", \"flagger\"",
        ),
        (
            "url = \"http://127.0.0.1:9/rollback\"",
            "missing field `kind`; write one of \"webhook\"",
        ),
    ];
    for (table, expected) in cases {
        let text = GOOD.replace(
            "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"",
            table,
        );
        assert_ne!(text, GOOD);
        let err = crate::registry::config_from_toml(&text, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{table}: {err}");
        assert!(err.contains("[service.rollback]"), "{table}: {err}");
    }
}

#[test]
fn retry_values_that_make_no_sense_are_refused_with_the_range() {
    let text = GOOD.replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nretries = 1000\nbackoff = \"0s\"",
    );
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].rollback.retries: 1000 is outside 0 to 10"),
        "{err}"
    );
    assert!(
        err.contains("service[checkout].rollback.backoff: 0s is outside 10ms to 1m"),
        "{err}"
    );
    let days = GOOD.replace("timeout = \"10s\"", "timeout = \"10s\"\nbackoff = \"1h\"");
    let err = crate::registry::config_from_toml(&days, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].rollback.backoff: 1h is outside 10ms to 1m"),
        "{err}"
    );
    let negative = GOOD.replace("timeout = \"10s\"", "timeout = \"10s\"\nretries = -1");
    assert!(crate::registry::config_from_toml(&negative, &env).is_err());
    let edge = GOOD.replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nretries = 10\nbackoff = \"1m\"",
    );
    crate::registry::config_from_toml(&edge, &env).expect("the bounds themselves are allowed");
}

#[test]
fn misspelled_placeholders_are_refused_naming_the_key_and_the_known_names() {
    let text = GOOD
        .replace(
            "[database]",
            "[prometheus]\nurl = \"http://127.0.0.1:9090\"\n[database]",
        )
        .replace(
            "failure_limit = 3",
            "failure_limit = 3\nquery = 'rate(errors{track=\"{{trak}}\",v=\"{{ version }}\"}[1m])'\nlink = \"https://grafana/d?from={{ from }}&to={{form}}\"",
        );
    let err = crate::registry::config_from_toml(&text, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].criteria[0].query: unknown placeholder `{{trak}}`; this template knows {{track}}, {{service}}, {{environment}}, {{version}}"),
        "{err}"
    );
    assert!(
        err.contains("service[checkout].criteria[0].link: unknown placeholder `{{form}}`; this template knows {{service}}, {{environment}}, {{version}}, {{from}}, {{to}}"),
        "{err}"
    );
    assert!(!err.contains("`{{version}}`"), "{err}");
    let fixed = text
        .replace("{{trak}}", "{{track}}")
        .replace("{{form}}", "{{to}}");
    crate::registry::config_from_toml(&fixed, &env)
        .expect("known placeholders, with or without spaces");

    let workflow = GOOD.replace(
        "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/rollback\"",
        "kind = \"github-workflow\"\nrepo = \"acme/checkout\"\nworkflow = \"rollback.yml\"\nref = \"main\"\ntoken = \"t\"\ninputs = { decision = \"{{decision_id}}\", why = \"{{ reasn }}\" }",
    );
    let err = crate::registry::config_from_toml(&workflow, &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("service[checkout].rollback.inputs.why: unknown placeholder `{{reasn}}`; this template knows {{deploy_id}}"),
        "{err}"
    );
    assert!(!err.contains("inputs.decision"), "{err}");
}

/// The side-by-side link of a criterion is filled when the criteria are locked.
#[test]
fn locked_links_are_filled() {
    let text = GOOD.replace(
        "failure_limit = 3",
        "failure_limit = 3\nlink = \"https://grafana/d?s={{ service }}&v={{version}}&from={{from}}&to={{to}}\"",
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let s = c.service("checkout").expect("service");
    let info = crate::domain::DeployInfo {
        service: "checkout".into(),
        version: "2.4.1".into(),
        ..Default::default()
    };
    let policy = c
        .lock_policy(s, Vec::new(), &info, 600_000)
        .expect("policy");
    assert_eq!(
        policy.criteria[0].link.as_deref(),
        Some("https://grafana/d?s=checkout&v=2.4.1&from=300000&to=now")
    );
}

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

/// A chat platform the configuration has never heard of: everything it knows of platforms comes
/// from the platforms handed in.
struct Teams;

#[derive(Debug)]
struct TeamsSection {
    tenant: String,
}

impl ChatSection for TeamsSection {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn parse_teams(
    section: toml::de::Deserializer<'_>,
) -> Result<std::sync::Arc<dyn ChatSection>, toml::de::Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        tenant: String,
    }
    #[derive(serde::Deserialize)]
    struct Section {
        teams: Raw,
    }
    let raw = Section::deserialize(section)?.teams;
    Ok(std::sync::Arc::new(TeamsSection { tenant: raw.tenant }))
}

impl ChatRules for Teams {
    fn name(&self) -> &'static str {
        "teams"
    }
    fn parse_section(&self) -> Option<ParseSection> {
        Some(parse_teams)
    }
    fn person_prefix(&self) -> &'static str {
        "teams"
    }
    fn group_prefix(&self) -> Option<&'static str> {
        None
    }
    fn check_person_id(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn check_group_id(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn config_section(&self) -> Option<&'static str> {
        Some("teams")
    }
    fn section_problems(&self, _: &Config) -> Vec<String> {
        Vec::new()
    }
    fn channel_problems(&self, _: &Config, _: &str, _: &ServiceConfig) -> Vec<String> {
        Vec::new()
    }
}

#[test]
fn a_platform_brings_its_own_section_channel_and_person_keys() {
    let text = GOOD
        .replace(
            "deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]",
            "deciders = [\"teams:alice\"]\nteams_channel = \"19:abc@thread\"",
        )
        .replace(
            "[database]",
            "[teams]\ntenant = \"contoso\"\n\n[[people]]\nname = \"alice\"\nteams = \"alice\"\n\n[database]",
        );
    let teams: &dyn ChatRules = &Teams;
    let c = Config::from_toml(&text, &env, Platforms(&[teams])).expect("valid with Teams");
    let section = c.chat.get::<TeamsSection>("teams").expect("the section");
    assert_eq!(section.tenant, "contoso");
    let s = c.service("checkout").expect("service");
    assert_eq!(s.channel("teams"), Some("19:abc@thread"));
    assert_eq!(c.people[0].identities(), ["teams:alice"]);
    assert!(format!("{c:?}").contains("contoso"));

    // Without the platform, none of its keys is known: each is refused by name.
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("no Teams")
        .to_string();
    assert!(e.contains("unknown field `teams"), "{e}");
    // The platform's own section errors quote the file.
    let bad = text.replace("tenant = \"contoso\"", "tenant = \"contoso\"\ntennant = 1");
    let e = Config::from_toml(&bad, &env, Platforms(&[teams]))
        .expect_err("typo")
        .to_string();
    assert!(e.contains("unknown field `tennant`"), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn platform_keys_of_the_wrong_type_or_platform_are_named() {
    let text = GOOD.replace(
        "canary_window = \"15m\"",
        "slack_channel = 42\ncanary_window = \"15m\"",
    );
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("not a string")
        .to_string();
    assert!(
        e.contains("service[checkout].slack_channel: must be a string, not integer"),
        "{e}"
    );
    let text = GOOD.replace(
        "canary_window = \"15m\"",
        "slak_channel = \"C01\"\ncanary_window = \"15m\"",
    );
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("no such platform")
        .to_string();
    assert!(e.contains("unknown field `slak_channel`"), "{e}");
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

/// The error a configuration is refused with.
fn refused(text: &str) -> String {
    crate::registry::config_from_toml(text, &env)
        .expect_err("refused")
        .to_string()
}

/// `e` names every one of `expected`.
fn names_all(e: &str, expected: &[&str]) {
    for x in expected {
        assert!(e.contains(x), "{x}: {e}");
    }
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
