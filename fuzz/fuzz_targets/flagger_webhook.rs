//! Flagger webhook bodies (`/hooks/flagger/event`, `/hooks/flagger/gate/{promote,rollback}`):
//! `flagger::hooks::read_payload`, the token check (`metadata.token`, else `?token=`) and the
//! typed parse, then the version a deploy it starts would get (`FlaggerPayload::version`). (canarybot has no Argo-specific hook: Argo Rollouts reaches it through the generic
//! deploy webhook, fuzzed by `deploy_webhook`.)
//!
//! Input: the first line is the `?token=` value (`-` for none), the rest is the body.
#![no_main]

use canarybot::flagger::hooks::read_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"-"[..], data),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let query = (query != "-").then_some(query);
    let tokens = vec![
        "flagger-token-0123456789".to_string(),
        "older-token".to_string(),
    ];
    let answer = read_payload(query, body, &tokens);
    // Without configured tokens nothing gets in.
    assert_eq!(read_payload(query, body, &[]).unwrap_err().status, 401);
    match answer {
        Ok(v) => {
            let given = v.metadata.token.as_deref().or(query).expect("a token");
            assert!(tokens.iter().any(|t| t == given.trim()), "{given:?} let in");
            let version = v.version(1_700_000_000_000);
            assert!(!version.is_empty());
            assert!(
                !version.contains(|c: char| c.is_whitespace()
                    || c.is_control()
                    || matches!(c, '/' | '?' | '#' | '%' | '\\')),
                "version {version:?} cannot stand in a deploy id"
            );
        }
        Err(e) => assert!(e.status == 401 || e.status == 400, "{}", e.status),
    }
});
