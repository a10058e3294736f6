//! The chat command grammar, shared by Slack and Discord: pure text in, a command out.
//!
//! ```text
//! /canary status [service]
//! /canary rollback [service] [reason…]
//! /canary rollback <deploy-id> confirm
//! /canary proceed [service] [reason…]
//! /canary timeline [service|deploy-id]
//! /canary drill <service>
//! /canary drills [service]
//! /canary baseline <service>
//! /canary freeze <service|all> [for 2h] [reason…]
//! /canary unfreeze <service|all>
//! /canary gate approve|reject <review-id>
//! /canary note [service] <text…>
//! /canary help
//! /rollback [service] [reason…]
//! ```
//! A mention in a canary thread (`@canarybot rollback p99 doubled`) takes the `/canary` words.

use crate::domain::Choice;
use crate::domain::freeze::FreezeScope;
use std::time::Duration;

/// The Slack app manifest, with `https://canarybot.example.com` where the public URL goes.
pub const SLACK_MANIFEST: &str = include_str!("../commands/slack-app-manifest.yaml");
pub const MANIFEST_PLACEHOLDER: &str = "https://canarybot.example.com";

/// The manifest pointed at this server.
pub fn slack_manifest(public_url: &str) -> String {
    let url = public_url.trim_end_matches('/');
    SLACK_MANIFEST
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                l.to_string()
            } else {
                l.replace(MANIFEST_PLACEHOLDER, url)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The manifest of a Socket Mode app: `socket_mode_enabled: true` and no request URLs (Slack
/// sends everything over the connection canarybot opens), so no public URL is needed.
pub fn slack_manifest_socket_mode() -> String {
    let body = SLACK_MANIFEST
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .filter(|l| {
            let key = l.trim_start();
            !(key.starts_with("url: ") || key.starts_with("request_url: "))
        })
        .map(|l| l.replace("socket_mode_enabled: false", "socket_mode_enabled: true"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "# canarybot's Slack app in Socket Mode. Paste into https://api.slack.com/apps → Create New App →\n\
         # From a manifest; then Basic Information → App-Level Tokens → Generate, with the scope\n\
         # connections:write, and set [slack] app_token to it (xapp-…).\n{body}\n"
    )
}

/// Discord's application commands (the bulk-overwrite body).
pub const DISCORD_COMMANDS: &str = include_str!("../commands/discord-commands.json");

/// Discord's message context-menu command (application command type 3) that adds the message
/// to its deploy's timeline.
pub const ADD_TO_TIMELINE: &str = "Add to timeline";

/// The slash commands, as registered on each platform.
pub const SLASH_COMMANDS: &[&str] = &["canary", "rollback"];
/// The words after `/canary`.
pub const SUBCOMMANDS: &[&str] = &[
    "status", "rollback", "proceed", "timeline", "drill", "drills", "baseline", "freeze",
    "unfreeze", "gate", "note", "help",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Service(String),
    Deploy(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status {
        service: Option<String>,
    },
    Vote {
        choice: Choice,
        service: Option<String>,
        reason: Option<String>,
    },
    Timeline {
        target: Option<Target>,
    },
    /// Start a rollback drill of a service (deciders only). `service` is `None` when the word
    /// after `drill` names no configured service (then the answer says which exist).
    Drill {
        service: Option<String>,
        given: String,
    },
    /// The drill history of one service or all.
    Drills {
        service: Option<String>,
    },
    /// What normal looks like for a service at this hour, from Prometheus history. `service` is
    /// `None` when the word after `baseline` names no configured service.
    Baseline {
        service: Option<String>,
        given: String,
    },
    /// Freeze a service or all (deciders, freeze admins). `scope` is `Err(word)` when the word
    /// names neither a configured service nor `all` (empty when nothing was named).
    Freeze {
        scope: Result<FreezeScope, String>,
        lasting: Option<Duration>,
        reason: Option<String>,
    },
    Unfreeze {
        scope: Result<FreezeScope, String>,
    },
    /// Release a held GitHub review: approve (`Some(true)`), reject (`Some(false)`); `None`
    /// when the word was neither.
    GateReview {
        approve: Option<bool>,
        review: String,
    },
    /// Confirm the rollback of a deploy that is held because a newer deploy started after it
    /// (deciders only): `/canary rollback <deploy-id> confirm`.
    ConfirmRollback {
        deploy_id: String,
    },
    /// Add a note to a deploy's timeline: what the person says now. `service` when the first
    /// word names one, `text` the words after it, `words` every word after `note` (in a canary
    /// thread the thread is the deploy, and a service's name starts the sentence).
    Note {
        service: Option<String>,
        text: String,
        words: String,
    },
    /// `unknown` is the word that was not understood, if any.
    Help {
        unknown: Option<String>,
    },
}

/// Parses `/command text`; `command` is `canary`, `rollback` (with or without the slash), or empty
/// for a mention. `services` are the configured service names: a first word naming one is the
/// service, anything else is the reason.
pub fn parse(command: &str, text: &str, services: &[&str]) -> Command {
    let command = command.trim().trim_start_matches('/').to_lowercase();
    let text = text.trim();
    match command.as_str() {
        "rollback" => rollback(text, services),
        "canary" | "" => {
            let (word, rest) = split_word(text);
            match word.to_lowercase().as_str() {
                "status" | "" => Command::Status {
                    service: split_service(rest, services).0,
                },
                "rollback" | "roll-back" => rollback(rest, services),
                "proceed" | "promote" => vote(Choice::Promote, rest, services),
                "timeline" => {
                    let (arg, _) = split_word(rest);
                    let target = if arg.is_empty() {
                        None
                    } else if let Some(s) = find_service(arg, services) {
                        Some(Target::Service(s))
                    } else {
                        Some(Target::Deploy(arg.to_string()))
                    };
                    Command::Timeline { target }
                }
                "drill" => {
                    let (arg, _) = split_word(rest);
                    Command::Drill {
                        service: find_service(arg, services),
                        given: arg.to_string(),
                    }
                }
                "drills" => Command::Drills {
                    service: split_service(rest, services).0,
                },
                "baseline" | "normal" => {
                    let (arg, _) = split_word(rest);
                    Command::Baseline {
                        service: find_service(arg, services),
                        given: arg.to_string(),
                    }
                }
                "freeze" => {
                    let (scope, rest) = freeze_scope(rest, services);
                    // `for 2h` when a duration follows; `for the holidays` is a reason.
                    let (lasting, reason) = match split_word(rest) {
                        ("for", after) => {
                            let (d, why) = split_word(after);
                            match humantime::parse_duration(d) {
                                Ok(d) => (Some(d), why),
                                Err(_) => (None, rest),
                            }
                        }
                        _ => (None, rest),
                    };
                    Command::Freeze {
                        scope,
                        lasting,
                        reason: (!reason.is_empty()).then(|| reason.to_string()),
                    }
                }
                "gate" => {
                    let (word, rest) = split_word(rest);
                    Command::GateReview {
                        approve: match word.to_lowercase().as_str() {
                            "approve" | "release" => Some(true),
                            "reject" => Some(false),
                            _ => None,
                        },
                        review: split_word(rest).0.to_string(),
                    }
                }
                "unfreeze" => Command::Unfreeze {
                    scope: freeze_scope(rest, services).0,
                },
                "note" => {
                    let (service, text) = split_service(rest, services);
                    Command::Note {
                        service,
                        text: text.to_string(),
                        words: rest.to_string(),
                    }
                }
                "help" => Command::Help { unknown: None },
                other => Command::Help {
                    unknown: Some(other.to_string()),
                },
            }
        }
        other => Command::Help {
            unknown: Some(format!("/{other}")),
        },
    }
}

/// `<deploy-id> confirm` confirms a held rollback; anything else is a rollback vote.
fn rollback(text: &str, services: &[&str]) -> Command {
    let (first, rest) = split_word(text);
    if !first.is_empty() && rest.eq_ignore_ascii_case("confirm") {
        return Command::ConfirmRollback {
            deploy_id: first.to_string(),
        };
    }
    vote(Choice::Rollback, text, services)
}

fn vote(choice: Choice, text: &str, services: &[&str]) -> Command {
    let (service, reason) = split_service(text, services);
    Command::Vote {
        choice,
        service,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    }
}

/// `all`, or a configured service; else the word given.
fn freeze_scope<'a>(text: &'a str, services: &[&str]) -> (Result<FreezeScope, String>, &'a str) {
    let (word, rest) = split_word(text);
    if word.eq_ignore_ascii_case("all") {
        return (Ok(FreezeScope::All), rest);
    }
    match find_service(word, services) {
        Some(s) => (Ok(FreezeScope::Service(s)), rest),
        None => (Err(word.to_string()), rest),
    }
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    }
}

fn find_service(word: &str, services: &[&str]) -> Option<String> {
    services
        .iter()
        .find(|s| s.eq_ignore_ascii_case(word))
        .map(|s| s.to_string())
}

fn split_service<'a>(text: &'a str, services: &[&str]) -> (Option<String>, &'a str) {
    let (word, rest) = split_word(text);
    match find_service(word, services) {
        Some(s) => (Some(s), rest),
        None => (None, text.trim()),
    }
}

/// The help text every platform shows; `mentions` says whether this platform delivers mentions.
pub fn help_text(unknown: Option<&str>) -> String {
    help_for(unknown, true)
}

pub fn help_for(unknown: Option<&str>, mentions: bool) -> String {
    let mut out = String::new();
    if let Some(u) = unknown {
        out.push_str(&format!("I don't know `{u}`. "));
    }
    out.push_str(
        "canarybot commands:\n\
         • `/canary status [service]`: the live canary-vs-baseline table\n\
         • `/canary rollback [service] [reason…]`: vote to roll back (deciders only)\n\
         • `/canary rollback <deploy-id> confirm`: confirm a rollback held because a newer deploy started after it (deciders only)\n\
         • `/canary proceed [service] [reason…]`: vote to promote (deciders only)\n\
         • `/canary timeline [service|deploy-id]`: phases and the timeline link\n\
         • `/canary drill <service>`: start a rollback drill with a synthetic breach (deciders only)\n\
         • `/canary drills [service]`: drill history: phases, median, best, trend\n\
         • `/canary baseline <service>`: what normal looks like at this hour over the last 7 days (Prometheus history)\n\
         • `/canary freeze <service|all> [for 2h] [reason…]`: no deploys may start (deciders only)\n\
         • `/canary unfreeze <service|all>`: lift that freeze\n\
         • `/canary gate approve|reject <review-id>`: decide a held GitHub deployment review (deciders only)\n\
         • `/canary note [service] <text…>`: add a note to the timeline, for the postmortem\n\
         • `/rollback [service] [reason…]`: same as `/canary rollback`\n",
    );
    if mentions {
        out.push_str("• in a canary thread, mention the bot: `@canarybot rollback p99 doubled`\n");
    }
    out.push_str("Without a service, the active canary of this channel's services is meant.");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[&str] = &["checkout", "search"];

    #[test]
    fn a_deploy_id_then_confirm_confirms_a_held_rollback() {
        let confirm = Command::ConfirmRollback {
            deploy_id: "checkout:production:2.4.1".into(),
        };
        assert_eq!(
            parse("/canary", "rollback checkout:production:2.4.1 confirm", S),
            confirm
        );
        assert_eq!(
            parse("/rollback", "checkout:production:2.4.1 CONFIRM", S),
            confirm
        );
        // More words, or `confirm` alone, stay a vote with a reason.
        assert!(matches!(
            parse("/canary", "rollback checkout confirm it please", S),
            Command::Vote { .. }
        ));
        assert!(matches!(
            parse("/canary", "rollback confirm", S),
            Command::Vote { .. }
        ));
    }

    #[test]
    fn rollback_with_and_without_service() {
        assert_eq!(
            parse("/rollback", "checkout p99 doubled", S),
            Command::Vote {
                choice: Choice::Rollback,
                service: Some("checkout".into()),
                reason: Some("p99 doubled".into())
            }
        );
        assert_eq!(
            parse("/rollback", "p99 doubled", S),
            Command::Vote {
                choice: Choice::Rollback,
                service: None,
                reason: Some("p99 doubled".into())
            }
        );
        assert_eq!(
            parse("/canary", "rollback", S),
            Command::Vote {
                choice: Choice::Rollback,
                service: None,
                reason: None
            }
        );
        assert_eq!(
            parse("canary", "PROCEED Search looks fine", S),
            Command::Vote {
                choice: Choice::Promote,
                service: Some("search".into()),
                reason: Some("looks fine".into())
            }
        );
    }

    #[test]
    fn status_timeline_help() {
        assert_eq!(parse("/canary", "", S), Command::Status { service: None });
        assert_eq!(
            parse("/canary", "status checkout", S),
            Command::Status {
                service: Some("checkout".into())
            }
        );
        assert_eq!(
            parse("/canary", "timeline checkout:production:1.2.3", S),
            Command::Timeline {
                target: Some(Target::Deploy("checkout:production:1.2.3".into()))
            }
        );
        assert_eq!(
            parse("/canary", "timeline search", S),
            Command::Timeline {
                target: Some(Target::Service("search".into()))
            }
        );
        assert_eq!(parse("/canary", "help", S), Command::Help { unknown: None });
        assert_eq!(
            parse("/canary", "dance now", S),
            Command::Help {
                unknown: Some("dance".into())
            }
        );
    }

    #[test]
    fn drill_and_drills() {
        assert_eq!(
            parse("/canary", "drill Checkout", S),
            Command::Drill {
                service: Some("checkout".into()),
                given: "Checkout".into()
            }
        );
        assert_eq!(
            parse("/canary", "drill", S),
            Command::Drill {
                service: None,
                given: "".into()
            }
        );
        assert_eq!(
            parse("/canary", "drill nosuch", S),
            Command::Drill {
                service: None,
                given: "nosuch".into()
            }
        );
        assert_eq!(
            parse("/canary", "drills", S),
            Command::Drills { service: None }
        );
        assert_eq!(
            parse("/canary", "drills search", S),
            Command::Drills {
                service: Some("search".into())
            }
        );
    }

    #[test]
    fn baseline_names_a_service() {
        assert_eq!(
            parse("/canary", "baseline Checkout", S),
            Command::Baseline {
                service: Some("checkout".into()),
                given: "Checkout".into()
            }
        );
        assert_eq!(
            parse("", "baseline", S),
            Command::Baseline {
                service: None,
                given: "".into()
            }
        );
        assert_eq!(
            parse("/canary", "baseline billing now", S),
            Command::Baseline {
                service: None,
                given: "billing".into()
            }
        );
    }

    #[test]
    fn mentions_use_the_canary_words() {
        assert_eq!(
            parse("", "rollback p99 doubled", S),
            Command::Vote {
                choice: Choice::Rollback,
                service: None,
                reason: Some("p99 doubled".into())
            }
        );
    }

    /// The manifest registers exactly the commands the parser knows, each at the commands URL.
    #[test]
    fn slack_manifest_matches_the_grammar() {
        let registered: Vec<&str> = SLACK_MANIFEST
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- command: /"))
            .collect();
        let mut known = SLASH_COMMANDS.to_vec();
        known.sort();
        let mut got = registered.clone();
        got.sort();
        assert_eq!(got, known);
        let urls: Vec<&str> = SLACK_MANIFEST
            .lines()
            .filter_map(|l| l.trim().strip_prefix("url: "))
            .collect();
        assert_eq!(urls.len(), registered.len());
        assert!(
            urls.iter()
                .all(|u| *u == "https://canarybot.example.com/slack/commands")
        );
        for needle in [
            "/slack/interactions",
            "/slack/events",
            "app_mention",
            "chat:write",
            "files:write",
            "commands",
            "usergroups:read",
            "app_mentions:read",
            "reactions:read",
            "channels:history",
            "groups:history",
            "reaction_added",
            "reaction_removed",
        ] {
            assert!(SLACK_MANIFEST.contains(needle), "{needle}");
        }
        for sub in SUBCOMMANDS {
            assert!(SLACK_MANIFEST.contains(sub), "usage hint lacks {sub}");
        }
        let mine = slack_manifest("https://bot.internal/");
        assert!(mine.contains("https://bot.internal/slack/events"));
        assert!(mine.contains("socket_mode_enabled: false"));
        assert!(!mine.contains("canarybot.example.com/slack"));
    }

    /// The Socket Mode manifest: the same app, commands, scopes and events, Socket Mode on, and no
    /// request URL anywhere.
    #[test]
    fn slack_manifest_in_socket_mode_has_no_request_urls() {
        let socket = slack_manifest_socket_mode();
        assert!(socket.contains("socket_mode_enabled: true"), "{socket}");
        assert!(!socket.contains("socket_mode_enabled: false"));
        for gone in ["url:", "request_url:", "https://", "/slack/"] {
            let lines: Vec<&str> = socket
                .lines()
                .filter(|l| !l.starts_with('#') && l.contains(gone))
                .collect();
            assert!(lines.is_empty(), "{gone}: {lines:?}");
        }
        let http = slack_manifest("https://bot.internal");
        let kept = |m: &str| -> Vec<String> {
            m.lines()
                .filter(|l| !l.starts_with('#'))
                .filter(|l| !l.contains("url:") && !l.contains("socket_mode_enabled"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            kept(&socket),
            kept(&http),
            "the rest of the manifest is the same"
        );
        for needle in [
            "- command: /canary",
            "- command: /rollback",
            "app_mention",
            "connections:write",
            "interactivity:\n    is_enabled: true",
            "bot_events:",
        ] {
            assert!(socket.contains(needle), "{needle}: {socket}");
        }
    }

    /// Discord's command definitions name exactly the parser's commands and `/canary` words, and
    /// every option they declare is one the interaction handler reads.
    #[test]
    fn discord_commands_match_the_grammar() {
        let defs: serde_json::Value = serde_json::from_str(DISCORD_COMMANDS).expect("valid JSON");
        let defs = defs.as_array().expect("an array");
        let slash = |d: &&serde_json::Value| d["type"] == 1;
        let mut names: Vec<&str> = defs
            .iter()
            .filter(slash)
            .filter_map(|d| d["name"].as_str())
            .collect();
        names.sort();
        let mut known = SLASH_COMMANDS.to_vec();
        known.sort();
        assert_eq!(names, known);
        // The one message command: no description, no options (Discord refuses them).
        let messages: Vec<&serde_json::Value> = defs.iter().filter(|d| d["type"] == 3).collect();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["name"], ADD_TO_TIMELINE);
        assert!(messages[0].get("description").is_none() && messages[0].get("options").is_none());
        assert_eq!(defs.len(), names.len() + messages.len());
        let canary = defs.iter().find(|d| d["name"] == "canary").expect("canary");
        let mut subs: Vec<&str> = canary["options"]
            .as_array()
            .expect("subcommands")
            .iter()
            .filter(|o| o["type"] == 1)
            .filter_map(|o| o["name"].as_str())
            .collect();
        subs.sort();
        let mut words = SUBCOMMANDS.to_vec();
        words.sort();
        assert_eq!(subs, words);
        for d in defs.iter().filter(slash) {
            assert!(
                d["description"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty() && t.len() <= 100)
            );
            let mut opts: Vec<&serde_json::Value> = Vec::new();
            for o in d["options"].as_array().into_iter().flatten() {
                if o["type"] == 1 {
                    opts.extend(o["options"].as_array().into_iter().flatten());
                } else {
                    opts.push(o);
                }
            }
            for o in opts {
                let name = o["name"].as_str().unwrap_or_default();
                assert!(
                    [
                        "service", "reason", "target", "duration", "decision", "review", "text"
                    ]
                    .contains(&name),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn freeze_and_unfreeze_name_a_service_or_all_a_duration_and_a_reason() {
        assert_eq!(
            parse(
                "/canary",
                "freeze checkout for 2h incident 42 in progress",
                S
            ),
            Command::Freeze {
                scope: Ok(FreezeScope::Service("checkout".into())),
                lasting: Some(Duration::from_secs(7200)),
                reason: Some("incident 42 in progress".into()),
            }
        );
        assert_eq!(
            parse("/canary", "freeze ALL for the holidays", S),
            Command::Freeze {
                scope: Ok(FreezeScope::All),
                lasting: None,
                reason: Some("for the holidays".into()),
            }
        );
        assert_eq!(
            parse("/canary", "freeze billing", S),
            Command::Freeze {
                scope: Err("billing".into()),
                lasting: None,
                reason: None,
            }
        );
        assert_eq!(
            parse("/canary", "unfreeze search", S),
            Command::Unfreeze {
                scope: Ok(FreezeScope::Service("search".into())),
            }
        );
        assert_eq!(
            parse("/canary", "gate approve 1033210877:production", S),
            Command::GateReview {
                approve: Some(true),
                review: "1033210877:production".into(),
            }
        );
        assert_eq!(
            parse("/canary", "gate maybe x", S),
            Command::GateReview {
                approve: None,
                review: "x".into(),
            }
        );
        assert_eq!(
            parse("/canary", "unfreeze", S),
            Command::Unfreeze {
                scope: Err(String::new()),
            }
        );
    }

    #[test]
    fn a_note_names_a_service_or_is_all_text() {
        assert_eq!(
            parse("/canary", "note checkout the payment provider is down", S),
            Command::Note {
                service: Some("checkout".into()),
                text: "the payment provider is down".into(),
                words: "checkout the payment provider is down".into(),
            }
        );
        assert_eq!(
            parse("", "note  it is the provider ", S),
            Command::Note {
                service: None,
                text: "it is the provider".into(),
                words: "it is the provider".into(),
            }
        );
    }

    #[test]
    fn every_subcommand_is_understood_and_in_the_help() {
        for word in SUBCOMMANDS {
            assert!(
                !matches!(
                    parse("/canary", word, S),
                    Command::Help { unknown: Some(_) }
                ),
                "{word}"
            );
            assert!(help_text(None).contains(&format!("/canary {word}")) || *word == "help");
        }
        for c in SLASH_COMMANDS {
            assert!(
                !matches!(parse(c, "", S), Command::Help { unknown: Some(_) }),
                "{c}"
            );
        }
    }
}
