//! RAG readiness probes end to end, hermetic: the in-process fake Milvus (its `knowledge_base`
//! has an 8-dimensional FloatVector field `vector`) and an in-process OpenAI-compatible
//! embeddings API (tests/support/embeddings.rs), through the real exporter's endpoints, the
//! real binary's logs and its `check` table.
//!
//! Each failure docs/readiness.md names has a test: dimension mismatch, 401 with the API's error body,
//! 500, slow (cut at the timeout), malformed JSON, an enormous embedding, the key in no body,
//! log line or error, the key only to the configured origin, `dimensions` sent when set.

mod support;

use std::time::{Duration, Instant};

use support::binary;
use support::embeddings::{answer_with, unit, Answer, Embeddings};
use support::exporter::{eventually, Exporter, Reply};
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, FAKE_DIM};

const KEY: &str = "sk-test-RAG-5f3e9a7c1d2b";
const PROBE: &str = "kb-retrieval";

fn fake() -> FakeState {
    FakeState::new().with(|b| {
        b.collections = vec![
            FakeCollection::loaded("default", "knowledge_base", 100),
            FakeCollection::loaded("default", "docs", 10),
        ];
    })
}

fn config(milvus: &str, rest: &str) -> String {
    format!(
        "[milvus]\naddress = \"{milvus}\"\ntimeout = \"3s\"\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\n{rest}"
    )
}

/// One RAG probe named [`PROBE`] on `knowledge_base`; `probe_keys` go into the probe's table,
/// `embedding_keys` into its `embedding` table.
fn rag(url: &str, probe_keys: &str, embedding_keys: &str) -> String {
    format!(
        "[[rag_probes]]\nname = \"{PROBE}\"\ncollection = \"knowledge_base\"\n{probe_keys}\n\
         [rag_probes.embedding]\nurl = \"{url}\"\nmodel = \"text-embedding-3-small\"\n\
         {embedding_keys}\n"
    )
}

/// The probe's entry of `rag_probes` in a JSON body.
fn entry(body: &serde_json::Value) -> serde_json::Value {
    body["rag_probes"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == PROBE))
        .cloned()
        .unwrap_or_else(|| panic!("no rag_probes entry {PROBE}: {body}"))
}

/// Every answer a client can get, concatenated, to search for a secret.
async fn everything(exporter: &Exporter) -> String {
    let mut all = String::new();
    for path in ["/readyz", "/readyz?verbose", "/health", "/metrics", "/"] {
        let r: Reply = exporter.get(path).await;
        all.push_str(&r.body);
    }
    all
}

/// A key file for the `Authorization` header, as a Kubernetes secret mount would hold it.
fn key_file(dir: &std::path::Path) -> String {
    let path = dir.join("openai-key");
    std::fs::write(&path, format!("{KEY}\n")).expect("write key");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_probe_reports_its_stages_dimension_rule_and_request() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Embedding {
        dim: FAKE_DIM as usize,
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(
            &api.url(),
            "max_latency = \"2s\"",
            &format!(
                "headers = {{ Authorization = {{ file = \"{}\", prefix = \"Bearer \" }} }}",
                key_file(dir.path())
            ),
        ),
    ))
    .await;

    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let e = entry(&r.json());
    assert_eq!(e["success"], true, "{e}");
    assert_eq!(e["collection"], "default.knowledge_base");
    assert_eq!(e["vector_field"], "vector");
    assert_eq!(e["dimensions"], FAKE_DIM);
    assert_eq!(e["expected_dimensions"], FAKE_DIM);
    for stage in ["embed", "search", "total"] {
        assert!(e["stages"][stage].as_f64().is_some(), "{stage}: {e}");
    }
    assert!(
        e.get("error").is_none() && e.get("failed_stage").is_none(),
        "{e}"
    );

    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_rag_probe_success", &[("probe", PROBE)]),
        1.0
    );
    for stage in ["embed", "search", "total"] {
        assert!(
            m.value(
                "milvus_rag_probe_duration_seconds",
                &[("probe", PROBE), ("stage", stage)]
            ) >= 0.0
        );
    }
    assert_eq!(
        m.value("milvus_rag_embedding_dimensions", &[("probe", PROBE)]),
        f64::from(FAKE_DIM)
    );
    assert_eq!(m.value("milvus_readiness_check", &[("check", PROBE)]), 1.0);
    let verbose = exporter.get("/readyz?verbose").await.body;
    assert!(verbose.contains("[+]kb-retrieval ok"), "{verbose}");
    let health = exporter.get("/health").await.json();
    assert_eq!(entry(&health)["success"], true);
    assert_eq!(health["rules"][PROBE], "pass", "{health}");

    // What went over the wire: one POST of the OpenAI shape, the key only in its header.
    let seen = api.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/embeddings");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        seen.json(),
        serde_json::json!({"model": "text-embedding-3-small", "input": ["health check"]}),
        "no dimensions unless configured"
    );
    // Only read RPCs reached Milvus: the schema once, then the search.
    assert_eq!(milvus.state().calls("DescribeCollection"), 1);
    assert!(milvus.state().calls("Search") >= 1);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vector_field_is_described_once_and_searched_every_refresh() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Embedding {
        dim: FAKE_DIM as usize,
    })
    .await;
    let exporter = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"3s\"\n[cache]\nttl = \"100ms\"\nrefresh_interval = \"0s\"\n{}",
        milvus.url(),
        rag(&api.url(), "", "")
    ))
    .await;
    let state = milvus.state().clone();
    eventually(Duration::from_secs(20), "three searches", || {
        let exporter = &exporter;
        let state = state.clone();
        async move {
            let _ = exporter.get("/readyz").await;
            state.calls("Search") >= 3
        }
    })
    .await;
    assert_eq!(state.calls("DescribeCollection"), 1, "the field is cached");
    assert!(api.requests().len() >= 3, "one embedding per refresh");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dimension_mismatch_fails_the_rule_naming_both_dimensions_and_never_searches() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Embedding { dim: 16 }).await;
    let exporter = Exporter::start(&config(&milvus.url(), &rag(&api.url(), "", ""))).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let b = r.json();
    let reason = b["reason"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        reason,
        "rag probe kb-retrieval failed at search: embedding has 16 dimensions but \
         knowledge_base.vector expects 8"
    );
    let e = entry(&b);
    assert_eq!(e["success"], false);
    assert_eq!(e["failed_stage"], "search");
    assert_eq!(e["dimensions"], 16);
    assert_eq!(e["expected_dimensions"], 8);
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_rag_probe_success", &[("probe", PROBE)]),
        0.0
    );
    assert_eq!(
        m.value("milvus_rag_embedding_dimensions", &[("probe", PROBE)]),
        16.0
    );
    assert_eq!(m.value("milvus_readiness_check", &[("check", PROBE)]), 0.0);
    assert_eq!(
        milvus.state().calls("Search"),
        0,
        "a wrong vector is not sent"
    );
    let verbose = exporter.get("/readyz?verbose").await.body;
    assert!(
        verbose.contains("[-]kb-retrieval failed: rag probe kb-retrieval failed at search"),
        "{verbose}"
    );
    exporter.stop().await;

    // An empty embedding is a mismatch too, not a search of nothing.
    api.set(Answer::Body(answer_with("[]")));
    let exporter = Exporter::start(&config(&milvus.url(), &rag(&api.url(), "", ""))).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.ends_with("embedding has 0 dimensions but knowledge_base.vector expects 8"),
        "{reason}"
    );
    assert_eq!(milvus.state().calls("Search"), 0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_fails_with_the_apis_own_message_and_the_key_appears_in_no_answer() {
    let milvus = FakeMilvus::start(fake()).await;
    // The API quotes the key it was sent, as real ones do (OpenAI masks it; this one does not).
    let api = Embeddings::start(Answer::Status(
        401,
        format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {KEY}. You can find your API key at https://example/keys.","type":"invalid_request_error","code":"invalid_api_key"}}}}"#
        ),
    ))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(
            &format!("{}?api-version=2024-02-01&key={KEY}", api.url()),
            "",
            &format!(
                "headers = {{ Authorization = {{ file = \"{}\", prefix = \"Bearer \" }}, X-Api-Key = {{ file = \"{}\" }} }}",
                key_file(dir.path()),
                key_file(dir.path())
            ),
        ),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.starts_with(&format!(
            "rag probe kb-retrieval failed at embed: {} answered HTTP 401: Incorrect API key provided: ***.",
            api.url()
        )),
        "{reason}"
    );
    assert_eq!(entry(&r.json())["failed_stage"], "embed");
    let all = everything(&exporter).await;
    assert!(!all.contains(KEY), "the key leaked into an answer");
    assert!(!all.contains("5f3e9a7c"), "part of the key leaked");
    // It was sent, in its headers only (the URL's query is the test's own doing).
    let seen = api.last();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(seen.header("x-api-key"), Some(KEY));
    assert!(!String::from_utf8_lossy(&seen.body).contains(KEY));
    assert_eq!(
        milvus.state().calls("Search"),
        0,
        "no search without a vector"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_and_malformed_answers_fail_at_embed_with_their_cause() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Status(500, "upstream overloaded".into())).await;
    let cases: Vec<(Answer, &str)> = vec![
        (
            Answer::Status(500, "upstream overloaded".into()),
            "answered HTTP 500: upstream overloaded",
        ),
        (
            Answer::Status(503, "<html><body>Service Unavailable</body></html>".into()),
            "answered HTTP 503",
        ),
        (
            Answer::Body("this is not json".into()),
            "not an embeddings answer (data[0].embedding)",
        ),
        (
            Answer::Body(r#"{"data":[]}"#.into()),
            "not an embeddings answer: data is empty",
        ),
        (
            Answer::Body(r#"{"object":"list","data":[{"embedding":"AAAAAA=="}]}"#.into()),
            "expected an embedding (a list of numbers)",
        ),
        (
            Answer::Body(r#"{"data":[{"embedding":[0.1,0.2"#.into()),
            "not an embeddings answer",
        ),
    ];
    for (answer, want) in cases {
        api.set(answer.clone());
        let exporter = Exporter::start(&config(&milvus.url(), &rag(&api.url(), "", ""))).await;
        let r = exporter.get("/readyz").await;
        assert_eq!(r.status, 503, "{answer:?}: {}", r.body);
        let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
        assert!(
            reason.starts_with("rag probe kb-retrieval failed at embed: ") && reason.contains(want),
            "{answer:?}: {reason}"
        );
        assert!(!reason.contains('\n'));
        let m = exporter.get("/metrics").await.metrics();
        assert_eq!(
            m.value("milvus_rag_probe_success", &[("probe", PROBE)]),
            0.0
        );
        assert!(
            m.get(
                "milvus_rag_probe_duration_seconds",
                &[("probe", PROBE), ("stage", "search")]
            )
            .is_none(),
            "a stage that did not run has no sample"
        );
        assert!(m
            .get("milvus_rag_embedding_dimensions", &[("probe", PROBE)])
            .is_none());
        exporter.stop().await;
    }
    assert_eq!(milvus.state().calls("Search"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_api_is_cut_at_the_probe_timeout_and_a_slow_path_fails_max_latency() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Slow(Duration::from_secs(30))).await;
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(&api.url(), "timeout = \"500ms\"", ""),
    ))
    .await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        reason,
        format!(
            "rag probe kb-retrieval failed at embed: {}: timed out after 500ms",
            api.url()
        )
    );
    // Cut by the probe's 500 ms, not the refresh's 3 s (loose: a busy machine is slow).
    assert!(took < Duration::from_secs(3), "took {took:?}");
    exporter.stop().await;

    // Headers at once, then a byte every 100 ms: the body read is cut at the same deadline.
    api.set(Answer::Trickle);
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(&api.url(), "timeout = \"500ms\"", ""),
    ))
    .await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.ends_with("timed out after 500ms") && reason.contains("failed at embed"),
        "{reason}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    exporter.stop().await;

    // Answering in 100 ms is fine for the timeout but not for max_latency = 10ms.
    api.set(Answer::Slow(Duration::from_millis(100)));
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(&api.url(), "timeout = \"2s\"\nmax_latency = \"10ms\"", ""),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let b = r.json();
    let reason = b["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.starts_with("rag probe kb-retrieval failed at total: took ")
            && reason.ends_with("ms, slower than max_latency 10 ms"),
        "{reason}"
    );
    let e = entry(&b);
    assert_eq!(e["failed_stage"], "total");
    assert_eq!(e["dimensions"], 8, "the stages themselves succeeded");
    assert!(milvus.state().calls("Search") >= 1);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enormous_embeddings_are_refused_without_being_held() {
    let milvus = FakeMilvus::start(fake()).await;
    // 100,000 floats in 400 KB: under the body cap, over the dimension cap.
    let many = answer_with(&unit(100_000));
    let api = Embeddings::start(Answer::Body(many)).await;
    let exporter = Exporter::start(&config(&milvus.url(), &rag(&api.url(), "", ""))).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("the embedding has more than 65536 dimensions"),
        "{reason}"
    );
    exporter.stop().await;

    // A body that goes on and on: the read stops at the 4 MiB cap, within the timeout.
    api.set(Answer::Endless);
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(&api.url(), "timeout = \"2500ms\"", ""),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("body larger than 4194304 bytes"),
        "{reason}"
    );
    assert_eq!(milvus.state().calls("Search"), 0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_sent_only_to_the_configured_origin() {
    let milvus = FakeMilvus::start(fake()).await;
    let elsewhere = Embeddings::start(Answer::Embedding { dim: 8 }).await;
    let api = Embeddings::start(Answer::Redirect(elsewhere.url())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(
            &api.url(),
            "",
            &format!(
                "headers = {{ X-Api-Key = {{ file = \"{}\" }} }}",
                key_file(dir.path())
            ),
        ),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains(&format!(
            "redirect to another origin refused: {}",
            elsewhere.origin()
        )),
        "{reason}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the other origin was sent: {:?}",
        elsewhere.requests()
    );
    assert_eq!(api.last().header("x-api-key"), Some(KEY));
    assert!(!everything(&exporter).await.contains(KEY));
    exporter.stop().await;

    // A same-origin redirect is followed, key, body and all, and the probe passes.
    api.set(Answer::Redirect(format!("{}/v2/embeddings", api.origin())));
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(
            &api.url(),
            "",
            &format!(
                "headers = {{ X-Api-Key = {{ file = \"{}\" }} }}",
                key_file(dir.path())
            ),
        ),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let moved = api.last();
    assert_eq!(moved.path, "/v2/embeddings");
    assert_eq!(moved.method, "POST");
    assert_eq!(moved.header("x-api-key"), Some(KEY));
    assert_eq!(moved.json()["model"], "text-embedding-3-small");
    assert!(elsewhere.requests().is_empty());
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dimensions_is_sent_when_configured_and_the_api_honours_it() {
    let milvus = FakeMilvus::start(fake()).await;
    // Its default of 1536 would not fit knowledge_base.vector; asked for 8, it answers 8.
    let api = Embeddings::start(Answer::Embedding { dim: 1536 }).await;
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(
            &api.url(),
            "text = \"what is our refund policy?\"",
            "dimensions = 8",
        ),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.last().json(),
        serde_json::json!({
            "model": "text-embedding-3-small",
            "input": ["what is our refund policy?"],
            "dimensions": 8
        })
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milvus_side_failures_fail_at_search_and_an_optional_probe_never_fails_readiness() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Embedding { dim: 8 }).await;
    for (probe_keys, want) in [
        (
            "vector_field = \"embedding\"",
            "knowledge_base has no field \"embedding\" (vector fields: vector)",
        ),
        ("collection = \"gone\"", ""),
    ] {
        let toml = if probe_keys.starts_with("collection") {
            rag(&api.url(), "", "").replace("knowledge_base", "gone")
        } else {
            rag(&api.url(), probe_keys, "")
        };
        let exporter = Exporter::start(&config(&milvus.url(), &toml)).await;
        let r = exporter.get("/readyz").await;
        assert_eq!(r.status, 503, "{}", r.body);
        let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
        assert!(
            reason.starts_with("rag probe kb-retrieval failed at search: "),
            "{reason}"
        );
        if want.is_empty() {
            assert!(
                reason.contains("DescribeCollection") && reason.contains("collection not found"),
                "{reason}"
            );
        } else {
            assert!(reason.contains(want), "{reason}");
        }
        exporter.stop().await;
    }

    // Not required: reported, never part of the verdict.
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &rag(&api.url(), "required = false", "dimensions = 4"),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(entry(&r.json())["success"], false);
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_rag_probe_success", &[("probe", PROBE)]),
        0.0
    );
    assert!(m
        .get("milvus_readiness_check", &[("check", PROBE)])
        .is_none());
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_embedding_check_as_a_dependency_post_sends_its_json_body() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Embedding { dim: 8 }).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start(&config(
        &milvus.url(),
        &format!(
            "[[dependencies]]\nname = \"embeddings\"\nurl = \"{}\"\n\
             body = '{{\"model\": \"text-embedding-3-small\", \"input\": \"test\"}}'\n\
             expect_body = \"embedding\"\n\
             headers = {{ Authorization = {{ file = \"{}\", prefix = \"Bearer \" }} }}\n",
            api.url(),
            key_file(dir.path())
        ),
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dependencies"]["embeddings"]["status"], "healthy");
    let seen = api.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.json(),
        serde_json::json!({"model": "text-embedding-3-small", "input": "test"})
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!everything(&exporter).await.contains(KEY));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_from_the_environment_reaches_no_log_line_and_check_prints_the_probe() {
    let milvus = FakeMilvus::start(fake()).await;
    let api = Embeddings::start(Answer::Status(
        401,
        format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#),
    ))
    .await;
    let toml = config(
        &milvus.url(),
        &rag(
            &api.url(),
            "",
            "headers = { Authorization = { env = \"OPENAI_API_KEY\", prefix = \"Bearer \" } }",
        ),
    );
    let bin = tokio::task::spawn_blocking({
        let toml = toml.clone();
        move || binary::Binary::start(&toml, &["--log.level", "debug"], &[("OPENAI_API_KEY", KEY)])
    })
    .await
    .expect("binary starts");
    let client = reqwest::Client::new();
    let mut answers = String::new();
    for path in ["/readyz", "/readyz?verbose", "/health", "/metrics"] {
        let r = client
            .get(bin.url(path))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        answers.push_str(&r.text().await.unwrap_or_default());
    }
    assert!(answers.contains("answered HTTP 401"), "{answers}");
    let logged = tokio::task::spawn_blocking({
        let bin_stderr = bin.stderr();
        move || bin_stderr
    })
    .await
    .expect("stderr");
    assert!(
        logged.contains("not ready") && logged.contains("answered HTTP 401"),
        "the reason is logged: {logged}"
    );
    assert!(
        !logged.contains(KEY),
        "the key reached a log line:\n{logged}"
    );
    assert!(!answers.contains(KEY), "the key reached an answer");
    drop(bin);

    // `check` prints the probe's table line and exits 1 (not ready), the key nowhere.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = binary::write_config(dir.path(), &toml);
    let path = path.display().to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        binary::run(
            &["--config", &path, "check"],
            &[("OPENAI_API_KEY", KEY)],
            Duration::from_secs(30),
        )
    })
    .await
    .expect("check runs");
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("RAG PROBE") && stdout.contains("kb-retrieval"),
        "{stdout}"
    );
    assert!(stdout.contains("FAIL at embed"), "{stdout}");
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
}

/// Bad `[[rag_probes]]` through the real binary: exit 2, one line, naming the key.
#[test]
fn bad_rag_probe_configs_exit_2_naming_the_key() {
    let emb = "[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n";
    let cases: Vec<(String, &str)> = vec![
        (
            format!("[[rag_probes]]\nname = \"\"\ncollection = \"kb\"\n{emb}"),
            "rag_probes[0].name",
        ),
        (
            format!("[[rag_probes]]\nname = \"memory\"\ncollection = \"kb\"\n{emb}"),
            "rag_probes[0].name",
        ),
        (
            format!(
                "[[dependencies]]\nname = \"kb\"\naddress = \"127.0.0.1:1\"\n\
                 [[rag_probes]]\nname = \"kb\"\ncollection = \"kb\"\n{emb}"
            ),
            "rag_probes[0].name",
        ),
        (
            "[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\n[rag_probes.embedding]\nmodel = \"m\"\n"
                .to_string(),
            "rag_probes[0].embedding.url",
        ),
        (
            "[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\n[rag_probes.embedding]\nurl = \"http://127.0.0.1:1/e\"\n"
                .to_string(),
            "rag_probes[0].embedding.model",
        ),
        (
            format!("[[rag_probes]]\nname = \"p\"\ncollection = \"a.b.c\"\n{emb}"),
            "rag_probes[0].collection",
        ),
        (
            format!("[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\ntimeout = \"0s\"\n{emb}"),
            "rag_probes[0].timeout",
        ),
        (
            format!("[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\ntimeout = \"100y\"\n{emb}"),
            "rag_probes[0].timeout",
        ),
        (
            format!("[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\n{emb}dimensions = 0\n"),
            "rag_probes[0].embedding.dimensions",
        ),
        (
            format!(
                "[[rag_probes]]\nname = \"p\"\ncollection = \"kb\"\n{emb}\
                 headers = {{ Authorization = {{ env = \"NOT_SET_ANYWHERE\" }} }}\n"
            ),
            "rag_probes[0].embedding.headers.Authorization",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wrong = Vec::new();
    for (toml, key) in &cases {
        let full = format!("[milvus]\naddress = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n{toml}");
        let path = binary::write_config(dir.path(), &full);
        let path = path.display().to_string();
        let (code, _stdout, stderr) =
            binary::run(&["--config", &path, "check"], &[], Duration::from_secs(30));
        let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
        if code != Some(2) || lines != 1 || !stderr.contains(key) || stderr.contains("panicked") {
            wrong.push(format!("{key}: exit {code:?}, {lines} lines: {stderr}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
