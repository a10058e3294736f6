//! Deploy sources (who says a deploy started, was promoted, rolled back or failed) and metric
//! sources that push over HTTP. Prometheus is pulled by `metrics::scheduler` and has no route.

use crate::config::Config;
use crate::metrics::alertmanager::AlertHook;
use crate::server::{AppState, Inbound, PathMatch, Surface};
use axum::Router;

/// A signed webhook surface that feeds the engine.
pub struct HookSource {
    pub name: &'static str,
    /// Its routes, as `/metrics` labels them.
    pub surface: Surface,
    /// Whether the configuration turns it on.
    pub configured: fn(&Config) -> bool,
    /// Its routes, once the engine exists.
    pub routes: fn(&Inbound) -> Router<AppState>,
}

/// Every deploy source.
pub static DEPLOY_SOURCES: &[&HookSource] = &[&DEPLOY_WEBHOOK, &GITHUB, &FLAGGER];

/// Every metric source that pushes.
pub static METRIC_SOURCES: &[&HookSource] = &[&PUSHED_SAMPLES, &ALERTMANAGER];

/// `POST /hooks/deploy`: any pipeline, signed with `[webhooks] secrets`.
pub static DEPLOY_WEBHOOK: HookSource = HookSource {
    name: "deploy",
    surface: Surface {
        label: "deploy",
        paths: &[PathMatch::Exact("/hooks/deploy")],
    },
    configured: |_| true,
    routes: |_| crate::server::hooks::deploy_routes(),
};

/// `POST /hooks/github`: GitHub `deployment` and `deployment_status` events.
pub static GITHUB: HookSource = HookSource {
    name: "github",
    surface: Surface {
        label: "github",
        paths: &[PathMatch::Exact("/hooks/github")],
    },
    configured: |c| c.github.is_some(),
    routes: |i| {
        crate::github::hooks::routes(crate::github::hooks::GithubHook {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
        })
    },
};

/// `/hooks/flagger/…`: Flagger's event webhook and its gates.
pub static FLAGGER: HookSource = HookSource {
    name: "flagger",
    surface: Surface {
        label: "flagger",
        paths: &[PathMatch::Prefix("/hooks/flagger/")],
    },
    configured: |c| c.flagger.is_some(),
    routes: |i| {
        crate::flagger::hooks::routes(crate::flagger::hooks::FlaggerHooks {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
        })
    },
};

/// `POST /hooks/metrics`: samples pushed by anything, signed with `[webhooks] secrets`.
pub static PUSHED_SAMPLES: HookSource = HookSource {
    name: "metrics",
    surface: Surface {
        label: "metrics",
        paths: &[PathMatch::Exact("/hooks/metrics")],
    },
    configured: |_| true,
    routes: |_| crate::server::hooks::metric_routes(),
};

/// `POST /hooks/alertmanager`: firing alerts count as breaches of the matching canary.
pub static ALERTMANAGER: HookSource = HookSource {
    name: "alertmanager",
    surface: Surface {
        label: "alertmanager",
        paths: &[PathMatch::Exact("/hooks/alertmanager")],
    },
    configured: |c| c.alertmanager.is_some(),
    routes: |i| {
        crate::metrics::alertmanager::routes(AlertHook {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
            unmatched: i.counters.alerts_unmatched.clone(),
        })
    },
};
