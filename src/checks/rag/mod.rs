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
//! client's same-origin redirect policy, `http_client::client_for`), and every text that came
//! back from the API (its error message, a parse error quoting the body) has every configured
//! header value scrubbed before it is kept ([`Scrubber`]).
//!
//! The files: one probe's run (`prober.rs`), its two stages (`embed.rs`, `search.rs`), the
//! scrubbing of what the API sent back (`scrub.rs`), and what the results say: the rule per
//! probe, the families, the JSON and the table (`render.rs`).

mod embed;
mod prober;
mod render;
mod scrub;
mod search;

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};

pub use embed::{MAX_EMBEDDING_BODY, MAX_ERROR_BODY};

use super::facts::Facts;
use super::grpc::MilvusClient;
use super::http_client::client_for;
use super::vector::SchemaCache;
use super::{Check, CheckError, ClientError, Deadline, Registration, Setup};
use crate::config::CollectionRef;
use prober::RagProber;
use scrub::Scrubber;

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
            let http = client_for(
                &e.url,
                &e.headers,
                e.ca_pem.as_deref(),
                e.insecure_skip_verify,
            )
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
            RagError::Dimensions { .. } | RagError::Field(_) | RagError::Milvus(_) => Stage::Search,
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

#[cfg(test)]
mod tests {
    use super::embed::{api_error_message, parse_embedding, EmbeddingRequest};
    use super::*;
    use crate::config::{Secret, MAX_EMBEDDING_DIMENSIONS};
    use crate::limits;

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
            parse_embedding(at(MAX_EMBEDDING_DIMENSIONS).as_bytes()).map(|v| v.len()),
            Ok(MAX_EMBEDDING_DIMENSIONS)
        );
        let err =
            parse_embedding(at(MAX_EMBEDDING_DIMENSIONS + 1).as_bytes()).expect_err("one too many");
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
            (
                br#"{"data":[{"embedding":[1e300]}]}"#,
                "not a finite 32-bit float",
            ),
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
