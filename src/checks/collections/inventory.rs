//! The slow-cadence half of the `collections` check: the facts that need one RPC or more per
//! collection (row count, index progress, replicas) and change slowly. They are asked for by
//! one inventory pass every `cache.inventory_interval`, on a task of its own with at most
//! `milvus.max_concurrency` RPCs in flight, so a database of 10,000 collections costs Milvus
//! 20,000 RPCs every five minutes spread over the pass instead of every ten seconds. Each
//! health refresh joins the newest complete inventory, and says how old it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::milvus::proto::common;
use ::milvus::proto::milvus as pb;
use arc_swap::ArcSwapOption;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::super::grpc::{clip, status_ok, MilvusClient};
use super::{IndexFacts, IndexState, MAX_INDEXES};
use crate::model::{CheckError, LoadState};

/// The collections whose RPCs failed are asked again after a tenth of the interval, within
/// these bounds, the wait doubling while they keep failing: a Milvus that was down for a
/// minute should not leave five minutes of stale errors behind it, and one collection that
/// always fails must not turn every pass into a full one.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// The longest one pass may run, whatever the interval: past it the collections not reached
/// keep what the previous pass knew of them.
const MAX_PASS: Duration = Duration::from_secs(600);

/// What one pass learned of one collection.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InventoryItem {
    pub rows: Option<u64>,
    pub replicas: Option<usize>,
    pub indexes: Vec<IndexFacts>,
    /// Why some of these facts are missing (the first failing RPC).
    pub error: Option<String>,
    /// Kept from an earlier pass that asked about it, because the last full pass did not (its
    /// listing missed the collection for a moment). Carried once, then dropped, so a dropped
    /// collection does not stay in memory for ever.
    carried: bool,
}

type Key = (String, String);

/// The newest inventory: the last full pass, with the retries of its failures merged in.
#[derive(Debug)]
pub struct Inventory {
    /// When the last full pass ended: the next one is due `inventory_interval` after it.
    pub taken_at: Instant,
    pub items: HashMap<Key, InventoryItem>,
    /// Collections whose RPCs failed, asked again at `retry_at`.
    failed: Vec<Key>,
    retry_at: Instant,
    retry_wait: Duration,
}

/// What the next pass asks about.
enum Due {
    /// Every collection of the listing.
    Full,
    /// Only the collections that failed.
    Retry(Vec<Key>),
}

impl Inventory {
    fn due(&self, interval: Duration, now: Instant) -> Option<Due> {
        if now.saturating_duration_since(self.taken_at) >= interval {
            Some(Due::Full)
        } else if !self.failed.is_empty() && now >= self.retry_at {
            Some(Due::Retry(self.failed.clone()))
        } else {
            None
        }
    }
}

/// The first wait before failed collections are asked again.
fn first_retry(interval: Duration) -> Duration {
    (interval / 10).clamp(RETRY_MIN, RETRY_MAX)
}

/// A collection a pass asks about, and whether it is loaded (only a loaded one has replicas).
#[derive(Clone, Debug)]
pub(super) struct Wanted {
    pub(super) db: String,
    pub(super) name: String,
    pub(super) loaded: bool,
}

/// What a pass needs of its check, cloned onto the pass's own task.
#[derive(Clone)]
pub(super) struct PassSettings {
    pub(super) client: Arc<MilvusClient>,
    pub(super) concurrency: usize,
    pub(super) replicas: bool,
    pub(super) rpc_timeout: Duration,
}

type Running = Shared<BoxFuture<'static, ()>>;

/// The latest inventory and the pass running now, if any (single-flight: two passes at once
/// would double the load they exist to spread).
#[derive(Default)]
pub(super) struct InventoryCell {
    latest: ArcSwapOption<Inventory>,
    running: Mutex<Option<Running>>,
    /// The pass's task, so the check that owns this cell can stop it when it is dropped.
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl InventoryCell {
    pub(super) fn latest(&self) -> Option<Arc<Inventory>> {
        self.latest.load_full()
    }

    /// Stops the pass under way. A reload builds new checks; without this, every SIGHUP would
    /// leave the old configuration's pass asking Milvus for up to ten minutes beside the new one.
    pub(super) fn stop(&self) {
        let task = match self.task.lock() {
            Ok(mut t) => t.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(t) = task {
            t.abort();
        }
    }

    /// The pass under way, or a new one over `wanted` when the latest inventory is older than
    /// `interval` (or there is none). `None` when the latest is fresh enough.
    pub(super) fn ensure(
        self: &Arc<Self>,
        settings: &PassSettings,
        wanted: &[Wanted],
        interval: Duration,
        deadline: Instant,
    ) -> Option<Running> {
        let mut slot = match self.running.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if let Some(r) = slot.as_ref() {
            return Some(r.clone());
        }
        let due = match self.latest() {
            None => Due::Full,
            Some(inv) => inv.due(interval, Instant::now())?,
        };
        let wanted: Vec<Wanted> = match &due {
            Due::Full => wanted.to_vec(),
            Due::Retry(failed) => wanted
                .iter()
                .filter(|w| failed.iter().any(|(d, n)| *d == w.db && *n == w.name))
                .cloned()
                .collect(),
        };
        let full = matches!(due, Due::Full);
        let cell = Arc::clone(self);
        let settings = settings.clone();
        let task = tokio::spawn(async move {
            let _clear = ClearRunning(Arc::clone(&cell));
            let previous = cell.latest();
            let inventory = pass(
                &settings,
                wanted,
                previous.as_deref(),
                deadline,
                full,
                interval,
            )
            .await;
            cell.latest.store(Some(Arc::new(inventory)));
        });
        match self.task.lock() {
            Ok(mut t) => *t = Some(task.abort_handle()),
            Err(p) => *p.into_inner() = Some(task.abort_handle()),
        }
        let shared = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        *slot = Some(shared.clone());
        Some(shared)
    }
}

/// Empties the running slot when a pass ends however it ends, so a pass that panicked or was
/// aborted can never stop the next one from starting.
struct ClearRunning(Arc<InventoryCell>);

impl Drop for ClearRunning {
    fn drop(&mut self) {
        match self.0.running.lock() {
            Ok(mut s) => *s = None,
            Err(p) => *p.into_inner() = None,
        }
    }
}

/// The end of a pass started now: `interval` away, but never past [`MAX_PASS`], and never
/// before one RPC could have answered.
pub(super) fn pass_deadline(interval: Duration, rpc_timeout: Duration) -> Instant {
    Instant::now() + interval.clamp(rpc_timeout, MAX_PASS.max(rpc_timeout))
}

/// One pass over `wanted`: every listed collection (`full`), or the ones that failed. A
/// collection whose RPCs fail keeps the figures the previous pass had for it, with the error
/// beside them; a retry is merged into the previous inventory, and a full pass carries over,
/// once, what the previous one knew of collections its listing missed.
async fn pass(
    settings: &PassSettings,
    wanted: Vec<Wanted>,
    previous: Option<&Inventory>,
    deadline: Instant,
    full: bool,
    interval: Duration,
) -> Inventory {
    let answers: Vec<(Key, InventoryItem)> = stream::iter(wanted)
        .map(|w| async move {
            let item = collection(settings, &w, deadline).await;
            ((w.db, w.name), item)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut items: HashMap<Key, InventoryItem> = match (full, previous) {
        (false, Some(p)) => p.items.clone(),
        _ => HashMap::with_capacity(answers.len()),
    };
    let mut failed = Vec::new();
    for (key, mut item) in answers {
        if item.error.is_some() {
            if let Some(old) = previous.and_then(|p| p.items.get(&key)) {
                item.rows = item.rows.or(old.rows);
                item.replicas = item.replicas.or(old.replicas);
                if item.indexes.is_empty() {
                    item.indexes.clone_from(&old.indexes);
                }
            }
            failed.push(key.clone());
        }
        items.insert(key, item);
    }
    if let (true, Some(p)) = (full, previous) {
        for (key, old) in &p.items {
            if !old.carried && !items.contains_key(key) {
                let mut kept = old.clone();
                kept.carried = true;
                items.insert(key.clone(), kept);
            }
        }
    }
    let now = Instant::now();
    let retry_wait = match (full, previous) {
        (false, Some(p)) => (p.retry_wait * 2).min(interval.max(RETRY_MIN)),
        _ => first_retry(interval),
    };
    Inventory {
        taken_at: match (full, previous) {
            (false, Some(p)) => p.taken_at,
            _ => now,
        },
        items,
        failed,
        retry_at: now + retry_wait,
        retry_wait,
    }
}

/// Row count, indexes and (when asked for) replicas of one collection, each RPC under the
/// target's timeout and the pass's deadline.
async fn collection(settings: &PassSettings, w: &Wanted, pass_deadline: Instant) -> InventoryItem {
    let client = &settings.client;
    let deadline = pass_deadline.min(Instant::now() + settings.rpc_timeout);
    let (db, name) = (w.db.as_str(), w.name.as_str());
    let mut item = InventoryItem::default();
    let rows = client
        .call(
            "GetCollectionStatistics",
            deadline,
            Some(db),
            pb::GetCollectionStatisticsRequest {
                db_name: db.to_string(),
                collection_name: name.to_string(),
                ..Default::default()
            },
            |mut c, r| async move { c.get_collection_statistics(r).await },
        )
        .await
        .and_then(|r| {
            status_ok("GetCollectionStatistics", r.status.as_ref())?;
            row_count(&r.stats)
        });
    match rows {
        Ok(n) => item.rows = Some(n),
        Err(e) => item.error = Some(e.to_string()),
    }
    match describe_index(client, db, name, deadline).await {
        Ok(indexes) => item.indexes = indexes,
        Err(e) => {
            item.error.get_or_insert(e.to_string());
        }
    }
    if settings.replicas && w.loaded {
        let replicas = client
            .call(
                "GetReplicas",
                deadline,
                Some(db),
                pb::GetReplicasRequest {
                    db_name: db.to_string(),
                    collection_name: name.to_string(),
                    ..Default::default()
                },
                |mut c, r| async move { c.get_replicas(r).await },
            )
            .await
            .and_then(|r| {
                status_ok("GetReplicas", r.status.as_ref())?;
                Ok(r.replicas.len())
            });
        match replicas {
            Ok(n) => item.replicas = Some(n),
            // A server without GetReplicas (Milvus Lite) has no replicas to report.
            Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {}
            Err(e) => {
                item.error.get_or_insert(e.to_string());
            }
        }
    }
    item
}

/// Every index of the collection with its build progress. A collection without an index is
/// an empty list, not an error: Milvus answers it with "index not found".
async fn describe_index(
    client: &MilvusClient,
    db: &str,
    name: &str,
    deadline: Instant,
) -> Result<Vec<IndexFacts>, CheckError> {
    let reply = client
        .call(
            "DescribeIndex",
            deadline,
            Some(db),
            pb::DescribeIndexRequest {
                db_name: db.to_string(),
                collection_name: name.to_string(),
                ..Default::default()
            },
            |mut c, r| async move { c.describe_index(r).await },
        )
        .await;
    let r = match reply {
        Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => return Ok(Vec::new()),
        other => other?,
    };
    if let Err(e) = status_ok("DescribeIndex", r.status.as_ref()) {
        return if no_index(&e) { Ok(Vec::new()) } else { Err(e) };
    }
    let total = r.index_descriptions.len();
    let mut indexes: Vec<IndexFacts> = r
        .index_descriptions
        .into_iter()
        .filter(|d| !d.index_name.is_empty() && d.index_name.len() <= super::MAX_NAME_BYTES)
        .take(MAX_INDEXES)
        .map(|d| IndexFacts {
            state: IndexState::from_proto(d.state),
            fail_reason: (!d.index_state_fail_reason.is_empty())
                .then(|| clip(&d.index_state_fail_reason)),
            name: d.index_name,
            field: clip(&d.field_name),
            indexed_rows: d.indexed_rows.max(0),
            total_rows: d.total_rows.max(0),
            pending_rows: d.pending_index_rows.max(0),
        })
        .collect();
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    indexes.dedup_by(|a, b| a.name == b.name);
    if total > MAX_INDEXES {
        tracing::debug!(
            collection = name,
            total,
            "DescribeIndex: more indexes than read"
        );
    }
    Ok(indexes)
}

/// Milvus's "this collection has no index": error code 25 (IndexNotExist) before 2.3, 700 in
/// the 2.3 error scheme, and a reason that says so in either.
fn no_index(e: &CheckError) -> bool {
    match e {
        CheckError::Status { code, reason, .. } => {
            *code == common::ErrorCode::IndexNotExist as i32
                || *code == 700
                || reason.contains("index not found")
                || reason.contains("index not exist")
        }
        _ => false,
    }
}

pub(super) fn row_count(stats: &[common::KeyValuePair]) -> Result<u64, CheckError> {
    let kv = stats
        .iter()
        .find(|kv| kv.key == "row_count")
        .ok_or_else(|| CheckError::Malformed {
            rpc: "GetCollectionStatistics",
            message: "no row_count in the reply".into(),
        })?;
    kv.value
        .trim()
        .parse::<u64>()
        .map_err(|_| CheckError::Malformed {
            rpc: "GetCollectionStatistics",
            message: format!("row_count {:?} is not a number", clip(&kv.value)),
        })
}

/// The collections an inventory is asked about, from a health refresh's kept list.
pub(super) fn wanted(collections: &[super::CollectionFacts]) -> Vec<Wanted> {
    collections
        .iter()
        .filter(|c| c.load_state != LoadState::NotExist)
        .map(|c| Wanted {
            db: c.db_name.clone(),
            name: c.name.clone(),
            loaded: c.load_state == LoadState::Loaded,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_count_is_read_or_explained() {
        let kv = |k: &str, v: &str| common::KeyValuePair {
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(row_count(&[kv("row_count", "42")]).ok(), Some(42));
        assert!(row_count(&[]).is_err());
        assert!(row_count(&[kv("row_count", "-1")]).is_err());
    }

    #[test]
    fn failed_collections_are_retried_alone_sooner_than_the_full_pass() {
        let now = Instant::now();
        let interval = Duration::from_secs(300);
        let inv = |failed: Vec<Key>| Inventory {
            taken_at: now,
            items: HashMap::new(),
            retry_at: now + first_retry(interval),
            retry_wait: first_retry(interval),
            failed,
        };
        let key = ("default".to_string(), "docs".to_string());
        assert_eq!(first_retry(interval), Duration::from_secs(30));
        assert_eq!(first_retry(Duration::from_secs(5)), RETRY_MIN);
        assert!(inv(vec![])
            .due(interval, now + Duration::from_secs(31))
            .is_none());
        assert!(matches!(
            inv(vec![key.clone()]).due(interval, now + Duration::from_secs(31)),
            Some(Due::Retry(k)) if k == vec![key.clone()]
        ));
        assert!(matches!(
            inv(vec![key]).due(interval, now + interval),
            Some(Due::Full)
        ));
    }

    #[test]
    fn a_missing_index_is_no_error() {
        let e = |code, reason: &str| CheckError::Status {
            rpc: "DescribeIndex",
            code,
            reason: reason.into(),
        };
        assert!(no_index(&e(25, "x")));
        assert!(no_index(&e(700, "index not found[collection=docs]")));
        assert!(!no_index(&e(1, "permission denied")));
    }
}
