//! The `collections` check's metric families: per database, per collection and per index,
//! the binlog bytes the `nodes` check shares, and the collections skipped.

use super::{CollectionFacts, CollectionsFacts, IndexFacts};
use crate::checks::facts::{Clipped, Family, MetricsContext};
use crate::model::{CheckResult, LoadState};

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

pub(super) fn write(
    r: &CheckResult<CollectionsFacts>,
    f: &mut Family<'_, '_>,
    m: &MetricsContext<'_>,
) -> std::fmt::Result {
    let cached = m.cached;
    let Some(c) = r.ok() else { return Ok(()) };
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
        &format!("In-memory replicas of the loaded collection (milvus.replicas = true).{cached}"),
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
