//! One snapshot per target, refreshed at most once at a time (single-flight), kept warm by a
//! background task, and read lock-free by every endpoint.
//!
//! A refresh runs on its own spawned task, never inside a request: the requests that want it
//! only wait on a shared handle, so a client that hangs up cannot cancel the refresh for the
//! others, and a thousand probes arriving during one slow refresh cost Milvus one set of RPCs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::checks::{CheckError, Checker};
use crate::config::ReadinessConfig;
use crate::readiness::{evaluate, Scope, Verdict};
use crate::snapshot::{CheckName, CheckResult, Counters, Snapshot};

/// A snapshot and the verdict it leads to: what every endpoint renders.
#[derive(Debug)]
pub struct View {
    pub snapshot: Snapshot,
    pub verdict: Verdict,
    rendered: [OnceLock<Bytes>; Rendering::COUNT],
}

/// The answers that depend on nothing but the view, so each is rendered once per snapshot
/// however many requests read it. Only the per-request parts (the data's age, whether it came
/// from the cache) are added to the memoised text by the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendering {
    MetricsOpenMetrics,
    MetricsText004,
    Ready,
}

impl Rendering {
    const COUNT: usize = 3;
}

impl View {
    pub fn new(snapshot: Snapshot, verdict: Verdict) -> Self {
        View {
            snapshot,
            verdict,
            rendered: Default::default(),
        }
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
}

/// What a reader got: the view, and whether it came from the cache or from a refresh it waited on.
#[derive(Clone, Debug)]
pub struct Read {
    pub view: Arc<View>,
    pub cached: bool,
}

type InFlight = Shared<BoxFuture<'static, Option<Arc<View>>>>;

pub struct TargetCache {
    checker: Checker,
    readiness: ReadinessConfig,
    scope: Scope,
    ttl: Duration,
    current: ArcSwapOption<View>,
    inflight: Mutex<Option<(Instant, InFlight)>>,
    counters: Mutex<Counters>,
}

impl TargetCache {
    pub fn new(checker: Checker, readiness: ReadinessConfig, scope: Scope, ttl: Duration) -> Self {
        let mut errors = BTreeMap::new();
        let checks: &[CheckName] = match scope {
            Scope::Main => &[CheckName::Milvus, CheckName::Collections, CheckName::System],
            Scope::ProbeTarget => &[CheckName::Milvus, CheckName::Collections],
        };
        for c in checks {
            errors.insert(*c, 0);
        }
        TargetCache {
            checker,
            readiness,
            scope,
            ttl,
            current: ArcSwapOption::empty(),
            inflight: Mutex::new(None),
            counters: Mutex::new(Counters {
                refreshes: 0,
                errors,
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.checker.target.name
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

    /// Like [`read`](Self::read), but the whole answer must be ready within `answer_within`
    /// (Prometheus's scrape timeout less the offset). A refresh started for such a reader runs
    /// under that shorter budget, so what finishes is reported and what does not is marked as
    /// a timeout, instead of the scrape being lost.
    pub async fn read_by(self: &Arc<Self>, answer_within: Option<Duration>) -> Read {
        if let Some(view) = self.peek() {
            if view.snapshot.age(Instant::now()) < self.ttl {
                return Read { view, cached: true };
            }
        }
        let (wait, budget) = match answer_within {
            None => (self.wait_limit(), self.checker.refresh_deadline()),
            Some(d) => (
                d.min(self.wait_limit()),
                d.saturating_sub(Duration::from_millis(20))
                    .max(Duration::from_millis(1))
                    .min(self.checker.refresh_deadline()),
            ),
        };
        let refresh = self.refresh_with(budget);
        match tokio::time::timeout(wait, refresh).await {
            Ok(Some(view)) => Read {
                view,
                cached: false,
            },
            _ => Read {
                view: self.peek().unwrap_or_else(|| self.placeholder()),
                cached: true,
            },
        }
    }

    /// Starts a refresh with the full budget, or joins the one already running.
    pub fn refresh(self: &Arc<Self>) -> InFlight {
        self.refresh_with(self.checker.refresh_deadline())
    }

    /// Starts a refresh under `budget`, or joins the one already running (whatever its budget:
    /// two refreshes at once would double the load on Milvus).
    fn refresh_with(self: &Arc<Self>, budget: Duration) -> InFlight {
        let mut slot = match self.inflight.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some((_, running)) = slot.as_ref() {
            return running.clone();
        }
        let this = Arc::clone(self);
        let task = tokio::spawn(async move {
            let view = this.run_refresh(budget).await;
            this.current.store(Some(Arc::clone(&view)));
            match this.inflight.lock() {
                Ok(mut s) => *s = None,
                Err(p) => *p.into_inner() = None,
            }
            view
        });
        let shared = async move { task.await.ok() }.boxed().shared();
        *slot = Some((Instant::now(), shared.clone()));
        shared
    }

    async fn run_refresh(&self, budget: Duration) -> Arc<View> {
        let mut snapshot = self.checker.collect(budget, Counters::default()).await;
        {
            let mut c = match self.counters.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            c.refreshes += 1;
            for (name, success, _, _) in snapshot.checks() {
                let e = c.errors.entry(name).or_insert(0);
                if !success {
                    *e += 1;
                }
            }
            snapshot.counters = c.clone();
        }
        let verdict = evaluate(&snapshot, &self.readiness, self.scope);
        self.log_change(&verdict);
        Arc::new(View::new(snapshot, verdict))
    }

    /// Logs a change of verdict only: a log line per refresh would bury the one that matters.
    fn log_change(&self, verdict: &Verdict) {
        let previous = self.peek();
        let changed = match &previous {
            None => true,
            Some(p) => p.verdict.ready != verdict.ready || p.verdict.reasons() != verdict.reasons(),
        };
        if !changed {
            return;
        }
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
        let (since, _) = slot.as_ref()?;
        let limit = self.wait_limit() * 3 + Duration::from_secs(10);
        let running = since.elapsed();
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
        fn pending<T>() -> CheckResult<T> {
            CheckResult {
                duration: Duration::ZERO,
                outcome: Err(CheckError::Other(
                    "no refresh has completed yet".to_string(),
                )),
            }
        }
        let snapshot = Snapshot {
            target: self.name().to_string(),
            address: self.checker.target.address.clone(),
            checked_at: SystemTime::now(),
            taken_at: Instant::now(),
            duration: Duration::ZERO,
            milvus: pending(),
            collections: pending(),
            system: (self.scope == Scope::Main).then(pending),
            components: self.checker.components.as_ref().map(|_| pending()),
            probes: Vec::new(),
            dependencies: Vec::new(),
            counters: match self.counters.lock() {
                Ok(c) => c.clone(),
                Err(p) => p.into_inner().clone(),
            },
        };
        let verdict = evaluate(&snapshot, &self.readiness, self.scope);
        Arc::new(View::new(snapshot, verdict))
    }
}

/// Every target's cache, and the tasks that keep them warm.
pub struct Caches {
    pub main: Arc<TargetCache>,
    pub targets: BTreeMap<String, Arc<TargetCache>>,
    /// Subtracted from a scrape's timeout header (`web.scrape_timeout_offset`).
    pub scrape_timeout_offset: Duration,
    refresher: Option<tokio::task::JoinHandle<()>>,
    sampler: Option<tokio::task::JoinHandle<()>>,
}

impl Caches {
    pub fn new(
        main: Arc<TargetCache>,
        targets: BTreeMap<String, Arc<TargetCache>>,
        sampler: Option<tokio::task::JoinHandle<()>>,
    ) -> Self {
        Caches {
            main,
            targets,
            scrape_timeout_offset: Duration::from_millis(100),
            refresher: None,
            sampler,
        }
    }

    /// Refreshes the main target now and then every `interval` (0 = only on demand).
    pub fn start_refresher(&mut self, interval: Duration) {
        let main = Arc::clone(&self.main);
        // The first refresh starts at once, so the first probe finds data or a refresh under way.
        drop(main.refresh());
        if interval.is_zero() {
            return;
        }
        self.refresher = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let fresh = main
                    .peek()
                    .is_some_and(|v| v.snapshot.age(Instant::now()) < interval / 2);
                if !fresh {
                    main.refresh().await;
                }
            }
        }));
    }

    /// `None` when the exporter itself is well; otherwise why `/healthz` should fail.
    pub fn wedged(&self) -> Option<String> {
        if self.refresher.as_ref().is_some_and(|h| h.is_finished()) {
            return Some("the background refresher has stopped".into());
        }
        if self.sampler.as_ref().is_some_and(|h| h.is_finished()) {
            return Some("the CPU sampler has stopped".into());
        }
        std::iter::once(&self.main)
            .chain(self.targets.values())
            .find_map(|c| c.wedged())
    }

    /// The cache `/probe?target=NAME` should read; the main target answers to its name too.
    pub fn target(&self, name: &str) -> Option<&Arc<TargetCache>> {
        if self.main.name() == name {
            Some(&self.main)
        } else {
            self.targets.get(name)
        }
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.refresher.take() {
            h.abort();
        }
        if let Some(h) = self.sampler.take() {
            h.abort();
        }
    }
}

impl Drop for Caches {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why the caches could not be built from a configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("config: {0}")]
    Client(#[from] crate::checks::milvus::ClientError),
    #[error("{0}")]
    Sampler(#[from] crate::checks::system::SamplerError),
}

impl Caches {
    /// Builds every target's cache and starts the CPU sampler (needs a tokio runtime).
    pub fn from_config(config: &crate::config::Config) -> Result<Caches, BuildError> {
        let sampler = Arc::new(crate::checks::SystemSampler::new(
            config.system.disk_paths.clone(),
        )?);
        let sampler_task = sampler.start_cpu_sampler(config.system.cpu_sample_interval);
        let main = Arc::new(TargetCache::new(
            Checker::new(config.milvus.clone(), Some(sampler))?
                .with_extras(config.readiness.probes.clone(), config.dependencies.clone())?,
            config.readiness.clone(),
            Scope::Main,
            config.cache.ttl,
        ));
        let mut targets = BTreeMap::new();
        for t in &config.targets {
            let cache = TargetCache::new(
                Checker::new(t.clone(), None)?,
                config.readiness.clone(),
                Scope::ProbeTarget,
                config.cache.ttl,
            );
            targets.insert(t.name.clone(), Arc::new(cache));
        }
        let mut caches = Caches::new(main, targets, Some(sampler_task));
        caches.scrape_timeout_offset = config.scrape_timeout_offset;
        Ok(caches)
    }
}
