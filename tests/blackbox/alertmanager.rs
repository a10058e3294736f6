//! Alertmanager's webhook, with the real payload shape (version 4).

use crate::on_both_backends;
use crate::support::{ALERTMANAGER_TOKEN, Backend, Setup, TestApp};
use serde_json::{Value, json};

on_both_backends!(a_firing_alert_breaches_the_matching_canary);

fn notification(status: &str, service: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "canarybot",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": service, "environment": "production", "severity": "page"},
        "commonAnnotations": {"summary": "5xx above 2% for 2m"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "service": service, "environment": "production", "severity": "page"},
            "annotations": {"summary": "5xx above 2% for 2m", "runbook_url": "https://runbooks/high-error-rate"},
            "startsAt": "2026-11-26T10:00:00.000Z",
            "endsAt": if status == "firing" { "0001-01-01T00:00:00Z" } else { "2026-11-26T10:05:00.000Z" },
            "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
            "fingerprint": "c6c4a8f6d3d3f7a1"
        }]
    })
}

async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}/hooks/alertmanager", app.url))
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn a_firing_alert_breaches_the_matching_canary(b: Backend) {
    let setup = Setup {
        alertmanager: true,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    let firing = notification("firing", "checkout");

    let (status, _) = post(&app, &firing, None).await;
    assert_eq!(status, 401);
    let (status, _) = post(&app, &firing, Some("wrong-token-0123456789")).await;
    assert_eq!(status, 401);
    assert_eq!(
        app.kinds(&id).await,
        vec!["deploy_started", "criteria_locked"],
        "nothing recorded"
    );

    let (status, body) = post(&app, &firing, Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matched"], 1);
    assert_eq!(app.state(&id).await, "breached");
    let t = app.timeline(&id).await;
    let alert = &t["events"][2];
    assert_eq!(alert["kind"], "alert_firing");
    assert_eq!(
        alert["details"]["annotations"]["runbook_url"],
        "https://runbooks/high-error-rate"
    );
    assert_eq!(
        t["events"][3]["details"]["criteria"],
        json!(["alert:HighErrorRate"])
    );
    // Alertmanager repeats the notification: nothing new.
    post(&app, &firing, Some(ALERTMANAGER_TOKEN)).await;
    assert_eq!(app.kinds(&id).await.len(), 4);
    // Resolved is noted.
    post(
        &app,
        &notification("resolved", "checkout"),
        Some(ALERTMANAGER_TOKEN),
    )
    .await;
    assert_eq!(
        app.kinds(&id).await.last().map(String::as_str),
        Some("alert_resolved")
    );

    // An alert for a service with no active canary is counted, not stored.
    let (_, body) = post(
        &app,
        &notification("firing", "billing"),
        Some(ALERTMANAGER_TOKEN),
    )
    .await;
    assert_eq!(body["unmatched"], 1);
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("canarybot_alerts_unmatched_total 1"),
        "{metrics}"
    );
    let (status, body) = post(
        &app,
        &json!({"version": "3", "alerts": []}),
        Some(ALERTMANAGER_TOKEN),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    app.finish().await;
}
