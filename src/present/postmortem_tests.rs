//! The Markdown postmortem: criteria changed after the lock, outside text escaped.

use super::tests::*;
use crate::domain::*;

/// A bound changed in the configuration after the lock is called out; the locked one applied.
#[test]
fn postmortem_calls_out_criteria_changed_after_the_lock() {
    let h = Harness::new(policy());
    let mut now = policy().criteria;
    now[0].max = Some(0.05);
    now.push(Criterion {
        name: "saturation".into(),
        max: Some(0.9),
        failure_limit: 3,
        ..Criterion::default()
    });
    let pm = |criteria_now| super::postmortem::Postmortem {
        deploy: h.deploy(),
        events: h.events.clone(),
        samples: Default::default(),
        links: Default::default(),
        threads: vec![super::postmortem::ThreadLink {
            platform: "slack".into(),
            url: "https://acme.slack.com/archives/C1/p1".into(),
        }],
        criteria_now,
    };
    let md = super::postmortem::to_markdown(&pm(Some(now)));
    assert!(md.contains("**⚠️ Changed after the lock.**"), "{md}");
    assert!(md.contains("- `5xx ratio`: locked as ≤ 0.01"), "{md}");
    assert!(md.contains("configured now as ≤ 0.05"), "{md}");
    assert!(md.contains("- `saturation`: added to the configuration since the lock"));
    assert!(md.contains("| slack thread | [https://acme.slack.com/archives/C1/p1]"));
    assert!(md.contains("this postmortem is not final"));
    let md = super::postmortem::to_markdown(&pm(None));
    assert!(
        md.contains("Service checkout is no longer configured"),
        "{md}"
    );
}

/// Text from outside (a vote's reason, here) is data in the Markdown postmortem too: in the
/// Votes table and in the timeline's summary it never becomes a link, an image or a tag.
#[test]
fn outside_text_in_the_markdown_postmortem_is_escaped() {
    let mut h = Harness::new(policy());
    h.feed(
        Input::Vote(Vote {
            voter: Voter {
                identity: "slack:U01ALICE".into(),
                name: "alice *admin*".into(),
                groups: vec![],
                person: None,
                aliases: vec![],
                deploys_as: vec![],
            },
            choice: Choice::Rollback,
            reason: Some("<img src=x> [x](javascript:alert(1)) | ![i](http://e/i.png)".into()),
        }),
        30_000,
    );
    let md = h.postmortem();
    assert!(!md.contains("[x](javascript"), "{md}");
    assert!(!md.contains("![i]("), "{md}");
    assert!(!md.contains("<img"), "{md}");
    assert!(md.contains("\\[x\\](javascript:alert(1))"), "{md}");
    assert!(md.contains("&lt;img src=x&gt;"), "{md}");
    assert!(md.contains("alice \\*admin\\*"), "{md}");
}
