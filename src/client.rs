//! A small client for canarybot's own signed webhooks: what `announce` and the demo use, and
//! what a shell pipeline would do with curl.

use crate::auth::sign;
use crate::webhooks::{DELIVERY_HEADER, SIGNATURE_HEADER};
use serde_json::Value;

pub struct HookClient {
    pub http: reqwest::Client,
    pub base_url: String,
    pub secret: String,
}

impl HookClient {
    pub fn new(base_url: &str, secret: &str) -> anyhow::Result<Self> {
        Ok(HookClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret: secret.to_string(),
        })
    }

    /// POSTs `body` signed with the secret; returns the status and the JSON answer.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        delivery: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let raw = serde_json::to_vec(body)?;
        let mut req = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, &raw));
        if let Some(d) = delivery {
            req = req.header(DELIVERY_HEADER, d);
        }
        let resp = req.body(raw).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, json))
    }
}

/// The server a command talks to: `--server`, else `server.public_url`, else
/// `http://<server.listen>`.
pub fn server_url(config: &crate::config::Config, given: Option<String>) -> String {
    given
        .or_else(|| config.server.public_url.clone())
        .unwrap_or_else(|| format!("http://{}", config.server.listen))
}

/// Sends a request to the server's API with `token` (`server.api_tokens`) when there is one;
/// returns the status and the JSON answer (`null` when the body is not JSON).
pub async fn api_call(
    req: reqwest::RequestBuilder,
    base: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, Value)> {
    use anyhow::Context;
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = resp.status().as_u16();
    let answer: Value = resp.json().await.unwrap_or_default();
    Ok((status, answer))
}
