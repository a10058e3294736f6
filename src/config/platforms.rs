//! What the configuration knows of chat platforms: each one's identities (`slack:U…`,
//! `slack-group:S…`), its section and each service's channel on it. The configuration never names
//! a platform: the registry hands the platforms in when it loads a configuration
//! (`crate::registry::load_config`), so adding one touches no file here.

use super::{Config, ServiceConfig};

/// A chat platform as the configuration sees it. `crate::chat::ChatPlatform` implements it.
pub trait ChatRules: Sync {
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
