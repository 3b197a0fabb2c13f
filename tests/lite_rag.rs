//! RAG probes against real Milvus Lite (`docs`: 8-dimensional FloatVector `vector`, loaded;
//! `archive`: released) and the in-process OpenAI-compatible embeddings API: the real
//! DescribeCollection and Search behind a pass, a dimension mismatch, a 401 and a released
//! collection. One Milvus Lite for the whole file: it takes seconds to start.

mod support;

use support::embeddings::{Answer, Embeddings};
use support::exporter::Exporter;
use support::lite::MilvusLite;

const KEY: &str = "sk-lite-RAG-9c41d07e55aa";

fn config(milvus: &str, collection: &str, url: &str, embedding_keys: &str) -> String {
    format!(
        "[milvus]\naddress = \"{milvus}\"\ntimeout = \"5s\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"0s\"\n\
         [[rag_probes]]\nname = \"kb\"\ncollection = \"{collection}\"\ntimeout = \"4s\"\n\
         [rag_probes.embedding]\nurl = \"{url}\"\nmodel = \"text-embedding-3-small\"\n\
         {embedding_keys}\n"
    )
}

async fn reason(exporter: &Exporter) -> (u16, String) {
    let r = exporter.get("/readyz").await;
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    (r.status, reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_probes_embed_check_the_dimension_and_search_real_milvus_lite() {
    let lite = tokio::task::spawn_blocking(MilvusLite::start_seeded)
        .await
        .expect("milvus lite");
    let api = Embeddings::start(Answer::Embedding { dim: 1536 }).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key");
    std::fs::write(&key, KEY).expect("write key");
    let auth = format!(
        "headers = {{ Authorization = {{ file = \"{}\", prefix = \"Bearer \" }} }}",
        key.display()
    );

    // Pass: asked for 8 dimensions, the API answers 8, and docs.vector is searched.
    let exporter = Exporter::start(&config(
        &lite.url,
        "docs",
        &api.url(),
        &format!("dimensions = 8\n{auth}"),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = &r.json()["rag_probes"][0];
    assert_eq!(e["success"], true, "{e}");
    assert_eq!(e["vector_field"], "vector");
    assert_eq!(e["dimensions"], 8);
    assert_eq!(e["expected_dimensions"], 8);
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_rag_probe_success", &[("probe", "kb")]), 1.0);
    assert!(
        m.value(
            "milvus_rag_probe_duration_seconds",
            &[("probe", "kb"), ("stage", "search")]
        ) > 0.0
    );
    assert_eq!(api.last().json()["dimensions"], 8);
    exporter.stop().await;

    // The model was switched and nobody re-indexed: 1536 against docs.vector's 8.
    let exporter = Exporter::start(&config(&lite.url, "docs", &api.url(), &auth)).await;
    let (status, why) = reason(&exporter).await;
    assert_eq!(status, 503);
    assert_eq!(
        why,
        "rag probe kb failed at search: embedding has 1536 dimensions but docs.vector expects 8"
    );
    exporter.stop().await;

    // A released collection: the embedding is fine, Milvus's search is not.
    api.set(Answer::Embedding { dim: 8 });
    let exporter = Exporter::start(&config(&lite.url, "archive", &api.url(), &auth)).await;
    let (status, why) = reason(&exporter).await;
    assert_eq!(status, 503);
    assert!(
        why.starts_with("rag probe kb failed at search: Search: "),
        "{why}"
    );
    exporter.stop().await;

    // A rejected key: the API's message, never the key.
    api.set(Answer::Status(
        401,
        format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#),
    ));
    let exporter = Exporter::start(&config(&lite.url, "docs", &api.url(), &auth)).await;
    let (status, why) = reason(&exporter).await;
    assert_eq!(status, 503);
    assert!(
        why.ends_with("answered HTTP 401: Incorrect API key provided: ***"),
        "{why}"
    );
    for path in ["/readyz", "/readyz?verbose", "/health", "/metrics"] {
        assert!(!exporter.get(path).await.body.contains(KEY), "{path}");
    }
    exporter.stop().await;
}
