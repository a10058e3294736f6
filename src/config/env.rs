//! `${VAR}` from the environment, substituted into the parsed string values, never into the TOML
//! text: a secret with `"`, `\` or a newline reaches the code exactly as it is, and comments are
//! never looked at.

use super::ConfigError;
use std::borrow::Cow;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Replaces every `${VAR}` in one string value with `lookup(VAR)`, inserted as it is; `$${`
/// escapes a literal `${`. `Err` names the variables that are not set.
pub fn substitute_env(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    substitute(value, lookup, &mut Vec::new()).map_err(ConfigError::Env)
}

/// [`substitute_env`], recording each variable used with its value (so that errors can show
/// `${VAR}` instead of a secret).
fn substitute(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut Vec<(String, String)>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut missing = Vec::new();
    let mut rest = value;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err("`${` without a closing `}` (write `$${` for a literal `${`)".into());
        };
        let name = &after[..end];
        match lookup(name) {
            Some(v) => {
                out.push_str(&v);
                used.push((name.to_string(), v));
            }
            None => missing.push(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing.join("; "))
    }
}

/// Substitutes `${VAR}` in every string value of a parsed document, keeping each value's place
/// in the text (so that parse errors quote the `${VAR}` as written). Returns the variables used
/// with their values; `Err` lists every problem as `key.path (line n): …`.
pub(super) fn substitute_document(
    text: &str,
    root: &mut Spanned<DeTable<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut walk = Walk {
        text,
        lookup,
        used: Vec::new(),
        problems: Vec::new(),
    };
    walk.table("", root.get_mut());
    if walk.problems.is_empty() {
        Ok(walk.used)
    } else {
        Err(ConfigError::Env(walk.problems.join("\n")))
    }
}

struct Walk<'a> {
    text: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    used: Vec<(String, String)>,
    problems: Vec<String>,
}

impl Walk<'_> {
    fn table(&mut self, path: &str, table: &mut DeTable<'_>) {
        for (key, value) in table.iter_mut() {
            let key = key.get_ref().as_ref();
            let path = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            self.value(&path, value);
        }
    }

    fn value(&mut self, path: &str, value: &mut Spanned<DeValue<'_>>) {
        let span = value.span();
        match value.get_mut() {
            DeValue::String(s) if s.contains("${") => {
                match substitute(s, self.lookup, &mut self.used) {
                    Ok(v) => *s = Cow::Owned(v),
                    Err(e) => {
                        let line = self.text[..span.start.min(self.text.len())]
                            .matches('\n')
                            .count()
                            + 1;
                        self.problems.push(format!("{path} (line {line}): {e}"));
                    }
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let path = format!("{path}[{}]", element_name(path, item, i));
                    self.value(&path, item);
                }
            }
            DeValue::Table(t) => self.table(path, t),
            _ => {}
        }
    }
}

/// How an array element is named in key paths: services by their name, as the problems name
/// them (`service[checkout]`), everything else by its index.
fn element_name(path: &str, item: &Spanned<DeValue<'_>>, i: usize) -> String {
    if path == "service"
        && let Some(name) = item
            .get_ref()
            .get("name")
            .and_then(|n| n.get_ref().as_str())
            .filter(|n| !n.is_empty())
    {
        return name.to_string();
    }
    i.to_string()
}
