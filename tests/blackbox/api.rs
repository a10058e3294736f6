//! The read API, tokens, health.

use crate::on_both_backends;
use crate::support::{Backend, Setup, TOKEN, TestApp};

on_both_backends!(
    api_needs_a_token_when_configured,
    listing_and_timelines,
    health_and_readiness,
    every_error_is_json,
);

async fn api_needs_a_token_when_configured(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    let url = format!("{}/api/deploys/{id}/timeline", app.url);
    let resp = app.http.get(&url).send().await.expect("get");
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Bearer"),
        "{body}"
    );
    let resp = app
        .http
        .get(&url)
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = app
        .http
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = app
        .http
        .post(format!("{}/api/deploys/{id}/votes", app.url))
        .json(&serde_json::json!({"identity": "slack:U01ALICE", "choice": "rollback"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 401, "votes need the token too");
    assert_eq!(
        app.state(&id).await,
        "canary",
        "the unauthenticated vote changed nothing"
    );
    app.finish().await;

    let open = Setup {
        api_tokens: false,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, open).await else {
        return;
    };
    let resp = app
        .http
        .get(format!("{}/api/deploys", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "no tokens configured: open API"
    );
    app.finish().await;
}

async fn listing_and_timelines(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let first = app.start_deploy("1.0.0").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = app.start_deploy("1.0.1").await;
    let (status, _) = app
        .signed(
            "/hooks/deploy",
            &serde_json::json!({"event": "started", "service": "search", "version": "77"}),
        )
        .await;
    assert_eq!(status, 202);
    let (_, text) = app.get("/api/deploys?service=checkout").await;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).expect("list");
    let ids: Vec<&str> = list.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids, vec![second.as_str(), first.as_str()], "newest first");
    assert_eq!(list[0]["state"], "canary");
    let (_, text) = app.get("/api/deploys?service=checkout&state=canary").await;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).expect("list");
    assert_eq!(list.len(), 2, "filtered by a typed state: {text}");
    let (_, text) = app.get("/api/deploys").await;
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&text)
            .expect("list")
            .len(),
        3
    );

    let (status, text) = app.get("/api/deploys/nope:production:1/timeline").await;
    assert_eq!(status, 404);
    assert!(
        text.contains("unknown deploy `nope:production:1`"),
        "{text}"
    );

    let resp = app
        .http
        .get(format!("{}/api/deploys/{first}/timeline.md", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("md");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/markdown")
    );
    let md = resp.text().await.expect("text");
    assert!(
        md.starts_with("# Postmortem: checkout 1.0.0 → production"),
        "{md}"
    );
    assert!(
        md.contains("| 5xx ratio | 0.01 | — | 1.5 | — | 3 |  |"),
        "{md}"
    );
    assert!(md.contains("not final"));
    let (status, text) = app.get(&format!("/api/deploys/{first}")).await;
    assert_eq!(status, 200);
    assert!(text.contains("\"criteria_hash\""));
    app.finish().await;
}

async fn health_and_readiness(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let resp = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(resp.status().as_u16(), 200);
    // A closed store is not ready.
    app.running.engine.store().close().await;
    let resp = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .expect("readyz");
    assert_eq!(resp.status().as_u16(), 503);
    app.finish().await;
}

async fn every_error_is_json(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    for (path, status, expected) in [
        ("/api/deploys?bogus=1", 400, "bogus"),
        ("/api/deploys?limit=lots", 400, "limit"),
        (
            "/api/deploys?limit=0",
            400,
            "limit: `0` is out of range; give a number from 1 to 1000",
        ),
        (
            "/api/deploys?limit=1001",
            400,
            "limit: `1001` is out of range",
        ),
        (
            "/deploys?limit=0",
            400,
            "limit: `0` is out of range; give a number from 1 to 500",
        ),
        ("/no/such/endpoint", 404, "no such endpoint"),
        (
            "/api/deploys?state=rolledback",
            400,
            "state: `rolledback` is not a deploy state (canary, breached, rolling_back, rolled_back, rollback_verified, rollback_failed, promoted, failed)",
        ),
    ] {
        let (got, text) = app.get(path).await;
        assert_eq!(got, status, "{path}: {text}");
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{path}: {body}"
        );
    }
    // Bodies over 1 MiB are refused from their Content-Length, before they are read. (Raw TCP:
    // a client still sending a large body may see the connection close instead of the answer.)
    let mut stream = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .expect("connect");
    let head = "POST /hooks/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Canarybot-Signature: sha256=00\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer)
        .await
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("{\"error\":"), "{answer}");
    // A group cannot vote; people do.
    let id = app.start_deploy("1.0.0").await;
    let (status, body) = app.vote(&id, "slack-group:S01SRE", &[], "rollback").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is a group"),
        "{body}"
    );
    assert_eq!(app.state(&id).await, "canary");
    app.finish().await;
}
