//! Process-wide set-up the binary does once before serving: logging and the open-file limit.
//! Tests build and serve apps in one process many times, so these stay out of [`super::App::build`].

use crate::config::{Config, LogFormat};

/// Logs go to stderr. HTTP/2 and TLS libraries stay at info even at trace level: their trace
/// output includes request headers, and the `authorization` header carries the credentials.
pub fn init_logging(config: &Config) {
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

/// Raises the soft limit on open files to the hard limit, as Go's runtime does at start-up:
/// every held connection is a descriptor, and a soft limit of 1024 (a common default) would
/// run out before `web.max_connections` does.
#[cfg(unix)]
pub fn raise_nofile_limit() {
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
pub fn raise_nofile_limit() {}
