//! Slow readers: a `web.max_requests` permit covers rendering an answer, not writing it, so
//! clients that read a shared `/metrics` body slowly (or not at all) cannot make the next
//! scrape 503.

use std::time::{Duration, Instant};

use milvus_exporter::server::ServeOptions;
use tokio::io::AsyncReadExt;

use super::bodies::{big_fake, config, healthz_status, heavy, never_reads, BIG};
use super::support::exporter::Exporter;

/// Reads 256 bytes a second from `conn` until `until`.
async fn trickle(mut conn: tokio::net::TcpStream, until: Instant) -> usize {
    let mut buf = [0u8; 256];
    let mut got = 0;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(1), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_slow_readers_of_a_large_metrics_leave_the_next_scrape_200() {
    let _heavy = heavy().await;
    let fake = big_fake(BIG).await;
    let s = Exporter::start_with(&config(&fake.url(), ""), ServeOptions::default()).await;
    let first = s.get("/metrics").await;
    assert_eq!(first.status, 200);
    println!("/metrics is {} B", first.body.len());
    assert!(first.body.len() > 5_000_000, "{} B", first.body.len());
    // As many slow readers as there are permits (web.max_requests is 40).
    let until = Instant::now() + Duration::from_secs(8);
    let mut readers = Vec::new();
    for _ in 0..40 {
        let Some(mut c) = never_reads(s.addr, "/metrics").await else {
            continue;
        };
        // Its answer has begun (so it was rendered, under a permit) before the next one.
        let mut head = [0u8; 256];
        let began = tokio::time::timeout(Duration::from_secs(10), c.read(&mut head)).await;
        assert!(matches!(began, Ok(Ok(n)) if n > 0), "{began:?}");
        readers.push(tokio::spawn(trickle(c, until)));
    }
    assert_eq!(readers.len(), 40);
    let t = Instant::now();
    let scrape = s
        .get_with("/metrics", &[("X-Prometheus-Scrape-Timeout-Seconds", "10")])
        .await;
    let took = t.elapsed();
    println!(
        "scrape beside 40 slow readers: {} in {took:?}",
        scrape.status
    );
    assert_eq!(
        scrape.status, 200,
        "a scrape beside 40 slow readers: {:.200}",
        scrape.body
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(healthz_status(s.addr).await, "200");
    for r in readers {
        let got = r.await.expect("reader");
        assert!(got > 0, "each slow reader was being answered");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_beyond_max_requests_hold_no_permit_on_metrics_or_probe() {
    let _heavy = heavy().await;
    let fake = big_fake(BIG).await;
    let s = Exporter::start_with(
        &config(&fake.url(), ""),
        ServeOptions {
            max_requests: 2,
            ..ServeOptions::default()
        },
    )
    .await;
    assert_eq!(s.get("/metrics").await.status, 200);
    let mut stalled = Vec::new();
    for i in 0..6 {
        let path = if i % 2 == 0 {
            "/metrics"
        } else {
            "/probe?target=default"
        };
        stalled.extend(never_reads(s.addr, path).await);
    }
    assert_eq!(stalled.len(), 6);
    // Wait (bounded) until the stalled answers are held, i.e. rendered and being written.
    super::support::exporter::eventually(
        Duration::from_secs(10),
        "the stalled answers are held",
        || {
            let held = s.state.bodies.held();
            async move { held > 5_000_000 }
        },
    )
    .await;
    for path in ["/metrics", "/probe?target=default", "/metrics"] {
        let r = s.get(path).await;
        assert_eq!(
            r.status, 200,
            "{path} beside 6 stalled readers and max_requests 2: {:.200}",
            r.body
        );
    }
    drop(stalled);
    s.stop().await;
}
