//! Every size and time limit of the HTTP surface, in one place: the defaults of the `[server]`
//! keys, and the longest value each inbound field may carry. A request over a limit is refused
//! before it changes anything, with an error naming the limit (docs/src/hardening.md).

use std::time::Duration;

/// `server.max_body`: largest request body (413 above it).
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// `server.max_header_bytes`: request line plus headers (431 above it).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// `server.header_timeout`: from the connection being ready for a request to the end of its
/// headers; also how long an idle keep-alive connection is kept. The connection is closed.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.body_timeout`: from the end of the headers to the end of the body (408).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.request_timeout`: the handler's own time, body read excluded (503).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bounds of the configurable sizes, so that a typo cannot switch a limit off.
pub const MIN_MAX_BODY: usize = 1024;
pub const MAX_MAX_BODY: usize = 64 * 1024 * 1024;
pub const MIN_MAX_HEADER_BYTES: usize = 1024;
pub const MAX_MAX_HEADER_BYTES: usize = 1024 * 1024;

/// The largest message a held-open chat connection (Slack's Socket Mode, the Discord Gateway)
/// accepts: `server.max_body`, but never under the default, since a Gateway READY lists every
/// guild the bot is in. A larger message closes the connection, which is then opened again.
pub fn websocket(max_body: usize) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let limit = max_body.max(DEFAULT_MAX_BODY);
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// Request target (path and query) (414 above it).
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Header lines per request (431 above it).
pub const MAX_HEADERS: usize = 100;

/// Unicode format characters (general category Cf, Unicode 15): invisible, and some reorder the
/// text around them (U+202E right-to-left override), so a thread title could lie.
pub fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// Control (Cc) and format (Cf) characters: never wanted in a name people read.
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || is_format_char(c)
}

// Field limits, in characters (Unicode scalar values).

/// A service name (also checked in the configuration).
pub const SERVICE: usize = 64;
/// A deploy environment (Kubernetes namespaces are at most 63).
pub const ENVIRONMENT: usize = 64;
/// A version (Docker tags are at most 128).
pub const VERSION: usize = 128;
/// A deploy id, given or made as `service:environment:version`.
pub const DEPLOY_ID: usize = 200;
/// A commit id (SHA-256 hex is 64).
pub const SHA: usize = 64;
/// Who deployed or who voted, as sent.
pub const ACTOR: usize = 256;
/// A free-text description of a deploy or event.
pub const DESCRIPTION: usize = 2000;
/// A link.
pub const URL: usize = 2048;
/// A criterion name, in a deploy's extra criteria or a metric sample.
pub const CRITERION: usize = 100;
/// A PromQL template of an extra criterion.
pub const QUERY: usize = 4000;
/// A display unit.
pub const UNIT: usize = 32;
/// Why a pushed sample has no value.
pub const NO_DATA_REASON: usize = 500;
/// Extra criteria in one deploy webhook.
pub const CRITERIA_PER_DEPLOY: usize = 50;
/// Samples in one metric push (one per criterion is the usual).
pub const SAMPLES_PER_PUSH: usize = 200;
/// A vote's reason (`/rollback <reason>`, the votes API).
pub const REASON: usize = 500;
/// A platform identity such as `slack:U01ALICE`, or a display name.
pub const IDENTITY: usize = 128;
/// Groups a votes-API caller vouches for.
pub const GROUPS: usize = 100;
/// The text of a chat command (Slack slash-command text, Discord options).
pub const COMMAND_TEXT: usize = 1000;
/// A note's text taken from a chat message (a pinned message): a longer one is cut, and says so.
pub const NOTE_TEXT: usize = 4000;

/// `text` cut to [`NOTE_TEXT`] characters, saying so when it was.
pub fn note_text(text: &str) -> String {
    if text.chars().count() <= NOTE_TEXT {
        return text.to_string();
    }
    format!(
        "{}… (cut)",
        text.chars().take(NOTE_TEXT).collect::<String>()
    )
}
/// A query-string value of the API and the pages (`service`, `state`, `drills`).
pub const QUERY_PARAM: usize = 128;
/// A Kubernetes name or namespace (Flagger).
pub const K8S_NAME: usize = 253;
/// A status word (Flagger phase, Alertmanager status).
pub const STATUS: usize = 64;
/// Alerts in one Alertmanager notification.
pub const ALERTS_PER_NOTIFICATION: usize = 1000;
/// An Alertmanager label value that canarybot reads (`alertname`, service, environment).
pub const LABEL: usize = 256;
/// An Alertmanager annotation value (it goes into the timeline).
pub const ANNOTATION: usize = 4000;
/// A git ref (GitHub deployments).
pub const GIT_REF: usize = 255;

/// Collects every over-long field of one request; `into_result` names them all.
#[derive(Debug, Default)]
pub struct FieldCheck {
    problems: Vec<String>,
}

impl FieldCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// `value` must be at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        let n = value.chars().count();
        if n > max {
            self.problems.push(format!(
                "{field}: {n} characters is over the limit of {max}"
            ));
        }
        self
    }

    pub fn opt(&mut self, field: &str, value: Option<&str>, max: usize) -> &mut Self {
        if let Some(v) = value {
            self.text(field, v, max);
        }
        self
    }

    /// A list must hold at most `max` items.
    pub fn count(&mut self, field: &str, n: usize, max: usize) -> &mut Self {
        if n > max {
            self.problems
                .push(format!("{field}: {n} items is over the limit of {max}"));
        }
        self
    }

    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Err("a: … ; b: …")` naming every field over its limit.
    pub fn into_result(self) -> Result<(), String> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems.join("; "))
        }
    }
}

/// `1048576`, `1MiB`, `512KiB`, `64kB`, `1 MB`: a size in bytes. `k`/`M` are powers of ten,
/// `Ki`/`Mi` powers of two; the `B` may be left out.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. 1MiB, 512KiB or 1048576"))?;
    let mult: usize = match unit.trim().trim_end_matches(['B', 'b']) {
        "" => 1,
        "k" | "K" => 1000,
        "Ki" | "KI" | "ki" => 1024,
        "M" | "m" => 1000 * 1000,
        "Mi" | "MI" | "mi" => 1024 * 1024,
        "G" | "g" => 1000 * 1000 * 1000,
        "Gi" | "GI" | "gi" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}B`; write e.g. 1MiB, 512KiB or 1048576"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `1048576` → `1 MiB`, `16384` → `16 KiB`, `1000` → `1000 bytes`: for error messages.
pub fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// A part of a deploy id made from what another system sent (a GitHub environment, a Flagger
/// revision): every character a deploy id cannot hold becomes `-`, so links to it work.
pub fn id_part(text: &str) -> String {
    text.chars()
        .map(|c| if unfit_for_id(c) { '-' } else { c })
        .collect()
}

pub fn unfit_for_id(c: char) -> bool {
    c.is_whitespace() || is_unprintable(c) || matches!(c, '/' | '?' | '#' | '%' | '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_bytes("1MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("1 MiB"), Ok(1_048_576));
        assert_eq!(parse_bytes("512KiB"), Ok(524_288));
        assert_eq!(parse_bytes("64kB"), Ok(64_000));
        assert_eq!(parse_bytes("2M"), Ok(2_000_000));
        assert_eq!(parse_bytes("1_000"), Ok(1000));
        assert!(
            parse_bytes("1 parsec")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_bytes("lots").unwrap_err().contains("not a size"));
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(DEFAULT_MAX_BODY), "1 MiB");
        assert_eq!(human_bytes(DEFAULT_MAX_HEADER_BYTES), "16 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }

    #[test]
    fn field_checks_name_every_field_and_limit() {
        let mut c = FieldCheck::new();
        c.text("service", "checkout", SERVICE)
            .text("version", &"9".repeat(VERSION + 1), VERSION)
            .opt("sha", None, SHA)
            .opt("actor", Some(&"é".repeat(ACTOR)), ACTOR)
            .count("samples", SAMPLES_PER_PUSH + 5, SAMPLES_PER_PUSH);
        let err = c.into_result().unwrap_err();
        assert_eq!(
            err,
            "version: 129 characters is over the limit of 128; samples: 205 items is over the limit of 200"
        );
        // Characters, not bytes: 256 two-byte characters are within ACTOR.
        assert!(FieldCheck::new().text("a", "ok", 2).is_ok());
    }
}
