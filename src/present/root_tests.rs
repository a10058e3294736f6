//! The thread's root and closing summary as people read them: live values, the outcome, the
//! recovery checks, and exactly when it is rewritten.

use super::tests::*;
use crate::domain::*;
// The domain's answers in words, as the engine writes them.
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::{RenderedEffect as Effect, start};

/// The thread hears once, when the deploy ends, how long each phase took and where the page is.
#[test]
fn closing_summary_once_at_the_final_state() {
    let mut i = info();
    i.page_url = Some("https://bot.example.com/deploys/x".into());
    let out = start(i, policy(), 1_000_000, "test");
    let mut h = Harness {
        events: out.events,
        effects: out.effects,
        now: 1_000_000,
    };
    let closing = |h: &Harness| {
        h.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Chat(ChatEffect::Reply { message }) if message.text.starts_with("🏁") => {
                    Some(message.text.clone())
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    h.check(0.004, 0.2);
    h.vote("slack:U01ALICE", &[], Choice::Promote);
    assert_eq!(h.state(), State::Promoted);
    let texts = closing(&h);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(
        texts[0],
        "🏁 Closed: ✅ promoted.\nDetect — · Decide 35.0s · Execute — · Verify — · Total 35.0s\nPostmortem: https://bot.example.com/deploys/x"
    );
    h.feed(
        Input::Pipeline {
            event: PipelineEvent::Promoted,
            actor: None,
            description: None,
        },
        1_000,
    );
    assert_eq!(closing(&h).len(), 1, "said once");
}

#[test]
fn the_root_shows_live_values_and_gives_way_to_the_outcome() {
    let mut h = Harness::new(policy());
    let out = h.check(0.02, 0.2);
    let root = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::UpdateRoot { root }) => Some(*root.clone()),
            _ => None,
        })
        .expect("root updated");
    assert_eq!(root.criteria[0].canary, Some(0.02));
    assert_eq!(root.criteria[0].baseline, Some(0.004));
    assert_eq!(root.criteria[0].status(), "❌ failing 1/3");
    assert_eq!(root.criteria[1].status(), "✅ passing");
    assert_eq!(root.buttons, vec![Choice::Rollback, Choice::Promote]);
    assert!(root.outcome.is_none());
    assert_eq!(root.headline(), "Canary · checkout v2.4.1 → production");

    // A second identical failing check: no new reply, only the count in the root.
    let out = h.check(0.02, 0.2);
    assert!(
        !out.effects
            .iter()
            .any(|e| matches!(e, Effect::Chat(ChatEffect::Reply { .. })))
    );
    // A check that changes nothing posts nothing at all.
    let mut quiet = Harness::new(policy());
    quiet.check(0.002, 0.2);
    let out = quiet.check(0.002, 0.2);
    assert!(out.effects.is_empty(), "{:?}", out.effects);

    let out = h.check(0.02, 0.2);
    let breach = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::Reply { message }) if message.text.contains("BREACH") => {
                Some(message.clone())
            }
            _ => None,
        })
        .expect("breach reply");
    assert_eq!(
        breach.mentions,
        vec!["slack:U01ALICE", "slack-group:S01SRE"]
    );
    h.vote("slack:U01ALICE", &[], Choice::Rollback);
    let root = super::chat::root_view(&h.deploy());
    assert!(root.buttons.is_empty(), "decided: the buttons give way");
    assert_eq!(
        root.outcome.as_deref(),
        Some("Decision: rollback by slack:U01ALICE (p99 doubled) → ⏪ rolling back")
    );
}

#[test]
fn the_side_by_side_table() {
    let mut p = policy();
    p.criteria[1].unit = Some("s".into());
    p.criteria[0].unit = Some("req/s".into());
    let mut h = Harness::new(p);
    h.check(0.002, 0.9);
    h.check(0.002, 0.9);
    let root = super::chat::root_view(&h.deploy());
    let table = root.status_table();
    let header = table.lines().nth(1).unwrap_or_default().to_string();
    for col in ["criterion", "baseline", "canary", "bound", "verdict"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        table.contains("0.9s") && table.contains("0.2s"),
        "units stick to the number: {table}"
    );
    assert!(table.contains("0.002 req/s"), "{table}");
    assert!(table.contains("❌ breached"), "{table}");
    assert!(table.contains("✅ pass"), "{table}");
    assert_eq!(super::words::with_unit(Some(250.0), Some("ms")), "250ms");
    assert_eq!(super::words::with_unit(None, Some("ms")), "—");
}

/// After recovery is verified, the root tells the recovery checks, not the canary's last failing
/// verdicts ("✅ rolled back, recovery verified" beside "p99 latency ❌ failing 2/2" read as if
/// the service were still failing).
#[test]
fn the_final_root_shows_the_recovery_checks() {
    let mut h = Harness::new(policy());
    h.check(0.002, 0.9);
    h.check(0.002, 0.9); // p99 fails 2/2 → breach
    assert_eq!(h.state(), State::Breached);
    let out = h.vote("slack:U01ALICE", &[], Choice::Rollback);
    let decision_id = executes(&out)[0].decision_id.clone();
    h.feed(
        Input::Executor {
            decision_id,
            outcome: ExecutorOutcome::Done {
                detail: "200".into(),
            },
        },
        1_000,
    );
    assert_eq!(h.state(), State::RolledBack);
    let before = super::chat::root_view(&h.deploy());
    assert!(before.text().contains("p99 latency"), "{}", before.text());
    assert!(
        before.text().contains("❌ failing 2/2"),
        "{}",
        before.text()
    );

    // The recovery checks judge the baseline track against the absolute bounds: p99 0.2 ≤ 0.5.
    h.check(0.009, 0.9);
    let out = h.check(0.009, 0.9);
    assert_eq!(h.state(), State::RollbackVerified);

    // What chat is sent last, and what the stored timeline folds to, both tell the recovery.
    let sent = out
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Chat(ChatEffect::UpdateRoot { root }) => Some(*root.clone()),
            _ => None,
        })
        .expect("the root is updated");
    let folded = super::chat::root_view(&h.deploy());
    assert_eq!(sent, folded);
    let text = folded.text();
    assert!(text.contains("✅ rolled back, recovery verified"), "{text}");
    assert!(!text.contains("❌"), "{text}");
    let p99 = folded
        .criteria
        .iter()
        .find(|c| c.name == "p99 latency")
        .expect("p99 row");
    assert_eq!(p99.verdict_cell(), "✅ pass");
    assert_eq!(p99.status(), "✅ passing");
    assert_eq!(p99.baseline, Some(0.2));
    assert!(
        super::chat::status_table(&folded).contains("✅ pass"),
        "{}",
        super::chat::status_table(&folded)
    );
}

/// The domain decides when the root is rewritten from its own facts (`Deploy::root_facts`); the
/// words come from `root_view`. They must agree: a fact missing there would leave the root stale,
/// one too many would rewrite it for nothing.
#[test]
fn the_root_is_rewritten_exactly_when_what_it_shows_changes() {
    use crate::domain::deploy::ChatEffect as Fact;
    use crate::present::chat::root_view;
    let mut p = policy();
    p.rollback_quorum = 2;
    let mut events = crate::domain::deploy::start(info(), p, 1_000_000, "test").events;
    let sample = |name: &str, canary: Option<f64>| Sample {
        criterion: name.into(),
        canary,
        baseline: Some(0.004),
        ..Sample::default()
    };
    let check = |five_xx: Option<f64>, p99: Option<f64>| Input::Check {
        at_ms: None,
        samples: vec![sample("5xx ratio", five_xx), sample("p99 latency", p99)],
    };
    let vote = |who: &str, choice: Choice, reason: &str| {
        Input::Vote(Vote {
            voter: Voter {
                identity: who.into(),
                name: who.into(),
                groups: vec![],
                person: None,
                aliases: vec![],
                deploys_as: vec![],
            },
            choice,
            reason: Some(reason.into()),
        })
    };
    let inputs = vec![
        check(Some(0.002), Some(0.2)),
        check(Some(0.002), Some(0.2)), // the same values again: nothing to show
        check(Some(0.003), Some(0.2)), // a new value, no event
        check(None, Some(0.2)),
        check(Some(0.02), Some(0.9)),
        check(Some(0.02), Some(0.9)),
        vote("slack:U09MALLORY", Choice::Rollback, "no"),
        vote("slack:U01ALICE", Choice::Rollback, "p99 doubled"),
        vote("slack:U01ALICE", Choice::Rollback, "again"),
        Input::Tick,
    ];
    let (mut now, mut rewrites, mut quiet) = (1_000_000, 0, 0);
    for input in inputs {
        now += 30_000;
        let before = Deploy::fold(&events).expect("fold");
        let out = before.handle(input.clone(), now, "test").expect("handle");
        let rewritten = out
            .effects
            .iter()
            .any(|e| matches!(e, crate::domain::Effect::Chat(Fact::UpdateRoot)));
        let changed = root_view(&out.deploy) != root_view(&before);
        assert_eq!(rewritten, changed, "after {input:?}");
        if changed {
            rewrites += 1
        } else {
            quiet += 1
        }
        events.extend(out.events);
    }
    assert!(
        rewrites >= 4 && quiet >= 2,
        "{rewrites} rewrites, {quiet} quiet"
    );
}
