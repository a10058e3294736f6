//! `GET /metrics` in the OpenMetrics text format (1.0.0): counters end in `_total`, the latency
//! histogram has cumulative `le` buckets in seconds, and the exposition ends with `# EOF`.

use crate::http::{AppState, LIMITS};
use crate::telemetry::{LATENCY_BOUNDS_MS, TargetStats};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// One per-target counter of the delivery figures.
type Figure = fn(&TargetStats) -> u64;
/// One counter of a connection held open to a chat platform.
type LinkFigure = fn(&crate::http::LinkFigures) -> u64;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One metric family at a time: metadata, then its samples.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, unit: Option<&str>, help: &str) {
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        if let Some(unit) = unit {
            let _ = writeln!(self.out, "# UNIT {name} {unit}");
        }
        let _ = writeln!(self.out, "# HELP {name} {help}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", None, help);
        self.sample(&format!("{name}_total"), &[], value);
    }

    fn finish(mut self) -> String {
        self.out.push_str("# EOF\n");
        self.out
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Milliseconds as seconds in OpenMetrics' float syntax: `0.05`, `1.0`, `300.0`.
fn seconds(ms: u64) -> String {
    format!("{:?}", ms as f64 / 1000.0)
}

pub async fn render(State(s): State<AppState>) -> Response {
    let c = &s.counters;
    let telemetry = s.engine.telemetry.snapshot();
    let depth = match s.engine.store().outbox_depth().await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "/metrics cannot read the outbox depth");
            None
        }
    };
    let now = s.engine.now();

    // Every target the outbox has or may have, so that a quiet target shows 0, not nothing.
    let mut targets: BTreeSet<String> = BTreeSet::new();
    targets.insert(crate::engine::EXECUTOR_TARGET.to_string());
    targets.extend(s.chat_targets.iter().cloned());
    targets.extend(
        s.config
            .pagers()
            .iter()
            .map(|p| crate::engine::page_target(p)),
    );
    targets.extend(telemetry.keys().cloned());
    if let Some(d) = &depth {
        targets.extend(d.iter().map(|r| r.target.clone()));
    }

    let mut x = Exposition::default();
    x.counter(
        "canarybot_auth_failures",
        "Requests refused for a bad, missing or stale signature or token (all surfaces).",
        c.auth_failures.load(Ordering::Relaxed),
    );
    x.family(
        "canarybot_signatures_refused",
        "counter",
        None,
        "Requests answered 401 (bad, missing or stale signature or token), by surface.",
    );
    for (surface, refused) in c.refused() {
        x.sample(
            "canarybot_signatures_refused_total",
            &[("surface", surface)],
            refused,
        );
    }
    x.family(
        "canarybot_requests_limited",
        "counter",
        None,
        "Requests refused by a size or time limit of the server section, by limit.",
    );
    for (i, limit) in LIMITS.iter().enumerate() {
        x.sample(
            "canarybot_requests_limited_total",
            &[("limit", limit)],
            c.limited[i].load(Ordering::Relaxed),
        );
    }
    x.counter(
        "canarybot_webhooks_accepted",
        "Signed webhooks accepted.",
        c.webhooks_accepted.load(Ordering::Relaxed),
    );
    x.counter(
        "canarybot_redeliveries",
        "Webhook redeliveries answered from the record.",
        c.redeliveries.load(Ordering::Relaxed),
    );
    x.counter(
        "canarybot_duplicates_suppressed",
        "Inbound deliveries (webhooks, metric pushes, interactions) recognised as repeats and not acted on again.",
        s.engine
            .telemetry
            .duplicates_suppressed
            .load(Ordering::Relaxed),
    );
    x.counter(
        "canarybot_alerts_unmatched",
        "Alertmanager alerts that matched no active canary.",
        c.alerts_unmatched.load(Ordering::Relaxed),
    );

    let links = c.links();
    if !links.is_empty() {
        x.family(
            "canarybot_chat_connection_up",
            "gauge",
            None,
            "1 while a connection held open to a chat platform (Slack Socket Mode, the Discord Gateway) is ready to receive, by platform and transport.",
        );
        for l in &links {
            let labels = [("platform", l.platform), ("transport", l.transport)];
            x.sample("canarybot_chat_connection_up", &labels, u8::from(l.up));
        }
        let figures: [(&str, &str, LinkFigure); 4] = [
            (
                "canarybot_chat_connections",
                "Connections to a chat platform that became ready, the first included, by platform and transport.",
                |l| l.connects,
            ),
            (
                "canarybot_chat_connection_failures",
                "Attempts to connect to a chat platform that failed before the connection was ready.",
                |l| l.failures,
            ),
            (
                "canarybot_chat_disconnects",
                "Ready connections to a chat platform that ended (closed, disconnect, reconnect asked); each is followed by a reconnect.",
                |l| l.disconnects,
            ),
            (
                "canarybot_chat_received",
                "Envelopes and dispatches received over connections held open to a chat platform.",
                |l| l.received,
            ),
        ];
        for (name, help, get) in figures {
            x.family(name, "counter", None, help);
            for l in &links {
                let labels = [("platform", l.platform), ("transport", l.transport)];
                x.sample(&format!("{name}_total"), &labels, get(l));
            }
        }
    }

    if let Some(depth) = &depth {
        let by_target: BTreeMap<&str, _> = depth.iter().map(|d| (d.target.as_str(), d)).collect();
        x.family(
            "canarybot_outbox_backlog",
            "gauge",
            None,
            "Outbox items (chat messages, pages, executor calls) not yet delivered, all targets.",
        );
        x.sample(
            "canarybot_outbox_backlog",
            &[],
            depth.iter().map(|d| d.pending).sum::<i64>(),
        );
        x.family(
            "canarybot_outbox_depth",
            "gauge",
            None,
            "Outbox items not yet delivered nor given up, by target.",
        );
        for t in &targets {
            let n = by_target.get(t.as_str()).map_or(0, |d| d.pending);
            x.sample("canarybot_outbox_depth", &[("target", t)], n);
        }
        x.family(
            "canarybot_outbox_oldest_age_seconds",
            "gauge",
            Some("seconds"),
            "Age of the oldest undelivered outbox item, by target (0 when there is none).",
        );
        for t in &targets {
            let age_ms = by_target
                .get(t.as_str())
                .map_or(0, |d| (now - d.oldest_created_at_ms).max(0) as u64);
            x.sample(
                "canarybot_outbox_oldest_age_seconds",
                &[("target", t)],
                seconds(age_ms),
            );
        }
    }

    let stats = |t: &str| telemetry.get(t).cloned().unwrap_or_default();
    let per_target: [(&str, &str, Figure); 4] = [
        (
            "canarybot_deliveries",
            "Outbox items delivered, by target.",
            |s| s.delivered,
        ),
        (
            "canarybot_delivery_retries",
            "Delivery attempts that failed transiently and were scheduled again, by target.",
            |s| s.retries,
        ),
        (
            "canarybot_delivery_rate_limited",
            "Of the retries, those the platform rate-limited (429), by target.",
            |s| s.rate_limited,
        ),
        (
            "canarybot_delivery_given_up",
            "Outbox items given up for a permanent error or too many attempts, by target.",
            |s| s.given_up,
        ),
    ];
    for (name, help, get) in per_target {
        x.family(name, "counter", None, help);
        for t in &targets {
            x.sample(&format!("{name}_total"), &[("target", t)], get(&stats(t)));
        }
    }

    let name = "canarybot_delivery_latency_seconds";
    x.family(
        name,
        "histogram",
        Some("seconds"),
        "From an outbox item being written to its delivery, by target.",
    );
    for t in &targets {
        let st = stats(t);
        for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
            x.sample(
                &format!("{name}_bucket"),
                &[("target", t), ("le", &seconds(*bound))],
                st.latency_buckets[i],
            );
        }
        let count = st.latency_buckets[LATENCY_BOUNDS_MS.len()];
        x.sample(
            &format!("{name}_bucket"),
            &[("target", t), ("le", "+Inf")],
            count,
        );
        x.sample(&format!("{name}_count"), &[("target", t)], count);
        x.sample(
            &format!("{name}_sum"),
            &[("target", t)],
            seconds(st.latency_sum_ms),
        );
    }

    ([("content-type", CONTENT_TYPE)], x.finish()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_shape() {
        let mut x = Exposition::default();
        x.counter("a", "An a.", 3);
        x.family("b", "gauge", Some("seconds"), "A b.");
        x.sample("b_seconds", &[("target", "chat:\"x\"\n")], seconds(1500));
        assert_eq!(
            x.finish(),
            "# TYPE a counter\n# HELP a An a.\na_total 3\n# TYPE b gauge\n# UNIT b seconds\n# HELP b A b.\nb_seconds{target=\"chat:\\\"x\\\"\\n\"} 1.5\n# EOF\n"
        );
        assert_eq!(seconds(50), "0.05");
        assert_eq!(seconds(1000), "1.0");
        assert_eq!(seconds(300_000), "300.0");
    }
}
