//! Wiring shared by `serve`, `demo` and the tests: store, engine, workers and the HTTP server.

use crate::chat::ChatPort;
use crate::chat::outbox::ChatWorker;
use crate::config::{Config, RollbackConfig};
use crate::discord;
use crate::discord::api::DiscordApi;
use crate::discord::chat::DiscordChat;
use crate::discord::inbound::DiscordInbound;
use crate::domain::Input;
use crate::engine::Engine;
use crate::metrics::alertmanager::AlertHook;
use crate::metrics::prometheus::Prometheus;
use crate::metrics::scheduler::Scheduler;
use crate::rollback::RollbackExecutor;
use crate::rollback::command::CommandExecutor;
use crate::rollback::github::WorkflowExecutor;
use crate::rollback::webhook::WebhookExecutor;
use crate::rollback::worker::ExecutorWorker;
use crate::server::{AppState, Counters, router};
use crate::slack;
use crate::slack::api::SlackApi;
use crate::slack::chat::SlackChat;
use crate::slack::inbound::SlackInbound;
use crate::store::Store;
use crate::{Clock, system_clock};
use std::collections::HashMap;
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
    /// flight finish; then chat messages and executor calls due are delivered; then the store
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
    /// Chat platforms besides those the configuration names (`[slack]`, `[discord]`).
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

/// The key under which a service's drill executor is kept.
pub fn drill_executor_key(service: &str) -> String {
    format!("{service}#drill")
}

/// The rollback executor of each service that configures one, and each drill executor (keyed by
/// [`drill_executor_key`]).
pub fn executors(config: &Config) -> anyhow::Result<HashMap<String, Arc<dyn RollbackExecutor>>> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("canarybot/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let mut out: HashMap<String, Arc<dyn RollbackExecutor>> = HashMap::new();
    for s in &config.services {
        if let Some(r) = &s.rollback {
            out.insert(s.name.clone(), executor(config, &client, r));
        }
        if let Some(r) = &s.drill_executor {
            out.insert(drill_executor_key(&s.name), executor(config, &client, r));
        }
    }
    Ok(out)
}

fn executor(
    config: &Config,
    client: &reqwest::Client,
    r: &RollbackConfig,
) -> Arc<dyn RollbackExecutor> {
    match r {
        RollbackConfig::GithubWorkflow(g) => Arc::new(WorkflowExecutor::new(client.clone(), g)),
        RollbackConfig::Flagger(_) => Arc::new(crate::flagger::FlaggerGate),
        RollbackConfig::Command(c) => Arc::new(CommandExecutor::new(c)),
        RollbackConfig::Webhook(w) => Arc::new(WebhookExecutor::new(
            client.clone(),
            w,
            config.executor_secret(w),
        )),
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
    let slack_api = match &config.slack {
        Some(s) => Some(Arc::new(SlackApi::new(
            &s.api_url,
            &s.bot_token,
            s.group_cache,
        )?)),
        None => None,
    };
    if let Some(api) = &slack_api {
        let channels = config
            .services
            .iter()
            .filter_map(|s| s.slack_channel.clone().map(|c| (s.name.clone(), c)))
            .collect();
        chat.push(Arc::new(SlackChat {
            api: api.clone(),
            channels,
        }));
    }
    let discord = match &config.discord {
        Some(d) => Some((
            Arc::new(DiscordApi::new(
                &d.api_url,
                &d.bot_token,
                &d.application_id,
            )?),
            Arc::new(discord::inbound::verifier(&d.public_key)?),
        )),
        None => None,
    };
    if let Some((api, _)) = &discord {
        let channels = config
            .services
            .iter()
            .filter_map(|s| s.discord_channel.clone().map(|c| (s.name.clone(), c)))
            .collect();
        chat.push(Arc::new(DiscordChat {
            api: api.clone(),
            channels,
        }));
    }
    let platforms = chat.iter().map(|c| c.platform().to_string()).collect();
    let engine = Arc::new(
        Engine::new(store.clone(), platforms, options.clock.clone()).with_public_url(Some(
            config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", local_addr)),
        )),
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
        });
        workers.push(tokio::spawn(worker.run(drain_rx.clone())));
    }
    let exec = ExecutorWorker::new(
        engine.clone(),
        executors(&config)?,
        options.clock.clone(),
        config.delivery.lease,
    );
    workers.push(tokio::spawn(exec.run(drain_rx.clone())));
    background.push(tokio::spawn(ticker(
        engine.clone(),
        config.delivery.dedup_window,
        rx.clone(),
    )));
    if let Some(p) = &config.prometheus {
        let scheduler = Arc::new(Scheduler {
            engine: engine.clone(),
            config: config.clone(),
            prometheus: Arc::new(Prometheus::new(p)?),
            clock: options.clock.clone(),
            last: Default::default(),
        });
        background.push(tokio::spawn(scheduler.run(rx.clone())));
    }

    let counters = Arc::new(Counters::default());
    let state = AppState {
        config: config.clone(),
        engine: engine.clone(),
        counters: counters.clone(),
    };
    let mut surfaces = Vec::new();
    if let Some(api) = slack_api {
        surfaces.push(slack::inbound::routes(SlackInbound {
            engine: engine.clone(),
            counters: counters.clone(),
            config: config.clone(),
            api,
            clock: options.clock.clone(),
        }));
    }
    if let Some((_, verifier)) = discord {
        surfaces.push(discord::inbound::routes(DiscordInbound {
            engine: engine.clone(),
            config: config.clone(),
            counters: counters.clone(),
            verifier,
            clock: options.clock.clone(),
        }));
    }
    if config.flagger.is_some() {
        surfaces.push(crate::flagger::hooks::routes(
            crate::flagger::hooks::FlaggerHooks {
                engine: engine.clone(),
                config: config.clone(),
                counters: counters.clone(),
            },
        ));
    }
    if config.github.is_some() {
        surfaces.push(crate::github::hooks::routes(
            crate::github::hooks::GithubHook {
                engine: engine.clone(),
                config: config.clone(),
                counters: counters.clone(),
            },
        ));
    }
    if config.alertmanager.is_some() {
        surfaces.push(crate::metrics::alertmanager::routes(AlertHook {
            engine: engine.clone(),
            config: config.clone(),
            counters: counters.clone(),
            unmatched: counters.alerts_unmatched.clone(),
        }));
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
        let rows = match engine.store().active(&["canary", "rolled_back"]).await {
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
