//! Serde glue for the units people write: durations (`30s`, `15m`) and sizes (`1MiB`).

/// Serde glue for `30s` / `15m` / `1h` durations.
pub(crate) mod humantime_serde {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    /// A bare number is read too, only to say that it needs a unit.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Integer(i64),
        Float(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = match Raw::deserialize(d)? {
            Raw::Integer(n) => n.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Text(s) => s,
        };
        if !s.is_empty() && s.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(serde::de::Error::custom(format!(
                "`{s}` has no unit; write e.g. 15m (or 30s, 1h, 500ms)"
            )));
        }
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration ({e}); write e.g. 30s, 15m, 1h"
            ))
        })
    }
}

/// Serde glue for sizes: an integer (bytes) or a string such as `1MiB`.
pub(super) mod bytes_serde {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        match Size::deserialize(d)? {
            Size::Bytes(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            Size::Text(t) => crate::limits::parse_bytes(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// Serde glue for an escalation step: a duration (`5m`), or `"off"` for no such step.
pub(super) mod step_serde {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Other(toml::Value),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) if s.trim() == "off" => Ok(None),
            Raw::Text(s) => super::humantime_serde::deserialize(
                serde::de::value::StrDeserializer::<D::Error>::new(&s),
            )
            .map(Some),
            Raw::Other(v) => Err(serde::de::Error::custom(format!(
                "`{v}` is not a duration; write e.g. 5m, or \"off\" for no such step"
            ))),
        }
    }
}
