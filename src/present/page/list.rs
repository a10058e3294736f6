//! GET /deploys: the list of deploys with their phases.

use super::{document, opt_duration};
use crate::domain::deploy::State;
use crate::domain::timeline::Phases;
use crate::html;
use crate::present::html::Html;
use crate::present::postmortem::path_segment;
use crate::present::words::{state_words, timestamp};

/// One row of GET /deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub id: String,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub state: State,
    pub drill: bool,
    pub started_at_ms: i64,
    pub phases: Phases,
}

/// The full HTML document for GET /deploys (rows already newest first). `drills_shown` says
/// whether drills are included (then show a DRILL badge on those rows); show a link to
/// `/deploys?drills=include` or `/deploys` to switch.
pub fn deploys_page(rows: &[ListRow], drills_shown: bool) -> String {
    let mut b = Html::new();
    b.push_raw("<nav class=\"links\">");
    if drills_shown {
        b.push_raw("<a href=\"/deploys\">Hide drills</a>");
    } else {
        b.push_raw("<a href=\"/deploys?drills=include\">Show drills</a>");
    }
    b.push_raw("</nav>\n<main>\n<h1>Deploys</h1>\n");
    html!(
        b,
        "<p class=\"shown\">Newest first{}.</p>\n",
        if drills_shown {
            ", drills included"
        } else {
            ", drills hidden"
        }
    );
    if rows.is_empty() {
        b.push_raw("<p class=\"empty\">No deploys yet.</p>\n");
    } else {
        b.push_raw("<div class=\"wrap\">\n<table id=\"deploys\">\n<thead><tr><th>Started (UTC)</th><th>Service</th><th>Version</th><th>Environment</th><th>State</th><th>Detect</th><th>Decide</th><th>Execute</th><th>Verify</th><th>Total</th><th>Deploy</th></tr></thead>\n<tbody>\n");
        for r in rows {
            let p = &r.phases;
            html!(
                b,
                "<tr data-id=\"{}\" data-state=\"{}\"><td class=\"time\">{}</td><td>{}{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td class=\"duration\">{}</td><td><a href=\"/deploys/{}\"><code>{}</code></a></td></tr>\n",
                r.id,
                r.state.as_str(),
                timestamp(r.started_at_ms),
                r.service,
                if r.drill {
                    Html::raw("<span class=\"badge drill\">DRILL</span>")
                } else {
                    Html::new()
                },
                r.version,
                r.environment,
                state_words(r.state),
                opt_duration(p.detect_s),
                opt_duration(p.decide_s),
                opt_duration(p.execute_s),
                opt_duration(p.verify_s),
                opt_duration(p.total_s),
                path_segment(&r.id),
                r.id
            );
        }
        b.push_raw("</tbody>\n</table>\n</div>\n");
    }
    b.push_raw("</main>\n");
    document("Deploys", &b)
}
