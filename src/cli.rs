//! Commands: `serve` (the default), `check` (one refresh, a table, an exit code) and `probe`
//! (an HTTP GET for container health checks in images without curl).

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand, ValueEnum};
use futures::future::BoxFuture;

use crate::cache::{Caches, View};
use crate::config::{Config, LogFormat, Overrides};
use crate::report;
use crate::server::{self, AppState, ServeOptions, WebConfig};

pub const EXIT_OK: u8 = 0;
pub const EXIT_NOT_READY: u8 = 1;
pub const EXIT_CONFIG: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "milvus_exporter",
    version,
    about = "Prometheus exporter and health endpoints for Milvus"
)]
pub struct Cli {
    /// TOML configuration file (see config/milvus_exporter.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:9727.
    #[arg(long = "web.listen-address", global = true, value_name = "ADDR")]
    pub listen_address: Option<String>,
    /// Milvus address, e.g. http://localhost:19530.
    #[arg(long = "milvus.address", global = true, value_name = "URL")]
    pub milvus_address: Option<String>,
    /// error, warn, info, debug or trace.
    #[arg(long = "log.level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// logfmt or json.
    #[arg(long = "log.format", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// TLS and basic auth, in the Prometheus exporter-toolkit web config format (YAML).
    #[arg(long = "web.config.file", global = true, value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,
    /// Allow reloading over HTTP (POST /-/reload); without it the endpoint answers 403.
    /// SIGHUP reloads either way.
    #[arg(long = "web.enable-lifecycle", global = true)]
    pub enable_lifecycle: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP endpoints (the default).
    Serve,
    /// Run one refresh, print the result, exit 0 ready / 1 not ready / 2 config error.
    Check {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// GET a URL and exit 0 on a 2xx answer, 1 otherwise (for container health checks).
    Probe {
        url: String,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

pub async fn run(cli: Cli) -> u8 {
    if let Some(Command::Probe { url, timeout }) = &cli.command {
        return probe(url, *timeout).await;
    }
    let overrides = Overrides {
        listen_address: cli.listen_address.clone(),
        milvus_address: cli.milvus_address.clone(),
        log_level: cli.log_level.clone(),
        log_format: cli.log_format.clone(),
    };
    // The environment is captured once, so a reload applies exactly the layers of the start.
    let env = match Config::environment() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    let config = match Config::load_from(cli.config.as_deref(), &env, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    let web = match cli
        .web_config_file
        .as_deref()
        .map(WebConfig::load)
        .transpose()
    {
        Ok(w) => w.unwrap_or_default(),
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    match cli.command {
        Some(Command::Check { output }) => check(&config, output).await,
        _ => {
            init_logging(&config);
            let layers = Layers {
                file: cli.config.clone(),
                env,
                overrides,
                web_file: cli.web_config_file.clone(),
            };
            serve(config, web, layers, cli.enable_lifecycle).await
        }
    }
}

/// Where a configuration comes from, kept so a reload can build it again the same way.
/// (No `Debug`: the environment may hold credentials.)
#[derive(Clone)]
pub struct Layers {
    pub file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub overrides: Overrides,
    pub web_file: Option<PathBuf>,
}

/// Re-reads the configuration (and web configuration) on SIGHUP and `POST /-/reload`, builds
/// fresh caches, starts their refresher and swaps them in; the old caches' tasks stop. A
/// configuration that does not load is refused and the running one kept.
pub struct Reloader {
    layers: Layers,
    state: Weak<AppState>,
    web: Arc<ArcSwap<WebConfig>>,
    running: std::sync::Mutex<Config>,
    /// One reload at a time: a burst of POSTs or signals queues instead of racing.
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(
        layers: Layers,
        state: &Arc<AppState>,
        web: Arc<ArcSwap<WebConfig>>,
        running: Config,
    ) -> Arc<Reloader> {
        Arc::new(Reloader {
            layers,
            state: Arc::downgrade(state),
            web,
            running: std::sync::Mutex::new(running),
            lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Reloads and logs the outcome; the `Err` is the one-line reason.
    pub async fn reload_now(&self) -> Result<String, String> {
        let _one_at_a_time = self.lock.lock().await;
        let result = self.try_reload().await;
        match &result {
            Ok(summary) => tracing::info!(summary = %summary, "configuration reloaded"),
            Err(why) => tracing::error!(
                error = %why,
                "configuration reload refused; keeping the running configuration"
            ),
        }
        result
    }

    async fn try_reload(&self) -> Result<String, String> {
        let l = &self.layers;
        let config = Config::load_from(l.file.as_deref(), &l.env, &l.overrides)
            .map_err(|e| e.to_string())?;
        let web = l
            .web_file
            .as_deref()
            .map(WebConfig::load)
            .transpose()
            .map_err(|e| e.to_string())?;
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| "the server has stopped".to_string())?;
        let mut caches = Caches::from_config(&config).map_err(|e| e.to_string())?;
        caches.start_refresher(config.cache.refresh_interval);
        let old = state.caches.swap(Arc::new(caches));
        if let Some(web) = web {
            self.web.store(Arc::new(web));
        }
        // Stop the old background tasks now if no request still holds the old caches;
        // otherwise the last holder's drop stops them (Caches stops its tasks on drop).
        if let Ok(mut old) = Arc::try_unwrap(old) {
            old.stop();
        }
        let mut running = match self.running.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut notes = Vec::new();
        if running.listen_address != config.listen_address {
            notes.push(format!(
                "web.listen_address changed to {} but needs a restart (still {})",
                config.listen_address, running.listen_address
            ));
        }
        if running.log_level != config.log_level || running.log_format != config.log_format {
            notes.push("log settings need a restart to change".to_string());
        }
        if running.header_read_timeout != config.header_read_timeout
            || running.max_connections != config.max_connections
            || running.write_timeout != config.write_timeout
            || running.max_requests != config.max_requests
        {
            notes.push("web connection limits need a restart to change".to_string());
        }
        for n in &notes {
            tracing::warn!("{n}");
        }
        let summary = format!(
            "reloaded: milvus {}, {} probe target(s){}",
            config.milvus.address,
            config.targets.len(),
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        );
        *running = config;
        Ok(summary)
    }
}

impl server::Reload for Reloader {
    fn reload(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(self.reload_now())
    }
}

/// Logs go to stderr. HTTP/2 and TLS libraries stay at info even at trace level: their trace
/// output includes request headers, and the `authorization` header carries the credentials.
fn init_logging(config: &Config) {
    let level = config.log_level.as_str();
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{level},h2=info,hyper=info,hyper_util=info,tonic=info,tower=info,rustls=info,reqwest=info"
    ));
    let result = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
        LogFormat::Logfmt => {
            use tracing_subscriber::prelude::*;
            tracing_subscriber::registry()
                .with(filter)
                .with(
                    tracing_logfmt::builder()
                        .layer()
                        .with_writer(std::io::stderr),
                )
                .try_init()
                .map_err(Into::into)
        }
    };
    if let Err(e) = result {
        eprintln!("milvus_exporter: logging already initialised: {e}");
    }
}

async fn serve(config: Config, web: WebConfig, layers: Layers, enable_lifecycle: bool) -> u8 {
    raise_nofile_limit();
    let mut caches = match Caches::from_config(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.listen_address).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "milvus_exporter: cannot listen on {}: {e}",
                config.listen_address
            );
            return 1;
        }
    };
    caches.start_refresher(config.cache.refresh_interval);
    // Signal handlers are in place before the start line, so a SIGTERM or SIGHUP sent as soon
    // as it appears is handled rather than killing the process.
    let signals = Signals::register();
    // The bound address, not the configured one: with port 0 this tells which port it got.
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| config.listen_address.to_string());
    tracing::info!(
        listen = %bound,
        milvus = %config.milvus.address,
        targets = config.targets.len(),
        tls = web.tls.is_some(),
        basic_auth = web.auth.is_some(),
        version = env!("CARGO_PKG_VERSION"),
        "milvus_exporter started"
    );
    let state = AppState::new(caches);
    let options = ServeOptions {
        web: Arc::new(ArcSwap::from_pointee(web)),
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
        write_timeout: config.write_timeout,
        max_requests: config.max_requests,
        ..ServeOptions::default()
    };
    let reloader = Reloader::new(layers, &state, Arc::clone(&options.web), config);
    state.set_reloader(reloader.clone());
    if enable_lifecycle {
        state.enable_lifecycle();
    }
    let Signals { term, hup } = signals;
    let hangups = tokio::spawn(reload_on_sighup(reloader, hup));
    let result = server::serve_with(listener, state, options, shutdown_signal(term)).await;
    hangups.abort();
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            1
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does at start-up:
/// every held connection is a descriptor, and a soft limit of 1024 (a common default) would
/// run out before `web.max_connections` does.
#[cfg(unix)]
fn raise_nofile_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    let mut now = before;
    // `None` is unlimited: a soft limit below an unlimited hard one has room to grow too.
    let below_hard = match (before.current, before.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if below_hard {
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => now = raised,
            Err(e) => tracing::debug!(error = %e, "cannot raise RLIMIT_NOFILE"),
        }
    }
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    tracing::debug!(
        soft = %show(now.current),
        hard = %show(now.maximum),
        soft_before = %show(before.current),
        "open file limit (RLIMIT_NOFILE)"
    );
}

#[cfg(not(unix))]
fn raise_nofile_limit() {}

#[cfg(unix)]
type Signal = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Signal = Option<()>;

/// SIGTERM and SIGHUP, registered up front.
struct Signals {
    term: Signal,
    hup: Signal,
}

impl Signals {
    #[cfg(unix)]
    fn register() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let get = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        Signals {
            term: get(SignalKind::terminate(), "SIGTERM"),
            hup: get(SignalKind::hangup(), "SIGHUP"),
        }
    }

    #[cfg(not(unix))]
    fn register() -> Signals {
        Signals {
            term: None,
            hup: None,
        }
    }
}

/// SIGHUP reloads the configuration.
#[cfg(unix)]
async fn reload_on_sighup(reloader: Arc<Reloader>, hup: Signal) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let _ = reloader.reload_now().await;
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_reloader: Arc<Reloader>, _hup: Signal) {}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal(term: Signal) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async move {
        match term {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = {
        let _ = term;
        std::future::pending::<()>()
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn check(config: &Config, output: Output) -> u8 {
    // A one-shot run cannot wait for the serving sampler's interval; sample quickly instead.
    let mut config = config.clone();
    config.system.cpu_sample_interval = Duration::from_millis(250);
    let mut caches = match Caches::from_config(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    // Give the CPU sampler its two samples so the table has a CPU figure.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let main = Arc::clone(&caches.main);
    let view = match main.refresh().await {
        Some(v) => v,
        None => {
            eprintln!("milvus_exporter: the refresh task failed");
            return EXIT_NOT_READY;
        }
    };
    caches.stop();
    match output {
        Output::Json => {
            let read = crate::cache::Read {
                view: Arc::clone(&view),
                cached: false,
            };
            match report::health_json_pretty(&report::health_body(&read, 0.0, true)) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("milvus_exporter: cannot encode JSON: {e}"),
            }
        }
        Output::Table => print!("{}", table(&view)),
    }
    if view.verdict.ready {
        EXIT_OK
    } else {
        EXIT_NOT_READY
    }
}

/// The `check` table: the verdict first, then what it rests on.
pub fn table(view: &View) -> String {
    use std::fmt::Write as _;
    let s = &view.snapshot;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Milvus {}  {}",
        s.address,
        if view.verdict.ready {
            "READY"
        } else {
            "NOT READY"
        }
    );
    for r in &view.verdict.rules {
        let (mark, detail) = match &r.status {
            crate::readiness::RuleStatus::Pass => ("ok", String::new()),
            crate::readiness::RuleStatus::Excluded => ("excluded", String::new()),
            crate::readiness::RuleStatus::Fail(reason) => ("FAIL", reason.clone()),
        };
        let line = format!("  rule {:<12} {:<9} {}", r.name, mark, detail);
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(out);
    for c in s.checks() {
        let line = format!(
            "  check {:<11} {:<4} {:>8.1} ms  {}",
            c.name,
            if c.success { "ok" } else { "FAIL" },
            c.duration.as_secs_f64() * 1000.0,
            c.error.unwrap_or_default()
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    for r in s.results.iter() {
        r.table(&mut out);
    }
    out
}

/// A tiny HTTP GET for container health checks: exit 0 on 2xx, 1 otherwise.
async fn probe(url: &str, timeout: Duration) -> u8 {
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("milvus_exporter probe: {e}");
            return 1;
        }
    };
    match client.get(url).send().await {
        Ok(resp) if resp.status().is_success() => {
            println!("{} {}", resp.status().as_u16(), url);
            0
        }
        Ok(resp) => {
            println!("{} {}", resp.status().as_u16(), url);
            1
        }
        Err(e) => {
            eprintln!("milvus_exporter probe: {url}: {e}");
            1
        }
    }
}
