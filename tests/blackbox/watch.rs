//! Watching after promotion, against the fake Prometheus answering each watch query by its
//! evaluation time: a drift above yesterday and last week for the failure limit is posted with a
//! working *Roll back*; a drift that recovers posts nothing; a newer deploy takes the button
//! away; an alert during the watch lands in the promoted deploy's thread; the watch survives a
//! restart and ends on time on an injected clock.

use crate::fake_prometheus::FakePrometheus;
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{ALERTMANAGER_TOKEN, Backend, ExecutorMode, Setup, TestApp};
use canarybot::app::Options;
use canarybot::chat::ChatPort;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

on_both_backends!(
    a_drift_above_both_references_is_posted_with_a_roll_back_that_works,
    a_drift_that_recovers_before_the_limit_posts_nothing,
    a_newer_deploy_takes_the_roll_back_button_away_and_is_named,
    an_alert_during_the_watch_lands_in_the_promoted_deploys_thread_and_the_watch_ends_on_time,
    the_watch_survives_a_restart,
    an_unanswered_drift_is_reminded_then_rolled_back_by_canarybot,
    prometheus_down_during_the_watch_records_nothing_and_checks_resume,
);

/// The watch query of service `api`, as rendered.
const WATCHED: &str = r#"sum(rate(http_errors_total{service="api"}[5m]))"#;
const DAY_S: f64 = 86_400.0;
const WEEK_S: f64 = 7.0 * DAY_S;

/// A clock the test moves: the wall clock plus an offset.
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(0)))
    }
    fn clock(&self) -> canarybot::Clock {
        let offset = self.0.clone();
        Arc::new(move || chrono::Utc::now().timestamp_millis() + offset.load(Ordering::SeqCst))
    }
    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// Service `api` with a watch (`watch` keys) on its error ratio (`watch_failure_limit = limit`),
/// posting to Slack's C0CHECKOUT, on an injected clock.
async fn watching(
    b: Backend,
    watch: &'static str,
    limit: u32,
    slack: Option<&FakeSlack>,
) -> Option<(TestApp, FakePrometheus, TestClock)> {
    let prometheus = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prometheus.url.clone()),
        slack_api: slack.map(|s| s.api_url.clone()),
        alertmanager: true,
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let with_slack = slack.is_some();
    let app = TestApp::spawn_with(b, setup, move |text| {
        let text = if with_slack {
            text.replace(
                "name = \"api\"\n",
                "name = \"api\"\nslack_channel = \"C0CHECKOUT\"\n",
            )
        } else {
            text
        };
        let text = text.replace(
            "max = 0.05\nmax_ratio = 3\nfailure_limit = 2\nunit = \"%\"\n",
            &format!(
                "max = 0.05\nmax_ratio = 3\nfailure_limit = 2\nunit = \"%\"\nwatch_query = 'sum(rate(http_errors_total{{service=\"{{{{service}}}}\"}}[5m]))'\nwatch_failure_limit = {limit}\n"
            ),
        );
        format!("{text}\n[service.watch]\n{watch}\n")
    })
    .await?;
    let clock = TestClock::new();
    let chat = app.chat.clone();
    let app = app
        .restart_with(Options {
            chat: vec![chat as Arc<dyn ChatPort>],
            clock: clock.clock(),
        })
        .await;
    Some((app, prometheus, clock))
}

/// Starts deploy `version` of `api` and has the pipeline promote it.
async fn promoted(app: &TestApp, version: &str) -> String {
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": version, "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["deploy_id"].as_str().expect("deploy_id").to_string();
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "promoted", "service": "api", "version": version, "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.wait_kind(&id, "watch_started").await;
    id
}

/// The signal: `now` for evaluation times within the last hour of the test's clock, `day` around
/// a day earlier, `week` around a week earlier.
fn signal(fake: &FakePrometheus, clock: &TestClock, now: f64, day: f64, week: f64) {
    let offset = clock.0.clone();
    fake.set_at(WATCHED, move |t| {
        let at =
            (chrono::Utc::now().timestamp_millis() + offset.load(Ordering::SeqCst)) as f64 / 1000.0;
        let ago = at - t;
        Some(if ago < 3600.0 {
            now
        } else if ago < 2.0 * DAY_S {
            day
        } else {
            week
        })
    });
}

fn events_of(t: &Value, kind: &str) -> Vec<Value> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn a_drift_above_both_references_is_posted_with_a_roll_back_that_works(b: Backend) {
    let slack = FakeSlack::start().await;
    let Some((app, fake, clock)) = watching(
        b,
        "after_promotion = \"1h\"\ninterval = \"1s\"",
        3,
        Some(&slack),
    )
    .await
    else {
        return;
    };
    signal(&fake, &clock, 0.042, 0.022, 0.023);
    let id = promoted(&app, "2.4.1").await;
    app.wait_kind(&id, "drift_detected").await;
    let t = app.timeline(&id).await;
    let drift = &events_of(&t, "drift_detected")[0]["details"]["criteria"][0];
    assert_eq!(drift["criterion"], "error ratio");
    assert_eq!(drift["value"], 0.042);
    assert_eq!(drift["day_ago"], 0.022);
    assert_eq!(drift["week_ago"], 0.023);
    assert_eq!(drift["consecutive"], 3);
    let failed = events_of(&t, "watch_check_failed");
    let counts: Vec<_> = failed
        .iter()
        .map(|e| e["details"]["consecutive"].clone())
        .collect();
    assert_eq!(counts[..3], [json!(1), json!(2), json!(3)]);

    // Each check asks the query now, a day and a week earlier: PromQL's `offset`, for any query.
    let times = fake.times_of(WATCHED);
    let now = times.iter().copied().fold(f64::MIN, f64::max);
    for back in [DAY_S, WEEK_S] {
        assert!(
            times.iter().any(|t| (now - back - t).abs() < 0.002),
            "no query at now − {back} s among {times:?}"
        );
    }

    // One post in the thread, mentioning the deciders, with the numbers and *Roll back*.
    slack
        .wait_for("the drift posted with Roll back", |calls| {
            calls.iter().any(|c| {
                let body = c.body.to_string();
                c.method == "chat.postMessage"
                    && body.contains("DRIFT")
                    && body.contains("<@U01ALICE>")
                    && body.contains("canary_rollback")
                    && body.contains("yesterday")
                    && body.contains("last week")
            })
        })
        .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let drift_posts = app
        .chat
        .replies()
        .iter()
        .filter(|r| r.contains("DRIFT"))
        .count();
    assert_eq!(drift_posts, 1, "{:?}", app.chat.replies());
    assert!(
        events_of(&app.timeline(&id).await, "watch_check_failed").len() > 3,
        "later failing checks are recorded, not posted"
    );

    // The button works: the deploy system receives the rollback.
    let (status, _) = app.slack_button("U01ALICE", "canary_rollback", &id).await;
    assert_eq!(status, 200);
    let executor = app.executor.as_ref().expect("executor");
    executor.wait_for_calls(1).await;
    assert_eq!(executor.calls()[0].body["action"], "rollback");
    let kinds = app.kinds(&id).await;
    assert!(kinds.contains(&"decision".to_string()));
    assert!(kinds.contains(&"watch_ended".to_string()), "{kinds:?}");
    app.finish().await;
}

async fn a_drift_that_recovers_before_the_limit_posts_nothing(b: Backend) {
    let Some((app, fake, _clock)) =
        watching(b, "after_promotion = \"1h\"\ninterval = \"1s\"", 3, None).await
    else {
        return;
    };
    let high = Arc::new(AtomicBool::new(true));
    // High now while `high` says so; the references a day and a week earlier stay at 0.022.
    let started = chrono::Utc::now().timestamp() as f64;
    let h = high.clone();
    fake.set_at(WATCHED, move |t| {
        Some(if t > started - 3600.0 {
            if h.load(Ordering::SeqCst) { 0.05 } else { 0.02 }
        } else {
            0.022
        })
    });
    let id = promoted(&app, "2.4.1").await;
    // Two failing checks, then the signal comes back.
    for _ in 0..200 {
        let t = app.timeline(&id).await;
        if events_of(&t, "watch_check_failed")
            .iter()
            .any(|e| e["details"]["consecutive"] == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    high.store(false, Ordering::SeqCst);
    app.wait_kind(&id, "watch_recovered").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    app.settle_chat().await;
    let kinds = app.kinds(&id).await;
    assert!(!kinds.contains(&"drift_detected".to_string()), "{kinds:?}");
    let said_after_watching: Vec<String> = app
        .chat
        .replies()
        .into_iter()
        .skip_while(|r| !r.contains("Watching api"))
        .skip(1)
        .collect();
    assert!(said_after_watching.is_empty(), "{said_after_watching:?}");
    app.finish().await;
}

async fn a_newer_deploy_takes_the_roll_back_button_away_and_is_named(b: Backend) {
    let slack = FakeSlack::start().await;
    let Some((app, fake, clock)) = watching(
        b,
        "after_promotion = \"1h\"\ninterval = \"1s\"",
        3,
        Some(&slack),
    )
    .await
    else {
        return;
    };
    signal(&fake, &clock, 0.042, 0.022, 0.023);
    let id = promoted(&app, "2.4.1").await;
    // 2.4.2 starts (its canary runs) before the drift is called.
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": "2.4.2", "actor": "ci"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let newer = body["deploy_id"].as_str().expect("deploy_id").to_string();
    app.wait_kind(&id, "drift_detected").await;
    app.settle_chat().await;
    let post = slack
        .calls_to("chat.postMessage")
        .into_iter()
        .find(|c| c.body.to_string().contains("DRIFT"))
        .expect("the drift is posted");
    let body = post.body.to_string();
    assert!(
        body.contains(&format!("api 2.4.2 (deploy {newer})")),
        "{body}"
    );
    assert!(!body.contains("canary_rollback"), "no Roll back: {body}");
    assert!(body.contains("<@U01ALICE>"), "{body}");
    app.finish().await;
}

/// Waits (up to 10 s) until `n` watch checks have asked the fake.
async fn checks_asked(fake: &FakePrometheus, n: usize) {
    for _ in 0..500 {
        if fake.times_of(WATCHED).len() >= 3 * n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("only {} watch queries asked", fake.times_of(WATCHED).len());
}

fn alert(name: &str) -> Value {
    json!({
        "version": "4",
        "status": "firing",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": name, "service": "api", "environment": "production"},
            "annotations": {"summary": "p99 above 2s <!channel>"},
        }]
    })
}

async fn post_alert(app: &TestApp, body: &Value) -> Value {
    let resp = app
        .http
        .post(format!("{}/hooks/alertmanager", app.url))
        .bearer_auth(ALERTMANAGER_TOKEN)
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("json")
}

async fn an_alert_during_the_watch_lands_in_the_promoted_deploys_thread_and_the_watch_ends_on_time(
    b: Backend,
) {
    let Some((app, fake, clock)) =
        watching(b, "after_promotion = \"48h\"\ninterval = \"1s\"", 3, None).await
    else {
        return;
    };
    signal(&fake, &clock, 0.02, 0.022, 0.023);
    let id = promoted(&app, "2.4.1").await;
    checks_asked(&fake, 1).await;
    clock.advance(26 * 3600 * 1000);
    // A check on the new day too (each asks now, a day and a week earlier).
    checks_asked(&fake, 2).await;
    let answer = post_alert(&app, &alert("HighLatency")).await;
    assert_eq!(answer["matched"], 1, "{answer}");
    app.wait_kind(&id, "alert_firing").await;
    app.settle_chat().await;
    assert!(
        app.chat.replies().iter().any(|r| r.starts_with(
            "🔔 Alert *HighLatency* fired 26 h after 2.4.1 was promoted; it is the latest change to api. Alert: p99 above 2s <!channel>"
        )),
        "{:?}",
        app.chat.replies()
    );
    let t = app.timeline(&id).await;
    let fired = &events_of(&t, "alert_firing")[0];
    assert!(
        fired["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("26 h after api 2.4.1 was promoted"),
        "{fired}"
    );
    assert_eq!(t["deploy"]["state"], "promoted", "an alert is not a breach");

    // 48 h after promotion the watch ends, with its closing line, and checks stop.
    clock.advance(22 * 3600 * 1000 + 1000);
    app.wait_kind(&id, "watch_ended").await;
    app.settle_chat().await;
    let closing = app
        .chat
        .replies()
        .into_iter()
        .find(|r| r.starts_with("👋 Stopped watching api 2.4.1: 48h after promotion,"))
        .expect("the closing line");
    let t = app.timeline(&id).await;
    let ended = &events_of(&t, "watch_ended")[0]["details"];
    let checks = ended["checks"].as_u64().expect("checks");
    assert!(checks >= 2, "{ended}");
    assert!(
        closing.contains(&format!("{checks} checks, no drift"))
            || closing.contains("1 check, no drift"),
        "{closing}"
    );
    let asked = fake.times_of(WATCHED).len();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        fake.times_of(WATCHED).len(),
        asked,
        "no watch check after the end"
    );

    // An alert after the watch ended matches nothing.
    let answer = post_alert(&app, &alert("HighErrors")).await;
    assert_eq!(answer["matched"], 0, "{answer}");
    assert_eq!(answer["unmatched"], 1, "{answer}");

    // The postmortem shows the watch.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    assert!(md.contains("## Watch after promotion"), "{md}");
    assert!(md.contains("no drift"), "{md}");
    let (status, page) = app
        .get(&format!("/deploys/{}", id.replace(':', "%3A")))
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<h2>Watch after promotion</h2>"), "{page}");
    assert!(page.contains("no drift"), "{page}");
    app.finish().await;
}

async fn the_watch_survives_a_restart(b: Backend) {
    let Some((app, fake, clock)) =
        watching(b, "after_promotion = \"1h\"\ninterval = \"1s\"", 4, None).await
    else {
        return;
    };
    signal(&fake, &clock, 0.042, 0.022, 0.023);
    let id = promoted(&app, "2.4.1").await;
    for _ in 0..200 {
        let t = app.timeline(&id).await;
        if events_of(&t, "watch_check_failed")
            .iter()
            .any(|e| e["details"]["consecutive"] == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let chat = app.chat.clone();
    let app = app
        .restart_with(Options {
            chat: vec![chat as Arc<dyn ChatPort>],
            clock: clock.clock(),
        })
        .await;
    app.wait_kind(&id, "drift_detected").await;
    let t = app.timeline(&id).await;
    let counts: Vec<Value> = events_of(&t, "watch_check_failed")
        .iter()
        .map(|e| e["details"]["consecutive"].clone())
        .collect();
    assert_eq!(
        counts[..4],
        [json!(1), json!(2), json!(3), json!(4)],
        "the failing streak goes on across the restart: {counts:?}"
    );
    assert_eq!(
        events_of(&t, "drift_detected")[0]["details"]["criteria"][0]["consecutive"],
        4
    );
    assert_eq!(events_of(&t, "watch_started").len(), 1);
    app.finish().await;
}

async fn an_unanswered_drift_is_reminded_then_rolled_back_by_canarybot(b: Backend) {
    let escalation = "after_promotion = \"1h\"\ninterval = \"1s\"\n[service.escalation]\nremind_after = \"1s\"\npage_after = \"off\"\ndecide_after = \"3s\"";
    let Some((app, fake, clock)) = watching(b, escalation, 2, None).await else {
        return;
    };
    signal(&fake, &clock, 0.042, 0.022, 0.023);
    let id = promoted(&app, "2.4.1").await;
    app.wait_kind(&id, "drift_detected").await;
    app.wait_kind(&id, "escalation_reminded").await;
    let executor = app.executor.as_ref().expect("executor");
    executor.wait_for_calls(1).await;
    assert_eq!(executor.calls()[0].body["action"], "rollback");
    let t = app.timeline(&id).await;
    let decision = &events_of(&t, "decision")[0];
    assert_eq!(decision["details"]["decided_by"], json!(["canarybot"]));
    assert!(
        decision["details"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no decision within 3s"),
        "{decision}"
    );
    app.settle_chat().await;
    assert!(
        app.chat
            .replies()
            .iter()
            .any(|r| r.starts_with("⏰ Still waiting for a decision on api 2.4.1")),
        "{:?}",
        app.chat.replies()
    );
    app.finish().await;
}

async fn prometheus_down_during_the_watch_records_nothing_and_checks_resume(b: Backend) {
    let Some((app, fake, clock)) =
        watching(b, "after_promotion = \"1h\"\ninterval = \"1s\"", 2, None).await
    else {
        return;
    };
    signal(&fake, &clock, 0.042, 0.022, 0.023);
    fake.down.store(true, Ordering::SeqCst);
    let id = promoted(&app, "2.4.1").await;
    checks_asked(&fake, 2).await;
    app.settle_chat().await;
    let kinds = app.kinds(&id).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("watch_started"),
        "{kinds:?}"
    );
    assert!(
        app.chat
            .replies()
            .last()
            .is_some_and(|r| r.starts_with("👀 Watching api")),
        "nothing said while Prometheus is down: {:?}",
        app.chat.replies()
    );
    // Back: the next intervals check again.
    fake.down.store(false, Ordering::SeqCst);
    app.wait_kind(&id, "drift_detected").await;
    app.finish().await;
}
