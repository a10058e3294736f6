//! Paging through PagerDuty and Opsgenie, against fakes of their APIs on loopback: an unanswered
//! breach pages and the automatic decision resolves the page; a vote resolves it on both
//! providers; a rate limit is waited out without paging twice; a refusal is said loudly and not
//! retried; a failed rollback pages at once; the keys never leak. With `change_events`, PagerDuty
//! also hears of deploys started and rolled back.

use crate::fake_pager::{Answer, FakePager, OPSGENIE_KEY, PD_ROUTING_KEY, PagerRequest};
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TestApp, outbox_drained};
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    an_unanswered_breach_pages_then_the_automatic_rollback_resolves_the_page,
    a_vote_after_the_page_resolves_it_on_pagerduty_and_opsgenie,
    a_rate_limited_page_is_retried_and_pages_once,
    a_refused_page_is_said_loudly_and_not_retried,
    a_failed_rollback_pages_at_once,
    change_events_tell_pagerduty_of_deploys_started_and_rolled_back,
);

struct Paging {
    app: TestApp,
    slack: FakeSlack,
    pd: FakePager,
    og: Option<FakePager>,
}

async fn paging(
    b: Backend,
    keys: &'static str,
    executor: ExecutorMode,
    with_opsgenie: bool,
) -> Option<Paging> {
    let slack = FakeSlack::start().await;
    let pd = FakePager::pagerduty().await;
    let og = match with_opsgenie {
        true => Some(FakePager::opsgenie().await),
        false => None,
    };
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        executor: Some(executor),
        escalation: Some(keys),
        pagerduty_api: Some(pd.api_url.clone()),
        opsgenie_api: og.as_ref().map(|o| o.api_url.clone()),
        ..Setup::default()
    };
    let app = TestApp::spawn(b, setup).await?;
    Some(Paging { app, slack, pd, og })
}

/// Two checks with p99 latency far over its limit: the deploy waits for a decision.
async fn breach(app: &TestApp, version: &str) -> String {
    let id = app.start_deploy(version).await;
    app.check(&id, 0.004, 0.9).await;
    app.check(&id, 0.004, 0.9).await;
    assert_eq!(app.state(&id).await, "breached");
    id
}

fn pd_events<'a>(requests: &'a [PagerRequest], action: &str) -> Vec<&'a PagerRequest> {
    requests
        .iter()
        .filter(|r| r.path == "/v2/enqueue" && r.body["event_action"] == action)
        .collect()
}

fn accepted(requests: &[&PagerRequest]) -> usize {
    requests.iter().filter(|r| r.status == 202).count()
}

/// Neither key appears in the timeline (as exported) nor anywhere in what Slack was sent.
async fn no_key_leaked(p: &Paging, id: &str) {
    let timeline = p.app.timeline(id).await.to_string();
    let slack = format!("{:?}", p.slack.calls());
    for key in [PD_ROUTING_KEY, OPSGENIE_KEY] {
        assert!(!timeline.contains(key), "a key in the timeline: {timeline}");
        assert!(!slack.contains(key), "a key in Slack: {slack}");
    }
}

/// The position of the first event of each kind, in timeline order.
async fn order(app: &TestApp, id: &str, kinds: &[&str]) -> Vec<usize> {
    let all = app.kinds(id).await;
    kinds
        .iter()
        .map(|k| {
            all.iter()
                .position(|x| x == k)
                .unwrap_or_else(|| panic!("no `{k}` in {all:?}"))
        })
        .collect()
}

async fn an_unanswered_breach_pages_then_the_automatic_rollback_resolves_the_page(b: Backend) {
    let keys = "remind_after = \"1s\"\npage_after = \"2s\"\ndecide_after = \"4s\"";
    let Some(p) = paging(b, keys, ExecutorMode::Done, false).await else {
        return;
    };
    let id = breach(&p.app, "8.1.0").await;
    p.pd.wait_for("a trigger, then a resolve", |r| {
        !pd_events(r, "trigger").is_empty() && !pd_events(r, "resolve").is_empty()
    })
    .await;
    p.app.wait_state(&id, "rolled_back").await;

    let requests = p.pd.requests();
    let triggers = pd_events(&requests, "trigger");
    assert_eq!(triggers.len(), 1, "{requests:#?}");
    let t = &triggers[0].body;
    assert_eq!(t["routing_key"], PD_ROUTING_KEY);
    assert_eq!(t["dedup_key"], id.as_str());
    assert_eq!(t["payload"]["severity"], "critical");
    assert_eq!(t["payload"]["source"], "canarybot");
    assert_eq!(t["payload"]["component"], "checkout");
    assert_eq!(t["payload"]["group"], "production");
    let summary = t["payload"]["summary"].as_str().expect("summary");
    assert!(summary.contains("checkout 8.1.0"), "{summary}");
    assert!(summary.contains("p99 latency breached"), "{summary}");
    let details = &t["payload"]["custom_details"];
    assert_eq!(details["version"], "8.1.0");
    assert!(
        details["deciders"]
            .as_str()
            .is_some_and(|d| d.contains("slack:U01ALICE")),
        "{details}"
    );
    assert!(details["waiting since"].is_string(), "{details}");
    assert!(details["criterion: p99 latency"].is_string(), "{details}");
    // The person paged can open the deploy's page.
    let links = t["links"].as_array().expect("links");
    assert!(
        links.iter().any(|l| l["href"]
            .as_str()
            .is_some_and(|h| h.starts_with(&p.app.url) && h.contains("/deploys/"))),
        "{links:?}"
    );
    // The automatic decision resolved the same page, once.
    let resolves = pd_events(&requests, "resolve");
    assert_eq!(resolves.len(), 1, "{requests:#?}");
    assert_eq!(resolves[0].body["dedup_key"], id.as_str());
    assert_eq!(resolves[0].body["routing_key"], PD_ROUTING_KEY);

    let at = order(
        &p.app,
        &id,
        &[
            "breach_detected",
            "escalation_reminded",
            "paged",
            "decision",
            "page_resolved",
        ],
    )
    .await;
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    let kinds = p.app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "paged").count(),
        1,
        "{kinds:?}"
    );
    // The thread says who was paged.
    p.slack
        .wait_for("the page said in the thread", |calls| {
            calls.iter().any(|c| {
                c.method == "chat.postMessage"
                    && c.body["thread_ts"].is_string()
                    && c.body.to_string().contains("Paged through pagerduty")
            })
        })
        .await;
    no_key_leaked(&p, &id).await;
    p.app.finish().await;
}

/// The alias as one path segment, as Opsgenie wants it.
fn encoded(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn a_vote_after_the_page_resolves_it_on_pagerduty_and_opsgenie(b: Backend) {
    let keys = "remind_after = \"1s\"\npage_after = \"2s\"\ndecide_after = \"off\"";
    let Some(p) = paging(b, keys, ExecutorMode::Done, true).await else {
        return;
    };
    let og = p.og.clone().expect("opsgenie");
    let id = breach(&p.app, "8.2.0").await;
    p.pd.wait_for("a trigger", |r| accepted(&pd_events(r, "trigger")) == 1)
        .await;
    og.wait_for("an alert", |r| {
        r.iter().any(|r| r.path == "/v2/alerts" && r.status == 202)
    })
    .await;
    let (status, body) = p.app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    p.pd.wait_for("a resolve", |r| accepted(&pd_events(r, "resolve")) == 1)
        .await;
    let close = format!("/v2/alerts/{}/close", encoded(&id));
    og.wait_for("the alert closed by its alias", |r| {
        r.iter().any(|r| r.path == close && r.status == 202)
    })
    .await;

    let requests = og.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    let (alert, closed) = (&requests[0], &requests[1]);
    let genie = format!("GenieKey {OPSGENIE_KEY}");
    assert_eq!(alert.method, "POST");
    assert_eq!(alert.headers.get("authorization"), Some(&genie));
    assert_eq!(alert.body["alias"], id.as_str());
    assert_eq!(alert.body["priority"], "P1");
    assert_eq!(alert.body["source"], "canarybot");
    assert_eq!(
        alert.body["tags"],
        json!(["canarybot", "checkout", "production"])
    );
    let message = alert.body["message"].as_str().expect("message");
    assert!(message.chars().count() <= 130, "{message}");
    assert!(message.contains("checkout 8.2.0"), "{message}");
    assert!(
        alert.body["details"]["deciders"].is_string(),
        "{}",
        alert.body
    );
    assert_eq!(closed.method, "POST");
    assert_eq!(closed.query.as_deref(), Some("identifierType=alias"));
    assert_eq!(closed.headers.get("authorization"), Some(&genie));
    // PagerDuty heard the same key both times.
    let pd = p.pd.requests();
    assert_eq!(pd.len(), 2, "{pd:#?}");
    assert!(pd.iter().all(|r| r.body["dedup_key"] == id.as_str()));
    // The person decided: no automatic decision, one page resolved after it.
    let at = order(&p.app, &id, &["paged", "decision", "page_resolved"]).await;
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    let t = p.app.timeline(&id).await;
    let paged = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "paged")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        paged["details"]["providers"],
        json!(["pagerduty", "opsgenie"])
    );
    no_key_leaked(&p, &id).await;
    p.app.finish().await;
}

/// The figure `name{target="…"}` of `/metrics`.
pub(crate) async fn figure(app: &TestApp, name: &str, target: &str) -> f64 {
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200, "{text}");
    let prefix = format!("{name}{{target=\"{target}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{text}"))
}

async fn a_rate_limited_page_is_retried_and_pages_once(b: Backend) {
    let keys = "remind_after = \"off\"\npage_after = \"1s\"\ndecide_after = \"off\"";
    let Some(p) = paging(b, keys, ExecutorMode::Done, false).await else {
        return;
    };
    p.pd.script(vec![Answer {
        status: 429,
        body: json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}),
        retry_after: Some(1),
    }]);
    let id = breach(&p.app, "8.3.0").await;
    p.pd.wait_for("a trigger accepted after the 429", |r| {
        accepted(&pd_events(r, "trigger")) == 1
    })
    .await;
    let requests = p.pd.requests();
    let triggers = pd_events(&requests, "trigger");
    let statuses: Vec<u16> = triggers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 202], "{requests:#?}");
    assert!(triggers.iter().all(|r| r.body["dedup_key"] == id.as_str()));
    // Once accepted, nothing is sent again.
    let backlog = outbox_drained(p.app.running.engine.store(), Duration::from_secs(15)).await;
    assert_eq!(backlog, 0);
    assert_eq!(p.pd.requests().len(), 2);
    assert_eq!(
        figure(&p.app, "canarybot_delivery_retries_total", "page:pagerduty").await,
        1.0
    );
    assert_eq!(
        figure(
            &p.app,
            "canarybot_delivery_rate_limited_total",
            "page:pagerduty"
        )
        .await,
        1.0
    );
    assert_eq!(
        figure(&p.app, "canarybot_deliveries_total", "page:pagerduty").await,
        1.0
    );
    let kinds = p.app.kinds(&id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "paged").count(),
        1,
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "page_failed"), "{kinds:?}");
    p.app.finish().await;
}

async fn a_refused_page_is_said_loudly_and_not_retried(b: Backend) {
    let keys = "remind_after = \"off\"\npage_after = \"1s\"\ndecide_after = \"off\"";
    let Some(p) = paging(b, keys, ExecutorMode::Done, false).await else {
        return;
    };
    // The refusal quotes the key back: it must not reach the timeline or the thread.
    p.pd.script(vec![Answer {
        status: 400,
        body: json!({"status": "invalid event", "message": "Event object is invalid", "errors": [format!("Routing key {PD_ROUTING_KEY} is not an integration")]}),
        retry_after: None,
    }]);
    let id = breach(&p.app, "8.4.0").await;
    p.app.wait_kind(&id, "page_failed").await;
    p.slack
        .wait_for("the refusal said loudly in the thread", |calls| {
            calls.iter().any(|c| {
                let text = c.body.to_string();
                c.method == "chat.postMessage"
                    && c.body["thread_ts"].is_string()
                    && text.contains("PAGE FAILED through pagerduty")
                    && text.contains("Event object is invalid")
                    && text.contains("<@U01ALICE>")
            })
        })
        .await;
    let t = p.app.timeline(&id).await;
    let failed = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "page_failed")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(failed["details"]["provider"], "pagerduty");
    let error = failed["details"]["error"].as_str().expect("error");
    assert!(error.contains("HTTP 400"), "{error}");
    assert!(error.contains("<redacted>"), "{error}");
    // Given up, not retried: the outbox is empty and PagerDuty heard one request.
    let backlog = outbox_drained(p.app.running.engine.store(), Duration::from_secs(15)).await;
    assert_eq!(backlog, 0);
    assert_eq!(p.pd.requests().len(), 1, "{:#?}", p.pd.requests());
    assert_eq!(
        figure(
            &p.app,
            "canarybot_delivery_given_up_total",
            "page:pagerduty"
        )
        .await,
        1.0
    );
    no_key_leaked(&p, &id).await;
    p.app.finish().await;
}

async fn a_failed_rollback_pages_at_once(b: Backend) {
    // Every timed step off: only the failed rollback pages.
    let keys = "remind_after = \"off\"\npage_after = \"off\"\ndecide_after = \"off\"";
    let Some(p) = paging(b, keys, ExecutorMode::Fail, false).await else {
        return;
    };
    let id = breach(&p.app, "8.5.0").await;
    let (status, body) = p.app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    p.app.wait_state(&id, "rollback_failed").await;
    p.pd.wait_for("a trigger for the failed rollback", |r| {
        accepted(&pd_events(r, "trigger")) == 1
    })
    .await;
    let requests = p.pd.requests();
    let trigger = &pd_events(&requests, "trigger")[0].body;
    assert_eq!(trigger["dedup_key"], id.as_str());
    let summary = trigger["payload"]["summary"].as_str().expect("summary");
    assert!(summary.contains("the rollback failed"), "{summary}");
    // Paged after the failure, and the page stays open: nobody resolved the failure.
    let at = order(&p.app, &id, &["decision", "rollback_failed", "paged"]).await;
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    assert!(pd_events(&requests, "resolve").is_empty(), "{requests:#?}");
    no_key_leaked(&p, &id).await;
    p.app.finish().await;
}

async fn change_events_tell_pagerduty_of_deploys_started_and_rolled_back(b: Backend) {
    let pd = FakePager::pagerduty().await;
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        pagerduty_api: Some(pd.api_url.clone()),
        change_events: true,
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = breach(&app, "8.6.0").await;
    let (status, body) = app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    assert_eq!(status, 202, "{body}");
    app.wait_state(&id, "rolled_back").await;
    pd.wait_for("two change events", |r| {
        r.iter()
            .filter(|r| r.path == "/v2/change/enqueue" && r.status == 202)
            .count()
            == 2
    })
    .await;
    let requests = pd.requests();
    let summaries: Vec<&str> = requests
        .iter()
        .map(|r| r.body["payload"]["summary"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        summaries,
        vec![
            "checkout 8.6.0 started its canary in production",
            "checkout 8.6.0 rolled back in production",
        ],
        "{requests:#?}"
    );
    for r in &requests {
        assert_eq!(r.path, "/v2/change/enqueue");
        assert_eq!(r.body["routing_key"], PD_ROUTING_KEY);
        assert_eq!(r.body["payload"]["source"], "canarybot");
        assert!(r.body["payload"]["timestamp"].is_string(), "{}", r.body);
        assert_eq!(r.body["payload"]["custom_details"]["service"], "checkout");
        assert_eq!(r.body["payload"]["custom_details"]["version"], "8.6.0");
    }
    assert_eq!(
        requests[1].body["payload"]["custom_details"]["change"],
        "rolled_back"
    );
    // No escalation section: nobody was paged.
    assert!(pd_events(&requests, "trigger").is_empty());
    app.finish().await;
}

/// The real binary, logging at debug, pages through both providers and has a page refused with
/// the key quoted back: neither key reaches its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keys_never_reach_the_log() {
    use crate::support::{SECRET, TOKEN, config_text, database};
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((database_url, _)) = database(Backend::Sqlite, dir.path()).await else {
        return;
    };
    let pd = FakePager::pagerduty().await;
    let og = FakePager::opsgenie().await;
    pd.script(vec![Answer {
        status: 400,
        body: json!({"status": "invalid event", "message": "Event object is invalid", "errors": [format!("Routing key {PD_ROUTING_KEY} is not an integration")]}),
        retry_after: None,
    }]);
    let setup = Setup {
        escalation: Some("remind_after = \"off\"\npage_after = \"1s\"\ndecide_after = \"off\""),
        pagerduty_api: Some(pd.api_url.clone()),
        opsgenie_api: Some(og.api_url.clone()),
        ..Setup::default()
    };
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let text = config_text(&setup, &database_url, None).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let mut bot = crate::crash::Bot::new(dir.path(), &text, port);
    bot.start().await;
    let http = reqwest::Client::new();
    let signed = |path: &str, body: Value| {
        let raw = body.to_string();
        http.post(format!("{}{path}", bot.url))
            .header("content-type", "application/json")
            .header(
                "x-canarybot-signature",
                canarybot::auth::sign(SECRET, raw.as_bytes()),
            )
            .body(raw)
            .send()
    };
    let id = "checkout:production:8.7.0";
    let started = signed(
        "/hooks/deploy",
        json!({"event": "started", "service": "checkout", "version": "8.7.0"}),
    )
    .await
    .expect("deploy");
    assert_eq!(started.status(), 202);
    for _ in 0..2 {
        let r = signed(
            "/hooks/metrics",
            json!({"deploy_id": id, "samples": [
                {"criterion": "5xx ratio", "canary": 0.004, "baseline": 0.004},
                {"criterion": "p99 latency", "canary": 0.9, "baseline": 0.2},
            ]}),
        )
        .await
        .expect("check");
        assert_eq!(r.status(), 202);
    }
    pd.wait_for("the refused trigger", |r| r.iter().any(|r| r.status == 400))
        .await;
    og.wait_for("the alert", |r| r.iter().any(|r| r.status == 202))
        .await;
    // The refusal is recorded (and so was logged) before the log is read.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let t: Value = http
            .get(format!("{}/api/deploys/{id}/timeline", bot.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("timeline")
            .json()
            .await
            .unwrap_or(Value::Null);
        if t.to_string().contains("\"page_failed\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no page_failed within 15 s: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = bot.log();
    assert!(log.contains("page refused"), "{log}");
    for key in [PD_ROUTING_KEY, OPSGENIE_KEY] {
        assert!(!log.contains(key), "a key reached the log:\n{log}");
    }
    bot.kill().await;
}
