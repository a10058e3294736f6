//! Slack's inbound bodies, each given to all three parsers of `slack::inbound`:
//! - slash commands: `parse_slash_command` (form body), then `command::parse` of its command
//!   and text, as `/slack/commands` does;
//! - interactions: `parse_interaction` (`payload=` form field holding JSON, typed), and what the
//!   button handler reads (`BlockActions::user_id`, `user_name`, `channel_id`, the actions);
//! - Events API: `parse_event` (typed), and for an `app_mention` `strip_mentions` then
//!   `command::parse`.
#![no_main]

use canarybot::command::parse;
use canarybot::slack::inbound::{
    Event, Interaction, parse_event, parse_interaction, parse_slash_command, strip_mentions,
};
use libfuzzer_sys::fuzz_target;

const SERVICES: &[&str] = &["checkout", "search"];

fuzz_target!(|data: &[u8]| {
    if let Ok(form) = parse_slash_command(data) {
        let _ = parse(&form.command.0, &form.text, SERVICES);
        let _ = form.user_name.unwrap_or(form.user_id.0);
    }
    if let Ok(Interaction::BlockActions(press)) = parse_interaction(data) {
        let _ = (press.user_id(), press.user_name(), press.channel_id());
        for action in &press.actions {
            let _ = (action.action_id.0.as_str(), action.value.as_deref());
        }
    }
    if let Ok(Event::EventCallback(callback)) = parse_event(data)
        && let Some(mention) = callback.into_mention()
        && let Some(text) = mention.content.text.as_deref()
    {
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
});
