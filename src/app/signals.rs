//! The binary's signals: SIGTERM (or Ctrl-C) shuts down gracefully, SIGHUP reloads. They are
//! registered up front, before the start line is logged, so a signal sent the moment the
//! exporter says it is up is handled rather than killing the process.

use std::sync::Arc;

use super::Reloader;

#[cfg(unix)]
pub(super) type Signal = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub(super) type Signal = Option<()>;

/// SIGTERM and SIGHUP, registered up front.
pub(super) struct Signals {
    pub(super) term: Signal,
    pub(super) hup: Signal,
}

impl Signals {
    #[cfg(unix)]
    pub(super) fn register() -> Signals {
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
    pub(super) fn register() -> Signals {
        Signals {
            term: None,
            hup: None,
        }
    }
}

/// SIGHUP reloads the configuration, one reload per signal (the reloader queues a burst).
#[cfg(unix)]
pub(super) async fn reload_on_sighup(reloader: Arc<Reloader>, hup: Signal) {
    let Some(mut hup) = hup else {
        return;
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let _ = reloader.reload_now().await;
    }
}

#[cfg(not(unix))]
pub(super) async fn reload_on_sighup(_reloader: Arc<Reloader>, _hup: Signal) {}

/// Resolves on SIGTERM or Ctrl-C.
pub(super) async fn terminated(term: Signal) {
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
}
