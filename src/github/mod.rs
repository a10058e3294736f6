//! GitHub: deployment webhooks announce deploys (`POST /hooks/github`); the GitHub App answers
//! deployment protection rules (`app`). Nothing here knows chat.

pub mod app;
pub mod hooks;
pub mod payload;
pub mod protection;

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
            app: github_app(&i.config, &i.engine),
        })
    },
};

/// The GitHub App of `[github] app_id`, on the engine's clock (its key was checked at load).
pub fn github_app(
    config: &crate::config::Config,
    engine: &std::sync::Arc<crate::engine::Engine>,
) -> Option<std::sync::Arc<GithubApp>> {
    let g = config.github.as_ref()?;
    let e = engine.clone();
    let clock: crate::Clock = std::sync::Arc::new(move || e.now());
    match GithubApp::from_config(g, reqwest::Client::new(), clock) {
        Ok(app) => app.map(std::sync::Arc::new),
        Err(e) => {
            tracing::error!(error = %e, "the GitHub App cannot be set up; protection rules go unanswered");
            None
        }
    }
}
