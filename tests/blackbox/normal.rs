//! What normal looks like, end to end, against a fake Prometheus that answers range queries with
//! the history a test sets by time ("7 days ago at this hour the p99 was 250 ± 10 ms"): the
//! `baseline` table (CLI and `/canary baseline` in Slack), the thread root's "normal at this
//! hour" once a deploy starts (and the postmortem keeping it), Prometheus down while it is read,
//! and `criteria suggest` output that `check-config` accepts. Every expected number is computed
//! here from the points the fake served for the range queries it recorded.

use crate::fake_discord::FakeDiscord;
use crate::fake_prometheus::{FakePrometheus, RangeAsk, errors_query, latency_query, noise};
use crate::fake_slack::FakeSlack;
use crate::on_both_backends;
use crate::support::{Backend, ChatOp, Setup, TestApp};
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    the_root_shows_normal_at_this_hour_and_the_postmortem_keeps_it,
    prometheus_down_the_deploy_runs_and_a_later_check_reads_the_normal,
    canary_baseline_in_slack_answers_privately_with_the_table,
);

const BIN: &str = env!("CARGO_BIN_EXE_canarybot");
const DAY_S: f64 = 86_400.0;

/// The stable track's p99 latency in the past, as a function of time: 250 ± 10 ms on every day
/// before `now_s` but day `gap`, which has no data. (`day` counts back from `now_s` with a minute
/// to spare, so a read a few seconds later finds the same days.)
fn latency_history(now_s: f64, gap: i64) -> impl Fn(f64) -> Option<f64> + Clone + Send + Sync {
    move |t| {
        let day = ((now_s + 60.0 - t) / DAY_S).floor() as i64;
        (day >= 1 && day != gap).then(|| 0.25 + 0.01 * noise(day as u64, (t / 60.0) as usize))
    }
}

fn now_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// The range queries of `query` the fake recorded.
fn asks_of(prom: &FakePrometheus, query: &str) -> Vec<RangeAsk> {
    prom.range_asks()
        .into_iter()
        .filter(|a| a.query == query)
        .collect()
}

/// The points the fake served for `asks` (as it makes them: start, start + step, … ≤ end, in
/// whole milliseconds), valued by `f`.
fn served(asks: &[RangeAsk], f: impl Fn(f64) -> Option<f64>) -> Vec<f64> {
    let mut out = Vec::new();
    for a in asks {
        let (start, end, step) = a.span();
        let ms = |s: f64| (s * 1000.0).round() as i64;
        let (start, end, step) = (ms(start), ms(end), ms(step));
        for i in 0..=((end - start) / step) {
            out.extend(f((start + i * step) as f64 / 1000.0));
        }
    }
    out
}

/// NumPy's `percentile(x, 100 p)`: linear between the closest ranks.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut x = values.to_vec();
    x.sort_by(f64::total_cmp);
    let h = (x.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(x.len() - 1);
    x[lo] + (h - lo as f64) * (x[hi] - x[lo])
}

/// A value as canarybot shows these: 3 significant digits (three decimals for 0.1 ..< 1).
fn sig3(v: f64) -> String {
    assert!((0.1..1.0).contains(&v), "{v}");
    format!("{}", (v * 1000.0).round() / 1000.0)
}

/// The asks are one per day `1..=days`, each the hour ending `d` days before the first's end + 1
/// day, a point a minute; their ends are returned.
fn assert_one_hour_per_day(asks: &[RangeAsk], days: usize, at_s: Option<f64>) -> Vec<f64> {
    assert_eq!(asks.len(), days, "{asks:?}");
    let mut ends: Vec<f64> = asks.iter().map(|a| a.span().1).collect();
    ends.sort_by(|a, b| b.total_cmp(a));
    for a in asks {
        let (start, end, step) = a.span();
        assert_eq!(end - start, 3600.0, "an hour: {a:?}");
        assert_eq!(step, 60.0, "a point a minute: {a:?}");
    }
    for (d, end) in ends.iter().enumerate() {
        let expected = ends[0] - d as f64 * DAY_S;
        assert!(
            (end - expected).abs() < 0.002,
            "day {}: {end} vs {expected}",
            d + 1
        );
    }
    if let Some(at) = at_s {
        assert!(
            (ends[0] - (at - DAY_S)).abs() < 0.002,
            "{} vs {at}",
            ends[0]
        );
    }
    ends
}

async fn prom_app(b: Backend, setup: Setup) -> Option<(TestApp, FakePrometheus)> {
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        ..setup
    };
    Some((TestApp::spawn(b, setup).await?, prom))
}

fn healthy(prom: &FakePrometheus) {
    for track in ["canary", "stable"] {
        prom.set(&errors_query(track), Some(0.01));
        prom.set(&latency_query(track), Some(0.25));
    }
}

async fn start_api(app: &TestApp, version: &str) -> String {
    let (status, body) = app
        .signed(
            "/hooks/deploy",
            &json!({"event": "started", "service": "api", "version": version}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["deploy_id"].as_str().expect("id").to_string()
}

async fn count_kind(app: &TestApp, id: &str, kind: &str) -> usize {
    app.kinds(id).await.iter().filter(|k| *k == kind).count()
}

async fn the_root_shows_normal_at_this_hour_and_the_postmortem_keeps_it(b: Backend) {
    let (slack, discord) = (FakeSlack::start().await, FakeDiscord::start().await);
    let prom = FakePrometheus::start().await;
    let setup = Setup {
        prometheus: Some(prom.url.clone()),
        slack_api: Some(slack.api_url.clone()),
        discord_api: Some(discord.api_url.clone()),
        ..Setup::default()
    };
    // The api service's threads go to Slack and Discord too.
    let Some(app) = TestApp::spawn_with(b, setup, |text| {
        text.replace(
            "name = \"api\"\n",
            "name = \"api\"\nslack_channel = \"C0CHECKOUT\"\ndiscord_channel = \"1111\"\n",
        )
    })
    .await
    else {
        return;
    };
    healthy(&prom);
    let now = now_s();
    let history = latency_history(now, 3);
    prom.set_by_time(&latency_query("stable"), history.clone());
    let id = start_api(&app, "5.0.0").await;
    app.wait_kind(&id, "normal_recorded").await;
    let started_s = app
        .running
        .engine
        .deploy(&id)
        .await
        .expect("deploy")
        .started_at_ms as f64
        / 1000.0;

    // Seven days, each the hour before the deploy's start, asked for the stable track only.
    let asks = asks_of(&prom, &latency_query("stable"));
    assert_one_hour_per_day(&asks, 7, Some(started_s));
    assert_eq!(asks_of(&prom, &errors_query("stable")).len(), 7);
    assert!(asks_of(&prom, &latency_query("canary")).is_empty());
    let values = served(&asks, &history);
    assert_eq!(
        values.len(),
        6 * 61,
        "six days of 61 points; day 3 had none"
    );
    let (p5, p95) = (percentile(&values, 0.05), percentile(&values, 0.95));
    let line = format!("normal at this hour: {}–{}s", sig3(p5), sig3(p95));

    // The root is rewritten with it, beside the criterion.
    app.settle_chat().await;
    let updates: Vec<String> = app
        .chat
        .ops()
        .into_iter()
        .filter_map(|o| match o {
            ChatOp::Update(t) => Some(t),
            _ => None,
        })
        .collect();
    let last = updates.last().expect("an update");
    // The line right under the criterion's.
    let lines: Vec<&str> = last.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("• p99 latency: canary ≤ 0.5; breach after 2 failing checks"))
        .expect("the criterion");
    assert_eq!(lines[at + 1], format!("  {line}"), "{last}");
    assert!(
        last.contains(
            "normal at this hour: unknown (no data at this hour on any of the last 7 days (empty result))"
        ),
        "the error ratio had no history: {last}"
    );
    // Slack: a column of the criteria table; Discord: a line in the criterion's field.
    let range = format!("{}–{}s", sig3(p5), sig3(p95));
    slack
        .wait_for("the root updated with the normal", |calls| {
            calls.iter().any(|c| {
                let body = c.body.to_string();
                c.method == "chat.update"
                    && body.contains("failure limit  normal at this hour")
                    && body.contains(&range)
            })
        })
        .await;
    discord
        .wait_for("the root edited with the normal", |calls| {
            calls.iter().any(|c| {
                c.method == "PATCH"
                    && c.body["embeds"][0]["fields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|f| {
                            f["name"] == "p99 latency"
                                && f["value"]
                                    .as_str()
                                    .is_some_and(|v| v.ends_with(&format!("\n{line}")))
                        })
            })
        })
        .await;

    // Recorded once, however many checks follow.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(count_kind(&app, &id, "normal_recorded").await, 1);
    assert_eq!(
        asks_of(&prom, &latency_query("stable")).len(),
        7,
        "read once"
    );

    // The postmortem keeps it.
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    let median = percentile(&values, 0.5);
    let p99 = percentile(&values, 0.99);
    for expected in [
        "What was normal at ".to_string(),
        " on the last 7 days before the deploy (the stable track) (normal range: p5–p95, the middle 90 % of the values at this hour over the last 7 days):".to_string(),
        format!(
            "- p99 latency — {}–{}s (median {}s, p99 {}s; 6/7 days with data, 366 values)",
            sig3(p5),
            sig3(p95),
            sig3(median),
            sig3(p99)
        ),
        "- error ratio — unknown: no data at this hour on any of the last 7 days (empty result)"
            .to_string(),
    ] {
        assert!(md.contains(&expected), "{expected}\n{md}");
    }
    let (_, page) = app.get(&format!("/deploys/{id}")).await;
    assert!(
        page.contains(&format!(
            "<strong>p99 latency</strong>: {}–{}s",
            sig3(p5),
            sig3(p95)
        )),
        "{page}"
    );
    app.finish().await;
}

async fn prometheus_down_the_deploy_runs_and_a_later_check_reads_the_normal(b: Backend) {
    let Some((app, prom)) = prom_app(b, Setup::default()).await else {
        return;
    };
    healthy(&prom);
    let history = latency_history(now_s(), 0);
    prom.set_by_time(&latency_query("stable"), history.clone());
    prom.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let id = start_api(&app, "6.0.0").await;
    // Two reads fail (each asks 7 days of both criteria) while the deploy goes on.
    for _ in 0..200 {
        if prom.range_asks().len() >= 28 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(prom.range_asks().len(), 28, "two reads of 14 queries");
    app.wait_kind(&id, "metrics_unavailable").await;
    assert_eq!(app.state(&id).await, "canary");
    assert_eq!(count_kind(&app, &id, "normal_recorded").await, 0);
    // Back: the next check's read (the third and last) records it.
    prom.down.store(false, std::sync::atomic::Ordering::SeqCst);
    app.wait_kind(&id, "normal_recorded").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(prom.range_asks().len(), 42, "no read after it was recorded");
    assert_eq!(count_kind(&app, &id, "normal_recorded").await, 1);
    assert_eq!(app.state(&id).await, "canary");
    let asks: Vec<RangeAsk> = asks_of(&prom, &latency_query("stable"))
        .into_iter()
        .skip(14)
        .collect();
    assert_eq!(asks.len(), 7);
    let values = served(&asks, &history);
    assert_eq!(values.len(), 7 * 61);
    app.settle_chat().await;
    let line = format!(
        "normal at this hour: {}–{}s",
        sig3(percentile(&values, 0.05)),
        sig3(percentile(&values, 0.95))
    );
    assert!(
        app.chat
            .ops()
            .iter()
            .any(|o| matches!(o, ChatOp::Update(t) if t.contains(&line))),
        "{line}"
    );
    app.finish().await;
}

async fn canary_baseline_in_slack_answers_privately_with_the_table(b: Backend) {
    let slack = FakeSlack::start().await;
    let setup = Setup {
        slack_api: Some(slack.api_url.clone()),
        ..Setup::default()
    };
    let Some((app, prom)) = prom_app(b, setup).await else {
        return;
    };
    let now = now_s();
    let history = latency_history(now, 2);
    prom.set_by_time(&latency_query("stable"), history.clone());
    let (status, body) = app
        .slack_command("/canary", "baseline API", "U09EVE", "C0CHECKOUT")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["response_type"], "ephemeral", "{body}");
    let text = body["text"].as_str().unwrap_or_default();
    let asks = asks_of(&prom, &latency_query("stable"));
    let ends = assert_one_hour_per_day(&asks, 7, None);
    assert!(
        (now - DAY_S..now - DAY_S + 60.0).contains(&ends[0]),
        "yesterday's hour ends now: {} vs {now}",
        ends[0]
    );
    let values = served(&asks, &history);
    let q = |p| sig3(percentile(&values, p));
    assert!(
        text.starts_with("What normal looks like for api in production: track `stable` at "),
        "{text}"
    );
    let row = format!(
        "p99 latency  6/7   {}s  {}s  {}s  {}–{}s",
        q(0.5),
        q(0.95),
        q(0.99),
        q(0.05),
        q(0.95)
    );
    // Columns are padded: compare the cells.
    let cells = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let got = text
        .lines()
        .find(|l| l.starts_with("p99 latency"))
        .unwrap_or_default();
    assert_eq!(cells(got), cells(&row), "{text}");
    assert!(text.contains("```\ncriterion"), "a code block: {text}");
    assert!(
        text.contains("error ratio: no data at this hour on any of the last 7 days (empty result)"),
        "{text}"
    );

    let (_, body) = app
        .slack_command("/canary", "baseline <!channel>", "U09EVE", "C0CHECKOUT")
        .await;
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("I don't know service `&lt;!channel&gt;`"),
        "escaped: {text}"
    );
    app.finish().await;
}

/// The test configuration, with `[prometheus]` at `url`, written to `dir`.
fn config_file(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let text = crate::support::config_text(
        &Setup {
            prometheus: Some(url.to_string()),
            ..Setup::default()
        },
        &format!("sqlite://{}/x.db", dir.display()),
        None,
    );
    let path = dir.join("canarybot.toml");
    std::fs::write(&path, text).expect("write");
    path
}

async fn run(args: &[&str], config: &std::path::Path) -> (bool, String, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_table_from_the_cli_is_the_served_history() {
    let prom = FakePrometheus::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), &prom.url);
    let now = now_s();
    let history = latency_history(now, 2);
    prom.set_by_time(&latency_query("stable"), history.clone());
    let (ok, out, err) = run(&["baseline", "--service", "api", "--days", "3"], &config).await;
    assert!(ok, "{err}");
    let asks = asks_of(&prom, &latency_query("stable"));
    let ends = assert_one_hour_per_day(&asks, 3, None);
    assert!((now - DAY_S..now - DAY_S + 60.0).contains(&ends[0]));
    assert_eq!(asks_of(&prom, &errors_query("stable")).len(), 3);
    let values = served(&asks, &history);
    assert_eq!(values.len(), 2 * 61, "day 2 had no data");
    let q = |p| sig3(percentile(&values, p));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("What normal looks like for api in production: track `stable` at ")
            && lines[0].ends_with(" UTC on each of the last 3 days."),
        "{out}"
    );
    let cells = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cells(lines[1]),
        cells("criterion days median p95 p99 normal range"),
        "no code fence on the command line: {out}"
    );
    assert_eq!(cells(lines[2]), cells("error ratio 0/3 — — — —"), "{out}");
    assert_eq!(
        cells(lines[3]),
        cells(&format!(
            "p99 latency 2/3 {}s {}s {}s {}–{}s",
            q(0.5),
            q(0.95),
            q(0.99),
            q(0.05),
            q(0.95)
        )),
        "{out}"
    );
    assert!(
        out.contains("error ratio: no data at this hour on any of the last 3 days (empty result)"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn criteria_suggest_prints_criteria_check_config_accepts() {
    let prom = FakePrometheus::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_file(dir.path(), &prom.url);
    let now = now_s();
    let history = latency_history(now, 0);
    prom.set_by_time(&latency_query("stable"), history.clone());
    let (ok, out, err) = run(&["criteria", "suggest", "--service", "api"], &config).await;
    assert!(ok, "{err}");
    let values = served(&asks_of(&prom, &latency_query("stable")), &history);
    assert_eq!(values.len(), 7 * 61);
    let p99 = percentile(&values, 0.99);
    let max = (p99 * 1.2 * 1000.0).round() / 1000.0;
    assert!(
        out.contains("# max = p99 of 7 days at ")
            && out.contains(&format!(
                "({}) × 1.2; configured now: 0.5\nmax = {max}\n",
                sig3(p99)
            )),
        "{out}"
    );
    assert!(
        out.contains("# unchanged: no bound derived: no data at this hour on any of the last 7 days (empty result)"),
        "{out}"
    );
    // Pasted in place of the service's criteria, the file is valid.
    let text = std::fs::read_to_string(&config).expect("read");
    let cut = text
        .find("[[service.criteria]]\nname = \"error ratio\"")
        .expect("api's criteria");
    let pasted = format!("{}{out}", &text[..cut]);
    let path = dir.path().join("suggested.toml");
    std::fs::write(&path, &pasted).expect("write");
    let (ok, stdout, stderr) = run(&["check-config"], &path).await;
    assert!(ok, "{stderr}\n{pasted}");
    assert!(stdout.contains(": ok (3 services"), "{stdout}");
    let parsed = canarybot::registry::config_from_toml(&pasted, &|_| None).expect("valid");
    let api = parsed.service("api").expect("api");
    let latency = api
        .criteria
        .iter()
        .find(|c| c.name == "p99 latency")
        .expect("p99 latency");
    assert_eq!(latency.max, Some(max), "p99 × 1.2 of the served history");
    assert_eq!(
        (latency.failure_limit, latency.unit.as_deref()),
        (2, Some("s")),
        "its other keys as configured"
    );
    let errors = api
        .criteria
        .iter()
        .find(|c| c.name == "error ratio")
        .expect("error ratio");
    assert_eq!(
        (errors.max, errors.max_ratio),
        (Some(0.05), Some(3.0)),
        "unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 9.
    let config = config_file(dir.path(), "http://127.0.0.1:9");
    let (ok, _, err) = run(&["baseline", "--service", "api"], &config).await;
    assert!(!ok);
    assert!(
        err.contains("cannot read the history of api: ")
            && err.contains("cannot reach Prometheus at http://127.0.0.1:9")
            && (err.contains(", 1 day ago (") || err.contains(" days ago (")),
        "names the criterion and the day: {err}"
    );
    let (ok, _, err) = run(&["criteria", "suggest", "--service", "nosuch"], &config).await;
    assert!(!ok);
    assert!(
        err.contains("--service: unknown service `nosuch` (services: checkout, search, api)"),
        "{err}"
    );
    let (ok, _, err) = run(&["baseline", "--service", "api", "--days", "29"], &config).await;
    assert!(!ok);
    assert!(err.contains("--days"), "{err}");
    // Without [prometheus] (so without criteria that have queries).
    let without = crate::support::config_text(
        &Setup::default(),
        &format!("sqlite://{}/x.db", dir.path().display()),
        None,
    );
    std::fs::write(&config, without).expect("write");
    let (ok, _, err) = run(&["baseline", "--service", "checkout"], &config).await;
    assert!(!ok);
    assert!(
        err.contains("prometheus: the configuration has no [prometheus] section"),
        "{err}"
    );
}

/// Against a real Prometheus whose history is backfilled (`promtool tsdb create-blocks-from
/// openmetrics`): the stable track's p99 was 0.2 + 0.01·d on day d back, nothing on day 3. The
/// table is the percentiles of 61 points of each of the six days with data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_of_a_real_prometheus_with_eight_days_of_history() {
    if crate::real_prometheus::prometheus_missing() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_s().floor();
    let day_of = |t: f64| ((now + 60.0 - t) / DAY_S).floor() as i64;
    let mut om = String::from("# TYPE app_latency_p99_seconds gauge\n");
    let mut t = now - 8.0 * DAY_S;
    // A sample a minute, up to two hours ago (what Prometheus keeps in memory is not backfilled).
    while t < now - 7200.0 {
        let day = day_of(t);
        if day != 3 {
            om.push_str(&format!(
                "app_latency_p99_seconds{{service=\"api\",track=\"stable\"}} {} {t}\n",
                0.2 + 0.01 * day as f64
            ));
        }
        t += 60.0;
    }
    om.push_str("# EOF\n");
    let prometheus = crate::real_prometheus::RealPrometheus::with_history(&om).await;
    let url = prometheus.url.clone();
    let config = config_file(dir.path(), &url);
    let text = std::fs::read_to_string(&config).expect("read");
    std::fs::write(
        &config,
        text.replace(
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service=\"{{service}}\",track=\"{{track}}\"}[1m])))",
            "app_latency_p99_seconds{service=\"{{service}}\",track=\"{{track}}\"}",
        ),
    )
    .expect("write");
    let (ok, out, err) = run(&["baseline", "--service", "api"], &config).await;
    assert!(ok, "{err}");
    let values: Vec<f64> = [1, 2, 4, 5, 6, 7]
        .iter()
        .flat_map(|d| std::iter::repeat_n(0.2 + 0.01 * f64::from(*d), 61))
        .collect();
    let q = |p| sig3(percentile(&values, p));
    let cells = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let row = out
        .lines()
        .find(|l| l.starts_with("p99 latency"))
        .unwrap_or_default();
    assert_eq!(
        cells(row),
        cells(&format!(
            "p99 latency 6/7 {}s {}s {}s {}–{}s",
            q(0.5),
            q(0.95),
            q(0.99),
            q(0.05),
            q(0.95)
        )),
        "{out}"
    );
}
