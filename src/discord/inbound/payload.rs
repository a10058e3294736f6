//! The interactions Discord posts to canarybot, read through serenity's models where they accept
//! what Discord (and the interactions canarybot accepts today) send. Where a model of serenity
//! requires fields canarybot never reads and accepts an interaction without, the part is ours;
//! each such place says which field.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serenity::model::application::{
    CommandOptionType, ComponentInteractionData, InteractionType, ModalInteractionData,
};
use serenity::model::channel::PartialChannel;
use serenity::model::guild::PartialMember;
use serenity::model::id::{ChannelId, MessageId};
use serenity::model::user::User;

/// An interaction. serenity's `Interaction` (`CommandInteraction`, `ComponentInteraction`)
/// requires `application_id`, `token`, `version`, `locale`, `entitlements`,
/// `attachment_size_limit` and, on a press, the whole `message`, none of which canarybot reads
/// and which it accepts an interaction without; and its `id` must be a snowflake, where canarybot
/// takes any `id` as the key that de-duplicates deliveries. So the envelope is ours; the kind,
/// member, user, channel and a press's data are serenity's.
#[derive(Debug, Deserialize)]
pub struct Interaction {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<InteractionType>,
    #[serde(default)]
    pub member: Option<PartialMember>,
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[serde(default)]
    pub channel: Option<PartialChannel>,
    #[serde(default)]
    pub message: Option<MessageRef>,
    /// Read by the kind: `command()` or `component()`.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
}

/// The message a button is on. serenity's `Message` requires its author, content, timestamps
/// and more; canarybot reads only the `id`.
#[derive(Debug, Deserialize)]
pub struct MessageRef {
    pub id: MessageId,
}

/// An application command's data. serenity's `CommandData` requires the command's `id` and
/// `type`, which canarybot never reads and accepts a command without, and its
/// `CommandDataOption` requires `options` on a sub-command, which Discord leaves out when the
/// sub-command has none (`/canary status`): both are ours, with serenity's `CommandOptionType`.
#[derive(Debug, Default, Deserialize)]
pub struct CommandData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub options: Vec<CommandOption>,
}

#[derive(Debug, Deserialize)]
pub struct CommandOption {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CommandOptionType,
    #[serde(default)]
    pub value: Option<OptionValue>,
    #[serde(default)]
    pub options: Vec<CommandOption>,
}

/// An option's value: text is read, numbers and booleans are not.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Text(String),
    Other(IgnoredAny),
}

impl CommandOption {
    fn text(&self) -> Option<&str> {
        match self.value.as_ref()? {
            OptionValue::Text(t) => Some(t),
            OptionValue::Other(_) => None,
        }
    }
}

impl CommandData {
    /// The sub-command's name, if one was given, and the options that apply.
    fn sub_command(&self) -> (Option<&str>, &[CommandOption]) {
        match self.options.first() {
            Some(sub) if sub.kind == CommandOptionType::SubCommand => {
                (Some(sub.name.as_str()), &sub.options)
            }
            _ => (None, &self.options),
        }
    }

    fn option(&self, name: &str) -> Option<&str> {
        let (_, options) = self.sub_command();
        options.iter().find(|o| o.name == name)?.text()
    }

    /// The `service` option, wherever it sits.
    pub fn named_service(&self) -> Option<String> {
        self.option("service").map(str::to_string)
    }

    /// The command's name and its words, as the shared grammar reads them.
    pub fn words(&self) -> (String, String) {
        let (sub, _) = self.sub_command();
        let mut words: Vec<String> = sub.into_iter().map(str::to_string).collect();
        words.extend(
            ["service", "target", "decision", "review"]
                .into_iter()
                .filter_map(|key| self.option(key).map(str::to_string)),
        );
        // `/canary note text:… service:checkout` reads as `note checkout …`.
        words.extend(self.option("text").map(str::to_string));
        // `/canary freeze target:checkout duration:2h` reads as `freeze checkout for 2h`.
        if let Some(d) = self.option("duration") {
            words.push(format!("for {d}"));
        }
        words.extend(self.option("reason").map(str::to_string));
        (self.name.clone(), words.join(" "))
    }
}

/// Who pressed or typed, with their roles as `discord-role:…` identities.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
}

impl Interaction {
    /// The person: the guild member's user, else the user (in a DM); named by their nickname,
    /// else their display name, else their username.
    pub fn member(&self) -> Option<Member> {
        let member = self.member.as_ref();
        let user = member
            .and_then(|m| m.user.as_ref())
            .or(self.user.as_ref())?;
        let name = member
            .and_then(|m| m.nick.clone())
            .or_else(|| user.global_name.clone())
            .unwrap_or_else(|| user.name.clone());
        let roles = member.map_or_else(Vec::new, |m| {
            m.roles
                .iter()
                .map(|r| format!("discord-role:{r}"))
                .collect()
        });
        Some(Member {
            id: user.id.to_string(),
            name,
            roles,
        })
    }

    /// The channel it came from: `channel_id`, else `channel.id`; empty when neither is given.
    pub fn channel_id(&self) -> String {
        self.channel_id
            .or(self.channel.as_ref().map(|c| c.id))
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// An application command's data; absent data reads as an unnamed command.
    pub fn command(&self) -> Result<CommandData, String> {
        self.data.as_ref().map_or(Ok(CommandData::default()), |d| {
            serde_json::from_str(d.get()).map_err(|e| format!("malformed interaction: data: {e}"))
        })
    }

    /// A button press's data (serenity's `ComponentInteractionData`).
    pub fn component(&self) -> Result<ComponentInteractionData, String> {
        let data = self
            .data
            .as_ref()
            .ok_or("malformed interaction: a button press without data")?;
        serde_json::from_str(data.get()).map_err(|e| format!("malformed interaction: data: {e}"))
    }
}

impl Interaction {
    /// A modal submission's data (serenity's `ModalInteractionData`).
    pub fn modal(&self) -> Result<ModalInteractionData, String> {
        let data = self
            .data
            .as_ref()
            .ok_or("malformed interaction: a modal submission without data")?;
        serde_json::from_str(data.get()).map_err(|e| format!("malformed interaction: data: {e}"))
    }
}

/// Parses an interaction body.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, String> {
    serde_json::from_slice(body).map_err(|e| format!("malformed interaction: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value) -> Interaction {
        parse_interaction(v.to_string().as_bytes()).expect("an interaction")
    }

    /// A slash command as the black-box tests send it (no `options` on a bare sub-command, no
    /// command id): the words and the named service read as before.
    #[test]
    fn command_words_and_service() {
        let i = read(json!({"id": "c-1", "type": 2, "channel_id": "1111",
            "member": {"user": {"id": "4455", "username": "alice"}, "roles": ["6677"]},
            "data": {"name": "canary", "type": 1, "options": [{"type": 1, "name": "rollback", "options": [
                {"type": 3, "name": "service", "value": "checkout"},
                {"type": 3, "name": "reason", "value": "p99 doubled"},
                {"type": 4, "name": "minutes", "value": 5}]}]}}));
        assert_eq!(i.kind, Some(InteractionType::Command));
        let data = i.command().expect("data");
        assert_eq!(
            data.words(),
            ("canary".into(), "rollback checkout p99 doubled".into())
        );
        assert_eq!(data.named_service().as_deref(), Some("checkout"));
        let m = i.member().expect("a member");
        assert_eq!(
            (m.id.as_str(), m.name.as_str(), m.roles),
            ("4455", "alice", vec!["discord-role:6677".to_string()])
        );
        assert_eq!(i.channel_id(), "1111");

        let bare = read(json!({"id": "s-1", "type": 2, "channel_id": "1111",
            "data": {"name": "canary", "type": 1, "options": [{"type": 1, "name": "status"}]}}));
        let data = bare.command().expect("data");
        assert_eq!(data.words(), ("canary".into(), "status".into()));
        assert_eq!(data.named_service(), None);
        assert!(bare.member().is_none(), "nobody");
        let flat = read(json!({"type": 2, "data": {"name": "rollback", "options": [
            {"type": 3, "name": "reason", "value": "slow"}, {"type": 3, "name": "service", "value": "search"}]}}));
        assert_eq!(
            flat.command().expect("data").words(),
            ("rollback".into(), "search slow".into())
        );
    }

    /// A press: serenity's component data; the member is named by nickname, display name, then
    /// username; a DM's `user` stands in for a member.
    #[test]
    fn presses_and_people() {
        let i = read(
            json!({"id": "i-1", "type": 3, "channel": {"id": "2222", "type": 11},
            "member": {"user": {"id": "9999", "username": "mallory", "global_name": "Mal"}, "nick": "M", "roles": []},
            "message": {"id": "1"}, "data": {"custom_id": "canary_rollback:checkout:production:1", "component_type": 2}}),
        );
        assert_eq!(i.kind, Some(InteractionType::Component));
        assert_eq!(
            i.component().expect("data").custom_id,
            "canary_rollback:checkout:production:1"
        );
        assert_eq!(i.message.as_ref().map(|m| m.id.get()), Some(1));
        assert_eq!(i.channel_id(), "2222");
        assert_eq!(i.member().expect("member").name, "M");
        let dm = read(
            json!({"type": 3, "user": {"id": "9999", "username": "mallory", "global_name": "Mal"}}),
        );
        let m = dm.member().expect("the user");
        assert_eq!((m.name.as_str(), m.roles.len()), ("Mal", 0));
        assert_eq!(dm.channel_id(), "");
        let e = dm.component().expect_err("no data");
        assert!(e.starts_with("malformed interaction"), "{e}");
        let e = parse_interaction(b"[").expect_err("not JSON");
        assert!(e.starts_with("malformed interaction: "), "{e}");
    }
}
