//! Paging providers: how a page reaches the person on call. The engine writes one outbox row per
//! provider a page goes to (`page:<provider>`, an `engine::PageItem`); the [`worker`] sends each
//! through that provider's [`Pager`]: PagerDuty Events API v2 ([`pagerduty`]) or Opsgenie alerts
//! ([`opsgenie`]), each at its configured base URL.
//!
//! One page is triggered and resolved with the same key (the deploy id): PagerDuty's `dedup_key`,
//! Opsgenie's `alias`. Both providers de-duplicate on it, which is what makes a retry safe.

pub mod opsgenie;
pub mod pagerduty;
pub mod worker;

use crate::config::Config;
use crate::present::paging::{ChangeMessage, PageMessage};
use async_trait::async_trait;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long one call to a provider may take before it counts as failed (and is retried).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A link sent with a page: the deploy's page, a canary thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// What a provider made of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Accepted (PagerDuty and Opsgenie answer 202).
    Ok,
    /// Not now: rate-limited (429), the provider failing (5xx), no answer. `after` is the
    /// provider's `Retry-After`, when it sent one.
    Retry {
        error: String,
        after: Option<Duration>,
        /// The provider said to slow down (429).
        rate_limited: bool,
    },
    /// Refused for good (400: the event is invalid, 401/403: the key is wrong); sending it
    /// again would be refused again.
    Permanent(String),
}

/// One paging provider. Its errors never contain its key: they are stored in the timeline and
/// said in the thread.
#[async_trait]
pub trait Pager: Send + Sync {
    /// `pagerduty`, `opsgenie`: the outbox target is `page:<provider>`.
    fn provider(&self) -> &str;
    /// Triggers or resolves `page`, with `links` (the deploy's page, the canary threads).
    async fn send(&self, page: &PageMessage, links: &[Link]) -> Sent;
    /// Records a change (a deploy started, promoted, rolled back), where the provider takes
    /// change events; the others refuse it.
    async fn change(&self, change: &ChangeMessage, links: &[Link]) -> Sent {
        let _ = (change, links);
        Sent::Permanent(format!("{} takes no change events", self.provider()))
    }
}

/// The canary threads' web links of a deploy, by its id. `app` builds it from the chat platforms
/// it knows; the paging room does not know them.
pub type ThreadLinks =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Vec<Link>> + Send>> + Send + Sync>;

/// A `ThreadLinks` that knows none.
pub fn no_thread_links() -> ThreadLinks {
    Arc::new(|_| Box::pin(async { Vec::new() }))
}

/// The pager of every provider `config` configures (see [`Config::pagers`]).
pub fn pagers(config: &Config, client: &reqwest::Client) -> Vec<Arc<dyn Pager>> {
    let mut out: Vec<Arc<dyn Pager>> = Vec::new();
    if let Some(pd) = &config.pagerduty {
        out.push(Arc::new(pagerduty::PagerDuty::new(client.clone(), pd)));
    }
    if let Some(og) = &config.opsgenie {
        out.push(Arc::new(opsgenie::Opsgenie::new(client.clone(), og)));
    }
    out
}

/// The client every pager shares.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("canarybot/", env!("CARGO_PKG_VERSION")))
        .timeout(CALL_TIMEOUT)
        .build()
}

/// At most `max` characters of `text`, cut on a character boundary, `…` marking a cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The longest provider answer kept in an error (it reaches the timeline and the thread).
const ANSWER_CHARS: usize = 300;

/// What an HTTP answer means for a page: 2xx accepted; 408, 429 and 5xx worth another try (with
/// `Retry-After`, when sent); any other status refused for good. `what` names the provider in the
/// error; `secret` is cut out of whatever the provider said.
pub fn classify(
    what: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    secret: &str,
) -> Sent {
    if (200..300).contains(&status) {
        return Sent::Ok;
    }
    let said = answer_words(body, secret);
    let error = if said.is_empty() {
        format!("{what} answered HTTP {status}")
    } else {
        format!("{what} answered HTTP {status}: {said}")
    };
    if status == 408 || status == 429 || status >= 500 {
        let after = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        Sent::Retry {
            error,
            after,
            rate_limited: status == 429,
        }
    } else {
        Sent::Permanent(error)
    }
}

/// A transport failure (no connection, no answer within [`CALL_TIMEOUT`]): worth another try.
/// reqwest's message names the URL, which holds no secret (keys travel in headers and bodies).
pub fn unreachable(what: &str, e: &reqwest::Error) -> Sent {
    let why = if e.is_timeout() {
        format!("no answer within {}s", CALL_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "the request failed".to_string()
    };
    Sent::Retry {
        error: format!("{what}: {why}"),
        after: None,
        rate_limited: false,
    }
}

/// The words of a provider's error answer: PagerDuty's `message` and `errors`, Opsgenie's
/// `message`, else the text itself; the secret cut out, control characters dropped, short.
fn answer_words(body: &str, secret: &str) -> String {
    let words = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => {
            let mut parts = Vec::new();
            if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                parts.push(m.to_string());
            }
            if let Some(errors) = v.get("errors") {
                match errors {
                    serde_json::Value::Array(a) => parts.extend(
                        a.iter()
                            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string)),
                    ),
                    serde_json::Value::Object(o) => {
                        parts.extend(o.iter().map(|(k, e)| format!("{k}: {e}")))
                    }
                    _ => {}
                }
            }
            if parts.is_empty() {
                v.to_string()
            } else {
                parts.join("; ")
            }
        }
        Err(_) => body.trim().to_string(),
    };
    // A secret of a few characters would cut ordinary words; the providers' keys are long.
    let words = if secret.len() < 4 {
        words
    } else {
        words.replace(secret, crate::redact::REDACTED)
    };
    let clean: String = words
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(clean.trim(), ANSWER_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_accepted_retried_and_refused() {
        assert_eq!(classify("PagerDuty", 202, None, "{}", "k"), Sent::Ok);
        assert_eq!(
            classify("PagerDuty", 429, Some("3"), "", "k"),
            Sent::Retry {
                error: "PagerDuty answered HTTP 429".into(),
                after: Some(Duration::from_secs(3)),
                rate_limited: true,
            }
        );
        assert!(matches!(
            classify("Opsgenie", 503, Some("soon"), "down", "k"),
            Sent::Retry { after: None, .. }
        ));
        let refused = classify(
            "PagerDuty",
            400,
            None,
            r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' 'R0UTINGKEY' is incorrect"]}"#,
            "R0UTINGKEY",
        );
        assert_eq!(
            refused,
            Sent::Permanent(
                "PagerDuty answered HTTP 400: Event object is invalid; Length of 'routing_key' '<redacted>' is incorrect".into()
            )
        );
        assert!(matches!(
            classify("Opsgenie", 401, None, "", "k"),
            Sent::Permanent(_)
        ));
    }

    #[test]
    fn truncation_cuts_on_a_character_boundary() {
        assert_eq!(truncate("short", 130), "short");
        let long = "é".repeat(200);
        let cut = truncate(&long, 130);
        assert_eq!(cut.chars().count(), 130);
        assert!(cut.ends_with('…'));
    }
}
