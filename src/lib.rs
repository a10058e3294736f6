//! canarybot: deploys decided from chat, against criteria agreed before the deploy.

pub mod app;
pub mod auth;
pub mod chat;
pub mod client;
pub mod command;
pub mod config;
pub mod demo;
pub mod discord;
pub mod domain;
pub mod drill;
pub mod engine;
pub mod flagger;
pub mod gate;
pub mod gate_cli;
pub mod github;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod paging;
pub mod present;
pub mod promql;
pub mod redact;
pub mod registry;
pub mod report;
pub mod retry;
pub mod rollback;
pub mod server;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod webhooks;

use std::sync::Arc;

/// Milliseconds since the epoch, UTC. Injected so tests and drills can control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}
