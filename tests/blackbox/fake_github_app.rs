//! A fake GitHub API on loopback for the GitHub App: it verifies each JWT with the App's public
//! key (tests/fixtures/github/test-only-app-key.pub.pem) and its iat/exp window against a clock,
//! hands out installation tokens valid for an hour, and records every token exchange and every
//! protection-rule callback.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) const APP_ID: u64 = 123456;
pub(crate) const INSTALLATION: u64 = 42;
/// 2026-12-02T07:00:00Z
pub(crate) const START_MS: i64 = 1_796_194_800_000;
pub(crate) const MINUTE_MS: i64 = 60_000;

pub(crate) fn fixture(name: &str) -> String {
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
pub(crate) struct Exchange {
    pub(crate) installation: u64,
    /// Why the JWT was refused; `None` when it verified.
    pub(crate) jwt_problem: Option<String>,
    pub(crate) token: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Callback {
    pub(crate) path: String,
    pub(crate) authorization: String,
    pub(crate) accept: String,
    pub(crate) api_version: String,
    pub(crate) body: Value,
}

#[derive(Default)]
pub(crate) struct Record {
    exchanges: Vec<Exchange>,
    callbacks: Vec<Callback>,
    /// Installation tokens handed out, with when each expires (ms).
    issued: Vec<(String, i64)>,
    /// Statuses the callback answers next; 204 when empty.
    script: VecDeque<u16>,
}

#[derive(Clone)]
pub(crate) struct FakeGithub {
    pub(crate) url: String,
    pub(crate) public_key: Arc<Vec<u8>>,
    pub(crate) clock: Arc<AtomicI64>,
    pub(crate) record: Arc<Mutex<Record>>,
}

impl FakeGithub {
    pub(crate) async fn start(clock: Arc<AtomicI64>) -> FakeGithub {
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

    /// A fake whose clock follows the wall clock, for a canarybot running on real time.
    pub(crate) async fn start_live() -> FakeGithub {
        let clock = Arc::new(AtomicI64::new(chrono::Utc::now().timestamp_millis()));
        let fake = FakeGithub::start(clock.clone()).await;
        tokio::spawn(async move {
            loop {
                clock.store(chrono::Utc::now().timestamp_millis(), Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        fake
    }

    pub(crate) fn callback_url(&self, run: u64) -> String {
        format!(
            "{}/repos/Codertocat/Hello-World/actions/runs/{run}/deployment_protection_rule",
            self.url
        )
    }

    pub(crate) fn exchanges(&self) -> Vec<Exchange> {
        self.record.lock().expect("record").exchanges.clone()
    }

    pub(crate) fn callbacks(&self) -> Vec<Callback> {
        self.record.lock().expect("record").callbacks.clone()
    }

    pub(crate) fn script(&self, statuses: &[u16]) {
        self.record
            .lock()
            .expect("record")
            .script
            .extend(statuses.iter().copied());
    }

    /// What GitHub would say is wrong with this JWT now, if anything.
    pub(crate) fn jwt_problem(&self, jwt: &str) -> Option<String> {
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
