//! Text from outside is data. Discord pings nobody canarybot did not name (`allowed_mentions` is
//! set on every message), but its Markdown would still *show* `<@…>`, `<#…>`, `<@&…>`, `<t:…>`
//! and slash-command mentions as live references, `@everyone` as a highlight, and `[label](url)`
//! as a disguised link. [`text`] breaks each of those forms with an invisible U+200B, so the words
//! read the same, work inside code blocks too, and make nothing. canarybot's own mentions and
//! links are added by the adapter after escaping.

const ZWSP: char = '\u{200B}';

/// The text as written, unable to form a mention, a channel or role reference, a timestamp, an
/// `@everyone`/`@here` highlight or a masked link.
pub fn text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        let next = chars.get(i + 1).copied();
        match (c, next) {
            // `<@1>`, `<@!1>`, `<@&1>`, `<#1>`, `<t:1>`, `</cmd:1>`, `<:emoji:1>`, `<a:x:1>`,
            // `<https://…>`, `<id:…>`: every Discord angle-bracket form starts with `<` and one of
            // these; `<` before a space or a digit stays as it is.
            ('<', Some(n)) if n.is_ascii_alphabetic() || "@#!:/&".contains(n) => out.push(ZWSP),
            // `[label](url)`: a masked link needs `](` together.
            (']', Some('(')) => out.push(ZWSP),
            ('@', Some(_)) if starts_with_word(&chars[i + 1..], &["everyone", "here"]) => {
                out.push(ZWSP)
            }
            _ => {}
        }
    }
    out
}

fn starts_with_word(rest: &[char], words: &[&str]) -> bool {
    words.iter().any(|w| {
        let w: Vec<char> = w.chars().collect();
        rest.len() >= w.len()
            && rest[..w.len()]
                .iter()
                .zip(&w)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_references_and_masked_links_are_broken() {
        let hostile = "<@123> <@&456> <#789> <!channel> <t:1:R> [status page](https://evil.example) @everyone @here";
        let safe = text(hostile);
        for form in ["<@", "<#", "<!", "<t:", "](", "@everyone", "@here"] {
            assert!(!safe.contains(form), "{form} survived in {safe:?}");
        }
        // Reads the same once the invisible character is removed.
        assert_eq!(safe.replace(ZWSP, ""), hostile);
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for s in [
            "p99 doubled",
            "error rate < 2% of baseline",
            "a <= b",
            "v2.4.1 [canary] (eu)",
        ] {
            assert_eq!(text(s), s);
        }
    }
}
