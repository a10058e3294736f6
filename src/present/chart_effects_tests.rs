//! Charts in the thread: what a breach and its close ask for, and the text when a platform
//! refuses files.

use super::tests::*;
use crate::domain::*;
// The domain's answers in words, as the engine writes them.
use crate::present::chat::RenderedChat as ChatEffect;
use crate::present::outcome::{RenderedEffect as Effect, RenderedOutcome as Outcome};

/// The charts a breach and a close ask for: one per breached criterion (alerts have none), after
/// the breach message, cut at the time of the event; the close charts the breached criteria.
#[test]
fn a_breach_and_its_close_ask_for_the_breached_criteria_charts() {
    let charts = |out: &Outcome| {
        out.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Chat(ChatEffect::Chart { chart }) => Some(chart.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut h = Harness::new(policy());
    h.check(0.002, 0.9);
    let out = h.check(0.002, 0.9); // p99 fails 2/2 → breach
    let asked = charts(&out);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].criterion, "p99 latency");
    assert_eq!(asked[0].with, vec!["p99 latency".to_string()]);
    assert_eq!(asked[0].until_ms, h.now);
    let breach_at = out
        .effects
        .iter()
        .position(|e| matches!(e, Effect::Chat(ChatEffect::Reply { message }) if message.text.contains("BREACH")))
        .expect("the breach message");
    let chart_at = out
        .effects
        .iter()
        .position(|e| matches!(e, Effect::Chat(ChatEffect::Chart { .. })))
        .expect("the chart");
    assert!(breach_at < chart_at);
    let close = h.vote("slack:U01ALICE", &[], Choice::Promote);
    assert_eq!(h.state(), State::Promoted);
    let asked = charts(&close);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].criterion, "p99 latency");
    assert_eq!(asked[0].until_ms, h.now);

    // An alert's breach has no chart, nor has its close.
    let mut h = Harness::new(policy());
    let out = h.feed(
        Input::Alert {
            name: "HighErrorRate".into(),
            firing: true,
            annotations: Default::default(),
        },
        10_000,
    );
    assert_eq!(h.state(), State::Breached);
    assert!(charts(&out).is_empty());
    let close = h.vote("slack:U01ALICE", &[], Choice::Promote);
    assert!(charts(&close).is_empty());
}

/// The text posted instead of charts on a platform that refuses files: a link to each chart on
/// the deploy's page (id and criterion percent-encoded), or where to find them without a public
/// address.
#[test]
fn refused_charts_are_linked_in_one_line_each() {
    use crate::present::chat::said::chart_fallback;
    let criteria = vec!["p99 latency".to_string(), "5xx ratio".to_string()];
    let m = chart_fallback(
        Some("https://bot.example.com/"),
        "checkout:production:2.4.0",
        &criteria,
    );
    assert_eq!(
        m.text,
        "📈 Chart of p99 latency: https://bot.example.com/deploys/checkout%3Aproduction%3A2.4.0/charts/p99%20latency.png\n\
         📈 Chart of 5xx ratio: https://bot.example.com/deploys/checkout%3Aproduction%3A2.4.0/charts/5xx%20ratio.png"
    );
    assert!(m.buttons.is_empty() && m.mentions.is_empty() && !m.loud);
    let m = chart_fallback(None, "checkout:production:2.4.0", &criteria[..1]);
    assert_eq!(
        m.text,
        "📈 The chart of p99 latency is on the deploy's postmortem page."
    );
}
