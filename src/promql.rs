//! PromQL query templates: filled for one track, and a Prometheus graph of both tracks side by
//! side. Pure text; used by the Prometheus client and by the policy a deploy locks in.

use crate::template;

/// The values a query template is filled with.
pub struct Vars<'a> {
    pub track: &'a str,
    pub service: &'a str,
    pub environment: &'a str,
    pub version: &'a str,
}

/// Fills the placeholders of [`template::QUERY`]; values are escaped for PromQL string literals,
/// where they are meant to stand.
pub fn render(query: &str, v: &Vars) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    template::fill(query, |name| match name {
        "track" => Some(esc(v.track)),
        "service" => Some(esc(v.service)),
        "environment" => Some(esc(v.environment)),
        "version" => Some(esc(v.version)),
        _ => None,
    })
    .into_owned()
}

/// A Prometheus UI graph (at `ui_url`) of `query` for both tracks over the last hour.
pub fn graph_link(ui_url: &str, query: &str, canary: &Vars, baseline: &Vars) -> Option<String> {
    let graph = format!("{}/graph", ui_url.trim_end_matches('/'));
    let params = [
        ("g0.expr", render(query, canary)),
        ("g0.tab", "0".into()),
        ("g0.range_input", "1h".into()),
        ("g1.expr", render(query, baseline)),
        ("g1.tab", "0".into()),
        ("g1.range_input", "1h".into()),
    ];
    reqwest::Url::parse_with_params(&graph, &params)
        .ok()
        .map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_escape() {
        let v = Vars {
            track: "canary",
            service: "check\"out",
            environment: "production",
            version: "1.2.3",
        };
        assert_eq!(
            render(
                r#"rate(errors{track="{{track}}",svc="{{service}}",v="{{version}}"}[1m])"#,
                &v
            ),
            r#"rate(errors{track="canary",svc="check\"out",v="1.2.3"}[1m])"#
        );
    }

    #[test]
    fn placeholders_may_have_spaces() {
        let v = Vars {
            track: "baseline",
            service: "checkout",
            environment: "production",
            version: "1.2.3",
        };
        assert_eq!(
            render(r#"up{track="{{ track }}",env="{{environment }}"}"#, &v),
            r#"up{track="baseline",env="production"}"#
        );
    }

    #[test]
    fn graph_links_show_both_tracks() {
        let vars = |track| Vars {
            track,
            service: "checkout",
            environment: "production",
            version: "1.2.3",
        };
        let link = graph_link(
            "http://prom:9090/",
            r#"up{track="{{track}}"}"#,
            &vars("canary"),
            &vars("baseline"),
        )
        .expect("a link");
        assert!(
            link.starts_with("http://prom:9090/graph?g0.expr=up%7Btrack%3D%22canary%22%7D"),
            "{link}"
        );
        assert!(
            link.contains("g1.expr=up%7Btrack%3D%22baseline%22%7D"),
            "{link}"
        );
    }
}
