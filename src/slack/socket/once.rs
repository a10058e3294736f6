//! Each envelope acted on once. Slack redelivers an envelope it heard no acknowledgement for
//! (same `envelope_id`, `retry_attempt` > 0), to this connection or to another replica's.
//!
//! - `events_api`: the event's own `event_id`, in the deliveries table under the same kind as the
//!   HTTP Events API (`slack-events`), so an event seen over both during a migration acts once.
//! - `slash_commands` and `interactive`: the `envelope_id` (kind `slack-socket`), recorded with the
//!   acknowledgement's payload, so a redelivery is acknowledged with the same payload and not acted
//!   on again. A redelivery arriving while the first is still being handled in this process waits
//!   for it and gets the same payload.
//!
//! The answer is recorded after acting and before the acknowledgement is sent. If the process dies
//! between acting and recording, the acknowledgement was never sent either: Slack redelivers, and
//! the envelope is acted on a second time (at least once, never lost). What it does is safe to
//! repeat where it matters: a person's second vote on a deploy is the same vote (the domain counts
//! one per person), and the command's private reply is answered again; only a repeated `/canary
//! freeze` or `drill` would be done twice.

use super::envelope::{Envelope, Kind};
use crate::slack::inbound::{SlackInbound, event_of, interaction_of, slash_command_of};
use axum::http::StatusCode;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// The delivery kind of slash commands and interactions received over Socket Mode.
pub const ENVELOPE_DELIVERY: &str = "slack-socket";

type Answer = Option<Value>;

/// Envelopes being handled in this process, by id: a redelivery waits for the first answer.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<String, Arc<OnceCell<Answer>>>>);

impl InFlight {
    fn cell(&self, id: &str) -> Arc<OnceCell<Answer>> {
        match self.0.lock() {
            Ok(mut map) => map.entry(id.to_string()).or_default().clone(),
            // A poisoned map only loses the in-process coalescing; the store still de-duplicates.
            Err(_) => Arc::new(OnceCell::new()),
        }
    }

    fn done(&self, id: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(id);
        }
    }
}

/// The payload to acknowledge `envelope` with, acting on it unless it was acted on before.
pub async fn answer(inbound: &SlackInbound, in_flight: &InFlight, envelope: &Envelope) -> Answer {
    if envelope.kind == Kind::EventsApi {
        // The handler de-duplicates by event_id; its answer carries nothing for an event.
        return match event_of(envelope.payload.clone()) {
            Ok(event) => inbound.event(event).await.payload(),
            Err(e) => refused(e),
        };
    }
    let cell = in_flight.cell(&envelope.id);
    let answer = cell
        .get_or_init(|| act_once(inbound, envelope))
        .await
        .clone();
    in_flight.done(&envelope.id);
    answer
}

fn refused(e: String) -> Answer {
    crate::slack::inbound::SlackAnswer::refused(StatusCode::BAD_REQUEST, e).payload()
}

async fn act_once(inbound: &SlackInbound, envelope: &Envelope) -> Answer {
    let store = inbound.engine.store();
    match store.delivery(ENVELOPE_DELIVERY, &envelope.id).await {
        Ok(Some((_, stored))) => {
            tracing::info!(envelope = %envelope.id, retry_attempt = envelope.retry_attempt, "Slack envelope redelivered: acknowledged as before, not acted on again");
            inbound
                .counters
                .redeliveries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return serde_json::from_str(&stored).ok();
        }
        Ok(None) => {}
        // Acted on regardless: a command is better answered twice than lost.
        Err(e) => tracing::warn!(error = %e, "cannot check a Slack envelope id"),
    }
    let payload = match envelope.kind {
        Kind::SlashCommands => match slash_command_of(envelope.payload.clone()) {
            Ok(command) => inbound.command(command).await.payload(),
            Err(e) => refused(e),
        },
        _ => match interaction_of(envelope.payload.clone()) {
            Ok(interaction) => inbound.interaction(interaction).await.payload(),
            Err(e) => refused(e),
        },
    };
    let stored = payload.as_ref().map(Value::to_string).unwrap_or_default();
    if let Err(e) = store
        .record_delivery(
            ENVELOPE_DELIVERY,
            &envelope.id,
            200,
            &stored,
            (inbound.clock)(),
        )
        .await
    {
        tracing::warn!(envelope = %envelope.id, error = %e, "cannot record a Slack envelope's answer");
    }
    payload
}
