//! From a service's configuration to the `Policy` a deploy locks in: its criteria (with the
//! deploy's own merged in), each given its side-by-side link, and the executor that acts.

use super::*;
use crate::domain::deploy::{Escalation, WatchPolicy};
use crate::domain::{DeployInfo, Policy};
use crate::promql;
use crate::template;

impl ServiceConfig {
    /// The agreement to lock into a new deploy, with the deploy's own extra criteria merged in.
    pub fn policy(&self, extra: Vec<Criterion>) -> Result<Policy, String> {
        let mut criteria = self.criteria.clone();
        for c in extra {
            if criteria.iter().any(|k| k.name == c.name) {
                return Err(format!(
                    "criteria: `{}` is already a criterion of service {}; extra criteria must have new names",
                    c.name, self.name
                ));
            }
            criteria.push(c);
        }
        Ok(Policy {
            criteria,
            deciders: self.deciders.clone(),
            rollback_quorum: self.rollback_quorum,
            promote_quorum: self.promote_quorum,
            on_breach: self.on_breach,
            on_pass: self.on_pass,
            canary_window_s: self.canary_window.as_secs(),
            verify_checks: self.verify_checks,
            executor: self
                .rollback
                .as_ref()
                .map(|r| r.kind().as_str().to_string()),
            no_data_limit: self.no_data_limit,
            verify_timeout_s: self.verify_timeout.as_secs(),
            escalation: self.escalation.as_ref().map(|e| Escalation {
                remind_after_s: e.remind_after.map(|d| d.as_secs()),
                page_after_s: e.page_after.map(|d| d.as_secs()),
                decide_after_s: e.decide_after.map(|d| d.as_secs()),
                default_decision: e.default_decision,
                // Filled by `Config::lock_policy`, which knows the providers.
                pagers: Vec::new(),
            }),
            require_reason: self.require_reason,
            forbid_self_promote: self.forbid_self_promote,
            watch: self.watch.as_ref().map(|w| WatchPolicy {
                after_promotion_s: w.after_promotion.as_secs(),
                interval_s: w.interval.as_secs().max(1),
            }),
        })
    }
}

impl Config {
    /// The agreement to lock into a new deploy: the service's criteria plus the deploy's own, each
    /// given its side-by-side view. Every deploy source starts deploys through this.
    pub fn lock_policy(
        &self,
        service: &ServiceConfig,
        extra: Vec<Criterion>,
        info: &DeployInfo,
        now_ms: i64,
    ) -> Result<Policy, String> {
        let mut policy = service.policy(extra)?;
        self.lock_links(&service.tracks, info, now_ms, &mut policy.criteria);
        // A drill pages only when it asks to.
        let pages = info.drill.is_none_or(|d| d.page);
        if let Some(e) = &mut policy.escalation
            && pages
        {
            e.pagers = self.pagers();
        }
        Ok(policy)
    }

    /// The agreement a drill of `service` runs under: the service's deciders, quorums and
    /// verification, its drill executor if it has one, and the synthetic `drill` criterion.
    /// The drill escalates as the service does (so it times the whole chain), and pages only
    /// when `page` asks it to.
    pub fn drill_policy(
        &self,
        service: &ServiceConfig,
        breach_after_s: u64,
        page: bool,
    ) -> Result<Policy, String> {
        let mut policy = crate::domain::drill::policy(service.policy(Vec::new())?, breach_after_s);
        if let Some(r) = &service.drill_executor {
            policy.executor = Some(r.kind().as_str().to_string());
        }
        if let Some(e) = &mut policy.escalation
            && page
        {
            e.pagers = self.pagers();
        }
        Ok(policy)
    }

    /// Gives each criterion its side-by-side view, rendered when the criteria are locked: its own
    /// `link` template ([`template::LINK`]; `from` is 5 minutes before the start in epoch ms,
    /// `to` is `now`), else a Prometheus graph of its query for both tracks.
    fn lock_links(
        &self,
        tracks: &Tracks,
        info: &DeployInfo,
        started_ms: i64,
        criteria: &mut [Criterion],
    ) {
        for c in criteria.iter_mut() {
            if let Some(link) = &c.link {
                let filled = template::fill(link, |name| match name {
                    "service" => Some(info.service.clone()),
                    "environment" => Some(info.environment.clone()),
                    "version" => Some(info.version.clone()),
                    "from" => Some((started_ms - 5 * 60 * 1000).to_string()),
                    "to" => Some("now".into()),
                    _ => None,
                })
                .into_owned();
                c.link = Some(filled);
                continue;
            }
            let (Some(q), Some(p)) = (&c.query, &self.prometheus) else {
                continue;
            };
            let vars = |track| promql::Vars {
                track,
                service: &info.service,
                environment: &info.environment,
                version: &info.version,
            };
            let ui = p.ui_url.as_deref().unwrap_or(&p.url);
            if let Some(url) =
                promql::graph_link(ui, q, &vars(&tracks.canary), &vars(&tracks.baseline))
            {
                c.link = Some(url);
            }
        }
    }
}
