//! The GitHub App: canarybot authenticates as the App (an RS256 JWT signed with its private key),
//! exchanges that for an installation token (cached per installation until shortly before it
//! expires), and answers a deployment protection rule by POSTing the review to GitHub's
//! `deployment_callback_url` — only when that URL lies under the configured `api_url`, since it
//! comes from a request body. Tokens and JWTs never reach logs or errors.

use crate::Clock;
use crate::config::{AppKey, GithubConfig};
use crate::retry::{Backoff, Try};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// GitHub allows `iat` in the past to cover clock drift; it recommends 60 s.
const JWT_BACKDATE_SECS: i64 = 60;
/// `exp` may be at most 10 minutes ahead; 9 leaves room for a clock running a little fast.
const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// An installation token is used only while it has more than this left (GitHub gives it an hour).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(5 * 60);
const API_VERSION: &str = "2022-11-28";
const USER_AGENT: &str = concat!("canarybot/", env!("CARGO_PKG_VERSION"));
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// GitHub's `message` is quoted in errors up to this many characters.
const MESSAGE_CHARS: usize = 200;

/// A review of a deployment protection rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewState {
    Approved,
    Rejected,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "approved",
            ReviewState::Rejected => "rejected",
        }
    }
}

/// What went wrong talking to GitHub as the App. None of them carries a token.
#[derive(Debug, thiserror::Error)]
pub enum GithubAppError {
    /// The callback URL is not under `api_url`: nothing was sent.
    #[error("the callback URL {url} is not under the configured GitHub API {api_url}: {why}")]
    CallbackOutsideApi {
        url: String,
        api_url: String,
        why: &'static str,
    },
    #[error("cannot reach GitHub for {what}: {reason}")]
    Unreachable { what: &'static str, reason: String },
    #[error("GitHub refused {what}: HTTP {status}: {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("GitHub's answer to {what} is not what it documents: {reason}")]
    BadAnswer { what: &'static str, reason: String },
    #[error("cannot sign the App's JWT with its private key")]
    Signing,
}

impl GithubAppError {
    /// Worth another try: GitHub unreachable, a 5xx, or a 429 (after its `Retry-After`).
    fn is_transient(&self) -> bool {
        match self {
            GithubAppError::Unreachable { .. } => true,
            GithubAppError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            GithubAppError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[derive(Clone)]
struct CachedToken {
    token: String,
    /// Milliseconds since the epoch.
    expires_at: i64,
}

/// One slot per installation; its lock is held during an exchange, so concurrent callers for
/// the same installation wait for that one exchange instead of each making their own.
type TokenSlot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// The App, ready to answer protection rules. Cheap to share behind an `Arc`.
pub struct GithubApp {
    app_id: u64,
    key: AppKey,
    api: Url,
    http: reqwest::Client,
    clock: Clock,
    tokens: Mutex<HashMap<u64, TokenSlot>>,
    retries: u32,
    backoff: Backoff,
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("api_url", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

#[derive(Serialize)]
struct Review<'a> {
    environment_name: &'a str,
    state: ReviewState,
    comment: &'a str,
}

impl GithubApp {
    /// The App of `[github]`, or `None` without `app_id`. The key was checked when the
    /// configuration loaded; a problem here names its key all the same.
    pub fn from_config(
        config: &GithubConfig,
        http: reqwest::Client,
        clock: Clock,
    ) -> anyhow::Result<Option<GithubApp>> {
        let Some((app_id, key)) = crate::config::app_key(config).map_err(anyhow::Error::msg)?
        else {
            return Ok(None);
        };
        let api = api_base(&config.api_url).map_err(|e| {
            anyhow::anyhow!(
                "github.api_url: `{}` is not a URL: {e}",
                crate::redact::url(&config.api_url)
            )
        })?;
        Ok(Some(GithubApp {
            app_id,
            key,
            api,
            http,
            clock,
            tokens: Mutex::default(),
            retries: 3,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
        }))
    }

    /// Tries after the first, and the wait between them, for a review GitHub could not take.
    pub fn with_retries(mut self, retries: u32, backoff: Backoff) -> GithubApp {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The App's JWT at `now` (ms since the epoch): RS256, `iss` the app id (a string, as JWT's
    /// `iss` is), `iat` a minute back, `exp` nine minutes ahead.
    pub fn jwt(&self, now: i64) -> Result<String, GithubAppError> {
        let now_secs = now.div_euclid(1000);
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        let claims = serde_json::json!({
            "iat": now_secs - JWT_BACKDATE_SECS,
            "exp": now_secs + JWT_LIFETIME_SECS,
            "iss": self.app_id.to_string(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let pair = self.key.key_pair();
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| GithubAppError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// A token for this installation: the cached one while it has more than [`TOKEN_MARGIN`]
    /// left, else a fresh one from `POST /app/installations/{id}/access_tokens`.
    pub async fn installation_token(&self, installation_id: u64) -> Result<String, GithubAppError> {
        let slot = {
            let mut tokens = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tokens.entry(installation_id).or_default().clone()
        };
        let mut cached = slot.lock().await;
        let margin = i64::try_from(TOKEN_MARGIN.as_millis()).unwrap_or(i64::MAX);
        if let Some(t) = cached.as_ref()
            && t.expires_at.saturating_sub(margin) > (self.clock)()
        {
            return Ok(t.token.clone());
        }
        let fresh = self.exchange(installation_id).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets an installation's token (GitHub said it is no longer good).
    fn forget_token(&self, installation_id: u64) {
        let slot = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&installation_id)
            .cloned();
        if let Some(slot) = slot
            && let Ok(mut cached) = slot.try_lock()
        {
            *cached = None;
        }
    }

    async fn exchange(&self, installation_id: u64) -> Result<CachedToken, GithubAppError> {
        const WHAT: &str = "the installation token exchange";
        let jwt = self.jwt((self.clock)())?;
        let url = self.api_path(&format!(
            "app/installations/{installation_id}/access_tokens"
        ));
        let resp = self
            .github_request(self.http.post(url), &jwt)
            .send()
            .await
            .map_err(|e| unreachable(WHAT, e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| unreachable(WHAT, e))?;
        if !status.is_success() {
            return Err(refused(WHAT, status, &body, None));
        }
        let answer: AccessToken =
            serde_json::from_slice(&body).map_err(|e| GithubAppError::BadAnswer {
                what: WHAT,
                reason: format!("not {{token, expires_at}} ({e})"),
            })?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(&answer.expires_at)
            .map_err(|e| GithubAppError::BadAnswer {
                what: WHAT,
                reason: format!("expires_at `{}` is not a time ({e})", answer.expires_at),
            })?
            .timestamp_millis();
        if answer.token.is_empty() {
            return Err(GithubAppError::BadAnswer {
                what: WHAT,
                reason: "an empty token".into(),
            });
        }
        tracing::debug!(installation_id, expires_at = %answer.expires_at, "GitHub App installation token obtained");
        Ok(CachedToken {
            token: answer.token,
            expires_at,
        })
    }

    /// Answers a deployment protection rule: `POST {callback_url}` `{environment_name, state,
    /// comment}` with the installation's token. A callback URL outside `api_url` is refused before
    /// anything is sent. Unreachable, 5xx and 429 are tried again; other refusals are final.
    pub async fn answer_protection_rule(
        &self,
        callback_url: &str,
        installation_id: u64,
        environment_name: &str,
        state: ReviewState,
        comment: &str,
    ) -> Result<(), GithubAppError> {
        let url = self.callback_under_api(callback_url)?;
        let review = Review {
            environment_name,
            state,
            comment,
        };
        let outcome = crate::retry::with_retries(
            self.backoff,
            self.retries,
            |_| {
                let url = url.clone();
                let review = &review;
                async move {
                    match self.send_review(url, installation_id, review).await {
                        Ok(()) => Try::Done(()),
                        Err(error) if error.is_transient() => Try::Again {
                            retry_after: error.retry_after(),
                            error,
                        },
                        Err(error) => Try::GiveUp(error),
                    }
                }
            },
            |n, error, wait| {
                tracing::warn!(installation_id, environment = %environment_name, attempt = n, %error, ?wait,
                    "protection rule review failed; trying again");
            },
        )
        .await;
        outcome.map_err(|(error, attempts)| {
            tracing::warn!(installation_id, environment = %environment_name, attempts, %error,
                "protection rule review failed; giving up");
            error
        })
    }

    async fn send_review(
        &self,
        url: Url,
        installation_id: u64,
        review: &Review<'_>,
    ) -> Result<(), GithubAppError> {
        const WHAT: &str = "the protection rule review";
        let token = self.installation_token(installation_id).await?;
        let resp = self
            .github_request(self.http.post(url), &token)
            .json(review)
            .send()
            .await
            .map_err(|e| unreachable(WHAT, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            // The token was revoked or the installation changed: the next call exchanges anew.
            self.forget_token(installation_id);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.unwrap_or_default();
        Err(refused(WHAT, status, &body, retry_after))
    }

    /// The callback URL, if it lies under `api_url`: same scheme, host and port, no user info,
    /// a path under the API's path, and no dot segments in any spelling.
    pub fn callback_under_api(&self, callback_url: &str) -> Result<Url, GithubAppError> {
        let outside = |why| GithubAppError::CallbackOutsideApi {
            url: crate::redact::url(callback_url),
            api_url: self.api.as_str().trim_end_matches('/').to_string(),
            why,
        };
        let lower = callback_url.to_ascii_lowercase();
        if lower.contains("..") || lower.contains("%2e") || lower.contains('\\') {
            return Err(outside("dot segments or backslashes in the path"));
        }
        let url = Url::parse(callback_url).map_err(|_| outside("not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(outside("it carries user info"));
        }
        if url.scheme() != self.api.scheme() {
            return Err(outside("another scheme"));
        }
        if url.host_str() != self.api.host_str() {
            return Err(outside("another host"));
        }
        if url.port_or_known_default() != self.api.port_or_known_default() {
            return Err(outside("another port"));
        }
        // `api` keeps a trailing slash, so `/api/v3/` does not admit `/api/v30/…`.
        if !url.path().starts_with(self.api.path()) {
            return Err(outside("a path outside the API's"));
        }
        Ok(url)
    }

    fn api_path(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    fn github_request(
        &self,
        request: reqwest::RequestBuilder,
        bearer: &str,
    ) -> reqwest::RequestBuilder {
        request
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header(reqwest::header::USER_AGENT, USER_AGENT)
    }
}

/// `api_url` parsed, with exactly one trailing slash on its path.
fn api_base(api_url: &str) -> Result<Url, String> {
    let mut url = Url::parse(api_url.trim_end_matches('/')).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not http(s)".into());
    }
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

fn unreachable(what: &'static str, e: reqwest::Error) -> GithubAppError {
    // Without the URL (GitHub's own), but with every cause: "connection refused", "timed out".
    let e = e.without_url();
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    GithubAppError::Unreachable { what, reason }
}

/// A refusal with GitHub's `message` (or the start of the body when it is not GitHub's JSON).
fn refused(
    what: &'static str,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> GithubAppError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    GithubAppError::Refused {
        what,
        status: status.as_u16(),
        message: message.chars().take(MESSAGE_CHARS).collect(),
        retry_after,
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
