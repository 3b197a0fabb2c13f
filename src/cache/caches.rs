//! Every target's caches as one set: the main target, the configured `[[targets]]` and the
//! discovered fleet, with the tasks that keep them warm (refresher, CPU sampler, fleet
//! sweeper), and how a configuration, or a reload of one, builds that set while keeping
//! whatever did not change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{fleet, now, TargetCache};
use crate::config::{Config, ConfigError, MilvusTarget};
use crate::history::Limits;
use crate::readiness::Scope;

/// Every target's cache, and the tasks that keep them warm.
pub struct Caches {
    pub main: Arc<TargetCache>,
    pub targets: BTreeMap<String, Arc<TargetCache>>,
    /// Targets admitted by `/probe?target=<address>&module=`, bounded and evicted when idle.
    pub fleet: Arc<fleet::Fleet>,
    /// Subtracted from a scrape's timeout header (`web.scrape_timeout_offset`).
    pub scrape_timeout_offset: Duration,
    /// Behind locks so a reload can stop them (and hand the sampler on) while requests still
    /// hold these caches.
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    sampler: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Evicts idle discovered targets (started with the refresher).
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Caches {
    pub fn new(
        main: Arc<TargetCache>,
        targets: BTreeMap<String, Arc<TargetCache>>,
        sampler: Option<tokio::task::JoinHandle<()>>,
    ) -> Self {
        let fleet = fleet::Fleet::new(
            Vec::new(),
            crate::config::FleetConfig {
                max_targets: 1,
                idle_timeout: Duration::from_secs(600),
                max_waiters: usize::MAX,
            },
            main.ttl(),
            Limits::default(),
        );
        Caches {
            main,
            targets,
            fleet: Arc::new(fleet),
            scrape_timeout_offset: Duration::from_millis(100),
            refresher: Mutex::new(None),
            sampler: Mutex::new(sampler),
            sweeper: Mutex::new(None),
        }
    }

    /// Refreshes the main target now and then every `interval` (0 = only on demand).
    pub fn start_refresher(&mut self, interval: Duration) {
        let main = Arc::clone(&self.main);
        // The first refresh starts at once, so the first probe finds data or a refresh under
        // way; unless the main cache was kept by a reload and its view is still fresh (a
        // burst of reloads must not become a burst of refreshes).
        let fresh = main
            .peek()
            .is_some_and(|v| v.snapshot.age(now()) < main.ttl());
        if !fresh {
            drop(main.refresh());
        }
        // Idle discovered targets go with their channels even when nobody probes any more.
        let fleet = Arc::clone(&self.fleet);
        let every = (fleet.limits().idle_timeout / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(60));
        *locked(&self.sweeper) = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                fleet.sweep();
            }
        }));
        if interval.is_zero() {
            return;
        }
        *locked(&self.refresher) = Some(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let fresh = main
                    .peek()
                    .is_some_and(|v| v.snapshot.age(now()) < interval / 2);
                if !fresh {
                    main.refresh().await;
                }
            }
        }));
    }

    /// `None` when the exporter itself is well; otherwise why `/healthz` should fail.
    pub fn wedged(&self) -> Option<String> {
        if locked(&self.refresher)
            .as_ref()
            .is_some_and(|h| h.is_finished())
        {
            return Some("the background refresher has stopped".into());
        }
        if locked(&self.sampler)
            .as_ref()
            .is_some_and(|h| h.is_finished())
        {
            return Some("the CPU sampler has stopped".into());
        }
        let discovered = self.fleet.caches();
        std::iter::once(&self.main)
            .chain(self.targets.values())
            .chain(discovered.iter())
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

    /// Stops the background tasks (the refresher, the CPU sampler).
    pub fn stop(&self) {
        if let Some(h) = locked(&self.refresher).take() {
            h.abort();
        }
        if let Some(h) = locked(&self.sampler).take() {
            h.abort();
        }
        if let Some(h) = locked(&self.sweeper).take() {
            h.abort();
        }
    }

    /// After a reload swapped `new` in for these caches: every cache of these that `new` did
    /// not keep is retired (its refresh under way cut, its inventory pass stopped), and the
    /// background tasks stop. So a reload never leaves old work running beside the new.
    pub fn retire_replaced_by(&self, new: &Caches) {
        if !Arc::ptr_eq(&self.main, &new.main) {
            self.main.retire();
        }
        for (name, c) in &self.targets {
            if !new.targets.get(name).is_some_and(|n| Arc::ptr_eq(c, n)) {
                c.retire();
            }
        }
        if !Arc::ptr_eq(&self.fleet, &new.fleet) {
            for c in self.fleet.caches() {
                c.retire();
            }
        }
        self.stop();
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
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config: {0}")]
    Client(#[from] crate::checks::ClientError),
    #[error("{0}")]
    Sampler(#[from] crate::checks::system::SamplerError),
}

/// The caches of the configuration that runs now, which a reload builds from.
pub struct Previous<'a> {
    pub caches: &'a Caches,
    pub config: &'a Config,
}

/// Whether the main target's checks would come out the same from `a` and `b`: its Milvus,
/// everything its checks read, and what its cache judges and keeps.
fn main_unchanged(a: &Config, b: &Config) -> bool {
    a.milvus == b.milvus
        && a.dependencies == b.dependencies
        && a.rag_probes == b.rag_probes
        && a.readiness == b.readiness
        && a.system == b.system
        && a.history == b.history
        && a.cache.ttl == b.cache.ttl
        && a.fleet.max_waiters == b.fleet.max_waiters
        && same_module(
            a,
            b,
            crate::config::DEFAULT_MODULE,
            crate::config::DEFAULT_MODULE,
        )
}

/// Whether a `/probe` target's cache would come out the same.
fn target_unchanged(old: &Config, new: &Config, a: &MilvusTarget, b: &MilvusTarget) -> bool {
    a == b
        && same_module(old, new, &a.module, &b.module)
        && old.history == new.history
        && old.cache.ttl == new.cache.ttl
        && old.fleet.max_waiters == new.fleet.max_waiters
}

/// Whether module `a` of `old` and module `b` of `new` give a configured target the same checks.
fn same_module(old: &Config, new: &Config, a: &str, b: &str) -> bool {
    match (old.module(a), new.module(b)) {
        (Some(a), Some(b)) => a.same_checks(b),
        _ => false,
    }
}

/// Whether the discovered targets would be probed the same way, within the same bounds.
fn fleet_unchanged(old: &Config, new: &Config) -> bool {
    old.modules == new.modules
        && old.fleet == new.fleet
        && old.history == new.history
        && old.cache.ttl == new.cache.ttl
}

impl Caches {
    /// Builds every target's cache and starts the CPU sampler (needs a tokio runtime).
    pub fn from_config(config: &Config) -> Result<Caches, BuildError> {
        Caches::build(config, None)
    }

    /// Builds the caches of `config` after a reload, keeping from `previous` what did not
    /// change. A target whose configuration is the same keeps its cache whole: snapshot,
    /// history, inventory, gRPC channel and any refresh under way, so a reload costs Milvus
    /// nothing. A target whose checks changed but whose connection settings did not gets a
    /// new cache on the same channel, which starts from the old one's last view and history.
    /// Anything else is built afresh. The caches of `previous` are not touched here: once
    /// these are swapped in, [`Caches::retire_replaced_by`] retires what was replaced.
    pub fn rebuild(config: &Config, previous: Previous<'_>) -> Result<Caches, BuildError> {
        Caches::build(config, Some(previous))
    }

    fn build(config: &Config, previous: Option<Previous<'_>>) -> Result<Caches, BuildError> {
        crate::checks::validate(config)?;
        let limits = Limits {
            entries: config.history.max_entries,
            bytes: config.history.max_bytes,
        };
        let module = |name: &str| {
            config
                .module(name)
                .ok_or_else(|| ConfigError::invalid("targets", format!("no module {name:?}")))
        };
        let default = module(crate::config::DEFAULT_MODULE)?;
        // A successor on the same connection keeps the channel and carries the view over.
        let successor = |old: Option<&Arc<TargetCache>>,
                         old_target: Option<&MilvusTarget>,
                         target: &MilvusTarget| {
            match (old, old_target) {
                (Some(old), Some(t)) if t.same_connection(target) => {
                    (old.client(), Some(Arc::clone(old)))
                }
                _ => (None, None),
            }
        };
        let kept_main = previous
            .as_ref()
            .filter(|p| main_unchanged(p.config, config))
            .map(|p| Arc::clone(&p.caches.main));
        let (main, sampler_task) = match kept_main {
            // The kept main cache's sampler task is handed on below, once nothing can fail.
            Some(main) => (main, None),
            None => {
                let sampler = Arc::new(crate::checks::SystemSampler::new(
                    config.system.disk_paths.clone(),
                )?);
                let sampler_task = sampler.start_cpu_sampler(config.system.cpu_sample_interval);
                let (client, old) = successor(
                    previous.as_ref().map(|p| &p.caches.main),
                    previous.as_ref().map(|p| &p.config.milvus),
                    &config.milvus,
                );
                let checker = crate::checks::Checker::with_client(
                    config.milvus.clone(),
                    client,
                    Some(sampler),
                    default,
                )?;
                let cache = TargetCache::new(
                    checker,
                    default.readiness.clone(),
                    Scope::Main,
                    config.cache.ttl,
                )
                .with_history_limits(limits)
                .with_max_waiters(config.fleet.max_waiters);
                let cache = match old {
                    Some(old)
                        if previous
                            .as_ref()
                            .is_some_and(|p| p.config.history == config.history) =>
                    {
                        cache.succeeding(&old)
                    }
                    _ => cache,
                };
                (Arc::new(cache), Some(sampler_task))
            }
        };
        // The running targets by name: 10,000 targets are looked up in one pass, not in a
        // scan per target.
        let running: std::collections::HashMap<&str, &MilvusTarget> = previous
            .as_ref()
            .map(|p| {
                p.config
                    .targets
                    .iter()
                    .map(|t| (t.name.as_str(), t))
                    .collect()
            })
            .unwrap_or_default();
        let mut targets = BTreeMap::new();
        for t in &config.targets {
            let m = module(&t.module)?;
            let old = previous.as_ref().and_then(|p| {
                let cache = p.caches.targets.get(&t.name)?;
                let target = *running.get(t.name.as_str())?;
                Some((p, cache, target))
            });
            if let Some((p, cache, old_target)) = old {
                if target_unchanged(p.config, config, old_target, t) {
                    targets.insert(t.name.clone(), Arc::clone(cache));
                    continue;
                }
            }
            let (client, predecessor) =
                successor(old.map(|(_, c, _)| c), old.map(|(_, _, t)| t), t);
            let cache = TargetCache::new(
                crate::checks::Checker::with_client(t.clone(), client, None, m)?,
                m.readiness.clone(),
                Scope::ProbeTarget,
                config.cache.ttl,
            )
            .with_history_limits(limits)
            .with_max_waiters(config.fleet.max_waiters);
            let cache = match (predecessor, old) {
                (Some(pred), Some((p, _, _))) if p.config.history == config.history => {
                    cache.succeeding(&pred)
                }
                _ => cache,
            };
            targets.insert(t.name.clone(), Arc::new(cache));
        }
        let sampler_task = match (sampler_task, &previous) {
            (Some(task), _) => Some(task),
            (None, Some(p)) => locked(&p.caches.sampler).take(),
            (None, None) => None,
        };
        let mut caches = Caches::new(main, targets, sampler_task);
        // Discovered targets stay with their caches and channels unless how they are probed,
        // or the bounds on them, changed.
        caches.fleet = match &previous {
            Some(p) if fleet_unchanged(p.config, config) => Arc::clone(&p.caches.fleet),
            _ => Arc::new(fleet::Fleet::new(
                config.modules.clone(),
                config.fleet.clone(),
                config.cache.ttl,
                limits,
            )),
        };
        caches.scrape_timeout_offset = config.scrape_timeout_offset;
        Ok(caches)
    }
}
