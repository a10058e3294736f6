//! The `command` executor: runs a program (no shell) with the deploy in its environment. Exit 0 is
//! the rollback done; anything else, or the timeout, is a failure with the last lines of output.
//! The configured `env` values are secrets: they are scrubbed from everything kept or logged.

use super::{ExecutorCall, RollbackExecutor};
use crate::config::CommandRollback;
use crate::domain::ExecutorOutcome;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

pub struct CommandExecutor {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub timeout: Duration,
}

/// How much of the output the timeline keeps.
const TAIL_LINES: usize = 10;
const TAIL_CHARS: usize = 1500;

impl CommandExecutor {
    /// From `[service.rollback] kind = "command"`.
    pub fn new(config: &CommandRollback) -> Self {
        CommandExecutor {
            argv: config.argv.clone(),
            env: config.env.clone(),
            workdir: config.workdir.clone(),
            timeout: config.timeout,
        }
    }

    /// Replaces every configured env value in `text` (values shorter than 4 characters would
    /// scrub ordinary words, and are not secrets worth the name).
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in self.env.values().filter(|v| v.len() >= 4) {
            out = out.replace(v.as_str(), "[redacted]");
        }
        out
    }

    fn tail(&self, output: &[u8]) -> String {
        let text = self.scrub(&String::from_utf8_lossy(output));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join(" | ");
        let n = tail.chars().count();
        if n > TAIL_CHARS {
            tail.chars().skip(n - TAIL_CHARS).collect()
        } else {
            tail
        }
    }
}

#[async_trait]
impl RollbackExecutor for CommandExecutor {
    fn kind(&self) -> &str {
        "command"
    }

    async fn execute(&self, call: &ExecutorCall) -> ExecutorOutcome {
        let Some((program, args)) = self.argv.split_first() else {
            return ExecutorOutcome::Failed {
                error: "no command configured".into(),
                attempts: 0,
            };
        };
        let d = &call.deploy;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(&self.env)
            .env("CANARYBOT_DEPLOY_ID", &d.id)
            .env("CANARYBOT_SERVICE", &d.service)
            .env("CANARYBOT_ENVIRONMENT", &d.environment)
            .env("CANARYBOT_VERSION", &d.version)
            .env("CANARYBOT_SHA", d.sha.clone().unwrap_or_default())
            .env("CANARYBOT_ACTION", call.request.action.as_str())
            .env("CANARYBOT_REASON", &call.request.reason)
            .env("CANARYBOT_DECIDED_BY", call.request.decided_by.join(","))
            .env("CANARYBOT_DRILL", if call.drill { "true" } else { "false" })
            // The same on every retry and after a crash: a script can skip a decision it ran.
            .env("CANARYBOT_DECISION_ID", &call.request.decision_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = &self.workdir {
            cmd.current_dir(dir);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return ExecutorOutcome::Failed {
                    error: format!("cannot start `{program}`: {e}"),
                    attempts: 1,
                };
            }
        };
        // Read both pipes while waiting, so a chatty command cannot block on a full pipe.
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let read = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let out_done = async {
                if let Some(s) = stdout.as_mut() {
                    let _ = s.read_to_end(&mut out).await;
                }
            };
            let err_done = async {
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut err).await;
                }
            };
            tokio::join!(out_done, err_done);
            out.extend_from_slice(&err);
            out
        };
        let run = async {
            let (output, status) = tokio::join!(read, child.wait());
            (output, status)
        };
        match tokio::time::timeout(self.timeout, run).await {
            Ok((output, Ok(status))) if status.success() => ExecutorOutcome::Done {
                detail: format!("`{program}` exited 0: {}", self.tail(&output)),
            },
            Ok((output, Ok(status))) => ExecutorOutcome::Failed {
                error: format!(
                    "`{program}` exited with {}: {}",
                    status
                        .code()
                        .map(|c| format!("status {c}"))
                        .unwrap_or_else(|| "a signal".into()),
                    self.tail(&output)
                ),
                attempts: 1,
            },
            Ok((_, Err(e))) => ExecutorOutcome::Failed {
                error: format!("`{program}` could not be waited for: {e}"),
                attempts: 1,
            },
            Err(_) => ExecutorOutcome::Failed {
                // kill_on_drop ends the process when the timed-out future is dropped.
                error: format!("`{program}` did not finish within {:?}", self.timeout),
                attempts: 1,
            },
        }
    }
}
