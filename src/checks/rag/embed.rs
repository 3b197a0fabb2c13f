//! The embed stage: one POST to an OpenAI-compatible embeddings API, and `data[0].embedding`
//! read from its answer without ever holding more than a bounded vector.

use std::time::Duration;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::prober::RagProber;
use super::RagError;
use crate::checks::error_chain;
use crate::checks::http_client::shown_url;
use crate::config::MAX_EMBEDDING_DIMENSIONS;
use crate::limits::{self, BodyError};

/// The largest embeddings answer read: 65,536 floats written out in full (`-0.0123456789,`)
/// are about 1 MiB, and an API may add usage and other fields; past 4 MiB it is not an
/// answer to one short input.
pub const MAX_EMBEDDING_BODY: usize = 4 * 1024 * 1024;

/// The most of an error answer read for its message: an error message is a line.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The request body of an OpenAI-compatible embeddings call.
#[derive(Serialize)]
pub(super) struct EmbeddingRequest<'a> {
    pub(super) model: &'a str,
    pub(super) input: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dimensions: Option<u32>,
}

impl RagProber {
    /// The embeddings call, under `at`: the vector, or why there is none.
    pub(super) async fn embed(&self, at: Instant, budget: Duration) -> Result<Vec<f32>, RagError> {
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
}

/// `data[0].embedding` of an OpenAI-compatible answer, read without ever holding more than
/// [`MAX_EMBEDDING_DIMENSIONS`] floats: the rest of `data` and every other field are skipped.
pub(super) fn parse_embedding(body: &[u8]) -> Result<Vec<f32>, String> {
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
pub(super) fn api_error_message(body: &[u8]) -> Option<String> {
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
