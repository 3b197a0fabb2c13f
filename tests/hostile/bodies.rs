//! Per-request body copies: `/readyz` and `/health` are rendered once per snapshot and shared,
//! as `/metrics` is, and the bytes held for unsent answers across all connections have one
//! ceiling (`ServeOptions::max_unsent_bytes`), beyond which a new large answer is 503 while
//! `/healthz` still answers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use milvus_exporter::server::ServeOptions;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use super::support;
use support::exporter::{eventually, Exporter};
use support::fake_milvus::{fake_index, FakeCollection, FakeMilvus, FakeState};
use support::hardened::{raw_request, rss_kib};

/// The tests that hold hundreds of connections or megabytes take turns, so none measures
/// another one's load (and RSS is the whole test process's).
pub(crate) async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// Main target at `url`, on-demand refreshes with a long ttl (one snapshot for the whole
/// test), host rules off, and `extra` appended.
pub(crate) fn config(url: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"60s\"\nmax_collections = 100000\n\
         [cache]\nttl = \"600s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n{extra}"
    )
}

/// A fake Milvus with `n` loaded collections of 250-character names, each with 64 indexes
/// of 250-character names: at [`BIG`] the `/readyz`, `/health` and `/metrics` answers are
/// each larger than the kernel's largest send buffer (4 MiB by default), so a client that
/// does not read leaves most of the answer in the exporter.
pub(crate) async fn big_fake(n: usize) -> FakeMilvus {
    FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = (0..n)
            .map(|i| FakeCollection::loaded("default", &name('c', i), 7))
            .collect();
        b.indexes = (0..n)
            .map(|i| {
                let indexes = (0..64)
                    .map(|j| {
                        let mut d = fake_index(&name('i', j), 5, 7, 2, 3);
                        d.field_name = name('f', j);
                        d
                    })
                    .collect();
                (name('c', i), indexes)
            })
            .collect();
    }))
    .await
}

fn name(kind: char, i: usize) -> String {
    format!("{kind}{i:06}_{}", "n".repeat(242))
}

/// Collections for answers of several MiB.
pub(crate) const BIG: usize = 300;

/// A client that sends `GET path` and never reads, with a small receive buffer, so the
/// answer stays on the server's side.
pub(crate) async fn never_reads(addr: SocketAddr, path: &str) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    let _ = socket.set_recv_buffer_size(4096);
    let mut s = tokio::time::timeout(Duration::from_secs(2), socket.connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    Some(s)
}

/// `/healthz` on a fresh connection within 2 s: its status code ("" when none).
pub(crate) async fn healthz_status(addr: SocketAddr) -> String {
    let reply = raw_request(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    reply.split_whitespace().nth(1).unwrap_or("").to_string()
}

/// The peak of this process's RSS, in MiB, sampled every 50 ms for `window`.
async fn peak_rss_mib(window: Duration) -> u64 {
    let end = Instant::now() + window;
    let mut peak = rss_kib();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(rss_kib());
    }
    peak / 1024
}

async fn warm(s: &Exporter) -> (usize, usize) {
    let ready = s.get("/readyz").await;
    let health = s.get("/health").await;
    assert_eq!(health.status, 200, "{:.300}", health.body);
    (ready.body.len(), health.body.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_that_never_read_a_large_readyz_or_health_cost_about_one_copy() {
    let _heavy = heavy().await;
    let fake = big_fake(BIG).await;
    let s = Exporter::start_with(&config(&fake.url(), ""), ServeOptions::default()).await;
    let t = Instant::now();
    let (ready_len, health_len) = warm(&s).await;
    println!(
        "/readyz {ready_len} B, /health {health_len} B, first answers in {:?}",
        t.elapsed()
    );
    assert!(ready_len > 1_000_000, "a large answer: {ready_len} B");
    let before = rss_kib() / 1024;
    let mut held = Vec::new();
    for i in 0..200 {
        let path = if i % 2 == 0 { "/readyz" } else { "/health" };
        if let Some(c) = never_reads(s.addr, path).await {
            held.push(c);
        }
    }
    assert_eq!(held.len(), 200, "every client connected");
    let peak = peak_rss_mib(Duration::from_secs(3)).await;
    let grew = peak.saturating_sub(before);
    println!(
        "200 non-readers of /readyz and /health: RSS {before} MiB before, peak {peak} MiB (+{grew} MiB)"
    );
    assert_eq!(healthz_status(s.addr).await, "200", "/healthz answers");
    // A copy each would be 100 × (readyz + health), hundreds of MiB; shared, it is one of
    // each plus per-connection buffers.
    let copies = (100 * (ready_len + health_len) / (1 << 20)) as u64;
    assert!(
        grew < 64,
        "RSS grew by {grew} MiB with 200 clients holding unsent answers (a copy each: {copies} MiB)"
    );
    drop(held);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_ceiling_a_new_large_answer_is_503_and_healthz_and_shared_ones_still_answer() {
    let _heavy = heavy().await;
    let fake = big_fake(BIG).await;
    let probe = Exporter::start(&config(&fake.url(), "")).await;
    let (ready_len, health_len) = warm(&probe).await;
    probe.stop().await;
    // Room for one /readyz and a little more, not for a /health beside it.
    let ceiling = ready_len + ready_len / 4;
    assert!(health_len > ready_len / 4, "{health_len} vs {ready_len}");
    let s = Exporter::start_with(
        &config(&fake.url(), ""),
        ServeOptions {
            max_unsent_bytes: ceiling,
            ..ServeOptions::default()
        },
    )
    .await;
    assert_eq!(s.get("/readyz").await.status, 200);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.extend(never_reads(s.addr, "/readyz").await);
    }
    eventually(
        Duration::from_secs(10),
        "the non-readers hold /readyz",
        || {
            let held = s.state.bodies.held();
            async move { held >= ready_len - 64 }
        },
    )
    .await;
    assert!(
        s.state.bodies.held() <= ceiling,
        "held {} of {ceiling}",
        s.state.bodies.held()
    );
    let health = s.get("/health").await;
    assert_eq!(health.status, 503, "{:.300}", health.body);
    assert!(
        health.body.contains("too many unsent answers held"),
        "{}",
        health.body
    );
    // The same /readyz rendering is shared: another answer of it adds only its tail.
    let ready = s.get("/readyz").await;
    assert_eq!(ready.status, 200, "{:.200}", ready.body);
    assert_eq!(healthz_status(s.addr).await, "200");
    // Once the readers go, their bytes are given back.
    drop(held);
    eventually(
        Duration::from_secs(10),
        "the held bytes are given back",
        || {
            let held = s.state.bodies.held();
            async move { held == 0 }
        },
    )
    .await;
    assert_eq!(s.get("/health").await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_history_length_and_the_verbose_readyz_share_one_rendering_each() {
    let _heavy = heavy().await;
    let fake = big_fake(BIG).await;
    let s = Exporter::start(&config(&fake.url(), "")).await;
    let (_, health_len) = warm(&s).await;
    let verbose_len = s.get("/readyz?verbose").await.body.len();
    let mut held = Vec::new();
    for i in 0..60 {
        let path = match i % 4 {
            0 => "/health".to_string(),
            1 => format!("/health?history={}", i % 7),
            2 => "/readyz?verbose".to_string(),
            _ => "/readyz?verbose=1".to_string(),
        };
        held.extend(never_reads(s.addr, &path).await);
    }
    assert_eq!(held.len(), 60);
    eventually(
        Duration::from_secs(10),
        "the non-readers hold their answers",
        || {
            let held = s.state.bodies.held();
            async move { held >= health_len + verbose_len }
        },
    )
    .await;
    let bytes = s.state.bodies.held();
    println!("60 non-readers of /health?history=N and /readyz?verbose: {bytes} B held");
    // One rendering of each, plus each answer's own few bytes.
    assert!(
        bytes < health_len + verbose_len + 60 * 4096,
        "{bytes} B held for 60 answers of two renderings ({health_len} + {verbose_len} B)"
    );
    // Every length still gives a well-formed answer of its own length.
    for n in [0usize, 1, 3, 20, 500] {
        let r = s.get(&format!("/health?history={n}")).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        let got = v["history"].as_array().map(Vec::len);
        assert!(got.is_some_and(|g| g <= n), "history={n}: {got:?}");
    }
    drop(held);
    s.stop().await;
}
