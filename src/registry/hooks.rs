//! Deploy sources (who says a deploy started, was promoted, rolled back or failed) and metric
//! sources that push over HTTP. Prometheus is pulled by `metrics::scheduler` and has no route.

use crate::config::Config;
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

/// Every deploy source. Each folder exports its own (`github::SOURCE`, `flagger::SOURCE`); the
/// generic webhooks are the server's and stand here, as the server never names the registry.
pub static DEPLOY_SOURCES: &[&HookSource] = &[
    &DEPLOY_WEBHOOK,
    &crate::github::SOURCE,
    &crate::flagger::SOURCE,
];

/// Every metric source that pushes.
pub static METRIC_SOURCES: &[&HookSource] =
    &[&PUSHED_SAMPLES, &crate::metrics::alertmanager::SOURCE];

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
