//! The `collections` check: databases (ListDatabases), their collections (ShowCollections),
//! and each collection's load state, loading progress, row count and replicas, asked over the
//! target's shared gRPC client with at most `milvus.max_concurrency` collections at once. Its
//! rule is `collections`: every `readiness.required_collections` entry exists and is loaded.

use std::sync::Arc;

use ::milvus::proto::common;
use ::milvus::proto::milvus as pb;
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use super::facts::{CheckRow, Clipped, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{clip, status_ok, MilvusClient};
use super::{timed, Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::model::{CheckResult, LoadState, RuleStatus};

/// Milvus's own limit on collection and database names; anything longer is not a real name.
const MAX_NAME_BYTES: usize = 255;

pub static CHECK: Registration = Registration {
    name: "collections",
    rules: &[Rule {
        name: "collections",
        rank: 40,
        probe_targets: false,
        eval: collections_rule,
    }],
    build: |setup: &Setup<'_>| {
        Ok(Some(Box::new(CollectionsCheck {
            client: Arc::clone(setup.milvus),
            databases: setup.target.databases.clone(),
            max_concurrency: setup.target.max_concurrency.max(1),
            replicas: setup.target.replicas,
        })))
    },
};

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

struct CollectionsCheck {
    client: Arc<MilvusClient>,
    /// `milvus.databases`; empty means every database ListDatabases names.
    databases: Vec<String>,
    max_concurrency: usize,
    replicas: bool,
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
    /// Databases, their collections, and each collection's load state and row count, with at
    /// most `max_concurrency` collections being asked about at once.
    async fn collections(&self, deadline: Instant) -> Result<CollectionsFacts, CheckError> {
        let databases = if self.databases.is_empty() {
            self.list_databases(deadline).await?
        } else {
            self.databases.clone()
        };
        let listings = futures::future::join_all(
            databases
                .iter()
                .map(|db| async move { (db.clone(), self.show_collections(db, deadline).await) }),
        )
        .await;

        let mut facts = CollectionsFacts::default();
        let mut wanted = Vec::new();
        let mut first_error = None;
        for (db, listing) in listings {
            match listing {
                Ok((names, skipped)) => {
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: Some(names.len()),
                        error: (skipped > 0).then(|| {
                            format!("skipped {skipped} collection name(s) longer than {MAX_NAME_BYTES} bytes")
                        }),
                    });
                    wanted.extend(names.into_iter().map(|n| (db.clone(), n)));
                }
                Err(e) => {
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: None,
                        error: Some(e.to_string()),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        if let (Some(e), true) = (first_error, wanted.is_empty()) {
            if facts.databases.iter().all(|d| d.error.is_some()) {
                return Err(e);
            }
        }

        let mut collections: Vec<CollectionFacts> = stream::iter(wanted)
            .map(|(db, name)| self.collection(db, name, deadline))
            .buffer_unordered(self.max_concurrency)
            .collect()
            .await;
        collections.sort_by(|a, b| (&a.db_name, &a.name).cmp(&(&b.db_name, &b.name)));
        facts.collections = collections;
        Ok(facts)
    }

    async fn list_databases(&self, deadline: Instant) -> Result<Vec<String>, CheckError> {
        let reply = self.client
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
                Ok(names)
            }
        }
    }

    /// Names only: ids, timestamps and percentages may be missing or of other lengths (Milvus
    /// Lite sends names alone), and the exporter has no use for them.
    async fn show_collections(
        &self,
        db: &str,
        deadline: Instant,
    ) -> Result<(Vec<String>, usize), CheckError> {
        let req = pb::ShowCollectionsRequest {
            db_name: db.to_string(),
            ..Default::default()
        };
        let r = self.client
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
        let mut names: Vec<String> = r
            .collection_names
            .into_iter()
            .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
            .collect();
        let skipped = total - names.len();
        names.sort();
        names.dedup();
        Ok((names, skipped))
    }

    async fn collection(&self, db: String, name: String, deadline: Instant) -> CollectionFacts {
        let mut facts = CollectionFacts {
            db_name: db,
            name,
            load_state: LoadState::Unknown,
            loading_progress: None,
            rows: None,
            replicas: None,
            error: None,
        };
        let (db, name) = (facts.db_name.as_str(), facts.name.as_str());
        let state = self.client
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
            });
        match state {
            Ok(s) => facts.load_state = s,
            Err(e) => {
                facts.error = Some(e.to_string());
                return facts;
            }
        }
        match facts.load_state {
            LoadState::NotExist => {
                facts.error = Some("collection no longer exists (dropped while listing)".into());
                return facts;
            }
            LoadState::Loaded => facts.loading_progress = Some(100),
            LoadState::NotLoad => facts.loading_progress = Some(0),
            LoadState::Loading => {
                let progress = self.client
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
                    });
                match progress {
                    Ok(p) => facts.loading_progress = Some(p),
                    Err(e) => facts.error = Some(e.to_string()),
                }
            }
            LoadState::Unknown => {}
        }
        let rows = self.client
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
            Ok(n) => facts.rows = Some(n),
            Err(e) => {
                facts.error.get_or_insert(e.to_string());
            }
        }
        if self.replicas && facts.load_state == LoadState::Loaded {
            let replicas = self.client
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
                Ok(n) => facts.replicas = Some(n),
                // A server without GetReplicas (Milvus Lite) has no replicas to report.
                Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {}
                Err(e) => {
                    facts.error.get_or_insert(e.to_string());
                }
            }
        }
        facts
    }
}

fn row_count(stats: &[common::KeyValuePair]) -> Result<u64, CheckError> {
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
                LoadState::Loaded => {}
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
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
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
        )
    }

    /// ~110 bytes a sample, three samples per collection.
    fn size_hint(&self) -> usize {
        self.ok().map_or(0, |c| c.collections.len() * 330)
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
        let dep = CollectionsDep {
            total: collections.len(),
            collections,
            error,
        };
        vec![Section::dependency("collections", &dep)]
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
        }
    }
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
}
