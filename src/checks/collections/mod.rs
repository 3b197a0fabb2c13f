//! The `collections` check: databases, their collections, and what each collection holds.
//! It runs at two cadences. Every health refresh asks what exists and what is loaded in a
//! number of RPCs that does not grow with the number of collections ([`listing`]); the facts
//! that need RPCs per collection (rows, index progress, replicas) come from the newest
//! inventory pass, run every `cache.inventory_interval` on a task of its own ([`inventory`]).
//! `milvus.collections.include/exclude` and `milvus.max_collections` decide which collections
//! get series at all; required and probed collections always do. Its rule is `collections`:
//! every `readiness.required_collections` entry exists, is loaded, and has no failed index.
//!
//! The files: its facts (`facts.rs`), one health refresh (`refresh.rs`: the listing joined
//! with the inventory), its rule (`rule.rs`), its metric families (`families.rs`), its JSON
//! section (`json.rs`) and its lines of the `check` table (`table.rs`).

mod facts;
mod families;
mod inventory;
mod json;
mod listing;
mod page;
mod refresh;
mod rule;
mod table;

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};

pub use facts::{CollectionFacts, CollectionsFacts, DatabaseFacts, IndexFacts, IndexState};
pub use inventory::InventoryItem;

use super::facts::{CheckRow, Facts, Family, MetricsContext, Results, Section};
use super::grpc::MilvusClient;
use super::shared::{CollectionStates, Shared};
use super::{timed, Check, CheckError, Deadline, Registration, Rule, Setup};
use crate::config::CollectionFilter;
use crate::model::{CheckResult, CollectionRef};
use inventory::InventoryCell;
use rule::collections_rule;

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
        probe_targets: true,
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
            listing_bound: listing::ListingBound {
                names: t.max_listed_collections,
                // Only the main target is given the host sampler.
                key: if setup.system.is_some() {
                    "milvus.max_listed_collections".to_string()
                } else {
                    format!("max_listed_collections of target {:?}", t.name)
                },
            },
            inventory: Arc::new(InventoryCell::default()),
            limit_logged: std::sync::atomic::AtomicBool::new(false),
        })))
    },
};

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
    /// How many names one database's listing may hold.
    listing_bound: listing::ListingBound,
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

    fn stop(&self) {
        self.inventory.stop();
    }
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
        families::write(self, f, m)
    }

    /// ~110 bytes a sample, three samples per collection and three per index.
    fn size_hint(&self) -> usize {
        self.ok().map_or(0, |c| {
            c.collections.len() * 330
                + c.collections.iter().map(|c| c.indexes.len()).sum::<usize>() * 400
        })
    }

    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        vec![json::section(self)]
    }

    fn share<'a>(&'a self, shared: &mut Shared<'a>) {
        shared.collections = self.ok().map(|c| c as &dyn CollectionStates);
    }

    fn table(&self, out: &mut String) {
        table::write(self, out)
    }

    fn panels(&self, all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        page::panels(self, all, limit)
    }
}
