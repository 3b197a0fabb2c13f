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

mod conn;
mod health;
mod landing;
mod metrics;
pub mod web_config;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

pub use web_config::{WebConfig, WebConfigError};

use crate::cache::Caches;

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
    /// `/metrics` and `/probe` answers at once, counted until the body is written; more get
    /// 503 at once. 0 = no limit. `/healthz`, `/readyz` and `/health` are never limited.
    pub max_requests: usize,
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
/// At `max_connections`, a connection idle for less than this is not evicted at once: one
/// just accepted may not have sent its request yet. The accept loop waits at most this long
/// for an older idle connection or a free place, then evicts the longest idle whatever its
/// age (or, when every connection has a request in flight, closes the newcomer). Far below
/// the 100 ms `/healthz` budget, and only spent when a burst outruns the limit.
const EVICTION_GRACE: Duration = Duration::from_millis(20);
/// When every held connection has a request in flight, a newcomer evicts the one whose
/// request has run longest, if for at least this long: a flood of slow requests (bad
/// passwords queueing for bcrypt, `/readyz` waiting on a hung Milvus) must not turn the
/// kubelet's `/healthz` away. A second is far longer than any cached answer takes, so an
/// ordinary burst of scrapes is never cut; under such a flood, the oldest request is.
const BUSY_EVICTION_AGE: Duration = Duration::from_secs(1);
/// Largest accepted request head: 16 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Streams one HTTP/2 connection may have open at once (Go's server allows 250; it was 100
/// here). Each is a request like any other, under `max_requests` for `/metrics` and `/probe`.
/// Each open stream pins its answer (a `/readyz` at 10,000 collections is about 1.1 MB) until
/// it is sent, so this times the largest answer is what one connection can hold, for at most
/// `write_timeout` without progress. A scraper uses one stream per scrape, and Go's and
/// hyper's clients open another connection rather than fail when the cap is reached.
const MAX_H2_STREAMS: u32 = 16;
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
            max_header_bytes: MAX_HEADER_BYTES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            web: Arc::new(ArcSwap::from_pointee(WebConfig::default())),
        }
    }
}

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
    reloader: OnceLock<Arc<dyn Reload>>,
    /// `--web.enable-lifecycle`: without it `POST /-/reload` answers 403 (SIGHUP still works).
    lifecycle: AtomicBool,
}

impl AppState {
    pub fn new(caches: Caches) -> Arc<Self> {
        Arc::new(AppState {
            caches: ArcSwap::from_pointee(caches),
            started: Instant::now(),
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

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(landing::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/probe", get(metrics::probe))
        .route("/-/reload", post(reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// `POST /-/reload`: re-read the configuration; 200 with a summary, or 500 with the reason
/// (the running configuration stays). Without `--web.enable-lifecycle`, 403 and nothing done.
async fn reload(State(state): State<Arc<AppState>>) -> Response {
    if state.reloader.get().is_some() && !state.lifecycle_enabled() {
        return text(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n");
    }
    match state.reload().await {
        None => text(
            StatusCode::NOT_FOUND,
            "reload is not available in this process\n",
        ),
        Some(Ok(summary)) => text(StatusCode::OK, format!("{summary}\n")),
        Some(Err(why)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, running configuration kept: {why}\n"),
        ),
    }
}

/// Serves with the default [`ServeOptions`] until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, ServeOptions::default(), shutdown).await
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish for
/// up to `options.shutdown_grace`, and closes the rest.
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    // Logging is up by now (the file was read before it was); after a reload, the first
    // connection that sees the new configuration logs its warnings.
    options.web.load().log_warnings_once();
    let registry = conn::Registry::new(options.max_connections);
    let requests =
        (options.max_requests > 0).then(|| Arc::new(Semaphore::new(options.max_requests)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let options = Arc::new(options);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // Never wait for a slot before accepting: a full house of idle or slow clients must
        // not keep the kubelet's /healthz in the listen backlog.
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match admit(&registry).await {
            Ok(slot) => slot,
            Err(conn::AllBusy) => {
                // Every held connection has had a request in flight for less than
                // BUSY_EVICTION_AGE; closing the newcomer keeps memory bounded.
                tracing::debug!(peer = %peer, held = registry.len(), "all connections busy; closing a new one");
                drop(tcp);
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let ctx = Conn {
            app: app.clone(),
            options: Arc::clone(&options),
            requests: requests.clone(),
            slot,
        };
        let stop = stop_rx.clone();
        connections.spawn(async move {
            serve_connection(tcp, peer, ctx, stop).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            of = open,
            grace_seconds = options.shutdown_grace.as_secs_f64(),
            "requests still running after the shutdown grace period; closing their connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// A place for a new connection: see [`EVICTION_GRACE`].
async fn admit(registry: &Arc<conn::Registry>) -> Result<conn::Slot, conn::AllBusy> {
    let deadline = Instant::now() + EVICTION_GRACE;
    loop {
        if let Ok(slot) = registry.admit(EVICTION_GRACE, None) {
            return Ok(slot);
        }
        if Instant::now() >= deadline {
            return registry.admit(Duration::ZERO, Some(BUSY_EVICTION_AGE));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What one connection's task holds. Dropping it (the `slot`) frees its place.
struct Conn {
    app: Router,
    options: Arc<ServeOptions>,
    requests: Option<Arc<Semaphore>>,
    slot: conn::Slot,
}

/// One client connection: optional TLS handshake (bounded by the header read timeout), then
/// HTTP/1.1, or HTTP/2 when the client chose `h2` by ALPN (offered only when the web config's
/// `http2` is on), until the client leaves, a limit is hit, it is evicted, or the server
/// shuts down. Plain HTTP is always HTTP/1.1, as in the toolkit.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: Conn,
    mut stop: watch::Receiver<bool>,
) {
    let web = ctx.options.web.load_full();
    web.log_warnings_once();
    // Every write, TLS records included, must make progress within the write timeout.
    let tcp = conn::TimedIo::new(tcp, ctx.options.write_timeout);
    match web.tls.clone() {
        None => drive(TokioIo::new(tcp), Proto::Http1, ctx, stop).await,
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let handshake =
                tokio::time::timeout(ctx.options.header_read_timeout, acceptor.accept(tcp));
            let stream = tokio::select! {
                biased;
                r = handshake => r,
                _ = stopped(&mut stop) => return,
                _ = ctx.slot.shared.evicted.notified() => return,
            };
            match stream {
                Ok(Ok(s)) => {
                    let proto = if s.get_ref().1.alpn_protocol() == Some(b"h2") {
                        Proto::Http2
                    } else {
                        Proto::Http1
                    };
                    drive(TokioIo::new(s), proto, ctx, stop).await
                }
                Ok(Err(e)) => tracing::debug!(peer = %peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(peer = %peer, "TLS handshake timed out"),
            }
        }
    }
}

/// The HTTP version a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Http1,
    Http2,
}

async fn drive<I>(io: I, proto: Proto, ctx: Conn, stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Conn {
        app,
        options,
        requests,
        slot,
    } = ctx;
    let web = Arc::clone(&options.web);
    let shared = Arc::clone(&slot.shared);
    // HTTP/2 only: its answers can stall without a socket write pending (see conn::Answers).
    let answers = (proto == Proto::Http2).then(conn::Answers::new);
    let watched = answers.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        // Counted from the parsed head, synchronously: from here on the connection is busy
        // and eviction passes it by.
        let in_flight = conn::InFlight::begin(&shared);
        let app = app.clone();
        let web = web.load_full();
        let requests = requests.clone();
        let watched = watched.clone();
        async move {
            let (resp, permit) = handle(req, app, &web, requests.as_ref()).await;
            // The answer's clock starts once it exists: the time a handler takes is not the
            // client's to spend, as with HTTP/1.1's write timeout.
            let progress = watched.as_ref().map(conn::Answers::begin);
            Ok::<_, Infallible>(
                resp.map(|body| conn::Tracked::new(body, in_flight, permit, progress)),
            )
        }
    });
    match proto {
        Proto::Http1 => {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(options.header_read_timeout)
                .max_header_size(options.max_header_bytes)
                // Room for a complete oversized head, so it is answered 431 rather than cut off.
                .max_buf_size((options.max_header_bytes * 4).max(64 * 1024))
                .max_headers(100);
            let conn = builder.serve_connection(io, service);
            run(conn, |c| c.graceful_shutdown(), slot, stop, None, None).await;
        }
        Proto::Http2 => {
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX))
                .max_concurrent_streams(MAX_H2_STREAMS);
            let conn = builder.serve_connection(io, service);
            // HTTP/2 has no header read timeout of its own: a connection with no request in
            // flight for that long (a silent client, or one dribbling a HEADERS frame) is
            // closed, as an idle HTTP/1.1 keep-alive connection is.
            let idle_limit = Some(options.header_read_timeout);
            // And one with an answer that has made no progress for the write timeout (a
            // client that grants no flow-control window) is closed too, freeing every answer
            // it holds and their `max_requests` permits.
            let stall = answers.map(|a| (a, options.write_timeout));
            run(
                conn,
                |c| c.graceful_shutdown(),
                slot,
                stop,
                idle_limit,
                stall,
            )
            .await;
        }
    }
}

/// Runs a connection until it ends, the server stops, or it is evicted; with `idle_limit`,
/// also closes it once it has had no request in flight for that long; with `stall`, once one
/// of its answers has made no progress for that long, even while it is finishing after a
/// shutdown or an eviction (a graceful close waits for answers a stalled client never takes).
async fn run<C, G>(
    conn: C,
    graceful: G,
    slot: conn::Slot,
    mut stop: watch::Receiver<bool>,
    idle_limit: Option<Duration>,
    stall: Option<(Arc<conn::Answers>, Duration)>,
) where
    C: Future<Output = Result<(), hyper::Error>>,
    G: Fn(Pin<&mut C>),
{
    tokio::pin!(conn);
    let idle = async {
        match idle_limit {
            Some(limit) => slot.shared.idle_for(limit).await,
            None => std::future::pending().await,
        }
    };
    let stalled = async {
        match &stall {
            Some((answers, limit)) => answers.stalled_for(*limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stalled);
    // The connection first: one evicted before its task ever ran still reads the request it
    // has already sent, and a request that has begun is finished below.
    tokio::select! {
        biased;
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut stop) => {
            graceful(conn.as_mut());
            finish(conn.as_mut(), stalled.as_mut()).await;
        }
        _ = slot.shared.evicted.notified() => {
            // Chosen while idle. Checked again here, after polling the connection, so a
            // request that began since is finished first (then the connection closes). One
            // chosen while busy (every place held by a long request) is closed at once.
            if !slot.shared.is_idle() && !slot.shared.is_abandoned() {
                graceful(conn.as_mut());
                finish(conn.as_mut(), stalled.as_mut()).await;
            }
        }
        _ = idle => {
            // Nothing in flight, so nothing to finish: closed at once. (A graceful HTTP/2
            // shutdown would wait for the PING a silent client never answers.)
        }
        _ = stalled.as_mut() => {
            // Closed at once: dropping the connection fails every stream's send, so hyper
            // drops their bodies, and with them their permits and buffered answers.
            tracing::debug!("an HTTP/2 answer made no progress for web.write_timeout; closing the connection");
        }
    }
    drop(slot);
}

/// Drives a connection that is closing gracefully to its end, unless one of its answers
/// stalls first (then it is dropped, which closes it).
async fn finish<C: Future, S: Future>(conn: Pin<&mut C>, stalled: Pin<&mut S>) {
    tokio::select! {
        _ = conn => {}
        _ = stalled => {
            tracing::debug!("an HTTP/2 answer made no progress for web.write_timeout while closing; closing at once");
        }
    }
}

/// Resolves once the server is shutting down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How much a health answer may tell. With basic auth configured, a request on a path exempt
/// from it (`/readyz` for the kubelet) that does not carry valid credentials gets
/// [`Disclosure::StatusOnly`]: the status and the failing rules' names, no addresses,
/// collection names, versions, dependency names or error details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    Full,
    StatusOnly,
}

/// [`guard`], then the web config's response headers on whatever it answered.
async fn handle(
    req: Request<hyper::body::Incoming>,
    app: Router,
    web: &WebConfig,
    requests: Option<&Arc<Semaphore>>,
) -> (Response, Option<OwnedSemaphorePermit>) {
    let (mut resp, permit) = guard(req, app, web, requests).await;
    for (name, value) in &web.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    (resp, permit)
}

/// The rate limit (first, as in the toolkit, so a flood is turned away before it costs a
/// bcrypt; `/healthz` and `/readyz` are exempt), basic auth (when configured and the path is
/// not exempt), the `max_requests` cap on `/metrics` and `/probe`, then the router. The
/// permit, if any, goes with the response body.
async fn guard(
    mut req: Request<hyper::body::Incoming>,
    app: Router,
    web: &WebConfig,
    requests: Option<&Arc<Semaphore>>,
) -> (Response, Option<OwnedSemaphorePermit>) {
    if web.rate_limited(req.uri().path()) {
        return (
            text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests (rate_limit in the web config); retry later\n",
            ),
            None,
        );
    }
    let mut disclosure = Disclosure::Full;
    if let Some(auth) = &web.auth {
        let credentials = req.headers().get(header::AUTHORIZATION);
        if !web.needs_auth(req.uri().path()) {
            // Open to all, but only the authenticated see the details.
            if credentials.is_none() || !auth.check(credentials).await {
                disclosure = Disclosure::StatusOnly;
            }
        } else if !auth.check(credentials).await {
            let mut resp = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic"),
            );
            return (resp, None);
        }
    }
    let permit = match (requests, matches!(req.uri().path(), "/metrics" | "/probe")) {
        (Some(limit), true) => match Arc::clone(limit).try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return (
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many concurrent /metrics and /probe requests (web.max_requests); retry later\n",
                    ),
                    None,
                )
            }
        },
        _ => None,
    };
    req.extensions_mut().insert(disclosure);
    match app.oneshot(req.map(Body::new)).await {
        Ok(resp) => (resp, permit),
        Err(never) => match never {},
    }
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found; endpoints: / /metrics /probe /healthz /readyz /health (POST /-/reload)\n",
    )
}

async fn method_not_allowed() -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed; use GET (POST for /-/reload)\n",
    )
}

// Static header values: from a `&str`, every response would copy and re-validate them.
fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain; charset=utf-8")
}

fn application_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, text_plain())], body.into()).into_response()
}

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, application_json())], bytes).into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {e}\n"),
        ),
    }
}

/// A body that is JSON already.
pub(crate) fn raw_json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, application_json())], body).into_response()
}

/// Query parameters, checked against the names an endpoint knows; anything else is a 400
/// (the `Err` message) so a typo is an error rather than a silently different answer.
pub fn query_params(raw: Option<&str>, known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (k, _) in &pairs {
        if !known.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).flat_map(char::escape_default).collect();
            return Err(format!(
                "unknown query parameter \"{shown}\" (known: {})\n",
                known.join(", ")
            ));
        }
    }
    Ok(pairs)
}
