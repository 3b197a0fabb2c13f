//! Reloading: SIGHUP and `POST /-/reload` read the configuration again from the same
//! [`Layers`], build fresh caches, start their refresher and swap them in; the old caches'
//! tasks stop. A configuration that does not load is refused and the running one kept.

use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;

use super::Layers;
use crate::cache::Caches;
use crate::config::Config;
use crate::server::{self, AppState, WebConfig};

/// Re-reads the configuration (and web configuration) and swaps in what it builds.
pub struct Reloader {
    layers: Layers,
    /// Weak: the server owns its state; a reload after it stopped has nothing to swap.
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
        let config = self.layers.config().map_err(|e| e.to_string())?;
        let web = self.layers.web().map_err(|e| e.to_string())?;
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
