//! GET /services/{name}: a service's own timeline — whether it is frozen now, and the freezes set
//! and lifted and the GitHub reviews, with who did what.

use super::document;
use crate::domain::freeze::FreezeCause;
use crate::html;
use crate::present::html::Html;
use crate::present::words::timestamp;

/// One entry of the service's timeline, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub at_ms: i64,
    pub kind: String,
    pub actor: String,
    pub summary: String,
}

pub fn service_page(service: &str, frozen: Option<&FreezeCause>, rows: &[ServiceRow]) -> String {
    let mut b = Html::new();
    html!(
        b,
        "<nav class=\"links\"><a href=\"/deploys?service={}\">Deploys of {}</a></nav>\n<main>\n<h1>{}: the service's timeline</h1>\n",
        service,
        service,
        service
    );
    match frozen {
        Some(f) => html!(
            b,
            "<p class=\"frozen\"><strong>Frozen</strong> by {} ({}){}. No deploy may start.</p>\n",
            f.by,
            f.scope,
            f.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        None => {
            b.push_raw("<p class=\"open\">Not frozen.</p>\n");
        }
    }
    if rows.is_empty() {
        b.push_raw("<p class=\"empty\">Nothing yet: no freezes and no gate reviews.</p>\n");
    } else {
        b.push_raw("<div class=\"wrap\">\n<table id=\"service-timeline\">\n<thead><tr><th>When (UTC)</th><th>What</th><th>Who</th></tr></thead>\n<tbody>\n");
        for r in rows {
            html!(
                b,
                "<tr data-kind=\"{}\"><td class=\"time\">{}</td><td>{}</td><td>{}</td></tr>\n",
                r.kind,
                timestamp(r.at_ms),
                r.summary,
                r.actor
            );
        }
        b.push_raw("</tbody>\n</table>\n</div>\n");
    }
    b.push_raw("</main>\n");
    document(&format!("{service}: timeline"), &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::freeze::FreezeKind;

    #[test]
    fn the_page_says_who_froze_and_escapes_what_people_wrote() {
        let cause = FreezeCause {
            kind: FreezeKind::Set,
            scope: "all".into(),
            by: "alice".into(),
            reason: Some("<script>x</script> incident".into()),
            until_ms: None,
            freeze_id: Some("fz-1".into()),
            when: None,
        };
        let rows = vec![ServiceRow {
            at_ms: 0,
            kind: "freeze_set".into(),
            actor: "slack:U01ALICE".into(),
            summary: "alice froze every service: <b>now</b>".into(),
        }];
        let page = service_page("checkout", Some(&cause), &rows);
        assert!(
            page.contains("<strong>Frozen</strong> by alice (all): &lt;script&gt;"),
            "{page}"
        );
        assert!(page.contains("alice froze every service: &lt;b&gt;now&lt;/b&gt;"));
        assert!(page.contains("<tr data-kind=\"freeze_set\">"));
        assert!(!page.contains("<script>x"));
        let empty = service_page("checkout", None, &[]);
        assert!(empty.contains("Not frozen.") && empty.contains("Nothing yet"));
    }
}
