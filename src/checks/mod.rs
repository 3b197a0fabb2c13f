//! The checks: each one is a single async call with its own deadline that returns a typed
//! [`CheckResult`]. [`Checker::collect`] runs them concurrently into one [`Snapshot`].

pub mod components;
pub mod http;
pub mod milvus;
pub mod probe;
pub mod system;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::MilvusTarget;
use crate::snapshot::{CheckResult, Counters, Snapshot};

pub use crate::model::CheckError;

pub use milvus::MilvusClient;
pub use system::SystemSampler;

/// The text of a panic payload, for the error that stands in for a panicking check.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs a check body and times it. A panic inside the body (a bug, or a library tripping on
/// a value nobody foresaw) becomes this check's failure: the other checks of the refresh are
/// still reported and the next refresh runs as usual.
pub async fn timed<T>(
    fut: impl std::future::Future<Output = Result<T, CheckError>>,
) -> CheckResult<T> {
    use futures::FutureExt;
    let start = Instant::now();
    let outcome = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let why = panic_message(payload.as_ref());
            tracing::error!(panic = %why, "a check panicked");
            Err(CheckError::Other(format!("check panicked: {why}")))
        }
    };
    CheckResult {
        duration: start.elapsed(),
        outcome,
    }
}

/// Everything needed to refresh one target: its long-lived Milvus client, and for the main
/// target the host sampler, read probes and RAG dependencies.
pub struct Checker {
    pub target: MilvusTarget,
    pub milvus: MilvusClient,
    pub system: Option<Arc<SystemSampler>>,
    pub components: Option<components::ComponentsClient>,
    pub prober: probe::Prober,
    pub dependencies: Vec<http::DependencyChecker>,
}

impl Checker {
    /// A checker for a `/probe` target: Milvus (and its components) only.
    pub fn new(
        target: MilvusTarget,
        system: Option<Arc<SystemSampler>>,
    ) -> Result<Self, milvus::ClientError> {
        let milvus = MilvusClient::new(&target)?;
        let components = match &target.metrics_address {
            Some(addr) => Some(components::ComponentsClient::new(addr).map_err(|problem| {
                milvus::ClientError {
                    key: "milvus.metrics_address".into(),
                    problem,
                }
            })?),
            None => None,
        };
        Ok(Checker {
            target,
            milvus,
            system,
            components,
            prober: probe::Prober::new(Vec::new()),
            dependencies: Vec::new(),
        })
    }

    /// Adds the main target's read probes and dependency checks.
    pub fn with_extras(
        mut self,
        probes: Vec<crate::config::ProbeConfig>,
        dependencies: Vec<crate::config::DependencyConfig>,
    ) -> Result<Self, milvus::ClientError> {
        self.prober = probe::Prober::new(probes);
        for d in dependencies {
            let name = d.name.clone();
            self.dependencies
                .push(
                    http::DependencyChecker::new(d).map_err(|problem| milvus::ClientError {
                        key: format!("dependencies.{name}"),
                        problem,
                    })?,
                );
        }
        Ok(self)
    }

    /// The longest a refresh can take: every check is cut at its own deadline, and the
    /// slowest of those is Milvus's.
    pub fn refresh_deadline(&self) -> Duration {
        self.target.timeout
    }

    /// One refresh: all checks at once, each under its own deadline, none past `budget`.
    pub async fn collect(&self, budget: Duration, counters: Counters) -> Snapshot {
        let budget = budget.min(self.target.timeout);
        let started = Instant::now();
        let checked_at = SystemTime::now();
        // `budget` is at most `milvus.timeout`, which config bounds, so this cannot overflow;
        // if it somehow would, a far deadline is the same as none.
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(budget)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
        let system = async {
            let sampler = self.system.clone()?;
            Some(
                timed(async move {
                    let work = tokio::task::spawn_blocking(move || sampler.facts());
                    match tokio::time::timeout(budget, work).await {
                        Ok(Ok(facts)) => Ok(facts),
                        Ok(Err(e)) => Err(CheckError::Other(format!("host sampler failed: {e}"))),
                        Err(_) => Err(CheckError::Timeout {
                            rpc: "host sample",
                            after: budget,
                        }),
                    }
                })
                .await,
            )
        };
        let components = async {
            match &self.components {
                Some(c) => Some(timed(c.check(budget)).await),
                None => None,
            }
        };
        let dependencies =
            futures::future::join_all(self.dependencies.iter().map(|d| d.check(budget)));
        let (milvus, collections, system, components, probes, dependencies) = tokio::join!(
            timed(self.milvus.health(deadline)),
            timed(self.milvus.collections(deadline)),
            system,
            components,
            self.prober.run(&self.milvus, deadline),
            dependencies,
        );
        Snapshot {
            target: self.target.name.clone(),
            address: self.target.address.clone(),
            checked_at,
            taken_at: tokio::time::Instant::now().into_std(),
            duration: started.elapsed(),
            milvus,
            collections,
            system,
            components,
            probes,
            dependencies,
            counters,
        }
    }
}
