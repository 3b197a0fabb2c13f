//! What the handlers share: the caches (swappable by a reload) and the reload itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use futures::future::BoxFuture;

use super::BodyBudget;
use crate::cache::Caches;

/// A configuration reload, as `POST /-/reload` and SIGHUP trigger it. `Ok` carries a one-line
/// summary, `Err` a one-line reason (the running configuration is then kept).
pub trait Reload: Send + Sync {
    fn reload(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// What handlers share. The caches sit behind an `ArcSwap` so a configuration reload can
/// replace them without a lock on the request path.
pub struct AppState {
    pub caches: ArcSwap<Caches>,
    pub started: Instant,
    /// The ceiling on bytes held for unsent answers, for every connection at once.
    pub bodies: Arc<BodyBudget>,
    pub(super) reloader: OnceLock<Arc<dyn Reload>>,
    /// `--web.enable-lifecycle`: without it `POST /-/reload` answers 403 (SIGHUP still works).
    lifecycle: AtomicBool,
}

impl AppState {
    pub fn new(caches: Caches) -> Arc<Self> {
        Arc::new(AppState {
            caches: ArcSwap::from_pointee(caches),
            started: Instant::now(),
            bodies: BodyBudget::new(super::DEFAULT_MAX_UNSENT_BYTES),
            reloader: OnceLock::new(),
            lifecycle: AtomicBool::new(false),
        })
    }

    /// Enables `POST /-/reload` (once; later calls are ignored).
    pub fn set_reloader(&self, reloader: Arc<dyn Reload>) {
        let _ = self.reloader.set(reloader);
    }

    /// Lets `POST /-/reload` run the reload (`--web.enable-lifecycle`, as in Prometheus).
    pub fn enable_lifecycle(&self) {
        self.lifecycle.store(true, Ordering::SeqCst);
    }

    /// Whether `POST /-/reload` may reload.
    pub fn lifecycle_enabled(&self) -> bool {
        self.lifecycle.load(Ordering::SeqCst)
    }

    /// Runs the installed reload, if any.
    pub async fn reload(&self) -> Option<Result<String, String>> {
        let r = self.reloader.get()?.clone();
        Some(r.reload().await)
    }
}
