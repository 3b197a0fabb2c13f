//! Read probes: a real query or search on a collection, so "ready" means "can answer".
//!
//! CheckHealth and ShowCollections can pass while no query can be served (a query node gone,
//! a segment not loaded, no shard leader). A probe costs Milvus almost nothing: one primary key
//! or one nearest neighbour, with Bounded consistency so it never waits for fresh writes.
//! Only read RPCs: Query, Search, and DescribeCollection to learn the vector field.
//!
//! The schema cache, DescribeCollection and the top-1 search are in `checks::vector`, shared
//! with the RAG probes, which search an embedding instead of a unit vector.
//!
//! The check runs when `readiness.probes` lists any; its rule is `probe` (every required
//! probe answered within its limits), and a failing probe's reason says what the
//! `collections` check knows of the collection's load state, read from the shared facts.

use std::sync::Arc;
use std::time::Duration;

use ::milvus::proto::milvus as pb;
use ::milvus::proto::schema;
use futures::future::{BoxFuture, FutureExt};
use serde::Serialize;
use tokio::time::Instant;

use super::facts::{bool01, round, Facts, Family, MetricsContext, Results, Section};
use super::grpc::{status_ok, MilvusClient};
use super::vector::{
    describe, is_vector, kv, search_one, vector_field, SchemaCache, VectorField, BOUNDED,
};
use super::{Check, CheckError, Deadline, Registration, Rule, RuleInput, Setup};
use crate::config::{CollectionRef, ProbeConfig, ProbeKind, VectorFrom};
use crate::model::{LoadState, RuleStatus};

pub static CHECK: Registration = Registration {
    name: "probe",
    rules: &[Rule {
        name: "probe",
        rank: 50,
        probe_targets: true,
        eval: probe_rule,
    }],
    build: |setup: &Setup<'_>| {
        if setup.probes().is_empty() {
            return Ok(None);
        }
        Ok(Some(Box::new(ProbeCheck {
            client: Arc::clone(setup.milvus),
            prober: Prober::new(setup.probes().to_vec()),
        })))
    },
};

/// One read probe: did a real query or search on the collection answer, and how fast.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    pub db_name: String,
    pub collection: String,
    pub kind: crate::model::ProbeKind,
    pub required: bool,
    pub duration: Duration,
    pub max_latency: Option<Duration>,
    pub outcome: Result<(), CheckError>,
}

impl ProbeResult {
    pub fn too_slow(&self) -> bool {
        self.max_latency.is_some_and(|m| self.duration > m)
    }
    pub fn success(&self) -> bool {
        self.outcome.is_ok() && !self.too_slow()
    }
    /// Why it failed, in words a person can act on.
    pub fn failure(&self) -> Option<String> {
        match &self.outcome {
            Err(e) => Some(e.to_string()),
            Ok(()) => self.max_latency.filter(|_| self.too_slow()).map(|m| {
                format!(
                    "answered in {:.0} ms, slower than max_latency {:.0} ms",
                    self.duration.as_secs_f64() * 1000.0,
                    m.as_secs_f64() * 1000.0
                )
            }),
        }
    }
}

/// Every probe's result of one refresh, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct ProbeResults(pub Vec<ProbeResult>);

struct ProbeCheck {
    client: Arc<MilvusClient>,
    prober: Prober,
}

impl Check for ProbeCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let r: Box<dyn Facts> = Box::new(ProbeResults(
                self.prober.run(&self.client, deadline.at).await,
            ));
            r
        }
        .boxed()
    }

    /// A refresh that failed as a whole ran no probe.
    fn failed(&self, _error: &CheckError) -> Option<Box<dyn Facts>> {
        None
    }
}

fn probe_rule(input: &RuleInput<'_>) -> RuleStatus {
    let probes = match input.results.get::<ProbeResults>() {
        Some(p) if !p.0.is_empty() => &p.0,
        _ => return RuleStatus::Excluded,
    };
    let facts = input.results.shared().collections;
    let problems: Vec<String> = probes
        .iter()
        .filter(|p| p.required)
        .filter_map(|p| {
            let why = p.failure()?;
            let hint = facts
                .and_then(|f| f.load_state(&p.db_name, &p.collection))
                .map(|state| match state {
                    LoadState::Loaded => String::new(),
                    other => format!(" (collection is {})", other.as_str()),
                })
                .unwrap_or_else(|| match facts {
                    Some(_) => " (collection does not exist)".to_string(),
                    None => String::new(),
                });
            Some(format!(
                "probe {} {}.{} failed: {why}{hint}",
                p.kind.as_str(),
                p.db_name,
                p.collection
            ))
        })
        .collect();
    if problems.is_empty() {
        RuleStatus::Pass
    } else {
        RuleStatus::Fail(problems.join("; "))
    }
}

/// One entry of `probes` in `/readyz` and `/health`.
#[derive(Serialize)]
struct ProbeEntry<'a> {
    db_name: &'a str,
    collection: &'a str,
    kind: &'static str,
    required: bool,
    success: bool,
    duration_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn probe_labels(p: &ProbeResult) -> [(&'static str, &str); 3] {
    [
        ("db_name", p.db_name.as_str()),
        ("collection_name", p.collection.as_str()),
        ("kind", p.kind.as_str()),
    ]
}

impl Facts for ProbeResults {
    fn share<'a>(&'a self, shared: &mut crate::checks::Shared<'a>) {
        shared.probe_latency.extend(
            self.0
                .iter()
                .map(|p| (p.db_name.as_str(), p.collection.as_str(), p.duration)),
        );
    }

    fn panels(&self, _all: &Results, limit: usize) -> Vec<crate::checks::Panel> {
        use crate::checks::{Cell, Panel};
        if self.0.is_empty() {
            return Vec::new();
        }
        let rows = self.0.iter().take(limit).map(|p| {
            vec![
                Cell::plain(format!("{}.{}", p.db_name, p.collection)),
                Cell::plain(p.kind.as_str()),
                Cell::plain(if p.required { "yes" } else { "no" }),
                Cell::millis(p.duration),
                Cell::judged(p.failure().unwrap_or_else(|| "ok".into()), p.success()),
            ]
        });
        vec![Panel {
            id: "probes",
            title: "Read probes",
            columns: &["Collection", "Kind", "Required", "Latency", "Result"],
            rows: rows.collect(),
            more: self.0.len().saturating_sub(limit),
            note: None,
        }]
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        f.gauge(
            "milvus_probe_success",
            &format!("1 when the read probe (query or search) answered within its limits.{cached}"),
            self.0
                .iter()
                .map(|p| (probe_labels(p), bool01(p.success()))),
        )?;
        f.gauge(
            "milvus_probe_duration_seconds",
            &format!("How long the read probe took.{cached}"),
            self.0
                .iter()
                .map(|p| (probe_labels(p), p.duration.as_secs_f64())),
        )
    }

    /// `probes`, left out when there are none.
    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let entries: Vec<ProbeEntry<'_>> = self
            .0
            .iter()
            .map(|p| ProbeEntry {
                db_name: &p.db_name,
                collection: &p.collection,
                kind: p.kind.as_str(),
                required: p.required,
                success: p.success(),
                duration_seconds: round(p.duration.as_secs_f64(), 6),
                error: p.failure(),
            })
            .collect();
        vec![Section::top("probes", &entries)]
    }
}

/// Runs the configured probes; remembers each collection's vector field until a probe on it
/// fails.
pub struct Prober {
    probes: Vec<ProbeConfig>,
    schemas: SchemaCache<CollectionRef>,
}

impl Prober {
    pub fn new(probes: Vec<ProbeConfig>) -> Self {
        Prober {
            probes,
            schemas: SchemaCache::new(),
        }
    }

    /// Every probe at once, each under its own timeout and never past the refresh deadline.
    pub async fn run(&self, client: &MilvusClient, deadline: Instant) -> Vec<ProbeResult> {
        futures::future::join_all(self.probes.iter().map(|p| self.one(client, p, deadline))).await
    }

    async fn one(&self, client: &MilvusClient, p: &ProbeConfig, deadline: Instant) -> ProbeResult {
        let own = Instant::now() + p.timeout;
        let deadline = own.min(deadline);
        let started = std::time::Instant::now();
        let outcome = match p.kind {
            ProbeKind::Query => self.query(client, p, deadline).await,
            ProbeKind::Search => self.search(client, p, deadline).await,
        };
        let outcome = outcome.map_err(|e| match e {
            // Say which deadline cut it: the probe's own or the refresh's.
            CheckError::Timeout { rpc, .. } => CheckError::Timeout {
                rpc,
                after: p
                    .timeout
                    .min(started.elapsed().max(Duration::from_millis(1))),
            },
            other => other,
        });
        if outcome.is_err() {
            self.forget(p);
        }
        ProbeResult {
            db_name: p.collection.db_name.clone(),
            collection: p.collection.name.clone(),
            kind: p.kind,
            required: p.required,
            duration: started.elapsed(),
            max_latency: p.max_latency,
            outcome,
        }
    }

    fn forget(&self, p: &ProbeConfig) {
        self.schemas.forget(&p.collection);
    }

    async fn query(
        &self,
        client: &MilvusClient,
        p: &ProbeConfig,
        deadline: Instant,
    ) -> Result<(), CheckError> {
        self.query_rows(client, p, deadline, Vec::new())
            .await
            .map(|_| ())
    }

    /// `limit 1` with an empty filter: Milvus answers with at most one primary key.
    async fn query_rows(
        &self,
        client: &MilvusClient,
        p: &ProbeConfig,
        deadline: Instant,
        output_fields: Vec<String>,
    ) -> Result<pb::QueryResults, CheckError> {
        let db = p.collection.db_name.as_str();
        let req = pb::QueryRequest {
            db_name: db.to_string(),
            collection_name: p.collection.name.clone(),
            expr: String::new(),
            output_fields,
            query_params: vec![kv("limit", "1")],
            consistency_level: BOUNDED,
            use_default_consistency: false,
            ..Default::default()
        };
        let r = client
            .call("Query", deadline, Some(db), req, |mut c, r| async move {
                c.query(r).await
            })
            .await?;
        status_ok("Query", r.status.as_ref())?;
        Ok(r)
    }

    async fn search(
        &self,
        client: &MilvusClient,
        p: &ProbeConfig,
        deadline: Instant,
    ) -> Result<(), CheckError> {
        let field = self.vector_field(client, p, deadline).await?;
        let vector = match p.vector_from {
            VectorFrom::Unit => unit_vector(&field)?,
            VectorFrom::FirstRow => match self.first_row_vector(client, p, &field, deadline).await?
            {
                Some(v) => v,
                None => unit_vector(&field)?,
            },
        };
        search_one(client, &p.collection, &field, vector, deadline).await
    }

    async fn vector_field(
        &self,
        client: &MilvusClient,
        p: &ProbeConfig,
        deadline: Instant,
    ) -> Result<VectorField, CheckError> {
        if let Some(f) = self.schemas.get(&p.collection) {
            return Ok(f);
        }
        let fields = describe(client, &p.collection, deadline).await?;
        let field = fields
            .iter()
            .find(|f| is_vector(f.data_type))
            .ok_or_else(|| CheckError::Malformed {
                rpc: "DescribeCollection",
                message: "the collection has no vector field to search".into(),
            })?;
        let vf = vector_field(field)?;
        self.schemas.put(p.collection.clone(), vf.clone());
        Ok(vf)
    }

    async fn first_row_vector(
        &self,
        client: &MilvusClient,
        p: &ProbeConfig,
        field: &VectorField,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, CheckError> {
        let r = self
            .query_rows(client, p, deadline, vec![field.name.clone()])
            .await?;
        let data = r
            .fields_data
            .iter()
            .find(|f| f.field_name == field.name)
            .and_then(|f| match &f.field {
                Some(schema::field_data::Field::Vectors(v)) => v.data.as_ref(),
                _ => None,
            });
        Ok(match data {
            Some(schema::vector_field::Data::FloatVector(a)) if a.data.len() >= field.dim => Some(
                a.data[..field.dim]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            ),
            Some(schema::vector_field::Data::BinaryVector(b)) if b.len() >= field.dim / 8 => {
                Some(b[..field.dim / 8].to_vec())
            }
            _ => None,
        })
    }
}

/// `[1, 0, 0, …]` in the field's encoding: valid for every metric, cheap to compare.
fn unit_vector(field: &VectorField) -> Result<Vec<u8>, CheckError> {
    use schema::DataType as T;
    let dim = field.dim;
    let mut out = Vec::new();
    match field.data_type {
        t if t == T::FloatVector as i32 => {
            out.extend_from_slice(&1.0f32.to_le_bytes());
            out.resize(dim * 4, 0);
        }
        t if t == T::Float16Vector as i32 => {
            out.extend_from_slice(&[0x00, 0x3c]); // 1.0 in IEEE half precision
            out.resize(dim * 2, 0);
        }
        t if t == T::BFloat16Vector as i32 => {
            out.extend_from_slice(&[0x80, 0x3f]); // 1.0 in bfloat16
            out.resize(dim * 2, 0);
        }
        t if t == T::BinaryVector as i32 => {
            out.push(0x80);
            out.resize(dim.div_ceil(8), 0);
        }
        t if t == T::Int8Vector as i32 => {
            out.push(1);
            out.resize(dim, 0);
        }
        t if t == T::SparseFloatVector as i32 => {
            // One (index, value) pair, both little-endian.
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&1.0f32.to_le_bytes());
        }
        other => {
            return Err(CheckError::Malformed {
                rpc: "DescribeCollection",
                message: format!("vector type {other} is not supported by the search probe"),
            })
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_have_the_field_width() {
        let f = |t: schema::DataType, dim| VectorField {
            name: "v".into(),
            data_type: t as i32,
            dim,
        };
        let v = unit_vector(&f(schema::DataType::FloatVector, 8)).expect("float");
        assert_eq!(v.len(), 32);
        assert_eq!(&v[..4], &1.0f32.to_le_bytes());
        assert_eq!(
            unit_vector(&f(schema::DataType::BinaryVector, 16))
                .expect("binary")
                .len(),
            2
        );
        assert_eq!(
            unit_vector(&f(schema::DataType::Float16Vector, 4))
                .expect("f16")
                .len(),
            8
        );
        assert!(unit_vector(&f(schema::DataType::Int64, 4)).is_err());
    }

    #[test]
    fn a_failing_probe_says_what_the_collections_check_knows_of_its_collection() {
        let failed = |collection: &str| ProbeResult {
            db_name: "default".into(),
            collection: collection.into(),
            kind: crate::model::ProbeKind::Search,
            required: true,
            duration: Duration::from_millis(5),
            max_latency: None,
            outcome: Err(CheckError::Other("no answer".into())),
        };
        let probes = || ProbeResults(vec![failed("archive"), failed("gone")]);
        let mut s = crate::readiness::tests::healthy();
        s.results.push(Box::new(probes()));
        let config = crate::readiness::tests::cfg();
        let reason = |results: &Results| match probe_rule(&RuleInput {
            results,
            config: &config,
            address: "http://m:19530",
        }) {
            RuleStatus::Fail(why) => why,
            other => panic!("the probe rule should fail: {other:?}"),
        };
        let why = reason(&s.results);
        assert!(
            why.contains("default.archive failed: no answer (collection is NotLoad)"),
            "{why}"
        );
        assert!(
            why.contains("default.gone failed: no answer (collection does not exist)"),
            "{why}"
        );
        // Without the collections check's facts there is nothing to add.
        let why = reason(&Results::new(vec![Box::new(probes())]));
        assert!(why.ends_with("default.gone failed: no answer"), "{why}");
    }
}
