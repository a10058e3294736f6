//! `canarybot gate`: a pipeline asks a running server's `GET /api/gate` whether a deploy may
//! start, and waits for it to open when told to.

use anyhow::bail;
use std::time::{Duration, Instant};

/// What to ask, and where.
pub struct GateQuestion {
    /// The server's base URL.
    pub server: String,
    /// An API token (`server.api_tokens`), when the server wants one.
    pub token: Option<String>,
    pub service: String,
    pub environment: String,
    pub sha: Option<String>,
    /// How long to wait for the gate to open; `None`: ask once.
    pub wait: Option<Duration>,
    /// How often to ask again while waiting.
    pub poll: Duration,
}

/// The server's answer: open or closed, with the reason it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateVerdict {
    Open(String),
    Closed(String),
}

/// The answer once open, or closed when the wait runs out (or there is no wait). An error is
/// anything else: the server unreachable, an unknown service, a refused token.
pub async fn ask_until_open(q: &GateQuestion) -> anyhow::Result<GateVerdict> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = q.wait.map(|w| Instant::now() + w);
    let mut last_reason = None;
    loop {
        let verdict = ask_once(&http, q).await?;
        let GateVerdict::Closed(reason) = &verdict else {
            return Ok(verdict);
        };
        let Some(deadline) = deadline.filter(|d| Instant::now() + q.poll <= *d) else {
            return Ok(verdict);
        };
        // Say what it waits for, once per reason: a pipeline's log shows why it is stuck.
        if last_reason.as_ref() != Some(reason) {
            let left = deadline.saturating_duration_since(Instant::now());
            eprintln!(
                "waiting (up to {}): {reason}",
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            );
            last_reason = Some(reason.clone());
        }
        tokio::time::sleep(q.poll).await;
    }
}

async fn ask_once(http: &reqwest::Client, q: &GateQuestion) -> anyhow::Result<GateVerdict> {
    let base = q.server.trim_end_matches('/');
    let mut params = vec![
        ("service", q.service.as_str()),
        ("environment", q.environment.as_str()),
    ];
    if let Some(sha) = &q.sha {
        params.push(("sha", sha));
    }
    let query = serde_urlencoded::to_string(&params)?;
    let req = http.get(format!("{base}/api/gate?{query}"));
    let (status, answer) = crate::client::api_call(req, base, q.token.as_deref()).await?;
    if status != 200 {
        bail!(
            "server answered HTTP {status}: {}",
            answer["error"].as_str().unwrap_or("(no error message)")
        );
    }
    let reason = answer["reason"].as_str().unwrap_or_default().to_string();
    match answer["open"].as_bool() {
        Some(true) => Ok(GateVerdict::Open(reason)),
        Some(false) => Ok(GateVerdict::Closed(reason)),
        None => bail!("the server's answer has no `open`: {answer}"),
    }
}
