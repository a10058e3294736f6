//! The GitHub App against a fake GitHub API on loopback: the fake verifies each JWT with the App's
//! public key (tests/fixtures/github/test-only-app-key.pub.pem) and its iat/exp window against the
//! test's clock, hands out installation tokens valid for an hour, and records every call.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use canarybot::config::GithubConfig;
use canarybot::github::{GithubApp, GithubAppError, ReviewState};
use canarybot::retry::Backoff;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP_ID: u64 = 123456;
const INSTALLATION: u64 = 42;
/// 2026-12-02T07:00:00Z
const START_MS: i64 = 1_796_194_800_000;
const MINUTE_MS: i64 = 60_000;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One DER element: its tag, its content, and what follows it.
fn der(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
    let (tag, first) = (bytes[0], bytes[1]);
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        let len = bytes[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        (len, 2 + n)
    };
    (tag, &bytes[head..head + len], &bytes[head + len..])
}

/// The PKCS#1 `RSAPublicKey` inside the `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) PEM that
/// `openssl rsa -pubout` writes, which is what ring verifies with.
fn rsa_public_key(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    let spki = STANDARD.decode(body).expect("base64");
    let (_, info, _) = der(&spki);
    let (_, _algorithm, rest) = der(info);
    let (tag, bits, _) = der(rest);
    assert_eq!(tag, 0x03, "a BIT STRING");
    bits[1..].to_vec()
}

#[derive(Debug, Clone)]
struct Exchange {
    installation: u64,
    /// Why the JWT was refused; `None` when it verified.
    jwt_problem: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Clone)]
struct Callback {
    path: String,
    authorization: String,
    accept: String,
    api_version: String,
    body: Value,
}

#[derive(Default)]
struct Record {
    exchanges: Vec<Exchange>,
    callbacks: Vec<Callback>,
    /// Installation tokens handed out, with when each expires (ms).
    issued: Vec<(String, i64)>,
    /// Statuses the callback answers next; 204 when empty.
    script: VecDeque<u16>,
}

#[derive(Clone)]
struct FakeGithub {
    url: String,
    public_key: Arc<Vec<u8>>,
    clock: Arc<AtomicI64>,
    record: Arc<Mutex<Record>>,
}

impl FakeGithub {
    async fn start(clock: Arc<AtomicI64>) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake GitHub");
        let fake = FakeGithub {
            url: format!("http://{}", listener.local_addr().expect("addr")),
            public_key: Arc::new(rsa_public_key(&fixture("test-only-app-key.pub.pem"))),
            clock,
            record: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/app/installations/{id}/access_tokens",
                axum::routing::post(access_tokens),
            )
            .route(
                "/repos/{owner}/{repo}/actions/runs/{run}/deployment_protection_rule",
                axum::routing::post(take_review),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn callback_url(&self, run: u64) -> String {
        format!(
            "{}/repos/Codertocat/Hello-World/actions/runs/{run}/deployment_protection_rule",
            self.url
        )
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.record.lock().expect("record").exchanges.clone()
    }

    fn callbacks(&self) -> Vec<Callback> {
        self.record.lock().expect("record").callbacks.clone()
    }

    fn script(&self, statuses: &[u16]) {
        self.record
            .lock()
            .expect("record")
            .script
            .extend(statuses.iter().copied());
    }

    /// What GitHub would say is wrong with this JWT now, if anything.
    fn jwt_problem(&self, jwt: &str) -> Option<String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Some(format!("{} parts, not 3", parts.len()));
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        if ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            self.public_key.as_slice(),
        )
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .is_err()
        {
            return Some("the signature does not verify with the App's public key".into());
        }
        let decode = |part: &str| -> Value {
            URL_SAFE_NO_PAD
                .decode(part)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        };
        if decode(header) != json!({"alg": "RS256", "typ": "JWT"}) {
            return Some(format!("header {}", decode(header)));
        }
        let claims = decode(claims);
        let now = self.clock.load(Ordering::SeqCst) / 1000;
        let (iat, exp) = (claims["iat"].as_i64()?, claims["exp"].as_i64()?);
        if claims["iss"] != json!(APP_ID.to_string()) {
            return Some(format!("iss {}", claims["iss"]));
        }
        if iat > now || iat < now - 120 {
            return Some(format!("iat {iat} is not shortly before now {now}"));
        }
        if exp <= now || exp > now + 600 {
            return Some(format!("exp {exp} is not within ten minutes of now {now}"));
        }
        None
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn access_tokens(
    State(fake): State<FakeGithub>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let jwt = header(&headers, "authorization")
        .strip_prefix("Bearer ")
        .map(str::to_string)
        .unwrap_or_default();
    let mut problem = fake.jwt_problem(&jwt);
    if header(&headers, "accept") != "application/vnd.github+json"
        || header(&headers, "x-github-api-version") != "2022-11-28"
        || !header(&headers, "user-agent").starts_with("canarybot/")
    {
        problem = Some(format!("headers {headers:?}"));
    }
    let mut record = fake.record.lock().expect("record");
    if let Some(problem) = problem {
        record.exchanges.push(Exchange {
            installation: id,
            jwt_problem: Some(problem),
            token: None,
        });
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "A JSON web token could not be decoded"})),
        )
            .into_response();
    }
    let token = format!("ghs_test{}", record.issued.len() + 1);
    let expires = fake.clock.load(Ordering::SeqCst) + 60 * MINUTE_MS;
    record.issued.push((token.clone(), expires));
    record.exchanges.push(Exchange {
        installation: id,
        jwt_problem: None,
        token: Some(token.clone()),
    });
    let expires_at = chrono::DateTime::from_timestamp_millis(expires)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_at": expires_at, "permissions": {"deployments": "write"}})),
    )
        .into_response()
}

async fn take_review(
    State(fake): State<FakeGithub>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut record = fake.record.lock().expect("record");
    let authorization = header(&headers, "authorization");
    let now = fake.clock.load(Ordering::SeqCst);
    let valid = record
        .issued
        .iter()
        .any(|(t, expires)| authorization == format!("Bearer {t}") && *expires > now);
    record.callbacks.push(Callback {
        path: uri.path().to_string(),
        authorization,
        accept: header(&headers, "accept"),
        api_version: header(&headers, "x-github-api-version"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    match record.script.pop_front().unwrap_or(204) {
        204 => StatusCode::NO_CONTENT.into_response(),
        status => (
            StatusCode::from_u16(status).expect("status"),
            Json(json!({"message": format!("scripted {status}")})),
        )
            .into_response(),
    }
}

fn app_for(fake: &FakeGithub, clock: Arc<AtomicI64>) -> Arc<GithubApp> {
    let config = GithubConfig {
        webhook_secrets: vec!["a-github-secret-0123".into()],
        app_id: Some(APP_ID),
        private_key: Some(fixture("test-only-app-key.pem")),
        private_key_path: None,
        api_url: fake.url.clone(),
    };
    let clock: canarybot::Clock = Arc::new(move || clock.load(Ordering::SeqCst));
    let app = GithubApp::from_config(&config, reqwest::Client::new(), clock)
        .expect("valid")
        .expect("an app")
        .with_retries(
            3,
            Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
        );
    Arc::new(app)
}

async fn setup() -> (FakeGithub, Arc<GithubApp>, Arc<AtomicI64>) {
    let clock = Arc::new(AtomicI64::new(START_MS));
    let fake = FakeGithub::start(clock.clone()).await;
    let app = app_for(&fake, clock.clone());
    (fake, app, clock)
}

/// A review for installation 42's `production`.
async fn review(
    app: &GithubApp,
    callback: &str,
    state: ReviewState,
    comment: &str,
) -> Result<(), GithubAppError> {
    app.answer_protection_rule(callback, INSTALLATION, "production", state, comment)
        .await
}

#[tokio::test]
async fn the_jwt_verifies_and_one_token_serves_until_shortly_before_it_expires() {
    let (fake, app, clock) = setup().await;
    let callback = fake.callback_url(4711470234);
    for comment in ["first", "second", "third"] {
        review(&app, &callback, ReviewState::Approved, comment)
            .await
            .expect("reviewed");
    }
    let exchanges = fake.exchanges();
    assert_eq!(
        exchanges.len(),
        1,
        "one exchange for three reviews: {exchanges:?}"
    );
    assert_eq!(exchanges[0].jwt_problem, None, "{exchanges:?}");
    assert_eq!(exchanges[0].installation, INSTALLATION);
    let callbacks = fake.callbacks();
    assert_eq!(callbacks.len(), 3);
    let first = &callbacks[0];
    assert_eq!(
        first.path,
        "/repos/Codertocat/Hello-World/actions/runs/4711470234/deployment_protection_rule"
    );
    assert_eq!(first.authorization, "Bearer ghs_test1");
    assert_eq!(first.accept, "application/vnd.github+json");
    assert_eq!(first.api_version, "2022-11-28");
    assert_eq!(
        first.body,
        json!({"environment_name": "production", "state": "approved", "comment": "first"})
    );

    // Several callers at once for another installation: still one exchange.
    let reviews = (0..5).map(|i| {
        let app = app.clone();
        let callback = fake.callback_url(100 + i);
        tokio::spawn(async move {
            app.answer_protection_rule(&callback, 7, "staging", ReviewState::Rejected, "frozen")
                .await
        })
    });
    for review in reviews {
        review.await.expect("joined").expect("reviewed");
    }
    let for_seven = fake
        .exchanges()
        .into_iter()
        .filter(|e| e.installation == 7)
        .count();
    assert_eq!(for_seven, 1, "concurrent callers share one exchange");

    // 54 minutes into the hour the token still serves; past 55 (an hour less five minutes) it
    // is exchanged anew, with a fresh JWT valid at the new time.
    clock.store(START_MS + 54 * MINUTE_MS, Ordering::SeqCst);
    review(&app, &callback, ReviewState::Approved, "54")
        .await
        .expect("reviewed");
    assert_eq!(fake.exchanges().len(), 2, "no new exchange at 54 minutes");
    clock.store(START_MS + 55 * MINUTE_MS + 1000, Ordering::SeqCst);
    review(&app, &callback, ReviewState::Approved, "55")
        .await
        .expect("reviewed");
    let exchanges = fake.exchanges();
    assert_eq!(exchanges.len(), 3, "{exchanges:?}");
    assert_eq!(exchanges[2].jwt_problem, None, "{exchanges:?}");
    let last = fake.callbacks().pop().expect("a callback");
    assert_eq!(
        last.authorization,
        format!("Bearer {}", exchanges[2].token.clone().expect("a token"))
    );
    assert_ne!(last.authorization, "Bearer ghs_test1");
}

#[tokio::test]
async fn the_fake_refuses_a_forged_or_stale_jwt() {
    // The fake's check has teeth: changed claims or an old JWT do not pass.
    let clock = Arc::new(AtomicI64::new(START_MS));
    let fake = FakeGithub::start(clock.clone()).await;
    let app = app_for(&fake, clock.clone());
    let jwt = app.jwt(START_MS).expect("signed");
    assert_eq!(fake.jwt_problem(&jwt), None);
    let mut forged: Vec<&str> = jwt.split('.').collect();
    let claims = URL_SAFE_NO_PAD.encode(
        json!({"iat": START_MS / 1000 - 60, "exp": START_MS / 1000 + 540, "iss": "999"})
            .to_string(),
    );
    forged[1] = &claims;
    assert!(fake.jwt_problem(&forged.join(".")).is_some());
    // A JWT made an hour ago is out of its window.
    let stale = app.jwt(START_MS - 60 * MINUTE_MS).expect("signed");
    let problem = fake.jwt_problem(&stale).expect("stale");
    assert!(problem.contains("iat"), "{problem}");
}

#[tokio::test]
async fn a_callback_outside_api_url_sends_nothing() {
    let (fake, app, _clock) = setup().await;
    let elsewhere = FakeGithub::start(Arc::new(AtomicI64::new(START_MS))).await;
    for url in [
        elsewhere.callback_url(1),
        fake.callback_url(1).replace("127.0.0.1", "localhost"),
        fake.callback_url(1).replace("http://", "http://x:y@"),
        format!("{}/repos/a/b/../../../app/installations/42/access_tokens", fake.url),
        "https://api.github.com/repos/Codertocat/Hello-World/actions/runs/1/deployment_protection_rule".into(),
    ] {
        let err = review(&app, &url, ReviewState::Approved, "ok").await
            .expect_err("refused");
        assert!(
            matches!(err, GithubAppError::CallbackOutsideApi { .. }),
            "{url}: {err}"
        );
    }
    assert!(fake.exchanges().is_empty(), "no token was even asked for");
    assert!(fake.callbacks().is_empty());
    assert!(elsewhere.exchanges().is_empty() && elsewhere.callbacks().is_empty());
}

#[tokio::test]
async fn a_500_from_the_callback_is_retried_and_a_422_is_not() {
    let (fake, app, _clock) = setup().await;
    let callback = fake.callback_url(9);
    fake.script(&[500, 502]);
    review(&app, &callback, ReviewState::Rejected, "breached")
        .await
        .expect("reviewed on the third try");
    let callbacks = fake.callbacks();
    assert_eq!(callbacks.len(), 3, "{callbacks:?}");
    assert!(callbacks.iter().all(|c| c.body["state"] == "rejected"));
    assert_eq!(
        fake.exchanges().len(),
        1,
        "the token is reused across tries"
    );

    fake.script(&[422]);
    let err = review(&app, &callback, ReviewState::Approved, "ok")
        .await
        .expect_err("refused");
    match err {
        GithubAppError::Refused {
            status, message, ..
        } => {
            assert_eq!(status, 422);
            assert_eq!(message, "scripted 422");
        }
        other => panic!("{other}"),
    }
    assert_eq!(fake.callbacks().len(), 4, "a 422 is not tried again");

    // Every try failing: the last error, after 1 + retries tries.
    fake.script(&[500, 500, 500, 500]);
    let err = review(&app, &callback, ReviewState::Approved, "ok")
        .await
        .expect_err("gave up");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(fake.callbacks().len(), 8);
    assert!(
        !err.to_string().contains("ghs_"),
        "no token in errors: {err}"
    );
}

#[tokio::test]
async fn github_unreachable_is_an_unreachable_error_after_the_retries() {
    let clock = Arc::new(AtomicI64::new(START_MS));
    let fake = FakeGithub::start(clock.clone()).await;
    // A port nothing listens on: bind one, note it, drop it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let gone = FakeGithub {
        url,
        ..fake.clone()
    };
    let app = app_for(&gone, clock);
    let err = review(&app, &gone.callback_url(1), ReviewState::Approved, "ok")
        .await
        .expect_err("unreachable");
    assert!(matches!(err, GithubAppError::Unreachable { .. }), "{err}");
}
