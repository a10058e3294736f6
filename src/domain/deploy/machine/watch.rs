//! Watching after promotion: each criterion with a `watch_query` is checked every watch interval
//! against the same query 1 and 7 days earlier; `watch_failure_limit` failing checks in a row are
//! a drift, posted in the deploy's thread with *Roll back* while the deploy is still the latest.

use super::Work;
use crate::domain::deploy::effect::Said;
use crate::domain::deploy::event::{DriftReading, EventData, WatchEnd};
use crate::domain::deploy::input::WatchReading;
use crate::domain::deploy::model::{BOT, State};

/// How a watch check of one criterion came out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WatchVerdict {
    /// Above `ratio` × every reference that has data.
    Fail,
    Pass,
    /// No value now, or no reference at all: neither fails nor resets the streak.
    NoData,
}

/// Judges one reading: fails when the value is above `ratio` times each reference that exists
/// (at least one must).
pub fn judge(r: &WatchReading, ratio: f64) -> WatchVerdict {
    let Some(value) = r.value.filter(|v| v.is_finite()) else {
        return WatchVerdict::NoData;
    };
    let refs: Vec<f64> = [r.day_ago, r.week_ago]
        .into_iter()
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    if refs.is_empty() {
        return WatchVerdict::NoData;
    }
    if refs.iter().all(|reference| value > ratio * reference) {
        WatchVerdict::Fail
    } else {
        WatchVerdict::Pass
    }
}

impl Work {
    /// Starts the watch when the deploy was just promoted and its policy watches it. Called once
    /// per input, after every path that can promote (a decision, the deploy system, Flagger).
    pub(super) fn start_watch(&mut self, was: State) {
        let Some(watch) = self.d.policy.watch else {
            return;
        };
        if was == State::Promoted
            || self.d.state != State::Promoted
            || self.d.info.is_drill()
            || self.d.watch.until_ms.is_some()
        {
            return;
        }
        let criteria: Vec<String> = self
            .d
            .policy
            .criteria
            .iter()
            .filter(|c| c.watch_query.is_some())
            .map(|c| c.name.clone())
            .collect();
        if criteria.is_empty() {
            return;
        }
        let until_ms = self
            .now_ms
            .saturating_add((watch.after_promotion_s as i64).saturating_mul(1000));
        self.emit(
            BOT,
            EventData::WatchStarted {
                until_ms,
                interval_s: watch.interval_s,
                criteria,
            },
        );
        self.say(Said::WatchStarted);
    }

    /// Ends the watch: at its end, or because the deploy is being rolled back.
    pub(super) fn end_watch(&mut self, why: WatchEnd) {
        if !self.d.watch.open() {
            return;
        }
        let checks = self.watch_checks.unwrap_or(0);
        let drifts = self.d.watch.drifts;
        self.emit(
            BOT,
            EventData::WatchEnded {
                checks,
                drifts,
                why,
            },
        );
        self.say(Said::WatchEnded {
            checks,
            drifts,
            why,
        });
    }

    /// Time passing: the watch ends at `until_ms`.
    pub(super) fn watch_deadline(&mut self) {
        if let Some(until) = self.d.watch.until_ms
            && self.d.watch.open()
            && self.now_ms >= until
        {
            self.end_watch(WatchEnd::Elapsed);
        }
    }

    /// One watch check. Ignored unless the watch runs; a check at or after its end ends it.
    pub(super) fn watch_check(&mut self, readings: Vec<WatchReading>, at_ms: i64) {
        if !self.d.watch.open() || self.d.state != State::Promoted {
            return;
        }
        if self
            .d
            .watch
            .until_ms
            .is_some_and(|until| at_ms.max(self.now_ms) >= until)
        {
            self.end_watch(WatchEnd::Elapsed);
            return;
        }
        let mut drifting = Vec::new();
        for r in readings {
            let Some(c) = self
                .d
                .policy
                .criterion(&r.criterion)
                .filter(|c| c.watch_query.is_some())
                .cloned()
            else {
                continue;
            };
            let (ratio, limit) = (c.watch_ratio(), c.watch_limit());
            let before = self.d.watch.failing.get(&c.name).copied().unwrap_or(0);
            let value = r.value.unwrap_or_default();
            match judge(&r, ratio) {
                WatchVerdict::NoData => {}
                WatchVerdict::Fail => {
                    let consecutive = before + 1;
                    self.emit(
                        BOT,
                        EventData::WatchCheckFailed {
                            criterion: c.name.clone(),
                            value,
                            day_ago: r.day_ago,
                            week_ago: r.week_ago,
                            ratio,
                            consecutive,
                            limit,
                        },
                    );
                    if consecutive == limit && !self.d.watch.drifted.contains(&c.name) {
                        drifting.push(DriftReading {
                            criterion: c.name.clone(),
                            value,
                            day_ago: r.day_ago,
                            week_ago: r.week_ago,
                            ratio,
                            consecutive,
                        });
                    }
                }
                WatchVerdict::Pass => {
                    if before > 0 {
                        let drifted = self.d.watch.drifted.contains(&c.name);
                        self.emit(
                            BOT,
                            EventData::WatchRecovered {
                                criterion: c.name.clone(),
                                value,
                                day_ago: r.day_ago,
                                week_ago: r.week_ago,
                            },
                        );
                        // Only a drift the thread heard of is called over there.
                        if drifted && before >= limit {
                            self.say(Said::DriftRecovered {
                                criterion: c.name.clone(),
                                value,
                                day_ago: r.day_ago,
                                week_ago: r.week_ago,
                            });
                        }
                    }
                }
            }
        }
        if !drifting.is_empty() {
            self.emit(
                BOT,
                EventData::DriftDetected {
                    criteria: drifting.clone(),
                },
            );
            self.say(Said::Drift {
                criteria: drifting,
                newer: self.newer_deploy.clone(),
            });
        }
    }

    /// A rollback vote on a promoted deploy counts while a drift is open and the watch runs.
    pub(super) fn drift_vote_open(&self) -> bool {
        self.d.state == State::Promoted && self.d.watch.open() && self.d.watch.drift_open
    }
}
