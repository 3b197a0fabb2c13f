//! The `collections` check: databases, their collections, and what each collection holds.
//! It runs at two cadences. Every health refresh asks what exists and what is loaded in a
//! number of RPCs that does not grow with the number of collections ([`listing`]); the facts
//! that need RPCs per collection (rows, index progress, replicas) come from the newest
//! inventory pass, run every `cache.inventory_interval` on a task of its own ([`inventory`]).
//! `milvus.collections.include/exclude` and `milvus.max_collections` decide which collections
//! get series at all; required and probed collections always do. Its rule is `collections`:
//! every `readiness.required_collections` entry exists, is loaded, and has no failed index.

mod inventory;
mod listing;

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

pub use inventory::InventoryItem;

use super::facts::{CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::MilvusClient;
use super::shared::{CollectionStates, Shared};
use super::{timed, Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::config::CollectionFilter;
use crate::model::{CheckResult, CollectionRef, LoadState, RuleStatus};
use inventory::{InventoryCell, PassSettings};
use listing::{InMemory, Listing};

/// Milvus's own limit on collection and database names; anything longer is not a real name.
const MAX_NAME_BYTES: usize = 255;
/// Indexes read per collection: Milvus allows one per field, and a reply with more is not to
/// be believed in full.
const MAX_INDEXES: usize = 64;

pub static CHECK: Registration = Registration {
    name: "collections",
    rules: &[Rule {
        name: "collections",
        rank: 40,
        probe_targets: false,
        eval: collections_rule,
    }],
    build: |setup: &Setup<'_>| {
        let t = setup.target;
        let mut protected: Vec<CollectionRef> = setup.required().to_vec();
        protected.extend(setup.probes().iter().map(|p| p.collection.clone()));
        protected.extend(setup.rag_probes().iter().map(|p| p.collection.clone()));
        Ok(Some(Box::new(CollectionsCheck {
            client: Arc::clone(setup.milvus),
            databases: t.databases.clone(),
            max_concurrency: t.max_concurrency.max(1),
            replicas: t.replicas,
            filter: t.filter.clone(),
            max_collections: t.max_collections.max(1),
            protected,
            inventory_interval: t.inventory_interval,
            rpc_timeout: t.timeout,
            inventory: Arc::new(InventoryCell::default()),
            limit_logged: std::sync::atomic::AtomicBool::new(false),
        })))
    },
};

#[derive(Clone, Debug, PartialEq)]
pub struct CollectionFacts {
    pub db_name: String,
    pub name: String,
    /// Milvus's collection id, when ShowCollections sent ids (Milvus Lite does not).
    pub id: Option<i64>,
    pub load_state: LoadState,
    /// 0-100, from the bulk in-memory listing (or GetLoadingProgress as a fallback).
    pub loading_progress: Option<i64>,
    /// From the newest inventory pass.
    pub rows: Option<u64>,
    /// In-memory replicas, when `milvus.replicas` is on and the collection is loaded.
    pub replicas: Option<usize>,
    /// Every index with its build progress, from the newest inventory pass.
    pub indexes: Vec<IndexFacts>,
    /// Why some of this collection's facts are missing.
    pub error: Option<String>,
}

/// Index build state as Milvus reports it (`common.IndexState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    None,
    Unissued,
    InProgress,
    Finished,
    Failed,
    Retry,
}

impl IndexState {
    pub const ALL: [IndexState; 6] = [
        IndexState::None,
        IndexState::Unissued,
        IndexState::InProgress,
        IndexState::Finished,
        IndexState::Failed,
        IndexState::Retry,
    ];

    pub fn from_proto(v: i32) -> Self {
        match v {
            1 => IndexState::Unissued,
            2 => IndexState::InProgress,
            3 => IndexState::Finished,
            4 => IndexState::Failed,
            5 => IndexState::Retry,
            _ => IndexState::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::None => "None",
            IndexState::Unissued => "Unissued",
            IndexState::InProgress => "InProgress",
            IndexState::Finished => "Finished",
            IndexState::Failed => "Failed",
            IndexState::Retry => "Retry",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct IndexFacts {
    pub name: String,
    pub field: String,
    pub indexed_rows: i64,
    pub total_rows: i64,
    pub pending_rows: i64,
    pub state: IndexState,
    /// Milvus's reason, when the build failed.
    pub fail_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseFacts {
    pub name: String,
    /// `None` when listing this database's collections failed. All of them, whether or not
    /// they get series.
    pub collections_count: Option<usize>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct CollectionsFacts {
    pub databases: Vec<DatabaseFacts>,
    /// The collections that get series, in (database, name) order.
    pub collections: Vec<CollectionFacts>,
    /// Collections left out by `milvus.collections.include/exclude`.
    pub skipped_filtered: usize,
    /// Collections left out past `milvus.max_collections`.
    pub skipped_limit: usize,
    /// How old the joined inventory was when this refresh ended; `None` before the first pass.
    pub inventory_age: Option<Duration>,
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

/// What the `milvus` section (the count) and the probe rule (a load state) read of it.
impl CollectionStates for CollectionsFacts {
    fn count(&self) -> usize {
        self.collections.len()
    }
    fn load_state(&self, db_name: &str, name: &str) -> Option<LoadState> {
        self.find(db_name, name).map(|c| c.load_state)
    }
}

struct CollectionsCheck {
    client: Arc<MilvusClient>,
    /// `milvus.databases`; empty means every database ListDatabases names.
    databases: Vec<String>,
    max_concurrency: usize,
    replicas: bool,
    filter: CollectionFilter,
    max_collections: usize,
    /// Required and probed collections: never filtered away, never cut by the limit.
    protected: Vec<CollectionRef>,
    inventory_interval: Duration,
    rpc_timeout: Duration,
    inventory: Arc<InventoryCell>,
    /// The limit is logged once per configuration, not once per refresh.
    limit_logged: std::sync::atomic::AtomicBool,
}

impl Drop for CollectionsCheck {
    /// The inventory pass runs on a task of its own; it ends with the check (a reload, the
    /// end of `check`), not ten minutes later.
    fn drop(&mut self) {
        self.inventory.stop();
    }
}

impl Check for CollectionsCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> = Box::new(timed(self.collections(deadline.at)).await);
            r
        }
        .boxed()
    }

    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>> {
        super::failed::<CollectionsFacts>(error)
    }
}

impl CollectionsCheck {
    /// One health refresh: the listing and load states in RPCs that do not grow with the
    /// collections, joined with the newest inventory.
    async fn collections(&self, deadline: Instant) -> Result<CollectionsFacts, CheckError> {
        let databases = if self.databases.is_empty() {
            listing::list_databases(&self.client, deadline).await?
        } else {
            self.databases.clone()
        };
        let client = &self.client;
        // At most max_concurrency databases at once: a server that names thousands must not
        // get thousands of listings (each up to 64 MiB) in flight.
        let mut listings = Vec::with_capacity(databases.len());
        for chunk in databases.chunks(self.max_concurrency.div_ceil(2).max(1)) {
            listings.extend(
                futures::future::join_all(chunk.iter().map(|db| async move {
                    let (all, in_memory) = tokio::join!(
                        listing::show_all(client, db, deadline),
                        listing::show_in_memory(client, db, deadline)
                    );
                    (db.clone(), all, in_memory)
                }))
                .await,
            );
        }

        let mut facts = CollectionsFacts::default();
        let mut listed: Vec<(String, String, Option<i64>)> = Vec::new();
        let mut bulk: std::collections::HashMap<String, InMemory> = Default::default();
        let mut first_error = None;
        for (db, all, in_memory) in listings {
            match (all, in_memory) {
                (Ok(Listing { names, refused }), in_memory) => {
                    let error = match (&in_memory, refused) {
                        (Err(e), _) => Some(format!("in-memory listing: {e}")),
                        (Ok(_), 0) => None,
                        (Ok(_), n) => Some(format!(
                            "skipped {n} collection name(s) longer than {MAX_NAME_BYTES} bytes"
                        )),
                    };
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: Some(names.len()),
                        error,
                    });
                    listed.extend(names.into_iter().map(|(n, id)| (db.clone(), n, id)));
                    // A failed in-memory listing leaves this database's load states unknown
                    // this refresh (its error is shown); only a server without the bulk reply
                    // is asked one collection at a time.
                    bulk.insert(
                        db,
                        in_memory.unwrap_or_else(|e| InMemory::Failed(e.to_string())),
                    );
                }
                (Err(e), _) => {
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: None,
                        error: Some(e.to_string()),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        if let (Some(e), true) = (first_error, listed.is_empty()) {
            if facts.databases.iter().all(|d| d.error.is_some()) {
                return Err(e);
            }
        }

        let kept = self.select(listed, &mut facts);
        let mut collections: Vec<CollectionFacts> = kept
            .into_iter()
            .map(|(db, name, id)| CollectionFacts {
                db_name: db,
                name,
                id,
                load_state: LoadState::Unknown,
                loading_progress: None,
                rows: None,
                replicas: None,
                indexes: Vec::new(),
                error: None,
            })
            .collect();
        self.load_states(&mut collections, &bulk, deadline).await;
        self.join_inventory(&mut collections, &mut facts, deadline)
            .await;
        facts.collections = collections;
        Ok(facts)
    }

    /// Applies the filter and the limit, in (database, name) order; protected collections are
    /// kept whatever the filter and the limit say.
    fn select(
        &self,
        mut listed: Vec<(String, String, Option<i64>)>,
        facts: &mut CollectionsFacts,
    ) -> Vec<(String, String, Option<i64>)> {
        listed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let is_protected = |db: &str, name: &str| {
            self.protected
                .iter()
                .any(|p| p.db_name == db && p.name == name)
        };
        let mut kept = Vec::with_capacity(listed.len().min(self.max_collections));
        let mut unprotected = 0usize;
        for (db, name, id) in listed {
            let protected = is_protected(&db, &name);
            if !protected && !self.filter.admits(&db, &name) {
                facts.skipped_filtered += 1;
                continue;
            }
            if !protected {
                if unprotected >= self.max_collections {
                    facts.skipped_limit += 1;
                    continue;
                }
                unprotected += 1;
            }
            kept.push((db, name, id));
        }
        if facts.skipped_limit > 0
            && !self
                .limit_logged
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                max_collections = self.max_collections,
                skipped = facts.skipped_limit,
                "milvus.max_collections reached: the collections past it get no series \
                 (milvus_exporter_collections_skipped{{reason=\"limit\"}})"
            );
        }
        kept
    }

    /// Load states from each database's bulk reply, and one at a time for the collections it
    /// cannot tell about.
    async fn load_states(
        &self,
        collections: &mut [CollectionFacts],
        bulk: &std::collections::HashMap<String, InMemory>,
        deadline: Instant,
    ) {
        let mut ask = Vec::new();
        for (i, c) in collections.iter_mut().enumerate() {
            let known = bulk
                .get(&c.db_name)
                .map_or(Ok(None), |b| listing::from_bulk(b, &c.name));
            match known {
                Ok(Some((state, progress))) => {
                    c.load_state = state;
                    c.loading_progress = Some(progress);
                }
                Ok(None) => ask.push((i, c.db_name.clone(), c.name.clone())),
                Err(why) => c.error = Some(format!("load state unknown: in-memory listing: {why}")),
            }
        }
        if ask.is_empty() {
            return;
        }
        let wanted = ask.iter().map(|(_, d, n)| (d.clone(), n.clone())).collect();
        let answers =
            listing::load_states(&self.client, wanted, self.max_concurrency, deadline).await;
        for ((i, _, _), (_, answer)) in ask.into_iter().zip(answers) {
            let c = &mut collections[i];
            match answer {
                Ok((LoadState::NotExist, _)) => {
                    c.load_state = LoadState::NotExist;
                    c.error = Some("collection no longer exists (dropped while listing)".into());
                }
                Ok((state, progress)) => {
                    c.load_state = state;
                    c.loading_progress = progress;
                }
                Err(e) => c.error = Some(e.to_string()),
            }
        }
    }

    /// Joins the newest inventory, starting a pass when it is due. The first refresh waits
    /// for the first pass (up to its own deadline) so the first answer has row counts; with
    /// `inventory_interval = 0s` every refresh does.
    async fn join_inventory(
        &self,
        collections: &mut [CollectionFacts],
        facts: &mut CollectionsFacts,
        deadline: Instant,
    ) {
        let settings = PassSettings {
            client: Arc::clone(&self.client),
            concurrency: self.max_concurrency,
            replicas: self.replicas,
            rpc_timeout: self.rpc_timeout,
        };
        let wanted = inventory::wanted(collections);
        // Inline (interval 0s, or the first pass, which this refresh waits for): the pass is
        // cut a little before this refresh's own deadline, so what it learned in time is
        // joined rather than lost to a race at the deadline.
        let inline = self.inventory_interval.is_zero() || self.inventory.latest().is_none();
        let pass_deadline = if inline {
            let left = deadline.saturating_duration_since(Instant::now());
            deadline - (left / 20).min(Duration::from_millis(200))
        } else {
            inventory::pass_deadline(self.inventory_interval, self.rpc_timeout)
        };
        let running =
            self.inventory
                .ensure(&settings, &wanted, self.inventory_interval, pass_deadline);
        if let (Some(running), true) = (running, inline) {
            let _ = tokio::time::timeout_at(deadline, running).await;
        }
        let Some(inv) = self.inventory.latest() else {
            return;
        };
        facts.inventory_age = Some(Instant::now().saturating_duration_since(inv.taken_at));
        for c in collections.iter_mut() {
            let Some(item) = inv.items.get(&(c.db_name.clone(), c.name.clone())) else {
                continue;
            };
            c.rows = item.rows;
            c.replicas = item.replicas.filter(|_| c.load_state == LoadState::Loaded);
            c.indexes.clone_from(&item.indexes);
            if c.error.is_none() {
                c.error.clone_from(&item.error);
            }
        }
    }
}

fn collections_rule(input: &RuleInput<'_>) -> RuleStatus {
    let config = input.config;
    if config.required_collections.is_empty() {
        return RuleStatus::Pass;
    }
    let facts = match input.results.result::<CollectionsFacts>().map(|r| &r.outcome) {
        Some(Ok(f)) => f,
        Some(Err(e)) => {
            return RuleStatus::Fail(format!("cannot list collections: {e}"));
        }
        None => return RuleStatus::Excluded,
    };
    let mut problems = Vec::new();
    for wanted in &config.required_collections {
        let db_error = facts
            .databases
            .iter()
            .find(|d| d.name == wanted.db_name)
            .and_then(|d| d.collections_count.is_none().then_some(d.error.clone()));
        match (facts.find(&wanted.db_name, &wanted.name), db_error) {
            (_, Some(err)) => problems.push(format!(
                "required collection {wanted}: database {} could not be listed: {}",
                wanted.db_name,
                err.unwrap_or_default()
            )),
            (None, None) => problems.push(format!("required collection {wanted} does not exist")),
            (Some(c), None) => match c.load_state {
                LoadState::Loaded => {
                    // A failed index serves brute-force searches, or none.
                    for i in c.indexes.iter().filter(|i| i.state == IndexState::Failed) {
                        problems.push(format!(
                            "required collection {wanted}: index {} failed: {}",
                            i.name,
                            i.fail_reason.as_deref().unwrap_or("no reason given")
                        ));
                    }
                }
                LoadState::Loading => problems.push(format!(
                    "required collection {wanted} is still loading ({}%)",
                    c.loading_progress.unwrap_or(0)
                )),
                LoadState::Unknown => problems.push(format!(
                    "required collection {wanted}: load state unknown ({})",
                    c.error.as_deref().unwrap_or("no answer")
                )),
                other => problems.push(format!(
                    "required collection {wanted} is not loaded (state {})",
                    other.as_str()
                )),
            },
        }
    }
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

/// `dependencies.collections` in `/readyz` and `/health`.
#[derive(Serialize)]
struct CollectionsDep<'a> {
    total: usize,
    collections: Vec<CollectionEntry<'a>>,
    /// Collections that exist but get no series (`milvus.collections.*`, `max_collections`).
    #[serde(skip_serializing_if = "Skipped::is_empty")]
    skipped: Skipped,
    /// Age of the row counts and index progress, seconds (`cache.inventory_interval`).
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory_age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, Default)]
struct Skipped {
    filtered: usize,
    limit: usize,
}

impl Skipped {
    fn is_empty(&self) -> bool {
        self.filtered == 0 && self.limit == 0
    }
}

#[derive(Serialize)]
struct IndexEntry<'a> {
    name: &'a str,
    field: &'a str,
    state: &'static str,
    indexed_rows: i64,
    total_rows: i64,
    pending_rows: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    fail_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct CollectionEntry<'a> {
    name: &'a str,
    db_name: &'a str,
    loaded: bool,
    load_state: &'static str,
    num_entities: Option<u64>,
    loading_progress: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    indexes: Vec<IndexEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn index_labels<'a>(c: &'a CollectionFacts, i: &'a IndexFacts) -> [(&'static str, Clipped<'a>); 3] {
    let [db, col] = labels(c);
    [db, col, ("index_name", Clipped(i.name.as_str()))]
}

fn labels(c: &CollectionFacts) -> [(&'static str, Clipped<'_>); 2] {
    [
        ("db_name", Clipped(&c.db_name)),
        ("collection_name", Clipped(&c.name)),
    ]
}

impl Facts for CheckResult<CollectionsFacts> {
    /// The collections check succeeds only if every database and collection answered; its
    /// error says what did not, while the facts that did arrive are still reported.
    fn checks(&self) -> Vec<CheckRow> {
        let row = match &self.outcome {
            Err(_) => CheckRow::of("collections", self),
            Ok(facts) => {
                let problems = facts.problems();
                let error = match problems.len() {
                    0 => None,
                    1 => Some(problems[0].clone()),
                    n => Some(format!("{} (and {} more)", problems[0], n - 1)),
                };
                CheckRow {
                    name: "collections",
                    success: error.is_none(),
                    duration: self.duration,
                    error,
                }
            }
        };
        vec![row]
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        let Some(c) = self.ok() else { return Ok(()) };
        f.gauge(
            "milvus_collections",
            &format!("Number of collections in the database.{cached}"),
            c.databases.iter().filter_map(|d| {
                d.collections_count
                    .map(|n| ([("db_name", Clipped(&d.name))], n as f64))
            }),
        )?;
        f.gauge(
            "milvus_collection_loaded",
            &format!("1 when the collection is loaded into memory, 0 otherwise.{cached}"),
            c.collections
                .iter()
                .filter(|c| c.load_state != LoadState::Unknown)
                .map(|c| (labels(c), i64::from(c.load_state == LoadState::Loaded))),
        )?;
        f.gauge(
            "milvus_collection_loading_progress_percent",
            &format!("Loading progress of the collection, 0-100.{cached}"),
            c.collections
                .iter()
                .filter_map(|c| c.loading_progress.map(|p| (labels(c), p))),
        )?;
        f.gauge(
            "milvus_collection_replicas",
            &format!(
                "In-memory replicas of the loaded collection (milvus.replicas = true).{cached}"
            ),
            c.collections.iter().filter_map(|c| {
                c.replicas
                    .map(|r| (labels(c), i64::try_from(r).unwrap_or(i64::MAX)))
            }),
        )?;
        f.gauge(
            "milvus_collection_rows",
            &format!("Row count of the collection (GetCollectionStatistics row_count).{cached}"),
            c.collections.iter().filter_map(|c| {
                c.rows
                    .map(|r| (labels(c), i64::try_from(r).unwrap_or(i64::MAX)))
            }),
        )?;
        let indexes = || {
            c.collections
                .iter()
                .flat_map(|c| c.indexes.iter().map(move |i| (c, i)))
        };
        f.gauge(
            "milvus_collection_indexed_rows",
            &format!("Rows the index has built, per collection and index (DescribeIndex).{cached}"),
            indexes().map(|(c, i)| (index_labels(c, i), i.indexed_rows)),
        )?;
        f.gauge(
            "milvus_collection_index_pending_rows",
            &format!("Rows still waiting for the index, per collection and index.{cached}"),
            indexes().map(|(c, i)| (index_labels(c, i), i.pending_rows)),
        )?;
        f.gauge(
            "milvus_collection_index_state",
            &format!(
                "1 for the index's build state (None, Unissued, InProgress, Finished, Failed, \
                 Retry).{cached}"
            ),
            indexes().map(|(c, i)| {
                let [db, col, idx] = index_labels(c, i);
                ([db, col, idx, ("state", Clipped(i.state.as_str()))], 1i64)
            }),
        )?;
        if let Some(bytes) = m.results.shared().binlog_bytes.filter(|b| !b.is_empty()) {
            f.gauge(
                "milvus_collection_binlog_bytes",
                &format!(
                    "Binlog bytes of the collection in object storage, from datacoord's quota \
                     metrics (GetMetrics system_info).{cached}"
                ),
                c.collections.iter().filter_map(|c| {
                    let b = bytes.get(&c.id?)?;
                    Some((labels(c), i64::try_from(*b).unwrap_or(i64::MAX)))
                }),
            )?;
        }
        f.gauge(
            "milvus_exporter_collections_skipped",
            &format!(
                "Collections that exist but get no series: reason=\"filtered\" by \
                 milvus.collections.include/exclude, \"limit\" past milvus.max_collections.{cached}"
            ),
            [
                ([("reason", "filtered")], c.skipped_filtered as i64),
                ([("reason", "limit")], c.skipped_limit as i64),
            ],
        )?;
        f.gauge1(
            "milvus_exporter_inventory_age_seconds",
            &format!(
                "Age of the per-collection inventory (rows, index progress, replicas) when the \
                 snapshot was taken; it is refreshed every cache.inventory_interval.{cached}"
            ),
            c.inventory_age.map(|a| a.as_secs_f64()),
        )
    }

    /// ~110 bytes a sample, three samples per collection and three per index.
    fn size_hint(&self) -> usize {
        self.ok().map_or(0, |c| {
            c.collections.len() * 330
                + c.collections.iter().map(|c| c.indexes.len()).sum::<usize>() * 400
        })
    }

    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        let (collections, error) = match &self.outcome {
            Ok(c) => (
                c.collections
                    .iter()
                    .map(|c| CollectionEntry {
                        name: &c.name,
                        db_name: &c.db_name,
                        loaded: c.load_state == LoadState::Loaded,
                        load_state: c.load_state.as_str(),
                        num_entities: c.rows,
                        loading_progress: c.loading_progress,
                        replicas: c.replicas,
                        indexes: c
                            .indexes
                            .iter()
                            .map(|i| IndexEntry {
                                name: &i.name,
                                field: &i.field,
                                state: i.state.as_str(),
                                indexed_rows: i.indexed_rows,
                                total_rows: i.total_rows,
                                pending_rows: i.pending_rows,
                                fail_reason: i.fail_reason.as_deref(),
                            })
                            .collect(),
                        error: c.error.as_deref(),
                    })
                    .collect::<Vec<_>>(),
                {
                    let p = c.problems();
                    (!p.is_empty()).then(|| p.join("; "))
                },
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let ok = self.ok();
        let dep = CollectionsDep {
            total: collections.len(),
            collections,
            skipped: ok.map_or_else(Skipped::default, |c| Skipped {
                filtered: c.skipped_filtered,
                limit: c.skipped_limit,
            }),
            inventory_age_seconds: ok
                .and_then(|c| c.inventory_age)
                .map(|a| super::facts::round(a.as_secs_f64(), 1)),
            error,
        };
        vec![Section::dependency("collections", &dep)]
    }

    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.collections = self.ok().map(|c| c as &dyn CollectionStates);
    }

    fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        let Some(c) = self.ok() else { return };
        let _ = writeln!(
            out,
            "\n  {:<12} {:<32} {:<9} {:>9} {:>12}",
            "DATABASE", "COLLECTION", "STATE", "PROGRESS", "ROWS"
        );
        for col in &c.collections {
            let _ = writeln!(
                out,
                "  {:<12} {:<32} {:<9} {:>8}% {:>12}{}",
                col.db_name,
                col.name,
                col.load_state.as_str(),
                col.loading_progress
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                col.rows
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
                col.error
                    .as_ref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
            for i in &col.indexes {
                let _ = writeln!(
                    out,
                    "    index {} on {}: {} {}/{} rows, {} pending{}",
                    i.name,
                    i.field,
                    i.state.as_str(),
                    i.indexed_rows,
                    i.total_rows,
                    i.pending_rows,
                    i.fail_reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        if c.skipped_filtered + c.skipped_limit > 0 {
            let _ = writeln!(
                out,
                "  skipped {} filtered, {} past milvus.max_collections",
                c.skipped_filtered, c.skipped_limit
            );
        }
        if let Some(age) = c.inventory_age {
            let _ = writeln!(out, "  inventory {:.0}s old", age.as_secs_f64());
        }
    }
}

