//! `POST /discord/interactions` (`[discord] transport = "http"`): each request's Ed25519
//! signature is checked (Discord probes with bad signatures) before the shared handlers
//! ([`DiscordInbound::answer`]) see it.

use super::DiscordInbound;
use crate::http::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use serenity::interactions_endpoint::Verifier;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// How far `X-Signature-Timestamp` may be from now.
pub const REPLAY_WINDOW_S: i64 = 5 * 60;

/// The HTTP endpoint's state: the handlers and the key that signs what Discord posts.
#[derive(Clone)]
struct Endpoint {
    handlers: DiscordInbound,
    verifier: Arc<Verifier>,
}

pub fn routes(handlers: DiscordInbound, verifier: Arc<Verifier>) -> Router<AppState> {
    Router::new()
        .route("/discord/interactions", post(interactions))
        .with_state(Endpoint { handlers, verifier })
}

/// The verifier for a hex public key, or why it is unusable.
pub fn verifier(public_key_hex: &str) -> anyhow::Result<Verifier> {
    let bytes = hex::decode(public_key_hex.trim())?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("discord.public_key: must be 32 bytes"))?;
    Verifier::try_new(key).map_err(|e| anyhow::anyhow!("discord.public_key: {e}"))
}

/// Checks an interaction's `X-Signature-Ed25519` over `X-Signature-Timestamp` + body, and that
/// the timestamp is within the replay window of `now_s`; the error is the reason to log.
pub fn check_request(
    verifier: &Verifier,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), &'static str> {
    let (Some(sig), Some(ts)) = (signature, timestamp) else {
        return Err("missing X-Signature-Ed25519 or X-Signature-Timestamp header");
    };
    let Ok(at) = ts.trim().parse::<i64>() else {
        return Err("malformed X-Signature-Timestamp header");
    };
    // abs_diff: a timestamp far from the clock must be refused, not overflow (found by fuzzing).
    if now_s.abs_diff(at) > REPLAY_WINDOW_S.unsigned_abs() {
        return Err("request timestamp is outside the 5-minute replay window");
    }
    verifier
        .verify(sig, ts, body)
        .map_err(|()| "signature does not verify with the application's public key")
}

impl Endpoint {
    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        check_request(
            &self.verifier,
            header("x-signature-ed25519"),
            header("x-signature-timestamp"),
            body,
            (self.handlers.clock)() / 1000,
        )
    }
}

async fn interactions(State(s): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.authenticate(&headers, &body) {
        s.handlers
            .counters
            .auth_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = e, "Discord interaction refused");
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": e}))).into_response();
    }
    match s.handlers.answer(&body).await {
        Ok(answered) => axum::Json(answered.response).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e}))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(key: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut message = ts.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(key.sign(&message).to_bytes())
    }

    /// Fuzzing (`signatures` target): a timestamp at the far end of i64 from the clock made the
    /// replay-window check overflow (a panic with overflow checks, a wrong answer without).
    #[test]
    fn timestamp_far_from_the_clock_is_refused() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let v = verifier(&hex::encode(key.verifying_key().as_bytes())).expect("key");
        let stale = Err("request timestamp is outside the 5-minute replay window");
        let ts = "-8680820740569200761";
        let sig = signed(&key, ts, b"{}");
        assert_eq!(
            check_request(&v, Some(&sig), Some(ts), b"{}", 9_189_462_580_836_927_367),
            stale
        );
        for (ts, now) in [(i64::MIN, 1_700_000_000), (i64::MAX, -1)] {
            let ts = ts.to_string();
            let sig = signed(&key, &ts, b"{}");
            assert_eq!(check_request(&v, Some(&sig), Some(&ts), b"{}", now), stale);
        }
        // Within the window it verifies; a changed body does not.
        let sig = signed(&key, "1700000100", b"{}");
        assert_eq!(
            check_request(&v, Some(&sig), Some("1700000100"), b"{}", 1_700_000_000),
            Ok(())
        );
        assert!(check_request(&v, Some(&sig), Some("1700000100"), b"{ }", 1_700_000_000).is_err());
    }
}
