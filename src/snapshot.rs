//! The immutable facts of one refresh. No I/O lives here: every endpoint renders a `Snapshot`,
//! so `/metrics`, `/readyz`, `/health` and `check` can never disagree about what was seen.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

pub use crate::model::{CheckError, LoadState, QuotaState};

/// Which check produced a result; the label value of `milvus_exporter_check_*{check}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckName {
    Milvus,
    Collections,
    System,
    Components,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Milvus => "milvus",
            CheckName::Collections => "collections",
            CheckName::System => "system",
            CheckName::Components => "components",
        }
    }
}

/// One read probe: did a real query or search on the collection answer, and how fast.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub db_name: String,
    pub collection: String,
    pub kind: crate::model::ProbeKind,
    pub required: bool,
    pub duration: Duration,
    pub max_latency: Option<Duration>,
    pub outcome: Result<(), CheckError>,
}

impl ProbeResult {
    pub fn too_slow(&self) -> bool {
        self.max_latency.is_some_and(|m| self.duration > m)
    }
    pub fn success(&self) -> bool {
        self.outcome.is_ok() && !self.too_slow()
    }
    /// Why it failed, in words a person can act on.
    pub fn failure(&self) -> Option<String> {
        match &self.outcome {
            Err(e) => Some(e.to_string()),
            Ok(()) => self.max_latency.filter(|_| self.too_slow()).map(|m| {
                format!(
                    "answered in {:.0} ms, slower than max_latency {:.0} ms",
                    self.duration.as_secs_f64() * 1000.0,
                    m.as_secs_f64() * 1000.0
                )
            }),
        }
    }
}

/// One Milvus component as its metrics port reports it (`GET :9091/healthz`).
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentFacts {
    pub role: String,
    pub node_id: String,
    /// Initializing, Healthy, Abnormal, StandBy or Stopping.
    pub state: String,
    pub reason: Option<String>,
}

impl ComponentFacts {
    /// StandBy is a normal state for a coordinator in active-standby mode.
    pub fn is_ok(&self) -> bool {
        self.state == "Healthy" || self.state == "StandBy"
    }
}

/// One RAG dependency (embedding API, LLM gateway, …) and whether it answered as expected.
#[derive(Clone, Debug)]
pub struct DependencyResult {
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    /// Where it was checked, without query string or credentials.
    pub target: String,
    pub result: CheckResult<Option<u16>>,
}

/// One check's result with how long it took: a failing check degrades its own facts only.
#[derive(Clone, Debug)]
pub struct CheckResult<T> {
    pub duration: Duration,
    pub outcome: Result<T, CheckError>,
}

impl<T> CheckResult<T> {
    pub fn ok(&self) -> Option<&T> {
        self.outcome.as_ref().ok()
    }
    pub fn error(&self) -> Option<&CheckError> {
        self.outcome.as_ref().err()
    }
}

/// What Milvus said about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct MilvusFacts {
    /// `None` when GetVersion failed while CheckHealth answered.
    pub version: Option<String>,
    pub healthy: bool,
    /// CheckHealth's reasons, or why CheckHealth itself could not be asked.
    pub reasons: Vec<String>,
    pub quota_states: Vec<QuotaState>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CollectionFacts {
    pub db_name: String,
    pub name: String,
    pub load_state: LoadState,
    /// 0-100; only asked while the collection is Loading, 100 when Loaded.
    pub loading_progress: Option<i64>,
    pub rows: Option<u64>,
    /// In-memory replicas, when `milvus.replicas` is on and the collection is loaded.
    pub replicas: Option<usize>,
    /// Why some of this collection's facts are missing.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseFacts {
    pub name: String,
    /// `None` when listing this database's collections failed.
    pub collections_count: Option<usize>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct CollectionsFacts {
    pub databases: Vec<DatabaseFacts>,
    pub collections: Vec<CollectionFacts>,
}

impl CollectionsFacts {
    pub fn find(&self, db_name: &str, name: &str) -> Option<&CollectionFacts> {
        self.collections
            .iter()
            .find(|c| c.db_name == db_name && c.name == name)
    }

    /// Problems that make the check count as failed while still reporting what did work.
    pub fn problems(&self) -> Vec<String> {
        let dbs = self.databases.iter().filter_map(|d| {
            d.error
                .as_ref()
                .map(|e| format!("database {}: {e}", d.name))
        });
        let cols = self.collections.iter().filter_map(|c| {
            c.error
                .as_ref()
                .map(|e| format!("collection {}.{}: {e}", c.db_name, c.name))
        });
        dbs.chain(cols).collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemFacts {
    pub memory_percent: f64,
    pub memory_available_bytes: u64,
    /// True when the numbers are of a cgroup memory limit rather than the host's RAM.
    pub memory_cgroup_limited: bool,
    /// `None` until the background sampler has two samples.
    pub cpu_percent: Option<f64>,
    pub disks: Vec<DiskFacts>,
}

impl SystemFacts {
    /// The fullest configured path: the one readiness and the summary JSON talk about.
    pub fn fullest_disk(&self) -> Option<&DiskFacts> {
        self.disks
            .iter()
            .filter(|d| d.error.is_none())
            .max_by(|a, b| a.percent.total_cmp(&b.percent))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DiskFacts {
    /// The configured path (the metric label), not the mount point.
    pub path: String,
    pub mount_point: String,
    pub percent: f64,
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub error: Option<String>,
}

/// Process-lifetime counters, copied into every snapshot so the snapshot alone renders them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub refreshes: u64,
    pub errors: BTreeMap<CheckName, u64>,
}

/// Everything one refresh learned about one target.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub target: String,
    pub address: String,
    /// Wall-clock time, for JSON `checked_at`.
    pub checked_at: SystemTime,
    /// Monotonic time, for ages that must not jump with the clock.
    pub taken_at: Instant,
    pub duration: Duration,
    pub milvus: CheckResult<MilvusFacts>,
    pub collections: CheckResult<CollectionsFacts>,
    /// `None` for `/probe` targets: the host is the exporter's, not theirs.
    pub system: Option<CheckResult<SystemFacts>>,
    /// `None` unless `milvus.metrics_address` is set.
    pub components: Option<CheckResult<Vec<ComponentFacts>>>,
    pub probes: Vec<ProbeResult>,
    pub dependencies: Vec<DependencyResult>,
    pub counters: Counters,
}

impl Snapshot {
    /// Milvus answered this refresh (the `milvus_up` gauge).
    pub fn milvus_up(&self) -> bool {
        self.milvus.outcome.is_ok()
    }

    pub fn milvus_healthy(&self) -> bool {
        self.milvus.ok().is_some_and(|m| m.healthy)
    }

    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.taken_at)
    }

    /// Each check's name, success and duration and error, in a stable order.
    pub fn checks(&self) -> Vec<(CheckName, bool, Duration, Option<String>)> {
        let mut out = vec![
            (
                CheckName::Milvus,
                self.milvus.outcome.is_ok(),
                self.milvus.duration,
                self.milvus.error().map(|e| e.to_string()),
            ),
            collections_check_row(&self.collections),
        ];
        if let Some(s) = &self.system {
            out.push((
                CheckName::System,
                s.outcome.is_ok(),
                s.duration,
                s.error().map(|e| e.to_string()),
            ));
        }
        if let Some(c) = &self.components {
            out.push((
                CheckName::Components,
                c.outcome.is_ok(),
                c.duration,
                c.error().map(|e| e.to_string()),
            ));
        }
        out
    }

    pub fn unix_seconds(&self) -> f64 {
        self.checked_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// The collections check succeeds only if every database and collection answered; its error
/// says what did not, while the facts that did arrive are still reported.
fn collections_check_row(
    c: &CheckResult<CollectionsFacts>,
) -> (CheckName, bool, Duration, Option<String>) {
    match &c.outcome {
        Err(e) => (
            CheckName::Collections,
            false,
            c.duration,
            Some(e.to_string()),
        ),
        Ok(facts) => {
            let problems = facts.problems();
            let error = match problems.len() {
                0 => None,
                1 => Some(problems[0].clone()),
                n => Some(format!("{} (and {} more)", problems[0], n - 1)),
            };
            (CheckName::Collections, error.is_none(), c.duration, error)
        }
    }
}
