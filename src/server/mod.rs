//! HTTP: the router, its shared state, and the connection loop that serves it.
//!
//! Every handler reads the cache; none talks to Milvus. [`serve_with`] owns the sockets: it
//! always accepts, and at `max_connections` closes the connection idle longest to make room
//! (so idle, slowloris or stalled clients cannot starve `/healthz`); it bounds how long a
//! client may take to send its headers (and its TLS handshake) and how long a response write
//! may make no progress; it caps concurrent `/metrics` and `/probe` answers; it rejects
//! oversized request heads with 431, applies the `--web.config.file` settings (TLS, HTTP/2 by
//! ALPN, basic auth, the rate limit, response headers), and on shutdown stops accepting, lets
//! in-flight requests finish for a bounded grace period, then closes what is left.

mod bodies;
mod conn;
mod encoding;
mod guard;
mod health;
mod landing;
mod metrics;
mod options;
mod respond;
mod router;
mod serve;
mod state;
pub mod web_config;

pub use bodies::{BodyBudget, DEFAULT_MAX_UNSENT_BYTES, SMALL_ANSWER};
pub use guard::Disclosure;
pub use options::{
    ServeOptions, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_REQUESTS,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_WRITE_TIMEOUT, MAX_HEADER_BYTES,
};
pub use respond::query_params;
pub(crate) use respond::{json, text};
pub use router::router;
pub use serve::{serve, serve_with};
pub use state::{AppState, Reload};
pub use web_config::{WebConfig, WebConfigError};
