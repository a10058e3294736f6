//! Discord interaction bodies (`/discord/interactions`): `discord::inbound::parse_interaction`,
//! then what the handler reads without the store: the member (`member_of`, roles as
//! `discord-role:` identities), the named service (`named_service`), the command words
//! (`command_words`) through the shared grammar (`command::parse`), and a button's `custom_id`
//! (`button_of`), checked against the ids `discord::messages::custom_id` makes.
#![no_main]

use canarybot::command::parse;
use canarybot::discord::inbound::{
    button_of, command_words, member_of, named_service, parse_interaction,
};
use canarybot::discord::messages::{PROCEED, ROLLBACK, custom_id};
use canarybot::domain::Choice;
use canarybot::server::hooks::check_deploy_id;
use libfuzzer_sys::fuzz_target;

const SERVICES: &[&str] = &["checkout", "search"];

fn check_button(id: &str) {
    let (choice, deploy) = button_of(id);
    match choice {
        Some(c) => {
            let action = match c {
                Choice::Rollback => ROLLBACK,
                Choice::Promote => PROCEED,
            };
            if deploy.is_empty() {
                assert!(id == action || id == format!("{action}:"));
            } else {
                assert_eq!(id, format!("{action}:{deploy}"));
            }
        }
        None => {
            let action = id.split(':').next().unwrap_or_default();
            assert!(
                action != ROLLBACK && action != PROCEED,
                "{id:?} not understood"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Raw text as a custom_id, and as a deploy id put into one.
    if let Ok(text) = std::str::from_utf8(data) {
        check_button(text);
        if check_deploy_id(text).is_ok() {
            for (action, choice) in [(ROLLBACK, Choice::Rollback), (PROCEED, Choice::Promote)] {
                let id = custom_id(action, text);
                assert!(id.len() <= 100);
                let (c, deploy) = button_of(&id);
                assert_eq!(c, Some(choice));
                assert!(deploy == text || deploy.is_empty(), "{id:?} → {deploy:?}");
            }
        }
    }
    let Ok(v) = parse_interaction(data) else {
        return;
    };
    if let Some(m) = member_of(&v) {
        assert!(m.roles.iter().all(|r| r.starts_with("discord-role:")));
    }
    let data = &v["data"];
    let service = named_service(data);
    let (name, text) = command_words(data);
    if let Some(s) = &service {
        assert!(text.contains(s.as_str()), "{text:?} lacks {s:?}");
    }
    let _ = parse(&name, &text, SERVICES);
    if let Some(id) = data["custom_id"].as_str() {
        check_button(id);
    }
});
