//! The README's five-minute Slack path holds: its configuration passes `check-config` as written.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_five_minute_slack_config_in_the_readme_is_valid() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let toml = first_toml_block_after(&readme, "## A Slack canary in five minutes")
        .expect("a ```toml block under `## A Slack canary in five minutes` in README.md");
    assert!(toml.contains("[slack]"), "{toml}");

    let out = check_config(
        &toml,
        &[
            ("SLACK_BOT_TOKEN", "xoxb-readme-test"),
            ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}{stderr}\n--- the README's config:\n{toml}"
    );
    assert!(
        stdout.contains("ok (1 service: checkout)"),
        "{stdout}{stderr}"
    );
}

/// The Discord Gateway's example in docs/src/discord.md passes `check-config` as written, with
/// no public key, and `check-config` says it uses the Gateway.
#[test]
fn the_discord_gateway_config_in_the_docs_is_valid() {
    let page = std::fs::read_to_string(Path::new(ROOT).join("docs/src/discord.md"))
        .expect("docs/src/discord.md");
    let toml = first_toml_block_after(&page, "## The Gateway")
        .expect("a ```toml block under `## The Gateway` in docs/src/discord.md");
    assert!(toml.contains("transport = \"gateway\""), "{toml}");
    let out = check_config(
        &toml,
        &[
            ("DISCORD_BOT_TOKEN", "discord-docs-test"),
            ("DISCORD_APPLICATION_ID", "424242424242424242"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}{stderr}\n--- the page's config:\n{toml}"
    );
    assert!(
        stdout.contains("ok (1 service: checkout)") && stdout.contains("discord: Gateway"),
        "{stdout}{stderr}"
    );
}

/// `canarybot check-config` of `toml`, written 0600 to a temporary directory, with the webhook
/// secret, the API token and `env` set.
fn check_config(toml: &str, env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("canarybot.toml");
    std::fs::write(&path, toml).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env(
            "CANARYBOT_WEBHOOK_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .env("CANARYBOT_API_TOKEN", "fedcba9876543210fedcba9876543210")
        .envs(env.iter().copied())
        .output()
        .expect("check-config")
}

/// The body of the first fenced `toml` block after the heading, its list indentation removed.
fn first_toml_block_after(markdown: &str, heading: &str) -> Option<String> {
    let mut lines = markdown.lines().skip_while(|l| l.trim_end() != heading);
    lines.next()?;
    let open = lines.find(|l| l.trim_start().starts_with("```toml"))?;
    let indent = open.len() - open.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim() != "```")
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    Some(body.join("\n") + "\n")
}
