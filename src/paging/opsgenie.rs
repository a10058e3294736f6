//! Opsgenie alerts: `POST {api_url}/v2/alerts` with `Authorization: GenieKey <key>` opens an alert
//! (or counts one more occurrence of the open alert with the same `alias`); `POST
//! {api_url}/v2/alerts/{alias}/close?identifierType=alias` closes it. Both answer 202.

use super::{Link, Pager, Sent, classify, truncate, unreachable};
use crate::config::{OPSGENIE, OpsgenieConfig};
use crate::domain::PageAction;
use crate::present::paging::PageMessage;
use async_trait::async_trait;
use serde_json::{Value, json};

/// Opsgenie's limits: an alert's message, description, and each detail's value.
const MESSAGE_CHARS: usize = 130;
const DESCRIPTION_CHARS: usize = 15_000;
const DETAIL_CHARS: usize = 8_000;

pub struct Opsgenie {
    client: reqwest::Client,
    api_key: String,
    api_url: String,
}

impl Opsgenie {
    pub fn new(client: reqwest::Client, config: &OpsgenieConfig) -> Self {
        Opsgenie {
            client,
            api_key: config.api_key.clone(),
            api_url: config.api_url.trim_end_matches('/').to_string(),
        }
    }

    /// The alert for a trigger: Opsgenie has no links field, so the links are in the
    /// description and the details.
    pub fn alert(&self, page: &PageMessage, links: &[Link]) -> Value {
        let mut description = page.summary.clone();
        for (k, v) in &page.details {
            description.push_str(&format!("\n{k}: {v}"));
        }
        for link in links {
            description.push_str(&format!("\n{}: {}", link.text, link.href));
        }
        let mut details = serde_json::Map::new();
        details.insert("version".into(), json!(page.version));
        for (k, v) in &page.details {
            details.insert(k.clone(), json!(truncate(v, DETAIL_CHARS)));
        }
        for link in links {
            details.insert(link.text.clone(), json!(truncate(&link.href, DETAIL_CHARS)));
        }
        let mut tags = vec![
            "canarybot".to_string(),
            page.service.clone(),
            page.environment.clone(),
        ];
        if page.drill {
            tags.push("drill".to_string());
        }
        json!({
            "message": truncate(&page.summary, MESSAGE_CHARS),
            "alias": page.dedup_key,
            "description": truncate(&description, DESCRIPTION_CHARS),
            "priority": "P1",
            "details": details,
            "source": "canarybot",
            "tags": tags,
            "entity": page.service,
        })
    }

    /// Where a resolve goes: the alert named by its alias, percent-encoded as one path segment.
    pub fn close_url(&self, alias: &str) -> String {
        format!(
            "{}/v2/alerts/{}/close?identifierType=alias",
            self.api_url,
            crate::present::postmortem::path_segment(alias)
        )
    }
}

#[async_trait]
impl Pager for Opsgenie {
    fn provider(&self) -> &str {
        OPSGENIE
    }

    async fn send(&self, page: &PageMessage, links: &[Link]) -> Sent {
        let (url, body) = match page.action {
            PageAction::Trigger => (
                format!("{}/v2/alerts", self.api_url),
                self.alert(page, links),
            ),
            PageAction::Resolve => (
                self.close_url(&page.dedup_key),
                json!({"source": "canarybot", "note": "A decision was recorded in canarybot."}),
            ),
        };
        let resp = self
            .client
            .post(url)
            .header("authorization", format!("GenieKey {}", self.api_key))
            .json(&body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return unreachable("Opsgenie", &e),
        };
        let status = resp.status().as_u16();
        // Nothing to close: the alert was closed by hand, or never opened.
        if page.action == PageAction::Resolve && status == 404 {
            return Sent::Ok;
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        classify(
            "Opsgenie",
            status,
            retry_after.as_deref(),
            &body,
            &self.api_key,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn opsgenie() -> Opsgenie {
        Opsgenie::new(
            reqwest::Client::new(),
            &OpsgenieConfig {
                api_key: "0psgenie-key".into(),
                api_url: "https://api.opsgenie.com/".into(),
            },
        )
    }

    #[test]
    fn an_alert_fits_opsgenie_limits_and_closes_by_its_encoded_alias() {
        let page = PageMessage {
            action: PageAction::Trigger,
            dedup_key: "checkout:production:2.4.1/a b".into(),
            providers: vec!["opsgenie".into()],
            summary: format!("checkout 2.4.1 {}", "ü".repeat(300)),
            service: "checkout".into(),
            environment: "production".into(),
            version: "2.4.1".into(),
            details: BTreeMap::from([("deciders".to_string(), "slack:U01ALICE".to_string())]),
            page_url: None,
            drill: true,
        };
        let links = [Link {
            href: "https://canarybot.example.com/deploys/x".into(),
            text: "Canary page".into(),
        }];
        let alert = opsgenie().alert(&page, &links);
        let message = alert["message"].as_str().expect("message");
        assert_eq!(message.chars().count(), 130);
        assert_eq!(alert["alias"], "checkout:production:2.4.1/a b");
        assert_eq!(alert["priority"], "P1");
        assert_eq!(alert["source"], "canarybot");
        assert_eq!(
            alert["tags"],
            json!(["canarybot", "checkout", "production", "drill"])
        );
        assert_eq!(alert["details"]["deciders"], "slack:U01ALICE");
        assert_eq!(
            alert["details"]["Canary page"],
            "https://canarybot.example.com/deploys/x"
        );
        assert_eq!(
            opsgenie().close_url(&page.dedup_key),
            "https://api.opsgenie.com/v2/alerts/checkout%3Aproduction%3A2.4.1%2Fa%20b/close?identifierType=alias"
        );
    }
}
