//! The `webhook` executor: a signed POST to the deploy system, retried with backoff.

use super::{ExecutorCall, RollbackExecutor};
use crate::auth::sign;
use crate::config::WebhookRollback;
use crate::domain::ExecutorOutcome;
use async_trait::async_trait;
use std::time::Duration;

pub struct WebhookExecutor {
    pub client: reqwest::Client,
    pub url: String,
    pub secret: String,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

impl WebhookExecutor {
    /// From `[service.rollback] kind = "webhook"`, signing with `secret`.
    pub fn new(client: reqwest::Client, config: &WebhookRollback, secret: String) -> Self {
        WebhookExecutor {
            client,
            url: config.url.clone(),
            secret,
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
        }
    }

    pub fn body(call: &ExecutorCall) -> serde_json::Value {
        serde_json::json!({
            "deploy_id": call.deploy.id,
            "service": call.deploy.service,
            "environment": call.deploy.environment,
            "version": call.deploy.version,
            "sha": call.deploy.sha,
            "action": call.request.action.as_str(),
            "reason": call.request.reason,
            "decided_by": call.request.decided_by,
            "drill": call.drill,
        })
    }

    async fn attempt(&self, call: &ExecutorCall, body: &[u8]) -> Result<ExecutorOutcome, String> {
        let resp = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("content-type", "application/json")
            .header("X-Canarybot-Signature", sign(&self.secret, body))
            .header("X-Canarybot-Delivery", &call.request.decision_id)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                // The URL may carry a token: errors (logged, and shown in the timeline) show it
                // redacted, and reqwest's own message without it.
                let url = crate::redact::url(&self.url);
                if e.is_timeout() {
                    format!("no answer from {url} within {:?}", self.timeout)
                } else {
                    format!("cannot reach {url}: {}", e.without_url())
                }
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let snippet: String = text.chars().take(200).collect();
            return Err(format!(
                "{} answered HTTP {}: {snippet}",
                crate::redact::url(&self.url),
                status.as_u16()
            ));
        }
        let done = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
            .is_some_and(|s| s == "done");
        let detail = format!(
            "{} answered HTTP {}",
            crate::redact::url(&self.url),
            status.as_u16()
        );
        Ok(if done {
            ExecutorOutcome::Done {
                detail: format!("{detail}, status done"),
            }
        } else {
            ExecutorOutcome::Accepted { detail }
        })
    }
}

#[async_trait]
impl RollbackExecutor for WebhookExecutor {
    fn kind(&self) -> &str {
        "webhook"
    }

    async fn execute(&self, call: &ExecutorCall) -> ExecutorOutcome {
        let body = serde_json::to_vec(&Self::body(call)).unwrap_or_default();
        super::call_with_retries(
            "rollback webhook",
            &call.deploy.id,
            self.retries,
            self.backoff,
            || self.attempt(call, &body),
        )
        .await
    }
}
