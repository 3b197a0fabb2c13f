//! `dependencies.collections` in `/readyz` and `/health`.

use serde::Serialize;

use super::CollectionsFacts;
use crate::checks::facts::{round, Section};
use crate::model::{CheckResult, LoadState};

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
    /// Milvus's `query_service_available`, when the in-memory listing said.
    #[serde(skip_serializing_if = "Option::is_none")]
    query_service_available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

pub(super) fn section(r: &CheckResult<CollectionsFacts>) -> Section {
    let (collections, error) = match &r.outcome {
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
                    query_service_available: c.query_service_available,
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
    let ok = r.ok();
    let dep = CollectionsDep {
        total: collections.len(),
        collections,
        skipped: ok.map_or_else(Skipped::default, |c| Skipped {
            filtered: c.skipped_filtered,
            limit: c.skipped_limit,
        }),
        inventory_age_seconds: ok
            .and_then(|c| c.inventory_age)
            .map(|a| round(a.as_secs_f64(), 1)),
        error,
    };
    Section::dependency("collections", &dep)
}
