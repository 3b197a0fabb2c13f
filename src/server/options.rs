//! The HTTP server's limits ([`ServeOptions`]) and their documented defaults.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::WebConfig;

/// Limits of the HTTP server. `Default` holds the documented defaults; the binary takes them
/// from the `[web]` section of the configuration.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// A client must send its whole request head (and finish a TLS handshake) within this,
    /// and an idle keep-alive connection is closed after it. Slowloris protection.
    pub header_read_timeout: Duration,
    /// Connections held at once. Every client is accepted; at the limit the connection idle
    /// longest (no request in flight: idle keep-alive, or still sending its head) is closed to
    /// make room. When every one has a request in flight, the one whose request has run
    /// longest (at least a second) is closed and its request abandoned; when none has run
    /// that long, the new connection is closed instead.
    pub max_connections: usize,
    /// A response write (or TLS flush) that makes no progress for this long closes the
    /// connection: a client that stops reading cannot hold it.
    pub write_timeout: Duration,
    /// `/metrics` and `/probe` answers rendered at once, counted until the handler has its
    /// answer, not while it is written (a slow reader holds no permit); more get 503 at once. 0 = no limit. `/healthz`, `/readyz` and `/health` are never limited.
    pub max_requests: usize,
    /// Bytes held for answers not yet sent, across every connection: an answer that would
    /// take them past this is refused with 503 (see `bodies.rs`; a rendering shared by many
    /// answers counts once). `/healthz` is never refused.
    pub max_unsent_bytes: usize,
    /// Largest request head (request line and headers) in bytes; larger heads get 431.
    pub max_header_bytes: usize,
    /// On shutdown, how long in-flight requests may run before their connections are closed.
    pub shutdown_grace: Duration,
    /// The web config (TLS, HTTP/2, basic auth, rate limit, headers), swappable by a reload
    /// (new connections and requests see the new one).
    pub web: Arc<ArcSwap<WebConfig>>,
}

/// Default `web.header_read_timeout`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `web.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default `web.write_timeout`.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `web.max_requests` (node_exporter's `--web.max-requests` default).
pub const DEFAULT_MAX_REQUESTS: usize = 40;

/// Largest accepted request head: 16 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a graceful shutdown waits for in-flight requests (the process must be gone
/// within 2 s of SIGTERM; the runtime's own shutdown takes up to 200 ms more).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_requests: DEFAULT_MAX_REQUESTS,
            max_unsent_bytes: super::bodies::DEFAULT_MAX_UNSENT_BYTES,
            max_header_bytes: MAX_HEADER_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            web: Arc::new(ArcSwap::from_pointee(WebConfig::default())),
        }
    }
}
