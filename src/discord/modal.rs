//! The modal that asks for a vote's reason when the service requires one (`require_reason`): the
//! answer (type 9) to a press of *Roll back* / *Proceed*; its submission (MODAL_SUBMIT) carries
//! the `custom_id` written here, naming the choice and the deploy.

use crate::domain::Choice;
use serenity::all::InputTextStyle;
use serenity::builder::{CreateActionRow, CreateInputText, CreateInteractionResponse, CreateModal};
use serenity::model::application::{ActionRowComponent, ModalInteractionData};

/// The modal's `custom_id` starts so: `canary_reason:<rollback|promote>:<deploy id>`.
pub const PREFIX: &str = "canary_reason";
/// The text input holding the reason.
pub const REASON_FIELD: &str = "reason";
/// Discord's limits: a `custom_id` of 100 characters, a title and a label of 45.
const CUSTOM_ID_MAX: usize = 100;
const TITLE_MAX: usize = 45;

/// `text` cut to `max` characters, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `canary_reason:rollback:<deploy id>`, or without the id when it does not fit Discord's 100
/// characters (the submission then names the deploy by the message the button is on).
pub fn custom_id(choice: Choice, deploy_id: &str) -> String {
    let full = format!("{PREFIX}:{}:{deploy_id}", choice.as_str());
    if full.len() <= CUSTOM_ID_MAX {
        full
    } else {
        format!("{PREFIX}:{}", choice.as_str())
    }
}

/// A submission's `custom_id` read back (it comes from outside): the choice, if it is one of
/// canarybot's modals, and the deploy id (empty when it did not fit).
pub fn read_custom_id(custom_id: &str) -> Option<(Choice, &str)> {
    let rest = custom_id.strip_prefix(PREFIX)?.strip_prefix(':')?;
    let (choice, deploy) = rest.split_once(':').unwrap_or((rest, ""));
    let choice = match choice {
        "rollback" => Choice::Rollback,
        "promote" => Choice::Promote,
        _ => return None,
    };
    Some((choice, deploy))
}

/// The answer to a press that opens the modal: one required paragraph field for the reason.
pub fn ask_reason(
    deploy_id: &str,
    choice: Choice,
    service: &str,
    version: &str,
) -> CreateInteractionResponse {
    let (title, label) = match choice {
        Choice::Rollback => (
            format!("Roll back {service}"),
            format!("Why roll back {service} {version}?"),
        ),
        Choice::Promote => (
            format!("Proceed with {service}"),
            format!("Why promote {service} {version}?"),
        ),
    };
    let field = CreateInputText::new(
        InputTextStyle::Paragraph,
        cut(&label, TITLE_MAX),
        REASON_FIELD,
    )
    .required(true)
    .max_length(crate::limits::REASON as u16);
    CreateInteractionResponse::Modal(
        CreateModal::new(custom_id(choice, deploy_id), cut(&title, TITLE_MAX))
            .components(vec![CreateActionRow::InputText(field)]),
    )
}

/// The reason typed, trimmed; empty when the field is missing or blank.
pub fn reason(data: &ModalInteractionData) -> String {
    data.components
        .iter()
        .flat_map(|row| &row.components)
        .find_map(|c| match c {
            ActionRowComponent::InputText(t) if t.custom_id == REASON_FIELD => t.value.clone(),
            _ => None,
        })
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The answer as Discord receives it: type 9 with the documented modal shape.
    #[test]
    fn the_modal_answer_has_discords_shape() {
        let answer = ask_reason(
            "checkout:production:2.4.1",
            Choice::Rollback,
            "checkout",
            "2.4.1",
        );
        let v = serde_json::to_value(&answer).expect("json");
        assert_eq!(
            v,
            json!({"type": 9, "data": {
                "custom_id": "canary_reason:rollback:checkout:production:2.4.1",
                "title": "Roll back checkout",
                "components": [{"type": 1, "components": [{
                    "type": 4, "custom_id": "reason", "style": 2,
                    "label": "Why roll back checkout 2.4.1?", "required": true,
                    "max_length": crate::limits::REASON,
                }]}],
            }})
        );
    }

    /// `custom_id`s read back as the choice and deploy they stand for; others are not ours.
    #[test]
    fn custom_ids_round_trip_and_long_ids_are_left_out() {
        let id = custom_id(Choice::Promote, "checkout:production:2.4.1");
        assert_eq!(
            read_custom_id(&id),
            Some((Choice::Promote, "checkout:production:2.4.1"))
        );
        let long = "x".repeat(90);
        let id = custom_id(Choice::Rollback, &long);
        assert_eq!(id, "canary_reason:rollback");
        assert_eq!(read_custom_id(&id), Some((Choice::Rollback, "")));
        for other in [
            "canary_rollback:x",
            "canary_reason:abort:x",
            "canary_reasonx:rollback:x",
            "",
        ] {
            assert_eq!(read_custom_id(other), None, "{other}");
        }
    }
}
