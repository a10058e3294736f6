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
