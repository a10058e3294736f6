use anyhow::{Context, bail};
use canarybot::app::{self, Options};
use canarybot::chat::ChatPort;
use canarybot::client::HookClient;
use canarybot::config::{Config, LogFormat};
use canarybot::domain::Deploy;
use canarybot::domain::normal::Normals;
use canarybot::metrics::history::Ask;
use canarybot::metrics::prometheus::Prometheus;
use canarybot::present::export::to_json;
use canarybot::present::postmortem::to_markdown;
use canarybot::registry;
use canarybot::store::Store;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "canarybot",
    version,
    about = "Deploys decided from chat, against criteria agreed before the deploy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server: webhooks, API, chat and executor workers.
    Serve {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
    },
    /// Play a whole canary → breach → vote → rollback → verify loop locally, with no accounts.
    Demo,
    /// Load and validate a configuration file; exits non-zero naming every problem.
    CheckConfig {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
    },
    /// Print a deploy's timeline from the store, or with --service a service's own timeline
    /// (freezes, gate answers).
    Timeline {
        /// The deploy; or give --service instead.
        deploy_id: Option<String>,
        /// A service's own timeline instead of a deploy's.
        #[arg(long, conflicts_with = "deploy_id")]
        service: Option<String>,
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
    },
    /// Start a rollback drill on the running server: a deploy marked DRILL whose synthetic signal
    /// breaches after --breach-after; deciders vote and the executor runs as for real.
    Drill {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        #[arg(long)]
        service: String,
        /// When the synthetic breach starts: 30s, 2m, …
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        breach_after: std::time::Duration,
        /// Server base URL (default: server.public_url, else http://<server.listen>).
        #[arg(long)]
        server: Option<String>,
        /// Who starts the drill, for the timeline (default: $USER).
        #[arg(long)]
        actor: Option<String>,
    },
    /// Print the drill history: each drill's phases, median, best, latest and the trend.
    Drills {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: HistoryFormat,
    },
    /// Print what normal looks like for a service: each criterion's values at this hour on each
    /// of the last days, from Prometheus (the baseline track). No server needed.
    Baseline(HistoryArgs),
    /// The service's criteria.
    Criteria {
        #[command(subcommand)]
        action: CriteriaAction,
    },
    /// Ask the running server whether a deploy may start (freezes, the service's deploys in
    /// trouble, the build promoted upstream): exit 0 when it may, 3 with the reason on stderr when
    /// not, 1 on any other failure.
    Gate {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        #[arg(long)]
        service: String,
        #[arg(long)]
        environment: String,
        /// The build about to be deployed (needed by `require_promoted_in`).
        #[arg(long)]
        sha: Option<String>,
        /// Wait this long for the gate to open (30m, 2h) instead of answering at once.
        #[arg(long, value_parser = humantime::parse_duration)]
        wait: Option<std::time::Duration>,
        /// How often to ask again while waiting.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        poll: std::time::Duration,
        /// Server base URL (default: server.public_url, else http://<server.listen>).
        #[arg(long)]
        server: Option<String>,
        /// An API token (default: the first of server.api_tokens). With --server and a token the
        /// configuration file is not read: a pipeline needs neither it nor its secrets.
        #[arg(long, env = "CANARYBOT_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Register chat commands with a platform.
    Commands {
        #[command(subcommand)]
        action: CommandsAction,
    },
    /// Print the Slack app manifest with this server's public URL filled in, or, with
    /// `--socket-mode`, for Socket Mode (no request URLs, no public URL needed).
    SlackManifest {
        /// Socket Mode: canarybot connects out to Slack; the config file is not read.
        #[arg(long)]
        socket_mode: bool,
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
    },
    /// Send a signed deploy event to a running server (for shell pipelines).
    Announce {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        #[arg(long)]
        service: String,
        #[arg(long)]
        version: String,
        #[arg(long)]
        environment: Option<String>,
        #[arg(long, value_enum, default_value = "started")]
        event: EventArg,
        /// Server base URL (default: server.public_url, else http://<server.listen>).
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        sha: Option<String>,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        deploy_id: Option<String>,
        /// Delivery id; resending the same id is answered from the record and changes nothing.
        #[arg(long)]
        delivery: Option<String>,
    },
}

/// What `baseline` and `criteria suggest` ask Prometheus about.
#[derive(clap::Args)]
struct HistoryArgs {
    #[arg(
        long,
        env = "CANARYBOT_CONFIG",
        default_value = "config/canarybot.toml"
    )]
    config: PathBuf,
    #[arg(long)]
    service: String,
    /// How many days back (1 to 28).
    #[arg(long, default_value_t = canarybot::domain::normal::DEFAULT_DAYS, value_parser = clap::value_parser!(u32).range(1..=i64::from(canarybot::domain::normal::MAX_DAYS)))]
    days: u32,
    /// The environment its queries are filled with (`{{environment}}`).
    #[arg(long, default_value = "production")]
    environment: String,
}

#[derive(Subcommand)]
enum CriteriaAction {
    /// Print the service's [[service.criteria]] with bounds derived from Prometheus history
    /// (max = p99 × 1.2, min = p1 × 0.8 at this hour over the last days), for a person to
    /// review and paste. Nothing is changed.
    Suggest(HistoryArgs),
}

#[derive(Subcommand)]
enum CommandsAction {
    /// PUT commands/discord-commands.json to Discord (all guilds, or one with --guild).
    RegisterDiscord {
        #[arg(
            long,
            env = "CANARYBOT_CONFIG",
            default_value = "config/canarybot.toml"
        )]
        config: PathBuf,
        /// Register in one guild (instant) instead of globally (up to an hour to appear).
        #[arg(long)]
        guild: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Md,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum HistoryFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum EventArg {
    Started,
    Promoted,
    // Spelled as in the webhook body; `rolled-back` is accepted too.
    #[value(name = "rolled_back", alias = "rolled-back")]
    RolledBack,
    Failed,
}

impl EventArg {
    fn as_str(self) -> &'static str {
        match self {
            EventArg::Started => "started",
            EventArg::Promoted => "promoted",
            EventArg::RolledBack => "rolled_back",
            EventArg::Failed => "failed",
        }
    }
}

/// The log format: `CANARYBOT_LOG_FORMAT` if set, else the configuration's `[log] format`.
fn log_format(configured: LogFormat) -> anyhow::Result<LogFormat> {
    match std::env::var("CANARYBOT_LOG_FORMAT") {
        Ok(v) => v
            .parse()
            .map_err(|e: String| anyhow::anyhow!("CANARYBOT_LOG_FORMAT: {e}")),
        Err(_) => Ok(configured),
    }
}

fn init_tracing(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CANARYBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One JSON object per line, fields flattened, for log collectors.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        // Colours only for a person at a terminal; log collectors get plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

fn load(path: &Path) -> anyhow::Result<Config> {
    warn_if_others_can_read(path);
    registry::load_config(path).with_context(|| format!("configuration {}", path.display()))
}

/// The configuration names secrets (or the variables holding them) and who may decide a
/// rollback: say so when other users can read or change it.
fn warn_if_others_can_read(path: &Path) {
    if let Some(w) = canarybot::config::permission_warning(path) {
        if tracing::dispatcher::has_been_set() {
            tracing::warn!("{w}");
        } else {
            eprintln!("warning: {w}");
        }
    }
}

/// What was normal for `service` at this hour on each of the last `days` days, read from the
/// configuration's Prometheus: the service's configuration with it.
async fn history_of<'a>(
    config: &'a Config,
    service: &str,
    environment: &str,
    days: u32,
) -> anyhow::Result<(&'a canarybot::config::ServiceConfig, Normals)> {
    let Some(svc) = config.service(service) else {
        bail!(
            "--service: unknown service `{service}` (services: {})",
            config.service_names().join(", ")
        );
    };
    let Some(p) = &config.prometheus else {
        bail!("prometheus: the configuration has no [prometheus] section to read history from");
    };
    let prometheus = Arc::new(Prometheus::new(p)?);
    let ask = Ask {
        service,
        environment,
        baseline_track: &svc.tracks.baseline,
        at_ms: chrono::Utc::now().timestamp_millis(),
        days,
    };
    let normals = canarybot::metrics::history::normals(&prometheus, &svc.criteria, &ask)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the history of {service}: {e}"))?;
    Ok((svc, normals))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve { config } => {
            let config = load(&config)?;
            init_tracing("info", log_format(config.log.format)?);
            for w in config.warnings() {
                tracing::warn!("{w}");
            }
            let listener = tokio::net::TcpListener::bind(&config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?;
            // The chat platforms come from the configuration; without any, their stand-ins (the
            // console).
            let chat: Vec<Arc<dyn ChatPort>> =
                if registry::configured_chat(&config).next().is_some() {
                    Vec::new()
                } else {
                    registry::CHAT_PLATFORMS
                        .iter()
                        .filter_map(|p| p.stand_in)
                        .map(|stand_in| stand_in())
                        .collect()
                };
            let running = app::start(
                config,
                listener,
                Options {
                    chat,
                    ..Options::default()
                },
            )
            .await?;
            tracing::info!(url = %running.url(), "canarybot serving");
            running.wait_for_signal().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            init_tracing("warn", log_format(LogFormat::Text)?);
            canarybot::demo::run().await
        }
        Command::CheckConfig { config } => {
            warn_if_others_can_read(&config);
            match registry::load_config(&config) {
                Ok(c) => {
                    for w in c.warnings() {
                        eprintln!("warning: {w}");
                    }
                    println!(
                        "{}: ok ({} service{}: {})",
                        config.display(),
                        c.services.len(),
                        if c.services.len() == 1 { "" } else { "s" },
                        c.service_names().join(", ")
                    );
                    for platform in registry::configured_chat(&c) {
                        println!("  {}: {}", platform.name, (platform.transport)(&c));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{}: invalid", config.display());
                    for line in e.to_string().lines() {
                        eprintln!("  {line}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Timeline {
            deploy_id,
            service,
            config,
            format,
        } => {
            init_tracing("warn", log_format(LogFormat::Text)?);
            let config = load(&config)?;
            let deploy_id = match (deploy_id, service) {
                (Some(id), None) => id,
                (None, Some(service)) => {
                    print!(
                        "{}",
                        canarybot::gate::service_timeline_text(
                            &config,
                            &service,
                            matches!(format, Format::Json)
                        )
                        .await?
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                _ => bail!("name a deploy id, or --service for a service's own timeline"),
            };
            let store = Store::connect(&config.database.url).await?;
            let Some(events) = store.events(&deploy_id).await? else {
                bail!("unknown deploy `{deploy_id}`");
            };
            let deploy = Deploy::fold(&events)?;
            match format {
                Format::Md => print!(
                    "{}",
                    to_markdown(
                        &canarybot::report::postmortem(
                            &store,
                            &config,
                            &deploy_id,
                            canarybot::report::Charts::Left
                        )
                        .await?
                    )
                ),
                Format::Json => {
                    let links =
                        canarybot::report::message_links(&store, &config, &deploy_id, &events)
                            .await?;
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&to_json(&deploy, &events, &links))?
                    )
                }
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Drill {
            config,
            service,
            breach_after,
            server,
            actor,
        } => {
            let config = load(&config)?;
            if config.service(&service).is_none() {
                bail!(
                    "--service: unknown service `{service}` (services: {})",
                    config.service_names().join(", ")
                );
            }
            let base = canarybot::client::server_url(&config, server);
            let actor = actor
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "cli".into());
            let body = json!({
                "service": service,
                "breach_after": humantime::format_duration(breach_after).to_string(),
                "actor": actor,
            });
            let req = reqwest::Client::new()
                .post(format!("{}/api/drills", base.trim_end_matches('/')))
                .json(&body);
            let (status, answer) = canarybot::client::api_call(
                req,
                &base,
                config.server.api_tokens.first().map(String::as_str),
            )
            .await?;
            if (200..300).contains(&status) {
                println!(
                    "🧯 Drill {} started for {service}: synthetic breach in {}.",
                    answer["id"].as_str().unwrap_or("?"),
                    humantime::format_duration(breach_after)
                );
                if let Some(page) = answer["page_url"].as_str() {
                    println!("Follow it in the canary thread, or at {page}");
                }
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "error: server answered HTTP {status}: {}",
                    answer["error"].as_str().unwrap_or("")
                );
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Drills {
            config,
            service,
            format,
        } => {
            init_tracing("warn", log_format(LogFormat::Text)?);
            let config = load(&config)?;
            if let Some(svc) = &service
                && config.service(svc).is_none()
            {
                bail!(
                    "--service: unknown service `{svc}` (services: {})",
                    config.service_names().join(", ")
                );
            }
            let store = Store::connect(&config.database.url).await?;
            let history = canarybot::drill::drill_history(&store, service.as_deref()).await?;
            match format {
                HistoryFormat::Text => print!("{}", canarybot::present::drills::to_text(&history)),
                HistoryFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&canarybot::present::drills::to_json(&history))?
                ),
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Baseline(HistoryArgs {
            config,
            service,
            days,
            environment,
        }) => {
            init_tracing("warn", log_format(LogFormat::Text)?);
            let config = load(&config)?;
            let (svc, normals) = history_of(&config, &service, &environment, days).await?;
            print!(
                "{}",
                canarybot::present::normal::baseline_text(
                    &service,
                    &environment,
                    &svc.tracks.baseline,
                    &svc.criteria,
                    &normals,
                    false
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Criteria {
            action:
                CriteriaAction::Suggest(HistoryArgs {
                    config,
                    service,
                    days,
                    environment,
                }),
        } => {
            init_tracing("warn", log_format(LogFormat::Text)?);
            let config = load(&config)?;
            let (svc, normals) = history_of(&config, &service, &environment, days).await?;
            print!(
                "{}",
                canarybot::present::normal::suggest_toml(
                    &service,
                    &environment,
                    &svc.tracks.baseline,
                    &svc.criteria,
                    &normals
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Gate {
            config,
            service,
            environment,
            sha,
            wait,
            poll,
            server,
            token,
        } => {
            use canarybot::gate_cli::{GateQuestion, GateVerdict, ask_until_open};
            if poll.is_zero() {
                bail!("--poll: must be longer than 0s");
            }
            let (server, token) = match (server, token) {
                (Some(server), Some(token)) => (server, Some(token)),
                (server, token) => {
                    let config = load(&config)?;
                    (
                        canarybot::client::server_url(&config, server),
                        token.or_else(|| config.server.api_tokens.first().cloned()),
                    )
                }
            };
            let verdict = ask_until_open(&GateQuestion {
                server,
                token,
                service,
                environment,
                sha,
                wait,
                poll,
            })
            .await?;
            match verdict {
                GateVerdict::Open(reason) => {
                    println!("open: {reason}");
                    Ok(ExitCode::SUCCESS)
                }
                GateVerdict::Closed(reason) => {
                    eprintln!("closed: {reason}");
                    Ok(ExitCode::from(3))
                }
            }
        }
        Command::Commands {
            action: CommandsAction::RegisterDiscord { config, guild },
        } => {
            let config = load(&config)?;
            let Some(d) = canarybot::discord::DiscordConfig::of(&config) else {
                bail!("discord: the configuration has no [discord] section");
            };
            let api = canarybot::discord::api::DiscordApi::new(
                &d.api_url,
                &d.bot_token,
                &d.application_id,
            )?;
            let commands: serde_json::Value =
                serde_json::from_str(canarybot::command::DISCORD_COMMANDS)?;
            let n = api
                .register_commands(&d.application_id, guild.as_deref(), &commands)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match guild {
                Some(g) => println!("registered {n} commands in guild {g}"),
                None => println!(
                    "registered {n} global commands (they may take up to an hour to appear)"
                ),
            }
            println!("{}", canarybot::discord::platform::endpoint_advice(d));
            Ok(ExitCode::SUCCESS)
        }
        Command::SlackManifest {
            socket_mode: true, ..
        } => {
            print!("{}", canarybot::command::slack_manifest_socket_mode());
            Ok(ExitCode::SUCCESS)
        }
        Command::SlackManifest { config, .. } => {
            let config = load(&config)?;
            let Some(url) = config.server.public_url.as_deref() else {
                bail!("server.public_url: set it to the address Slack can reach this server at");
            };
            print!("{}", canarybot::command::slack_manifest(url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Announce {
            config,
            service,
            version,
            environment,
            event,
            server,
            sha,
            actor,
            description,
            url,
            deploy_id,
            delivery,
        } => {
            let config = load(&config)?;
            let base = canarybot::client::server_url(&config, server);
            let Some(secret) = config.webhooks.secrets.first() else {
                bail!("webhooks.secrets: no secret to sign with");
            };
            let mut body = json!({"event": event.as_str(), "service": service, "version": version});
            for (key, value) in [
                ("environment", environment),
                ("sha", sha),
                ("actor", actor),
                ("description", description),
                ("url", url),
                ("deploy_id", deploy_id),
            ] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            let client = HookClient::new(&base, secret)?;
            let (status, answer) = client
                .post("/hooks/deploy", &body, delivery.as_deref())
                .await
                .with_context(|| format!("cannot reach {base}"))?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            if (200..300).contains(&status) {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("error: server answered HTTP {status}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}
