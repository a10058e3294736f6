//! GitHub: deployment webhooks announce deploys (`POST /hooks/github`). Nothing here knows chat.

pub mod hooks;
pub mod payload;

/// `POST /hooks/github`: GitHub `deployment` and `deployment_status` events.
pub static SOURCE: crate::http::HookSource = crate::http::HookSource {
    name: "github",
    surface: crate::http::Surface {
        label: "github",
        paths: &[crate::http::PathMatch::Exact("/hooks/github")],
    },
    configured: |c| c.github.is_some(),
    routes: |i| {
        hooks::routes(hooks::GithubHook {
            engine: i.engine.clone(),
            config: i.config.clone(),
            counters: i.counters.clone(),
        })
    },
};
