//! Per-connection bookkeeping: which connections are idle (and since when) so that, at
//! `max_connections`, a new client evicts the one idle longest instead of waiting; the write
//! deadline ([`TimedIo`]); and the response body that holds its connection busy (and its
//! `max_requests` permit) until it has been handed to the socket ([`Tracked`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Sleep;

/// The open connections, for eviction. One lock, taken once per accepted connection and once
/// per closed one; an eviction scans the held connections (at most `max_connections`).
pub(super) struct Registry {
    max: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    conns: HashMap<u64, Arc<Shared>>,
}

/// What a connection's task and the registry share.
pub(super) struct Shared {
    /// Requests whose answer has not been fully handed to the socket yet.
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or its last answer written), in
    /// nanoseconds since the registry's epoch.
    idle_since: AtomicU64,
    /// When its current request began (nanoseconds since the epoch); meaningful while busy.
    busy_since: AtomicU64,
    /// Set when the registry evicts it although a request is in flight: the request is
    /// abandoned (the connection closes at once) rather than finished.
    abandoned: AtomicBool,
    /// Told once when the registry evicts this connection.
    pub(super) evicted: Notify,
    epoch: Instant,
}

impl Shared {
    fn now(&self) -> u64 {
        nanos_since(self.epoch)
    }

    /// No request in flight: the connection is waiting for (the rest of) a request head.
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Evicted with a request in flight: close now, do not finish the request.
    pub(super) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Resolves once the connection has had no request in flight for `limit` (HTTP/2, which
    /// has no header read timeout of its own). Wakes at most once per `limit` while busy.
    pub(super) async fn idle_for(&self, limit: Duration) {
        let limit_nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let wait = if self.is_idle() {
                let idle = self
                    .now()
                    .saturating_sub(self.idle_since.load(Ordering::SeqCst));
                if idle >= limit_nanos {
                    return;
                }
                Duration::from_nanos(limit_nanos - idle)
            } else {
                limit
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A connection's place in the registry; leaving it (dropping) frees the place.
pub(super) struct Slot {
    registry: Arc<Registry>,
    id: u64,
    pub(super) shared: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().conns.remove(&self.id);
    }
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct AllBusy;

impl Registry {
    pub(super) fn new(max: usize) -> Arc<Registry> {
        Arc::new(Registry {
            max: max.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent whatever panicked while it was held.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Held connections.
    pub(super) fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// Makes room for a new connection: below the limit at once; at it, by evicting the
    /// connection idle longest, if it has been idle for at least `min_idle` (it is told
    /// through [`Shared::evicted`] and closes itself). When none is idle and `min_busy` is
    /// given, the connection whose request has run longest is evicted instead, if that is at
    /// least `min_busy`: its request is abandoned. Otherwise a flood of slow requests (bad
    /// passwords queueing for bcrypt, `/readyz` waiting on a hung Milvus) would hold every
    /// place and the kubelet's `/healthz` would be turned away. `Err` when there is no such
    /// connection.
    pub(super) fn admit(
        self: &Arc<Self>,
        min_idle: Duration,
        min_busy: Option<Duration>,
    ) -> Result<Slot, AllBusy> {
        let mut inner = self.lock();
        if inner.conns.len() >= self.max {
            let newest = nanos_since(self.epoch)
                .saturating_sub(u64::try_from(min_idle.as_nanos()).unwrap_or(u64::MAX));
            let victim = inner
                .conns
                .iter()
                .filter(|(_, c)| c.is_idle())
                .map(|(id, c)| (*id, c.idle_since.load(Ordering::SeqCst)))
                .filter(|(_, since)| *since <= newest)
                .min_by_key(|(_, since)| *since)
                .map(|(id, _)| id);
            let now = nanos_since(self.epoch);
            let victim = victim.or_else(|| {
                let min_busy = u64::try_from(min_busy?.as_nanos()).unwrap_or(u64::MAX);
                inner
                    .conns
                    .iter()
                    .filter(|(_, c)| !c.is_idle())
                    .map(|(id, c)| (*id, c.busy_since.load(Ordering::SeqCst)))
                    .filter(|(_, since)| now.saturating_sub(*since) >= min_busy)
                    .min_by_key(|(_, since)| *since)
                    .map(|(id, _)| id)
            });
            let Some(victim) = victim.and_then(|id| inner.conns.remove(&id)) else {
                return Err(AllBusy);
            };
            if !victim.is_idle() {
                victim.abandoned.store(true, Ordering::SeqCst);
            }
            victim.evicted.notify_one();
        }
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        let shared = Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(nanos_since(self.epoch)),
            busy_since: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
            evicted: Notify::new(),
            epoch: self.epoch,
        });
        inner.conns.insert(id, Arc::clone(&shared));
        drop(inner);
        Ok(Slot {
            registry: Arc::clone(self),
            id,
            shared,
        })
    }
}

/// One request in flight on a connection, from the parsed head until its answer has been
/// handed to the socket (the response body is dropped).
pub(super) struct InFlight(Arc<Shared>);

impl InFlight {
    pub(super) fn begin(shared: &Arc<Shared>) -> InFlight {
        // Stamp first, so a scan that sees the connection busy sees since when.
        if shared.in_flight.load(Ordering::SeqCst) == 0 {
            shared.busy_since.store(shared.now(), Ordering::SeqCst);
        }
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(shared))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Stamp first, so a scan that sees the connection idle sees when it became so.
        self.0.idle_since.store(self.0.now(), Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight, and its `max_requests`
/// permit taken, until hyper has written it and dropped it.
pub(super) struct Tracked {
    body: Body,
    _in_flight: InFlight,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Tracked {
    pub(super) fn new(
        body: Body,
        in_flight: InFlight,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        Tracked {
            body,
            _in_flight: in_flight,
            _permit: permit,
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A stream whose writes must make progress: a write (or flush) that stays pending for
/// `timeout` fails with `TimedOut`, which ends the connection. Any progress restarts the
/// clock, so a slow reader is served and only a stalled one is cut. Reads pass through (hyper
/// bounds them with its header read timeout).
pub(super) struct TimedIo<S> {
    inner: S,
    timeout: Duration,
    /// Allocated at the first stalled write and reused after.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<S> TimedIo<S> {
    pub(super) fn new(inner: S, timeout: Duration) -> Self {
        TimedIo {
            inner,
            timeout,
            sleep: None,
            armed: false,
        }
    }

    fn track<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.armed = false;
            return r;
        }
        if !self.armed {
            let deadline = tokio::time::Instant::now() + self.timeout;
            match self.sleep.as_mut() {
                Some(s) => s.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        let expired = self
            .sleep
            .as_mut()
            .is_some_and(|s| s.as_mut().poll(cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        self.armed = false;
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "write made no progress for {} ms (web.write_timeout)",
                self.timeout.as_millis()
            ),
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.track(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.track(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.track(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.track(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn when_every_connection_is_busy_the_longest_running_request_makes_room() {
        let r = Registry::new(2);
        let a = r.admit(Duration::ZERO, None).expect("first");
        let _fa = InFlight::begin(&a.shared);
        std::thread::sleep(Duration::from_millis(2));
        let b = r.admit(Duration::ZERO, None).expect("second");
        let _fb = InFlight::begin(&b.shared);
        // Not old enough: the newcomer is refused.
        assert_eq!(
            r.admit(Duration::ZERO, Some(Duration::from_secs(60))).err(),
            Some(AllBusy)
        );
        // Old enough: the request that began first is abandoned, the other one kept.
        let _c = r
            .admit(Duration::ZERO, Some(Duration::ZERO))
            .expect("third evicts a");
        assert!(a.shared.is_abandoned());
        assert!(a.shared.evicted.notified().now_or_never_is_ready());
        assert!(!b.shared.is_abandoned());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn at_the_limit_the_longest_idle_connection_is_evicted_and_a_busy_one_never() {
        let r = Registry::new(2);
        let any = Duration::ZERO;
        let a = r.admit(any, None).expect("first");
        std::thread::sleep(Duration::from_millis(2));
        let b = r.admit(any, None).expect("second");
        // `a` has a request in flight: `b`, though younger, is the one evicted, but only once
        // it has been idle for the minimum asked.
        let flight = InFlight::begin(&a.shared);
        assert_eq!(r.admit(Duration::from_secs(60), None).err(), Some(AllBusy));
        let c = r.admit(any, None).expect("third evicts b");
        assert_eq!(r.len(), 2);
        assert!(b.shared.evicted.notified().now_or_never_is_ready());
        assert!(!a.shared.is_idle());
        // Both held connections busy: a new one is refused rather than cutting a request.
        let flight_c = InFlight::begin(&c.shared);
        assert_eq!(r.admit(any, None).err(), Some(AllBusy));
        // `c` finishes first, then `a`: `c` has been idle longer and goes first.
        drop(flight_c);
        std::thread::sleep(Duration::from_millis(2));
        drop(flight);
        let _d = r.admit(any, None).expect("fourth evicts c");
        assert!(c.shared.evicted.notified().now_or_never_is_ready());
        assert!(!a.shared.evicted.notified().now_or_never_is_ready());
        drop(b);
        assert_eq!(r.len(), 2, "dropping an evicted slot frees nothing twice");
    }

    trait NowOrNever {
        fn now_or_never_is_ready(self) -> bool;
    }

    impl<F: Future> NowOrNever for F {
        fn now_or_never_is_ready(self) -> bool {
            let waker = futures::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let mut f = std::pin::pin!(self);
            f.as_mut().poll(&mut cx).is_ready()
        }
    }

    #[tokio::test]
    async fn a_stalled_write_fails_after_the_timeout_and_progress_restarts_the_clock() {
        let timeout = Duration::from_millis(300);
        let (server, mut client) = tokio::io::duplex(16);
        let mut io = TimedIo::new(server, timeout);
        io.write_all(&[1u8; 16]).await.expect("fits the buffer");
        // The buffer is full; the client reads 4 bytes every 150 ms: slow, but progress, and
        // the whole write takes twice the timeout.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let _ = client.read_exact(&mut buf).await;
            }
            client
        });
        let t = Instant::now();
        io.write_all(&[2u8; 16])
            .await
            .expect("a slow reader is not cut off");
        assert!(t.elapsed() > timeout, "{:?}", t.elapsed());
        let _client = reader.await.expect("reader");
        // Now nobody reads: the next write fails after the timeout.
        let t = Instant::now();
        let err = io.write_all(&[3u8; 16]).await.expect_err("a stalled write");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = t.elapsed();
        assert!(
            took >= timeout && took < Duration::from_millis(1500),
            "{took:?}"
        );
    }
}
