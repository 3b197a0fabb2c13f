//! The health-cadence half of the `collections` check: what exists and what is loaded, asked
//! in a number of RPCs that does not grow with the number of collections. Per database, one
//! `ShowCollections` lists every name (and id), and one `ShowCollections` of type `InMemory`
//! gives the load percentage of every loaded collection at once. Only a server without that
//! bulk reply, or a collection whose bulk answer is ambiguous, is asked one collection at a time.

use ::milvus::proto::milvus as pb;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;

use super::super::grpc::{status_ok, Counted, MilvusClient, ReplyBound};
use super::MAX_NAME_BYTES;
use crate::limits::listing_reply_bytes;
use crate::model::{CheckError, LoadState};

/// Databases read from ListDatabases: Milvus allows 64 by default (`rootCoord.maxDatabaseNum`);
/// a server naming more than this many fails the check (counted before any name is decoded)
/// unless `milvus.databases` names the ones to watch.
pub(super) const MAX_DATABASES: usize = 1024;

const SHOW_COLLECTIONS: &str = "/milvus.proto.milvus.MilvusService/ShowCollections";
const LIST_DATABASES: &str = "/milvus.proto.milvus.MilvusService/ListDatabases";

/// How many collection names one database's listing may hold, and the key that says so
/// (`milvus.max_listed_collections`, or a `[[targets]]` entry's).
#[derive(Clone, Debug)]
pub(super) struct ListingBound {
    pub(super) names: usize,
    pub(super) key: String,
}

impl ListingBound {
    fn bytes(&self) -> usize {
        listing_reply_bytes(self.names)
    }

    /// A listing of `db` past the bound, by count (`Some(n)`) or by bytes (`None`).
    fn exceeded(&self, db: &str, names: Option<usize>) -> CheckError {
        let message = match names {
            Some(n) => format!(
                "database {db:?} lists {n} collections, more than {} ({}) allows",
                self.key, self.names
            ),
            None => format!(
                "database {db:?}: the listing is larger than the {} bytes {} ({}) allows",
                self.bytes(),
                self.key,
                self.names
            ),
        };
        CheckError::OverBound {
            rpc: "ShowCollections",
            message,
        }
    }
}

/// Whether tonic refused a reply for its length before reading it.
fn too_long(e: &CheckError) -> bool {
    matches!(e, CheckError::Rpc { code, message, .. }
        if code == "OutOfRange" && message.contains("too large"))
}

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
    let over = |n: Option<usize>| CheckError::OverBound {
        rpc: "ListDatabases",
        message: format!(
            "Milvus names {} databases, more than the {MAX_DATABASES} read; name the ones \
             to watch in milvus.databases",
            n.map_or_else(|| "too many".to_string(), |n| n.to_string())
        ),
    };
    let reply = client
        .call_listing::<_, pb::ListDatabasesResponse>(
            ("ListDatabases", LIST_DATABASES),
            deadline,
            None,
            pb::ListDatabasesRequest::default(),
            ReplyBound {
                bytes: listing_reply_bytes(MAX_DATABASES),
                names: MAX_DATABASES,
            },
        )
        .await;
    match reply {
        // Milvus before 2.2.9 has no databases: everything lives in "default".
        Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {
            Ok(vec!["default".to_string()])
        }
        Err(e) if too_long(&e) => Err(over(None)),
        Err(e) => Err(e),
        Ok(Counted::TooMany(n)) => Err(over(Some(n))),
        Ok(Counted::Decoded(r)) => {
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
    bound: &ListingBound,
) -> Result<Listing, CheckError> {
    let req = pb::ShowCollectionsRequest {
        db_name: db.to_string(),
        ..Default::default()
    };
    let r = show(client, db, deadline, req, bound).await?;
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

/// One ShowCollections of `db` under `bound`: by bytes before the reply is read, by names
/// before any is decoded.
async fn show(
    client: &MilvusClient,
    db: &str,
    deadline: Instant,
    req: pb::ShowCollectionsRequest,
    bound: &ListingBound,
) -> Result<pb::ShowCollectionsResponse, CheckError> {
    let reply = client
        .call_listing(
            ("ShowCollections", SHOW_COLLECTIONS),
            deadline,
            Some(db),
            req,
            ReplyBound {
                bytes: bound.bytes(),
                names: bound.names,
            },
        )
        .await;
    match reply {
        Err(e) if too_long(&e) => Err(bound.exceeded(db, None)),
        Err(e) => Err(e),
        Ok(Counted::TooMany(n)) => Err(bound.exceeded(db, Some(n))),
        Ok(Counted::Decoded(r)) => Ok(r),
    }
}

/// The load percentage of every loaded (or loading) collection of `db`, in one call.
#[allow(deprecated)] // `ShowType` and `inMemory_percentages` are deprecated upstream, yet
                     // they are the one reply that covers a whole database.
pub(super) async fn show_in_memory(
    client: &MilvusClient,
    db: &str,
    deadline: Instant,
    bound: &ListingBound,
) -> Result<InMemory, CheckError> {
    let req = pb::ShowCollectionsRequest {
        db_name: db.to_string(),
        r#type: pb::ShowType::InMemory as i32,
        ..Default::default()
    };
    let reply = show(client, db, deadline, req, bound).await;
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
