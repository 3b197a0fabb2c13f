//! Beyond Milvus's own answers: read probes under faults, scrape deadlines, quota states, RAG
//! dependencies (HTTP, HTTPS with a test CA, TCP) and Milvus's per-component health. Servers
//! are the in-process fake Milvus and small HTTP servers on loopback started here.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use support::exporter::Exporter;
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, Fault};

fn fake_with_docs() -> FakeState {
    FakeState::new().with(|b| {
        b.collections = vec![
            FakeCollection::loaded("default", "docs", 10),
            FakeCollection::loaded("default", "faq", 3),
        ];
    })
}

fn config(url: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"3s\"\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\n{extra}"
    )
}

/// A small HTTP server standing in for an embedding API or an LLM gateway.
async fn dependency_server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "embedding service ok" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/auth",
            get(|h: HeaderMap| async move {
                match h.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer tok-3f9a-SECRET") => (StatusCode::OK, "ok"),
                    _ => (StatusCode::UNAUTHORIZED, "no"),
                }
            }),
        )
        .route(
            "/components",
            get(|| async {
                r#"{"state":"Abnormal","detail":[{"name":"proxy","code":1},{"name":"querynode","code":2,"reason":"no heartbeat"},{"name":"datacoord","code":3}]}"#
            }),
        )
        .route(
            "/healthy/healthz",
            get(|| async { r#"{"state":"OK","detail":[{"name":"proxy","code":1},{"name":"rootcoord","code":3}]}"# }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// An HTTPS server whose certificate is signed by a CA made here; returns the CA's PEM.
async fn tls_server() -> (SocketAddr, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf");
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca, &ca_key)
        .expect("leaf cert");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\ntls ok\n")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (addr, ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_slower_than_max_latency_fails_and_a_silent_one_is_cut_at_its_timeout() {
    let fake = FakeMilvus::start(fake_with_docs().with(|b| {
        b.collection_faults
            .insert("docs".into(), Fault::Delay(Duration::from_millis(400)));
        b.collection_faults.insert("faq".into(), Fault::Hang);
    }))
    .await;
    let exporter = Exporter::start(&config(
        &fake.url(),
        "[readiness]\n\
         [[readiness.probes]]\ncollection = \"docs\"\nkind = \"search\"\nmax_latency = \"100ms\"\n\
         [[readiness.probes]]\ncollection = \"faq\"\nkind = \"query\"\ntimeout = \"500ms\"\n",
    ))
    .await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("probe search default.docs failed: answered in")
            && reason.contains("slower than max_latency 100 ms"),
        "{reason}"
    );
    assert!(
        reason.contains("probe query default.faq failed: Query: timed out after 500ms"),
        "{reason}"
    );
    // The fault also hangs GetLoadState on faq, so the collections check holds the refresh
    // until milvus.timeout (3s); the probe itself is cut at its own 500ms (checked below).
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the answer arrives by the refresh deadline"
    );
    let m = exporter.get("/metrics").await.metrics();
    let faq = [
        ("db_name", "default"),
        ("collection_name", "faq"),
        ("kind", "query"),
    ];
    assert_eq!(m.value("milvus_probe_success", &faq), 0.0);
    let d = m.value("milvus_probe_duration_seconds", &faq);
    assert!((0.45..1.5).contains(&d), "cut at ~0.5s, took {d}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_readyz_cost_one_probe_per_refresh() {
    let fake = FakeMilvus::start(fake_with_docs().with(|b| {
        b.delay = Duration::from_millis(300);
    }))
    .await;
    let exporter = Exporter::start(&config(
        &fake.url(),
        "[readiness]\n[[readiness.probes]]\ncollection = \"docs\"\nkind = \"search\"\n",
    ))
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .expect("client");
    let ok = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let (client, url, ok, sem) = (
            client.clone(),
            exporter.url.clone(),
            ok.clone(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.expect("semaphore");
            if let Ok(r) = client.get(format!("{url}/readyz")).send().await {
                if r.status() == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(ok.load(Ordering::Relaxed), 2000);
    assert_eq!(fake.state().calls("Search"), 1, "one probe for one refresh");
    assert_eq!(fake.state().calls("DescribeCollection"), 1);
    assert_eq!(fake.state().calls("CheckHealth"), 1);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_deadline_shorter_than_milvus_gets_the_last_complete_snapshot_in_time() {
    let fake = FakeMilvus::start(fake_with_docs().with(|b| {
        b.delay = Duration::from_secs(2);
    }))
    .await;
    let exporter = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"3s\"\n[cache]\nttl = \"500ms\"\nrefresh_interval = \"0s\"\n",
        fake.url()
    ))
    .await;
    // Let the start-up refresh (full 3s budget, ~2s here) finish and age past the ttl, so
    // the scrape below finds a stale cache and a refresh that will take ~2s.
    assert_eq!(exporter.get("/health").await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let started = Instant::now();
    let r = exporter
        .get_with("/metrics", &[("x-prometheus-scrape-timeout-seconds", "1")])
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took < Duration::from_millis(1200),
        "answered after {took:?}"
    );
    let m = r.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0, "the last complete snapshot");
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "milvus")]),
        1.0
    );
    assert!(
        m.value("milvus_exporter_cache_age_seconds", &[]) >= 0.5,
        "its age says how old it is"
    );
    assert!(m.has_family("milvus_host_memory_percent"));
    // The refresh the scrape joined ran on under the full deadline and is what others read.
    let h = exporter.get("/health").await.json();
    assert!(h["checks"]["milvus"]["error"].is_null(), "{h}");
    assert_eq!(
        fake.state().calls("CheckHealth"),
        2,
        "no refresh of its own for the scrape"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_states_that_deny_reads_make_milvus_not_ready() {
    let fake = FakeMilvus::start(fake_with_docs().with(|b| {
        b.quota_states = vec![2, 4]; // ReadLimited, DenyToRead
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json()["reason"],
        "Milvus quota state DenyToRead is active"
    );
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_quota_state", &[("state", "DenyToRead")]),
        1.0
    );
    assert_eq!(
        m.value("milvus_quota_state", &[("state", "ReadLimited")]),
        1.0
    );
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "quota")]),
        0.0
    );
    exporter.stop().await;

    // ReadLimited alone is not in the default list; a configured list changes that.
    fake.state().update(|b| b.quota_states = vec![2]);
    let exporter = Exporter::start(&config(&fake.url(), "")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    exporter.stop().await;
    let exporter = Exporter::start(&config(
        &fake.url(),
        "[readiness]\nquota_states_not_ready = [\"ReadLimited\"]\n",
    ))
    .await;
    assert_eq!(exporter.get("/readyz").await.status, 503);
    exporter.stop().await;
}

/// A dependency's certificate is checked as Go's clients check it: with no `tls.ca_file`
/// against the system trust store (the binary's SSL_CERT_FILE here), with one against that CA
/// alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_trusts_the_system_store_without_ca_file_and_only_its_ca_file_with_one() {
    let fake = FakeMilvus::start(fake_with_docs()).await;
    let (tls, ca_pem) = tls_server().await;
    let (_elsewhere, other_pem) = tls_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write ca");
    std::fs::write(&other, &other_pem).expect("write other ca");
    let status = |ca_file: Option<&std::path::Path>, system: &std::path::Path| {
        let tls_line = ca_file
            .map(|p| format!("tls = {{ ca_file = \"{}\" }}\n", p.display()))
            .unwrap_or_default();
        let toml = config(
            &fake.url(),
            &format!(
                "[readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n[[dependencies]]\nname = \"vault_tls\"\nurl = \"https://localhost:{}/\"\n{tls_line}",
                tls.port()
            ),
        );
        let system = system.display().to_string();
        let bin = tokio::task::block_in_place(|| {
            support::binary::Binary::start(&toml, &[], &[("SSL_CERT_FILE", &system)])
        });
        let url = bin.url("/readyz");
        async move {
            let body = reqwest::get(&url)
                .await
                .expect("GET /readyz")
                .text()
                .await
                .expect("body");
            let v: serde_json::Value = serde_json::from_str(&body).expect("json");
            drop(bin);
            v["dependencies"]["vault_tls"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    assert_eq!(
        status(None, &ca).await,
        "healthy",
        "the system store has the CA"
    );
    assert_eq!(
        status(None, &other).await,
        "unhealthy",
        "the system store lacks it"
    );
    assert_eq!(
        status(Some(&other), &ca).await,
        "unhealthy",
        "a ca_file is the only CA trusted"
    );
    assert_eq!(
        status(Some(&ca), &other).await,
        "healthy",
        "the ca_file's CA"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_are_checked_over_http_https_and_tcp_without_leaking_their_secrets() {
    let fake = FakeMilvus::start(fake_with_docs()).await;
    let http = dependency_server().await;
    let (tls, ca_pem) = tls_server().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write ca");
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-3f9a-SECRET\n").expect("write token");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let deps = format!(
        r#"
[[dependencies]]
name = "embeddings"
url = "http://{http}/ok"
expect_body = "ok"
[[dependencies]]
name = "llm_gateway"
url = "http://{http}/auth?api_key=in-query-SECRET"
headers = {{ Authorization = {{ file = "{token}", prefix = "Bearer " }} }}
[[dependencies]]
name = "vault_tls"
url = "https://localhost:{tls_port}/"
expect_body_regex = "^tls ok"
tls = {{ ca_file = "{ca}" }}
[[dependencies]]
name = "redis"
kind = "tcp"
address = "{http}"
[[dependencies]]
name = "reranker"
url = "http://{http}/fail"
required = false
"#,
        token = token.display(),
        tls_port = tls.port(),
        ca = ca.display(),
    );
    let exporter = Exporter::start(&config(&fake.url(), &deps)).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["dependencies"]["embeddings"]["status"], "healthy");
    assert_eq!(b["dependencies"]["llm_gateway"]["status"], "healthy");
    assert_eq!(b["dependencies"]["vault_tls"]["status"], "healthy");
    assert_eq!(b["dependencies"]["redis"]["status"], "healthy");
    assert_eq!(b["dependencies"]["reranker"]["status"], "unhealthy");
    assert!(b["dependencies"]["reranker"]["error"]
        .as_str()
        .unwrap_or_default()
        .contains("answered 500"));
    let m = exporter.get("/metrics").await;
    let mm = m.metrics();
    for dep in ["embeddings", "llm_gateway", "vault_tls", "redis"] {
        assert_eq!(
            mm.value("milvus_dependency_up", &[("dependency", dep)]),
            1.0
        );
        assert!(mm.value("milvus_dependency_duration_seconds", &[("dependency", dep)]) >= 0.0);
        assert_eq!(mm.value("milvus_readiness_check", &[("check", dep)]), 1.0);
    }
    assert_eq!(
        mm.value("milvus_dependency_up", &[("dependency", "reranker")]),
        0.0
    );
    assert!(mm
        .get("milvus_readiness_check", &[("check", "reranker")])
        .is_none());
    let everything = format!(
        "{}{}{}{}",
        r.body,
        m.body,
        exporter.get("/health").await.body,
        exporter.get("/readyz?verbose").await.body
    );
    for secret in ["tok-3f9a-SECRET", "in-query-SECRET"] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    exporter.stop().await;

    // Each failure mode, required: 503 with a reason naming the dependency.
    for (dep, expect) in [
        (format!("url = \"http://{http}/fail\""), "answered 500"),
        (
            format!("url = \"http://{http}/slow\"\ntimeout = \"300ms\""),
            "timed out after 300ms",
        ),
        (
            format!("url = \"http://{http}/ok\"\nexpect_body = \"pong\""),
            "body does not contain \"pong\"",
        ),
        (format!("url = \"http://{closed}/\""), "cannot reach"),
        (
            format!("url = \"https://localhost:{}/\"", tls.port()),
            "cannot reach",
        ),
        (
            format!("kind = \"tcp\"\naddress = \"{closed}\""),
            "cannot reach",
        ),
        (format!("url = \"http://{http}/auth\""), "answered 401"),
    ] {
        let exporter = Exporter::start(&config(
            &fake.url(),
            &format!("[[dependencies]]\nname = \"api\"\n{dep}\n"),
        ))
        .await;
        let started = Instant::now();
        let r = exporter.get("/readyz").await;
        assert_eq!(r.status, 503, "{dep}: {}", r.body);
        assert!(started.elapsed() < Duration::from_secs(4), "{dep}");
        let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
        assert!(
            reason.starts_with("dependency api (") && reason.contains(expect),
            "{dep}: {reason}"
        );
        exporter.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_health_from_the_metrics_port_feeds_a_readiness_rule() {
    let fake = FakeMilvus::start(fake_with_docs()).await;
    let http = dependency_server().await;
    // The exporter asks <metrics_address>/healthz; "/healthy" prefixes a healthy answer.
    let exporter = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\nmetrics_address = \"http://{http}/healthy\"\n[cache]\nrefresh_interval = \"0s\"\n",
        fake.url()
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let comps = &r.json()["dependencies"]["milvus"]["components"];
    assert_eq!(comps[1]["state"], "StandBy", "{comps}");
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value(
            "milvus_component_state",
            &[("role", "proxy"), ("node_id", ""), ("state", "Healthy")]
        ),
        1.0
    );
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "components")]),
        1.0
    );
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "components")]),
        1.0
    );
    exporter.stop().await;

    // A query node reported Abnormal: not ready, and the reason says which and why.
    let bad = axum_prefix_server(http).await;
    let exporter = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\nmetrics_address = \"http://{bad}\"\n[cache]\nrefresh_interval = \"0s\"\n",
        fake.url()
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(
        r.json()["reason"],
        "component querynode is Abnormal: no heartbeat"
    );
    exporter.stop().await;
}

/// Serves the "/components" body at "/healthz", as Milvus's metrics port would.
async fn axum_prefix_server(upstream: SocketAddr) -> SocketAddr {
    let app = Router::new().route(
        "/healthz",
        get(move || async move {
            reqwest::get(format!("http://{upstream}/components"))
                .await
                .map(|r| r.text())
                .expect("upstream")
                .await
                .unwrap_or_default()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
