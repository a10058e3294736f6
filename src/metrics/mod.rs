//! Metric sources the bot reads by itself: Prometheus queries on a schedule, and Alertmanager's
//! webhook. Samples pushed over `/hooks/metrics` need neither.

pub mod alertmanager;
pub mod history;
pub mod prometheus;
pub mod scheduler;
pub mod watch;
