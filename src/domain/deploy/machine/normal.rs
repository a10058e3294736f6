//! What was normal at this hour before the deploy: recorded once, for real deploys only. It is
//! shown beside the criteria and never judged: the agreed bounds stay the people's.

use super::Work;
use crate::domain::deploy::event::EventData;
use crate::domain::deploy::model::BOT;
use crate::domain::normal::Normals;

impl Work {
    /// Records the first normal fetched; a second (another replica, a retry that overlapped)
    /// and a drill's (its signal is synthetic) change nothing.
    pub(super) fn normal_fetched(&mut self, normals: Normals) {
        if self.d.normal.is_some() || self.d.info.is_drill() {
            return;
        }
        self.emit(BOT, EventData::NormalRecorded(normals));
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::criteria::Criterion;
    use crate::domain::deploy::event::EventData;
    use crate::domain::deploy::{ChatEffect, Deploy, Drill, Effect, Input, start};
    use crate::domain::normal::{NoNormal, Normal, Normals};
    use crate::domain::{DeployInfo, OnBreach, OnPass, Policy};

    fn deploy(drill: bool) -> Deploy {
        let info = DeployInfo {
            id: "checkout:production:1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "1".into(),
            drill: drill.then_some(Drill {
                breach_after_s: 30,
                page: false,
            }),
            ..Default::default()
        };
        let policy = Policy {
            criteria: vec![Criterion {
                name: "p99 latency".into(),
                max: Some(0.5),
                query: Some("p99{track=\"{{track}}\"}".into()),
                ..Criterion::default()
            }],
            deciders: vec!["slack:U01ALICE".into()],
            rollback_quorum: 1,
            promote_quorum: 1,
            on_breach: OnBreach::Ask,
            on_pass: OnPass::Ask,
            canary_window_s: 900,
            verify_checks: 2,
            executor: None,
            no_data_limit: 3,
            verify_timeout_s: 600,
            escalation: None,
            require_reason: false,
            forbid_self_promote: false,
            watch: None,
        };
        start(info, policy, 0, "test").deploy
    }

    fn normals(median: f64) -> Normals {
        Normals {
            at_ms: 0,
            days: 7,
            normals: vec![Normal {
                criterion: "p99 latency".into(),
                days_asked: 7,
                days_with_data: 6,
                points: 366,
                p1: 0.2,
                p5: 0.24,
                median,
                p95: 0.28,
                p99: 0.29,
            }],
            missing: vec![NoNormal {
                criterion: "gone".into(),
                reason: "no data".into(),
            }],
        }
    }

    #[test]
    fn the_first_normal_is_recorded_and_rewrites_the_root_a_second_changes_nothing() {
        let mut d = deploy(false);
        let out = d
            .handle(Input::NormalFetched(normals(0.25)), 1_000, "prometheus")
            .expect("handled");
        assert_eq!(out.events.len(), 1);
        assert!(
            matches!(&out.events[0].data, EventData::NormalRecorded(n) if n.normals[0].median == 0.25)
        );
        assert!(
            out.effects.contains(&Effect::Chat(ChatEffect::UpdateRoot)),
            "the root shows it: {:?}",
            out.effects
        );
        for e in &out.events {
            d.apply(e);
        }
        assert_eq!(d.normal.as_ref().map(|n| n.normals[0].median), Some(0.25));
        let again = d
            .handle(Input::NormalFetched(normals(9.0)), 2_000, "prometheus")
            .expect("handled");
        assert!(
            again.events.is_empty() && again.effects.is_empty(),
            "{again:?}"
        );
        // Folded from the timeline, the first stays.
        let mut replay = d.clone();
        replay.apply(&crate::domain::deploy::Event {
            seq: 9,
            at_ms: 3_000,
            actor: "canarybot".into(),
            source: "prometheus".into(),
            summary: String::new(),
            data: EventData::NormalRecorded(normals(9.0)),
        });
        assert_eq!(
            replay.normal.as_ref().map(|n| n.normals[0].median),
            Some(0.25)
        );
    }

    #[test]
    fn a_drill_records_no_normal() {
        let d = deploy(true);
        let out = d
            .handle(Input::NormalFetched(normals(0.25)), 1_000, "prometheus")
            .expect("handled");
        assert!(out.events.is_empty() && out.effects.is_empty(), "{out:?}");
    }

    #[test]
    fn the_event_reads_back_as_stored() {
        let e = EventData::NormalRecorded(normals(0.25));
        let back = EventData::from_parts("normal_recorded", &e.details_json()).expect("reads");
        assert_eq!(back, e);
    }
}
