//! The low items: a directory as `--config` says it is a directory, and an HTTP status from
//! Milvus's `:9091` port is an HTTP status in its message, not a gRPC code.

use std::time::Duration;

use super::support::binary;
use super::support::exporter::Exporter;
use super::support::fake_milvus::{FakeCollection, FakeMilvus, FakeState};

#[test]
fn a_directory_as_config_says_it_is_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_string_lossy().into_owned();
    let (code, _, stderr) =
        binary::run(&["--config", &path, "check"], &[], Duration::from_secs(20));
    assert_eq!(code, Some(2), "a config error: {stderr}");
    assert!(
        stderr.contains("is a directory"),
        "names the problem: {stderr}"
    );
    assert!(!stderr.contains("no such file"), "{stderr}");
    // A path that is really missing still says so.
    let missing = dir.path().join("nope.toml");
    let (code, _, stderr) = binary::run(
        &["--config", &missing.to_string_lossy(), "check"],
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no such file"), "{stderr}");
}

/// A `:9091` port that answers 500 on `/healthz`.
async fn failing_metrics_port(status: u16) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // Bounded: this test makes a handful of requests.
        for _ in 0..200 {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "boom";
                let head = format!(
                    "HTTP/1.1 {status} Internal Server Error\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_port_500_is_reported_as_http_500() {
    let fake = FakeMilvus::start(
        FakeState::new()
            .with(|b| b.collections = vec![FakeCollection::loaded("default", "docs", 1)]),
    )
    .await;
    let port = failing_metrics_port(500).await;
    let toml = format!(
        "[milvus]\naddress = \"{}\"\nmetrics_address = \"{port}\"\n\
         [cache]\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n",
        fake.url()
    );
    let exporter = Exporter::start(&toml).await;
    let health = exporter.get("/health").await.json();
    let error = health["checks"]["components"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("HTTP 500"), "an HTTP status: {error:?}");
    assert!(!error.contains("gRPC 500"), "{error:?}");
    exporter.stop().await;
}
