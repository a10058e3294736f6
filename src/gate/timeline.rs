//! A service's own timeline: Flagger's answers recorded when they change, as Markdown, as the
//! CLI prints it.

use super::*;

/// Records Flagger's confirm-rollout answer for `canary` (`namespace/name`) on the service's
/// timeline, only when it differs from the last one recorded for that canary: Flagger asks again
/// every interval, and a row per poll would bury the timeline.
pub async fn record_rollout_answer(
    store: &Store,
    service: &str,
    canary: &str,
    answer: &GateAnswer,
    now_ms: i64,
) -> Result<(), StoreError> {
    const KINDS: [&str; 2] = ["rollout_allowed", "rollout_refused"];
    let last = store
        .service_events(service, 200)
        .await?
        .into_iter()
        .rev()
        .find(|e| KINDS.contains(&e.kind.as_str()) && e.details["canary"] == canary);
    let rule = json!(answer.rule);
    if last.is_some_and(|e| e.details["rule"] == rule) {
        return Ok(());
    }
    let (kind, summary) = if answer.open {
        (
            KINDS[0],
            format!("Flagger may roll out {canary}: {}", answer.reason),
        )
    } else {
        (
            KINDS[1],
            format!("Flagger's rollout of {canary} refused: {}", answer.reason),
        )
    };
    store
        .append_service_event(
            service,
            now_ms,
            kind,
            "flagger",
            &summary,
            &json!({"canary": canary, "rule": rule, "open": answer.open, "reason": answer.reason}),
        )
        .await
}

/// A service's own timeline as Markdown: when, what, who.
pub fn service_timeline_markdown(service: &str, events: &[ServiceEvent]) -> String {
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut md = format!("# {}: the service's timeline\n\n", cell(service));
    if events.is_empty() {
        md.push_str("Nothing yet: no freezes and no gate reviews.\n");
        return md;
    }
    md.push_str("| When | What | Who |\n|---|---|---|\n");
    for e in events {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            timestamp(e.at_ms),
            cell(&e.summary),
            cell(&e.actor)
        ));
    }
    md
}

/// `canarybot timeline --service`: the service's own timeline from the store, as Markdown or
/// (`json`) as the API gives it.
pub async fn service_timeline_text(
    config: &Config,
    service: &str,
    json: bool,
) -> Result<String, GateError> {
    if config.service(service).is_none() {
        return Err(unknown(config, service));
    }
    let store = Store::connect(&config.database.url).await?;
    let events = store.service_events(service, 1000).await;
    store.close().await;
    let events = events?;
    Ok(if json {
        let mut text = serde_json::to_string_pretty(&json!({"service": service, "events": events}))
            .unwrap_or_default();
        text.push('\n');
        text
    } else {
        service_timeline_markdown(service, &events)
    })
}
