//! Text from outside is data: Slack treats `&`, `<` and `>` as control characters in every text
//! object (mrkdwn, plain text, a message's `text`), so they are written as entities. Only
//! canarybot's own formatting makes mentions (`<@U…>`, `<!subteam^S…>`) and links (`<url|label>`),
//! through [`link`] and the adapter's mention builder.

/// `&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`: the text shows as written and can make no mention,
/// channel link, broadcast (`<!channel>`) or disguised link.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A link canarybot makes: `<url|label>`. Only `http(s)` addresses become links; characters that
/// would end the address or start the label (`|`, `<`, `>`, spaces) are percent-encoded, and the
/// label is escaped. Anything else is shown as text, never as a link.
pub fn link(url: &str, label: &str) -> String {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return format!("{} ({})", text(label), text(url));
    }
    let mut safe = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '|' => safe.push_str("%7C"),
            '<' => safe.push_str("%3C"),
            '>' => safe.push_str("%3E"),
            ' ' => safe.push_str("%20"),
            '&' => safe.push_str("&amp;"),
            c if c.is_control() => {}
            c => safe.push(c),
        }
    }
    format!("<{safe}|{}>", text(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_entities() {
        assert_eq!(
            text("<!channel> URGENT <https://evil.example|status page> & more"),
            "&lt;!channel&gt; URGENT &lt;https://evil.example|status page&gt; &amp; more"
        );
        assert_eq!(text("p99 doubled"), "p99 doubled");
    }

    #[test]
    fn links_keep_their_label_and_only_http() {
        assert_eq!(
            link("https://ci.example/run/1", "pipeline"),
            "<https://ci.example/run/1|pipeline>"
        );
        assert_eq!(
            link("https://evil.example|click here", "pipeline"),
            "<https://evil.example%7Cclick%20here|pipeline>"
        );
        assert_eq!(
            link("javascript:alert(1)", "pipeline"),
            "pipeline (javascript:alert(1))"
        );
        assert_eq!(
            link("https://x.example/?a=1&b=<2>", "a <b>"),
            "<https://x.example/?a=1&amp;b=%3C2%3E|a &lt;b&gt;>"
        );
    }
}
