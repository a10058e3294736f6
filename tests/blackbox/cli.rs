//! The command line, run as a user would: the built binary.

use crate::support::{Backend, SECRET, Setup, TestApp};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// `canarybot check-config` of `text`, written to `dir/name`.
fn check_config(dir: &std::path::Path, name: &str, text: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(write(dir, name, text))
        .output()
        .expect("run")
}

/// Ids that can never match anyone, a zero canary window and a bare number for a duration are
/// refused with the form expected.
#[test]
fn check_config_refuses_ids_and_durations_that_cannot_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = crate::support::config_text(&Setup::default(), "sqlite://x.db", None);
    let run = |name: &str, text: &str| {
        let out = check_config(dir.path(), name, text);
        assert!(!out.status.success(), "{name} passed");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let ids = good.replace(
        "deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\", \"discord:4455\", \"discord-role:6677\"]",
        "deciders = [\"slack:@bob\", \"slack-group:sre-oncall\", \"discord:mason#1337\"]",
    );
    assert_ne!(ids, good);
    let err = run("ids.toml", &ids);
    for expected in [
        "service[checkout].deciders[0]: `slack:@bob` is not a Slack user id; write slack:U… or slack:W…",
        "service[checkout].deciders[1]: `slack-group:sre-oncall` is not a Slack user-group id; write slack-group:S…",
        "service[checkout].deciders[2]: `discord:mason#1337` is not a Discord id; write discord:<digits>",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let err = run(
        "zero.toml",
        &good.replace("canary_window = \"15m\"", "canary_window = \"0s\""),
    );
    assert!(
        err.contains("service[checkout].canary_window: must be > 0"),
        "{err}"
    );
    let err = run(
        "bare.toml",
        &good.replace("canary_window = \"15m\"", "canary_window = 900"),
    );
    assert!(err.contains("`900` has no unit; write e.g. 15m"), "{err}");
}

#[test]
fn check_config_names_the_key_path_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = crate::support::config_text(
        &Setup::default(),
        "sqlite://x.db",
        Some("http://127.0.0.1:9/rollback"),
    );
    let path = write(dir.path(), "good.toml", &good);
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (2 services: checkout, search)"));

    let bad = good.replace("max_ratio = 1.5", "max_ratio = 0");
    let path = write(dir.path(), "bad.toml", &bad);
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service[checkout].criteria[0].max_ratio: must be > 0"),
        "{err}"
    );

    let typo = good.replace("failure_limit = 3", "failure_limt = 3");
    let path = write(dir.path(), "typo.toml", &typo);
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("failure_limt"));

    let env = good.replace(SECRET, "${CANARYBOT_TEST_UNSET_SECRET}");
    let path = write(dir.path(), "env.toml", &env);
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("CANARYBOT_TEST_UNSET_SECRET")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CANARYBOT_TEST_UNSET_SECRET is not set")
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("CANARYBOT_TEST_UNSET_SECRET", "from-the-environment-123")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let open = Setup {
        api_tokens: false,
        ..Setup::default()
    };
    let public = crate::support::config_text(&open, "sqlite://x.db", None)
        .replace("127.0.0.1:0", "0.0.0.0:8080");
    let path = write(dir.path(), "public.toml", &public);
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: server.api_tokens: empty while listening on 0.0.0.0:8080")
    );
}

/// A misspelled placeholder in a criterion's query would make it return no data forever: it is
/// refused, naming the key path and the placeholders that query may use.
#[test]
fn check_config_refuses_a_misspelled_placeholder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup {
        prometheus: Some("http://127.0.0.1:9".into()),
        ..Setup::default()
    };
    let good = crate::support::config_text(&setup, "sqlite://x.db", None);
    let typo = good.replacen(
        "bucket{service=\"{{service}}\",track=\"{{track}}\"}",
        "bucket{service=\"{{service}}\",track=\"{{trak}}\"}",
        1,
    );
    assert_ne!(typo, good);
    let check = |name: &str, text: &str| {
        let path = write(dir.path(), name, text);
        Command::new(BIN)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run")
    };
    let out = check("good.toml", &good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check("typo.toml", &typo);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("service[api].criteria[1].query: unknown placeholder `{{trak}}`; this template knows {{track}}, {{service}}, {{environment}}, {{version}}"),
        "{err}"
    );
}

#[test]
fn shipped_configs_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(format!("{root}/config/canarybot.example.toml"))
        .env("CANARYBOT_WEBHOOK_SECRET", "0123456789abcdef0123")
        .env("CANARYBOT_API_TOKEN", "tok-0123456789abcdef")
        .env("CANARYBOT_ROLLBACK_URL", "http://127.0.0.1:9000/rollback")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(format!("{root}/config/argo-rollouts.example.toml"))
        .env("CANARYBOT_WEBHOOK_SECRET", "0123456789abcdef0123")
        .env("CANARYBOT_API_TOKEN", "tok-0123456789abcdef")
        .env("SLACK_BOT_TOKEN", "xoxb-example")
        .env("SLACK_SIGNING_SECRET", "slack-signing-secret")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_then_timeline_from_the_store() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, Setup::default()).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "c.toml", &app.config_text);
    let out = tokio::process::Command::new(BIN)
        .args(["announce", "--config"])
        .arg(&path)
        .args([
            "--service",
            "checkout",
            "--version",
            "3.1.4",
            "--sha",
            "deadbeef",
            "--actor",
            "jenkins",
        ])
        .args(["--server", &app.url, "--delivery", "jenkins-77"])
        .output()
        .await
        .expect("announce");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json answer");
    assert_eq!(answer["deploy_id"], "checkout:production:3.1.4");

    let out = tokio::process::Command::new(BIN)
        .args(["announce", "--config"])
        .arg(&path)
        .args(["--service", "nope", "--version", "1", "--server", &app.url])
        .output()
        .await
        .expect("announce");
    assert!(
        !out.status.success(),
        "an unknown service fails the pipeline step"
    );

    let out = tokio::process::Command::new(BIN)
        .args(["timeline", "checkout:production:3.1.4", "--config"])
        .arg(&path)
        .output()
        .await
        .expect("timeline");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("# Postmortem: checkout 3.1.4 → production"),
        "{md}"
    );
    assert!(md.contains("| Deployer | jenkins |"), "{md}");
    assert!(md.contains("still canary"), "{md}");

    let out = tokio::process::Command::new(BIN)
        .args([
            "timeline",
            "checkout:production:3.1.4",
            "--format",
            "json",
            "--config",
        ])
        .arg(&path)
        .output()
        .await
        .expect("timeline");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["deploy"]["sha"], "deadbeef");
    assert!(json["phases"]["detect_s"].is_null());

    let out = tokio::process::Command::new(BIN)
        .args(["timeline", "nope", "--config"])
        .arg(&path)
        .output()
        .await
        .expect("timeline");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown deploy `nope`"));
    app.finish().await;
}

/// `canarybot drill` starts a drill on the running server; `canarybot drills` reads the history.
#[tokio::test]
async fn drill_and_drills_from_the_command_line() {
    let setup = Setup {
        executor: Some(crate::support::ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(Backend::Sqlite, setup).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "c.toml", &app.config_text);
    let run = |args: Vec<&str>| {
        let path = path.clone();
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        async move {
            tokio::process::Command::new(BIN)
                .args(&args)
                .arg("--config")
                .arg(&path)
                .output()
                .await
                .expect("run")
        }
    };
    let out = run(vec!["drill", "--service", "nope", "--server", &app.url]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service `nope`"));

    let out = run(vec![
        "drill",
        "--service",
        "checkout",
        "--breach-after",
        "0s",
        "--actor",
        "bob",
        "--server",
        &app.url,
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Drill drill-checkout-"), "{stdout}");
    let (_, list) = app.get("/api/deploys?drills=only").await;
    let list: serde_json::Value = serde_json::from_str(&list).expect("json");
    let id = list[0]["id"].as_str().expect("id").to_string();
    assert!(stdout.contains(&id) && stdout.contains(&format!("/deploys/{id}")));
    assert_eq!(app.timeline(&id).await["events"][0]["actor"], "bob");
    app.wait_state(&id, "breached").await;
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "rollback_verified").await;

    let out = run(vec!["drills", "--service", "checkout"]).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("checkout — 1 drill, 1 completed"), "{text}");
    assert!(text.contains("latest  ") && text.contains(&id), "{text}");
    assert!(text.contains("needs two completed drills"), "{text}");
    let out = run(vec!["drills", "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["services"][0]["latest"]["id"], id.as_str());
    assert!(json["services"][0]["latest"]["phases"]["decide_s"].is_number());
    let out = run(vec!["drills", "--service", "nope"]).await;
    assert!(!out.status.success());
    app.finish().await;
}

#[test]
fn demo_plays_the_whole_loop() {
    let out = Command::new(BIN).arg("demo").output().expect("demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "BREACH",
        "⏰ Still waiting for a decision on checkout 2.4.1 after 2.0s.",
        "only slack:U09MALLORY sees",
        "Decision: *roll back*",
        "deploy system: signed rollback request",
        "Recovery verified",
        "| rollback_verified |",
        "| **Total** |",
        "# Postmortem: checkout 2.4.1 → production",
        "🏁 Closed: ✅ rolled back, recovery verified.",
        "🧯 DRILL · Canary · checkout drill #1",
        "🏁 Drill finished",
        "checkout — 1 drill, 1 completed",
    ] {
        assert!(
            stdout.contains(expected),
            "demo output lacks `{expected}`:\n{stdout}"
        );
    }
}

#[test]
fn slack_manifest_points_at_the_public_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = crate::support::config_text(&Setup::default(), "sqlite://x.db", None).replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\npublic_url = \"https://canary.ops.example.org\"",
    );
    let path = write(dir.path(), "c.toml", &text);
    let out = Command::new(BIN)
        .args(["slack-manifest", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert!(
        manifest.contains("url: https://canary.ops.example.org/slack/commands"),
        "{manifest}"
    );
    assert!(manifest.contains("request_url: https://canary.ops.example.org/slack/interactions"));
    assert!(!manifest.contains("canarybot.example.com/slack"));

    let bare = crate::support::config_text(&Setup::default(), "sqlite://x.db", None);
    let path = write(dir.path(), "bare.toml", &bare);
    let out = Command::new(BIN)
        .args(["slack-manifest", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.public_url"));
}

/// `--socket-mode`: Socket Mode on, no request URL, and no config file or public URL needed.
#[test]
fn slack_manifest_for_socket_mode_needs_no_public_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["slack-manifest", "--socket-mode", "--config"])
        .arg(dir.path().join("absent.toml"))
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8_lossy(&out.stdout);
    assert!(manifest.contains("socket_mode_enabled: true"), "{manifest}");
    assert!(!manifest.contains("url:"), "{manifest}");
    assert!(manifest.contains("- command: /canary"), "{manifest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_discord_commands() {
    let fake = crate::fake_discord::FakeDiscord::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup {
        discord_api: Some(fake.api_url.clone()),
        ..Setup::default()
    };
    let text = crate::support::config_text(&setup, "sqlite://x.db", None);
    let path = write(dir.path(), "c.toml", &text);
    let out = tokio::process::Command::new(BIN)
        .args(["commands", "register-discord", "--config"])
        .arg(&path)
        .output()
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("registered 3 global commands"), "{stdout}");
    // It says what the Interactions Endpoint URL must be for the transport (below: the Gateway,
    // which Discord uses only when that URL is empty).
    assert!(
        stdout.contains("set the application's Interactions Endpoint URL"),
        "{stdout}"
    );
    let out = tokio::process::Command::new(BIN)
        .args(["commands", "register-discord", "--guild", "777", "--config"])
        .arg(&path)
        .output()
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("PUT", "/api/v10/applications/424242/commands")
    );
    assert_eq!(
        calls[1].path,
        "/api/v10/applications/424242/guilds/777/commands"
    );
    let shipped: serde_json::Value =
        serde_json::from_str(canarybot::command::DISCORD_COMMANDS).expect("json");
    assert_eq!(
        calls[0].body, shipped,
        "the shipped definitions, as they are"
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some("Bot discord-test-token")
    );
    let gateway = text.replace("[discord]\n", "[discord]\ntransport = \"gateway\"\n");
    assert_ne!(gateway, text);
    let out = tokio::process::Command::new(BIN)
        .args(["commands", "register-discord", "--config"])
        .arg(write(dir.path(), "gateway.toml", &gateway))
        .output()
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("leave the application's Interactions Endpoint URL empty"),
        "{stdout}"
    );
}

/// `check-config` names how each configured platform reaches canarybot.
#[test]
fn check_config_names_each_platforms_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let setup = Setup {
        slack_api: Some("http://127.0.0.1:9/api".into()),
        discord_api: Some("http://127.0.0.1:9/api/v10".into()),
        ..Setup::default()
    };
    let http = crate::support::config_text(&setup, "sqlite://x.db", None);
    let outbound = http
        .replace("[discord]\n", "[discord]\ntransport = \"gateway\"\n")
        .replace("[slack]\n", "[slack]\napp_token = \"xapp-1-A0-1-abc\"\n");
    assert_ne!(outbound, http);
    let run = |name: &str, text: &str| {
        let out = check_config(dir.path(), name, text);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let stdout = run("http.toml", &http);
    assert!(stdout.contains("\n  slack: HTTP"), "{stdout}");
    assert!(stdout.contains("\n  discord: HTTP"), "{stdout}");
    let stdout = run("outbound.toml", &outbound);
    assert!(
        stdout.contains("\n  slack: Socket Mode") && stdout.contains("and HTTP"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  discord: Gateway"), "{stdout}");
}
