//! One way to wait between tries of a call to another system: the wait doubles from a base, never
//! passes a cap, and is jittered, so many callers waiting out one outage do not come back in step
//! and a generous retry count cannot sleep for days. A `Retry-After` the other side sent is the wait
//! for that try (capped too), and does not grow the doubling.

use std::future::Future;
use std::time::Duration;

/// Doubling from `base`, at most `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The full wait before retry `n` (1 = the first retry): `base · 2^(n-1)`, at most `cap`.
    pub fn full(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(20);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `n`, jittered by `jitter` (0..1) to between half and all of
    /// [`Backoff::full`].
    pub fn delay(&self, n: u32, jitter: f64) -> Duration {
        let full = self.full(n);
        full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// The wait before retry `n` when the other side may have said how long to wait: what it
    /// asked for (at most `cap`), else [`Backoff::delay`] with fresh jitter.
    pub fn wait(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.cap),
            None => self.delay(n, jitter()),
        }
    }
}

/// A number in 0..1 that differs between calls (the sub-second clock): enough to spread retries,
/// with no random-number dependency.
pub fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

/// What one try came to: done, worth another try (with the other side's `Retry-After`, if any),
/// or not worth one.
pub enum Try<T, E> {
    Done(T),
    Again {
        error: E,
        retry_after: Option<Duration>,
    },
    GiveUp(E),
}

/// Runs `attempt` up to `1 + retries` times, waiting [`Backoff::wait`] between tries; `on_retry`
/// hears each failure that will be tried again (try number from 1, the error, the wait). Returns
/// the last error and how many tries were made when it gives up.
pub async fn with_retries<T, E, F, Fut>(
    backoff: Backoff,
    retries: u32,
    mut attempt: F,
    mut on_retry: impl FnMut(u32, &E, Duration),
) -> Result<T, (E, u32)>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Try<T, E>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt(n).await {
            Try::Done(v) => return Ok(v),
            Try::GiveUp(e) => return Err((e, n)),
            Try::Again { error, retry_after } => {
                if n > retries {
                    return Err((error, n));
                }
                let wait = backoff.wait(n, retry_after);
                on_retry(n, &error, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(30));

    #[test]
    fn doubles_from_the_base_and_stops_at_the_cap() {
        assert_eq!(B.full(1), Duration::from_millis(50));
        assert_eq!(B.full(2), Duration::from_millis(100));
        assert_eq!(B.full(5), Duration::from_millis(800));
        // retries = 20 used to sleep 50 ms · 2^19 ≈ 7 hours before its last try.
        assert_eq!(B.full(20), Duration::from_secs(30));
        assert_eq!(B.full(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn jitter_spreads_between_half_and_all() {
        assert_eq!(B.delay(3, 0.0), Duration::from_millis(100));
        assert_eq!(B.delay(3, 1.0), Duration::from_millis(200));
        assert_eq!(B.delay(3, 0.5), Duration::from_millis(150));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }

    #[test]
    fn retry_after_is_the_wait_but_capped() {
        assert_eq!(
            B.wait(7, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            B.wait(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    /// Milliseconds instead of seconds, so the waits are real and short.
    const QUICK: Backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(8));

    #[tokio::test]
    async fn tries_retries_plus_one_times_then_gives_up_with_the_last_error() {
        let mut heard = Vec::new();
        let out: Result<(), (String, u32)> = with_retries(
            QUICK,
            3,
            |n| async move {
                Try::Again {
                    error: format!("failure {n}"),
                    retry_after: None,
                }
            },
            |n, e: &String, wait| heard.push((n, e.clone(), wait)),
        )
        .await;
        assert_eq!(out, Err(("failure 4".to_string(), 4)));
        assert_eq!(heard.len(), 3);
        let waits: Vec<Duration> = heard.iter().map(|h| h.2).collect();
        assert!(
            waits[2] >= Duration::from_micros(2_000) && waits[2] <= Duration::from_millis(4),
            "{waits:?}"
        );
    }

    #[tokio::test]
    async fn stops_at_success_or_a_refusal_not_worth_retrying() {
        let done: Result<u32, (String, u32)> = with_retries(
            QUICK,
            5,
            |n| async move {
                if n < 3 {
                    Try::Again {
                        error: "busy".to_string(),
                        retry_after: Some(Duration::from_millis(1)),
                    }
                } else {
                    Try::Done(n)
                }
            },
            |_, _, _| {},
        )
        .await;
        assert_eq!(done, Ok(3));
        let refused: Result<(), (String, u32)> = with_retries(
            QUICK,
            5,
            |_| async { Try::GiveUp("401".to_string()) },
            |_, _, _| {},
        )
        .await;
        assert_eq!(refused, Err(("401".to_string(), 1)));
    }
}
