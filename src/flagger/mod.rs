//! Flagger: its event webhook puts the canary's phases in the timeline, and its gates ask
//! canarybot whether to promote or roll back. Nothing here knows chat or other deploy systems.

//! Its executor kind, the gate, is `rollback::flagger`.

pub mod hooks;

/// `/hooks/flagger/…`: Flagger's event webhook and its gates.
pub static SOURCE: crate::http::HookSource = crate::http::HookSource {
    name: "flagger",
    surface: crate::http::Surface {
        label: "flagger",
        paths: &[crate::http::PathMatch::Prefix("/hooks/flagger/")],
    },
    configured: |c| c.flagger.is_some(),
    routes: |i| {
        hooks::routes(hooks::FlaggerHooks {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
        })
    },
};
