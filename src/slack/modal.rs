//! The modal that asks for a vote's reason when the service requires one (`require_reason`):
//! opened with `views.open` on a press of *Roll back* / *Proceed*, submitted as a
//! `view_submission` whose `private_metadata` names the deploy and the choice.

use crate::domain::Choice;
use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

/// The modal's `callback_id`: a submission with another is not canarybot's vote.
pub const CALLBACK_ID: &str = "canary_vote_reason";
/// The input block holding the reason, and its element.
pub const BLOCK_ID: &str = "reason";
pub const ACTION_ID: &str = "reason_input";

/// Slack's limit on a modal's title and submit button.
const TITLE_MAX: usize = 24;

/// What the modal is for, carried in its `private_metadata` and read back on the submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub deploy_id: String,
    pub choice: Choice,
}

impl Pending {
    /// Reads a submission's `private_metadata`: it comes back from outside, so it is checked
    /// (JSON of exactly these fields, a choice canarybot offers, a deploy id of a sane length).
    pub fn read(metadata: &str) -> Result<Pending, String> {
        let p: Pending = serde_json::from_str(metadata).map_err(|e| {
            format!("view.private_metadata: not the deploy and choice canarybot wrote: {e}")
        })?;
        if p.deploy_id.trim().is_empty() {
            return Err("view.private_metadata: deploy_id is empty".into());
        }
        if p.deploy_id.chars().count() > crate::limits::DEPLOY_ID {
            return Err(format!(
                "view.private_metadata: deploy_id is longer than {} characters",
                crate::limits::DEPLOY_ID
            ));
        }
        Ok(p)
    }

    fn write(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn plain(text: impl Into<String>) -> SlackBlockPlainTextOnly {
    SlackBlockPlainText::new(text.into()).into()
}

/// The modal asking why, for a vote of `choice` on `service`'s deploy `deploy_id` (`version`).
/// Its texts are plain text: Slack renders no markup or mention in them.
pub fn reason_view(deploy_id: &str, choice: Choice, service: &str, version: &str) -> SlackView {
    let (verb, submit) = match choice {
        Choice::Rollback => ("Roll back", "Roll back"),
        Choice::Promote => ("Proceed with", "Proceed"),
    };
    let label = match choice {
        Choice::Rollback => format!("Why roll back {service} {version}?"),
        Choice::Promote => format!("Why promote {service} {version}?"),
    };
    let input = SlackBlockPlainTextInputElement::new()
        .with_action_id(ACTION_ID.into())
        .with_multiline(true)
        .with_max_length(crate::limits::REASON as u64);
    let block =
        SlackInputBlock::new(plain(cut(&label, 2000)), input.into()).with_block_id(BLOCK_ID.into());
    let pending = Pending {
        deploy_id: deploy_id.to_string(),
        choice,
    };
    SlackView::Modal(
        SlackModalView::new(
            plain(cut(&format!("{verb} {service}"), TITLE_MAX)),
            vec![block.into()],
        )
        .with_callback_id(CALLBACK_ID.into())
        .with_private_metadata(pending.write())
        .with_submit(plain(submit))
        .with_close(plain("Cancel")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The view as `views.open` sends it: Slack's documented shape, the deploy and the choice in
    /// the metadata, titles within Slack's 24 characters.
    #[test]
    fn the_view_asks_why_and_names_what_it_is_for() {
        let view = reason_view(
            "checkout:production:2.4.1",
            Choice::Rollback,
            "checkout",
            "2.4.1",
        );
        let v = serde_json::to_value(&view).expect("json");
        assert_eq!(v["type"], "modal");
        assert_eq!(v["callback_id"], CALLBACK_ID);
        assert_eq!(
            v["title"],
            json!({"type": "plain_text", "text": "Roll back checkout"})
        );
        assert_eq!(v["submit"]["text"], "Roll back");
        let block = &v["blocks"][0];
        assert_eq!(block["type"], "input");
        assert_eq!(block["block_id"], BLOCK_ID);
        assert_eq!(block["label"]["text"], "Why roll back checkout 2.4.1?");
        assert_eq!(block["element"]["type"], "plain_text_input");
        assert_eq!(block["element"]["action_id"], ACTION_ID);
        assert_eq!(block["element"]["multiline"], true);
        let metadata = v["private_metadata"].as_str().expect("metadata");
        assert_eq!(
            Pending::read(metadata),
            Ok(Pending {
                deploy_id: "checkout:production:2.4.1".into(),
                choice: Choice::Rollback
            })
        );
        let long = reason_view("x", Choice::Promote, "a-very-long-service-name", "1");
        let v = serde_json::to_value(&long).expect("json");
        let title = v["title"]["text"].as_str().expect("title");
        assert_eq!(title.chars().count(), TITLE_MAX, "{title}");
    }

    /// The metadata comes back from outside: anything but what canarybot wrote is refused,
    /// naming the field.
    #[test]
    fn metadata_from_outside_is_checked() {
        let fixture = r#"{"deploy_id":"checkout:production:2.4.1","choice":"rollback"}"#;
        assert!(Pending::read(fixture).is_ok());
        for bad in [
            "",
            "not json",
            r#"{"deploy_id":"x","choice":"abort"}"#,
            r#"{"deploy_id":"","choice":"rollback"}"#,
            r#"{"deploy_id":"x","choice":"rollback","extra":1}"#,
            &format!(
                r#"{{"deploy_id":"{}","choice":"promote"}}"#,
                "x".repeat(201)
            ),
        ] {
            let e = Pending::read(bad).expect_err(bad);
            assert!(e.starts_with("view.private_metadata: "), "{e}");
        }
    }
}
