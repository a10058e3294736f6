//! Freezes set and lifted from chat, for the deciders of what they cover (or a freeze admin).

use super::*;

/// Whether `who` may freeze or unfreeze `scope`: a decider of the service, or for `all` a decider
/// of every service; a `[freeze] admins` entry may do both.
fn may_freeze(config: &Config, scope: &FreezeScope, who: &Voter) -> Result<(), GateError> {
    if authorizing_entry(&config.freeze.admins, who).is_some() {
        return Ok(());
    }
    match scope {
        FreezeScope::Service(s) => {
            let svc = config.service(s).ok_or_else(|| unknown(config, s))?;
            if authorizing_entry(&svc.deciders, who).is_some() {
                Ok(())
            } else {
                Err(GateError::Refused(format!(
                    "only the deciders of {s} ({}) or a freeze admin may freeze or unfreeze it",
                    svc.deciders.join(", ")
                )))
            }
        }
        FreezeScope::All => {
            let not: Vec<&str> = config
                .services
                .iter()
                .filter(|s| authorizing_entry(&s.deciders, who).is_none())
                .map(|s| s.name.as_str())
                .collect();
            if not.is_empty() {
                Ok(())
            } else {
                Err(GateError::Refused(format!(
                    "freezing all needs a decider of every service or a freeze admin ([freeze] admins); you do not decide {}",
                    not.join(", ")
                )))
            }
        }
    }
}

/// The services a scope covers, as configured.
fn services_of(config: &Config, scope: &FreezeScope) -> Vec<String> {
    match scope {
        FreezeScope::All => config.services.iter().map(|s| s.name.clone()).collect(),
        FreezeScope::Service(s) => vec![s.clone()],
    }
}

/// A new freeze's id: the time and a random part, readable in a command (`fz-…`).
fn freeze_id(now_ms: i64) -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("fz-{now_ms}-{:04x}", random & 0xffff)
}

/// Freezes `scope` for `who`, until unfrozen or for `lasting`.
pub async fn freeze(
    store: &Store,
    config: &Config,
    scope: FreezeScope,
    who: &Voter,
    reason: Option<String>,
    lasting: Option<std::time::Duration>,
    now_ms: i64,
) -> Result<Freeze, GateError> {
    may_freeze(config, &scope, who)?;
    let f = Freeze {
        id: freeze_id(now_ms),
        scope,
        by: who.identity.clone(),
        by_name: who.name.clone(),
        reason,
        at_ms: now_ms,
        until_ms: lasting.map(|d| now_ms.saturating_add(d.as_millis() as i64)),
    };
    store.add_freeze(&f).await?;
    let summary = format!(
        "{} froze {}{}{}",
        who.name,
        scope_words(&f.scope),
        lasting
            .map(|d| format!(" for {}", duration(d.as_secs_f64())))
            .unwrap_or_default(),
        f.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    for service in services_of(config, &f.scope) {
        store
            .append_service_event(
                &service,
                now_ms,
                "freeze_set",
                &who.identity,
                &summary,
                &json!({"freeze": f}),
            )
            .await?;
    }
    Ok(f)
}

/// What an unfreeze did: how many freezes it lifted, and what still covers the scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfrozen {
    pub lifted: u64,
    /// For one service: a freeze that still covers it (of `all`, or scheduled).
    pub still: Option<FreezeCause>,
}

pub async fn unfreeze(
    store: &Store,
    config: &Config,
    scope: FreezeScope,
    who: &Voter,
    now_ms: i64,
) -> Result<Unfrozen, GateError> {
    may_freeze(config, &scope, who)?;
    let lifted = store.lift_freezes(&scope, &who.identity, now_ms).await?;
    if lifted > 0 {
        let summary = format!("{} lifted the freeze of {}", who.name, scope_words(&scope));
        for service in services_of(config, &scope) {
            store
                .append_service_event(
                    &service,
                    now_ms,
                    "freeze_lifted",
                    &who.identity,
                    &summary,
                    &json!({"scope": scope.label(), "lifted": lifted}),
                )
                .await?;
        }
    }
    let still = match &scope {
        FreezeScope::Service(s) => frozen(store, config, s, now_ms).await?,
        FreezeScope::All => None,
    };
    Ok(Unfrozen { lifted, still })
}

/// `checkout`, `every service`
pub fn scope_words(scope: &FreezeScope) -> String {
    match scope {
        FreezeScope::All => "every service".to_string(),
        FreezeScope::Service(s) => s.clone(),
    }
}
