//! `POST /hooks/alertmanager` bodies: `metrics::alertmanager::parse_notification` (JSON and the
//! webhook version check).
#![no_main]

use canarybot::metrics::alertmanager::parse_notification;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(n) = parse_notification(data) else {
        return;
    };
    assert!(n.version.as_deref().is_none_or(|v| v == "4"));
});
