//! The connection loop: accept, admit (evicting at `max_connections`), TLS, HTTP/1.1 or
//! HTTP/2, the idle and stall limits, and the graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::guard::handle;
use super::{conn, router, AppState, ServeOptions};

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

/// Streams one HTTP/2 connection may have open at once (Go's server allows 250; it was 100
/// here). Each is a request like any other, under `max_requests` for `/metrics` and `/probe` while it renders.
/// Each open stream pins its answer (a `/readyz` at 10,000 collections is about 1.1 MB) until
/// it is sent, so this times the largest answer is what one connection can hold, for at most
/// `write_timeout` without progress. A scraper uses one stream per scrape, and Go's and
/// hyper's clients open another connection rather than fail when the cap is reached.
const MAX_H2_STREAMS: u32 = 16;

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
    state.bodies.set_limit(options.max_unsent_bytes);
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
            let resp = handle(req, app, &web, requests.as_ref()).await;
            // The answer's clock starts once it exists: the time a handler takes is not the
            // client's to spend, as with HTTP/1.1's write timeout.
            let progress = watched.as_ref().map(conn::Answers::begin);
            Ok::<_, Infallible>(resp.map(|body| conn::Tracked::new(body, in_flight, progress)))
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
            // it holds.
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
            // drops their bodies, and with them their buffered answers.
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
