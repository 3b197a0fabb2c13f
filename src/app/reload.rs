//! Reloading: SIGHUP and `POST /-/reload` read the configuration again from the same
//! [`Layers`], build the caches of what changed (a target whose configuration is the same
//! keeps its cache, history and gRPC channel), start their refresher and swap them in; the
//! replaced caches are retired (their refresh and inventory pass cut). A configuration that
//! does not load is refused and the running one kept.
//!
//! Reloads are coalesced: one runs at a time, and every request that arrives while it runs
//! is answered by the one reload that starts after it (which reads the files they changed).
//! A burst of any size therefore costs at most the reload running and one more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;

use super::Layers;
use crate::cache::{Caches, Previous};
use crate::config::Config;
use crate::server::{self, AppState, WebConfig};

/// Re-reads the configuration (and web configuration) and swaps in what it builds.
pub struct Reloader {
    layers: Layers,
    /// Weak: the server owns its state; a reload after it stopped has nothing to swap.
    state: Weak<AppState>,
    web: Arc<ArcSwap<WebConfig>>,
    running: std::sync::Mutex<Config>,
    /// One reload at a time; its guard holds what the last reload covered and said.
    lock: tokio::sync::Mutex<Covered>,
    /// Reload requests so far: a request's ticket is this count after it asked.
    requested: AtomicU64,
    /// Reloads actually run (each answering one or more requests).
    runs: AtomicU64,
}

/// What the last finished reload answered, and the requests it answered for.
#[derive(Default)]
struct Covered {
    /// Every request with a ticket up to this one asked before that reload read the files.
    through: u64,
    outcome: Option<Result<String, String>>,
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
            lock: tokio::sync::Mutex::new(Covered::default()),
            requested: AtomicU64::new(0),
            runs: AtomicU64::new(0),
        })
    }

    /// How many reloads have run: a burst of requests coalesced into few shows here.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::SeqCst)
    }

    /// Reloads and logs the outcome; the `Err` is the one-line reason. A request made while
    /// another reload runs waits for the next one, which every such request shares.
    pub async fn reload_now(&self) -> Result<String, String> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut covered = self.lock.lock().await;
        if covered.through >= ticket {
            if let Some(outcome) = &covered.outcome {
                return outcome.clone();
            }
        }
        // Everyone who asked so far is answered by this reload: it reads the files after them.
        let through = self.requested.load(Ordering::SeqCst);
        let result = self.try_reload().await;
        *covered = Covered {
            through,
            outcome: Some(result.clone()),
        };
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
        self.runs.fetch_add(1, Ordering::SeqCst);
        // Reading and checking the files is blocking work (10,000 targets take a while):
        // off the runtime's workers, so requests (and the reloads queued behind this one)
        // are served meanwhile. On a thread of its own that ends with it, rather than the
        // blocking pool: reloads run one at a time, so each one's thread takes over the
        // allocator arena the last one left, and a storm of reloads does not leave a
        // parse's worth of freed memory behind in every pool thread's arena.
        let layers = self.layers.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                let read = layers
                    .config()
                    .map_err(|e| e.to_string())
                    .and_then(|config| {
                        let web = layers.web().map_err(|e| e.to_string())?;
                        Ok((config, web))
                    });
                let _ = done.send(read);
            })
            .map_err(|e| format!("cannot start the reload thread: {e}"))?;
        let (config, web) = result
            .await
            .map_err(|_| "the reload thread failed".to_string())??;
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| "the server has stopped".to_string())?;
        let mut running = match self.running.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let current = state.caches.load_full();
        let previous = Previous {
            caches: &current,
            config: &running,
        };
        let mut caches = Caches::rebuild(&config, previous).map_err(|e| e.to_string())?;
        caches.start_refresher(config.cache.refresh_interval);
        let caches = Arc::new(caches);
        let old = state.caches.swap(Arc::clone(&caches));
        if let Some(web) = web {
            self.web.store(Arc::new(web));
        }
        // What the new caches did not keep is retired now, whoever still holds the old
        // caches: its refresh and inventory pass are cut, never left beside the new ones.
        old.retire_replaced_by(&caches);
        drop(current);
        let notes = restart_notes(&running, &config);
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

/// What a reload read but cannot apply: the listener, the logger and the connection limits
/// are fixed when the process starts.
fn restart_notes(running: &Config, config: &Config) -> Vec<String> {
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
    notes
}

impl server::Reload for Reloader {
    fn reload(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(self.reload_now())
    }
}
