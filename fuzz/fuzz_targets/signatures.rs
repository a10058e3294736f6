//! Request authentication (`canarybot::auth` and the Discord verifier), with arbitrary headers,
//! bodies, secrets, tokens, timestamps and clocks. Besides not panicking:
//! - `verify` (webhook `sha256=` HMAC): `sign()` under any configured secret verifies; a flipped
//!   body byte or signature digit never does; no secret configured, nothing verifies;
//! - `verify_slack` (`v0=` over `v0:ts:body`): a correct signature verifies exactly when the
//!   timestamp is within the 5-minute window of the clock, a flipped byte never does;
//! - `bearer_ok` / `api_token_ok`: each configured token gets in by Bearer, Basic (as password)
//!   and `?token=`, a flipped one does not, and an accepted header names a configured token;
//! - `discord::inbound::verifier` / `check_request` (Ed25519 over `ts + body`): a real signature
//!   verifies exactly within the window, a flipped byte never does.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use canarybot::auth::{
    SignatureError, api_token_ok, bearer_ok, sign, slack_sign, verify, verify_slack,
};
use canarybot::discord::inbound::{check_request, verifier};
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;

const H: &str = "X-Canarybot-Signature";
const WINDOW: i64 = 300;

#[derive(Arbitrary, Debug)]
struct Case {
    secrets: Vec<String>,
    pick: u8,
    body: Vec<u8>,
    flip: u16,
    header: String,
    timestamp: Ts,
    now_s: i64,
    delta: i16,
    tokens: Vec<String>,
    authorization: String,
    query: String,
    user: String,
    seed: [u8; 32],
    public_key_hex: String,
}

/// A timestamp header: any text, or a number (any i64, or near the clock) written out.
#[derive(Arbitrary, Debug)]
enum Ts {
    Text(String),
    Number(i64),
    NearNow(i32),
}

impl Ts {
    fn text(&self, now_s: i64) -> String {
        match self {
            Ts::Text(t) => t.clone(),
            Ts::Number(n) => n.to_string(),
            Ts::NearNow(d) => now_s.wrapping_add(*d as i64).to_string(),
        }
    }
}

fn flipped(bytes: &[u8], at: u16) -> Option<Vec<u8>> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = bytes.to_vec();
    let i = at as usize % out.len();
    out[i] ^= 1 << (at % 8);
    Some(out)
}

/// The signature with one hex digit changed to another hex digit.
fn flip_hex(sig: &str, prefix: &str, at: u16) -> String {
    let digits = &sig[prefix.len()..];
    let i = at as usize % digits.len();
    let mut d: Vec<u8> = digits.bytes().collect();
    d[i] = if d[i] == b'0' { b'1' } else { b'0' };
    format!("{prefix}{}", String::from_utf8(d).expect("hex"))
}

fn webhook(c: &Case) {
    // Arbitrary headers: no panic, and a success names one of the secrets.
    let got = verify(H, Some(&c.header), &c.secrets, &c.body);
    if got.is_ok() {
        assert!(
            c.secrets
                .iter()
                .any(|s| sign(s, &c.body).eq_ignore_ascii_case(c.header.trim()))
        );
    }
    assert_eq!(
        verify(H, None, &c.secrets, &c.body),
        Err(SignatureError::Missing(H))
    );
    if c.secrets.is_empty() {
        assert!(got.is_err());
        return;
    }
    let secret = &c.secrets[c.pick as usize % c.secrets.len()];
    let sig = sign(secret, &c.body);
    assert_eq!(verify(H, Some(&sig), &c.secrets, &c.body), Ok(()));
    assert_eq!(
        verify(H, Some(&format!(" {sig}\t")), &c.secrets, &c.body),
        Ok(())
    );
    assert_eq!(
        verify(
            H,
            Some(&sig.to_uppercase().replace("SHA256=", "sha256=")),
            &c.secrets,
            &c.body
        ),
        Ok(())
    );
    assert_eq!(
        verify(
            H,
            Some(&flip_hex(&sig, "sha256=", c.flip)),
            &c.secrets,
            &c.body
        ),
        Err(SignatureError::Mismatch)
    );
    if let Some(other) = flipped(&c.body, c.flip) {
        assert_eq!(
            verify(H, Some(&sig), &c.secrets, &other),
            Err(SignatureError::Mismatch)
        );
    }
    assert!(verify(H, Some(&sig[..sig.len() - 2]), &c.secrets, &c.body).is_err());
}

fn slack(c: &Case) {
    // Arbitrary timestamp, signature and clock: no panic, and a success is a fresh, correct one.
    let timestamp = c.timestamp.text(c.now_s);
    if verify_slack(
        Some(&timestamp),
        Some(&c.header),
        &c.secrets,
        &c.body,
        c.now_s,
    )
    .is_ok()
    {
        let ts: i64 = timestamp.trim().parse().expect("a number");
        assert!(ts.abs_diff(c.now_s) <= WINDOW as u64);
        assert!(c.secrets.iter().any(|s| {
            slack_sign(s, timestamp.trim(), &c.body).eq_ignore_ascii_case(c.header.trim())
        }));
    }
    if c.secrets.is_empty() {
        return;
    }
    let secret = &c.secrets[c.pick as usize % c.secrets.len()];
    // A correct signature over an arbitrary timestamp: verifies exactly when it is a number
    // within the window.
    let sig = slack_sign(secret, timestamp.trim(), &c.body);
    let fresh = timestamp
        .trim()
        .parse::<i64>()
        .is_ok_and(|ts| ts.abs_diff(c.now_s) <= WINDOW as u64);
    assert_eq!(
        verify_slack(Some(&timestamp), Some(&sig), &c.secrets, &c.body, c.now_s).is_ok(),
        fresh
    );
    let Some(ts) = c.now_s.checked_add(c.delta as i64) else {
        return;
    };
    let ts = ts.to_string();
    let sig = slack_sign(secret, &ts, &c.body);
    let fresh = (c.delta as i64).abs() <= WINDOW;
    let got = verify_slack(Some(&ts), Some(&sig), &c.secrets, &c.body, c.now_s);
    if fresh {
        assert_eq!(got, Ok(()));
        assert_eq!(
            verify_slack(
                Some(&ts),
                Some(&flip_hex(&sig, "v0=", c.flip)),
                &c.secrets,
                &c.body,
                c.now_s
            ),
            Err(SignatureError::Mismatch)
        );
        if let Some(other) = flipped(&c.body, c.flip) {
            assert_eq!(
                verify_slack(Some(&ts), Some(&sig), &c.secrets, &other, c.now_s),
                Err(SignatureError::Mismatch)
            );
        }
    } else {
        assert_eq!(got, Err(SignatureError::Stale));
    }
}

fn tokens(c: &Case) {
    let auth = Some(c.authorization.as_str());
    let query = Some(c.query.as_str());
    assert!(!bearer_ok(auth, &[]));
    assert!(!api_token_ok(auth, query, &[]));
    if bearer_ok(auth, &c.tokens) {
        let given = c.authorization.strip_prefix("Bearer ").expect("Bearer");
        assert!(c.tokens.iter().any(|t| t == given.trim()));
    }
    let _ = api_token_ok(auth, query, &c.tokens);
    let _ = api_token_ok(None, query, &c.tokens);
    let b64 = base64::engine::general_purpose::STANDARD;
    for t in &c.tokens {
        if t.is_empty() || t.trim() != t {
            continue;
        }
        assert!(bearer_ok(Some(&format!("Bearer {t}")), &c.tokens));
        assert!(api_token_ok(Some(&format!("Bearer {t}")), None, &c.tokens));
        let user = c.user.replace(':', "");
        let basic = format!("Basic {}", b64.encode(format!("{user}:{t}")));
        assert!(api_token_ok(Some(&basic), None, &c.tokens), "{basic}");
        let q = serde_urlencoded::to_string([("token", t.as_str())]).expect("form");
        assert!(api_token_ok(None, Some(&q), &c.tokens), "{q}");
        if let Some(other) = flipped(t.as_bytes(), c.flip) {
            if let Ok(other) = String::from_utf8(other) {
                if !c.tokens.iter().any(|k| k.as_str() == other.trim()) {
                    assert!(!bearer_ok(Some(&format!("Bearer {other}")), &c.tokens));
                }
            }
        }
    }
}

fn discord(c: &Case) {
    let _ = verifier(&c.public_key_hex);
    let key = SigningKey::from_bytes(&c.seed);
    let v = verifier(&hex::encode(key.verifying_key().as_bytes())).expect("a real public key");
    // Arbitrary headers: no panic.
    let timestamp = c.timestamp.text(c.now_s);
    let _ = check_request(&v, Some(&c.header), Some(&timestamp), &c.body, c.now_s);
    let _ = check_request(&v, None, Some(&timestamp), &c.body, c.now_s);
    // A correct signature over an arbitrary timestamp: verifies only within the window.
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(&c.body);
    let sig = hex::encode(key.sign(&message).to_bytes());
    if check_request(&v, Some(&sig), Some(&timestamp), &c.body, c.now_s).is_ok() {
        let ts: i64 = timestamp.trim().parse().expect("a number");
        assert!(ts.abs_diff(c.now_s) <= WINDOW as u64);
    }
    let Some(ts) = c.now_s.checked_add(c.delta as i64) else {
        return;
    };
    let ts = ts.to_string();
    let mut message = ts.as_bytes().to_vec();
    message.extend_from_slice(&c.body);
    let sig = hex::encode(key.sign(&message).to_bytes());
    let got = check_request(&v, Some(&sig), Some(&ts), &c.body, c.now_s);
    if (c.delta as i64).abs() <= WINDOW {
        assert_eq!(got, Ok(()));
        if let Some(other) = flipped(&c.body, c.flip) {
            assert!(check_request(&v, Some(&sig), Some(&ts), &other, c.now_s).is_err());
        }
        assert!(
            check_request(
                &v,
                Some(&flip_hex(&sig, "", c.flip)),
                Some(&ts),
                &c.body,
                c.now_s
            )
            .is_err()
        );
    } else {
        assert!(got.is_err());
    }
}

fuzz_target!(|c: Case| {
    webhook(&c);
    slack(&c);
    tokens(&c);
    discord(&c);
});
