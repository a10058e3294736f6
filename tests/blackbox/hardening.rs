//! Hardening: size limits on every surface, slow clients, field lengths, secrets kept out of
//! logs, the configuration-permissions warning, graceful shutdown, and `/metrics` in OpenMetrics.

use crate::on_both_backends;
use crate::support::{
    ALERTMANAGER_TOKEN, Backend, FLAGGER_TOKEN, GITHUB_SECRET, OLD_SECRET, SECRET, Setup, TOKEN,
    TestApp,
};
use canarybot::auth::sign;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");

on_both_backends!(
    body_limit_on_every_surface,
    configured_limits_and_slow_clients,
    field_limits_name_the_field_and_change_nothing,
    metrics_are_openmetrics,
    secrets_stay_out_of_the_logs,
    shutdown_lets_in_flight_requests_finish,
    a_real_prometheus_scrapes_the_metrics,
    every_registered_surface_is_counted_in_metrics,
);

/// Every inbound surface configured (chat platforms point at a closed port: nothing is posted).
fn all_surfaces() -> Setup {
    Setup {
        slack_api: Some("http://127.0.0.1:9/api".into()),
        discord_api: Some("http://127.0.0.1:9/api/v10".into()),
        github: true,
        flagger: true,
        alertmanager: true,
        ..Setup::default()
    }
}

/// Writes `bytes` on a new connection and reads until the server closes it (at most 10 s).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The JSON body of a raw HTTP answer.
fn json_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}"))
}

async fn deploys(app: &TestApp) -> Vec<Value> {
    let (status, text) = app.get("/api/deploys").await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("list")
}

/// A parsed OpenMetrics exposition; parsing checks the format as it goes.
struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        assert!(text.ends_with("# EOF\n"), "must end with # EOF: {text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| **l == "# EOF").count(),
            1,
            "one # EOF"
        );
        let mut families: Vec<String> = Vec::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = Vec::new();
        for line in &lines[..lines.len() - 1] {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(
                    !name.ends_with("_total"),
                    "a counter family is named without _total: {line}"
                );
                assert!(
                    !families.contains(&name.to_string()),
                    "family {name} declared twice"
                );
                families.push(name.to_string());
                current = Some((name.to_string(), kind.to_string()));
                continue;
            }
            if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# UNIT "))
            {
                let name = rest.split(' ').next().unwrap_or_default();
                let (family, _) = current.as_ref().expect("metadata after # TYPE");
                assert_eq!(name, family, "{line}");
                if line.starts_with("# UNIT ") {
                    let unit = rest.split(' ').nth(1).unwrap_or_default();
                    assert!(name.ends_with(&format!("_{unit}")), "{line}");
                }
                continue;
            }
            assert!(!line.starts_with('#'), "unknown comment: {line}");
            let (family, kind) = current.as_ref().expect("samples after # TYPE");
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
                None => (series, ""),
            };
            let allowed: Vec<String> = match kind.as_str() {
                "counter" => vec![format!("{family}_total")],
                "gauge" => vec![family.clone()],
                _ => ["_bucket", "_count", "_sum"]
                    .iter()
                    .map(|s| format!("{family}{s}"))
                    .collect(),
            };
            assert!(
                allowed.contains(&name.to_string()),
                "{name} under family {family} ({kind})"
            );
            let mut map = BTreeMap::new();
            let mut rest = labels;
            while !rest.is_empty() {
                let (k, after) = rest.split_once("=\"").expect("label=\"value\"");
                let end = after.find('"').expect("closing quote");
                map.insert(k.to_string(), after[..end].to_string());
                rest = after[end + 1..].trim_start_matches(',');
            }
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("not a number: {line}")),
            };
            samples.push((name.to_string(), map, value));
        }
        Scrape { samples }
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels.len() == l.len()
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let resp = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    Scrape::parse(&resp.text().await.expect("text"))
}

/// A body one byte over the default 1 MiB, announced by Content-Length, is refused on every
/// surface before it is read or authenticated; a body of exactly 1 MiB is accepted.
async fn body_limit_on_every_surface(b: Backend) {
    let Some(app) = TestApp::spawn(b, all_surfaces()).await else {
        return;
    };
    let paths = [
        "/hooks/deploy",
        "/hooks/metrics",
        "/hooks/github",
        "/hooks/flagger/event",
        "/hooks/flagger/gate/promote",
        "/hooks/flagger/gate/rollback",
        "/hooks/alertmanager",
        "/slack/commands",
        "/slack/interactions",
        "/slack/events",
        "/discord/interactions",
        "/api/deploys/checkout:production:1.0.0/votes",
        "/api/drills",
    ];
    for path in paths {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n"
        );
        let answer = raw(app.running.addr, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        let error = json_body(&answer)["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            error, "request body is 1048577 bytes; over the limit of 1 MiB (server.max_body)",
            "{path}"
        );
    }
    // A request target over 8 KiB is 414, with the limit named.
    let long = "x".repeat(9000);
    let (status, text) = app.get(&format!("/api/deploys?service={long}")).await;
    assert_eq!(status, 414, "{text}");
    assert!(text.contains("the limit is 8 KiB"), "{text}");
    assert!(deploys(&app).await.is_empty(), "nothing was stored");

    // Exactly 1 MiB is within the limit.
    let mut raw_body =
        serde_json::to_vec(&json!({"event": "started", "service": "checkout", "version": "1.0.0"}))
            .expect("json");
    raw_body.resize(1024 * 1024, b' ');
    let (status, body) = app
        .post_raw(
            "/hooks/deploy",
            &raw_body,
            &[("X-Canarybot-Signature", sign(SECRET, &raw_body))],
        )
        .await;
    assert_eq!(status, 202, "{body}");

    let m = scrape(&app).await;
    assert_eq!(
        m.value("canarybot_requests_limited_total", &[("limit", "max_body")]),
        paths.len() as f64
    );
    assert_eq!(
        m.value("canarybot_requests_limited_total", &[("limit", "max_uri")]),
        1.0
    );
    app.finish().await;
}

/// `[server]` limits set low: a chunked body over `max_body`, headers over `max_header_bytes`,
/// a client that stalls or trickles its headers, one that stalls its body; others are served
/// all along.
async fn configured_limits_and_slow_clients(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, Setup::default(), |text| {
        text.replacen(
            "[server]\n",
            "[server]\nmax_body = \"4KiB\"\nmax_header_bytes = \"2KiB\"\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"\nrequest_timeout = \"5s\"\n",
            1,
        )
    })
    .await
    else {
        return;
    };
    let addr = app.running.addr;

    // A chunked body has no Content-Length: it is refused once 4 KiB have been read.
    let chunk = "x".repeat(5 * 1024);
    let request = format!(
        "POST /hooks/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = raw(addr, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        json_body(&answer)["error"],
        "request body over the limit of 4 KiB (server.max_body)"
    );

    // Headers over 2 KiB: the guard's JSON 431; far over, hyper's own 431.
    let resp = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-padding", "p".repeat(3000))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 431);
    let body: Value = resp.json().await.expect("json");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the limit is 2 KiB (server.max_header_bytes)"),
        "{body}"
    );
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "p".repeat(20 * 1024)
    );
    let answer = raw(addr, huge.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A client that sends part of a request head and stalls is disconnected; others are served
    // meanwhile.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(b"POST /hooks/deploy HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200, "others are served while one client stalls");
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "a stalled request head is cut off");
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 2"),
        "{answer:?}"
    );

    // Trickling the head a line at a time does not reset the clock.
    let trickler = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = trickler.into_split();
    let reader = tokio::spawn(async move {
        let mut b = Vec::new();
        let _ = rd.read_to_end(&mut b).await;
        b
    });
    let _ = wr.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    for _ in 0..50 {
        if reader.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = wr.write_all(b"X-Trickle: 1\r\n").await;
    }
    assert!(
        reader.is_finished(),
        "a client trickling its request head is cut off"
    );
    let trickled = reader.await.expect("reader");
    assert!(
        !String::from_utf8_lossy(&trickled).starts_with("HTTP/1.1 2"),
        "{trickled:?}"
    );

    // A body that stops coming is answered 408 naming the timeout.
    let answer = raw(
        addr,
        b"POST /hooks/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"event\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        json_body(&answer)["error"],
        "request body not received within 1s (server.body_timeout)"
    );

    // Within the limits everything works as before.
    let id = app.start_deploy("1.0.0").await;
    assert_eq!(app.state(&id).await, "canary");
    assert_eq!(
        deploys(&app).await.len(),
        1,
        "only the good deploy is stored"
    );

    let m = scrape(&app).await;
    let limited = |l: &str| m.value("canarybot_requests_limited_total", &[("limit", l)]);
    assert_eq!(limited("max_body"), 1.0);
    assert_eq!(limited("max_header_bytes"), 1.0);
    assert_eq!(limited("body_timeout"), 1.0);
    assert_eq!(limited("request_timeout"), 0.0);
    app.finish().await;
}

fn error_of(body: &Value) -> String {
    body["error"].as_str().unwrap_or_default().to_string()
}

/// Over-long fields are refused with 400 (chat platforms: a private answer) naming the field
/// and its limit, and change nothing.
async fn field_limits_name_the_field_and_change_nothing(b: Backend) {
    let Some(app) = TestApp::spawn(b, all_surfaces()).await else {
        return;
    };
    // Deploy webhook: every over-long field is named.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "v".repeat(129),
                    "description": "d".repeat(2001), "sha": "a".repeat(65), "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_of(&body),
        "version: 129 characters is over the limit of 128; sha: 65 characters is over the limit of 64; description: 2001 characters is over the limit of 2000"
    );
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "checkout", "version": "1.0.0",
                    "criteria": [{"name": "n".repeat(101), "max": 1}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("criteria[0].name: 101 characters is over the limit of 100"),
        "{body}"
    );
    assert!(deploys(&app).await.is_empty(), "nothing was started");

    let id = app.start_deploy("1.0.0").await;
    let before = app.kinds(&id).await;

    // Metric pushes: too many samples, an over-long criterion name.
    let many: Vec<Value> = (0..201)
        .map(|i| json!({"criterion": format!("c{i}"), "canary": 1}))
        .collect();
    let (status, body) = app
        .signed("/hooks/metrics", &json!({"deploy_id": id, "samples": many}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        error_of(&body),
        "samples: 201 items is over the limit of 200"
    );
    let (status, body) = app
        .signed(
            "/hooks/metrics",
            &json!({"deploy_id": id, "samples": [{"criterion": "x".repeat(101), "canary": 1}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        error_of(&body).contains("samples[0].criterion: 101 characters"),
        "{body}"
    );

    // Votes API: an over-long reason.
    let resp = app
        .http
        .post(format!("{}/api/deploys/{id}/votes", app.url))
        .bearer_auth(TOKEN)
        .json(
            &json!({"identity": "slack:U01ALICE", "choice": "rollback", "reason": "r".repeat(501)}),
        )
        .send()
        .await
        .expect("vote");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        error_of(&body),
        "reason: 501 characters is over the limit of 500"
    );

    // API and page query parameters.
    let long = "s".repeat(129);
    for path in [
        format!("/api/deploys?service={long}"),
        format!("/deploys?service={long}"),
        format!("/api/drills?service={long}"),
    ] {
        let (status, text) = app.get(&path).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(
            text.contains("service: 129 characters is over the limit of 128"),
            "{path}: {text}"
        );
    }

    // Slack and Discord show a person only a 200's answer: said privately, not run.
    let (status, body) = app
        .slack_command(
            "/rollback",
            &format!("checkout {}", "r".repeat(1000)),
            "U01ALICE",
            "C0CHECKOUT",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Not run: text: 1009 characters is over the limit of 1000"),
        "{body}"
    );
    assert_eq!(body["response_type"], "ephemeral");
    let interaction = json!({"id": "i-long", "type": 2, "channel_id": "1111",
        "member": {"user": {"id": "4455", "username": "alice"}, "roles": []},
        "data": {"name": "rollback", "type": 1, "options": [
            {"type": 3, "name": "service", "value": "checkout"},
            {"type": 3, "name": "reason", "value": "r".repeat(1001)}]}});
    let (status, body) = app.discord(&interaction).await;
    assert_eq!(status, 200, "{body}");
    let content = body["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("Not run: options: 1010 characters is over the limit of 1000"),
        "{body}"
    );

    // Flagger, Alertmanager, GitHub.
    let flagger = json!({"name": "podinfo", "namespace": "test", "phase": "Progressing",
        "metadata": {"token": FLAGGER_TOKEN, "eventMessage": "m".repeat(2001)}});
    let resp = app
        .http
        .post(format!("{}/hooks/flagger/event", app.url))
        .json(&flagger)
        .send()
        .await
        .expect("flagger");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        error_of(&body),
        "metadata.eventMessage: 2001 characters is over the limit of 2000"
    );
    let alert = json!({"version": "4", "status": "firing", "alerts": [{"status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "environment": "production"},
        "annotations": {"summary": "s".repeat(4001)}}]});
    let resp = app
        .http
        .post(format!("{}/hooks/alertmanager", app.url))
        .bearer_auth(ALERTMANAGER_TOKEN)
        .json(&alert)
        .send()
        .await
        .expect("alertmanager");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        error_of(&body),
        "alerts[0].annotations.summary: 4001 characters is over the limit of 4000"
    );
    let mut deployment: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/github/deployment.payload.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("json");
    deployment["deployment"]["description"] = json!("d".repeat(2001));
    let raw_github = serde_json::to_vec(&deployment).expect("json");
    let resp = app
        .http
        .post(format!("{}/hooks/github", app.url))
        .header("content-type", "application/json")
        .header("X-GitHub-Event", "deployment")
        .header("X-GitHub-Delivery", "long-1")
        .header("X-Hub-Signature-256", sign(GITHUB_SECRET, &raw_github))
        .body(raw_github)
        .send()
        .await
        .expect("github");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        error_of(&body),
        "deployment.description: 2001 characters is over the limit of 2000"
    );

    assert_eq!(app.kinds(&id).await, before, "the timeline is unchanged");
    assert_eq!(deploys(&app).await.len(), 1, "no other deploy was started");
    app.finish().await;
}

/// `/metrics` is OpenMetrics: refused signatures by surface, outbox depth and age per target
/// (from a chat platform that is down), delivery counters and the latency histogram.
async fn metrics_are_openmetrics(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    // Two deploy webhooks with bad signatures, one API call with a wrong token.
    for _ in 0..2 {
        let (status, _) = app
            .post_raw(
                "/hooks/deploy",
                b"{}",
                &[("X-Canarybot-Signature", sign("not-a-secret", b"{}"))],
            )
            .await;
        assert_eq!(status, 401);
    }
    let resp = app
        .http
        .get(format!("{}/api/deploys", app.url))
        .bearer_auth("wrong-token-0123456789")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 401);

    // The chat platform is down: the deploy's thread waits in the outbox.
    app.chat
        .fail_next
        .store(u32::MAX, std::sync::atomic::Ordering::SeqCst);
    app.start_deploy("1.0.0").await;
    let m = scrape(&app).await;
    assert!(
        m.value("canarybot_outbox_depth", &[("target", "chat:console")]) >= 1.0,
        "the undelivered root is counted"
    );
    assert!(
        m.value(
            "canarybot_outbox_oldest_age_seconds",
            &[("target", "chat:console")]
        ) >= 0.0
    );
    assert!(m.value("canarybot_outbox_backlog", &[]) >= 1.0);
    assert_eq!(
        m.value("canarybot_outbox_depth", &[("target", "executor")]),
        0.0
    );
    assert_eq!(
        m.value(
            "canarybot_signatures_refused_total",
            &[("surface", "deploy")]
        ),
        2.0
    );
    assert_eq!(
        m.value("canarybot_signatures_refused_total", &[("surface", "api")]),
        1.0
    );
    assert_eq!(
        m.value(
            "canarybot_signatures_refused_total",
            &[("surface", "slack")]
        ),
        0.0
    );
    assert_eq!(m.value("canarybot_auth_failures_total", &[]), 3.0);
    assert_eq!(m.value("canarybot_webhooks_accepted_total", &[]), 1.0);

    // The platform recovers; the outbox drains.
    app.chat
        .fail_next
        .store(0, std::sync::atomic::Ordering::SeqCst);
    app.settle_chat().await;
    let m = scrape(&app).await;
    assert_eq!(
        m.value("canarybot_outbox_depth", &[("target", "chat:console")]),
        0.0
    );
    assert_eq!(
        m.value(
            "canarybot_outbox_oldest_age_seconds",
            &[("target", "chat:console")]
        ),
        0.0
    );

    // Delivery figures as the workers report them.
    let t = &app.running.engine.telemetry;
    t.delivered("chat:slack", 40);
    t.delivered("chat:slack", 700);
    t.delivered("chat:slack", 1_000_000);
    t.retried("chat:slack", true);
    t.retried("chat:slack", false);
    t.given_up("executor");
    t.duplicate();
    let m = scrape(&app).await;
    let slack = [("target", "chat:slack")];
    let bucket = |le: &str| {
        m.value(
            "canarybot_delivery_latency_seconds_bucket",
            &[("target", "chat:slack"), ("le", le)],
        )
    };
    assert_eq!(bucket("0.05"), 1.0);
    assert_eq!(bucket("0.5"), 1.0);
    assert_eq!(bucket("1.0"), 2.0);
    assert_eq!(bucket("300.0"), 2.0);
    assert_eq!(bucket("+Inf"), 3.0);
    assert_eq!(
        m.value("canarybot_delivery_latency_seconds_count", &slack),
        3.0
    );
    assert!((m.value("canarybot_delivery_latency_seconds_sum", &slack) - 1000.74).abs() < 1e-6);
    assert_eq!(m.value("canarybot_deliveries_total", &slack), 3.0);
    assert_eq!(m.value("canarybot_delivery_retries_total", &slack), 2.0);
    assert_eq!(
        m.value("canarybot_delivery_rate_limited_total", &slack),
        1.0
    );
    assert_eq!(
        m.value(
            "canarybot_delivery_given_up_total",
            &[("target", "executor")]
        ),
        1.0
    );
    assert_eq!(m.value("canarybot_duplicates_suppressed_total", &[]), 1.0);
    // Buckets are cumulative and every target's +Inf bucket is its count.
    for (name, labels, value) in &m.samples {
        if name == "canarybot_delivery_latency_seconds_count" {
            let target = labels["target"].as_str();
            let inf = m.value(
                "canarybot_delivery_latency_seconds_bucket",
                &[("target", target), ("le", "+Inf")],
            );
            assert_eq!(inf, *value, "{target}");
        }
    }
    let mut last = 0.0;
    for (name, labels, value) in &m.samples {
        if name == "canarybot_delivery_latency_seconds_bucket" && labels["target"] == "chat:slack" {
            assert!(*value >= last, "cumulative buckets");
            last = *value;
        }
    }
    app.finish().await;
}

/// The real binary at debug level logs every request's target: a token in the query string is
/// redacted, and no secret of the configuration appears anywhere in what it writes.
async fn secrets_stay_out_of_the_logs(b: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, cleanup)) = crate::support::database(b, dir.path()).await else {
        return;
    };
    let setup = Setup {
        executor: None,
        ..Setup::default()
    };
    let path = dir.path().join("canarybot.toml");
    std::fs::write(
        &path,
        crate::support::config_text(&setup, &database_url, None),
    )
    .expect("write");
    set_mode(&path, 0o600);
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .env("CANARYBOT_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let reader = {
        let log = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            let mut url_tx = Some(url_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("canarybot serving")
                    && let Some(url) = line.split("url=").nth(1)
                    && let Some(tx) = url_tx.take()
                {
                    let _ = tx.send(url.trim().to_string());
                }
                log.lock().expect("log").push_str(&line);
                log.lock().expect("log").push('\n');
            }
        })
    };
    let url = tokio::time::timeout(Duration::from_secs(30), url_rx)
        .await
        .expect("the server starts")
        .expect("its url");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(format!("{url}{path}"))
                .send()
                .await
                .expect("get")
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(format!("/api/deploys?token={TOKEN}")).await, 200);
    assert_eq!(
        get(format!("/deploys?drills=include&token={TOKEN}")).await,
        200
    );
    assert_eq!(
        get("/api/deploys?token=not-the-token-0000".to_string()).await,
        401
    );
    let raw_body = br#"{"event":"started","service":"checkout","version":"1.0.0"}"#;
    let resp = http
        .post(format!("{url}/hooks/deploy"))
        .header("X-Canarybot-Signature", sign(SECRET, raw_body))
        .body(raw_body.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 202);
    // Let the last lines reach stderr, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    let log = log.lock().expect("log").clone();
    assert!(
        log.contains("uri=/api/deploys?token=<redacted>"),
        "requests are logged, redacted: {log}"
    );
    assert!(
        log.contains("uri=/deploys?drills=include&token=<redacted>"),
        "{log}"
    );
    for secret in [TOKEN, SECRET, OLD_SECRET, "not-the-token-0000"] {
        assert!(!log.contains(secret), "`{secret}` reached the log: {log}");
    }
    assert!(
        !log.contains("readable by other users"),
        "a 0600 file is not warned about: {log}"
    );
    crate::support::drop_database(cleanup).await;
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_: &std::path::Path, _: u32) {}

/// Commands that load the configuration warn when other users can read it, naming the file,
/// its mode and the fix; a 0600 file gives no warning.
#[cfg(unix)]
#[test]
fn config_readable_by_others_is_warned_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let path = dir.path().join("canarybot.toml");
    std::fs::write(
        &path,
        crate::support::config_text(&Setup::default(), &db, Some("http://127.0.0.1:9/rollback")),
    )
    .expect("write");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let expected = format!(
        "{p} is readable by other users (mode 0644); it may hold secrets: run `chmod 600 {p}`",
        p = path.display()
    );
    set_mode(&path, 0o644);
    for args in [
        &["check-config"][..],
        &["timeline", "nope"][..],
        &["drills"][..],
    ] {
        let err = run(args);
        let line = err
            .lines()
            .find(|l| l.contains(&expected))
            .unwrap_or_else(|| panic!("{args:?}: {err}"));
        assert!(
            line.starts_with("warning: ") || line.contains(" WARN "),
            "{line}"
        );
    }
    set_mode(&path, 0o640);
    assert!(run(&["check-config"]).contains("(mode 0640)"));
    set_mode(&path, 0o600);
    for args in [&["check-config"][..], &["timeline", "nope"][..]] {
        let err = run(args);
        assert!(!err.contains("chmod 600"), "{args:?}: {err}");
    }
}

/// On shutdown the server stops accepting, and a request already being received still gets
/// its answer.
async fn shutdown_lets_in_flight_requests_finish(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let addr = app.running.addr;
    let body = br#"{"event":"started","service":"checkout","version":"9.9.9"}"#;
    let head = format!(
        "POST /hooks/deploy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Canarybot-Signature: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        sign(SECRET, body),
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(&body[..10])
        .await
        .expect("part of the body");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.finish());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections once shutting down"
    );
    stream
        .write_all(&body[10..])
        .await
        .expect("rest of the body");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    tokio::time::timeout(Duration::from_secs(15), stopping)
        .await
        .expect("shutdown completes")
        .expect("join");
}

/// A real Prometheus (Debian's `prometheus`, as in `real_prometheus.rs`) scrapes `/metrics`
/// with its OpenMetrics parser: the scrape succeeds and the series are there.
async fn a_real_prometheus_scrapes_the_metrics(b: Backend) {
    const PROMETHEUS: &str = "/usr/bin/prometheus";
    if !std::path::Path::new(PROMETHEUS).exists() {
        assert!(
            std::env::var("CANARYBOT_REQUIRE_PROMETHEUS").is_err(),
            "CANARYBOT_REQUIRE_PROMETHEUS is set but {PROMETHEUS} is missing"
        );
        eprintln!("SKIPPED: real-Prometheus scrape of /metrics; install Debian's `prometheus`");
        return;
    }
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let (status, _) = app
        .post_raw(
            "/hooks/deploy",
            b"{}",
            &[("X-Canarybot-Signature", sign("not-a-secret", b"{}"))],
        )
        .await;
    assert_eq!(status, 401);
    app.running.engine.telemetry.delivered("chat:slack", 700);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: canarybot\n    static_configs:\n      - targets: ['{}']\n",
            app.running.addr
        ),
    )
    .expect("write prometheus.yml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = tokio::process::Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let url = format!("http://127.0.0.1:{port}");
    let query = |q: &'static str| {
        let (http, url) = (app.http.clone(), url.clone());
        async move {
            let resp = http
                .get(format!("{url}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?;
            let v: Value = resp.json().await.ok()?;
            v["data"]["result"].as_array().cloned()
        }
    };
    let mut scraped = None;
    for _ in 0..150 {
        if let Some(r) = query("canarybot_signatures_refused_total{surface=\"deploy\"}").await
            && !r.is_empty()
        {
            scraped = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let targets: Value = app
        .http
        .get(format!("{url}/api/v1/targets"))
        .send()
        .await
        .expect("targets")
        .json()
        .await
        .expect("json");
    let _ = child.start_kill();
    let _ = child.wait().await;
    let scraped = scraped.unwrap_or_else(|| panic!("Prometheus never stored a scrape: {targets}"));
    assert_eq!(scraped[0]["value"][1], "1", "{scraped:?}");
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");
    app.finish().await;
}

/// Every surface the registry knows (chat platforms, deploy and metric sources, the server's own)
/// shows in `/metrics`, and a refused request counts under the surface its path belongs to.
async fn every_registered_surface_is_counted_in_metrics(b: Backend) {
    let Some(app) = TestApp::spawn(b, all_surfaces()).await else {
        return;
    };
    let labels: Vec<&str> = canarybot::server::surfaces()
        .map(|s| s.label)
        .chain(["other"])
        .collect();
    for platform in canarybot::registry::CHAT_PLATFORMS {
        if let Some(surface) = platform.surface {
            assert!(labels.contains(&surface.label), "{}", platform.name);
        }
    }
    let m = scrape(&app).await;
    for label in &labels {
        assert_eq!(
            m.value("canarybot_signatures_refused_total", &[("surface", label)]),
            0.0,
            "{label}"
        );
    }
    // Unsigned requests to each chat platform and each configured source.
    for (path, label) in [
        ("/slack/commands", "slack"),
        ("/discord/interactions", "discord"),
        ("/hooks/github", "github"),
        ("/hooks/flagger/event", "flagger"),
        ("/hooks/alertmanager", "alertmanager"),
        ("/hooks/metrics", "metrics"),
    ] {
        let resp = app
            .http
            .post(format!("{}{path}", app.url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        let m = scrape(&app).await;
        assert_eq!(
            m.value("canarybot_signatures_refused_total", &[("surface", label)]),
            1.0,
            "{path} counts under {label}"
        );
    }
    app.finish().await;
}
