//! Request authentication: HMAC-SHA256 webhook signatures (several secrets valid at once, for
//! rotation) and API bearer tokens. Comparisons are constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` of the body under `secret`, as sent in `X-Canarybot-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    /// The header is there but not in the form `expected` describes.
    #[error("malformed {header} header: expected {expected}")]
    Malformed {
        header: &'static str,
        expected: &'static str,
    },
    #[error("signature does not match any configured secret")]
    Mismatch,
    #[error("request timestamp is outside the 5-minute replay window")]
    Stale,
}

const WEBHOOK_SIGNATURE_FORM: &str = "sha256=<64 hex digits>";
const SLACK_SIGNATURE_FORM: &str = "v0=<64 hex digits>";
const SLACK_TIMESTAMP_FORM: &str = "whole Unix seconds, e.g. 1531420618";

/// Checks a `sha256=<hex>` header value against every secret.
pub fn verify(
    header_name: &'static str,
    header: Option<&str>,
    secrets: &[String],
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = header.ok_or(SignatureError::Missing(header_name))?;
    let malformed = SignatureError::Malformed {
        header: header_name,
        expected: WEBHOOK_SIGNATURE_FORM,
    };
    let sig = value
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or(malformed)?;
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let mut mac =
            HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
        mac.update(body);
        // verify_slice is constant-time; every secret is tried so timing does not tell which.
        matched |= subtle::Choice::from(mac.verify_slice(&sig).is_ok() as u8);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// How old a Slack request may be before it is refused as a replay.
pub const SLACK_REPLAY_WINDOW_S: i64 = 5 * 60;

/// Slack's `v0=<hex>` signature of `v0:{timestamp}:{body}`.
pub fn slack_sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks `X-Slack-Signature` and `X-Slack-Request-Timestamp` against every signing secret, and
/// refuses requests older (or newer) than the replay window at `now_s`.
pub fn verify_slack(
    timestamp: Option<&str>,
    signature: Option<&str>,
    secrets: &[String],
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let ts = timestamp.ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let sig = signature.ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let ts_num: i64 = ts.trim().parse().map_err(|_| SignatureError::Malformed {
        header: "X-Slack-Request-Timestamp",
        expected: SLACK_TIMESTAMP_FORM,
    })?;
    // abs_diff: a timestamp far from the clock must be refused, not overflow (found by fuzzing).
    if now_s.abs_diff(ts_num) > SLACK_REPLAY_WINDOW_S.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let given = sig
        .trim()
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32)
        .ok_or(SignatureError::Malformed {
            header: "X-Slack-Signature",
            expected: SLACK_SIGNATURE_FORM,
        })?;
    let mut matched = subtle::Choice::from(0u8);
    for secret in secrets {
        let mut mac =
            HmacSha256::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
        mac.update(b"v0:");
        mac.update(ts.trim().as_bytes());
        mac.update(b":");
        mac.update(body);
        matched |= subtle::Choice::from(mac.verify_slice(&given).is_ok() as u8);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Constant-time check of `Authorization: Bearer <token>` against the configured tokens.
pub fn bearer_ok(header: Option<&str>, tokens: &[String]) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    matches_any(given.trim().as_bytes(), tokens)
}

/// The API token rule: `Authorization: Bearer <token>`, or, for browsers, HTTP Basic with the
/// token as the password (any user name), or `?token=<token>` in the query.
pub fn api_token_ok(header: Option<&str>, query: Option<&str>, tokens: &[String]) -> bool {
    use base64::Engine as _;
    let any = |given: &[u8]| matches_any(given, tokens);
    if bearer_ok(header, tokens) {
        return true;
    }
    if let Some(b64) = header.and_then(|h| h.strip_prefix("Basic ")) {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim())
            && let Some(i) = raw.iter().position(|&b| b == b':')
        {
            return any(&raw[i + 1..]);
        }
        return false;
    }
    if let Some(q) = query {
        for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default() {
            if k == "token" {
                return any(v.as_bytes());
            }
        }
    }
    false
}

/// Whether two secrets are equal, in time that depends on neither their contents nor their
/// lengths: both are hashed (SHA-256) and the digests compared with `subtle`.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.as_slice().ct_eq(db.as_slice()).into()
}

/// Whether `given` is any of `secrets`: every one is compared, so the time does not tell which
/// matched, or whether one did.
pub fn matches_any(given: &[u8], secrets: &[String]) -> bool {
    secrets
        .iter()
        .fold(subtle::Choice::from(0u8), |ok, s| {
            ok | subtle::Choice::from(constant_time_eq(given, s.as_bytes()) as u8)
        })
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "X-Canarybot-Signature";

    #[test]
    fn known_vector() {
        // RFC 4231 style check against an independently computed value (python hmac).
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn any_configured_secret_verifies() {
        let secrets = vec!["new-secret".to_string(), "old-secret".to_string()];
        let body = br#"{"event":"started"}"#;
        assert_eq!(
            verify(H, Some(&sign("old-secret", body)), &secrets, body),
            Ok(())
        );
        assert_eq!(
            verify(H, Some(&sign("new-secret", body)), &secrets, body),
            Ok(())
        );
        assert_eq!(
            verify(H, Some(&sign("other", body)), &secrets, body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(H, None, &secrets, body),
            Err(SignatureError::Missing(H))
        );
        assert_eq!(
            verify(H, Some("sha1=abcd"), &secrets, body).map_err(|e| e.to_string()),
            Err(format!(
                "malformed {H} header: expected sha256=<64 hex digits>"
            ))
        );
        // A signature of another body does not verify this one.
        assert_eq!(
            verify(H, Some(&sign("new-secret", b"{}")), &secrets, body),
            Err(SignatureError::Mismatch)
        );
    }

    /// Slack's documented signing example, with the clock injected at the example's time.
    #[test]
    fn slack_documented_example() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5".to_string();
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(slack_sign(&secret, ts, body), expected);
        let secrets = vec!["a-rotated-out-secret".to_string(), secret];
        assert_eq!(
            verify_slack(Some(ts), Some(expected), &secrets, body, 1_531_420_618 + 60),
            Ok(())
        );
        // The live clock sees a stale request.
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            verify_slack(Some(ts), Some(expected), &secrets, body, now),
            Err(SignatureError::Stale)
        );
        // Tampered body, missing headers.
        assert_eq!(
            verify_slack(
                Some(ts),
                Some(expected),
                &secrets,
                b"token=x",
                1_531_420_618
            ),
            Err(SignatureError::Mismatch)
        );
        assert!(verify_slack(None, Some(expected), &secrets, body, 1_531_420_618).is_err());
        assert!(verify_slack(Some(ts), None, &secrets, body, 1_531_420_618).is_err());
    }

    /// Fuzzing (`signatures` target): a timestamp at the far end of i64 from the clock made the
    /// replay-window check overflow (a panic with overflow checks, a wrong answer without).
    #[test]
    fn slack_timestamp_far_from_the_clock_is_stale() {
        let secrets = vec!["s".to_string()];
        assert_eq!(
            verify_slack(
                Some("-8680820740569200761"),
                Some("ken-1Xl"),
                &secrets,
                b"",
                9_189_462_580_836_927_367
            ),
            Err(SignatureError::Stale)
        );
        for (ts, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1),
            (i64::MAX, i64::MIN),
        ] {
            let ts = ts.to_string();
            let sig = slack_sign("s", &ts, b"x");
            assert_eq!(
                verify_slack(Some(&ts), Some(&sig), &secrets, b"x", now),
                Err(SignatureError::Stale)
            );
        }
    }

    /// Each malformed Slack header is named with Slack's own form, not the deploy webhook's.
    #[test]
    fn slack_malformed_headers_name_slack_forms() {
        let secrets = vec!["s".to_string()];
        let now = 1_796_164_600;
        let sig = slack_sign("s", "1796164600", b"x");
        for ts in ["abc", "1796164600.5", ""] {
            let err = verify_slack(Some(ts), Some(&sig), &secrets, b"x", now)
                .expect_err("malformed timestamp")
                .to_string();
            assert_eq!(
                err,
                "malformed X-Slack-Request-Timestamp header: expected whole Unix seconds, e.g. 1531420618"
            );
        }
        let v1 = sig.replacen("v0=", "v1=", 1);
        for bad in [v1.as_str(), "sha256=00", "v0=zz"] {
            let err = verify_slack(Some("1796164600"), Some(bad), &secrets, b"x", now)
                .expect_err("malformed signature")
                .to_string();
            assert_eq!(
                err,
                "malformed X-Slack-Signature header: expected v0=<64 hex digits>"
            );
        }
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"same-secret", b"same-secret"));
        assert!(!constant_time_eq(b"same-secret", b"same-secreT"));
        assert!(!constant_time_eq(b"short", b"short-and-longer"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        let secrets = vec![
            "first-0123456789".to_string(),
            "second-0123456789".to_string(),
        ];
        assert!(matches_any(b"second-0123456789", &secrets));
        assert!(matches_any(b"first-0123456789", &secrets));
        assert!(!matches_any(b"third-0123456789", &secrets));
        assert!(!matches_any(b"", &secrets));
        assert!(!matches_any(b"anything", &[]));
    }

    #[test]
    fn api_token_rules() {
        use base64::Engine as _;
        let tokens = vec!["t0ken-0123456789abcdef".to_string()];
        let basic = |pw: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("anyone:{pw}"))
            )
        };
        assert!(api_token_ok(
            Some(&basic("t0ken-0123456789abcdef")),
            None,
            &tokens
        ));
        assert!(!api_token_ok(
            Some(&basic("t0ken-0123456789abcdeX")),
            None,
            &tokens
        ));
        assert!(api_token_ok(
            None,
            Some("a=1&token=t0ken-0123456789abcdef"),
            &tokens
        ));
        assert!(!api_token_ok(None, Some("token=t0ken"), &tokens));
        assert!(!api_token_ok(None, None, &tokens));
    }

    #[test]
    fn bearer_tokens() {
        let tokens = vec!["t0ken-0123456789abcdef".to_string()];
        assert!(bearer_ok(Some("Bearer t0ken-0123456789abcdef"), &tokens));
        assert!(!bearer_ok(Some("Bearer t0ken-0123456789abcdeF"), &tokens));
        assert!(!bearer_ok(Some("t0ken-0123456789abcdef"), &tokens));
        assert!(!bearer_ok(None, &tokens));
    }
}
