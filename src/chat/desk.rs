//! What every chat platform answers the same way: which deploy a command means, its status, its
//! timeline. Platforms only translate their payloads and lay out the answers.

use crate::command::{Command, Target, help_for};
use crate::config::{Config, ServiceConfig};
use crate::domain::decision::authorizing_entry;
use crate::domain::freeze::FreezeScope;
use crate::domain::timeline::phases;
use crate::domain::{Choice, State, Voter};
use crate::engine::Engine;
use crate::present::chat::root_view;
use crate::present::words::duration;
use crate::store::Drills;
use std::sync::Arc;

/// Where a command was typed: the services posting to that channel, and the deploy whose thread
/// it is, if it is a canary thread.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub services_here: Vec<String>,
    pub thread_deploy: Option<String>,
    /// Whether the platform delivers @-mentions to canarybot (Slack does; Discord without a
    /// gateway does not), so help only offers what works.
    pub mentions: bool,
}

/// What to do with a command: say something, or count a vote (which each platform does its way).
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Text(String),
    Vote {
        deploy_id: String,
        choice: Choice,
        reason: Option<String>,
    },
    /// Confirm the held rollback of `deploy_id`: the platform works out who the person is and
    /// casts [`crate::chat::ballot::Ballot::ConfirmRollback`].
    ConfirmRollback {
        deploy_id: String,
    },
    /// Start a drill of `service` if the person may: the platform works out who they are
    /// (identity, groups) and calls [`Desk::start_drill`].
    Drill {
        service: String,
    },
    /// Freeze or unfreeze if the person may: the platform works out who they are and calls
    /// [`Desk::freeze`] / [`Desk::unfreeze`].
    Freeze {
        scope: FreezeScope,
        lasting: Option<std::time::Duration>,
        reason: Option<String>,
    },
    Unfreeze {
        scope: FreezeScope,
    },
    /// Decide a held GitHub review if the person may: the platform works out who they are and
    /// calls [`Desk::gate_review`].
    GateReview {
        review: String,
        approve: bool,
    },
    /// Add `text` to `deploy_id`'s timeline as the person's note: the platform says who they
    /// are and calls [`Desk::note`]. Anyone may; no decider rights are needed.
    Note {
        deploy_id: String,
        text: String,
    },
}

/// Something is still to be decided, done or verified: a rolled-back deploy whose recovery is
/// being checked is active (its status is what people ask for then; a vote on it is answered
/// that it takes none).
fn is_active(state: State) -> bool {
    matches!(
        state,
        State::Canary
            | State::Breached
            | State::RollingBack
            | State::RolledBack
            | State::RollbackFailed
    )
}

#[derive(Clone)]
pub struct Desk {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    /// Where `/canary baseline` reads history; none without a metric source.
    pub history: Option<Arc<dyn super::History>>,
}

/// How long `/canary baseline` waits for the history: Slack and Discord want an answer within
/// 3 s.
pub const BASELINE_WAIT: std::time::Duration = std::time::Duration::from_millis(2_500);

impl Desk {
    /// The services whose threads go to `channel`; `channel_of` reads a service's channel on the
    /// platform asking.
    pub fn services_in(
        &self,
        channel: &str,
        channel_of: impl Fn(&ServiceConfig) -> Option<&str>,
    ) -> Vec<String> {
        self.config
            .services
            .iter()
            .filter(|s| channel_of(s) == Some(channel))
            .map(|s| s.name.clone())
            .collect()
    }

    /// The deploy a command means: the named service's latest deploy, or the one active canary of
    /// the services posting to this channel. The error is what to tell the person.
    pub async fn resolve(&self, here: &[String], service: Option<&str>) -> Result<String, String> {
        if let Some(svc) = service {
            let mut rows = self.latest_of(svc).await;
            return match rows.iter().filter(|r| is_active(r.state)).count() {
                2 => Err(format!(
                    "Both a canary and a drill of {svc} are active ({}); answer in the thread you mean.",
                    rows.iter()
                        .map(|r| format!("`{}`", r.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                1 => Ok(rows
                    .into_iter()
                    .find(|r| is_active(r.state))
                    .map(|r| r.id)
                    .unwrap_or_default()),
                // Nothing active: the latest real deploy, else the latest drill.
                _ if !rows.is_empty() => Ok(rows.remove(0).id),
                _ => Err(format!("No deploys of {svc} yet.")),
            };
        }
        if here.is_empty() {
            return Err(format!(
                "No canarybot service posts to this channel; name one (services: {}).",
                self.config.service_names().join(", ")
            ));
        }
        let mut active = Vec::new();
        for svc in here {
            active.extend(
                self.latest_of(svc)
                    .await
                    .into_iter()
                    .filter(|r| is_active(r.state)),
            );
        }
        match active.len() {
            1 => Ok(active.remove(0).id),
            0 => Err(format!(
                "No active canary for {} right now. Name a service to see its latest deploy.",
                here.join(", ")
            )),
            _ => Err(format!(
                "Several canaries are active here: {}. Name the service.",
                active
                    .iter()
                    .map(|r| {
                        if r.drill {
                            format!("{} {} (drill)", r.service, r.version)
                        } else {
                            format!("{} {}", r.service, r.version)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The service's latest real deploy and its latest drill, the real one first.
    async fn latest_of(&self, service: &str) -> Vec<crate::store::DeployRow> {
        let store = self.engine.store();
        let mut out = Vec::new();
        for which in [Drills::Exclude, Drills::Only] {
            if let Ok(rows) = store.deploys_where(Some(service), None, which, 1).await {
                out.extend(rows);
            }
        }
        out
    }

    pub async fn status_text(&self, deploy_id: &str) -> String {
        match self.engine.deploy(deploy_id).await {
            Ok(deploy) => {
                let root = root_view(&deploy);
                format!(
                    "*{}* — {}\n{}",
                    root.headline(),
                    root.status_line(),
                    root.status_table()
                )
            }
            Err(e) => e.to_string(),
        }
    }

    pub async fn timeline_text(&self, deploy_id: &str) -> String {
        match self.engine.load(deploy_id).await {
            Ok((deploy, events)) => {
                let p = phases(&events);
                let f = |v: Option<f64>| v.map(duration).unwrap_or_else(|| "—".into());
                let base = self
                    .config
                    .server
                    .public_url
                    .clone()
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string();
                let page = deploy.info.page_url.clone().unwrap_or_else(|| {
                    format!(
                        "{base}/deploys/{}",
                        crate::present::postmortem::path_segment(&deploy.info.id)
                    )
                });
                format!(
                    "*{}{} {}* — {}\nDetect {} · Decide {} · Execute {} · Verify {} · Total {}\nPostmortem: {page}\nMarkdown: {base}/api/deploys/{}/timeline.md",
                    if deploy.info.is_drill() { "DRILL " } else { "" },
                    deploy.info.service,
                    deploy.info.version,
                    deploy.state.as_str(),
                    f(p.detect_s),
                    f(p.decide_s),
                    f(p.execute_s),
                    f(p.verify_s),
                    f(p.total_s),
                    deploy.info.id
                )
            }
            Err(e) => e.to_string(),
        }
    }

    /// The drill history, as chat shows it.
    pub async fn drills_text(&self, service: Option<&str>) -> String {
        match crate::drill::drill_history(self.engine.store(), service).await {
            Ok(h) => crate::present::drills::to_text(&h),
            Err(e) => format!("Cannot read the drill history: {e}"),
        }
    }

    /// What normal looks like for `service` at this hour over the last days, as a table: in the
    /// environment of its latest deploy (`production` before the first).
    pub async fn baseline_text(&self, service: &str) -> String {
        let Some(history) = &self.history else {
            return "No [prometheus] is configured: there is no history to ask.".to_string();
        };
        let Some(svc) = self.config.service(service) else {
            return format!("I don't know service `{service}`.");
        };
        let environment = match self
            .engine
            .store()
            .deploys_where(Some(service), None, Drills::Exclude, 1)
            .await
        {
            Ok(rows) if !rows.is_empty() => rows[0].environment.clone(),
            _ => "production".to_string(),
        };
        let days = crate::domain::normal::DEFAULT_DAYS;
        let now = self.engine.now();
        let asked = history.normals(service, &environment, days, now);
        match tokio::time::timeout(BASELINE_WAIT, asked).await {
            Ok(Ok(normals)) => crate::present::normal::baseline_text(
                service,
                &environment,
                &svc.tracks.baseline,
                &svc.criteria,
                &normals,
                true,
            ),
            Ok(Err(e)) => format!("Cannot read the history of {service}: {e}"),
            Err(_) => format!(
                "Prometheus did not answer within {} s; `canarybot baseline --service {service}` waits longer.",
                BASELINE_WAIT.as_secs_f64()
            ),
        }
    }

    /// Starts a drill of `service` for `voter`, who must be one of its deciders. The answer is
    /// what to tell them; nothing is recorded when they may not.
    pub async fn start_drill(&self, service: &str, voter: &Voter, source: &str) -> String {
        let Some(svc) = self.config.service(service) else {
            return format!("I don't know service `{service}`.");
        };
        if authorizing_entry(&svc.deciders, voter).is_none() {
            return format!(
                "Only the deciders of {service} may start a drill ({}). Nothing was started.",
                svc.deciders.join(", ")
            );
        }
        match crate::drill::start_drill(
            &self.engine,
            &self.config,
            service,
            crate::drill::DEFAULT_BREACH_AFTER_S,
            false,
            &voter.name,
            source,
        )
        .await
        {
            Ok(applied) => format!(
                "🧯 Drill `{}` started for {service}: a synthetic breach of `drill` in {}. The canary thread opens now; vote there as for real.",
                applied.deploy.info.id,
                duration(crate::drill::DEFAULT_BREACH_AFTER_S as f64)
            ),
            Err(e) => format!("No drill started: {e}"),
        }
    }

    fn unknown_scope(&self, verb: &str, given: &str) -> String {
        let services = self.config.service_names().join(", ");
        if given.is_empty() {
            format!("Name what to {verb}: `/canary {verb} <service|all>` (services: {services}).")
        } else {
            format!("I don't know service `{given}` (services: {services}; or `all`).")
        }
    }

    /// The decider entries that may matter for freezing `scope` (a platform looks up the
    /// person's groups among them).
    pub fn freeze_deciders(&self, scope: &FreezeScope) -> Vec<String> {
        let mut entries = self.config.freeze.admins.clone();
        for svc in &self.config.services {
            if scope.covers(&svc.name) {
                entries.extend(svc.deciders.iter().cloned());
            }
        }
        entries
    }

    pub async fn freeze(
        &self,
        voter: &Voter,
        scope: FreezeScope,
        lasting: Option<std::time::Duration>,
        reason: Option<String>,
    ) -> String {
        let now = self.engine.now();
        match crate::gate::freeze(
            self.engine.store(),
            &self.config,
            scope,
            voter,
            reason,
            lasting,
            now,
        )
        .await
        {
            Ok(f) => format!(
                "🧊 {} frozen by {}{}{}. No deploy may start: GitHub reviews are rejected or held, Flagger's confirm-rollout says no, `canarybot gate` exits 3. `/canary unfreeze {}` lifts it.",
                crate::gate::scope_words(&f.scope),
                f.by_name,
                f.until_ms
                    .map(|u| format!(" until {}", crate::present::words::timestamp(u)))
                    .unwrap_or_default(),
                f.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                f.scope.label()
            ),
            Err(e) => format!("Not frozen: {e}."),
        }
    }

    pub async fn gate_review(&self, voter: &Voter, review: &str, approve: bool) -> String {
        match crate::gate::release_review(&self.engine, &self.config, review, approve, voter).await
        {
            Ok(said) => said,
            Err(e) => format!("Nothing decided: {e}."),
        }
    }

    pub async fn unfreeze(&self, voter: &Voter, scope: FreezeScope) -> String {
        let now = self.engine.now();
        let words = crate::gate::scope_words(&scope);
        match crate::gate::unfreeze(self.engine.store(), &self.config, scope, voter, now).await {
            Ok(u) => {
                let lifted = if u.lifted == 0 {
                    format!("{words} was not frozen by anyone")
                } else {
                    format!("☀️ The freeze of {words} is lifted by {}", voter.name)
                };
                match u.still {
                    Some(cause) => format!(
                        "{lifted}; it is still frozen by {} ({}).",
                        cause.by,
                        cause
                            .when
                            .clone()
                            .or(cause.reason.clone())
                            .unwrap_or_else(|| format!("a freeze of {}", cause.scope))
                    ),
                    None => format!("{lifted}."),
                }
            }
            Err(e) => format!("Not unfrozen: {e}."),
        }
    }

    /// The deploy meant: the thread's, unless a service is named; else the channel's active one.
    async fn pick(&self, place: &Place, service: Option<String>) -> Result<String, String> {
        match (&place.thread_deploy, service) {
            (Some(id), None) => Ok(id.clone()),
            (_, s) => self.resolve(&place.services_here, s.as_deref()).await,
        }
    }

    /// Records `text` as `author`'s note on `deploy_id` now (`/canary note`): said to canarybot,
    /// so no chat message is tied to it. The answer is what to tell the person.
    pub async fn note(
        &self,
        deploy_id: &str,
        author: crate::domain::deploy::Person,
        text: &str,
        source: &str,
    ) -> String {
        let input = crate::domain::deploy::Input::AddNote {
            text: text.to_string(),
            note: crate::domain::deploy::ChatNote {
                author,
                said_at_ms: self.engine.now(),
                files: Vec::new(),
                added_by: None,
                message: None,
            },
        };
        match self.engine.apply(deploy_id, input, source).await {
            Ok(_) => format!("📌 Added to the timeline of `{deploy_id}`."),
            Err(e) => format!("No note added: {e}"),
        }
    }

    /// How to give a reason, when the deploy's agreement asks for one with every vote and this
    /// command gave none: the vote is then not counted, only answered. (The domain refuses such a
    /// vote too; asked here, the person hears it at once instead of "counting your vote".)
    async fn reason_missing(
        &self,
        deploy_id: &str,
        choice: Choice,
        reason: &Option<String>,
    ) -> Option<String> {
        if reason.as_deref().is_some_and(|r| !r.trim().is_empty()) {
            return None;
        }
        let deploy = self.engine.deploy(deploy_id).await.ok()?;
        deploy.policy.require_reason.then(|| {
            crate::present::chat::said::notice(
                &crate::domain::deploy::Notice::ReasonRequired { choice },
                &deploy,
            )
        })
    }

    /// Answers a command the same way on every platform.
    pub async fn answer(&self, command: Command, place: &Place) -> Answer {
        let text = match command {
            Command::Help { unknown } => help_for(unknown.as_deref(), place.mentions),
            Command::Status { service } => match self.pick(place, service).await {
                Ok(id) => self.status_text(&id).await,
                Err(m) => m,
            },
            Command::Timeline { target } => {
                let id = match target {
                    Some(Target::Deploy(id)) => Ok(id),
                    Some(Target::Service(s)) => self.pick(place, Some(s)).await,
                    None => self.pick(place, None).await,
                };
                match id {
                    Ok(id) => self.timeline_text(&id).await,
                    Err(m) => m,
                }
            }
            Command::Drill { service, given } => match service {
                Some(service) => return Answer::Drill { service },
                None if given.is_empty() => format!(
                    "Name the service to drill: `/canary drill <service>` (services: {}).",
                    self.config.service_names().join(", ")
                ),
                None => format!(
                    "I don't know service `{given}` (services: {}).",
                    self.config.service_names().join(", ")
                ),
            },
            Command::Drills { service } => self.drills_text(service.as_deref()).await,
            Command::Baseline { service, given } => match service {
                Some(service) => self.baseline_text(&service).await,
                None if given.is_empty() => format!(
                    "Name the service: `/canary baseline <service>` (services: {}).",
                    self.config.service_names().join(", ")
                ),
                None => format!(
                    "I don't know service `{given}` (services: {}).",
                    self.config.service_names().join(", ")
                ),
            },
            Command::Freeze {
                scope,
                lasting,
                reason,
            } => match scope {
                Ok(scope) => {
                    return Answer::Freeze {
                        scope,
                        lasting,
                        reason,
                    };
                }
                Err(given) => self.unknown_scope("freeze", &given),
            },
            Command::GateReview { approve, review } => match approve {
                Some(approve) if !review.is_empty() => {
                    return Answer::GateReview { review, approve };
                }
                _ => "Say `/canary gate approve <review-id>` or `/canary gate reject <review-id>`; the id is in the thread or the service's timeline.".to_string(),
            },
            Command::Unfreeze { scope } => match scope {
                Ok(scope) => return Answer::Unfreeze { scope },
                Err(given) => self.unknown_scope("unfreeze", &given),
            },
            Command::ConfirmRollback { deploy_id } => {
                return Answer::ConfirmRollback { deploy_id };
            }
            Command::Note {
                service,
                text,
                words,
            } => {
                // In a canary thread the thread is the deploy, and every word is the note.
                let (service, text) = match &place.thread_deploy {
                    Some(_) => (None, words),
                    None => (service, text),
                };
                if text.trim().is_empty() {
                    "Write the note: `/canary note [service] <text…>`; in a canary thread, `/canary note <text…>`.".to_string()
                } else {
                    match self.pick(place, service).await {
                        Ok(deploy_id) => return Answer::Note { deploy_id, text },
                        Err(m) => format!("{m} No note added."),
                    }
                }
            }
            Command::Vote {
                choice,
                service,
                reason,
            } => match self.pick(place, service).await {
                Ok(deploy_id) => {
                    if let Some(ask) = self.reason_missing(&deploy_id, choice, &reason).await {
                        return Answer::Text(ask);
                    }
                    return Answer::Vote {
                        deploy_id,
                        choice,
                        reason,
                    };
                }
                Err(m) => m,
            },
        };
        Answer::Text(text)
    }
}
