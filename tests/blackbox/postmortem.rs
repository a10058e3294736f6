//! The postmortem: Markdown and the web page of a rolled-back and a promoted deploy, the closing
//! summary in the thread, the list of deploys, and the token rule of the pages.

use crate::on_both_backends;
use crate::support::{Backend, ExecutorMode, Setup, TOKEN, TestApp};

on_both_backends!(
    rolled_back_postmortem_in_markdown_and_on_the_page,
    promoted_postmortem,
    pages_follow_the_api_token_rule,
);

/// Breach after three failing checks, a refused vote, the deciding vote, the executor done, two
/// passing checks: the whole story, as a reviewer reads it.
async fn rolled_back_deploy(app: &TestApp) -> String {
    let id = app.start_deploy("2.4.1").await;
    app.check(&id, 0.004, 0.2).await;
    app.check(&id, 0.02, 0.2).await;
    app.check(&id, 0.03, 0.2).await;
    app.check(&id, 0.05, 0.2).await;
    assert_eq!(app.state(&id).await, "breached");
    let (status, _) = app.vote(&id, "slack:U09EVE", &[], "rollback").await;
    assert_eq!(status, 403, "Eve is no decider");
    let (status, vote) = app
        .vote(&id, "slack:U02BOB", &["slack-group:S01SRE"], "rollback")
        .await;
    assert_eq!(status, 202, "{vote}");
    app.wait_state(&id, "rolled_back").await;
    app.check(&id, 0.004, 0.2).await;
    app.check(&id, 0.004, 0.2).await;
    app.wait_state(&id, "rollback_verified").await;
    id
}

fn row<'a>(md: &'a str, starts: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line starting {starts:?} in\n{md}"))
}

async fn rolled_back_postmortem_in_markdown_and_on_the_page(b: Backend) {
    let setup = Setup {
        executor: Some(ExecutorMode::Done),
        ..Setup::default()
    };
    let Some(app) = TestApp::spawn(b, setup).await else {
        return;
    };
    let id = rolled_back_deploy(&app).await;

    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200, "{md}");
    assert!(
        md.starts_with("# Postmortem: checkout 2.4.1 → production\n"),
        "{md}"
    );
    assert!(row(&md, "| Deployer |").contains("ci"));
    assert!(
        row(&md, "| Outcome |").contains("rolled back, recovery verified"),
        "{md}"
    );
    // Phases with both ends and a duration; the deploy reached every one.
    for phase in [
        "| Detect (",
        "| Decide (",
        "| Execute (",
        "| Verify (",
        "| **Total** |",
    ] {
        let r = row(&md, phase);
        assert!(!r.contains("not reached"), "{r}");
        assert_eq!(r.matches(" UTC").count(), 2, "{r}");
    }
    // The agreement with its full hash, and nothing changed since.
    let timeline = app.timeline(&id).await;
    let hash = timeline["deploy"]["criteria_hash"].as_str().expect("hash");
    assert!(md.contains(&format!("hash `{hash}`")), "{md}");
    assert!(row(&md, "| 5xx ratio |").contains("| 0.01 |"));
    assert!(md.contains("nothing changed after the lock"), "{md}");
    // The decision with who and the quorum; every vote, the refusal too.
    let decision = row(&md, "- **rollback** at ");
    assert!(
        decision.contains("slack:U02BOB") && decision.contains("(quorum 1)"),
        "{decision}"
    );
    let votes: Vec<&str> = md.lines().filter(|l| l.contains("(`slack:U0")).collect();
    assert_eq!(votes.len(), 2, "{md}");
    assert!(votes[0].contains("U09EVE") && votes[0].contains("**refused**"));
    assert!(votes[1].contains("U02BOB") && votes[1].contains("| yes |"));
    // The full timeline: every event with time, actor and source.
    let events = timeline["events"].as_array().expect("events");
    for e in events {
        let kind = e["kind"].as_str().expect("kind");
        assert!(
            md.lines()
                .any(|l| l.starts_with(&format!("| {} |", e["seq"])) && l.contains(kind)),
            "event {kind} missing"
        );
    }
    assert!(row(&md, "| 1 |").contains("| ci | deploy-webhook | deploy_started |"));
    assert!(
        row(&md, "| Web page |").contains(&format!(
            "/deploys/{}",
            canarybot::present::postmortem::path_segment(&id)
        )),
        "{md}"
    );
    assert!(!md.contains("not final"));

    // The thread got the closing summary with the phases and the link.
    app.settle_chat().await;
    let closing: Vec<String> = app
        .chat
        .replies()
        .into_iter()
        .filter(|r| r.starts_with("🏁 Closed"))
        .collect();
    assert_eq!(closing.len(), 1, "{:?}", app.chat.replies());
    assert!(
        closing[0].contains("rolled back, recovery verified")
            && closing[0].contains("Detect ")
            && closing[0].contains("Verify ")
            && closing[0].contains(&format!(
                "{}/deploys/{}",
                app.url,
                canarybot::present::postmortem::path_segment(&id)
            )),
        "{}",
        closing[0]
    );

    // The page: the same story, and a chart per criterion drawn from the stored samples.
    let (status, page) = app.get(&format!("/deploys/{id}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<table id=\"phases\""), "{page}");
    assert!(!page.contains("<script"), "no scripts");
    for criterion in ["5xx ratio", "p99 latency"] {
        let start = page
            .find(&format!("data-criterion=\"{criterion}\""))
            .unwrap_or_else(|| panic!("no chart for {criterion}"));
        let figure = &page[start..start + page[start..].find("</figure>").expect("figure end")];
        // Six checks stored: four in canary, two verifying.
        assert!(
            figure.contains("class=\"series canary\" data-points=\"6\""),
            "{figure}"
        );
        assert!(figure.contains("class=\"series baseline\" data-points=\"6\""));
        assert!(figure.contains("data-bound=\"max\""), "{figure}");
        for (kind, marker) in [
            ("breach_detected", "marker breach"),
            ("decision", "marker decision"),
            ("rollback_succeeded", "marker rollback"),
        ] {
            let at = events
                .iter()
                .find(|e| e["kind"] == kind)
                .and_then(|e| e["at"].as_str())
                .expect("event time");
            let ms = chrono::DateTime::parse_from_rfc3339(at)
                .expect("rfc3339")
                .timestamp_millis();
            assert!(
                figure.contains(&format!("data-at=\"{ms}\"")) && figure.contains(marker),
                "{marker} at {ms} missing in {figure}"
            );
        }
    }
    assert!(page.contains("data-bound=\"max\" data-value=\"0.01\""));
    app.finish().await;
}

async fn promoted_postmortem(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let id = app.start_deploy("2.5.0").await;
    app.check(&id, 0.004, 0.2).await;
    let (status, _) = app.vote(&id, "slack:U01ALICE", &[], "promote").await;
    assert_eq!(status, 202);
    app.wait_state(&id, "promoted").await;
    let (status, md) = app.get(&format!("/api/deploys/{id}/timeline.md")).await;
    assert_eq!(status, 200);
    assert!(row(&md, "| Outcome |").contains("promoted"), "{md}");
    assert!(row(&md, "| Decide (").contains(" UTC"));
    for phase in ["| Detect (", "| Execute (", "| Verify ("] {
        assert!(row(&md, phase).contains("not reached"), "{md}");
    }
    assert!(row(&md, "- **promote** at ").contains("slack:U01ALICE"));
    app.settle_chat().await;
    assert!(
        app.chat
            .replies()
            .iter()
            .any(|r| r.starts_with("🏁 Closed: ✅ promoted")),
        "{:?}",
        app.chat.replies()
    );
    let (status, page) = app.get(&format!("/deploys/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("class=\"series canary\" data-points=\"1\""));
    assert!(page.contains("marker promoted"));
    app.finish().await;
}

async fn pages_follow_the_api_token_rule(b: Backend) {
    let Some(app) = TestApp::spawn(b, Setup::default()).await else {
        return;
    };
    let first = app.start_deploy("1.0.0").await;
    let second = app.start_deploy("1.0.1").await;
    for path in ["/deploys".to_string(), format!("/deploys/{first}")] {
        let resp = app
            .http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        assert!(
            resp.headers()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("Basic")),
            "browsers are asked for the token"
        );
        let wrong = app
            .http
            .get(format!("{}{path}", app.url))
            .basic_auth("me", Some("nope"))
            .send()
            .await
            .expect("get");
        assert_eq!(wrong.status().as_u16(), 401);
        let basic = app
            .http
            .get(format!("{}{path}", app.url))
            .basic_auth("anyone", Some(TOKEN))
            .send()
            .await
            .expect("get");
        assert_eq!(basic.status().as_u16(), 200, "{path}");
        let query = app
            .http
            .get(format!("{}{path}?token={TOKEN}", app.url))
            .send()
            .await
            .expect("get");
        assert_eq!(query.status().as_u16(), 200, "{path}");
    }
    // Newest first.
    let (_, list) = app.get("/deploys").await;
    let a = list.find(&format!("data-id=\"{second}\"")).expect("second");
    let b = list.find(&format!("data-id=\"{first}\"")).expect("first");
    assert!(a < b, "newest first");
    let (status, _) = app.get("/deploys/nosuch").await;
    assert_eq!(status, 404);
    app.finish().await;
}
