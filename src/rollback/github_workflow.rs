//! The `github-workflow` executor: dispatches a GitHub Actions workflow. A 204 is the rollback
//! started; GitHub's deployment events (or `/hooks/deploy`) report it done.

use super::{ExecutorCall, RollbackExecutor};
use crate::config::WorkflowRollback;
use crate::domain::ExecutorOutcome;
use crate::template;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct WorkflowExecutor {
    pub client: reqwest::Client,
    pub api_url: String,
    pub repo: String,
    pub workflow: String,
    pub git_ref: String,
    pub token: String,
    pub inputs: BTreeMap<String, String>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

impl WorkflowExecutor {
    /// From `[service.rollback] kind = "github-workflow"`.
    pub fn new(client: reqwest::Client, config: &WorkflowRollback) -> Self {
        WorkflowExecutor {
            client,
            api_url: config.api_url.clone(),
            repo: config.repo.clone(),
            workflow: config.workflow.clone(),
            git_ref: config.git_ref.clone(),
            token: config.token.clone(),
            inputs: config.inputs.clone(),
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
        }
    }

    /// The configured inputs, their placeholders ([`template::WORKFLOW_INPUT`]) filled.
    pub fn inputs_for(&self, call: &ExecutorCall) -> BTreeMap<String, String> {
        let d = &call.deploy;
        let value = |name: &str| {
            Some(match name {
                "deploy_id" => d.id.clone(),
                "service" => d.service.clone(),
                "environment" => d.environment.clone(),
                "version" => d.version.clone(),
                "sha" => d.sha.clone().unwrap_or_default(),
                "action" => call.request.action.as_str().to_string(),
                "reason" => call.request.reason.clone(),
                "decision_id" => call.request.decision_id.clone(),
                _ => return None,
            })
        };
        self.inputs
            .iter()
            .map(|(k, v)| (k.clone(), template::fill(v, value).into_owned()))
            .collect()
    }

    async fn attempt(&self, body: &serde_json::Value) -> Result<ExecutorOutcome, String> {
        let url = format!(
            "{}/repos/{}/actions/workflows/{}/dispatches",
            self.api_url.trim_end_matches('/'),
            self.repo,
            self.workflow
        );
        let resp = self
            .client
            .post(&url)
            .timeout(self.timeout)
            .bearer_auth(&self.token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .json(body)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot reach GitHub at {}: {}",
                    crate::redact::url(&self.api_url),
                    e.without_url()
                )
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(ExecutorOutcome::Accepted {
                detail: format!(
                    "workflow {} dispatched in {} on {}",
                    self.workflow, self.repo, self.git_ref
                ),
            });
        }
        let text: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        Err(format!(
            "GitHub answered HTTP {} to the workflow dispatch: {text}",
            status.as_u16()
        ))
    }
}

#[async_trait]
impl RollbackExecutor for WorkflowExecutor {
    fn kind(&self) -> &str {
        "github-workflow"
    }

    async fn execute(&self, call: &ExecutorCall) -> ExecutorOutcome {
        let body = serde_json::json!({"ref": self.git_ref, "inputs": self.inputs_for(call)});
        super::call_with_retries(
            "workflow dispatch",
            &call.deploy.id,
            self.retries,
            self.backoff,
            || self.attempt(&body),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Choice, DeployInfo, ExecuteRequest};

    #[test]
    fn inputs_carry_the_decision_id_for_the_workflow_to_deduplicate() {
        let executor = WorkflowExecutor {
            client: reqwest::Client::new(),
            api_url: String::new(),
            repo: String::new(),
            workflow: String::new(),
            git_ref: "main".into(),
            token: String::new(),
            inputs: BTreeMap::from([
                ("decision".to_string(), "{{decision_id}}".to_string()),
                ("what".to_string(), "{{action}} {{version}}".to_string()),
            ]),
            timeout: Duration::from_secs(1),
            retries: 0,
            backoff: Duration::from_secs(1),
        };
        let call = ExecutorCall {
            deploy: DeployInfo {
                id: "checkout:production:2.4.1".into(),
                version: "2.4.1".into(),
                ..DeployInfo::default()
            },
            request: ExecuteRequest {
                decision_id: "checkout:production:2.4.1/decision-9".into(),
                action: Choice::Rollback,
                reason: String::new(),
                decided_by: vec![],
            },
            drill: false,
        };
        let inputs = executor.inputs_for(&call);
        assert_eq!(inputs["decision"], "checkout:production:2.4.1/decision-9");
        assert_eq!(inputs["what"], "rollback 2.4.1");
    }
}
