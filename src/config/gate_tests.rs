//! `[freeze]` and `[service.gate]`: scheduled freezes, who may freeze everything, a service's gate.

use super::tests::{GOOD, env, names_all, refused};

fn with_freeze(freeze: &str) -> String {
    format!("{GOOD}\n{freeze}")
}

#[test]
fn scheduled_freezes_by_date_and_by_weekly_window_load() {
    let text = with_freeze(
        r#"[freeze]
admins = ["slack:U01ALICE"]

[[freeze.schedule]]
services = ["*"]
from = "2026-12-24T00:00:00Z"
to = "2026-12-27T00:00:00Z"
reason = "holidays"

[[freeze.schedule]]
services = ["checkout"]
weekly = "Fri 16:00 - Mon 08:00"
timezone = "Europe/Berlin"
"#,
    );
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let s = c.freeze.scheduled();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].reason.as_deref(), Some("holidays"));
    assert_eq!(
        s[1].when(),
        "Fri 16:00 - Mon 08:00 Europe/Berlin",
        "the weekly window in its zone"
    );
    assert_eq!(c.freeze.admins, vec!["slack:U01ALICE"]);
}

#[test]
fn a_bad_schedule_is_refused_naming_the_key() {
    names_all(
        &refused(&with_freeze(
            r#"[[freeze.schedule]]
services = ["checkout", "billing"]
from = "2026-12-27T00:00:00Z"
to = "2026-12-24T00:00:00Z"

[[freeze.schedule]]
weekly = "Fri 16:00 - Mon 08:00"
timezone = "Europe/Atlantis"

[[freeze.schedule]]
weekly = "Friday 4pm to Monday"

[[freeze.schedule]]
from = "2026-12-24"
to = "2026-12-27T00:00:00Z"

[[freeze.schedule]]
reason = "no time at all"
"#,
        )),
        &[
            "freeze.schedule[0].to: must be after from (2026-12-27T00:00:00+00:00)",
            "freeze.schedule[0].services[1]: `billing` is not a configured service (configured: checkout)",
            "freeze.schedule[1].timezone: `Europe/Atlantis` is not an IANA time zone",
            "freeze.schedule[2].weekly: `Friday 4pm to Monday` is not a weekly window",
            "freeze.schedule[3].from: `2026-12-24` is not an RFC 3339 time",
            "freeze.schedule[4].from: a scheduled freeze needs from and to, a weekly window, or both",
        ],
    );
    names_all(
        &refused(&with_freeze("[freeze]\nadmins = [\"U01ALICE\"]\n")),
        &["freeze.admins[0]:"],
    );
}

#[test]
fn a_service_gate_guards_its_environments_and_cannot_wait_for_itself() {
    let gate = "[service.gate]\nenvironments = [\"production\"]\nrequire_promoted_in = \"staging\"\nhold = true\n";
    let text = GOOD.replace("[service.rollback]", &format!("{gate}\n[service.rollback]"));
    let c = crate::registry::config_from_toml(&text, &env).expect("valid");
    let g = c
        .service("checkout")
        .and_then(|s| s.gate.clone())
        .expect("gate");
    assert!(g.guards("production") && !g.guards("staging"));
    assert!(g.hold);
    names_all(
        &refused(&text.replace("[\"production\"]", "[\"production\", \"staging\"]")),
        &[
            "service[checkout].gate.require_promoted_in: `staging` is one of the environments it guards",
        ],
    );
    names_all(
        &refused(&text.replace("hold = true", "hold = true\nholds = 3")),
        &["unknown field `holds`"],
    );
}
