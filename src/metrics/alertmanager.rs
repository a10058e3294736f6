//! `POST /hooks/alertmanager`: Alertmanager's webhook (version 4), bearer-token authenticated.
//! Firing alerts are matched to active canaries by the service (and, when present, environment)
//! label; a firing alert during a canary is a breach at once. A service with no canary: the
//! alert goes to its latest promoted deploy whose watch is open, said in that deploy's thread.

use crate::auth::bearer_ok;
use crate::config::Config;
use crate::domain::Input;
use crate::engine::Engine;
use crate::http::{ApiError, AppState, Counters};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone)]
pub struct AlertHook {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub counters: Arc<Counters>,
    /// Alerts that matched no active canary: counted, not stored.
    pub unmatched: Arc<AtomicU64>,
}

pub fn routes(state: AlertHook) -> Router<AppState> {
    Router::new()
        .route("/hooks/alertmanager", post(receive))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
pub struct Notification {
    #[serde(default)]
    pub version: Option<String>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
pub struct Alert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Parses an Alertmanager notification and checks it is webhook version 4.
pub fn parse_notification(body: &[u8]) -> Result<Notification, ApiError> {
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed Alertmanager notification: {e}")))?;
    if let Some(v) = &n.version
        && v != "4"
    {
        return Err(ApiError::bad_request(format!(
            "version: `{v}` is not Alertmanager webhook version 4"
        )));
    }
    Ok(n)
}

async fn receive(State(s): State<AlertHook>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(cfg) = &s.config.alertmanager else {
        return ApiError::new(StatusCode::NOT_FOUND, "no [alertmanager] section").into_response();
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if !bearer_ok(auth, &cfg.tokens) {
        s.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong Authorization: Bearer token",
        )
        .into_response();
    }
    let n = match parse_notification(&body) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    {
        use crate::limits as l;
        let mut c = l::FieldCheck::new();
        c.count("alerts", n.alerts.len(), l::ALERTS_PER_NOTIFICATION);
        for (i, a) in n.alerts.iter().enumerate() {
            c.text(&format!("alerts[{i}].status"), &a.status, l::STATUS);
            for key in ["alertname", &cfg.service_label, &cfg.environment_label] {
                c.opt(
                    &format!("alerts[{i}].labels.{key}"),
                    a.labels.get(key).map(String::as_str),
                    l::LABEL,
                );
            }
            for (key, value) in &a.annotations {
                c.text(
                    &format!("alerts[{i}].annotations.{key}"),
                    value,
                    l::ANNOTATION,
                );
            }
        }
        if let Err(e) = c.into_result() {
            return ApiError::bad_request(e).into_response();
        }
    }
    let store = s.engine.store();
    let (mut matched, mut unmatched) = (0u64, 0u64);
    for alert in n.alerts {
        let name = alert
            .labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| "unnamed".into());
        let firing = alert.status == "firing";
        let Some(service) = alert.labels.get(&cfg.service_label) else {
            unmatched += 1;
            continue;
        };
        let environment = alert.labels.get(&cfg.environment_label);
        let input = || Input::Alert {
            name: name.clone(),
            firing,
            annotations: alert.annotations.clone(),
        };
        let mut hit = false;
        for state in [crate::domain::State::Canary, crate::domain::State::Breached] {
            let rows = match store
                .deploys_where(
                    Some(service),
                    Some(state),
                    crate::store::Drills::Exclude,
                    100,
                )
                .await
            {
                Ok(r) => r,
                Err(e) => return store_failed(e),
            };
            for row in rows {
                if environment.is_some_and(|e| *e != row.environment) {
                    continue;
                }
                hit = true;
                if let Err(e) = s.engine.apply(&row.id, input(), "alertmanager").await {
                    return ApiError::from(e).into_response();
                }
            }
        }
        // No canary of the service: the latest promoted deploy whose watch is open (per
        // environment) hears it, the link between the alert and the latest change.
        if !hit {
            let watched = match store
                .watched(service, environment.map(String::as_str))
                .await
            {
                Ok(rows) => rows,
                Err(e) => return store_failed(e),
            };
            for row in watched {
                hit = true;
                if let Err(e) = s.engine.apply(&row.id, input(), "alertmanager").await {
                    return ApiError::from(e).into_response();
                }
            }
        }
        if hit {
            matched += 1;
        } else {
            unmatched += 1;
        }
    }
    s.unmatched.fetch_add(unmatched, Ordering::Relaxed);
    (
        StatusCode::OK,
        axum::Json(json!({"matched": matched, "unmatched": unmatched})),
    )
        .into_response()
}

/// `POST /hooks/alertmanager`: firing alerts count as breaches of the matching canary.
pub static SOURCE: crate::http::HookSource = crate::http::HookSource {
    name: "alertmanager",
    surface: crate::http::Surface {
        label: "alertmanager",
        paths: &[crate::http::PathMatch::Exact("/hooks/alertmanager")],
    },
    configured: |c| c.alertmanager.is_some(),
    routes: |i| {
        routes(AlertHook {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
            unmatched: i.counters.alerts_unmatched.clone(),
        })
    },
};

/// The store failed: logged, and answered with a 500 that says where to look (Alertmanager
/// retries).
fn store_failed(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "store error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal store error; see the server log",
    )
    .into_response()
}
