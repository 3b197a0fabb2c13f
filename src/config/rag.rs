//! `[[rag_probes]]`: the path a RAG request takes, end to end. Each probe embeds a text with
//! an OpenAI-compatible embeddings API, checks the vector's length against the collection's
//! vector field and searches it in Milvus (the check is `checks::rag`).
//!
//! The embedding endpoint's `headers` and `tls` are read exactly as a dependency's
//! (`super::dependencies`), so an API key comes from the environment or a file and is a
//! [`Secret`] from here on.

use std::collections::BTreeMap;

use super::dependencies::{
    headers_from_raw, http_url, rule_name, RawDependencyTls, RawHeaderValue,
};
use super::*;

/// The longest embedding the exporter accepts, and the largest `dimensions` it asks for.
/// Milvus's own ceiling for a float vector is 32,768 (`proxy.maxDimension`); twice that
/// leaves room for a server built with a higher one, and bounds what one answer can make
/// the exporter hold (65,536 `f32`s, 256 KiB).
pub const MAX_EMBEDDING_DIMENSIONS: usize = 65_536;
/// The longest probe `text`, in bytes: a health check embeds a phrase, and every embeddings
/// API bills and limits by input size.
pub const MAX_RAG_TEXT_BYTES: usize = 8 * 1024;
/// The longest `model` name and probe `name`, in bytes: both go into every request or
/// series, and no real one comes near.
pub const MAX_RAG_NAME_BYTES: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRagProbe {
    pub(super) name: Option<String>,
    pub(super) collection: Option<String>,
    pub(super) vector_field: Option<String>,
    pub(super) text: String,
    pub(super) timeout: HumanDuration,
    pub(super) max_latency: Option<HumanDuration>,
    pub(super) required: bool,
    pub(super) embedding: Option<RawEmbedding>,
}

impl Default for RawRagProbe {
    fn default() -> Self {
        RawRagProbe {
            name: None,
            collection: None,
            vector_field: None,
            text: "health check".into(),
            timeout: HumanDuration(Duration::from_secs(3)),
            max_latency: None,
            required: true,
            embedding: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEmbedding {
    pub(super) url: Option<String>,
    pub(super) model: Option<String>,
    /// Signed, so a negative value is refused by name rather than as a type error.
    pub(super) dimensions: Option<i64>,
    pub(super) headers: BTreeMap<String, RawHeaderValue>,
    pub(super) tls: RawDependencyTls,
}

/// One RAG readiness probe.
#[derive(Clone, Debug, PartialEq)]
pub struct RagProbeConfig {
    /// The readiness rule's name and the `probe` label: unique among rules, dependencies
    /// and targets.
    pub name: String,
    pub collection: CollectionRef,
    /// The field searched; `None` means the collection's only FloatVector field.
    pub vector_field: Option<String>,
    /// The text embedded.
    pub text: String,
    /// Embed and search together, never past the refresh's deadline.
    pub timeout: Duration,
    /// Slower than this (embed and search together) fails the rule.
    pub max_latency: Option<Duration>,
    pub required: bool,
    pub embedding: EmbeddingEndpoint,
}

/// An OpenAI-compatible `POST /v1/embeddings`.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingEndpoint {
    pub url: url::Url,
    pub model: String,
    /// Sent as the API's `dimensions` parameter when set.
    pub dimensions: Option<u32>,
    pub headers: Vec<(String, Secret)>,
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

impl RagProbeConfig {
    pub(super) fn from_raw(
        raw: RawRagProbe,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("rag_probes[{i}].{k}");
        let name = rule_name(raw.name.as_deref(), &key("name"))?;
        if name.len() > MAX_RAG_NAME_BYTES {
            return Err(ConfigError::invalid(
                key("name"),
                format!("is longer than {MAX_RAG_NAME_BYTES} bytes"),
            ));
        }
        let written = raw
            .collection
            .ok_or_else(|| ConfigError::invalid(key("collection"), "is required"))?;
        let collection = CollectionRef::parse(&written).ok_or_else(|| {
            ConfigError::invalid(
                key("collection"),
                format!("{written:?} is not a collection name or db.collection"),
            )
        })?;
        let vector_field = match raw.vector_field.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(ConfigError::invalid(
                    key("vector_field"),
                    "must not be empty (leave it out to use the only float vector field)",
                ))
            }
            Some(f) => Some(f.to_string()),
        };
        if raw.text.trim().is_empty() {
            return Err(ConfigError::invalid(key("text"), "must not be empty"));
        }
        if raw.text.len() > MAX_RAG_TEXT_BYTES {
            return Err(ConfigError::invalid(
                key("text"),
                format!("is longer than {MAX_RAG_TEXT_BYTES} bytes"),
            ));
        }
        let timeout = bounded(
            &key("timeout"),
            raw.timeout.0,
            Duration::from_millis(1),
            MAX_TIMEOUT,
        )?;
        let max_latency = match raw.max_latency {
            None => None,
            Some(d) => {
                let d = bounded(
                    &key("max_latency"),
                    d.0,
                    Duration::from_millis(1),
                    MAX_TIMEOUT,
                )?;
                if d > timeout {
                    return Err(ConfigError::invalid(
                        key("max_latency"),
                        format!(
                            "{} is longer than timeout {}: it could never fail",
                            humantime::format_duration(d),
                            humantime::format_duration(timeout)
                        ),
                    ));
                }
                Some(d)
            }
        };
        let raw_embedding = raw
            .embedding
            .ok_or_else(|| ConfigError::invalid(key("embedding"), "is required (url and model)"))?;
        let embedding = EmbeddingEndpoint::from_raw(raw_embedding, &key("embedding"), env)?;
        Ok(RagProbeConfig {
            name,
            collection,
            vector_field,
            text: raw.text,
            timeout,
            max_latency,
            required: raw.required,
            embedding,
        })
    }
}

impl EmbeddingEndpoint {
    fn from_raw(
        raw: RawEmbedding,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let sub = |k: &str| format!("{key}.{k}");
        let url = raw
            .url
            .ok_or_else(|| ConfigError::invalid(sub("url"), "is required"))?;
        let url = http_url(&url, &sub("url"))?;
        let model = raw.model.as_deref().map(str::trim).unwrap_or_default();
        if model.is_empty() {
            return Err(ConfigError::invalid(sub("model"), "is required"));
        }
        if model.len() > MAX_RAG_NAME_BYTES || model.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                sub("model"),
                format!("is not a model name (one line of at most {MAX_RAG_NAME_BYTES} bytes)"),
            ));
        }
        let dimensions = match raw.dimensions {
            None => None,
            Some(d) if (1..=MAX_EMBEDDING_DIMENSIONS as i64).contains(&d) => Some(d as u32),
            Some(d) => {
                return Err(ConfigError::invalid(
                    sub("dimensions"),
                    format!("{d} is outside 1-{MAX_EMBEDDING_DIMENSIONS}"),
                ))
            }
        };
        let headers = headers_from_raw(raw.headers, &sub("headers"), env)?;
        let ca_pem = raw.tls.ca_pem(&sub("tls"))?;
        Ok(EmbeddingEndpoint {
            url,
            model: model.to_string(),
            dimensions,
            headers,
            ca_pem,
            insecure_skip_verify: raw.tls.insecure_skip_verify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_from(Some(&path), &env, &Overrides::default())
    }

    const GOOD: &str = r#"
[[rag_probes]]
name = "kb-retrieval"
collection = "knowledge_base"
[rag_probes.embedding]
url = "https://api.example/v1/embeddings"
model = "text-embedding-3-small"
"#;

    #[test]
    fn a_minimal_probe_takes_the_documented_defaults() {
        let c = load(GOOD, &[]).expect("loads");
        let p = &c.rag_probes[0];
        assert_eq!(p.name, "kb-retrieval");
        assert_eq!(p.collection.to_string(), "default.knowledge_base");
        assert_eq!(p.text, "health check");
        assert_eq!(p.timeout, Duration::from_secs(3));
        assert_eq!(p.max_latency, None);
        assert!(p.required);
        assert_eq!(p.vector_field, None);
        assert_eq!(p.embedding.dimensions, None);
        assert!(p.embedding.headers.is_empty());
    }

    #[test]
    fn the_api_key_is_a_secret_from_the_environment_and_never_debug_printed() {
        let toml = format!(
            "{GOOD}headers = {{ Authorization = {{ env = \"OPENAI_API_KEY\", prefix = \"Bearer \" }} }}\n"
        );
        let c = load(&toml, &[("OPENAI_API_KEY", "sk-test-7Q2x")]).expect("loads");
        assert_eq!(
            c.rag_probes[0].embedding.headers[0].1.expose(),
            "Bearer sk-test-7Q2x"
        );
        assert!(c.secrets().contains(&"Bearer sk-test-7Q2x"));
        assert!(!format!("{c:?}").contains("sk-test-7Q2x"));
        let err = load(&toml, &[]).expect_err("unset variable").to_string();
        assert!(
            err.contains("rag_probes[0].embedding.headers.Authorization")
                && err.contains("OPENAI_API_KEY"),
            "{err}"
        );
    }

    /// The worst values of every key, each refused with the key's full path.
    #[test]
    fn bad_values_name_their_full_key_path() {
        let probe = |body: &str, embedding: &str| {
            format!(
                "[[rag_probes]]\n{body}\n[rag_probes.embedding]\n{embedding}\n",
                body = body,
                embedding = embedding
            )
        };
        let ok_emb = "url = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"";
        let ok_head = "name = \"p\"\ncollection = \"kb\"";
        let cases: Vec<(String, &str)> = vec![
            (probe("collection = \"kb\"", ok_emb), "rag_probes[0].name"),
            (
                probe("name = \"  \"\ncollection = \"kb\"", ok_emb),
                "rag_probes[0].name",
            ),
            (
                probe("name = \"a b\"\ncollection = \"kb\"", ok_emb),
                "rag_probes[0].name",
            ),
            (
                probe(
                    &format!("name = \"{}\"\ncollection = \"kb\"", "n".repeat(300)),
                    ok_emb,
                ),
                "rag_probes[0].name",
            ),
            (probe("name = \"p\"", ok_emb), "rag_probes[0].collection"),
            (
                probe("name = \"p\"\ncollection = \"a.b.c\"", ok_emb),
                "rag_probes[0].collection",
            ),
            (
                probe("name = \"p\"\ncollection = \".kb\"", ok_emb),
                "rag_probes[0].collection",
            ),
            (
                probe(&format!("{ok_head}\nvector_field = \" \""), ok_emb),
                "rag_probes[0].vector_field",
            ),
            (
                probe(&format!("{ok_head}\ntext = \"\""), ok_emb),
                "rag_probes[0].text",
            ),
            (
                probe(
                    &format!("{ok_head}\ntext = \"{}\"", "x".repeat(9000)),
                    ok_emb,
                ),
                "rag_probes[0].text",
            ),
            (
                probe(&format!("{ok_head}\ntimeout = \"0s\""), ok_emb),
                "rag_probes[0].timeout",
            ),
            (
                probe(&format!("{ok_head}\ntimeout = \"3y\""), ok_emb),
                "rag_probes[0].timeout",
            ),
            (
                probe(&format!("{ok_head}\ntimeout = \"forever\""), ok_emb),
                "rag_probes[0].timeout",
            ),
            (
                probe(&format!("{ok_head}\nmax_latency = \"0s\""), ok_emb),
                "rag_probes[0].max_latency",
            ),
            (
                probe(
                    &format!("{ok_head}\ntimeout = \"1s\"\nmax_latency = \"2s\""),
                    ok_emb,
                ),
                "rag_probes[0].max_latency",
            ),
            (
                format!("[[rag_probes]]\n{ok_head}\n"),
                "rag_probes[0].embedding",
            ),
            (
                probe(ok_head, "model = \"m\""),
                "rag_probes[0].embedding.url",
            ),
            (
                probe(ok_head, "url = \"ftp://x/e\"\nmodel = \"m\""),
                "rag_probes[0].embedding.url",
            ),
            (
                probe(ok_head, "url = \"http://u:p@x/e\"\nmodel = \"m\""),
                "rag_probes[0].embedding.url",
            ),
            (
                probe(ok_head, "url = \"not a url\"\nmodel = \"m\""),
                "rag_probes[0].embedding.url",
            ),
            (
                probe(ok_head, "url = \"http://x/e\""),
                "rag_probes[0].embedding.model",
            ),
            (
                probe(ok_head, "url = \"http://x/e\"\nmodel = \" \""),
                "rag_probes[0].embedding.model",
            ),
            (
                probe(ok_head, "url = \"http://x/e\"\nmodel = \"a\\nb\""),
                "rag_probes[0].embedding.model",
            ),
            (
                probe(ok_head, &format!("{ok_emb}\ndimensions = 0")),
                "rag_probes[0].embedding.dimensions",
            ),
            (
                probe(ok_head, &format!("{ok_emb}\ndimensions = -768")),
                "rag_probes[0].embedding.dimensions",
            ),
            (
                probe(ok_head, &format!("{ok_emb}\ndimensions = 4294967297")),
                "rag_probes[0].embedding.dimensions",
            ),
            (
                probe(
                    ok_head,
                    &format!("{ok_emb}\nheaders = {{ \"Bad Name\" = \"x\" }}"),
                ),
                "rag_probes[0].embedding.headers.Bad Name",
            ),
            (
                probe(
                    ok_head,
                    &format!("{ok_emb}\nheaders = {{ Authorization = \"a\\nb\" }}"),
                ),
                "rag_probes[0].embedding.headers.Authorization",
            ),
            (
                probe(
                    ok_head,
                    &format!("{ok_emb}\ntls = {{ ca_file = \"/nonexistent/ca.pem\" }}"),
                ),
                "rag_probes[0].embedding.tls.ca_file",
            ),
            (probe(ok_head, &format!("{ok_emb}\nbogus = 1")), "bogus"),
            (probe(&format!("{ok_head}\nbogus = 1"), ok_emb), "bogus"),
            (format!("{GOOD}{GOOD}"), "rag_probes[1].name"),
            (
                format!(
                    "[[dependencies]]\nname = \"kb-retrieval\"\naddress = \"127.0.0.1:1\"\n{GOOD}"
                ),
                "rag_probes[0].name",
            ),
            (
                format!("{GOOD}[[targets]]\nname = \"kb-retrieval\"\naddress = \"127.0.0.1:1\"\n"),
                "rag_probes[0].name",
            ),
        ];
        for (toml, key) in &cases {
            let err = load(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    /// The commented example in config/milvus_exporter.toml, uncommented, loads (all but its
    /// `tls` line, whose CA file is a placeholder).
    #[test]
    fn the_sample_configs_rag_probe_example_loads_when_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/milvus_exporter.toml");
        let sample = std::fs::read_to_string(path).expect("read the sample");
        let example: String = sample
            .lines()
            .skip_while(|l| !l.starts_with("# [[rag_probes]]"))
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start())
            .filter(|l| !l.starts_with("tls"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(example.contains("[rag_probes.embedding]"), "{example}");
        let c = load(&example, &[("OPENAI_API_KEY", "sk-x")]).expect("the example loads");
        assert_eq!(c.rag_probes[0].name, "kb-retrieval");
        assert_eq!(c.rag_probes[0].embedding.dimensions, Some(768));
    }

    #[test]
    fn the_bounds_themselves_are_allowed() {
        let toml = format!(
            "[[rag_probes]]\nname = \"{}\"\ncollection = \"db2.kb\"\ntext = \"{}\"\n\
             timeout = \"10m\"\nmax_latency = \"10m\"\nvector_field = \"emb\"\n\
             [rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings?api-version=1\"\n\
             model = \"m\"\ndimensions = {MAX_EMBEDDING_DIMENSIONS}\n",
            "n".repeat(MAX_RAG_NAME_BYTES),
            "x".repeat(MAX_RAG_TEXT_BYTES),
        );
        let c = load(&toml, &[]).expect("loads");
        let p = &c.rag_probes[0];
        assert_eq!(p.collection.db_name, "db2");
        assert_eq!(p.vector_field.as_deref(), Some("emb"));
        assert_eq!(
            p.embedding.dimensions,
            Some(MAX_EMBEDDING_DIMENSIONS as u32)
        );
        assert_eq!(p.max_latency, Some(MAX_TIMEOUT));
    }
}
