//! People's notes from chat: a pinned message or `/canary note` becomes a `note` at the time it
//! was said; taking the pin off withdraws it. Notes are not votes: anyone may add one, in any
//! state of the deploy (a postmortem is written after the deploy ends), and the author is always
//! kept.

use super::Work;
use crate::domain::deploy::event::{ChatNote, EventData, MessageRef, Person};
use crate::domain::deploy::fold::noted_key;

impl Work {
    /// Records the note, unless its message is already noted (a second 📌, a redelivery).
    pub(super) fn add_note(&mut self, text: String, note: ChatNote) {
        if let Some(m) = &note.message
            && self.d.noted.contains_key(&noted_key(m))
        {
            return;
        }
        let actor = note.adder().identity.clone();
        self.emit(
            &actor,
            EventData::Note {
                text,
                chat: Some(note),
            },
        );
    }

    /// Withdraws the message's note when `by` is who added it; anything else changes nothing
    /// (someone else's second 📌 taken off, a message never noted, a redelivery).
    pub(super) fn withdraw_note(&mut self, message: MessageRef, by: Person) {
        if self.d.noted.get(&noted_key(&message)) != Some(&by.identity) {
            return;
        }
        let actor = by.identity.clone();
        self.emit(&actor, EventData::NoteWithdrawn { message, by });
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::criteria::Criterion;
    use crate::domain::deploy::event::{ChatNote, EventData, FileLink, MessageRef, Person};
    use crate::domain::deploy::{Deploy, Input, State, start};
    use crate::domain::{DeployInfo, OnBreach, OnPass, Policy};

    fn person(id: &str, name: &str) -> Person {
        Person {
            identity: format!("slack:{id}"),
            name: name.into(),
        }
    }

    fn message(ts: &str) -> MessageRef {
        MessageRef {
            platform: "slack".into(),
            thread: "C1:100.000".into(),
            message: ts.into(),
        }
    }

    fn pinned(ts: &str, by: Option<Person>) -> Input {
        Input::AddNote {
            text: "it is the payment provider, not us".into(),
            note: ChatNote {
                author: person("U03BOB", "bob"),
                said_at_ms: 1_000,
                files: vec![FileLink {
                    name: "grafana.png".into(),
                    url: "https://files.example/grafana.png".into(),
                }],
                added_by: by,
                message: Some(message(ts)),
            },
        }
    }

    fn deploy() -> Deploy {
        let info = DeployInfo {
            id: "checkout:production:1".into(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "1".into(),
            ..Default::default()
        };
        let policy = Policy {
            criteria: vec![Criterion {
                name: "5xx ratio".into(),
                max: Some(0.01),
                failure_limit: 3,
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

    /// Runs inputs in order, folding each outcome's events; returns every event.
    fn run(d: &mut Deploy, inputs: Vec<Input>) -> Vec<EventData> {
        let mut all = Vec::new();
        for (i, input) in inputs.into_iter().enumerate() {
            let out = d
                .handle(input, 10_000 + i as i64, "slack")
                .expect("handled");
            for e in &out.events {
                d.apply(e);
                all.push(e.data.clone());
            }
        }
        all
    }

    #[test]
    fn a_pinned_message_is_noted_once_and_names_its_message_and_who_pinned_it() {
        let mut d = deploy();
        let carol = person("U02CAROL", "carol");
        let events = run(
            &mut d,
            vec![
                pinned("1.2", Some(carol.clone())),
                pinned("1.2", Some(person("U04DAVE", "dave"))),
                pinned("1.2", None),
            ],
        );
        assert_eq!(events.len(), 1, "one note for one message: {events:?}");
        let EventData::Note {
            text,
            chat: Some(chat),
        } = &events[0]
        else {
            panic!("a person's note: {events:?}");
        };
        assert_eq!(text, "it is the payment provider, not us");
        assert_eq!(chat.author.name, "bob");
        assert_eq!(chat.added_by.as_ref(), Some(&carol));
        assert_eq!(chat.said_at_ms, 1_000);
        assert_eq!(events[0].message_ref(), Some(&message("1.2")));
        assert_eq!(events[0].kind(), "note");
        assert_eq!(d.state, State::Canary, "a note decides nothing");
    }

    #[test]
    fn only_who_pinned_withdraws_and_pinning_again_notes_anew() {
        let mut d = deploy();
        let carol = person("U02CAROL", "carol");
        let withdraw = |by: &Person| Input::WithdrawNote {
            message: message("1.2"),
            by: by.clone(),
        };
        let events = run(
            &mut d,
            vec![
                withdraw(&carol),
                pinned("1.2", Some(carol.clone())),
                withdraw(&person("U04DAVE", "dave")),
                withdraw(&carol),
                withdraw(&carol),
                pinned("1.2", Some(carol.clone())),
            ],
        );
        let kinds: Vec<_> = events.iter().map(EventData::kind).collect();
        assert_eq!(kinds, ["note", "note_withdrawn", "note"]);
        assert_eq!(events[1].message_ref(), Some(&message("1.2")));
    }

    #[test]
    fn notes_without_a_message_always_add_and_a_final_deploy_still_takes_notes() {
        let mut d = deploy();
        d.state = State::RollbackVerified;
        let note = || Input::AddNote {
            text: "customers saw errors for 4 minutes".into(),
            note: ChatNote {
                author: person("U03BOB", "bob"),
                said_at_ms: 5_000,
                files: Vec::new(),
                added_by: None,
                message: None,
            },
        };
        let events = run(&mut d, vec![note(), note()]);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn notes_stored_before_people_could_add_them_read_and_store_as_they_were() {
        let old = r#"{"text":"GitHub says the deployment is in progress"}"#;
        let e = EventData::from_parts("note", old).expect("reads");
        assert_eq!(
            e,
            EventData::note("GitHub says the deployment is in progress")
        );
        assert_eq!(e.details_json(), old);
        assert_eq!(e.message_ref(), None);
        let Input::AddNote { text, note } = pinned("1.2", None) else {
            unreachable!()
        };
        let new = EventData::Note {
            text,
            chat: Some(note),
        };
        let back = EventData::from_parts("note", &new.details_json()).expect("reads");
        assert_eq!(back, new);
    }
}
