//! Per-connection bookkeeping: which connections are idle (and since when) so that, at
//! `max_connections`, a new client evicts the one idle longest instead of waiting; the write
//! deadline ([`TimedIo`]); the response body that holds its connection busy until it has
//! been handed to the socket ([`Tracked`]); and, for
//! HTTP/2, when each answer last made progress ([`Answers`]).

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
use tokio::sync::Notify;
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

/// The largest piece of an HTTP/2 answer handed to hyper at once: one DATA frame at the
/// default `SETTINGS_MAX_FRAME_SIZE`. hyper asks a body for its next piece only once the
/// client's window covers the one before, so each piece is proof that the client is reading;
/// a whole `/metrics` body in one piece would let a slow but honest reader look stalled, and
/// let h2 queue megabytes for a client that has granted one byte. Pieces are slices of the
/// answer (`Bytes::split_to`), not copies.
pub(super) const H2_PIECE: usize = 16 * 1024;

/// The answers an HTTP/2 connection has handed to hyper and not finished, each with when it
/// last made progress (was created, or had a piece taken by hyper). HTTP/2 needs this where
/// HTTP/1.1 does not: a client that grants no flow-control window stops every answer without
/// leaving a socket write pending, so [`TimedIo`] never fires, and with answers in flight the
/// idle limit never does either. One lock per connection, taken once per piece.
pub(super) struct Answers {
    epoch: Instant,
    inner: Mutex<AnswersInner>,
}

#[derive(Default)]
struct AnswersInner {
    next_id: u64,
    /// Answer id to its last progress, in nanoseconds since `epoch`.
    progress: HashMap<u64, u64>,
}

impl Answers {
    pub(super) fn new() -> Arc<Answers> {
        Arc::new(Answers {
            epoch: Instant::now(),
            inner: Mutex::new(AnswersInner::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, AnswersInner> {
        // A map of timestamps stays usable whatever panicked while it was held.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching one answer; its clock starts now.
    pub(super) fn begin(self: &Arc<Self>) -> Progress {
        let now = nanos_since(self.epoch);
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        inner.progress.insert(id, now);
        drop(inner);
        Progress {
            answers: Arc::clone(self),
            id,
        }
    }

    /// Resolves once some answer has made no progress for `limit`. Wakes when the oldest
    /// could first have expired, or every `limit` when there is none.
    pub(super) async fn stalled_for(&self, limit: Duration) {
        let limit_nanos = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        loop {
            let oldest = self.lock().progress.values().min().copied();
            let wait = match oldest {
                None => limit,
                Some(since) => {
                    let quiet = nanos_since(self.epoch).saturating_sub(since);
                    if quiet >= limit_nanos {
                        return;
                    }
                    Duration::from_nanos(limit_nanos - quiet)
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

/// One answer watched by [`Answers`]; dropping it (with the body) stops the watch.
pub(super) struct Progress {
    answers: Arc<Answers>,
    id: u64,
}

impl Progress {
    fn made(&self) {
        let now = nanos_since(self.answers.epoch);
        self.answers.lock().progress.insert(self.id, now);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.answers.lock().progress.remove(&self.id);
    }
}

/// A response body that keeps its request counted as in flight until hyper has written it
/// and dropped it. (Its `max_requests` permit, if any, was given back when the handler had
/// its answer: a slow reader holds memory the body budget bounds, not a render slot.) With a [`Progress`] (HTTP/2), it
/// hands its data over in pieces of at most [`H2_PIECE`] and stamps each one.
pub(super) struct Tracked {
    body: Body,
    /// What is left of a data frame cut into pieces; never empty.
    rest: Option<Bytes>,
    progress: Option<Progress>,
    _in_flight: InFlight,
}

impl Tracked {
    pub(super) fn new(body: Body, in_flight: InFlight, progress: Option<Progress>) -> Self {
        Tracked {
            body,
            rest: None,
            progress,
            _in_flight: in_flight,
        }
    }

    /// The first [`H2_PIECE`] bytes of `data`, keeping the rest for the next poll.
    fn piece(&mut self, mut data: Bytes) -> Bytes {
        if data.len() > H2_PIECE {
            let head = data.split_to(H2_PIECE);
            self.rest = Some(data);
            head
        } else {
            data
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
        let this = self.get_mut();
        let Some(progress) = &this.progress else {
            return Pin::new(&mut this.body).poll_frame(cx);
        };
        progress.made();
        if let Some(rest) = this.rest.take() {
            let piece = this.piece(rest);
            return Poll::Ready(Some(Ok(http_body::Frame::data(piece))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(http_body::Frame::data(this.piece(data))))),
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let inner = self.body.size_hint();
        let rest = self.rest.as_ref().map_or(0, |r| r.len() as u64);
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(rest));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(rest));
        }
        hint
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

    /// Two data frames as a memoised `/metrics` answer has them (axum::body::Body of a stream).
    fn two_frames(a: usize, b: usize) -> (Body, Vec<u8>) {
        let first: Vec<u8> = (0..a).map(|i| (i % 251) as u8).collect();
        let second: Vec<u8> = (0..b).map(|i| (i % 241) as u8).collect();
        let whole = [first.clone(), second.clone()].concat();
        let frames = futures::stream::iter([
            Ok::<_, std::convert::Infallible>(Bytes::from(first)),
            Ok(Bytes::from(second)),
        ]);
        (Body::from_stream(frames), whole)
    }

    /// Polls `body` to its end, returning each data frame's length and the bytes.
    async fn drain(mut body: Tracked) -> (Vec<usize>, Vec<u8>) {
        use http_body::Body as _;
        let mut sizes = Vec::new();
        let mut bytes = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let data = frame.expect("frame").into_data().expect("data");
            sizes.push(data.len());
            bytes.extend_from_slice(&data);
        }
        (sizes, bytes)
    }

    #[tokio::test]
    async fn an_http2_answer_is_handed_over_in_pieces_and_an_http1_answer_whole() {
        let r = Registry::new(1);
        let slot = r.admit(Duration::ZERO, None).expect("slot");
        let answers = Answers::new();
        let (body, whole) = two_frames(2 * H2_PIECE + 5, H2_PIECE - 1);
        let tracked = Tracked::new(body, InFlight::begin(&slot.shared), Some(answers.begin()));
        let (sizes, bytes) = drain(tracked).await;
        assert_eq!(bytes, whole, "the pieces are the answer, in order");
        assert_eq!(sizes, vec![H2_PIECE, H2_PIECE, 5, H2_PIECE - 1]);
        assert!(
            answers.lock().progress.is_empty(),
            "a dropped answer is not watched"
        );
        assert!(slot.shared.is_idle());

        // Without a watch (HTTP/1.1), the frames go as they came.
        let (body, whole) = two_frames(3 * H2_PIECE, 7);
        let tracked = Tracked::new(body, InFlight::begin(&slot.shared), None);
        let (sizes, bytes) = drain(tracked).await;
        assert_eq!(bytes, whole);
        assert_eq!(sizes, vec![3 * H2_PIECE, 7]);
    }

    #[tokio::test]
    async fn a_piece_left_over_counts_in_the_size_and_holds_the_end_of_stream() {
        use http_body::Body as _;
        let r = Registry::new(1);
        let slot = r.admit(Duration::ZERO, None).expect("slot");
        let answers = Answers::new();
        let len = 3 * H2_PIECE + 1;
        let mut tracked = Tracked::new(
            Body::from(vec![7u8; len]),
            InFlight::begin(&slot.shared),
            Some(answers.begin()),
        );
        assert_eq!(tracked.size_hint().exact(), Some(len as u64));
        let first = std::future::poll_fn(|cx| Pin::new(&mut tracked).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("data");
        assert_eq!(first.data_ref().map(Bytes::len), Some(H2_PIECE));
        // The one frame of the body has been taken, but not all of it sent.
        assert!(!tracked.is_end_stream());
        assert_eq!(tracked.size_hint().exact(), Some((len - H2_PIECE) as u64));
        let mut rest = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| Pin::new(&mut tracked).poll_frame(cx)).await
        {
            rest.push(frame.expect("frame").into_data().expect("data").len());
        }
        assert_eq!(rest, vec![H2_PIECE, H2_PIECE, 1]);
        assert!(tracked.is_end_stream());
    }

    #[tokio::test]
    async fn an_answer_without_progress_for_the_limit_is_reported_and_progress_restarts_it() {
        let limit = Duration::from_millis(300);
        let answers = Answers::new();
        // Nothing watched: never stalled.
        let none = tokio::time::timeout(3 * limit, answers.stalled_for(limit)).await;
        assert!(none.is_err(), "stalled with no answer");
        // One answer that makes progress every 20 ms: not stalled, for several limits.
        let busy = answers.begin();
        let moving = tokio::time::timeout(5 * limit, async {
            tokio::select! {
                _ = answers.stalled_for(limit) => true,
                _ = async {
                    loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        busy.made();
                    }
                } => false,
            }
        })
        .await;
        assert!(
            moving.is_err(),
            "an answer making progress was reported stalled"
        );
        // Another that makes none: reported, not before the limit.
        let _quiet = answers.begin();
        busy.made();
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), answers.stalled_for(limit))
            .await
            .expect("a stalled answer is reported");
        assert!(t.elapsed() >= limit, "{:?}", t.elapsed());
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
