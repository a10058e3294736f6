use super::*;
use std::time::Duration;

pub(super) const GOOD: &str = r#"
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

pub(super) fn env(name: &str) -> Option<String> {
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
app_token = "xapp-SECRET-slack-app-0017"
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
    assert!(debug.contains("app_token: Some(<redacted>)"), "{debug}");
}

/// `[slack]` needs a way in: signing secrets (HTTP), an app-level token (Socket Mode), or both;
/// the token must be an app-level one, and an error never shows it.
#[test]
fn slack_needs_signing_secrets_or_an_app_token() {
    let slack = |keys: &str| {
        GOOD.replace(
            "[database]",
            &format!("[slack]\nbot_token = \"xoxb-1\"\n{keys}\n[database]"),
        )
    };
    let err = crate::registry::config_from_toml(&slack(""), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("slack.signing_secrets") && err.contains("slack.app_token"),
        "{err}"
    );
    let err =
        crate::registry::config_from_toml(&slack("app_token = \"xoxb-not-app-level-42\""), &env)
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("slack.app_token: must be an app-level token starting with xapp-"),
        "{err}"
    );
    assert!(
        !err.contains("not-app-level-42"),
        "the token is not shown: {err}"
    );
    let err = crate::registry::config_from_toml(&slack("app_token = \"\""), &env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("slack.app_token: must not be empty"), "{err}");
    for keys in [
        "app_token = \"xapp-1-A1-2-abc\"",
        "signing_secrets = [\"s1\"]",
        "app_token = \"xapp-1-A1-2-abc\"\nsigning_secrets = [\"s1\"]",
    ] {
        let c = crate::registry::config_from_toml(&slack(keys), &env)
            .unwrap_or_else(|e| panic!("{keys}: {e}"));
        let transport = (crate::slack::PLATFORM.transport)(&c);
        let socket = keys.contains("app_token");
        let http = keys.contains("signing_secrets");
        assert_eq!(transport.contains("Socket Mode"), socket, "{transport}");
        assert_eq!(transport.contains("HTTP"), http, "{transport}");
    }
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

/// The error a configuration is refused with.
pub(super) fn refused(text: &str) -> String {
    crate::registry::config_from_toml(text, &env)
        .expect_err("refused")
        .to_string()
}

/// `e` names every one of `expected`.
pub(super) fn names_all(e: &str, expected: &[&str]) {
    for x in expected {
        assert!(e.contains(x), "{x}: {e}");
    }
}
