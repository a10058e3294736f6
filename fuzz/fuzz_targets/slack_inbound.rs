//! Slack's inbound bodies, each given to all three parsers of `slack::inbound`:
//! - slash commands: `parse_slash_command` (form body), then `command::parse` of its command
//!   and text, as `/slack/commands` does;
//! - interactions: `parse_interaction` (`payload=` form field holding JSON), and the fields the
//!   button handler reads;
//! - Events API: `parse_event`, and for `app_mention` `strip_mentions` then `command::parse`.
#![no_main]

use canarybot::command::parse;
use canarybot::slack::inbound::{
    parse_event, parse_interaction, parse_slash_command, strip_mentions,
};
use libfuzzer_sys::fuzz_target;

const SERVICES: &[&str] = &["checkout", "search"];

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = parse_slash_command(data) {
        let _ = parse(&form.command, &form.text, SERVICES);
        let _ = form.user_name.unwrap_or(form.user_id);
    }
    if let Ok(payload) = parse_interaction(data) {
        for action in payload["actions"].as_array().into_iter().flatten() {
            let _ = (action["action_id"].as_str(), action["value"].as_str());
        }
    }
    if let Ok(v) = parse_event(data) {
        let event = &v["event"];
        if let Some(text) = event["text"].as_str() {
            let stripped = strip_mentions(text);
            assert!(
                !stripped
                    .split_whitespace()
                    .any(|w| w.starts_with("<@") && w.ends_with('>')),
                "{stripped:?} still mentions"
            );
            assert_eq!(strip_mentions(&stripped), stripped);
            let _ = parse("", &stripped, SERVICES);
        }
    }
});
