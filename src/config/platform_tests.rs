//! Chat platforms bring their own keys: the configuration names none of them.

use super::tests::{GOOD, env};
use super::*;

/// A chat platform the configuration has never heard of: everything it knows of platforms comes
/// from the platforms handed in.
struct Teams;

#[derive(Debug)]
struct TeamsSection {
    tenant: String,
}

impl ChatSection for TeamsSection {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn parse_teams(
    section: toml::de::Deserializer<'_>,
) -> Result<std::sync::Arc<dyn ChatSection>, toml::de::Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        tenant: String,
    }
    #[derive(serde::Deserialize)]
    struct Section {
        teams: Raw,
    }
    let raw = Section::deserialize(section)?.teams;
    Ok(std::sync::Arc::new(TeamsSection { tenant: raw.tenant }))
}

impl ChatRules for Teams {
    fn name(&self) -> &'static str {
        "teams"
    }
    fn parse_section(&self) -> Option<ParseSection> {
        Some(parse_teams)
    }
    fn person_prefix(&self) -> &'static str {
        "teams"
    }
    fn group_prefix(&self) -> Option<&'static str> {
        None
    }
    fn check_person_id(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn check_group_id(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn config_section(&self) -> Option<&'static str> {
        Some("teams")
    }
    fn section_problems(&self, _: &Config) -> Vec<String> {
        Vec::new()
    }
    fn channel_problems(&self, _: &Config, _: &str, _: &ServiceConfig) -> Vec<String> {
        Vec::new()
    }
}

#[test]
fn a_platform_brings_its_own_section_channel_and_person_keys() {
    let text = GOOD
        .replace(
            "deciders = [\"slack:U01ALICE\", \"slack-group:S01SRE\"]",
            "deciders = [\"teams:alice\"]\nteams_channel = \"19:abc@thread\"",
        )
        .replace(
            "[database]",
            "[teams]\ntenant = \"contoso\"\n\n[[people]]\nname = \"alice\"\nteams = \"alice\"\n\n[database]",
        );
    let teams: &dyn ChatRules = &Teams;
    let c = Config::from_toml(&text, &env, Platforms(&[teams])).expect("valid with Teams");
    let section = c.chat.get::<TeamsSection>("teams").expect("the section");
    assert_eq!(section.tenant, "contoso");
    let s = c.service("checkout").expect("service");
    assert_eq!(s.channel("teams"), Some("19:abc@thread"));
    assert_eq!(c.people[0].identities(), ["teams:alice"]);
    assert!(format!("{c:?}").contains("contoso"));

    // Without the platform, none of its keys is known: each is refused by name.
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("no Teams")
        .to_string();
    assert!(e.contains("unknown field `teams"), "{e}");
    // The platform's own section errors quote the file.
    let bad = text.replace("tenant = \"contoso\"", "tenant = \"contoso\"\ntennant = 1");
    let e = Config::from_toml(&bad, &env, Platforms(&[teams]))
        .expect_err("typo")
        .to_string();
    assert!(e.contains("unknown field `tennant`"), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn platform_keys_of_the_wrong_type_or_platform_are_named() {
    let text = GOOD.replace(
        "canary_window = \"15m\"",
        "slack_channel = 42\ncanary_window = \"15m\"",
    );
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("not a string")
        .to_string();
    assert!(
        e.contains("service[checkout].slack_channel: must be a string, not integer"),
        "{e}"
    );
    let text = GOOD.replace(
        "canary_window = \"15m\"",
        "slak_channel = \"C01\"\ncanary_window = \"15m\"",
    );
    let e = crate::registry::config_from_toml(&text, &env)
        .expect_err("no such platform")
        .to_string();
    assert!(e.contains("unknown field `slak_channel`"), "{e}");
}
