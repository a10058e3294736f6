//! GitHub: deployment webhooks announce deploys (`POST /hooks/github`); the GitHub App answers
//! deployment protection rules (`app`). Nothing here knows chat.

pub mod app;
pub mod hooks;
pub mod payload;

pub use app::{GithubApp, GithubAppError, ReviewState};

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
