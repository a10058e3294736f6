//! Counters the workers keep about delivery (chat messages and executor calls), read by
//! `/metrics`. Plain atomics and one small lock: cheap enough to touch on every delivery.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (ms) of the delivery-latency buckets: from the effect being written to it
/// reaching the platform. A chat outage shows as counts in the high buckets.
pub const LATENCY_BOUNDS_MS: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 15_000, 60_000, 300_000,
];

/// Delivery figures of one outbox target (`chat:slack`, `chat:discord`, `executor`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetStats {
    pub delivered: u64,
    /// Attempts that failed transiently and were scheduled again.
    pub retries: u64,
    /// Items given up for a permanent error.
    pub given_up: u64,
    /// Of the retries, those the platform rate-limited (429 / `ratelimited`).
    pub rate_limited: u64,
    /// Cumulative counts per bucket of [`LATENCY_BOUNDS_MS`] (`le` semantics), then +Inf.
    pub latency_buckets: [u64; LATENCY_BOUNDS_MS.len() + 1],
    pub latency_sum_ms: u64,
}

#[derive(Debug, Default)]
pub struct Telemetry {
    targets: Mutex<BTreeMap<String, TargetStats>>,
    /// Inbound deliveries (webhooks, metric pushes, interactions) answered from the record.
    pub duplicates_suppressed: AtomicU64,
}

impl Telemetry {
    fn with(&self, target: &str, f: impl FnOnce(&mut TargetStats)) {
        if let Ok(mut map) = self.targets.lock() {
            f(map.entry(target.to_string()).or_default());
        }
    }

    /// One item delivered, `latency_ms` after it was written.
    pub fn delivered(&self, target: &str, latency_ms: i64) {
        let latency = latency_ms.max(0) as u64;
        self.with(target, |s| {
            s.delivered += 1;
            s.latency_sum_ms += latency;
            for (i, bound) in LATENCY_BOUNDS_MS.iter().enumerate() {
                if latency <= *bound {
                    s.latency_buckets[i] += 1;
                }
            }
            s.latency_buckets[LATENCY_BOUNDS_MS.len()] += 1;
        });
    }

    pub fn retried(&self, target: &str, rate_limited: bool) {
        self.with(target, |s| {
            s.retries += 1;
            if rate_limited {
                s.rate_limited += 1;
            }
        });
    }

    pub fn given_up(&self, target: &str) {
        self.with(target, |s| s.given_up += 1);
    }

    pub fn duplicate(&self) {
        self.duplicates_suppressed.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of every target's figures, sorted by target.
    pub fn snapshot(&self) -> BTreeMap<String, TargetStats> {
        self.targets.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative() {
        let t = Telemetry::default();
        t.delivered("chat:slack", 40);
        t.delivered("chat:slack", 700);
        t.delivered("chat:slack", 1_000_000);
        t.retried("chat:slack", true);
        t.given_up("executor");
        let s = t.snapshot();
        let slack = &s["chat:slack"];
        assert_eq!(slack.delivered, 3);
        assert_eq!(slack.latency_buckets[0], 1); // ≤ 50 ms
        assert_eq!(slack.latency_buckets[4], 2); // ≤ 1 s
        assert_eq!(slack.latency_buckets[9], 2); // ≤ 5 min
        assert_eq!(slack.latency_buckets[10], 3); // +Inf
        assert_eq!(slack.latency_sum_ms, 1_000_740);
        assert_eq!((slack.retries, slack.rate_limited), (1, 1));
        assert_eq!(s["executor"].given_up, 1);
    }
}
