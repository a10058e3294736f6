//! Reading what the postmortem is made of: the shell around `present::postmortem`, shared by the
//! API, the web pages and the CLI.

use crate::config::Config;
use crate::domain::{Deploy, Event};
use crate::engine::EngineError;
use crate::present::postmortem::{EventLinks, MessageLink, Postmortem, ThreadLink};
use crate::store::Store;
use std::collections::BTreeMap;

/// What the stored samples are read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charts {
    /// The web page draws them.
    Drawn,
    /// The Markdown postmortem has no charts: a long canary's samples need not be read.
    Left,
}

/// Everything the postmortem of `deploy_id` needs.
pub async fn postmortem(
    store: &Store,
    config: &Config,
    deploy_id: &str,
    charts: Charts,
) -> Result<Postmortem, EngineError> {
    // Both reads at once, on two of the pool's connections.
    let read_samples = async {
        match charts {
            Charts::Drawn => store.samples(deploy_id).await,
            Charts::Left => Ok(Vec::new()),
        }
    };
    let (events, stored) = tokio::join!(store.events(deploy_id), read_samples);
    let events = events?.ok_or_else(|| EngineError::UnknownDeploy(deploy_id.to_string()))?;
    let stored = stored?;
    let deploy = Deploy::fold(&events)?;
    let samples = crate::present::postmortem::chart_points(stored);
    let mut threads = Vec::new();
    for platform in crate::registry::CHAT_PLATFORMS {
        if let Some(thread) = store.thread(deploy_id, platform.name).await?
            && let Some(url) = (platform.thread_link)(config, &thread)
        {
            threads.push(ThreadLink {
                platform: platform.name.to_string(),
                url,
            });
        }
    }
    let links = message_links(store, config, deploy_id, &events).await?;
    let criteria_now = config
        .service(&deploy.info.service)
        .map(|s| s.criteria.clone());
    Ok(Postmortem {
        deploy,
        events,
        samples,
        threads,
        links,
        criteria_now,
    })
}

/// Each event's message links: the messages canarybot posted for it (as the outbox recorded
/// them), then the message the event itself names (a note's), on the platforms that can link to
/// them with this configuration (or, for Slack without `workspace_url`, what `auth.test` answered).
pub async fn message_links(
    store: &Store,
    config: &Config,
    deploy_id: &str,
    events: &[Event],
) -> Result<EventLinks, EngineError> {
    let mut sites = BTreeMap::new();
    for platform in crate::registry::CHAT_PLATFORMS {
        sites.insert(platform.name, store.site(platform.name).await?);
    }
    let link = |platform: &str, thread: &str, message: &str| {
        let p = crate::registry::CHAT_PLATFORMS
            .iter()
            .find(|p| p.name == platform)?;
        let site = sites.get(p.name).and_then(Option::as_deref);
        let url = (p.message_link)(config, site, thread, message)?;
        Some(MessageLink {
            platform: p.name.to_string(),
            url,
        })
    };
    let mut links = EventLinks::new();
    for m in store.messages(deploy_id).await? {
        if let Some(l) = link(&m.platform, &m.thread, &m.message) {
            links.entry(m.seq).or_default().push(l);
        }
    }
    for e in events {
        if let Some(r) = e.data.message_ref()
            && let Some(l) = link(&r.platform, &r.thread, &r.message)
        {
            let at = links.entry(e.seq).or_default();
            if !at.contains(&l) {
                at.push(l);
            }
        }
    }
    Ok(links)
}
