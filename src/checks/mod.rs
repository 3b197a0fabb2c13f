//! The checks: each one is a single async call with its own deadline that returns a typed
//! [`CheckResult`]. [`Checker::collect`] runs them concurrently into one [`Snapshot`].

pub mod milvus;
pub mod system;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::MilvusTarget;
use crate::snapshot::{CheckResult, Counters, Snapshot};

pub use milvus::MilvusClient;
pub use system::SystemSampler;

/// Why a check (or one part of it) failed. Display is one line, safe to show to anyone:
/// credentials never reach these strings because requests are never formatted into them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckError {
    #[error("{rpc}: timed out after {}", humantime::format_duration(*.after))]
    Timeout { rpc: &'static str, after: Duration },
    #[error("{rpc}: cannot reach Milvus at {address}: {message}")]
    Unreachable {
        rpc: &'static str,
        address: String,
        message: String,
    },
    #[error("{rpc}: gRPC {code}: {message}")]
    Rpc {
        rpc: &'static str,
        code: String,
        message: String,
    },
    #[error("{rpc}: Milvus error {code}: {reason}")]
    Status {
        rpc: &'static str,
        code: i32,
        reason: String,
    },
    #[error("{rpc}: malformed reply: {message}")]
    Malformed { rpc: &'static str, message: String },
    #[error("{0}")]
    Other(String),
}

impl CheckError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, CheckError::Timeout { .. })
    }
}

/// Runs a check body and times it.
pub async fn timed<T>(
    fut: impl std::future::Future<Output = Result<T, CheckError>>,
) -> CheckResult<T> {
    let start = Instant::now();
    let outcome = fut.await;
    CheckResult {
        duration: start.elapsed(),
        outcome,
    }
}

/// Everything needed to refresh one target: its long-lived Milvus client and, for the main
/// target, the host sampler.
pub struct Checker {
    pub target: MilvusTarget,
    pub milvus: MilvusClient,
    pub system: Option<Arc<SystemSampler>>,
}

impl Checker {
    pub fn new(
        target: MilvusTarget,
        system: Option<Arc<SystemSampler>>,
    ) -> Result<Self, milvus::ClientError> {
        let milvus = MilvusClient::new(&target)?;
        Ok(Checker {
            target,
            milvus,
            system,
        })
    }

    /// The longest a refresh can take: every check is cut at its own deadline, and the
    /// slowest of those is Milvus's.
    pub fn refresh_deadline(&self) -> Duration {
        self.target.timeout
    }

    /// One refresh: all checks at once, each under its own deadline.
    pub async fn collect(&self, counters: Counters) -> Snapshot {
        let started = Instant::now();
        let checked_at = SystemTime::now();
        let deadline = tokio::time::Instant::now() + self.target.timeout;
        let system = async {
            let sampler = self.system.clone()?;
            let budget = self.target.timeout;
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
        let (milvus, collections, system) = tokio::join!(
            timed(self.milvus.health(deadline)),
            timed(self.milvus.collections(deadline)),
            system,
        );
        Snapshot {
            target: self.target.name.clone(),
            address: self.target.address.clone(),
            checked_at,
            taken_at: Instant::now(),
            duration: started.elapsed(),
            milvus,
            collections,
            system,
            counters,
        }
    }
}
