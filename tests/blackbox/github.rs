//! GitHub deployment webhooks, with GitHub's own example payloads.

use crate::on_both_backends;
use crate::support::{Backend, GITHUB_SECRET, Setup, TestApp};
use canarybot::auth::sign;
use serde_json::Value;

on_both_backends!(deployments_and_statuses_from_github);

pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/github/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

pub async fn send(
    app: &TestApp,
    event: &str,
    delivery: &str,
    body: &Value,
    secret: &str,
) -> (u16, Value) {
    let raw = serde_json::to_vec(body).expect("json");
    let resp = app
        .http
        .post(format!("{}/hooks/github", app.url))
        .header("content-type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", sign(secret, &raw))
        .body(raw)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn deployments_and_statuses_from_github(b: Backend) {
    let Some(app) = TestApp::spawn(
        b,
        Setup {
            github: true,
            ..Setup::default()
        },
    )
    .await
    else {
        return;
    };
    let (status, _) = send(
        &app,
        "ping",
        "d-0",
        &serde_json::json!({"zen": "Keep it logically awesome."}),
        GITHUB_SECRET,
    )
    .await;
    assert_eq!(status, 200);

    let deployment = fixture("deployment.payload.json");
    let (status, _) = send(&app, "deployment", "d-1", &deployment, "not-the-secret").await;
    assert_eq!(status, 401);
    let (_, list) = app.get("/api/deploys").await;
    assert_eq!(list, "[]", "unauthenticated: nothing stored");

    let (status, first) = send(&app, "deployment", "d-1", &deployment, GITHUB_SECRET).await;
    assert_eq!(status, 202, "{first}");
    let id = "checkout:production:master@f95f852";
    assert_eq!(first["deploy_id"], id);
    let (_, again) = send(&app, "deployment", "d-1", &deployment, GITHUB_SECRET).await;
    assert_eq!(first, again, "a redelivery is answered the same");
    let t = app.timeline(id).await;
    assert_eq!(t["events"][0]["actor"], "Codertocat");
    assert_eq!(
        t["deploy"]["sha"],
        "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    );
    assert_eq!(
        t["deploy"]["url"],
        "https://github.com/Codertocat/Hello-World/deployments"
    );

    for (delivery, name) in [
        ("d-2", "deployment_status.payload.json"),
        ("d-3", "deployment_status.with-installation.payload.json"),
    ] {
        let (status, body) = send(
            &app,
            "deployment_status",
            delivery,
            &fixture(name),
            GITHUB_SECRET,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(
            body["state"], "canary",
            "success: the rollout is done, watching continues"
        );
    }
    assert!(app.kinds(id).await.contains(&"note".to_string()));

    // Not this bot's repository: accepted and ignored, with the reason.
    let mut other = deployment.clone();
    other["repository"]["full_name"] = "someone/else".into();
    let (status, body) = send(&app, "deployment", "d-4", &other, GITHUB_SECRET).await;
    assert_eq!(status, 202);
    assert!(
        body["ignored"]
            .as_str()
            .unwrap_or_default()
            .contains("someone/else"),
        "{body}"
    );

    // A rollback deployment that succeeds is the rollback done.
    let mut rollback = fixture("deployment_status.payload.json");
    rollback["deployment"]["task"] = "rollback".into();
    rollback["deployment"]["sha"] = "0000000aaaaaaa".into();
    rollback["deployment"]["payload"] = serde_json::json!({"undoes": id});
    let (status, body) = send(&app, "deployment_status", "d-5", &rollback, GITHUB_SECRET).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "rolled_back");

    // A ref with a slash still makes a usable deploy id.
    let mut branch = deployment.clone();
    branch["deployment"]["ref"] = "release/2.4".into();
    branch["deployment"]["sha"] = "2222222cccccccc".into();
    let (_, body) = send(&app, "deployment", "d-5b", &branch, GITHUB_SECRET).await;
    assert_eq!(
        body["deploy_id"], "checkout:production:release-2.4@2222222",
        "{body}"
    );

    // A failed deployment is the deploy failed.
    let mut second = deployment.clone();
    second["deployment"]["sha"] = "1111111bbbbbbbb".into();
    send(&app, "deployment", "d-6", &second, GITHUB_SECRET).await;
    let mut failed = fixture("deployment_status.payload.json");
    failed["deployment"] = second["deployment"].clone();
    failed["deployment_status"]["state"] = "failure".into();
    let (_, body) = send(&app, "deployment_status", "d-7", &failed, GITHUB_SECRET).await;
    assert_eq!(body["state"], "failed", "{body}");
    app.finish().await;
}

on_both_backends!(a_rollback_dispatches_the_workflow);

/// A fake GitHub API that records workflow dispatches and answers 204 (or 422 while `refuse`).
async fn fake_github(
    refuse: bool,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, Value, String)>>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let s = s.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                s.lock().expect("seen").push((
                    uri.path().to_string(),
                    serde_json::from_slice(&body).unwrap_or(Value::Null),
                    auth,
                ));
                if refuse {
                    (
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        "{\"message\":\"Workflow does not have 'workflow_dispatch' trigger\"}",
                    )
                } else {
                    (axum::http::StatusCode::NO_CONTENT, "")
                }
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

fn workflow_setup(api: &str) -> Setup {
    Setup {
        executor: None,
        rollback_toml: Some(format!(
            "[service.rollback]\nkind = \"github-workflow\"\nrepo = \"acme/checkout\"\nworkflow = \"rollback.yml\"\nref = \"main\"\ntoken = \"ghp-test-token\"\napi_url = \"{api}\"\nretries = 1\nbackoff = \"50ms\"\ninputs = {{ deploy = \"{{{{deploy_id}}}}\", version = \"{{{{version}}}}\", why = \"{{{{reason}}}}\" }}\n"
        )),
        ..Setup::default()
    }
}

async fn a_rollback_dispatches_the_workflow(b: Backend) {
    let (api, seen) = fake_github(false).await;
    let Some(app) = TestApp::spawn(b, workflow_setup(&api)).await else {
        return;
    };
    let id = app.start_deploy("4.2.0").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_kind(&id, "rollback_started").await;
    assert_eq!(
        app.state(&id).await,
        "rolling_back",
        "204 is started, not done"
    );
    let calls = seen.lock().expect("seen").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].0,
        "/repos/acme/checkout/actions/workflows/rollback.yml/dispatches"
    );
    assert_eq!(calls[0].1["ref"], "main");
    assert_eq!(calls[0].1["inputs"]["deploy"], id.as_str());
    assert_eq!(calls[0].1["inputs"]["version"], "4.2.0");
    assert_eq!(calls[0].1["inputs"]["why"], "p99 doubled");
    assert_eq!(calls[0].2, "Bearer ghp-test-token");
    // The pipeline the workflow runs reports the rollback done.
    let (status, _) = app
        .signed(
            "/hooks/deploy",
            &serde_json::json!({"event": "rolled_back", "service": "checkout", "version": "4.2.0"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(app.state(&id).await, "rolled_back");
    app.finish().await;

    let (api, seen) = fake_github(true).await;
    let Some(app) = TestApp::spawn(b, workflow_setup(&api)).await else {
        return;
    };
    let id = app.start_deploy("4.2.1").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rollback_failed").await;
    assert_eq!(seen.lock().expect("seen").len(), 2, "one retry");
    let t = app.timeline(&id).await.to_string();
    assert!(
        t.contains("HTTP 422") && !t.contains("ghp-test-token"),
        "{t}"
    );
    app.finish().await;
}
