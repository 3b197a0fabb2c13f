//! The app: build, serve, reload and shut down, in one place that the binary and every test
//! go through, so a test of the in-process server tests the server the binary runs.
//!
//! The lifecycle, in the order a reader meets it (mini-redis's `server.rs` is the model):
//!
//! 1. [`Layers`] say where the configuration comes from (file, environment captured once,
//!    flags, web config file), so a reload builds it again the same way.
//! 2. [`App::build`] turns a [`Config`] into caches (their refresher started), a bound
//!    listener and the [`ServeOptions`] of its `[web]` section, and installs the [`Reloader`].
//!    Nothing is served yet, but [`App::local_addr`] already tells the port (port 0 included).
//! 3. [`App::serve`] serves until the future it is given resolves, then stops accepting, lets
//!    in-flight requests finish for the grace period and returns. [`App::spawn`] does the same
//!    on a task and hands back a [`Running`] handle whose [`Running::shutdown`] is that future.
//! 4. [`App::run`] is how the binary serves: SIGTERM (or Ctrl-C) is the shutdown, SIGHUP a
//!    reload (`signals.rs`).

mod process;
mod reload;
mod signals;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::cache::{BuildError, Caches};
use crate::config::{Config, ConfigError, Overrides};
use crate::server::{self, AppState, ServeOptions, WebConfig, WebConfigError};

pub use process::{init_logging, raise_nofile_limit};
pub use reload::Reloader;

/// Why the app could not start or stopped badly. Configuration problems (exit 2 in the
/// binary) are told apart from the rest (exit 1) by [`AppError::is_config`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Web(#[from] WebConfigError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    /// The serving task of a [`Running`] app panicked or was cancelled.
    #[error("the server task ended abnormally: {0}")]
    Task(String),
}

impl AppError {
    /// A problem in what the operator wrote (exit 2), not in the world (exit 1).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            AppError::Config(_) | AppError::Web(_) | AppError::Build(_)
        )
    }
}

/// Where a configuration comes from, kept so a reload can build it again the same way.
/// (No `Debug`: the environment may hold credentials.)
#[derive(Clone, Default)]
pub struct Layers {
    /// `--config`: the TOML file, re-read on every reload.
    pub file: Option<PathBuf>,
    /// The `MILVUS_EXPORTER_*` environment as captured at start: a reload applies exactly the
    /// layers of the start, not whatever the process environment holds by then.
    pub env: Vec<(String, String)>,
    /// The flags, which win over everything.
    pub overrides: Overrides,
    /// `--web.config.file`: TLS and basic auth, re-read on every reload.
    pub web_file: Option<PathBuf>,
}

impl Layers {
    /// The layers of this process: its environment, captured now, and the given file and flags.
    pub fn capture(
        file: Option<PathBuf>,
        overrides: Overrides,
        web_file: Option<PathBuf>,
    ) -> Result<Layers, ConfigError> {
        Ok(Layers {
            file,
            env: Config::environment()?,
            overrides,
            web_file,
        })
    }

    /// Defaults < file < environment < flags, checked.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::load_from(self.file.as_deref(), &self.env, &self.overrides)
    }

    /// The web configuration file, if one is given.
    pub fn web(&self) -> Result<Option<WebConfig>, WebConfigError> {
        self.web_file.as_deref().map(WebConfig::load).transpose()
    }
}

/// The connection limits of `config`'s `[web]` section with `web` (TLS, basic auth): what
/// the binary serves with. The grace period and head size keep their defaults.
pub fn serve_options(config: &Config, web: WebConfig) -> ServeOptions {
    ServeOptions {
        web: Arc::new(ArcSwap::from_pointee(web)),
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_connections,
        write_timeout: config.write_timeout,
        max_requests: config.max_requests,
        ..ServeOptions::default()
    }
}

/// A built exporter: caches refreshing, listener bound, not yet serving.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    options: ServeOptions,
    reloader: Arc<Reloader>,
    config: Config,
}

impl App {
    /// Builds the app the binary runs: limits from `config`'s `[web]` section, TLS and basic
    /// auth from `web`.
    pub async fn build(config: Config, web: WebConfig, layers: Layers) -> Result<App, AppError> {
        let options = serve_options(&config, web);
        App::build_with(config, layers, options).await
    }

    /// Builds the app with `options` as given (a test choosing its own limits). A reload swaps
    /// the web configuration inside `options.web`.
    pub async fn build_with(
        config: Config,
        layers: Layers,
        options: ServeOptions,
    ) -> Result<App, AppError> {
        let mut caches = Caches::from_config(&config)?;
        let addr = config.listen_address;
        let listen = |source| AppError::Listen { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(listen)?;
        // The bound address, not the configured one: with port 0 this tells which port it got.
        let local_addr = listener.local_addr().map_err(listen)?;
        // Refreshing starts before serving, so the first scrape finds a snapshot under way.
        caches.start_refresher(config.cache.refresh_interval);
        let state = AppState::new(caches);
        let reloader = Reloader::new(layers, &state, Arc::clone(&options.web), config.clone());
        state.set_reloader(reloader.clone());
        Ok(App {
            listener,
            local_addr,
            state,
            options,
            reloader,
            config,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What the handlers share: the caches (swapped by a reload) and the reloader.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The reloader that SIGHUP and `POST /-/reload` run.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// `--web.enable-lifecycle`: lets `POST /-/reload` reload (it answers 403 otherwise).
    pub fn enable_lifecycle(&self) {
        self.state.enable_lifecycle();
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests finish
    /// for `shutdown_grace`, closes what is left and returns.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let web = self.options.web.load();
        tracing::info!(
            listen = %self.local_addr,
            milvus = %self.config.milvus.address,
            targets = self.config.targets.len(),
            tls = web.tls.is_some(),
            basic_auth = web.auth.is_some(),
            version = env!("CARGO_PKG_VERSION"),
            "milvus_exporter started"
        );
        drop(web);
        let shutdown = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
        };
        server::serve_with(self.listener, self.state, self.options, shutdown)
            .await
            .map_err(AppError::Serve)?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves on a task of its own; the handle shuts it down.
    pub fn spawn(self) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let local_addr = self.local_addr;
        let state = Arc::clone(&self.state);
        let reloader = Arc::clone(&self.reloader);
        // A dropped sender resolves the receiver too: losing the handle is a shutdown.
        let task = tokio::spawn(self.serve(async move {
            let _ = stopped.await;
        }));
        Running {
            local_addr,
            state,
            reloader,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// How the binary serves: the open-file limit raised, SIGTERM or Ctrl-C shuts down
    /// gracefully, SIGHUP reloads. The handlers are in place before the start line is logged,
    /// so a signal sent as soon as it appears is handled rather than killing the process.
    pub async fn run(self) -> Result<(), AppError> {
        raise_nofile_limit();
        let signals::Signals { term, hup } = signals::Signals::register();
        let hangups = tokio::spawn(signals::reload_on_sighup(self.reloader.clone(), hup));
        let result = self.serve(signals::terminated(term)).await;
        hangups.abort();
        result
    }
}

/// A served app, from [`App::spawn`]. Dropping it stops the server at once; [`shutdown`]
/// is the graceful way.
///
/// [`shutdown`]: Running::shutdown
pub struct Running {
    local_addr: SocketAddr,
    state: Arc<AppState>,
    reloader: Arc<Reloader>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), AppError>>>,
}

impl Running {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Reloads as SIGHUP does: `Ok` with a one-line summary, or `Err` with the reason (the
    /// running configuration is then kept).
    pub async fn reload(&self) -> Result<String, String> {
        self.reloader.reload_now().await
    }

    /// How many reloads have run (a burst of requests coalesces into few).
    pub fn reloads_run(&self) -> u64 {
        self.reloader.runs()
    }

    /// Stops accepting, lets in-flight requests finish (for the grace period at most) and
    /// returns what serving returned.
    pub async fn shutdown(mut self) -> Result<(), AppError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| AppError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
