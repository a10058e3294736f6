//! The one place that lists what canarybot talks to: chat platforms, deploy sources and metric
//! sources (executors are one per kind under `src/rollback/<kind>.rs`, built by
//! `rollback::build`). Every other list — routes, `/metrics` labels, identity kinds, config
//! sections, thread links — is derived from these.
//!
//! Adding a chat platform: a folder `src/<name>/` whose `platform.rs` exports a
//! [`ChatPlatform`], and one line in [`CHAT_PLATFORMS`]. Adding a deploy or metric source: its
//! folder with its routes, exporting one [`HookSource`] (`github::SOURCE`), and one line in
//! `DEPLOY_SOURCES` or `METRIC_SOURCES`.

pub mod chat;
pub mod hooks;

pub use chat::{parse_decider, parse_person, platform_id_problem};
pub use hooks::{DEPLOY_SOURCES, METRIC_SOURCES};

use crate::chat::ChatPlatform;
use crate::config::{ChatRules, Config, ConfigError, Platforms};
use crate::http::Surface;
use std::path::Path;
use std::sync::LazyLock;

/// Every chat platform, in the order the postmortem lists their threads.
pub static CHAT_PLATFORMS: &[&ChatPlatform] = &[
    &crate::slack::PLATFORM,
    &crate::discord::PLATFORM,
    &crate::chat::console::PLATFORM,
];

/// The chat platforms as the configuration checks them.
static CHAT_RULES: LazyLock<Vec<&'static dyn ChatRules>> = LazyLock::new(|| {
    CHAT_PLATFORMS
        .iter()
        .map(|p| *p as &'static dyn ChatRules)
        .collect()
});

/// Every chat platform, as the configuration checks its identities, sections and channels.
pub fn platforms() -> Platforms<'static> {
    Platforms(&CHAT_RULES)
}

/// Reads a configuration file and checks it against every chat platform.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    Config::load(path, platforms())
}

/// Parses and checks a configuration against every chat platform; `${VAR}` comes from `lookup`.
pub fn config_from_toml(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    Config::from_toml(text, lookup, platforms())
}

/// The chat platforms the configuration turns on.
pub fn configured_chat(config: &Config) -> impl Iterator<Item = &'static ChatPlatform> + '_ {
    CHAT_PLATFORMS
        .iter()
        .copied()
        .filter(|p| (p.configured)(config))
}

/// The outbox targets chat effects go to with this configuration: the configured platforms', or
/// the stand-ins' when none is.
pub fn chat_targets(config: &Config) -> Vec<String> {
    let configured: Vec<String> = configured_chat(config).map(|p| p.target()).collect();
    if !configured.is_empty() {
        return configured;
    }
    CHAT_PLATFORMS
        .iter()
        .filter(|p| p.stand_in.is_some())
        .map(|p| p.target())
        .collect()
}

/// Every inbound surface the registry knows, in `/metrics` order: deploy sources, metric sources,
/// then chat platforms (`server::surfaces` adds the server's own).
pub fn surfaces() -> impl Iterator<Item = Surface> {
    let sources = DEPLOY_SOURCES
        .iter()
        .chain(METRIC_SOURCES)
        .map(|s| s.surface);
    let chat = CHAT_PLATFORMS.iter().filter_map(|p| p.surface);
    sources.chain(chat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Counters, OTHER_SURFACE, PathMatch};
    use std::collections::HashSet;

    fn unique<'a>(what: &str, names: impl IntoIterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for n in names {
            assert!(seen.insert(n), "{what} `{n}` appears twice in the registry");
        }
    }

    #[test]
    fn names_prefixes_sections_and_routes_are_unique() {
        unique("platform name", CHAT_PLATFORMS.iter().map(|p| p.name));
        unique(
            "identity prefix",
            CHAT_PLATFORMS
                .iter()
                .map(|p| p.person_prefix)
                .chain(CHAT_PLATFORMS.iter().filter_map(|p| p.group_prefix)),
        );
        unique(
            "config section",
            CHAT_PLATFORMS.iter().filter_map(|p| p.config_section),
        );
        unique(
            "source name",
            DEPLOY_SOURCES.iter().chain(METRIC_SOURCES).map(|s| s.name),
        );
        unique(
            "surface label",
            crate::server::surfaces()
                .map(|s| s.label)
                .chain(std::iter::once(OTHER_SURFACE)),
        );
        let paths: Vec<&str> = crate::server::surfaces()
            .flat_map(|s| s.paths.iter())
            .map(|p| match p {
                PathMatch::Exact(p) | PathMatch::Prefix(p) => *p,
            })
            .collect();
        unique("route path", paths.iter().copied());
        // No surface's paths may be claimed by another one's prefix.
        for s in crate::server::surfaces() {
            for p in s.paths {
                let path = match p {
                    PathMatch::Exact(p) | PathMatch::Prefix(p) => *p,
                };
                let claimed: Vec<&str> = crate::server::surfaces()
                    .filter(|o| o.paths.iter().any(|m| m.matches(path)))
                    .map(|o| o.label)
                    .collect();
                assert_eq!(claimed, vec![s.label], "`{path}` is claimed by {claimed:?}");
            }
        }
    }

    #[test]
    fn each_surface_counts_its_own_paths() {
        let counters = Counters::new(crate::server::surfaces());
        for (path, label) in [
            ("/hooks/deploy", "deploy"),
            ("/hooks/metrics", "metrics"),
            ("/hooks/github", "github"),
            ("/hooks/flagger/rollback", "flagger"),
            ("/hooks/alertmanager", "alertmanager"),
            ("/slack/commands", "slack"),
            ("/discord/interactions", "discord"),
            ("/api/deploys", "api"),
            ("/deploys", "pages"),
            ("/deploys/d-1", "pages"),
            ("/deploysx", "other"),
            ("/nowhere", "other"),
        ] {
            assert_eq!(counters.surface_of(path), label, "{path}");
        }
        let labels: Vec<&str> = counters.refused().map(|(l, _)| l).collect();
        assert_eq!(
            labels,
            [
                "deploy",
                "github",
                "flagger",
                "metrics",
                "alertmanager",
                "slack",
                "discord",
                "api",
                "pages",
                "other"
            ]
        );
    }

    #[test]
    fn every_person_prefix_is_a_platform_a_chat_port_reports() {
        // Votes are keyed by identity and threads by platform name: the two must agree.
        for p in CHAT_PLATFORMS {
            assert_eq!(p.person_prefix, p.name);
            if let Some(section) = p.config_section {
                assert_eq!(section, p.name, "{}'s section", p.name);
            }
        }
        let console = (crate::chat::console::PLATFORM
            .stand_in
            .expect("console stands in"))();
        assert_eq!(console.platform(), crate::chat::console::PLATFORM.name);
    }
}
