//! Wiring shared by `serve`, `demo` and the tests: store, engine, workers and the HTTP server.

use crate::chat::ChatPort;
use crate::chat::outbox::ChatWorker;
use crate::config::Config;
use crate::domain::{Input, State};
use crate::engine::Engine;
use crate::http::{AppState, Counters, Inbound};
use crate::metrics::prometheus::Prometheus;
use crate::metrics::scheduler::Scheduler;
use crate::metrics::watch::Watcher;
use crate::paging::worker::PageWorker;
use crate::paging::{Link, ThreadLinks};
use crate::rollback::worker::ExecutorWorker;
use crate::server::router;
use crate::store::Store;
use crate::{Clock, system_clock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often open canaries are checked for a closed window, and rollbacks for a verify deadline.
const TICK: Duration = Duration::from_secs(2);
/// How often deliveries older than the de-duplication window are forgotten.
const PURGE_EVERY_MS: i64 = 10 * 60 * 1000;
/// One replica ticks; if it dies, another takes over once its lease runs out.
const TICKER_LEASE_MS: i64 = 3 * 2_000;

/// A running canarybot: server and workers.
pub struct Running {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    /// Stops the HTTP server (in-flight requests finish), the ticker and the metric scheduler.
    shutdown: watch::Sender<bool>,
    /// Tells the delivery workers to finish what is due by a deadline, then stop.
    drain: watch::Sender<Option<tokio::time::Instant>>,
    server: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully within `[delivery] shutdown_grace`: no new connections; requests in
    /// flight finish; then chat messages, pages and executor calls due are delivered; then the store
    /// closes. What is left when the grace runs out stays in the outbox for the next start.
    pub async fn stop(self) {
        let grace = self.config.delivery.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.shutdown.send(true);
        if tokio::time::timeout_at(deadline, self.server)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight when the shutdown grace ran out");
        }
        for t in self.background {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        let _ = self.drain.send(Some(deadline));
        for t in self.workers {
            let _ = tokio::time::timeout_at(deadline + Duration::from_secs(1), t).await;
        }
        let store = self.engine.store();
        if let Err(e) = store.release_leases(self.engine.replica()).await {
            tracing::warn!(error = %e, "cannot release this replica's leases");
        }
        store.close().await;
    }

    /// Waits until the server stops (ctrl-c or SIGTERM in `serve`).
    pub async fn wait_for_signal(self) {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        self.stop().await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        self.stop().await;
    }
}

pub struct Options {
    /// Chat ports besides those of the platforms the configuration turns on.
    pub chat: Vec<Arc<dyn ChatPort>>,
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chat: Vec::new(),
            clock: system_clock(),
        }
    }
}

/// Connects the store, starts the workers and serves HTTP on `listener`.
pub async fn start(
    config: Config,
    listener: TcpListener,
    options: Options,
) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let local_addr = listener.local_addr()?;
    let store = Store::connect(&config.database.url).await?;
    let mut chat = options.chat;
    // Phase one: each configured platform's API clients and chat port; its routes need the
    // engine, which needs the list of platforms.
    let mut connections = Vec::new();
    for platform in crate::registry::configured_chat(&config) {
        if let Some(connection) = (platform.connect)(&config)? {
            chat.push(connection.chat_port());
            connections.push(connection);
        }
    }
    let platforms = chat.iter().map(|c| c.platform().to_string()).collect();
    let engine = Arc::new(
        Engine::new(store.clone(), platforms, options.clock.clone())
            .with_public_url(Some(
                config
                    .server
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", local_addr)),
            ))
            .with_change_events(config.change_event_providers()),
    );
    let (shutdown, rx) = watch::channel(false);
    let (drain, drain_rx) = watch::channel(None);
    let mut workers = Vec::new();
    let mut background = Vec::new();

    for port in chat {
        let worker = Arc::new(ChatWorker {
            store: store.clone(),
            port,
            clock: options.clock.clone(),
            wake: engine.chat_wake.clone(),
            telemetry: engine.telemetry.clone(),
            lease: config.delivery.lease,
            max_backoff: config.delivery.max_backoff,
            threads: Default::default(),
            public_url: config.server.public_url.clone(),
            files_refused: Default::default(),
            linked_charts: Default::default(),
        });
        workers.push(tokio::spawn(worker.run(drain_rx.clone())));
    }
    let exec = ExecutorWorker::new(
        engine.clone(),
        crate::rollback::executors(&config)?,
        options.clock.clone(),
        config.delivery.lease,
    );
    workers.push(tokio::spawn(exec.run(drain_rx.clone())));
    let pagers = crate::paging::pagers(&config, &crate::paging::client()?);
    if !pagers.is_empty() {
        let links = thread_links(config.clone(), store.clone());
        for pager in pagers {
            let worker = Arc::new(PageWorker {
                engine: engine.clone(),
                pager,
                clock: options.clock.clone(),
                lease: config.delivery.lease,
                max_backoff: config.delivery.max_backoff,
                thread_links: links.clone(),
            });
            workers.push(tokio::spawn(worker.run(drain_rx.clone())));
        }
    }
    if let Some(github) = crate::github::github_app(&config, &engine) {
        background.push(tokio::spawn(crate::github::protection::run_reviews(
            engine.clone(),
            config.clone(),
            github,
            rx.clone(),
        )));
    }
    background.push(tokio::spawn(ticker(
        engine.clone(),
        config.delivery.dedup_window,
        rx.clone(),
    )));
    let prometheus = match &config.prometheus {
        Some(p) => Some(Arc::new(Prometheus::new(p)?)),
        None => None,
    };
    let mut history: Option<Arc<dyn crate::http::History>> = None;
    if let Some(prometheus) = &prometheus {
        history = Some(Arc::new(crate::metrics::history::PrometheusHistory {
            prometheus: prometheus.clone(),
            config: config.clone(),
        }));
        let scheduler = Arc::new(Scheduler {
            engine: engine.clone(),
            config: config.clone(),
            prometheus: prometheus.clone(),
            clock: options.clock.clone(),
            last: Default::default(),
            normals: Default::default(),
        });
        background.push(tokio::spawn(scheduler.run(rx.clone())));
    }
    // Watching after promotion: checks open watches, and ends them on time (also without
    // Prometheus: promoted deploys are final, the ticker does not tick them).
    let watcher = Arc::new(Watcher::new(
        engine.clone(),
        prometheus,
        options.clock.clone(),
    ));
    background.push(tokio::spawn(watcher.run(rx.clone())));

    let counters = Arc::new(Counters::new(crate::server::surfaces()));
    let state = AppState {
        config: config.clone(),
        engine: engine.clone(),
        counters: counters.clone(),
        chat_targets: crate::registry::chat_targets(&config).into(),
    };
    // Phase two: the inbound routes of the chat platforms and of the configured sources.
    let inbound = Inbound {
        engine: engine.clone(),
        config: config.clone(),
        counters: counters.clone(),
        clock: options.clock.clone(),
        history,
    };
    for connection in &connections {
        background.extend(connection.listen(&inbound, rx.clone()));
    }
    let mut surfaces: Vec<_> = connections
        .into_iter()
        .map(|c| c.routes(&inbound))
        .collect();
    for source in crate::registry::DEPLOY_SOURCES
        .iter()
        .chain(crate::registry::METRIC_SOURCES)
        .filter(|s| (s.configured)(&config))
    {
        surfaces.push((source.routes)(&inbound));
    }
    let addr = listener.local_addr()?;
    let app = router(state, surfaces);
    let mut server_rx = rx.clone();
    let server_config = config.server.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_rx.changed().await;
        };
        crate::server::serve(listener, app, shutdown, &server_config).await;
    });
    Ok(Running {
        addr,
        engine,
        config,
        shutdown,
        drain,
        server,
        background,
        workers,
    })
}

/// The web links of a deploy's canary threads, on the platforms that can link to one (Slack with
/// `workspace_url`, Discord with `guild_id`): sent with each page.
fn thread_links(config: Arc<Config>, store: Store) -> ThreadLinks {
    Arc::new(move |deploy_id: String| {
        let (config, store) = (config.clone(), store.clone());
        Box::pin(async move {
            let mut links = Vec::new();
            for platform in crate::registry::CHAT_PLATFORMS {
                if let Ok(Some(thread)) = store.thread(&deploy_id, platform.name).await
                    && let Some(href) = (platform.thread_link)(&config, &thread)
                {
                    links.push(Link {
                        href,
                        text: format!("Canary thread ({})", platform.name),
                    });
                }
            }
            links
        })
    })
}

/// A drill's synthetic signal, checked like any other sample.
async fn drill_check(engine: &Engine, deploy_id: &str) {
    let sample = match engine.deploy(deploy_id).await {
        Ok(deploy) => crate::domain::drill::sample(&deploy, engine.now()),
        Err(e) => {
            tracing::warn!(deploy = %deploy_id, error = %e, "drill check cannot read the deploy");
            return;
        }
    };
    if let Some(sample) = sample {
        let input = Input::Check {
            samples: vec![sample],
            at_ms: None,
        };
        if let Err(e) = engine.apply(deploy_id, input, "drill").await {
            tracing::warn!(deploy = %deploy_id, error = %e, "drill check failed");
        }
    }
}

/// Lets canary windows close without waiting for the next metric sample, drives drills, and
/// forgets deliveries older than the de-duplication window.
async fn ticker(engine: Arc<Engine>, dedup_window: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut last_purge = i64::MIN;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.changed() => return,
        }
        let now = engine.now();
        match engine
            .store()
            .lease("ticker", engine.replica(), now, now + TICKER_LEASE_MS, true)
            .await
        {
            Ok(true) => {}
            Ok(false) => continue, // another replica ticks
            Err(e) => {
                tracing::warn!(error = %e, "ticker cannot take its lease");
                continue;
            }
        }
        if now.saturating_sub(last_purge) > PURGE_EVERY_MS {
            last_purge = now;
            match engine
                .store()
                .purge_deliveries(now - dedup_window.as_millis() as i64)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    forgotten = n,
                    "deliveries older than the de-duplication window forgotten"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot purge old deliveries"),
            }
            if let Err(e) = engine.store().purge_leases(now - 3_600_000).await {
                tracing::warn!(error = %e, "cannot purge old leases");
            }
        }
        // Canaries wait for their window; rolled-back deploys for their verify deadline.
        let rows = match engine
            .store()
            .active(&[State::Canary, State::Breached, State::RolledBack])
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "ticker cannot list deploys");
                continue;
            }
        };
        for row in rows {
            if row.drill != 0 {
                drill_check(&engine, &row.id).await;
            }
            if let Err(e) = engine
                .apply_if_due(&row.id, row.last_seq, Input::Tick, "clock")
                .await
            {
                tracing::warn!(deploy = %row.id, error = %e, "tick failed");
            }
        }
    }
}
