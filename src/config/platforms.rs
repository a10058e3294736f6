//! What the configuration knows of chat platforms: each one's identities (`slack:U…`,
//! `slack-group:S…`), its section and each service's channel on it. The configuration never names
//! a platform: the registry hands the platforms in when it loads a configuration
//! (`crate::registry::load_config`), so adding one touches no file here. Each platform's own keys
//! — its section (`[slack]`), a service's `<name>_channel`, a person's `<name> = "id"` — are taken
//! out of the file by the platform before the rest is read, so every other key is still refused
//! when unknown.

use super::{Config, ServiceConfig};
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A platform's own section, as the platform read it (`crate::slack::SlackConfig`). Its `Debug`
/// is the platform's, secrets redacted.
pub trait ChatSection: Any + fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn Any;
}

/// Reads a platform's section: the deserializer holds one key, the section's name, so that
/// errors quote the file as written (`slack.bot_tokn: unknown field`).
pub type ParseSection =
    fn(toml::de::Deserializer<'_>) -> Result<Arc<dyn ChatSection>, toml::de::Error>;

/// The chat platforms' sections of one configuration, by section name.
#[derive(Clone, Default)]
pub struct ChatSections(BTreeMap<&'static str, Arc<dyn ChatSection>>);

impl ChatSections {
    pub(super) fn insert(&mut self, name: &'static str, section: Arc<dyn ChatSection>) {
        self.0.insert(name, section);
    }

    /// The section `name` as its platform's type, if the file has it.
    pub fn get<T: 'static>(&self, name: &str) -> Option<&T> {
        self.0.get(name)?.as_any().downcast_ref::<T>()
    }
}

impl fmt::Debug for ChatSections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

/// A chat platform as the configuration sees it. `crate::chat::ChatPlatform` implements it.
pub trait ChatRules: Sync {
    /// The platform's name: a service's channel on it is `<name>_channel`.
    fn name(&self) -> &'static str;
    /// Reads the platform's section (named [`Self::config_section`]).
    fn parse_section(&self) -> Option<ParseSection>;
    /// A person is `<person_prefix>:<id>` (`slack:U01ALICE`).
    fn person_prefix(&self) -> &'static str;
    /// A group every member of which may decide is `<group_prefix>:<id>` (`slack-group:S01SRE`).
    fn group_prefix(&self) -> Option<&'static str>;
    /// Whether `id` has the form the platform gives user ids; the error names the form expected.
    fn check_person_id(&self, identity: &str, id: &str) -> Result<(), String>;
    /// The same for group ids.
    fn check_group_id(&self, identity: &str, id: &str) -> Result<(), String>;
    /// The section that turns the platform on (`[slack]`), if it needs one.
    fn config_section(&self) -> Option<&'static str>;
    /// Problems with the platform's section, keyed `<section>.<key>: …`.
    fn section_problems(&self, config: &Config) -> Vec<String>;
    /// Problems with a service's channel on the platform, keyed `<key>.<field>: …`.
    fn channel_problems(&self, config: &Config, key: &str, service: &ServiceConfig) -> Vec<String>;
}

/// The chat platforms a configuration is checked against.
#[derive(Clone, Copy)]
pub struct Platforms<'a>(pub &'a [&'a dyn ChatRules]);

impl<'a> Platforms<'a> {
    fn by_person(&self, prefix: &str) -> Option<&'a dyn ChatRules> {
        self.0.iter().copied().find(|p| p.person_prefix() == prefix)
    }

    fn by_group(&self, prefix: &str) -> Option<&'a dyn ChatRules> {
        self.0
            .iter()
            .copied()
            .find(|p| p.group_prefix() == Some(prefix))
    }

    /// Every identity kind: the person prefixes, then the group prefixes.
    fn kinds(&self) -> String {
        let persons = self.0.iter().map(|p| p.person_prefix());
        let groups = self.0.iter().filter_map(|p| p.group_prefix());
        persons.chain(groups).collect::<Vec<_>>().join(", ")
    }

    fn person_kinds(&self) -> String {
        self.0
            .iter()
            .map(|p| p.person_prefix())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The sections that turn a platform on.
    pub fn sections(&self) -> Vec<&'static str> {
        self.0.iter().filter_map(|p| p.config_section()).collect()
    }

    /// Checks one `deciders` entry: a person (`slack:U…`) or a group (`slack-group:S…`) of a
    /// known platform, with an id; the error says what a valid one looks like.
    pub fn parse_decider(&self, entry: &str) -> Result<(), String> {
        let Some((kind, id)) = entry.split_once(':') else {
            return Err(format!(
                "`{entry}` is not `kind:id` (kinds: {})",
                self.kinds()
            ));
        };
        if self.by_person(kind).is_none() && self.by_group(kind).is_none() {
            return Err(format!(
                "unknown kind `{kind}` in `{entry}` (kinds: {})",
                self.kinds()
            ));
        }
        if id.trim().is_empty() || id.chars().any(char::is_whitespace) {
            return Err(format!("`{entry}` has an empty or spaced id"));
        }
        Ok(())
    }

    /// Checks a voter's identity: a person (`slack:U…`), never a group.
    pub fn parse_person(&self, identity: &str) -> Result<(), String> {
        self.parse_decider(identity)?;
        match identity.split_once(':') {
            Some((kind, _)) if self.by_person(kind).is_some() => Ok(()),
            _ => Err(format!(
                "`{identity}` is a group; a vote comes from one person ({})",
                self.person_kinds()
            )),
        }
    }

    /// Whether an identity's id has the form its platform gives ids, so that it can ever match
    /// someone (Slack user ids `U…`/`W…`, Discord snowflakes, …): names, @handles and `name#1234`
    /// tags never match anyone. Identities of unknown kinds are [`Self::parse_decider`]'s to
    /// refuse.
    pub fn platform_id_problem(&self, identity: &str) -> Result<(), String> {
        let (kind, id) = identity.split_once(':').unwrap_or(("", identity));
        if let Some(p) = self.by_person(kind) {
            return p.check_person_id(identity, id);
        }
        if let Some(p) = self.by_group(kind) {
            return p.check_group_id(identity, id);
        }
        Ok(())
    }
}

/// The platforms' keys, taken out of a file before the rest is read.
#[derive(Default)]
pub(super) struct Taken {
    pub sections: ChatSections,
    /// Per `[[service]]`, in file order: platform name → channel.
    pub channels: Vec<BTreeMap<String, String>>,
    /// Per `[[people]]`, in file order: (person prefix, id), in the platforms' order.
    pub ids: Vec<Vec<(String, String)>>,
}

/// Takes each platform's keys out of `root`; `fail` turns a section's parse error into the
/// configuration's error (quoting the file, secrets masked).
pub(super) fn take_platform_keys(
    root: &mut toml::Spanned<toml::de::DeTable<'_>>,
    chat: Platforms,
    fail: &dyn Fn(toml::de::Error) -> super::ConfigError,
) -> Result<Taken, super::ConfigError> {
    use toml::de::{DeTable, DeValue};
    let mut taken = Taken::default();
    let mut problems = Vec::new();
    let table = root.get_mut();
    for p in chat.0 {
        let (Some(name), Some(parse)) = (p.config_section(), p.parse_section()) else {
            continue;
        };
        let Some((key, value)) = table.remove_entry(name) else {
            continue;
        };
        let span = value.span();
        let mut one = DeTable::new();
        one.insert(key, value);
        let section =
            parse(toml::de::Deserializer::from(toml::Spanned::new(span, one))).map_err(fail)?;
        taken.sections.insert(name, section);
    }
    // A string, or a problem naming the key.
    let text_of =
        |v: &toml::Spanned<DeValue<'_>>, key: &str, problems: &mut Vec<String>| match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                problems.push(format!("{key}: must be a string, not {}", other.type_str()));
                None
            }
        };
    if let Some(DeValue::Array(items)) = table.get_mut("service").map(|v| v.get_mut()) {
        for (i, item) in items.iter_mut().enumerate() {
            let mut channels = BTreeMap::new();
            if let DeValue::Table(t) = item.get_mut() {
                let label = match t.get("name").map(|v| v.get_ref()) {
                    Some(DeValue::String(n)) => n.to_string(),
                    _ => i.to_string(),
                };
                for p in chat.0 {
                    let key = format!("{}_channel", p.name());
                    if let Some(v) = t.remove(key.as_str()) {
                        let path = format!("service[{label}].{key}");
                        if let Some(c) = text_of(&v, &path, &mut problems) {
                            channels.insert(p.name().to_string(), c);
                        }
                    }
                }
            }
            taken.channels.push(channels);
        }
    }
    if let Some(DeValue::Array(items)) = table.get_mut("people").map(|v| v.get_mut()) {
        for (i, item) in items.iter_mut().enumerate() {
            let mut ids = Vec::new();
            if let DeValue::Table(t) = item.get_mut() {
                for p in chat.0 {
                    let prefix = p.person_prefix();
                    if let Some(v) = t.remove(prefix) {
                        let path = format!("people[{i}].{prefix}");
                        if let Some(id) = text_of(&v, &path, &mut problems) {
                            ids.push((prefix.to_string(), id));
                        }
                    }
                }
            }
            taken.ids.push(ids);
        }
    }
    if problems.is_empty() {
        Ok(taken)
    } else {
        Err(super::ConfigError::Invalid(problems))
    }
}
