//! Signed deploy and metric webhooks.

use crate::on_both_backends;
use crate::support::{Backend, OLD_SECRET, SECRET, Setup, TestApp};
use canarybot::auth::sign;
use serde_json::json;

on_both_backends!(
    signatures_good_bad_missing_and_rotated,
    redelivery_returns_the_first_answer_and_changes_nothing,
    unknown_service_lists_the_known_ones,
    malformed_bodies_are_named_and_change_nothing,
    extra_criteria_are_merged_and_locked,
    metric_checks_report_verdicts,
    samples_far_from_the_deploy_are_refused,
);

async fn stored_samples(app: &TestApp, id: &str) -> usize {
    let store = app.running.engine.store();
    store.samples(id).await.expect("samples").len()
}

/// A sample dated far outside its deploy's life is refused, naming `at` and the window; an
/// extreme value is stored and reported compactly.
async fn samples_far_from_the_deploy_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("4.1.0").await;
    let started = chrono::Utc::now();
    let at = |offset_s: i64| {
        (started + chrono::Duration::seconds(offset_s))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let sample = json!([{"criterion": "p99 latency", "canary": 0.1}]);
    for when in [
        "0000-01-01T00:00:00Z".to_string(),
        "9999-12-31T23:59:59Z".to_string(),
        at(-3_600),
        at(600),
    ] {
        let (status, body) = app
            .signed(
                "/hooks/metrics",
                &json!({"deploy_id": id, "at": when, "samples": sample}),
            )
            .await;
        assert_eq!(status, 400, "{when}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("at: ")
                && error.contains("outside this deploy's window")
                && error.contains("5 minutes before it started")
                && error.contains("2 minutes after now"),
            "{when}: {error}"
        );
    }
    assert_eq!(stored_samples(&app, &id).await, 0, "nothing stored");
    // Within the window (a baseline read just before the deploy, a sender's clock a little
    // ahead) samples count.
    for when in [at(-180), at(60)] {
        let (status, body) = app
            .signed(
                "/hooks/metrics",
                &json!({"deploy_id": id, "at": when, "samples": sample}),
            )
            .await;
        assert_eq!(status, 202, "{when}: {body}");
    }
    assert_eq!(stored_samples(&app, &id).await, 2);
    // An extreme value is kept, and its reason stays short.
    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [{"criterion": "p99 latency", "canary": 1e308}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let reasons = body["criteria"][0]["reasons"].to_string();
    assert!(
        reasons.contains("canary 1e308 > max 0.5") && reasons.len() < 60,
        "{reasons}"
    );
    app.finish().await;
}

async fn deploys(app: &TestApp) -> Vec<serde_json::Value> {
    let (status, text) = app.get("/api/deploys").await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("list")
}

async fn signatures_good_bad_missing_and_rotated(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let raw =
        serde_json::to_vec(&json!({"event": "started", "service": "checkout", "version": "1.0.0"}))
            .expect("json");

    let (status, body) = app.post_raw("/hooks/deploy", &raw, &[]).await;
    assert_eq!(status, 401, "missing signature: {body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("missing X-Canarybot-Signature"),
        "{body}"
    );

    let bad = sign("not-a-configured-secret", &raw);
    let (status, body) = app
        .post_raw("/hooks/deploy", &raw, &[("X-Canarybot-Signature", bad)])
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match"),
        "{body}"
    );

    let (status, _) = app
        .post_raw(
            "/hooks/deploy",
            &raw,
            &[("X-Canarybot-Signature", "sha256=zz".into())],
        )
        .await;
    assert_eq!(status, 401);

    // A signature over another body does not carry over.
    let other = sign(SECRET, b"{}");
    let (status, _) = app
        .post_raw("/hooks/deploy", &raw, &[("X-Canarybot-Signature", other)])
        .await;
    assert_eq!(status, 401);
    assert!(
        deploys(&app).await.is_empty(),
        "unauthenticated requests write nothing"
    );

    let (status, _) = app
        .post_raw(
            "/hooks/metrics",
            b"{\"deploy_id\":\"x\",\"samples\":[]}",
            &[],
        )
        .await;
    assert_eq!(status, 401, "metrics need a signature too");

    // Either configured secret signs (rotation).
    let (status, body) = app
        .post_raw(
            "/hooks/deploy",
            &raw,
            &[("X-Canarybot-Signature", sign(OLD_SECRET, &raw))],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deploy_id"], "checkout:production:1.0.0");
    assert_eq!(body["state"], "canary");
    let raw2 =
        serde_json::to_vec(&json!({"event": "started", "service": "checkout", "version": "1.0.1"}))
            .expect("json");
    let (status, _) = app
        .post_raw(
            "/hooks/deploy",
            &raw2,
            &[("X-Canarybot-Signature", sign(SECRET, &raw2))],
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(deploys(&app).await.len(), 2);

    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("canarybot_auth_failures_total 5"),
        "{metrics}"
    );
    app.finish().await;
}

async fn redelivery_returns_the_first_answer_and_changes_nothing(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let start = json!({"event": "started", "service": "checkout", "version": "2.0.0"});
    let (s1, first) = app
        .signed_with_delivery("/hooks/deploy", &start, "build-42")
        .await;
    let (s2, second) = app
        .signed_with_delivery("/hooks/deploy", &start, "build-42")
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first, second);
    let id = first["deploy_id"].as_str().expect("id").to_string();
    assert_eq!(
        app.kinds(&id).await,
        vec!["deploy_started", "criteria_locked"]
    );

    // A failing check redelivered is one failure, not two.
    let check = json!({"deploy_id": id, "samples": [{"criterion": "p99 latency", "canary": 0.9}]});
    let (_, a) = app
        .signed_with_delivery("/hooks/metrics", &check, "m-1")
        .await;
    let (_, again) = app
        .signed_with_delivery("/hooks/metrics", &check, "m-1")
        .await;
    assert_eq!(a, again);
    assert_eq!(a["criteria"][0]["consecutive_failures"], 1);
    let failures = app
        .kinds(&id)
        .await
        .iter()
        .filter(|k| *k == "check_failed")
        .count();
    assert_eq!(failures, 1);

    // A new delivery of the same failing check counts.
    let (_, b2) = app
        .signed_with_delivery("/hooks/metrics", &check, "m-2")
        .await;
    assert_eq!(b2["criteria"][0]["consecutive_failures"], 2);

    // Without a delivery id, `started` for an existing deploy changes nothing either.
    let (s3, third) = app.signed("/hooks/deploy", &start).await;
    assert_eq!(s3, 202);
    assert_eq!(third["created"], false);
    assert_eq!(
        app.kinds(&id)
            .await
            .iter()
            .filter(|k| *k == "deploy_started")
            .count(),
        1
    );

    // The same deploy id claimed by another service is a conflict.
    let (s4, clash) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "search", "version": "2.0.0", "deploy_id": id}),
        )
        .await;
    assert_eq!(s4, 409, "{clash}");
    assert!(
        clash["error"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists for service checkout")
    );
    app.finish().await;
}

async fn unknown_service_lists_the_known_ones(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "chekout", "version": "1"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let msg = body["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("unknown service `chekout`") && msg.contains("checkout, search"),
        "{msg}"
    );
    assert!(deploys(&app).await.is_empty());
    app.finish().await;
}

async fn malformed_bodies_are_named_and_change_nothing(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let cases = [
        (
            json!({"event": "started", "service": "checkout"}),
            "missing field `version`",
        ),
        (
            json!({"event": "deployed", "service": "checkout", "version": "1"}),
            "unknown variant `deployed`",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1", "enviroment": "prod"}),
            "unknown field `enviroment`",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": ""}),
            "version: must not be empty",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1", "deploy_id": "a/b"}),
            "deploy_id",
        ),
        // Control and format characters would hide in thread titles (U+202E reverses the text).
        (
            json!({"event": "started", "service": "checkout", "version": "1.0\u{202e}gpj.exe"}),
            "version: contains U+202E (an invisible format character); use printable characters",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1.0", "deploy_id": "co\u{200b}:1"}),
            "contains U+200B (an invisible format character); a deploy id may hold any printable character except white space and / ? # % \\",
        ),
        (
            json!({"event": "started", "service": "check\u{7}out", "version": "1"}),
            "service: contains U+0007 (a control character)",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1", "environment": "prod\u{2066}"}),
            "environment: contains U+2066 (an invisible format character)",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1",
                   "criteria": [{"name": "cart errors", "max_ratio": 0}]}),
            "criteria[0].max_ratio: must be > 0",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1",
                   "criteria": [{"name": "5xx ratio", "max": 0.5}]}),
            "`5xx ratio` is already a criterion",
        ),
        (
            json!({"event": "started", "service": "checkout", "version": "1",
                   "criteria": [{"name": "queue depth", "max": 5, "query": "queue_depth"}]}),
            "criteria[0].query: this server has no [prometheus]",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = app.signed("/hooks/deploy", &body).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let msg = answer["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(expected),
            "{body}: expected `{expected}` in `{msg}`"
        );
    }
    let raw = b"{not json";
    let (status, answer) = app
        .post_raw(
            "/hooks/deploy",
            raw,
            &[("X-Canarybot-Signature", sign(SECRET, raw))],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("malformed body"),
        "{answer}"
    );
    assert!(deploys(&app).await.is_empty(), "bad input changes nothing");

    // Events about a deploy nobody started.
    let (status, answer) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "rolled_back", "service": "checkout", "version": "9"}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("checkout:production:9")
    );
    app.finish().await;
}

async fn extra_criteria_are_merged_and_locked(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "3.0.0", "environment": "staging",
                    "criteria": [{"name": "cart add errors", "max": 2, "failure_limit": 1}]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deploy_id"], "checkout:staging:3.0.0");
    let t = app.timeline("checkout:staging:3.0.0").await;
    let names: Vec<&str> = t["criteria"]
        .as_array()
        .expect("criteria")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["5xx ratio", "p99 latency", "cart add errors"]);
    let locked = &t["events"][1];
    assert_eq!(locked["kind"], "criteria_locked");
    assert_eq!(locked["details"]["hash"].as_str().map(str::len), Some(64));
    // The deploy's own criterion breaches after its own failure limit of 1.
    let (_, check) = app
        .signed("/hooks/metrics", &json!({"deploy_id": "checkout:staging:3.0.0", "samples": [{"criterion": "cart add errors", "canary": 3}]}))
        .await;
    assert_eq!(check["state"], "breached", "{check}");
    app.finish().await;
}

async fn metric_checks_report_verdicts(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("4.0.0").await;
    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [
                {"criterion": "5xx ratio", "canary": 0.02, "baseline": 0.004},
                {"criterion": "p99 latency", "canary": 0.1},
                {"criterion": "5xx ratio", "canary": null, "baseline": null}
            ]}),
        )
        .await;
    assert_eq!(status, 400, "a criterion twice in one check: {body}");
    let body = app.check(&id, 0.02, 0.1).await;
    assert_eq!(body["state"], "canary");
    let c = body["criteria"].as_array().expect("criteria");
    assert_eq!(c[0]["criterion"], "5xx ratio");
    assert_eq!(c[0]["verdict"], "fail");
    assert_eq!(c[0]["consecutive_failures"], 1);
    assert_eq!(c[0]["failure_limit"], 3);
    assert_eq!(c[1]["verdict"], "pass");
    let (_, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [{"criterion": "5xx ratio", "baseline": 0.004}]}),
        )
        .await;
    assert_eq!(body["criteria"][0]["verdict"], "no_data");
    assert_eq!(
        body["criteria"][0]["consecutive_failures"], 1,
        "no_data does not reset"
    );

    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [{"criterion": "cpu", "canary": 1}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown criterion `cpu`"),
        "{body}"
    );
    let (status, _) = app
        .signed("/hooks/metrics", &json!({"deploy_id": "nope:production:1", "samples": [{"criterion": "cpu", "canary": 1}]}))
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .signed("/hooks/metrics", &json!({"deploy_id": id, "at": "yesterday", "samples": [{"criterion": "5xx ratio", "canary": 1}]}))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("at:"),
        "{body}"
    );
    let samples = app
        .running
        .engine
        .store()
        .samples(&id)
        .await
        .expect("samples");
    assert_eq!(
        samples.len(),
        3,
        "two from the check, one baseline-only: {samples:?}"
    );
    app.finish().await;
}
