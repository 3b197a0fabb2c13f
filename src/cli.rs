//! Flags and commands: `serve` (the default; the app's lifecycle is [`crate::app`]), `check`
//! (one refresh, a table, an exit code) and `probe` (an HTTP GET for container health checks
//! in images without curl).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::app::{self, App, AppError, Layers};
use crate::cache::Caches;
use crate::config::{Config, Overrides};
use crate::render::{report, table};
use crate::server::WebConfig;

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
    /// With --url, read a running exporter's verdict and recent transitions instead.
    Check {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// GET a URL and exit 0 on a 2xx answer, 1 otherwise (for container health checks).
    Probe {
        url: String,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// `check --url`: where the running exporter is and how to reach it.
#[derive(clap::Args, Debug, Default)]
pub struct RemoteArgs {
    /// A running exporter, e.g. http://127.0.0.1:9727: print its verdict and recent
    /// transitions (from its /health) instead of running a refresh here.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// How long the whole answer may take.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "url")]
    pub timeout: Duration,
    /// Transitions to show (0-10000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(0..=10000), requires = "url")]
    pub history: u16,
    /// Basic auth user.
    #[arg(long, value_name = "USER", requires = "url")]
    pub username: Option<String>,
    /// A file holding the basic auth password (kept out of the process list).
    #[arg(long, value_name = "PATH", requires = "username")]
    pub password_file: Option<PathBuf>,
    /// Trust this CA bundle (PEM) alone for the exporter's certificate.
    #[arg(long, value_name = "PATH", requires = "url")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM), for an exporter that asks for one.
    #[arg(long, value_name = "PATH", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PATH", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Do not verify the exporter's certificate.
    #[arg(long, requires = "url")]
    pub insecure_skip_verify: bool,
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
    if let Some(Command::Check { remote, .. }) = &cli.command {
        if remote.url.is_some() {
            return check_remote(remote).await;
        }
    }
    let overrides = Overrides {
        listen_address: cli.listen_address.clone(),
        milvus_address: cli.milvus_address.clone(),
        log_level: cli.log_level.clone(),
        log_format: cli.log_format.clone(),
    };
    let loaded = Layers::capture(cli.config.clone(), overrides, cli.web_config_file.clone())
        .map_err(AppError::from)
        .and_then(|layers| {
            let config = layers.config()?;
            let web = layers.web()?.unwrap_or_default();
            Ok((layers, config, web))
        });
    let (layers, config, web) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return EXIT_CONFIG;
        }
    };
    match cli.command {
        Some(Command::Check { output, .. }) => check(&config, output).await,
        _ => {
            app::init_logging(&config);
            serve(config, web, layers, cli.enable_lifecycle).await
        }
    }
}

/// `serve`: build the app, then run it until SIGTERM.
async fn serve(config: Config, web: WebConfig, layers: Layers, enable_lifecycle: bool) -> u8 {
    let app = match App::build(config, web, layers).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("milvus_exporter: {e}");
            return if e.is_config() { EXIT_CONFIG } else { 1 };
        }
    };
    if enable_lifecycle {
        app.enable_lifecycle();
    }
    match app.run().await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            1
        }
    }
}

async fn check(config: &Config, output: Output) -> u8 {
    // A one-shot run cannot wait for the serving sampler's interval; sample quickly instead.
    let mut config = config.clone();
    config.system.cpu_sample_interval = Duration::from_millis(250);
    let caches = match Caches::from_config(&config) {
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
        Output::Table => print!("{}", table::render(&view)),
    }
    if view.verdict.ready {
        EXIT_OK
    } else {
        EXIT_NOT_READY
    }
}

/// `check --url`: a running exporter's verdict and recent transitions; exit 0 ready, 1 not
/// ready or unreachable, 2 for flags that cannot work.
async fn check_remote(args: &RemoteArgs) -> u8 {
    let password = match &args.password_file {
        None => None,
        Some(path) => match crate::config::read_bounded(path) {
            Ok(bytes) => Some(
                String::from_utf8_lossy(&bytes)
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            Err(e) => {
                eprintln!(
                    "milvus_exporter check: --password-file {}: {e}",
                    path.display()
                );
                return EXIT_CONFIG;
            }
        },
    };
    let remote = crate::remote::Remote {
        url: args.url.clone().unwrap_or_default(),
        timeout: args.timeout,
        history: usize::from(args.history),
        username: args.username.clone(),
        password,
        ca_file: args.ca_file.clone(),
        cert_file: args.cert_file.clone(),
        key_file: args.key_file.clone(),
        insecure_skip_verify: args.insecure_skip_verify,
    };
    match crate::remote::check(&remote).await {
        Ok(report) => {
            print!("{}", report.text);
            if report.ready {
                EXIT_OK
            } else {
                EXIT_NOT_READY
            }
        }
        Err(e @ crate::remote::RemoteError::Usage(_)) => {
            eprintln!("milvus_exporter check: {e}");
            EXIT_CONFIG
        }
        Err(e) => {
            eprintln!("milvus_exporter check: {e}");
            EXIT_NOT_READY
        }
    }
}

/// A tiny HTTP GET for container health checks: exit 0 on 2xx, 1 otherwise.
async fn probe(url: &str, timeout: Duration) -> u8 {
    // The system trust store, as every other client of this exporter.
    let client = match reqwest::Client::builder()
        .tls_built_in_webpki_certs(false)
        .timeout(timeout)
        .build()
    {
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
