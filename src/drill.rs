//! Rollback drills: opening one (a deploy marked DRILL whose synthetic signal breaches) and
//! reading each service's drill history, shared by the API, the CLI and chat.

use crate::config::Config;
use crate::domain::{DeployInfo, Drill};
use crate::engine::{Applied, Engine, EngineError};
use crate::present::drills::{DrillRun, ServiceDrills, history};
use crate::store::{Drills, Store, StoreError};
use std::collections::BTreeMap;

/// The drill history of one service, or of every service that has drilled.
pub async fn drill_history(
    store: &Store,
    service: Option<&str>,
) -> Result<Vec<ServiceDrills>, StoreError> {
    let rows = store
        .deploys_where(service, None, Drills::Only, 10_000)
        .await?;
    let mut by_service: BTreeMap<String, Vec<DrillRun>> = BTreeMap::new();
    for row in rows {
        let Some(events) = store.events(&row.id).await? else {
            continue;
        };
        let phases = crate::domain::timeline::phases(&events);
        let paged = events.iter().any(|e| {
            matches!(
                e.data,
                crate::domain::EventData::Paged {
                    reason: crate::domain::PageReason::NoDecision,
                    ..
                }
            )
        });
        by_service
            .entry(row.service.clone())
            .or_default()
            .push(DrillRun {
                id: row.id,
                started_at_ms: row.created_at_ms,
                state: row.state,
                phases,
                paged,
            });
    }
    Ok(by_service
        .into_iter()
        .map(|(service, runs)| history(&service, runs))
        .collect())
}

/// Why a drill was not started.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// When a drill's synthetic breach starts unless told.
pub const DEFAULT_BREACH_AFTER_S: u64 = 30;

/// The longest synthetic breach delay accepted: a drill is a rehearsal, not a soak test.
pub const MAX_BREACH_AFTER_S: u64 = 3600;

/// Opens a drill of `service`: a deploy marked DRILL whose synthetic signal breaches after
/// `breach_after_s`; its escalation pages only when `page` says so. One drill per service at a
/// time.
pub async fn start_drill(
    engine: &Engine,
    config: &Config,
    service: &str,
    breach_after_s: u64,
    page: bool,
    actor: &str,
    source: &str,
) -> Result<Applied, DrillError> {
    let Some(svc) = config.service(service) else {
        return Err(DrillError::Refused(format!(
            "service: unknown service `{service}` (services: {})",
            config.service_names().join(", ")
        )));
    };
    if breach_after_s > MAX_BREACH_AFTER_S {
        return Err(DrillError::Refused(format!(
            "breach_after: {breach_after_s}s is longer than the {MAX_BREACH_AFTER_S}s a drill may wait"
        )));
    }
    let store = engine.store();
    let earlier = store
        .deploys_where(Some(service), None, Drills::Only, 10_000)
        .await
        .map_err(EngineError::from)?;
    if let Some(open) = earlier.iter().find(|r| !r.state.is_final()) {
        return Err(DrillError::Refused(format!(
            "a drill of {service} is already running: `{}` ({})",
            open.id,
            open.state.as_str()
        )));
    }
    let policy = config
        .drill_policy(svc, breach_after_s, page)
        .map_err(DrillError::Refused)?;
    let now = engine.now();
    let stamp = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
        .map(|t| t.format("%Y%m%dT%H%M%S%.3fZ").to_string())
        .unwrap_or_else(|| now.to_string());
    let info = DeployInfo {
        id: format!("drill-{service}-{stamp}"),
        service: service.to_string(),
        environment: "drill".to_string(),
        version: format!("drill #{}", earlier.len() + 1),
        actor: Some(actor.to_string()),
        description: Some(format!(
            "Rollback drill: a synthetic breach of `drill` after {}",
            crate::present::words::duration(breach_after_s as f64)
        )),
        drill: Some(Drill {
            breach_after_s,
            page,
        }),
        ..DeployInfo::default()
    };
    Ok(engine.start(info, policy, source).await?)
}
