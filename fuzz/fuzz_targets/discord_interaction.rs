//! Discord interaction bodies (`/discord/interactions`): `discord::inbound::parse_interaction`
//! (typed, with serenity's models for its parts), then what the handler reads without the store:
//! the member (`Interaction::member`, roles as `discord-role:` identities), the channel, the
//! command's data (`Interaction::command`: `named_service`, `words` through the shared grammar,
//! `command::parse`), and a press's data (`Interaction::component`, its `custom_id` through
//! `button_of`), checked against the ids `discord::messages::custom_id` makes.
#![no_main]

use canarybot::chat::ballot::Ballot;
use canarybot::command::parse;
use canarybot::discord::inbound::{button_of, parse_interaction};
use canarybot::discord::messages::{CONFIRM_ROLLBACK, PROCEED, ROLLBACK, custom_id};
use canarybot::domain::Choice;
use canarybot::webhooks::check_deploy_id;
use libfuzzer_sys::fuzz_target;

const SERVICES: &[&str] = &["checkout", "search"];

fn check_button(id: &str) {
    let (choice, deploy) = button_of(id);
    match choice {
        Some(c) => {
            let action = match c {
                Ballot::Vote {
                    choice: Choice::Rollback,
                    ..
                } => ROLLBACK,
                Ballot::Vote {
                    choice: Choice::Promote,
                    ..
                } => PROCEED,
                Ballot::ConfirmRollback => CONFIRM_ROLLBACK,
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
                action != ROLLBACK && action != PROCEED && action != CONFIRM_ROLLBACK,
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
                assert_eq!(
                    c,
                    Some(Ballot::Vote {
                        choice,
                        reason: None
                    })
                );
                assert!(deploy == text || deploy.is_empty(), "{id:?} → {deploy:?}");
            }
        }
    }
    let Ok(interaction) = parse_interaction(data) else {
        return;
    };
    if let Some(m) = interaction.member() {
        assert!(m.roles.iter().all(|r| r.starts_with("discord-role:")));
    }
    let _ = interaction.channel_id();
    if let Ok(command) = interaction.command() {
        let service = command.named_service();
        let (name, text) = command.words();
        if let Some(s) = &service {
            assert!(text.contains(s.as_str()), "{text:?} lacks {s:?}");
        }
        let _ = parse(&name, &text, SERVICES);
    }
    if let Ok(press) = interaction.component() {
        check_button(&press.custom_id);
    }
});
