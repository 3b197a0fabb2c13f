//! The `collections` check's facts: databases, the collections kept, their load states, rows,
//! replicas and indexes, and what the other checks may read of them ([`CollectionStates`]).

use std::time::Duration;

use crate::checks::shared::CollectionStates;
use crate::model::LoadState;

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
    /// `query_service_available` of the in-memory listing: false when no replica of the
    /// loaded collection can serve. Rarely false (querycoord counts a node until its session
    /// expires), so never the only sign of a dead query node; `None` when not listed.
    pub query_service_available: Option<bool>,
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
