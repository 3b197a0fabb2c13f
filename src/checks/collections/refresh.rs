//! One health refresh of the `collections` check: the listing and the load states, in RPCs
//! that do not grow with the collections, then the filter and the limit, then the newest
//! inventory joined in.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::inventory::{self, PassSettings};
use super::listing::{self, InMemory, Listing};
/// A listed collection: its database (shared by every name of it, not copied per name), its
/// name and its id.
type Listed = (Arc<str>, String, Option<i64>);
use super::{CollectionFacts, CollectionsCheck, CollectionsFacts, DatabaseFacts, MAX_NAME_BYTES};
use crate::checks::CheckError;
use crate::model::LoadState;

impl CollectionsCheck {
    /// One health refresh: the listing and load states in RPCs that do not grow with the
    /// collections, joined with the newest inventory.
    pub(super) async fn collections(
        &self,
        deadline: Instant,
    ) -> Result<CollectionsFacts, CheckError> {
        let databases = if self.databases.is_empty() {
            listing::list_databases(&self.client, deadline).await?
        } else {
            self.databases.clone()
        };
        let client = &self.client;
        let bound = &self.listing_bound;
        // At most max_concurrency databases at once: a server that names thousands must not
        // get thousands of listings (each up to 64 MiB) in flight.
        let mut listings = Vec::with_capacity(databases.len());
        for chunk in databases.chunks(self.max_concurrency.div_ceil(2).max(1)) {
            listings.extend(
                futures::future::join_all(chunk.iter().map(|db| async move {
                    let (all, in_memory) = tokio::join!(
                        listing::show_all(client, db, deadline, bound),
                        listing::show_in_memory(client, db, deadline, bound)
                    );
                    (db.clone(), all, in_memory)
                }))
                .await,
            );
        }

        let mut facts = CollectionsFacts::default();
        let mut listed: Vec<Listed> = Vec::new();
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
                    let shared: Arc<str> = Arc::from(db.as_str());
                    listed.extend(
                        names
                            .into_iter()
                            .map(|(n, id)| (Arc::clone(&shared), n, id)),
                    );
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
                db_name: db.to_string(),
                name,
                id,
                load_state: LoadState::Unknown,
                loading_progress: None,
                rows: None,
                replicas: None,
                indexes: Vec::new(),
                query_service_available: None,
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
    fn select(&self, mut listed: Vec<Listed>, facts: &mut CollectionsFacts) -> Vec<Listed> {
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
            c.query_service_available = bulk
                .get(&c.db_name)
                .and_then(|b| listing::query_service_available(b, &c.name));
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
