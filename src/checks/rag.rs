//! RAG readiness probes: the path a RAG request really takes, end to end.
//!
//! Checking the embedding API and Milvus apart misses the failure RAG teams hit: the
//! embedding model is switched, the API answers 200, Milvus is healthy, and every search
//! fails because the vectors have another dimension. Each probe, every refresh:
//!
//! 1. **embed**: POST `{"model", "input": [text]}` (plus `dimensions` when configured) to an
//!    OpenAI-compatible embeddings API with the configured headers, and read
//!    `data[0].embedding`;
//! 2. **search**: compare its length with the collection's vector field (DescribeCollection,
//!    cached until a probe fails; the field named by `vector_field`, or the only FloatVector
//!    field), then search that vector, top 1, Bounded consistency;
//! 3. **total**: both under the probe's timeout and the refresh's deadline, and no slower than
//!    `max_latency`.
//!
//! Each probe is a readiness rule of its own name, like a dependency (failing only when
//! `required`). The exporter never writes to Milvus: DescribeCollection and Search only.
//!
//! Secrets: the headers (the API key) are sent only to the configured origin (the dependency
//! client's same-origin redirect policy, `http_client::client_for`), and every text that came back
//! from the API (its error message, a parse error quoting the body) has every configured
//! header value scrubbed before it is kept ([`Scrubber`]).

use std::sync::Arc;
use std::time::Duration;

use ::milvus::proto::schema;
use futures::future::{BoxFuture, FutureExt};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::facts::{bool01, round, Facts, Family, MetricsContext, Results, Section};
use super::grpc::MilvusClient;
use super::http_client::{client_for, shown_url};
use super::vector::{describe, is_vector, search_one, vector_field, SchemaCache, VectorField};
use super::{error_chain, Check, CheckError, ClientError, Deadline, Registration, Setup};
use crate::config::{
    CollectionRef, RagProbeConfig, ReadinessConfig, Secret, MAX_EMBEDDING_DIMENSIONS,
};
use crate::limits::{self, BodyError};
use crate::model::RuleStatus;

pub static CHECK: Registration = Registration {
    name: "rag",
    // No built-in rule: each probe is a rule of its own name (`Facts::named_rules`).
    rules: &[],
    build: |setup: &Setup<'_>| {
        if setup.rag_probes().is_empty() {
            return Ok(None);
        }
        let mut probes = Vec::with_capacity(setup.rag_probes().len());
        for (i, p) in setup.rag_probes().iter().enumerate() {
            let e = &p.embedding;
            let http = client_for(&e.url, &e.headers, e.ca_pem.as_deref(), e.insecure_skip_verify)
                .map_err(|err| ClientError {
                    key: format!("rag_probes[{i}].embedding.tls"),
                    problem: format!("cannot build an HTTP client: {err}"),
                })?;
            probes.push(RagProber {
                scrub: Scrubber::new(&e.headers),
                config: p.clone(),
                http,
            });
        }
        Ok(Some(Box::new(RagCheck {
            client: Arc::clone(setup.milvus),
            probes,
            schemas: SchemaCache::new(),
        })))
    },
};

/// The largest embeddings answer read: 65,536 floats written out in full (`-0.0123456789,`)
/// are about 1 MiB, and an API may add usage and other fields; past 4 MiB it is not an
/// answer to one short input.
pub const MAX_EMBEDDING_BODY: usize = 4 * 1024 * 1024;
/// The most of an error answer read for its message: an error message is a line.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where a RAG probe was when it failed, and the `stage` label of its durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The embeddings API call.
    Embed,
    /// DescribeCollection (when not cached), the dimension check and the search.
    Search,
    /// Both, against `max_latency`.
    Total,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Embed => "embed",
            Stage::Search => "search",
            Stage::Total => "total",
        }
    }
}

/// Why a RAG probe failed; `Display` is the cause in one line, [`RagError::stage`] where.
/// Every string here that came from the embeddings API has been through [`Scrubber`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RagError {
    #[error("{url}: timed out after {}", humantime::format_duration(*.after))]
    EmbedTimeout { url: String, after: Duration },
    #[error("cannot reach {url}: {message}")]
    EmbedUnreachable { url: String, message: String },
    /// A non-2xx answer, with the API's own error message when it gave one.
    #[error("{url} answered HTTP {status}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    EmbedStatus {
        url: String,
        status: u16,
        message: Option<String>,
    },
    /// A 2xx answer that is not an embedding (or too large to be one).
    #[error("{url}: {message}")]
    EmbedMalformed { url: String, message: String },
    #[error("embedding has {got} dimensions but {field} expects {want}")]
    Dimensions {
        got: usize,
        want: usize,
        /// `collection.field`, the collection as written (`db.collection` outside `default`).
        field: String,
    },
    /// The collection has no field an embedding can be searched on.
    #[error("{0}")]
    Field(String),
    /// DescribeCollection or Search failed, or the refresh's deadline came first.
    #[error("{0}")]
    Milvus(CheckError),
    #[error(
        "took {:.0} ms, slower than max_latency {:.0} ms",
        .took.as_secs_f64() * 1000.0,
        .max.as_secs_f64() * 1000.0
    )]
    TooSlow { took: Duration, max: Duration },
}

impl RagError {
    pub fn stage(&self) -> Stage {
        match self {
            RagError::EmbedTimeout { .. }
            | RagError::EmbedUnreachable { .. }
            | RagError::EmbedStatus { .. }
            | RagError::EmbedMalformed { .. } => Stage::Embed,
            RagError::Dimensions { .. } | RagError::Field(_) | RagError::Milvus(_) => {
                Stage::Search
            }
            RagError::TooSlow { .. } => Stage::Total,
        }
    }
}

/// One RAG probe's result of one refresh.
#[derive(Clone, Debug)]
pub struct RagResult {
    pub name: String,
    pub collection: CollectionRef,
    pub required: bool,
    /// The field searched, once known.
    pub vector_field: Option<String>,
    /// The embedding's length, when the API gave one.
    pub dimensions: Option<usize>,
    /// The vector field's dimension, when known.
    pub expected_dimensions: Option<usize>,
    /// How long each stage took; `None` for a stage that did not run.
    pub embed: Option<Duration>,
    pub search: Option<Duration>,
    pub total: Duration,
    pub outcome: Result<(), RagError>,
}

impl RagResult {
    pub fn success(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The readiness reason: which probe, at which stage, and why.
    pub fn reason(&self) -> Option<String> {
        let e = self.outcome.as_ref().err()?;
        Some(format!(
            "rag probe {} failed at {}: {e}",
            self.name,
            e.stage().as_str()
        ))
    }
}

/// Every RAG probe's result of one refresh, in configuration order.
#[derive(Clone, Debug, Default)]
pub struct RagResults(pub Vec<RagResult>);

struct RagCheck {
    client: Arc<MilvusClient>,
    probes: Vec<RagProber>,
    /// Each probe's vector field, by the probe's index (two probes on one collection may
    /// search different fields).
    schemas: SchemaCache<usize>,
}

impl Check for RagCheck {
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>> {
        async move {
            let results = futures::future::join_all(
                self.probes
                    .iter()
                    .enumerate()
                    .map(|(i, p)| p.run(i, &self.client, &self.schemas, deadline.at)),
            )
            .await;
            let r: Box<dyn Facts> = Box::new(RagResults(results));
            r
        }
        .boxed()
    }

    /// A refresh that failed as a whole ran no probe.
    fn failed(&self, _error: &CheckError) -> Option<Box<dyn Facts>> {
        None
    }
}

/// Replaces every configured header value, and each long word of one (the key without its
/// `Bearer ` prefix), with `***` in text that came back from the API: an API may quote the
/// key it was sent in its error message, and a parse error may quote the body.
struct Scrubber(Vec<String>);

impl Scrubber {
    /// Words shorter than this are not scrubbed on their own: `Bearer` is not a secret, and
    /// a key is far longer.
    const MIN_WORD: usize = 8;

    fn new(headers: &[(String, Secret)]) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        for (_, v) in headers {
            let v = v.expose();
            secrets.push(v.to_string());
            secrets.extend(
                v.split_whitespace()
                    .filter(|w| w.len() >= Self::MIN_WORD)
                    .map(str::to_string),
            );
        }
        secrets.retain(|s| !s.trim().is_empty());
        // Longest first, so a value is replaced whole before its words are looked for.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber(secrets)
    }

    /// `text` with the secrets replaced, on one bounded line.
    fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        limits::one_line(&out)
    }
}

struct RagProber {
    config: RagProbeConfig,
    http: reqwest::Client,
    scrub: Scrubber,
}

/// The request body of an OpenAI-compatible embeddings call.
#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

impl RagProber {
    async fn run(
        &self,
        i: usize,
        client: &MilvusClient,
        schemas: &SchemaCache<usize>,
        refresh_at: Instant,
    ) -> RagResult {
        let p = &self.config;
        let started = Instant::now();
        let at = (started + p.timeout).min(refresh_at);
        // The allowance, in whole milliseconds: "timed out after 3s", not "after 2.999981s".
        let budget = Duration::from_millis(at.saturating_duration_since(started).as_millis() as u64);
        let mut result = RagResult {
            name: p.name.clone(),
            collection: p.collection.clone(),
            required: p.required,
            vector_field: None,
            dimensions: None,
            expected_dimensions: None,
            embed: None,
            search: None,
            total: Duration::ZERO,
            outcome: Ok(()),
        };
        let embedded = self.embed(at, budget).await;
        result.embed = Some(started.elapsed());
        result.outcome = match embedded {
            Err(e) => Err(e),
            Ok(vector) => {
                result.dimensions = Some(vector.len());
                let search_started = Instant::now();
                let searched = self.search(i, client, schemas, &vector, at, &mut result).await;
                result.search = Some(search_started.elapsed());
                if searched.is_err() {
                    // A changed schema shows up as a failed search: describe again next time.
                    schemas.forget(&i);
                }
                searched
            }
        };
        result.total = started.elapsed();
        if let (Ok(()), Some(max)) = (&result.outcome, p.max_latency) {
            if result.total > max {
                result.outcome = Err(RagError::TooSlow {
                    took: result.total,
                    max,
                });
            }
        }
        result
    }

    /// The embeddings call, under `at`: the vector, or why there is none.
    async fn embed(&self, at: Instant, budget: Duration) -> Result<Vec<f32>, RagError> {
        let e = &self.config.embedding;
        let url = shown_url(&e.url);
        let request = EmbeddingRequest {
            model: &e.model,
            input: [&self.config.text],
            dimensions: e.dimensions,
        };
        let body = serde_json::to_vec(&request).map_err(|err| RagError::EmbedMalformed {
            url: url.clone(),
            message: format!("cannot encode the request: {err}"),
        })?;
        let timeout = || RagError::EmbedTimeout {
            url: url.clone(),
            after: budget,
        };
        let map = |err: reqwest::Error| {
            if err.is_timeout() {
                timeout()
            } else {
                // A refused redirect says where to; the error text never holds a header.
                RagError::EmbedUnreachable {
                    url: url.clone(),
                    message: self.scrub.clean(&error_chain(&err.without_url())),
                }
            }
        };
        let work = async {
            let mut resp = self
                .http
                .post(e.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body)
                .send()
                .await
                .map_err(map)?;
            let status = resp.status().as_u16();
            let limit = if (200..300).contains(&status) {
                MAX_EMBEDDING_BODY
            } else {
                MAX_ERROR_BODY
            };
            let read = limits::read_body(&mut resp, limit, at).await;
            Ok::<_, RagError>((status, read))
        };
        let (status, read) = tokio::time::timeout_at(at, work)
            .await
            .map_err(|_| timeout())??;
        if !(200..300).contains(&status) {
            // The status is the answer; the message is a courtesy, left out when the body
            // is too large, too slow or says nothing readable.
            let message = read
                .ok()
                .and_then(|b| api_error_message(&b))
                .map(|m| self.scrub.clean(&m))
                .filter(|m| !m.is_empty());
            return Err(RagError::EmbedStatus {
                url,
                status,
                message,
            });
        }
        let body = read.map_err(|err| match err {
            BodyError::Timeout => timeout(),
            BodyError::Read(err) => map(err),
            too_large @ BodyError::TooLarge { .. } => RagError::EmbedMalformed {
                url: url.clone(),
                message: too_large.to_string(),
            },
        })?;
        parse_embedding(&body).map_err(|m| RagError::EmbedMalformed {
            url: url.clone(),
            message: self.scrub.clean(&m),
        })
    }

    /// The vector field, the dimension check and the search, under `at`. A dimension that
    /// disagrees with a cached field is checked against a fresh DescribeCollection first:
    /// the collection may have been recreated with the new model's dimension.
    async fn search(
        &self,
        i: usize,
        client: &MilvusClient,
        schemas: &SchemaCache<usize>,
        vector: &[f32],
        at: Instant,
        result: &mut RagResult,
    ) -> Result<(), RagError> {
        let field = match schemas.get(&i) {
            Some(f) if f.dim == vector.len() => f,
            _ => {
                let f = self.field(client, at).await?;
                schemas.put(i, f.clone());
                f
            }
        };
        result.vector_field = Some(field.name.clone());
        result.expected_dimensions = Some(field.dim);
        if field.dim != vector.len() {
            return Err(RagError::Dimensions {
                got: vector.len(),
                want: field.dim,
                field: format!("{}.{}", shown_collection(&self.config.collection), field.name),
            });
        }
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        search_one(client, &self.config.collection, &field, bytes, at)
            .await
            .map_err(RagError::Milvus)
    }

    /// DescribeCollection, and the field an embedding is searched on: the one named by
    /// `vector_field`, or the collection's only FloatVector field.
    async fn field(&self, client: &MilvusClient, at: Instant) -> Result<VectorField, RagError> {
        let fields = describe(client, &self.config.collection, at)
            .await
            .map_err(RagError::Milvus)?;
        let coll = shown_collection(&self.config.collection);
        let float = schema::DataType::FloatVector as i32;
        let chosen = match &self.config.vector_field {
            Some(name) => {
                let f = fields.iter().find(|f| &f.name == name).ok_or_else(|| {
                    RagError::Field(format!(
                        "{coll} has no field {name:?} (vector fields: {})",
                        names(fields.iter().filter(|f| is_vector(f.data_type)))
                    ))
                })?;
                if f.data_type != float {
                    return Err(RagError::Field(format!(
                        "{coll}.{name} is a {}, not a FloatVector an embedding can be searched on",
                        type_name(f.data_type)
                    )));
                }
                f
            }
            None => {
                let floats: Vec<&schema::FieldSchema> =
                    fields.iter().filter(|f| f.data_type == float).collect();
                match floats.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(RagError::Field(format!(
                            "{coll} has no FloatVector field to search an embedding on"
                        )))
                    }
                    many => {
                        return Err(RagError::Field(format!(
                            "{coll} has {} FloatVector fields ({}): set vector_field",
                            many.len(),
                            names(many.iter().copied())
                        )))
                    }
                }
            }
        };
        vector_field(chosen).map_err(RagError::Milvus)
    }
}

/// A collection as written in config: the bare name in `default`, `db.name` elsewhere.
fn shown_collection(c: &CollectionRef) -> String {
    if c.db_name == "default" {
        c.name.clone()
    } else {
        c.to_string()
    }
}

fn names<'a>(fields: impl Iterator<Item = &'a schema::FieldSchema>) -> String {
    let all: Vec<String> = fields.map(|f| limits::one_line(&f.name)).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn type_name(data_type: i32) -> String {
    schema::DataType::try_from(data_type)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| format!("type {data_type}"))
}

/// `data[0].embedding` of an OpenAI-compatible answer, read without ever holding more than
/// [`MAX_EMBEDDING_DIMENSIONS`] floats: the rest of `data` and every other field are skipped.
fn parse_embedding(body: &[u8]) -> Result<Vec<f32>, String> {
    #[derive(Deserialize)]
    struct Answer {
        data: First,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("not an embeddings answer (data[0].embedding): {e}"))?;
    answer
        .data
        .0
        .ok_or_else(|| "not an embeddings answer: data is empty".to_string())
}

/// The first item's embedding of `data`; later items are skipped unread.
struct First(Option<Vec<f32>>);

impl<'de> Deserialize<'de> for First {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Item {
            embedding: Bounded,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = First;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of embeddings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First, A::Error> {
                let first = seq.next_element::<Item>()?.map(|i| i.embedding.0);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A vector of at most [`MAX_EMBEDDING_DIMENSIONS`] finite `f32`s; one more fails the parse
/// before it is stored.
struct Bounded(Vec<f32>);

impl<'de> Deserialize<'de> for Bounded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bounded;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an embedding (a list of numbers)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bounded, A::Error> {
                let hint = seq.size_hint().unwrap_or(0).min(MAX_EMBEDDING_DIMENSIONS);
                let mut v = Vec::with_capacity(hint);
                while let Some(x) = seq.next_element::<f64>()? {
                    if v.len() == MAX_EMBEDDING_DIMENSIONS {
                        return Err(de::Error::custom(format!(
                            "the embedding has more than {MAX_EMBEDDING_DIMENSIONS} dimensions"
                        )));
                    }
                    let f = x as f32;
                    if !f.is_finite() {
                        return Err(de::Error::custom(format!(
                            "embedding value {x} at index {} is not a finite 32-bit float",
                            v.len()
                        )));
                    }
                    v.push(f);
                }
                Ok(Bounded(v))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The API's own error message: OpenAI's `{"error": {"message": …}}`, or `{"error": "…"}`,
/// `{"message": …}`, `{"detail": …}` (FastAPI), else the body's text when it is short text.
fn api_error_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let found = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(|m| m.as_str().map(str::to_string));
        return found;
    }
    // Not JSON: an HTML error page says nothing a person needs on one line.
    (!text.starts_with('<')).then(|| text.to_string())
}

/// One entry of `rag_probes` in `/readyz` and `/health`.
#[derive(Serialize)]
struct RagEntry<'a> {
    name: &'a str,
    collection: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector_field: Option<&'a str>,
    required: bool,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_dimensions: Option<usize>,
    stages: Stages,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_stage: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Each stage's duration in seconds; a stage that did not run is left out.
#[derive(Serialize)]
struct Stages {
    #[serde(skip_serializing_if = "Option::is_none")]
    embed: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<f64>,
    total: f64,
}

fn seconds(d: Duration) -> f64 {
    round(d.as_secs_f64(), 6)
}

impl RagResult {
    /// The stages that ran, with their durations, in `stage` label order.
    fn stages(&self) -> impl Iterator<Item = (Stage, Duration)> {
        [
            self.embed.map(|d| (Stage::Embed, d)),
            self.search.map(|d| (Stage::Search, d)),
            Some((Stage::Total, self.total)),
        ]
        .into_iter()
        .flatten()
    }
}

impl Facts for RagResults {
    /// One rule per probe, named after it; one that is not `required` never fails.
    fn named_rules(&self, _config: &ReadinessConfig) -> Vec<(String, RuleStatus)> {
        self.0
            .iter()
            .map(|r| {
                let status = match (r.required, r.reason()) {
                    (false, _) => RuleStatus::Excluded,
                    (true, None) => RuleStatus::Pass,
                    (true, Some(why)) => RuleStatus::Fail(why),
                };
                (r.name.clone(), status)
            })
            .collect()
    }

    fn families(&self, f: &mut Family<'_, '_>, m: &MetricsContext<'_>) -> std::fmt::Result {
        let cached = m.cached;
        f.gauge(
            "milvus_rag_probe_success",
            &format!(
                "1 when the RAG probe embedded its text, the dimension matched and the search \
                 answered, within its limits.{cached}"
            ),
            self.0
                .iter()
                .map(|r| ([("probe", r.name.as_str())], bool01(r.success()))),
        )?;
        f.gauge(
            "milvus_rag_probe_duration_seconds",
            &format!(
                "How long each stage of the RAG probe took (embed, search, total); a stage \
                 that did not run has no sample.{cached}"
            ),
            self.0.iter().flat_map(|r| {
                r.stages().map(move |(stage, d)| {
                    (
                        [("probe", r.name.as_str()), ("stage", stage.as_str())],
                        d.as_secs_f64(),
                    )
                })
            }),
        )?;
        f.gauge(
            "milvus_rag_embedding_dimensions",
            &format!("Length of the embedding the API returned to the RAG probe.{cached}"),
            self.0.iter().filter_map(|r| {
                r.dimensions
                    .map(|d| ([("probe", r.name.as_str())], d as i64))
            }),
        )
    }

    /// `rag_probes`, left out when there are none.
    fn sections(&self, _all: &Results, _address: &str) -> Vec<Section> {
        if self.0.is_empty() {
            return Vec::new();
        }
        let entries: Vec<RagEntry<'_>> = self
            .0
            .iter()
            .map(|r| RagEntry {
                name: &r.name,
                collection: r.collection.to_string(),
                vector_field: r.vector_field.as_deref(),
                required: r.required,
                success: r.success(),
                dimensions: r.dimensions,
                expected_dimensions: r.expected_dimensions,
                stages: Stages {
                    embed: r.embed.map(seconds),
                    search: r.search.map(seconds),
                    total: seconds(r.total),
                },
                failed_stage: r.outcome.as_ref().err().map(|e| e.stage().as_str()),
                error: r.outcome.as_ref().err().map(|e| e.to_string()),
            })
            .collect();
        vec![Section::top("rag_probes", &entries)]
    }

    fn table(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.0.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n  {:<20} {:<28} {:>6} {:>9} {:>9} {:>9}",
            "RAG PROBE", "COLLECTION", "DIMS", "EMBED ms", "SEARCH ms", "TOTAL ms"
        );
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into())
        };
        for r in &self.0 {
            let line = format!(
                "  {:<20} {:<28} {:>6} {:>9} {:>9} {:>9}  {}",
                r.name,
                r.collection.to_string(),
                r.dimensions
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
                ms(r.embed),
                ms(r.search),
                ms(Some(r.total)),
                match &r.outcome {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("FAIL at {}: {e}", e.stage().as_str()),
                }
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_headers() -> Vec<(String, Secret)> {
        vec![(
            "Authorization".to_string(),
            Secret::new("Bearer sk-live-0123456789abcdef"),
        )]
    }

    #[test]
    fn the_first_embedding_is_read_and_the_rest_skipped() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1,2e-3]},{"embedding":"not read"}],"model":"m","usage":{"prompt_tokens":2}}"#;
        assert_eq!(parse_embedding(body), Ok(vec![0.5, -1.0, 0.002]));
    }

    #[test]
    fn an_embedding_one_past_the_bound_is_refused_before_it_is_stored() {
        let at = |n: usize| {
            let mut s = String::from(r#"{"data":[{"embedding":["#);
            s.push_str(&vec!["0"; n].join(","));
            s.push_str("]}]}");
            s
        };
        assert_eq!(
            parse_embedding(at(MAX_EMBEDDING_DIMENSIONS).as_bytes())
                .map(|v| v.len()),
            Ok(MAX_EMBEDDING_DIMENSIONS)
        );
        let err = parse_embedding(at(MAX_EMBEDDING_DIMENSIONS + 1).as_bytes())
            .expect_err("one too many");
        assert!(err.contains("more than 65536 dimensions"), "{err}");
    }

    #[test]
    fn malformed_answers_say_what_was_expected() {
        for (body, want) in [
            (&b"not json"[..], "not an embeddings answer"),
            (b"{}", "missing field `data`"),
            (br#"{"data":[]}"#, "data is empty"),
            (br#"{"data":[{"index":0}]}"#, "missing field `embedding`"),
            (br#"{"data":[{"embedding":"AAAA"}]}"#, "a list of numbers"),
            (br#"{"data":[{"embedding":[1e300]}]}"#, "not a finite 32-bit float"),
            (br#"{"data":[{"embedding":[1,"x"]}]}"#, "invalid type"),
            (b"\xff\xfe", "not an embeddings answer"),
        ] {
            let err = parse_embedding(body).expect_err(want);
            assert!(err.contains(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn the_apis_own_error_message_is_found_in_the_usual_shapes() {
        let openai = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(
            api_error_message(openai).as_deref(),
            Some("Incorrect API key provided")
        );
        assert_eq!(
            api_error_message(br#"{"error":"model not found"}"#).as_deref(),
            Some("model not found")
        );
        assert_eq!(
            api_error_message(br#"{"detail":"Not authenticated"}"#).as_deref(),
            Some("Not authenticated")
        );
        assert_eq!(
            api_error_message(b"upstream overloaded\n").as_deref(),
            Some("upstream overloaded")
        );
        assert_eq!(api_error_message(b"<html><body>502</body></html>"), None);
        assert_eq!(api_error_message(b"   "), None);
        assert_eq!(api_error_message(br#"{"error":{"code":1}}"#), None);
    }

    #[test]
    fn the_key_is_scrubbed_whole_and_without_its_prefix_and_text_stays_one_bounded_line() {
        let s = Scrubber::new(&secret_headers());
        let echoed = "Incorrect API key provided: sk-live-0123456789abcdef.\nHeader was \
                      Bearer sk-live-0123456789abcdef";
        let clean = s.clean(echoed);
        assert!(!clean.contains("sk-live"), "{clean}");
        assert!(!clean.contains('\n'), "{clean}");
        assert!(clean.contains("provided: ***."), "{clean}");
        assert!(clean.ends_with("Header was ***"), "{clean}");
        let long = s.clean(&"x".repeat(10_000));
        assert!(long.chars().count() <= limits::MAX_REASON_CHARS + 1);
        // No headers, nothing scrubbed.
        assert_eq!(Scrubber::new(&[]).clean("a b"), "a b");
    }

    #[test]
    fn the_request_body_is_what_an_openai_compatible_api_takes() {
        let with = serde_json::to_string(&EmbeddingRequest {
            model: "text-embedding-3-small",
            input: ["health check"],
            dimensions: Some(768),
        })
        .expect("encodes");
        assert_eq!(
            with,
            r#"{"model":"text-embedding-3-small","input":["health check"],"dimensions":768}"#
        );
        let without = serde_json::to_string(&EmbeddingRequest {
            model: "m",
            input: ["t"],
            dimensions: None,
        })
        .expect("encodes");
        assert_eq!(without, r#"{"model":"m","input":["t"]}"#);
    }

    #[test]
    fn a_failure_names_its_stage_and_cause() {
        let r = RagResult {
            name: "kb-retrieval".into(),
            collection: CollectionRef::parse("knowledge_base").expect("ref"),
            required: true,
            vector_field: Some("vector".into()),
            dimensions: Some(1536),
            expected_dimensions: Some(768),
            embed: Some(Duration::from_millis(5)),
            search: Some(Duration::from_millis(1)),
            total: Duration::from_millis(6),
            outcome: Err(RagError::Dimensions {
                got: 1536,
                want: 768,
                field: "knowledge_base.vector".into(),
            }),
        };
        assert_eq!(
            r.reason().as_deref(),
            Some(
                "rag probe kb-retrieval failed at search: embedding has 1536 dimensions but \
                 knowledge_base.vector expects 768"
            )
        );
        let status = RagError::EmbedStatus {
            url: "http://e/v1/embeddings".into(),
            status: 401,
            message: Some("Incorrect API key provided".into()),
        };
        assert_eq!(status.stage(), Stage::Embed);
        assert_eq!(
            status.to_string(),
            "http://e/v1/embeddings answered HTTP 401: Incorrect API key provided"
        );
        let slow = RagError::TooSlow {
            took: Duration::from_millis(1200),
            max: Duration::from_secs(1),
        };
        assert_eq!(slow.stage(), Stage::Total);
        assert_eq!(
            slow.to_string(),
            "took 1200 ms, slower than max_latency 1000 ms"
        );
    }
}
