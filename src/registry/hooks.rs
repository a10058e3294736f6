//! Deploy sources (who says a deploy started, was promoted, rolled back or failed) and metric
//! sources that push over HTTP. Prometheus is pulled by `metrics::scheduler` and has no route.

use crate::http::HookSource;

/// Every deploy source. Each folder exports its own (`github::SOURCE`, `flagger::SOURCE`); the
/// generic webhooks are `crate::webhooks`'.
pub static DEPLOY_SOURCES: &[&HookSource] = &[
    &crate::webhooks::DEPLOY_WEBHOOK,
    &crate::github::SOURCE,
    &crate::flagger::SOURCE,
];

/// Every metric source that pushes.
pub static METRIC_SOURCES: &[&HookSource] = &[
    &crate::webhooks::PUSHED_SAMPLES,
    &crate::metrics::alertmanager::SOURCE,
];
