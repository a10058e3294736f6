//! Logs for collectors: `CANARYBOT_LOG_FORMAT=json` (or `[log] format = "json"`) makes `serve`
//! write one JSON object per line, with secrets redacted as in text logs.

use crate::support::{Setup, TOKEN, config_text};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_from_the_environment() {
    let lines = serve_and_log(&[("CANARYBOT_LOG_FORMAT", "json")], |text| text).await;
    check_json_lines(&lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_from_the_config() {
    let lines = serve_and_log(&[], |text| format!("[log]\nformat = \"json\"\n{text}")).await;
    check_json_lines(&lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_log_format_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, |t| t);
    let out = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("CANARYBOT_LOG_FORMAT", "yaml")
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CANARYBOT_LOG_FORMAT: log format `yaml`: write `text` or `json`"),
        "{err}"
    );
}

fn check_json_lines(lines: &[String]) {
    assert!(lines.len() >= 2, "{lines:#?}");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        assert!(!line.contains(TOKEN), "a token reached the log: {line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"message\":\"canarybot serving\"")),
        "{lines:#?}"
    );
}

fn write_config(dir: &tempfile::TempDir, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let database_url = format!("sqlite://{}", dir.path().join("canarybot.db").display());
    let setup = Setup {
        executor: None,
        ..Setup::default()
    };
    let path = dir.path().join("canarybot.toml");
    std::fs::write(&path, edit(config_text(&setup, &database_url, None))).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    path
}

/// Starts `serve`, makes a request that logs (with a token in its query), stops it, and returns
/// every line it wrote to stderr.
async fn serve_and_log(env: &[(&str, &str)], edit: impl Fn(String) -> String) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, edit);
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(["serve", "--config"])
        .arg(&path)
        .env("CANARYBOT_LOG", "debug")
        .env_remove("CANARYBOT_LOG_FORMAT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut url_tx = Some(url_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(url) = v["url"].as_str()
                    && let Some(tx) = url_tx.take()
                {
                    let _ = tx.send(url.to_string());
                }
                seen.lock().expect("lines").push(line);
            }
        })
    };
    let url = tokio::time::timeout(Duration::from_secs(30), url_rx)
        .await
        .expect("the server starts and logs its address as JSON")
        .expect("its url");
    let status = reqwest::get(format!("{url}/api/deploys?token={TOKEN}"))
        .await
        .expect("get")
        .status();
    assert_eq!(status.as_u16(), 200);
    // The request's own log lines (its span closing) come after the answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !seen
        .lock()
        .expect("lines")
        .iter()
        .any(|l| l.contains("/api/deploys"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the request was never logged: {:#?}",
            seen.lock().expect("lines")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = reader.await;
    seen.lock().expect("lines").clone()
}
