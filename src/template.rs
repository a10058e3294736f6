//! `{{ name }}` templates of the configuration: criterion queries and links, workflow inputs. One
//! filler for all of them, and the names each kind of template knows, so that a misspelled
//! placeholder is refused when the configuration is read instead of silently never matching.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// `{{name}}`, spaces allowed inside the braces. Anything between the braces is captured (not only
/// well-formed names) so that `{{ trak }}` or `{{ track-name }}` is reported, not left in place.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{[ \t]*([^{}]*?)[ \t]*\}\}").expect("the placeholder pattern is valid")
});

/// What a criterion's PromQL `query` may name.
pub const QUERY: &[&str] = &["track", "service", "environment", "version"];
/// What a criterion's `watch_query` may name: the whole service after promotion, no track and no
/// version (every instance runs it).
pub const WATCH_QUERY: &[&str] = &["service", "environment"];
/// What a criterion's side-by-side `link` may name (`from`, `to`: the window, epoch ms / `now`).
pub const LINK: &[&str] = &["service", "environment", "version", "from", "to"];
/// What a `github-workflow` executor's `inputs` values may name.
pub const WORKFLOW_INPUT: &[&str] = &[
    "deploy_id",
    "service",
    "environment",
    "version",
    "sha",
    "action",
    "reason",
    "decision_id",
];

/// The placeholders of `template`, in order, as written between the braces (trimmed).
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    PLACEHOLDER
        .captures_iter(template)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
}

/// `Err` naming every placeholder of `template` that is not in `known`, and the known names.
pub fn check(template: &str, known: &[&str]) -> Result<(), String> {
    let unknown: Vec<String> = placeholders(template)
        .filter(|name| !known.contains(name))
        .map(|name| format!("`{{{{{name}}}}}`"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = known.iter().map(|k| format!("{{{{{k}}}}}")).collect();
    Err(format!(
        "unknown placeholder{} {}; this template knows {}",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", "),
        known.join(", ")
    ))
}

/// Fills every placeholder `value` knows, in one pass (a value that itself contains `{{…}}` is
/// not filled again). A placeholder `value` does not know is left as written: templates are
/// checked with [`check`] when the configuration is read.
pub fn fill<'t>(template: &'t str, value: impl Fn(&str) -> Option<String>) -> Cow<'t, str> {
    PLACEHOLDER.replace_all(template, |c: &Captures| {
        let name = c.get(1).map_or("", |m| m.as_str());
        value(name).unwrap_or_else(|| c[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "service" => Some("checkout".into()),
            "version" => Some("2.4.1".into()),
            "track" => Some("{{version}}".into()),
            _ => None,
        }
    }

    #[test]
    fn fills_with_or_without_spaces() {
        assert_eq!(
            fill("{{service}} {{ service }} {{\tversion }}", vars),
            "checkout checkout 2.4.1"
        );
    }

    #[test]
    fn a_filled_value_is_not_filled_again() {
        assert_eq!(fill("v={{track}}", vars), "v={{version}}");
    }

    #[test]
    fn unknown_placeholders_are_left_and_text_without_any_is_kept() {
        assert_eq!(fill("x{{nope}}y", vars), "x{{nope}}y");
        let promql = r#"sum(rate(http{job="api"}[5m]))"#;
        assert_eq!(fill(promql, vars), promql);
        assert!(matches!(fill(promql, vars), Cow::Borrowed(_)));
    }

    #[test]
    fn check_names_the_unknown_and_the_known() {
        assert_eq!(check(r#"errors{track="{{ track }}"}"#, QUERY), Ok(()));
        let err = check(r#"errors{track="{{trak}}",v="{{ver sion}}"}"#, QUERY).unwrap_err();
        assert_eq!(
            err,
            "unknown placeholders `{{trak}}`, `{{ver sion}}`; this template knows {{track}}, {{service}}, {{environment}}, {{version}}"
        );
        assert!(check("{{from}}", QUERY).is_err());
        assert_eq!(check("{{from}}..{{ to }}", LINK), Ok(()));
        assert_eq!(check("{{decision_id}}", WORKFLOW_INPUT), Ok(()));
    }

    #[test]
    fn placeholders_are_listed_in_order() {
        let names: Vec<&str> = placeholders("{{ a }}-{{b}}-{{}}").collect();
        assert_eq!(names, ["a", "b", ""]);
    }
}
