//! PagerDuty Events API v2: `POST {api_url}/v2/enqueue`, routed by the integration key in the
//! body. A trigger opens an incident (or joins the open one with the same `dedup_key`); a resolve
//! with that key closes it. 202 is accepted; 429 and 5xx are worth another try; 400 is an
//! invalid event, refused for good. With `change_events = true`, deploys started, promoted and
//! rolled back go to `POST {api_url}/v2/change/enqueue` as change events.

use super::{Link, Pager, Sent, classify, truncate, unreachable};
use crate::config::{PAGERDUTY, PagerDutyConfig};
use crate::domain::PageAction;
use crate::present::paging::{ChangeMessage, PageMessage};
use crate::present::words::rfc3339;
use async_trait::async_trait;
use serde_json::{Value, json};

/// PagerDuty keeps at most this many characters of a summary.
const SUMMARY_CHARS: usize = 1024;

pub struct PagerDuty {
    client: reqwest::Client,
    routing_key: String,
    api_url: String,
}

impl PagerDuty {
    pub fn new(client: reqwest::Client, config: &PagerDutyConfig) -> Self {
        PagerDuty {
            client,
            routing_key: config.routing_key.clone(),
            api_url: config.api_url.trim_end_matches('/').to_string(),
        }
    }

    /// The change event for `change`.
    pub fn change_event(&self, change: &ChangeMessage, links: &[Link]) -> Value {
        let mut details = serde_json::Map::new();
        details.insert("change".into(), json!(change.change));
        details.insert("service".into(), json!(change.service));
        details.insert("environment".into(), json!(change.environment));
        details.insert("version".into(), json!(change.version));
        for (k, v) in &change.details {
            details.insert(k.clone(), json!(v));
        }
        json!({
            "routing_key": self.routing_key,
            "payload": {
                "summary": truncate(&change.summary, SUMMARY_CHARS),
                "timestamp": rfc3339(change.at_ms),
                "source": "canarybot",
                "custom_details": details,
            },
            "links": links,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Sent {
        let resp = self
            .client
            .post(format!("{}{path}", self.api_url))
            .json(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return unreachable("PagerDuty", &e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        classify(
            "PagerDuty",
            status,
            retry_after.as_deref(),
            &body,
            &self.routing_key,
        )
    }

    /// The event for `page`: a trigger with its words and links, or a resolve naming its key.
    pub fn event(&self, page: &PageMessage, links: &[Link]) -> Value {
        match page.action {
            PageAction::Resolve => json!({
                "routing_key": self.routing_key,
                "event_action": "resolve",
                "dedup_key": page.dedup_key,
            }),
            PageAction::Trigger => {
                let mut details = serde_json::Map::new();
                details.insert("version".into(), json!(page.version));
                for (k, v) in &page.details {
                    details.insert(k.clone(), json!(v));
                }
                if page.drill {
                    details.insert("drill".into(), json!("yes: a rehearsal, nothing is broken"));
                }
                let mut event = json!({
                    "routing_key": self.routing_key,
                    "event_action": "trigger",
                    "dedup_key": page.dedup_key,
                    "payload": {
                        "summary": truncate(&page.summary, SUMMARY_CHARS),
                        "source": "canarybot",
                        "severity": "critical",
                        "component": page.service,
                        "group": page.environment,
                        "custom_details": details,
                    },
                    "links": links,
                    "client": "canarybot",
                });
                if let Some(url) = &page.page_url {
                    event["client_url"] = json!(url);
                }
                event
            }
        }
    }
}

#[async_trait]
impl Pager for PagerDuty {
    fn provider(&self) -> &str {
        PAGERDUTY
    }

    async fn send(&self, page: &PageMessage, links: &[Link]) -> Sent {
        self.post("/v2/enqueue", &self.event(page, links)).await
    }

    async fn change(&self, change: &ChangeMessage, links: &[Link]) -> Sent {
        self.post("/v2/change/enqueue", &self.change_event(change, links))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn page(action: PageAction) -> PageMessage {
        PageMessage {
            action,
            dedup_key: "checkout:production:2.4.1".into(),
            providers: vec!["pagerduty".into()],
            summary: "checkout 2.4.1 in production: 5xx ratio breached, no decision for 10m".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "2.4.1".into(),
            details: BTreeMap::from([("deciders".to_string(), "slack:U01ALICE".to_string())]),
            page_url: Some(
                "https://canarybot.example.com/deploys/checkout%3Aproduction%3A2.4.1".into(),
            ),
            drill: false,
        }
    }

    fn pd() -> PagerDuty {
        PagerDuty::new(
            reqwest::Client::new(),
            &PagerDutyConfig {
                routing_key: "R0UTINGKEY0123456789abcdef012345".into(),
                api_url: "https://events.pagerduty.com/".into(),
                change_events: true,
            },
        )
    }

    /// The trigger has every key of PagerDuty's documented example, with the same types.
    #[test]
    fn a_trigger_has_the_shape_of_the_documented_event() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/pagerduty/events-v2.trigger.json"
        ))
        .expect("fixture");
        let links = [Link {
            href: "https://canarybot.example.com/deploys/checkout%3Aproduction%3A2.4.1".into(),
            text: "Canary page".into(),
        }];
        let event = pd().event(&page(PageAction::Trigger), &links);
        let want = &fixture["request"];
        for key in ["routing_key", "event_action", "dedup_key", "client"] {
            assert_eq!(event[key], want[key], "{key}");
        }
        // "View in canarybot" opens the deploy's own page, under the fixture's site.
        let client_url = event["client_url"].as_str().expect("client_url");
        let site = want["client_url"].as_str().expect("fixture client_url");
        assert!(client_url.starts_with(site), "{client_url}");
        for key in ["source", "severity", "component", "group"] {
            assert_eq!(event["payload"][key], want["payload"][key], "payload.{key}");
        }
        assert!(event["payload"]["summary"].is_string());
        assert!(event["payload"]["custom_details"].is_object());
        assert_eq!(event["links"], want["links"]);
        let resolve = pd().event(&page(PageAction::Resolve), &links);
        assert_eq!(
            resolve,
            json!({"routing_key": "R0UTINGKEY0123456789abcdef012345", "event_action": "resolve", "dedup_key": "checkout:production:2.4.1"})
        );
    }
}
