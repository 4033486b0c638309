//! The command line: Prometheus-style dotted flags and the `serve`,
//! `check-config`, `diagnose` and `demo` subcommands, and what each one runs.
//!
//! Exit codes: 0 on a clean stop, 2 when the configuration (file, flags) is unusable, 1 on
//! any other error. `diagnose` differs: 0 passing (spans passed, nothing wrong), 1 not
//! healthy (latent causes included), 2 cannot run, 3 no traffic in the window and nothing
//! wrong seen (nothing proved either way). Errors are printed with their whole chain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::demo::{self, Scenario};
use arc_swap::ArcSwap;

use crate::engine;
use crate::serve::reload::{self, ReloadStatus, SharedReloadStatus};
use crate::serve::web;
use crate::serve::webconfig::{self, WebConfig};

/// Tells whether a tracing pipeline (app → OpenTelemetry Collector → Grafana Tempo) stores
/// the spans it is sent, stage by stage, as Prometheus metrics.
/// `spanflow --version`: the version, the git revision and the day it was built.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SPANFLOW_REVISION"),
    ", built ",
    env!("SPANFLOW_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "spanflow", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub web: WebArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Poll the configured targets and serve /metrics (the default).
    Serve,
    /// Load and validate the configuration, then exit (0 valid, 2 invalid).
    CheckConfig {
        /// The configuration file (as `promtool check config FILE`); the same as
        /// --config.file.
        #[arg(id = "config_path", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Poll the configured targets for a while, print what is wrong, why, and the fix.
    /// Exit 0 when spans passed and nothing is wrong, 1 when not healthy, 2 when it cannot
    /// run, 3 when no traffic passed in the window and nothing is wrong (nothing proved).
    Diagnose {
        /// How long to poll: long enough for a few polls of every target.
        #[arg(long, default_value = "30s", value_parser = parse_wait)]
        wait: std::time::Duration,
        /// Report format.
        #[arg(long, default_value = "text", value_enum)]
        output: Output,
        /// Report only this pipeline (all of them by default); the exit code is then this
        /// pipeline's.
        #[arg(long, value_name = "NAME")]
        pipeline: Option<String>,
    },
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), as the Debian package installs it.
    #[command(hide = true)]
    Man,
    /// Run against a built-in simulated pipeline on 127.0.0.1 (no external service needed).
    Demo {
        /// Scenario to start in: healthy, tls-mismatch, rate-limited, rf3-healthy, ring-rf3.
        #[arg(long, default_value = "healthy", value_parser = parse_scenario)]
        scenario: Scenario,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Configuration file. When not given and ./spanflow.yml does not exist, `serve` runs
    /// the demo pipeline instead.
    #[arg(long = "config.file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WebArgs {
    /// Address to serve on.
    #[arg(
        long = "web.listen-address",
        global = true,
        default_value = "127.0.0.1:9464",
        value_name = "ADDR"
    )]
    pub listen_address: SocketAddr,
    /// Path of the metrics endpoint.
    #[arg(long = "web.telemetry-path", global = true, default_value = "/metrics", value_name = "PATH", value_parser = parse_path)]
    pub telemetry_path: String,
    /// Concurrent scrapes of the metrics endpoint served at once; more get 503. 0: unlimited.
    #[arg(long = "web.max-requests", global = true, default_value_t = web::DEFAULT_MAX_REQUESTS, value_name = "N")]
    pub max_requests: usize,
    /// TLS and basic authentication for spanflow's own endpoints, in Prometheus'
    /// exporter-toolkit web configuration format.
    #[arg(long = "web.config.file", global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

impl WebArgs {
    /// The `--web.config.file` settings, checked (none when the flag is not given).
    fn web_config(&self) -> Result<WebConfig, UsageError> {
        match &self.config_file {
            None => Ok(WebConfig::default()),
            Some(path) => webconfig::load(path)
                .context("--web.config.file")
                .map_err(UsageError),
        }
    }
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only log messages with this severity or above.
    #[arg(long = "log.level", global = true, default_value = "info", value_enum)]
    pub level: LogLevel,
    /// Log format.
    #[arg(
        long = "log.format",
        global = true,
        default_value = "logfmt",
        value_enum
    )]
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn parse_wait(text: &str) -> Result<std::time::Duration, String> {
    let wait = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if wait < std::time::Duration::from_secs(1) || wait > std::time::Duration::from_secs(3600) {
        return Err("must be between 1s and 1h".into());
    }
    Ok(wait)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

fn parse_scenario(name: &str) -> Result<Scenario, String> {
    Scenario::from_name(name)
        .ok_or_else(|| format!("unknown scenario; known: {}", Scenario::names()))
}

fn parse_path(path: &str) -> Result<String, String> {
    if path.starts_with('/') && path.len() > 1 && !path.contains(['?', '#', ' ']) {
        Ok(path.to_owned())
    } else {
        Err("must be an absolute path such as /metrics".into())
    }
}

/// Sets up logging to stderr.
pub fn init_logging(log: &LogArgs) {
    let level = match log.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{level},hyper=warn,reqwest=warn,h2=warn,rustls=warn"
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    // A second init (tests running `run` twice) is harmless; the first subscriber stays.
    let _ = match log.format {
        LogFormat::Logfmt => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A configuration problem: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] anyhow::Error);

/// Runs the parsed command line until it is stopped.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig { file } => {
            let path = match (file, cli.config.file) {
                (Some(positional), Some(flag)) if positional != flag => {
                    return Err(UsageError(anyhow::anyhow!(
                        "check-config: two files given ({} and --config.file {}): give one",
                        positional.display(),
                        flag.display()
                    ))
                    .into());
                }
                (Some(path), _) | (None, Some(path)) => path,
                (None, None) => PathBuf::from("spanflow.yml"),
            };
            let config = Arc::new(load(&path)?);
            // Clients (TLS and credential files), probe settings and resolvers, as `serve`
            // would build them.
            engine::prepare(Arc::clone(&config)).map_err(|e| UsageError(e.into()))?;
            cli.web.web_config()?;
            println!("{}: valid, {}", path.display(), summary(&config));
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => match cli.config.file {
            Some(path) => serve(load(&path)?, Some(path), &cli.web, None).await,
            None if std::path::Path::new("spanflow.yml").exists() => {
                let path = PathBuf::from("spanflow.yml");
                serve(load(&path)?, Some(path), &cli.web, None).await
            }
            None => {
                tracing::warn!(
                    "no --config.file and no ./spanflow.yml: running the built-in demo pipeline"
                );
                run_demo(Scenario::Healthy, &cli.web).await
            }
        },
        Command::Demo { scenario } => run_demo(scenario, &cli.web).await,
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "spanflow", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Diagnose {
            wait,
            output,
            pipeline,
        } => {
            let path = match cli.config.file {
                Some(path) => path,
                None if std::path::Path::new("spanflow.yml").exists() => "spanflow.yml".into(),
                None => {
                    return Err(UsageError(anyhow::anyhow!(
                        "diagnose needs a pipeline to look at: pass --config.file (or run `spanflow demo` and point a config at its simulator)"
                    ))
                    .into());
                }
            };
            let config = load(&path)?;
            // A store-sourced pipeline's split pipelines (`fleet/eu-1`) are known only once
            // the store answers: any name under it is taken.
            let known = |name: &str| {
                config.pipelines.iter().any(|p| {
                    p.name == name
                        || (p.source.is_some()
                            && name
                                .strip_prefix(p.name.as_str())
                                .is_some_and(|r| r.starts_with('/')))
                })
            };
            if let Some(name) = &pipeline
                && !known(name)
            {
                let known: Vec<&str> = config.pipelines.iter().map(|p| p.name.as_str()).collect();
                return Err(UsageError(anyhow::anyhow!(
                    "--pipeline {name:?}: no such pipeline in {}; known: {}",
                    path.display(),
                    known.join(", ")
                ))
                .into());
            }
            diagnose(config, wait, output, pipeline.as_deref()).await
        }
    }
}

/// What a valid configuration holds, in words: `3 targets and 1 metrics store in 2 pipelines`.
fn summary(config: &Config) -> String {
    let count = config.targets.len();
    let pipelines = config.pipelines.len();
    let stores = match config
        .pipelines
        .iter()
        .filter(|p| p.source.is_some())
        .count()
    {
        0 => String::new(),
        1 => " and 1 metrics store".to_owned(),
        n => format!(" and {n} metrics stores"),
    };
    format!(
        "{count} target{}{stores} in {pipelines} pipeline{}",
        if count == 1 { "" } else { "s" },
        if pipelines == 1 { "" } else { "s" }
    )
}

/// Polls for `wait` with an interval short enough for four polls, then reports.
async fn diagnose(
    mut config: Config,
    wait: std::time::Duration,
    output: Output,
    only: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let interval = config
        .poll_interval
        .min(wait / 4)
        .max(std::time::Duration::from_millis(250));
    config.poll_interval = interval;
    config.window = wait.max(interval * 2);
    config.probes.grpc_timeout = config.probes.grpc_timeout.min(interval);
    for target in &mut config.targets {
        target.timeout = target.timeout.min(interval);
    }
    // A metrics store holds the history: its windows stay as configured.
    for p in &mut config.pipelines {
        if let Some(source) = &mut p.source {
            let source = Arc::make_mut(source);
            source.api.timeout = source.api.timeout.min(interval);
        }
    }
    let engine = engine::start(Arc::new(config)).map_err(|e| UsageError(e.into()))?;
    // The first polls land within a tenth of the interval; one more interval covers the last.
    tokio::time::sleep(wait + interval / 5).await;
    let snapshot = engine.snapshot.load_full();
    drop(engine); // the report is made; polls in flight need not finish
    let pipelines = crate::serve::report::selected(&snapshot, only);
    let report = match output {
        Output::Json => crate::serve::report::json(&snapshot, only),
        Output::Text => {
            use std::io::IsTerminal;
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            crate::serve::report::text(&snapshot, &pipelines, colour)
        }
    };
    println!("{report}");
    Ok(ExitCode::from(
        crate::serve::report::Outcome::of(&pipelines) as u8,
    ))
}

fn load(path: &std::path::Path) -> Result<Config, UsageError> {
    Config::load(path).map_err(|e| UsageError(e.into()))
}

async fn run_demo(scenario: Scenario, web_args: &WebArgs) -> anyhow::Result<ExitCode> {
    let ingesters = demo::DemoIngesters::start()
        .await
        .context("starting the demo's gRPC ingesters on 127.0.0.1")?;
    let (simulator, control) = demo::simulator(scenario, &ingesters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator on 127.0.0.1")?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, simulator).await {
            tracing::error!(error = %e, "demo simulator stopped");
        }
    });
    let config = demo::config(&base);
    let otlp_grpc = demo::otlp::serve_grpc(control.clone())
        .await
        .context("starting the demo's OTLP/gRPC receiver on 127.0.0.1")?;
    let shown = web_args.listen_address;
    println!(
        "spanflow demo — a simulated app → Collector → Tempo 2.7.2 pipeline, scenario {}",
        scenario.name()
    );
    println!("  status page:  http://{shown}/");
    println!("  metrics:      http://{shown}{}", web_args.telemetry_path);
    println!("  status JSON:  http://{shown}/api/v1/status");
    println!("  switch:       curl -X POST 'http://{shown}/demo/scenario?name=tls-mismatch'");
    println!("                (scenarios: {})", Scenario::names());
    println!("  simulator:    {base}/tempo/metrics, {base}/otelcol/metrics, {base}/app/metrics");
    println!(
        "  OTLP:         {base}/otelcol/v1/traces (HTTP), {otlp_grpc} (gRPC); traces back at {base}/tempo/api/traces/<id>"
    );
    let served = serve(
        config,
        None,
        web_args,
        Some(control.routes("/demo/scenario")),
    )
    .await;
    drop(ingesters);
    served
}

async fn serve(
    config: Config,
    path: Option<PathBuf>,
    web_args: &WebArgs,
    extra: Option<axum::Router>,
) -> anyhow::Result<ExitCode> {
    let web_config = web_args.web_config()?;
    let config = Arc::new(config);
    let engine = engine::start(config.clone()).map_err(|e| UsageError(e.into()))?;
    let snapshot = engine.snapshot.clone();
    let status: SharedReloadStatus = Arc::new(ArcSwap::from_pointee(ReloadStatus::loaded_now()));
    // With a configuration file, a supervisor owns the engine and reloads it on request.
    let (lifecycle, supervisor, engine) = match path {
        Some(path) => {
            let (handle, supervisor) = reload::supervise(path, engine, status.clone());
            let lifecycle = web::Lifecycle {
                status,
                reload: Some(handle),
                max_requests: web_args.max_requests,
            };
            (lifecycle, Some(supervisor), None)
        }
        None => {
            let lifecycle = web::Lifecycle {
                max_requests: web_args.max_requests,
                ..web::Lifecycle::fixed()
            };
            (lifecycle, None, Some(engine))
        }
    };
    let mut app = web::router(snapshot, &web_args.telemetry_path, lifecycle);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    if let Some(auth) = web_config.basic_auth.clone() {
        // Every endpoint, /-/reload included, after the routes so none escapes it.
        app = app.layer(axum::middleware::from_fn_with_state(
            auth,
            webconfig::require_basic_auth,
        ));
    }
    let listener = tokio::net::TcpListener::bind(web_args.listen_address)
        .await
        .with_context(|| {
            format!(
                "--web.listen-address {}: cannot listen",
                web_args.listen_address
            )
        })
        .map_err(UsageError)?;
    tracing::info!(
        address = %listener.local_addr()?,
        tls = web_config.tls.is_some(),
        basic_auth = web_config.basic_auth.is_some(),
        targets = config.targets.len(),
        pipelines = config.pipelines.len(),
        poll_interval = %humantime::format_duration(config.poll_interval),
        window = %humantime::format_duration(config.window),
        "spanflow serving"
    );
    match web_config.tls {
        Some(tls) => axum::serve(webconfig::TlsListener::new(listener, tls)?, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTPS")?,
        None => axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving HTTP")?,
    }
    stop_polling(&config, supervisor, engine).await;
    tracing::info!("spanflow stopped");
    Ok(ExitCode::SUCCESS)
}

/// Lets in-flight polls finish (each is bounded by its target's timeout, at most the poll
/// interval); the bound only guards against a stuck probe.
async fn stop_polling(
    config: &Config,
    supervisor: Option<reload::Supervisor>,
    engine: Option<engine::Engine>,
) {
    let engine = match supervisor {
        Some(supervisor) => supervisor.finish().await,
        None => engine,
    };
    if let Some(engine) = engine {
        let bound = config.poll_interval + config.probes.grpc_timeout * 2;
        if tokio::time::timeout(bound, engine.stop()).await.is_err() {
            tracing::warn!("polls still running at shutdown; abandoned");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
