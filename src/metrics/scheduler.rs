//! Checks every active canary whose criteria have queries, every `check_interval`, from the
//! store (so checking resumes after a restart), canary and baseline at the same evaluation time.

use super::history::{self, Ask};
use super::prometheus::{Prometheus, RangeReading, Reading, Vars, render};
use crate::Clock;
use crate::config::Config;
use crate::domain::criteria::{DEFAULT_STEP, DEFAULT_WINDOW, Judge, TrackPoints};
use crate::domain::normal;
use crate::domain::stats::SequentialCounts;
use crate::domain::{Deploy, Input, Sample, State};
use crate::engine::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// States in which the bot reads the signals: watching the canary, or verifying the rollback.
const WATCHED: &[State] = &[State::Canary, State::Breached, State::RolledBack];

pub struct Scheduler {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub prometheus: Arc<Prometheus>,
    pub clock: Clock,
    /// When each deploy was last checked (in memory: after a restart every canary is due).
    pub last: Mutex<HashMap<String, i64>>,
    /// Each deploy's reads of what was normal before it, in this process.
    pub normals: Arc<Mutex<HashMap<String, NormalReads>>>,
}

/// How often this process tried to read a deploy's normal, and whether a read is under way.
#[derive(Debug, Clone, Copy, Default)]
pub struct NormalReads {
    pub tries: u32,
    pub running: bool,
}

/// At most this many reads of a deploy's normal per process: a Prometheus that cannot answer
/// them costs a few queries, not one set per check.
pub const NORMAL_TRIES: u32 = 3;

impl Scheduler {
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        super::every_pass("scheduler pass", shutdown, || self.clone().pass()).await
    }

    /// Starts the checks that are due; returns how many.
    pub async fn pass(self: Arc<Self>) -> Result<usize, crate::store::StoreError> {
        let now = (self.clock)();
        let mut started = 0;
        for row in self.engine.store().active(WATCHED).await? {
            let Some(service) = self.config.service(&row.service) else {
                continue;
            };
            let interval = service.check_interval.as_millis() as i64;
            let due = {
                let mut last = self.last.lock().map_err(|_| {
                    crate::store::StoreError::Corrupt("scheduler lock poisoned".into())
                })?;
                match last.get(&row.id) {
                    Some(at) if now - at < interval => false,
                    _ => {
                        last.insert(row.id.clone(), now);
                        true
                    }
                }
            };
            if !due {
                continue;
            }
            let slot = format!("check:{}", row.id);
            if !super::claim_interval(&self.engine, &slot, now, interval).await? {
                continue;
            }
            started += 1;
            let me = self.clone();
            tokio::spawn(async move { me.check(&row.id, now).await });
        }
        Ok(started)
    }

    /// One check of one deploy: every criterion with a query, both tracks, one evaluation time.
    pub async fn check(&self, deploy_id: &str, now_ms: i64) {
        let deploy = match self.engine.deploy(deploy_id).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(deploy = deploy_id, error = %e, "cannot load a watched deploy");
                return;
            }
        };
        if !matches!(
            deploy.state,
            State::Canary | State::Breached | State::RolledBack
        ) {
            return;
        }
        self.read_normal(&deploy);
        let input = self.read(&deploy, now_ms).await;
        if let Some(input) = input
            && let Err(e) = self.engine.apply(deploy_id, input, "prometheus").await
        {
            tracing::warn!(deploy = deploy_id, error = %e, "scheduled check not applied");
        }
    }

    /// Reads what was normal at the deploy's hour on the last days, in a task of its own (the
    /// check never waits for it), when the deploy has criteria with a query and no normal yet:
    /// at most [`NORMAL_TRIES`] times per deploy in this process, one at a time. Drills have none.
    fn read_normal(&self, deploy: &Deploy) {
        if deploy.normal.is_some()
            || deploy.info.is_drill()
            || normal::queried(&deploy.policy.criteria).next().is_none()
        {
            return;
        }
        let id = deploy.info.id.clone();
        {
            let Ok(mut reads) = self.normals.lock() else {
                return;
            };
            let r = reads.entry(id.clone()).or_default();
            if r.running || r.tries >= NORMAL_TRIES {
                return;
            }
            r.tries += 1;
            r.running = true;
        }
        let baseline_track = self
            .config
            .service(&deploy.info.service)
            .map(|s| s.tracks.baseline.clone())
            .unwrap_or_else(|| "baseline".into());
        let (engine, prometheus, reads) = (
            self.engine.clone(),
            self.prometheus.clone(),
            self.normals.clone(),
        );
        let deploy = deploy.clone();
        tokio::spawn(async move {
            let ask = Ask {
                service: &deploy.info.service,
                environment: &deploy.info.environment,
                baseline_track: &baseline_track,
                // The hour before the deploy started, on each of the last days.
                at_ms: deploy.started_at_ms,
                days: normal::DEFAULT_DAYS,
            };
            match history::normals(&prometheus, &deploy.policy.criteria, &ask).await {
                Ok(normals) => {
                    if let Err(e) = engine
                        .apply(&id, Input::NormalFetched(normals), "prometheus")
                        .await
                    {
                        tracing::warn!(deploy = %id, error = %e, "normal at this hour not recorded");
                    }
                }
                Err(e) => {
                    tracing::warn!(deploy = %id, error = %e, "cannot read what is normal at this hour")
                }
            }
            if let Ok(mut reads) = reads.lock()
                && let Some(r) = reads.get_mut(&id)
            {
                r.running = false;
            }
        });
    }

    async fn read(&self, deploy: &Deploy, now_ms: i64) -> Option<Input> {
        let tracks = self
            .config
            .service(&deploy.info.service)
            .map(|s| s.tracks.clone())
            .unwrap_or_default();
        let at_s = now_ms as f64 / 1000.0;
        let queried: Vec<_> = deploy
            .policy
            .criteria
            .iter()
            .filter(|c| c.judge == Judge::Threshold)
            .filter_map(|c| {
                c.query
                    .as_ref()
                    .map(|q| (c.name.clone(), q.clone(), c.requests.clone()))
            })
            .collect();
        // `judge = "mann-whitney"`: both tracks over the window, at the same times.
        let windowed: Vec<_> = deploy
            .policy
            .criteria
            .iter()
            .filter(|c| c.judge == Judge::MannWhitney)
            .filter_map(|c| c.query.as_ref().map(|q| (c, q.clone())))
            .collect();
        // `judge = "sequential"`: errors and requests since the start, both tracks.
        let counted: Vec<_> = deploy
            .policy
            .criteria
            .iter()
            .filter(|c| c.judge == Judge::Sequential)
            .filter_map(|c| match (&c.errors, &c.requests) {
                (Some(e), Some(r)) => Some((c.name.clone(), e.clone(), r.clone())),
                _ => None,
            })
            .collect();
        if queried.is_empty() && counted.is_empty() && windowed.is_empty() {
            return None;
        }
        let vars = |track: &str| Vars {
            track: if track == "canary" {
                &tracks.canary
            } else {
                &tracks.baseline
            },
            service: &deploy.info.service,
            environment: &deploy.info.environment,
            version: &deploy.info.version,
        };
        let mut calls = Vec::new();
        for (name, q, requests) in &queried {
            let canary = render(q, &vars("canary"));
            let baseline = render(q, &vars("baseline"));
            // The canary's traffic behind the value, when the criterion says how to count it.
            let requests = requests.as_ref().map(|r| render(r, &vars("canary")));
            let p = self.prometheus.clone();
            let name = name.clone();
            calls.push(tokio::spawn(async move {
                let count = async {
                    match &requests {
                        Some(r) => Some(p.query(r, at_s).await),
                        None => None,
                    }
                };
                let (c, b, n) =
                    tokio::join!(p.query(&canary, at_s), p.query(&baseline, at_s), count);
                (name, c, b, n)
            }));
        }
        let mut counts_calls = Vec::new();
        for (name, errors, requests) in &counted {
            let queries = [
                render(errors, &vars("canary")),
                render(requests, &vars("canary")),
                render(errors, &vars("baseline")),
                render(requests, &vars("baseline")),
            ];
            let p = self.prometheus.clone();
            let name = name.clone();
            counts_calls.push(tokio::spawn(async move {
                let [a, b, c, d] = &queries;
                let read = tokio::join!(
                    p.query(a, at_s),
                    p.query(b, at_s),
                    p.query(c, at_s),
                    p.query(d, at_s)
                );
                (name, read)
            }));
        }
        let mut window_calls = Vec::new();
        for (c, q) in &windowed {
            // Never before the deploy started: the canary's earlier points are another version.
            // Never after now either: a checker whose clock is behind the one that started the
            // deploy would ask for a range ending before it starts, which Prometheus refuses.
            let window_ms = c.window.unwrap_or(DEFAULT_WINDOW).as_millis() as i64;
            let start_s =
                (now_ms - window_ms).max(deploy.started_at_ms).min(now_ms) as f64 / 1000.0;
            let step_s = c.step.unwrap_or(DEFAULT_STEP).as_secs_f64();
            let canary = render(q, &vars("canary"));
            let baseline = render(q, &vars("baseline"));
            let requests = c.requests.as_ref().map(|r| render(r, &vars("canary")));
            let p = self.prometheus.clone();
            let name = c.name.clone();
            window_calls.push(tokio::spawn(async move {
                let count = async {
                    match &requests {
                        Some(r) => Some(p.query(r, at_s).await),
                        None => None,
                    }
                };
                let (c, b, n) = tokio::join!(
                    p.query_range(&canary, start_s, at_s, step_s),
                    p.query_range(&baseline, start_s, at_s, step_s),
                    count
                );
                (name, c, b, n)
            }));
        }
        let mut samples = Vec::new();
        for call in window_calls {
            let Ok((criterion, canary, baseline, requests)) = call.await else {
                continue;
            };
            let (canary, baseline, canary_requests) = match both_tracks(canary, baseline, requests)
            {
                Ok(read) => read,
                Err(error) => return Some(Input::MetricsUnavailable { error }),
            };
            let points = match (canary, baseline) {
                (RangeReading::Points(canary), RangeReading::Points(baseline)) => {
                    Ok(TrackPoints { canary, baseline })
                }
                (c, b) => Err([("canary", c), ("baseline", b)]
                    .into_iter()
                    .filter_map(|(track, r)| match r {
                        RangeReading::NoData(why) => Some(format!("{track}: {why}")),
                        RangeReading::Points(_) => None,
                    })
                    .collect::<Vec<_>>()
                    .join("; ")),
            };
            samples.push(Sample {
                criterion,
                canary_requests,
                no_data_reason: points.as_ref().err().cloned(),
                points: points.ok(),
                ..Sample::default()
            });
        }
        for call in counts_calls {
            let Ok((criterion, (ce, cr, be, br))) = call.await else {
                continue;
            };
            let mut why = Vec::new();
            let mut read = |r: Result<Reading, String>, what: &str| match r {
                Ok(Reading::Value(v)) => Ok(Some(v)),
                Ok(Reading::NoData(reason)) => {
                    why.push(format!("{what}: {reason}"));
                    Ok(None)
                }
                Err(e) => Err(e),
            };
            let read = (
                read(ce, "canary errors"),
                read(cr, "canary requests"),
                read(be, "baseline errors"),
                read(br, "baseline requests"),
            );
            let (ce, cr, be, br) = match read {
                (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
                (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                    return Some(Input::MetricsUnavailable { error: e });
                }
            };
            let counts = match (ce, cr, be, br) {
                (Some(ce), Some(cr), Some(be), Some(br)) => Some(SequentialCounts {
                    canary_errors: ce,
                    canary_requests: cr,
                    baseline_errors: be,
                    baseline_requests: br,
                }),
                _ => None,
            };
            // The error rates are what the charts draw.
            let rate = |e: Option<f64>, n: Option<f64>| match (e, n) {
                (Some(e), Some(n)) if n > 0.0 => Some(e / n),
                _ => None,
            };
            samples.push(Sample {
                criterion,
                canary: rate(ce, cr),
                baseline: rate(be, br),
                no_data_reason: (!why.is_empty()).then(|| why.join("; ")),
                counts,
                ..Sample::default()
            });
        }
        for call in calls {
            let Ok((criterion, canary, baseline, requests)) = call.await else {
                continue;
            };
            let (canary, baseline, canary_requests) = match both_tracks(canary, baseline, requests)
            {
                Ok(read) => read,
                Err(error) => return Some(Input::MetricsUnavailable { error }),
            };
            let mut why = Vec::new();
            let value = |r: Reading, track: &str, why: &mut Vec<String>| match r {
                Reading::Value(v) => Some(v),
                Reading::NoData(reason) => {
                    why.push(format!("{track}: {reason}"));
                    None
                }
            };
            let canary = value(canary, "canary", &mut why);
            let baseline = value(baseline, "baseline", &mut why);
            samples.push(Sample {
                criterion,
                canary,
                baseline,
                no_data_reason: (!why.is_empty()).then(|| why.join("; ")),
                canary_requests,
                ..Sample::default()
            });
        }
        Some(Input::Check {
            samples,
            at_ms: Some(now_ms),
        })
    }
}

/// Both tracks' readings, or the source's failure; and the canary's request count when it could
/// be read (one that cannot leaves the value to be judged on its own).
fn both_tracks<T>(
    canary: Result<T, String>,
    baseline: Result<T, String>,
    requests: Option<Result<Reading, String>>,
) -> Result<(T, T, Option<f64>), String> {
    let canary_requests = match requests {
        Some(Ok(Reading::Value(n))) => Some(n),
        _ => None,
    };
    Ok((canary?, baseline?, canary_requests))
}
