//! The `command` executor: a program run without a shell, the deploy in its environment.

use crate::on_both_backends;
use crate::support::{Backend, Setup, TestApp};

on_both_backends!(command_success_failure_timeout_and_secrets);

const SECRET: &str = "tok-3x4mpl3-s3cr3t-v4lu3";

fn setup(script: &str, timeout: &str) -> Setup {
    Setup {
        executor: None,
        rollback_toml: Some(format!(
            "[service.rollback]\nkind = \"command\"\nargv = [\"sh\", \"-c\", '''{script}''']\ntimeout = \"{timeout}\"\nenv = {{ ARGO_TOKEN = \"{SECRET}\" }}\n"
        )),
        ..Setup::default()
    }
}

async fn events_of(app: &TestApp, id: &str) -> String {
    app.timeline(id).await["events"].to_string()
}

async fn command_success_failure_timeout_and_secrets(b: Backend) {
    // Success: exit 0 is the rollback done; the deploy is in the environment.
    let ok = "echo aborting rollout for $CANARYBOT_SERVICE $CANARYBOT_VERSION action=$CANARYBOT_ACTION by=$CANARYBOT_DECIDED_BY decision=$CANARYBOT_DECISION_ID; echo using $ARGO_TOKEN";
    let Some(app) = TestApp::spawn(b, setup(ok, "5s")).await else {
        return;
    };
    let id = app.start_deploy("1.0.0").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rolled_back").await;
    let t = app.timeline(&id).await;
    let done = t["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "rollback_succeeded")
        .cloned()
        .expect("done");
    let detail = done["details"]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("exited 0")
            && detail
                .contains("aborting rollout for checkout 1.0.0 action=rollback by=slack:U01ALICE decision=checkout:production:1.0.0/decision-"),
        "{detail}"
    );
    assert!(
        !events_of(&app, &id).await.contains(SECRET),
        "the secret never reaches the timeline"
    );
    assert!(detail.contains("[redacted]"));
    app.finish().await;

    // Failure: non-zero exit is rollback_failed, with the last lines of output, scrubbed.
    let bad = "echo step one; echo token was $ARGO_TOKEN >&2; exit 3";
    let Some(app) = TestApp::spawn(b, setup(bad, "5s")).await else {
        return;
    };
    let id = app.start_deploy("2.0.0").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rollback_failed").await;
    let events = events_of(&app, &id).await;
    assert!(
        events.contains("exited with status 3") && events.contains("step one"),
        "{events}"
    );
    assert!(!events.contains(SECRET), "{events}");
    app.settle_chat().await;
    assert!(
        app.chat.replies().iter().all(|r| !r.contains(SECRET)),
        "nor the thread"
    );
    app.finish().await;

    // A command that writes a lot to stderr before closing stdout does not stall.
    let chatty = "i=0; while [ $i -lt 3000 ]; do echo progress line $i of the rollback >&2; i=$((i+1)); done; echo done";
    let Some(app) = TestApp::spawn(b, setup(chatty, "10s")).await else {
        return;
    };
    let id = app.start_deploy("2.5.0").await;
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rolled_back").await;
    app.finish().await;

    // Timeout: the command is stopped and the rollback failed.
    let Some(app) = TestApp::spawn(b, setup("sleep 30", "500ms")).await else {
        return;
    };
    let id = app.start_deploy("3.0.0").await;
    let started = std::time::Instant::now();
    app.vote(&id, "slack:U01ALICE", &[], "rollback").await;
    app.wait_state(&id, "rollback_failed").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(events_of(&app, &id).await.contains("did not finish within"));
    app.finish().await;
}
