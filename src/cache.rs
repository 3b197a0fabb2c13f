//! One snapshot per target, refreshed at most once at a time (single-flight), kept warm by a
//! background task, and read lock-free by every endpoint.
//!
//! A refresh runs on its own spawned task, never inside a request: the requests that want it
//! only wait on a shared handle, so a client that hangs up cannot cancel the refresh for the
//! others, and a thousand probes arriving during one slow refresh cost Milvus one set of RPCs.
//!
//! Every refresh runs under the target's full deadline, whoever started it. A reader with a
//! shorter deadline (Prometheus's scrape timeout) only waits less: when its time is up it gets
//! the newest *complete* snapshot, marked cached with its age. A cut refresh never becomes what
//! other clients read, so no client can change the verdict another one sees. A refresh that
//! panics is contained: the panic becomes a failed snapshot and the next refresh runs.

mod caches;
pub mod fleet;

pub use caches::{BuildError, Caches, Previous};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::checks::{CheckError, MilvusClient};
use crate::config::ReadinessConfig;
use crate::history::{Event, History, Limits, Recent};
use crate::readiness::{evaluate, Scope, Verdict};
use crate::snapshot::{Counters, Snapshot};

/// A snapshot and the verdict it leads to: what every endpoint renders.
#[derive(Debug)]
pub struct View {
    pub snapshot: Snapshot,
    pub verdict: Verdict,
    /// The target's history as it was when this view was stored, this view's verdict included.
    pub history: Recent,
    /// Every body rendered from this view, each once (see [`View::rendered`] and
    /// [`View::history_rendered`]); what the answers share.
    rendered: [OnceLock<Bytes>; Rendering::COUNT],
    history_rendered: OnceLock<HistoryJson>,
    /// The same renderings gzipped for the wire, made from the plain ones on first request.
    gzipped: [OnceLock<OpenGzip>; Rendering::COUNT],
}

/// `/health`'s `history` at the full length the view holds, as `[e0,e1,…` without the
/// closing bracket, and where each entry ends: the first `n` entries are then a slice of the
/// one rendering (plus `]`), so no `?history=N` costs a rendering or a copy of its own.
#[derive(Clone, Debug, Default)]
pub struct HistoryJson {
    pub open: Bytes,
    pub ends: Vec<usize>,
}

/// A memoised rendering compressed once for the wire: an open gzip member (header and deflate
/// blocks, none final) and what closing it after a per-request tail needs without reading the
/// plain bytes again. Made and closed by [`crate::render::gzip`]; kept here beside the plain body
/// so it lives and dies with the snapshot it was made from.
#[derive(Clone, Debug)]
pub struct OpenGzip {
    pub head: Bytes,
    /// CRC-32 of the plain bytes in `head`.
    pub crc32: u32,
    /// Length of the plain bytes in `head`.
    pub plain_len: u64,
}

/// The answers that depend on nothing but the view, so each is rendered once per snapshot
/// however many requests read it. Only the per-request parts (the data's age, whether it came
/// from the cache) are added to the memoised text by the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendering {
    MetricsOpenMetrics,
    MetricsText004,
    Ready,
    /// `/readyz?verbose`: the rule lines.
    ReadyVerbose,
    /// `/readyz?verbose`: the end of the since line (the reasons) and the newline.
    ReadyVerboseReasons,
    /// `/health` from `"readiness"` to the end of `"checks"` (no braces).
    Health,
}

impl Rendering {
    const COUNT: usize = 6;
}

impl View {
    pub fn new(snapshot: Snapshot, verdict: Verdict) -> Self {
        View {
            snapshot,
            verdict,
            history: Recent::default(),
            rendered: Default::default(),
            history_rendered: OnceLock::new(),
            gzipped: Default::default(),
        }
    }

    /// This view with the target's history as it stands after its verdict was recorded.
    pub fn with_history(mut self, history: Recent) -> Self {
        self.history = history;
        self
    }

    /// `what`, rendered by `render` the first time anyone asks for it. Readers that arrive
    /// while it is being rendered wait for that one rendering rather than doing their own.
    /// The bytes are shared, not copied: a clone is a reference count.
    pub fn rendered(
        self: &Arc<Self>,
        what: Rendering,
        render: impl FnOnce(&Arc<View>) -> String,
    ) -> Bytes {
        self.rendered[what as usize]
            .get_or_init(|| Bytes::from(render(self)))
            .clone()
    }

    /// The history JSON of this view ([`HistoryJson`]), rendered by `render` the first time.
    pub fn history_rendered(
        self: &Arc<Self>,
        render: impl FnOnce(&Arc<View>) -> HistoryJson,
    ) -> HistoryJson {
        self.history_rendered.get_or_init(|| render(self)).clone()
    }

    /// `what` (rendered as by [`rendered`](Self::rendered)) compressed by `compress` the first
    /// time anyone asks for it, then shared like the plain body: a thousand gzip scrapes of one
    /// snapshot compress it once.
    pub fn gzipped(
        self: &Arc<Self>,
        what: Rendering,
        render: impl FnOnce(&Arc<View>) -> String,
        compress: impl FnOnce(&[u8]) -> OpenGzip,
    ) -> OpenGzip {
        self.gzipped[what as usize]
            .get_or_init(|| compress(&self.rendered(what, render)))
            .clone()
    }
}

/// What a reader got: the view, and whether it came from the cache or from a refresh it waited on.
#[derive(Clone, Debug)]
pub struct Read {
    pub view: Arc<View>,
    pub cached: bool,
}

/// Monotonic now, as tokio's clock has it: the same as `Instant::now()` in production, and
/// paused time in the cache's tests, so ages and ttls can be tested without real waiting.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

type InFlight = Shared<BoxFuture<'static, Option<Arc<View>>>>;

/// What a cache refreshes: the production [`crate::checks::Checker`], or a scripted collector
/// in the cache's own tests (which run on tokio's paused clock and need no Milvus).
pub trait Collect: Send + Sync + 'static {
    /// The target's name (`/probe?target=`).
    fn name(&self) -> &str;
    /// The longest one refresh may take; every check is cut at or before it.
    fn refresh_deadline(&self) -> Duration;
    /// One refresh: every check, each under its own deadline, none past `budget`.
    fn collect(&self, budget: Duration, counters: Counters) -> BoxFuture<'_, Snapshot>;
    /// A snapshot in which every check of `scope` failed with `error`: what readers see
    /// before the first refresh, and what a panicking refresh leaves behind.
    fn failed(&self, scope: Scope, error: CheckError, counters: Counters) -> Snapshot;
    /// Stops whatever the collector runs on tasks of its own (an inventory pass): a retired
    /// cache's work must not go on beside its successor's.
    fn stop(&self) {}
    /// The gRPC client the collector talks through, so a successor with the same connection
    /// settings can keep the channel instead of dialling again.
    fn client(&self) -> Option<Arc<MilvusClient>> {
        None
    }
}

/// Clears the in-flight slot when the refresh task ends, however it ends (finished, panicked
/// or aborted), so a refresh that dies can never leave the cache waiting on it for ever.
struct ClearInFlight(Arc<TargetCache>);

impl Drop for ClearInFlight {
    fn drop(&mut self) {
        match self.0.inflight.lock() {
            Ok(mut s) => *s = None,
            Err(p) => *p.into_inner() = None,
        }
    }
}

pub struct TargetCache {
    checker: Box<dyn Collect>,
    readiness: ReadinessConfig,
    scope: Scope,
    ttl: Duration,
    current: ArcSwapOption<View>,
    /// The refresh under way: when it started, the handle its readers share, and its task,
    /// so a retired cache can cut it.
    inflight: Mutex<Option<(Instant, InFlight, tokio::task::AbortHandle)>>,
    counters: Mutex<Counters>,
    /// The verdict history, kept with the cache so a reload that keeps the cache keeps it
    /// (and shared with a successor that watches the same Milvus).
    history: Arc<Mutex<History>>,
    /// Set when a reload replaced this cache: it starts no refresh any more, and the one it
    /// had under way was cut. A request that still holds it reads its last view.
    retired: AtomicBool,
    /// Requests waiting on this target's refresh now, and how many may (`fleet.max_waiters`).
    waiters: std::sync::atomic::AtomicUsize,
    max_waiters: usize,
}

/// A waiter counted in [`TargetCache::waiters`] until it stops waiting (or is cancelled).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl TargetCache {
    pub fn new(
        checker: impl Collect,
        readiness: ReadinessConfig,
        scope: Scope,
        ttl: Duration,
    ) -> Self {
        // Every check this target runs has an error counter from the start, at zero, so a
        // `rate()` over it has a first value: the checks of a failed snapshot are exactly those.
        let mut counters = Counters::default();
        let none = CheckError::Other(String::new());
        for row in checker.failed(scope, none, Counters::default()).checks() {
            counters.errors_of(row.name);
        }
        TargetCache {
            checker: Box::new(checker),
            readiness,
            scope,
            ttl,
            current: ArcSwapOption::empty(),
            inflight: Mutex::new(None),
            counters: Mutex::new(counters),
            history: Arc::new(Mutex::new(History::new(Limits::default()))),
            retired: AtomicBool::new(false),
            waiters: std::sync::atomic::AtomicUsize::new(0),
            max_waiters: usize::MAX,
        }
    }

    /// This cache letting at most `max` requests wait on its refresh at once (`fleet.max_waiters`).
    pub fn with_max_waiters(self, max: usize) -> Self {
        TargetCache {
            max_waiters: max.max(1),
            ..self
        }
    }

    /// This cache with its history ring bounded by `limits` (`[history]`).
    pub fn with_history_limits(self, limits: Limits) -> Self {
        TargetCache {
            history: Arc::new(Mutex::new(History::new(limits))),
            ..self
        }
    }

    /// This cache taking over from `old`, which watched the same Milvus under a configuration
    /// that changed: it shares `old`'s history and counters and starts from `old`'s last
    /// complete view, so `/readyz` answers from it (not from an empty cache) until this
    /// cache's first refresh is done.
    pub fn succeeding(self, old: &TargetCache) -> Self {
        let counters = match old.counters.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let current = ArcSwapOption::new(old.peek());
        TargetCache {
            history: Arc::clone(&old.history),
            counters: Mutex::new(counters),
            current,
            ..self
        }
    }

    /// Retires this cache (a reload replaced it): the refresh under way is cut, the
    /// collector's own tasks stop, and no refresh starts again.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        let running = match self.inflight.lock() {
            Ok(mut s) => s.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some((_, _, task)) = running {
            task.abort();
        }
        self.checker.stop();
    }

    /// Whether a reload retired this cache.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// The gRPC client of this cache's collector, for a successor to keep.
    pub fn client(&self) -> Option<Arc<MilvusClient>> {
        self.checker.client()
    }

    pub fn name(&self) -> &str {
        self.checker.name()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The longest a reader waits for a refresh: the refresh's own deadline plus a margin for
    /// scheduling. Past it the reader gets the previous snapshot, marked cached.
    pub fn wait_limit(&self) -> Duration {
        self.checker.refresh_deadline() + Duration::from_millis(500)
    }

    /// The current view without waiting for anything.
    pub fn peek(&self) -> Option<Arc<View>> {
        self.current.load_full()
    }

    /// A view no older than the ttl if one can be had in time, else the newest there is.
    pub async fn read(self: &Arc<Self>) -> Read {
        self.read_by(None).await
    }

    /// Like [`read`](Self::read), but the answer must be ready within `answer_within`
    /// (Prometheus's scrape timeout less the offset). The deadline only shortens this reader's
    /// wait: the refresh it starts or joins runs under the full deadline and is shared. If it
    /// is not done in time, this reader gets the newest complete snapshot, marked cached (its
    /// age says how old), and the refresh goes on for everyone else.
    ///
    /// Its waiters are not bounded: `/readyz` and `/health` hold no permit and are asked by a
    /// kubelet, not by whoever can reach `/probe`.
    pub async fn read_by(self: &Arc<Self>, answer_within: Option<Duration>) -> Read {
        match self.read_bounded(answer_within, usize::MAX).await {
            Some(read) => read,
            None => Read {
                view: self.placeholder(),
                cached: true,
            },
        }
    }

    /// [`read_by`](Self::read_by), with the target's waiters bounded: when `max_waiters`
    /// requests already wait on its refresh, this one gets the newest complete snapshot
    /// without waiting, or `None` when there is none yet (the caller answers 503 for this
    /// target alone). A hung Milvus thus holds at most `max_waiters` requests, never the
    /// exporter's capacity to answer for the others.
    pub async fn read_within(self: &Arc<Self>, answer_within: Option<Duration>) -> Option<Read> {
        self.read_bounded(answer_within, self.max_waiters).await
    }

    async fn read_bounded(
        self: &Arc<Self>,
        answer_within: Option<Duration>,
        max_waiters: usize,
    ) -> Option<Read> {
        use std::sync::atomic::Ordering;
        if let Some(view) = self.peek() {
            if view.snapshot.age(now()) < self.ttl {
                return Some(Read { view, cached: true });
            }
        }
        if self.waiters.fetch_add(1, Ordering::SeqCst) >= max_waiters {
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            // Starting (or joining) the refresh costs nothing and keeps the target warm.
            drop(self.refresh());
            return self.peek().map(|view| Read { view, cached: true });
        }
        let _waiting = Waiting(&self.waiters);
        let wait = answer_within.map_or(self.wait_limit(), |d| d.min(self.wait_limit()));
        Some(match tokio::time::timeout(wait, self.refresh()).await {
            Ok(Some(view)) => Read {
                view,
                cached: false,
            },
            _ => Read {
                view: self.peek().unwrap_or_else(|| self.placeholder()),
                cached: true,
            },
        })
    }

    /// Starts a refresh under the full deadline, or joins the one already running (two
    /// refreshes at once would double the load on Milvus).
    pub fn refresh(self: &Arc<Self>) -> InFlight {
        let mut slot = match self.inflight.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some((_, running, _)) = slot.as_ref() {
            return running.clone();
        }
        if self.is_retired() {
            // A request still holding a replaced cache reads its last view; the successor
            // does the refreshing.
            return futures::future::ready(self.peek()).boxed().shared();
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let _clear = ClearInFlight(Arc::clone(&this));
            let budget = this.checker.refresh_deadline();
            let view = match std::panic::AssertUnwindSafe(this.run_refresh(budget))
                .catch_unwind()
                .await
            {
                Ok(view) => view,
                Err(payload) => {
                    let why = crate::checks::panic_message(payload.as_ref());
                    tracing::error!(target_name = this.name(), panic = %why, "refresh panicked");
                    this.failed_view(CheckError::Other(format!("refresh panicked: {why}")))
                }
            };
            this.current.store(Some(Arc::clone(&view)));
            view
        });
        let abort = task.abort_handle();
        let shared = async move { task.await.ok() }.boxed().shared();
        *slot = Some((now(), shared.clone(), abort));
        shared
    }

    async fn run_refresh(&self, budget: Duration) -> Arc<View> {
        let snapshot = self.checker.collect(budget, Counters::default()).await;
        self.new_view(snapshot)
    }

    /// The view of a refresh's snapshot: counted, judged, and recorded in the history (the
    /// one place a view that will be stored is made).
    fn new_view(&self, mut snapshot: Snapshot) -> Arc<View> {
        self.count(&mut snapshot);
        let verdict = evaluate(&snapshot, &self.readiness, self.scope);
        let history = {
            let mut h = match self.history.lock() {
                Ok(h) => h,
                Err(p) => p.into_inner(),
            };
            let event = h.record(snapshot.checked_at, &verdict, &snapshot.checks());
            if matches!(event, Some(Event::First | Event::Transition)) {
                self.log_change(&verdict);
            }
            h.recent()
        };
        Arc::new(View::new(snapshot, verdict).with_history(history))
    }

    /// Adds this refresh to the running counts and stamps them on the snapshot.
    fn count(&self, snapshot: &mut Snapshot) {
        {
            let mut c = match self.counters.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            c.refreshes += 1;
            for row in snapshot.checks() {
                let e = c.errors_of(row.name);
                if !row.success {
                    *e += 1;
                }
            }
            snapshot.counters = c.clone();
        }
    }

    /// A counted view in which every check failed with `error`.
    fn failed_view(&self, error: CheckError) -> Arc<View> {
        let snapshot = self.checker.failed(self.scope, error, Counters::default());
        self.new_view(snapshot)
    }

    /// Logs a change of verdict only (as the history judges one: a percentage that moves is
    /// no change): a log line per refresh would bury the one that matters.
    fn log_change(&self, verdict: &Verdict) {
        let reasons = verdict.reasons().join("; ");
        if verdict.ready {
            tracing::info!(target_name = self.name(), "ready");
        } else {
            tracing::warn!(target_name = self.name(), reasons = %reasons, "not ready");
        }
    }

    /// Why this cache is stuck, if it is: a refresh running far past its own deadline means a
    /// task is wedged, and only a restart will mend that.
    pub fn wedged(&self) -> Option<String> {
        let slot = match self.inflight.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let (since, _, _) = slot.as_ref()?;
        let limit = self.wait_limit() * 3 + Duration::from_secs(10);
        let running = now().saturating_duration_since(*since);
        (running > limit).then(|| {
            format!(
                "refresh of target {} running for {:.0}s (limit {:.0}s)",
                self.name(),
                running.as_secs_f64(),
                limit.as_secs_f64()
            )
        })
    }

    /// What readers see before the first refresh has finished.
    fn placeholder(&self) -> Arc<View> {
        let counters = match self.counters.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let snapshot = self.checker.failed(
            self.scope,
            CheckError::Other("no refresh has completed yet".to_string()),
            counters,
        );
        let verdict = evaluate(&snapshot, &self.readiness, self.scope);
        let history = match self.history.lock() {
            Ok(h) => h.recent(),
            Err(p) => p.into_inner().recent(),
        };
        Arc::new(View::new(snapshot, verdict).with_history(history))
    }
}

impl Collect for crate::checks::Checker {
    fn name(&self) -> &str {
        &self.target.name
    }

    fn refresh_deadline(&self) -> Duration {
        crate::checks::Checker::refresh_deadline(self)
    }

    fn collect(&self, budget: Duration, counters: Counters) -> BoxFuture<'_, Snapshot> {
        Snapshot::take(self, budget, counters).boxed()
    }

    /// The scope is already in the checker: only the main target's has the host check.
    fn failed(&self, _scope: Scope, error: CheckError, counters: Counters) -> Snapshot {
        Snapshot::failed(self, &error, counters)
    }

    fn stop(&self) {
        crate::checks::Checker::stop(self)
    }

    fn client(&self) -> Option<Arc<MilvusClient>> {
        Some(crate::checks::Checker::client(self))
    }
}

#[cfg(test)]
mod tests {
    //! The cache on tokio's paused clock, with a scripted collector: single-flight, deadlines,
    //! a panicking refresh, stale-while-refreshing, and readers that give up.

    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::checks::milvus::MilvusFacts;
    use crate::readiness::tests::{cfg, collections, healthy, milvus};

    /// What one scripted refresh does.
    #[derive(Clone, Copy)]
    enum Step {
        Healthy(Duration),
        Down,
        Panic,
    }

    struct Scripted {
        deadline: Duration,
        calls: Arc<AtomicU64>,
        script: Mutex<VecDeque<Step>>,
    }

    impl Collect for Scripted {
        fn name(&self) -> &str {
            "default"
        }
        fn refresh_deadline(&self) -> Duration {
            self.deadline
        }
        fn collect(&self, budget: Duration, counters: Counters) -> BoxFuture<'_, Snapshot> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let step = self
                .script
                .lock()
                .ok()
                .and_then(|mut s| s.pop_front())
                .unwrap_or(Step::Healthy(Duration::ZERO));
            async move {
                let mut s = healthy();
                s.counters = counters;
                match step {
                    Step::Healthy(delay) => {
                        if tokio::time::timeout(budget, tokio::time::sleep(delay))
                            .await
                            .is_err()
                        {
                            milvus(&mut s).outcome = Err(CheckError::Timeout {
                                rpc: "CheckHealth",
                                after: budget,
                            });
                        }
                    }
                    Step::Down => {
                        milvus(&mut s).outcome = Err(CheckError::Other("down".into()));
                    }
                    Step::Panic => panic!("boom in collect"),
                }
                s.taken_at = now();
                s
            }
            .boxed()
        }
        fn failed(&self, _: Scope, error: CheckError, counters: Counters) -> Snapshot {
            let mut s = healthy();
            milvus(&mut s).outcome = Err(error.clone());
            collections(&mut s).outcome = Err(error);
            s.counters = counters;
            s.taken_at = now();
            s
        }
    }

    const TTL: Duration = Duration::from_secs(10);
    const DEADLINE: Duration = Duration::from_secs(5);

    fn cache(script: &[Step]) -> (Arc<TargetCache>, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let c = TargetCache::new(
            Scripted {
                deadline: DEADLINE,
                calls: Arc::clone(&calls),
                script: Mutex::new(script.iter().copied().collect()),
            },
            cfg(),
            Scope::Main,
            TTL,
        );
        (Arc::new(c), calls)
    }

    fn milvus_error(r: &Read) -> String {
        r.view
            .snapshot
            .result::<MilvusFacts>()
            .and_then(|m| m.error())
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_readers_share_one_refresh() {
        let (c, calls) = cache(&[Step::Healthy(Duration::from_secs(1))]);
        let readers: Vec<_> = (0..100)
            .map(|_| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.read().await })
            })
            .collect();
        let mut views = Vec::new();
        for r in readers {
            views.push(r.await.expect("reader").view);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one refresh for 100 readers"
        );
        assert!(views.iter().all(|v| Arc::ptr_eq(v, &views[0])));
        assert!(views[0].verdict.ready);
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_scrape_deadline_never_becomes_what_others_read() {
        let (c, calls) = cache(&[
            Step::Healthy(Duration::ZERO),
            Step::Healthy(Duration::from_secs(3)),
        ]);
        let first = c.read().await;
        assert!(first.view.verdict.ready);
        tokio::time::advance(TTL + Duration::from_secs(1)).await;

        // A scrape that will only wait 10 ms while Milvus takes 3 s to answer.
        let started = tokio::time::Instant::now();
        let short = c.read_by(Some(Duration::from_millis(10))).await;
        assert!(started.elapsed() <= Duration::from_millis(10));
        assert!(
            short.cached,
            "the impatient scrape gets the last complete view"
        );
        assert!(Arc::ptr_eq(&short.view, &first.view));
        assert!(short.view.verdict.ready);
        // Everyone else still reads the complete, ready view...
        let peeked = c.peek().expect("a view");
        assert!(peeked.verdict.ready);
        assert!(peeked.snapshot.facts::<MilvusFacts>().is_some());
        // ...and the refresh it joined runs to completion under the full deadline.
        let full = c.read().await;
        assert!(!full.cached);
        assert!(full.view.verdict.ready, "{}", milvus_error(&full));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "no extra refresh for the scrape"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_deadline_before_any_refresh_gets_the_placeholder_not_a_cut_refresh() {
        let (c, calls) = cache(&[Step::Healthy(Duration::from_secs(2))]);
        let short = c.read_by(Some(Duration::from_millis(50))).await;
        assert!(short.cached);
        assert!(!short.view.verdict.ready);
        assert!(milvus_error(&short).contains("no refresh has completed yet"));
        assert!(c.peek().is_none(), "nothing cut was stored");
        let full = c.read().await;
        assert!(full.view.verdict.ready);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_refresh_is_reported_and_the_next_one_runs() {
        let (c, calls) = cache(&[Step::Panic, Step::Healthy(Duration::ZERO)]);
        let r = c.read().await;
        assert!(!r.view.verdict.ready);
        assert!(
            milvus_error(&r).contains("refresh panicked: boom in collect"),
            "{}",
            milvus_error(&r)
        );
        assert!(c.wedged().is_none(), "the in-flight slot was cleared");
        assert_eq!(r.view.snapshot.counters.refreshes, 1);
        tokio::time::advance(TTL).await;
        let next = c.read().await;
        assert!(next.view.verdict.ready, "{}", milvus_error(&next));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_milvus_is_cut_at_the_refresh_deadline() {
        let (c, _) = cache(&[Step::Healthy(Duration::from_secs(3600))]);
        let started = tokio::time::Instant::now();
        let r = c.read().await;
        let took = started.elapsed();
        assert!(took <= c.wait_limit(), "answered after {took:?}");
        assert!(!r.view.verdict.ready);
        assert!(
            milvus_error(&r).contains("timed out after 5s"),
            "{}",
            milvus_error(&r)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stale_while_refreshing_then_fresh() {
        let (c, _) = cache(&[Step::Down, Step::Healthy(Duration::from_secs(4))]);
        let down = c.read().await;
        assert!(!down.view.verdict.ready);
        tokio::time::advance(TTL).await;
        let stale = c.read_by(Some(Duration::from_secs(1))).await;
        assert!(stale.cached);
        assert!(Arc::ptr_eq(&stale.view, &down.view));
        assert!(stale.view.snapshot.age(now()) >= TTL);
        tokio::time::advance(Duration::from_secs(4)).await;
        let fresh = c.read().await;
        assert!(fresh.view.verdict.ready);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_gives_up_does_not_cancel_the_refresh() {
        let (c, calls) = cache(&[Step::Healthy(Duration::from_secs(2))]);
        let reader = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.read().await })
        };
        tokio::time::advance(Duration::from_millis(100)).await;
        reader.abort();
        assert!(reader.await.is_err(), "the reader was cancelled");
        tokio::time::advance(Duration::from_secs(3)).await;
        // Let the spawned refresh task run to its end.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let view = c.peek().expect("the refresh finished without its reader");
        assert!(view.verdict.ready);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn each_stored_view_carries_the_history_with_its_own_verdict_recorded() {
        let (c, _) = cache(&[
            Step::Healthy(Duration::ZERO),
            Step::Down,
            Step::Healthy(Duration::ZERO),
            Step::Down,
        ]);
        let mut last = None;
        for _ in 0..4 {
            last = Some(c.read().await.view);
            tokio::time::advance(TTL).await;
        }
        let view = last.expect("four views");
        assert_eq!(view.history.transitions, 3);
        assert_eq!(view.history.entries.len(), 4, "{:?}", view.history.entries);
        assert!(
            !view.history.entries[0].ready,
            "newest first: the last refresh was down"
        );
        assert_eq!(view.history.entries[0].rules, vec!["milvus".to_string()]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_view_is_served_without_a_refresh() {
        let (c, calls) = cache(&[]);
        c.read().await;
        tokio::time::advance(TTL - Duration::from_millis(1)).await;
        for _ in 0..50 {
            assert!(c.read().await.cached);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!c.read().await.cached);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
