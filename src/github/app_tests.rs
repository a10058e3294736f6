//! The App's JWT (claims, time window, signature) with an injected clock, and which callback URLs
//! count as under `api_url`.

use super::*;
use std::sync::atomic::{AtomicI64, Ordering};

const KEY: &str = include_str!("../../tests/fixtures/github/test-only-app-key.pem");
/// 2026-12-02T07:00:00Z
const NOW_MS: i64 = 1_796_194_800_000;

fn config(api_url: &str) -> GithubConfig {
    GithubConfig {
        webhook_secrets: vec!["a-github-secret-0123".into()],
        app_id: Some(123456),
        private_key: Some(KEY.into()),
        private_key_path: None,
        api_url: api_url.into(),
    }
}

fn app_at(api_url: &str, now: Arc<AtomicI64>) -> GithubApp {
    let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
    GithubApp::from_config(&config(api_url), reqwest::Client::new(), clock)
        .expect("valid")
        .expect("an app")
}

fn app(api_url: &str) -> GithubApp {
    app_at(api_url, Arc::new(AtomicI64::new(NOW_MS)))
}

fn json_part(part: &str) -> serde_json::Value {
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[test]
fn the_jwt_is_rs256_issued_by_the_app_a_minute_back_and_expires_in_nine_minutes() {
    let app = app("https://api.github.com");
    let jwt = app.jwt(NOW_MS + 999).expect("signed");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    assert_eq!(
        json_part(parts[0]),
        serde_json::json!({"alg": "RS256", "typ": "JWT"})
    );
    let claims = json_part(parts[1]);
    let now = NOW_MS / 1000;
    assert_eq!(claims["iss"], "123456");
    assert_eq!(claims["iat"], now - 60);
    assert_eq!(claims["exp"], now + 9 * 60);
    // GitHub's bound: exp at most ten minutes after now.
    assert!(claims["exp"].as_i64().expect("exp") - now <= 600);
    // The signature is RS256 over `header.claims`, by the configured key.
    let public = app.key.key_pair().public().as_ref().to_vec();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &public)
        .verify(signed.as_bytes(), &signature)
        .expect("the signature verifies");
    let mut tampered = signed.clone().into_bytes();
    tampered[0] ^= 1;
    assert!(
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public
        )
        .verify(&tampered, &signature)
        .is_err()
    );
}

#[test]
fn the_jwt_follows_the_clock() {
    let now = Arc::new(AtomicI64::new(NOW_MS));
    let app = app_at("https://api.github.com", now.clone());
    let later = NOW_MS + 3_600_000;
    let claims = json_part(
        app.jwt(later)
            .expect("signed")
            .split('.')
            .nth(1)
            .expect("claims"),
    );
    assert_eq!(claims["iat"], later / 1000 - 60);
    assert_eq!(claims["exp"], later / 1000 + 540);
}

#[test]
fn no_app_without_an_app_id_and_debug_hides_the_key() {
    let mut c = config("https://api.github.com");
    c.app_id = None;
    c.private_key = None;
    let none = GithubApp::from_config(&c, reqwest::Client::new(), crate::system_clock());
    assert!(none.expect("valid").is_none());
    let debug = format!("{:?}", app("https://api.github.com"));
    assert!(debug.contains("123456"), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn callbacks_under_github_com_are_accepted_and_others_refused_with_the_reason() {
    let app = app("https://api.github.com");
    let inside =
        "https://api.github.com/repos/acme/checkout/actions/runs/42/deployment_protection_rule";
    assert_eq!(
        app.callback_under_api(inside).expect("inside").as_str(),
        inside
    );
    assert!(
        app.callback_under_api(
            "https://API.github.com:443/repos/acme/x/actions/runs/1/deployment_protection_rule"
        )
        .is_ok(),
        "the host's case and the default port are the same place"
    );
    for (url, why) in [
        (
            "https://evil.example/repos/acme/checkout/actions/runs/42/deployment_protection_rule",
            "another host",
        ),
        (
            "https://api.github.com.evil.example/repos/a/b",
            "another host",
        ),
        ("https://api.github.com:8443/repos/a/b", "another port"),
        ("http://api.github.com/repos/a/b", "another scheme"),
        ("https://api.github.com@evil.example/repos/a/b", "user info"),
        ("https://user:pw@api.github.com/repos/a/b", "user info"),
        ("https://api.github.com/repos/../../evil", "dot segments"),
        ("https://api.github.com/repos/%2E%2E/x", "dot segments"),
        ("https://api.github.com\\@evil.example/", "backslashes"),
        ("not a url", "not a URL"),
        ("/repos/a/b", "not a URL"),
    ] {
        match app.callback_under_api(url) {
            Err(GithubAppError::CallbackOutsideApi { why: said, .. }) => {
                assert!(said.contains(why), "{url}: {said}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // The refusal never shows a password.
    let err = app
        .callback_under_api("https://user:hunter2@api.github.com/x")
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn github_enterprise_callbacks_must_stay_under_its_api_path() {
    for api_url in ["https://ghe.example/api/v3", "https://ghe.example/api/v3/"] {
        let app = app(api_url);
        assert!(
            app.callback_under_api(
                "https://ghe.example/api/v3/repos/acme/x/actions/runs/7/deployment_protection_rule"
            )
            .is_ok(),
            "{api_url}"
        );
        for url in [
            "https://ghe.example/repos/acme/x/actions/runs/7/deployment_protection_rule",
            "https://ghe.example/api/v30/repos/acme/x",
            "https://ghe.example/api/v3",
            "https://ghe.example/api/v3/../../admin",
            "https://ghe.example/api/v3/%2e%2e/admin",
            "https://ghe.example:444/api/v3/repos/acme/x",
        ] {
            assert!(
                matches!(
                    app.callback_under_api(url),
                    Err(GithubAppError::CallbackOutsideApi { .. })
                ),
                "{api_url}: {url}"
            );
        }
    }
    // A plain-HTTP API with a port (a fake, or GHE behind a proxy) is matched port and all.
    let app = app("http://127.0.0.1:8080");
    assert!(
        app.callback_under_api("http://127.0.0.1:8080/repos/a")
            .is_ok()
    );
    assert!(
        app.callback_under_api("http://127.0.0.1:8081/repos/a")
            .is_err()
    );
    assert!(
        app.callback_under_api("http://localhost:8080/repos/a")
            .is_err()
    );
}

#[test]
fn review_states_are_lower_case_as_github_reads_them() {
    let body = serde_json::to_value(Review {
        environment_name: "production",
        state: ReviewState::Rejected,
        comment: "frozen",
    })
    .expect("json");
    assert_eq!(
        body,
        serde_json::json!({"environment_name": "production", "state": "rejected", "comment": "frozen"})
    );
    assert_eq!(ReviewState::Approved.as_str(), "approved");
}
