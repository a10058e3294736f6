//! The chat command grammar shared by Slack and Discord: `command::parse(command, text, services)`.
//!
//! Input: UTF-8 text; the first line is the command name (`canary`, `/rollback`, empty for a
//! mention, or anything else), the rest is the text typed after it.
#![no_main]

use canarybot::command::{Command, Target, help_for, parse};
use canarybot::domain::freeze::FreezeScope;
use libfuzzer_sys::fuzz_target;

/// Configured service names, including ones whose case folding is not ASCII.
const SERVICES: &[&str] = &["checkout", "search", "Straße", "kelvin-K", "İstanbul", "a"];

fn check_service(service: &Option<String>) {
    if let Some(s) = service {
        assert!(SERVICES.contains(&s.as_str()), "invented service {s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (command, text) = input.split_once('\n').unwrap_or((input, ""));
    let parsed = parse(command, text, SERVICES);
    // Deterministic, and independent of surrounding whitespace.
    assert_eq!(parsed, parse(command, text, SERVICES));
    assert_eq!(
        parsed,
        parse(&format!(" {command} "), &format!("\t{text} \n"), SERVICES)
    );
    match &parsed {
        Command::Status { service } | Command::Drills { service } => check_service(service),
        Command::Vote {
            service, reason, ..
        } => {
            check_service(service);
            if let Some(r) = reason {
                assert!(!r.is_empty(), "empty reason kept");
                assert_eq!(r.trim(), r, "reason not trimmed");
            }
        }
        Command::Timeline { target } => {
            if let Some(Target::Service(s)) = target {
                assert!(SERVICES.contains(&s.as_str()));
            }
            if let Some(Target::Deploy(d)) = target {
                assert!(!d.is_empty() && !d.contains(char::is_whitespace), "{d:?}");
            }
        }
        Command::Drill { service, given } | Command::Baseline { service, given } => {
            check_service(service);
            assert!(!given.contains(char::is_whitespace));
            if let Some(s) = service {
                assert!(s.eq_ignore_ascii_case(given));
            }
        }
        Command::Help { unknown } => {
            let help = help_for(unknown.as_deref(), true);
            assert!(help.contains("/canary status"));
        }
        Command::Freeze { scope, reason, .. } => {
            check_scope(scope);
            if let Some(r) = reason {
                assert!(!r.is_empty() && r.trim() == r, "{r:?}");
            }
        }
        Command::Unfreeze { scope } => check_scope(scope),
        Command::GateReview { review, .. } => {
            assert!(!review.contains(char::is_whitespace), "{review:?}")
        }
        Command::Note {
            service,
            text,
            words,
        } => {
            check_service(service);
            assert_eq!(text.trim(), text, "note not trimmed");
            assert_eq!(words.trim(), words, "note not trimmed");
            assert!(words.ends_with(text.as_str()), "{words:?} {text:?}");
        }
        Command::ConfirmRollback { deploy_id } => {
            assert!(!deploy_id.is_empty() && !deploy_id.contains(char::is_whitespace))
        }
    }
    // A mention reads the same words as `/canary`.
    let t = text.trim();
    assert_eq!(parse("", t, SERVICES), parse("canary", t, SERVICES));
    // Without configured services, nothing is taken for a service.
    match parse(command, text, &[]) {
        Command::Status { service }
        | Command::Drills { service }
        | Command::Vote { service, .. }
        | Command::Drill { service, .. }
        | Command::Baseline { service, .. }
        | Command::Note { service, .. } => assert!(service.is_none()),
        Command::Timeline { target } => {
            assert!(!matches!(target, Some(Target::Service(_))))
        }
        Command::Freeze { scope, .. } | Command::Unfreeze { scope } => {
            assert!(!matches!(scope, Ok(FreezeScope::Service(_))))
        }
        Command::Help { .. } | Command::GateReview { .. } | Command::ConfirmRollback { .. } => {}
    }
});

/// A scope is `all` or a configured service; anything else is the word given, whole.
fn check_scope(scope: &Result<FreezeScope, String>) {
    match scope {
        Ok(FreezeScope::Service(s)) => assert!(SERVICES.contains(&s.as_str())),
        Ok(FreezeScope::All) => {}
        Err(word) => assert!(!word.contains(char::is_whitespace), "{word:?}"),
    }
}
