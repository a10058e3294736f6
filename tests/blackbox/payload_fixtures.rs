//! Every example payload of Slack, Discord and GitHub is read by the typed models canarybot
//! reads requests with: the project's copies in `tests/fixtures/`, and the shared set in
//! `../shared/fixtures/` beside the repository when it is there. A fixture no model is named for
//! here fails the test, so a new one is not silently left unread.

use canarybot::discord::inbound::parse_interaction as discord_interaction;
use canarybot::github::payload::{GithubEvent, parse_payload};
use canarybot::slack::inbound::{
    Event, Interaction, SlashCommand, parse_event, parse_interaction as slack_interaction,
};
use serenity::model::application::InteractionType;
use slack_morphism::prelude::{SlackEventCallbackBody, SlackInteractionEvent};
use std::path::{Path, PathBuf};

const PLATFORMS: [&str; 3] = ["slack", "discord", "github"];

/// The fixture folders of one platform: the project's, and the shared one if present.
fn folders(platform: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/fixtures").join(platform);
    let mut folders = vec![root.join("tests/fixtures").join(platform)];
    if shared.is_dir() {
        folders.push(shared);
    } else {
        println!(
            "SKIPPED the shared {platform} fixtures: {} is absent",
            shared.display()
        );
    }
    folders
}

fn json_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Reads one fixture with the model for its kind (the file name up to its first dot); the error
/// says what did not read.
fn read(platform: &str, name: &str, body: &[u8]) -> Result<(), String> {
    let kind = name.split('.').next().unwrap_or_default();
    match (platform, kind) {
        ("slack", "events") => slack_event(body),
        ("slack", "interactions") => slack_interaction_payload(body),
        ("slack", "socket_mode") => slack_socket_mode(body),
        ("discord", "interaction") => discord(body),
        ("github", event) => github(event, body),
        _ => Err(format!(
            "no typed model is named for {platform} fixtures `{kind}.*`: add one in {}",
            file!()
        )),
    }
}

fn slack_event(body: &[u8]) -> Result<(), String> {
    match parse_event(body)? {
        Event::EventCallback(callback) => match callback.event {
            Some(SlackEventCallbackBody::Unknown(v)) => {
                Err(format!("slack-morphism does not model this event: {v}"))
            }
            Some(_) if callback.event_id.is_some() => Ok(()),
            other => Err(format!(
                "an event callback without event id or event: {other:?}"
            )),
        },
        other => Err(format!("not an event callback: {other:?}")),
    }
}

/// An interaction as Slack posts it over HTTP (the JSON in a form's `payload` field): canarybot's
/// reading, and slack-morphism's whole model.
fn slack_interaction_payload(body: &[u8]) -> Result<(), String> {
    let json = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let form = serde_urlencoded::to_string([("payload", json)]).map_err(|e| e.to_string())?;
    match slack_interaction(form.as_bytes())? {
        Interaction::BlockActions(press) if press.user_id().is_empty() => {
            Err("a press without a user".into())
        }
        Interaction::ViewSubmission(sub)
            if sub.user_id().is_empty()
                || sub.view.private_metadata.is_none()
                || sub
                    .value(
                        canarybot::slack::modal::BLOCK_ID,
                        canarybot::slack::modal::ACTION_ID,
                    )
                    .is_none() =>
        {
            Err(format!(
                "a submission without user, metadata or reason: {sub:?}"
            ))
        }
        _ => serde_json::from_str::<SlackInteractionEvent>(json)
            .map(drop)
            .map_err(|e| format!("slack-morphism's SlackInteractionEvent: {e}")),
    }
}

/// A Socket Mode message: the slash command in a `slash_commands` envelope reads as canarybot's
/// slash command. (slack-morphism's `SlackSocketModeEvent` cannot be named from outside it: its
/// `models` module is private and the public `socket_mode` is its client. canarybot has no
/// Socket Mode yet; `hello` and `disconnect` need only be JSON with a `type`.)
fn slack_socket_mode(body: &[u8]) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        payload: Option<serde_json::Value>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match (envelope.kind.as_str(), envelope.payload) {
        ("slash_commands", Some(payload)) => {
            let command: SlashCommand =
                serde_json::from_value(payload).map_err(|e| e.to_string())?;
            if command.user_id.0.is_empty() || command.command.0.is_empty() {
                return Err(format!(
                    "a slash command without user or command: {command:?}"
                ));
            }
            Ok(())
        }
        ("hello" | "disconnect", _) => Ok(()),
        (other, _) => Err(format!("Socket Mode message `{other}`")),
    }
}

fn discord(body: &[u8]) -> Result<(), String> {
    let interaction = discord_interaction(body)?;
    let member = interaction.member().ok_or("no member")?;
    if member.id.is_empty() || member.roles.iter().any(|r| !r.starts_with("discord-role:")) {
        return Err(format!("member {member:?}"));
    }
    if interaction.channel_id().is_empty() {
        return Err("no channel".into());
    }
    match interaction.kind {
        Some(InteractionType::Command) => interaction.command().map(drop),
        Some(InteractionType::Component) => interaction.component().map(drop),
        Some(InteractionType::Ping | InteractionType::Modal | InteractionType::Autocomplete) => {
            Ok(())
        }
        other => Err(format!("interaction type {other:?}")),
    }?;
    // serenity's whole model reads Discord's real payloads too (the tests' trimmed ones it
    // does not; see discord::inbound::payload).
    serde_json::from_slice::<serenity::model::application::Interaction>(body)
        .map(drop)
        .map_err(|e| format!("serenity's Interaction: {e}"))
}

fn github(event: &str, body: &[u8]) -> Result<(), String> {
    let version = match parse_payload(event, body).map_err(|e| e.message)? {
        GithubEvent::Deployment(e) => e.deployment.version(),
        GithubEvent::DeploymentStatus(e) => {
            if e.deployment_status.state.is_empty() {
                return Err("a status without a state".into());
            }
            e.deployment.version()
        }
        GithubEvent::ProtectionRule(e) => {
            let (Some(_), Some(_), Some(_), Some(d)) = (
                e.environment.as_ref(),
                e.deployment_callback_url.as_ref(),
                e.installation.as_ref(),
                e.deployment.as_ref(),
            ) else {
                return Err(
                    "a protection rule without environment, callback, installation or deployment"
                        .into(),
                );
            };
            d.deployment.version()
        }
        GithubEvent::Ping(_) => return Ok(()),
        // Not read by canarybot (yet): that it is JSON is all that is asked.
        GithubEvent::Other(_) => return Ok(()),
    };
    if version.is_empty() {
        return Err("a deployment without a version".into());
    }
    Ok(())
}

#[test]
fn every_fixture_reads_with_the_typed_models() {
    let mut read_ok = 0;
    let mut problems = Vec::new();
    for platform in PLATFORMS {
        for folder in folders(platform) {
            for file in json_files(&folder) {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_default();
                let body = std::fs::read(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
                match read(platform, &name, &body) {
                    Ok(()) => read_ok += 1,
                    Err(e) => problems.push(format!("{}: {e}", file.display())),
                }
            }
        }
    }
    println!("{read_ok} fixtures read with the typed models");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        read_ok >= 11,
        "the project's own fixtures are read ({read_ok})"
    );
}
