//! Black-box tests: the real server over real HTTP on loopback, on SQLite and on PostgreSQL
//! (when CANARYBOT_TEST_POSTGRES_URL is set; otherwise those variants say SKIPPED).

mod alertmanager;
mod api;
mod browser;
mod cli;
mod command_executor;
pub mod crash;
mod discord;
mod drills;
mod escalation;
mod escaping;
pub mod fake_discord;
pub mod fake_pager;
pub mod fake_prometheus;
pub mod fake_slack;
mod flagger;
mod flow;
mod gates;
pub mod github;
mod github_app;
mod hardening;
mod hooks;
mod judging;
mod logs;
mod modals;
mod newer_deploy;
mod paging;
mod payload_fixtures;
mod postmortem;
mod prometheus;
pub mod real_prometheus;
mod real_prometheus_judges;
mod reliability;
mod replicas;
mod slack;
mod store;
pub mod support;
