//! The identities (`kind:id`) people and groups are named by in `deciders`, `[[people]]` and
//! votes, checked against every registered chat platform.

use super::platforms;

/// Checks one `deciders` entry: a person (`slack:U…`) or a group (`slack-group:S…`) of a known
/// platform, with an id; the error says what a valid one looks like.
pub fn parse_decider(entry: &str) -> Result<(), String> {
    platforms().parse_decider(entry)
}

/// Checks a voter's identity: a person (`slack:U…`), never a group.
pub fn parse_person(identity: &str) -> Result<(), String> {
    platforms().parse_person(identity)
}

/// Whether an identity's id has the form its platform gives ids (see
/// `config::Platforms::platform_id_problem`).
pub fn platform_id_problem(identity: &str) -> Result<(), String> {
    platforms().platform_id_problem(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from `domain::decision` with the identity checks.
    #[test]
    fn decider_syntax() {
        assert!(parse_decider("slack:U01").is_ok());
        assert!(parse_decider("discord-role:6677").is_ok());
        assert!(
            parse_decider("slak:U01")
                .unwrap_err()
                .contains("unknown kind `slak`")
        );
        assert!(parse_decider("U01").is_err());
        assert!(parse_decider("slack:").is_err());
        assert!(parse_person("slack:U01").is_ok());
        assert!(
            parse_person("slack-group:S01")
                .unwrap_err()
                .contains("is a group")
        );
    }

    #[test]
    fn the_known_kinds_come_from_the_registry() {
        assert!(parse_decider("console:alice").is_ok());
        assert_eq!(
            parse_decider("teams:U01").unwrap_err(),
            "unknown kind `teams` in `teams:U01` (kinds: slack, discord, console, slack-group, discord-role)"
        );
        assert_eq!(
            parse_person("discord-role:6677").unwrap_err(),
            "`discord-role:6677` is a group; a vote comes from one person (slack, discord, console)"
        );
    }

    #[test]
    fn ids_are_checked_by_their_platform() {
        assert!(platform_id_problem("slack:U01ALICE").is_ok());
        assert!(platform_id_problem("slack:W01ALICE").is_ok());
        assert!(
            platform_id_problem("slack:alice")
                .unwrap_err()
                .contains("not a Slack user id")
        );
        assert!(platform_id_problem("slack-group:S01SRE").is_ok());
        assert!(
            platform_id_problem("slack-group:U01")
                .unwrap_err()
                .contains("not a Slack user-group id")
        );
        assert!(platform_id_problem("discord:123456789012345678").is_ok());
        assert!(
            platform_id_problem("discord-role:sre")
                .unwrap_err()
                .contains("Copy Role ID")
        );
        assert!(platform_id_problem("console:anyone at all").is_ok());
    }
}
