//! The health-cadence half of the `collections` check: what exists and what is loaded, asked
//! in a number of RPCs that does not grow with the number of collections. Per database, one
//! `ShowCollections` lists every name (and id), and one `ShowCollections` of type `InMemory`
//! gives the load percentage of every loaded collection at once. Only a server without that
//! bulk reply, or a collection whose bulk answer is ambiguous, is asked one collection at a time.

use ::milvus::proto::milvus as pb;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::super::grpc::{status_ok, MilvusClient};
use super::MAX_NAME_BYTES;
use crate::model::{CheckError, LoadState};

/// Databases read from ListDatabases: Milvus allows 64 by default (`rootCoord.maxDatabaseNum`);
/// a server naming more than this many is not believed in full.
pub(super) const MAX_DATABASES: usize = 1024;

/// One database's collections, names sorted, with their ids when the server sent them.
#[derive(Debug, Default)]
pub(super) struct Listing {
    pub(super) names: Vec<(String, Option<i64>)>,
    /// Names refused as not real (empty, or longer than Milvus allows).
    pub(super) refused: usize,
}

/// What `ShowCollections(InMemory)` said, per collection name: its load percentage.
#[derive(Debug)]
pub(super) enum InMemory {
    /// The bulk reply: names with percentages, lengths matching, and each collection's
    /// `query_service_available` when that array lines up too.
    Percentages(std::collections::HashMap<String, (i64, Option<bool>)>),
    /// The server has no usable bulk reply (Unimplemented, or arrays that do not match up):
    /// every collection's load state is asked on its own.
    Unsupported,
    /// The bulk reply failed (a timeout, an error status): the load states are unknown this
    /// refresh. Asking every collection instead would multiply the load on a query
    /// coordinator that is already failing.
    Failed(String),
}

pub(super) async fn list_databases(
    client: &MilvusClient,
    deadline: Instant,
) -> Result<Vec<String>, CheckError> {
    let reply = client
        .call(
            "ListDatabases",
            deadline,
            None,
            pb::ListDatabasesRequest::default(),
            |mut c, r| async move { c.list_databases(r).await },
        )
        .await;
    match reply {
        // Milvus before 2.2.9 has no databases: everything lives in "default".
        Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {
            Ok(vec!["default".to_string()])
        }
        Err(e) => Err(e),
        Ok(r) => {
            status_ok("ListDatabases", r.status.as_ref())?;
            let mut names: Vec<String> = r
                .db_names
                .into_iter()
                .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
                .collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                names.push("default".to_string());
            }
            if names.len() > MAX_DATABASES {
                tracing::warn!(
                    listed = names.len(),
                    read = MAX_DATABASES,
                    "ListDatabases names more databases than are read; the rest are left out"
                );
                names.truncate(MAX_DATABASES);
            }
            Ok(names)
        }
    }
}

/// Every collection of `db`. Ids, timestamps and percentages may be missing or of other
/// lengths (Milvus Lite sends names alone): ids are kept only when they line up with names.
pub(super) async fn show_all(
    client: &MilvusClient,
    db: &str,
    deadline: Instant,
) -> Result<Listing, CheckError> {
    let req = pb::ShowCollectionsRequest {
        db_name: db.to_string(),
        ..Default::default()
    };
    let r = client
        .call(
            "ShowCollections",
            deadline,
            Some(db),
            req,
            |mut c, r| async move { c.show_collections(r).await },
        )
        .await?;
    status_ok("ShowCollections", r.status.as_ref())?;
    let total = r.collection_names.len();
    let ids_line_up = r.collection_ids.len() == total;
    let mut names: Vec<(String, Option<i64>)> = r
        .collection_names
        .into_iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
        .map(|(i, n)| (n, ids_line_up.then(|| r.collection_ids[i])))
        .collect();
    let refused = total - names.len();
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    Ok(Listing { names, refused })
}

/// The load percentage of every loaded (or loading) collection of `db`, in one call.
#[allow(deprecated)] // `ShowType` and `inMemory_percentages` are deprecated upstream, yet
                     // they are the one reply that covers a whole database.
pub(super) async fn show_in_memory(
    client: &MilvusClient,
    db: &str,
    deadline: Instant,
) -> Result<InMemory, CheckError> {
    let req = pb::ShowCollectionsRequest {
        db_name: db.to_string(),
        r#type: pb::ShowType::InMemory as i32,
        ..Default::default()
    };
    let reply = client
        .call(
            "ShowCollections",
            deadline,
            Some(db),
            req,
            |mut c, r| async move { c.show_collections(r).await },
        )
        .await;
    let r = match reply {
        Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {
            return Ok(InMemory::Unsupported)
        }
        other => other?,
    };
    status_ok("ShowCollections", r.status.as_ref())?;
    if r.in_memory_percentages.len() != r.collection_names.len() {
        return Ok(InMemory::Unsupported);
    }
    // `query_service_available` is true while any replica can serve (every line fills it):
    // read where it lines up with the names, and ignored where it does not.
    let available = (r.query_service_available.len() == r.collection_names.len())
        .then_some(r.query_service_available);
    Ok(InMemory::Percentages(
        r.collection_names
            .into_iter()
            .zip(r.in_memory_percentages)
            .enumerate()
            .map(|(i, (n, p))| {
                let a = available.as_ref().and_then(|a| a.get(i).copied());
                (n, (p.clamp(0, 100), a))
            })
            .collect(),
    ))
}

/// A load state and progress read from the bulk reply, `Ok(None)` when the bulk reply cannot
/// tell, or why it failed. 0% means "loading, just started" on Milvus 2.3 but "not loaded" on
/// Milvus Lite, which lists every collection with 0 for not loaded: those are asked one at a
/// time (on Lite, every unloaded collection, each refresh).
pub(super) fn from_bulk(
    in_memory: &InMemory,
    name: &str,
) -> Result<Option<(LoadState, i64)>, String> {
    match in_memory {
        InMemory::Unsupported => Ok(None),
        InMemory::Failed(why) => Err(why.clone()),
        InMemory::Percentages(p) => Ok(match p.get(name) {
            None => Some((LoadState::NotLoad, 0)),
            Some((100, _)) => Some((LoadState::Loaded, 100)),
            Some((0, _)) => None,
            Some(&(pct, _)) => Some((LoadState::Loading, pct)),
        }),
    }
}

/// Whether querycoord says a replica of `name` can serve queries, when the bulk reply said.
pub(super) fn query_service_available(in_memory: &InMemory, name: &str) -> Option<bool> {
    match in_memory {
        InMemory::Percentages(p) => p.get(name).and_then(|(_, a)| *a),
        _ => None,
    }
}

/// The per-collection fallback: GetLoadState, and GetLoadingProgress while it loads.
pub(super) async fn load_state(
    client: &MilvusClient,
    db: &str,
    name: &str,
    deadline: Instant,
) -> Result<(LoadState, Option<i64>), CheckError> {
    let state = client
        .call(
            "GetLoadState",
            deadline,
            Some(db),
            pb::GetLoadStateRequest {
                db_name: db.to_string(),
                collection_name: name.to_string(),
                ..Default::default()
            },
            |mut c, r| async move { c.get_load_state(r).await },
        )
        .await
        .and_then(|r| {
            status_ok("GetLoadState", r.status.as_ref())?;
            Ok(LoadState::from_proto(r.state))
        })?;
    let progress = match state {
        LoadState::Loaded => Some(100),
        LoadState::NotLoad => Some(0),
        LoadState::Loading => Some(
            client
                .call(
                    "GetLoadingProgress",
                    deadline,
                    Some(db),
                    pb::GetLoadingProgressRequest {
                        db_name: db.to_string(),
                        collection_name: name.to_string(),
                        ..Default::default()
                    },
                    |mut c, r| async move { c.get_loading_progress(r).await },
                )
                .await
                .and_then(|r| {
                    status_ok("GetLoadingProgress", r.status.as_ref())?;
                    Ok(r.progress.clamp(0, 100))
                })?,
        ),
        LoadState::NotExist | LoadState::Unknown => None,
    };
    Ok((state, progress))
}

/// [`load_state`] for each of `wanted`, at most `concurrency` at once, in `wanted`'s order.
pub(super) async fn load_states(
    client: &MilvusClient,
    wanted: Vec<(String, String)>,
    concurrency: usize,
    deadline: Instant,
) -> Vec<(
    (String, String),
    Result<(LoadState, Option<i64>), CheckError>,
)> {
    stream::iter(wanted)
        .map(|(db, name)| async move {
            let r = load_state(client, &db, &name, deadline).await;
            ((db, name), r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}
