//! The page's "What people said": people's notes still standing, in the order they were said,
//! their files as links. Everything from outside goes through [`Html`], which escapes it.

use super::link;
use crate::domain::deploy::Event;
use crate::html;
use crate::present::html::Html;
use crate::present::notes::standing;
use crate::present::words::timestamp;

pub(super) fn notes_section(b: &mut Html, events: &[Event]) {
    b.push_raw("<section id=\"notes\">\n<h2>What people said</h2>\n");
    let rows = standing(events);
    if rows.is_empty() {
        b.push_raw("<p>Nobody added a message or a note to the timeline.</p>\n");
        b.push_raw("</section>\n");
        return;
    }
    b.push_raw("<ul class=\"notes\">\n");
    for r in &rows {
        let c = r.chat;
        let mut files = Html::new();
        for (i, f) in c.files.iter().enumerate() {
            if i > 0 {
                files.push_raw(", ");
            }
            html!(files, "{}", link(&f.url, &f.name));
        }
        html!(
            b,
            "<li class=\"note\" data-at=\"{}\"><span class=\"time\">{}</span>, <strong>{}</strong> (<code>{}</code>){}:<blockquote>{}</blockquote>{}</li>\n",
            c.said_at_ms,
            timestamp(c.said_at_ms),
            c.author.name,
            c.author.identity,
            r.added_by_words()
                .map(|w| format!(", {w}"))
                .unwrap_or_default(),
            r.text,
            if c.files.is_empty() {
                Html::new()
            } else {
                let mut p = Html::raw("<p class=\"files\">Files: ");
                p.push(files);
                p.push_raw("</p>");
                p
            }
        );
    }
    b.push_raw("</ul>\n</section>\n");
}
