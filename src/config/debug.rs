//! `Debug` of the configuration: every secret (tokens, signing secrets, passwords in URLs,
//! executor environment values, extra Prometheus header values) shows as `<redacted>`.

use super::*;
use crate::redact;
use std::fmt;

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("api_tokens", &redact::list(&self.api_tokens))
            .field("max_body", &self.max_body)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact::url(&self.url))
            .finish()
    }
}

impl fmt::Debug for WebhooksConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhooksConfig")
            .field("secrets", &redact::list(&self.secrets))
            .finish()
    }
}

impl fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusConfig")
            .field("url", &redact::url(&self.url))
            .field("timeout", &self.timeout)
            .field("headers", &redact::values(&self.headers))
            .field("ui_url", &self.ui_url.as_deref().map(redact::url))
            .finish()
    }
}

impl fmt::Debug for AlertmanagerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertmanagerConfig")
            .field("tokens", &redact::list(&self.tokens))
            .field("service_label", &self.service_label)
            .field("environment_label", &self.environment_label)
            .finish()
    }
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConfig")
            .field("webhook_secrets", &redact::list(&self.webhook_secrets))
            .field("app_id", &self.app_id)
            .field("private_key", &redact::opt(&self.private_key))
            .field("private_key_path", &self.private_key_path)
            .field("api_url", &redact::url(&self.api_url))
            .finish()
    }
}

impl fmt::Debug for FlaggerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlaggerConfig")
            .field("tokens", &redact::list(&self.tokens))
            .finish()
    }
}

impl fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("routing_key", &redact::Redacted)
            .field("api_url", &redact::url(&self.api_url))
            .field("change_events", &self.change_events)
            .finish()
    }
}

impl fmt::Debug for OpsgenieConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpsgenieConfig")
            .field("api_key", &redact::Redacted)
            .field("api_url", &redact::url(&self.api_url))
            .finish()
    }
}

impl fmt::Debug for RollbackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackConfig::Webhook(w) => f.debug_tuple("Webhook").field(w).finish(),
            RollbackConfig::Command(c) => f.debug_tuple("Command").field(c).finish(),
            RollbackConfig::GithubWorkflow(g) => f.debug_tuple("GithubWorkflow").field(g).finish(),
            RollbackConfig::Flagger(x) => f.debug_tuple("Flagger").field(x).finish(),
        }
    }
}

impl fmt::Debug for WebhookRollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRollback")
            .field("url", &redact::url(&self.url))
            .field("secret", &redact::opt(&self.secret))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl fmt::Debug for CommandRollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandRollback")
            .field("argv", &self.argv)
            .field("env", &redact::values(&self.env))
            .field("workdir", &self.workdir)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Debug for WorkflowRollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowRollback")
            .field("repo", &self.repo)
            .field("workflow", &self.workflow)
            .field("git_ref", &self.git_ref)
            .field("token", &redact::Redacted)
            .field("api_url", &redact::url(&self.api_url))
            .field("inputs", &self.inputs)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}
