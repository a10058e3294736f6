//! The GitHub App against the fake GitHub API on loopback (`fake_github_app`): JWTs verified with
//! the App's public key and the test's clock, installation tokens reused until shortly before they
//! expire, callbacks outside `api_url` refused, retries.

use crate::fake_github_app::{APP_ID, FakeGithub, INSTALLATION, MINUTE_MS, START_MS, fixture};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use canarybot::config::GithubConfig;
use canarybot::github::{GithubApp, GithubAppError, ReviewState};
use canarybot::retry::Backoff;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

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
