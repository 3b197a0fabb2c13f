//! Reliability and security: hostile clients, TLS and basic auth, reloads, shutdown, secrets,
//! and Milvus failing underneath (absent at start, frozen, slow under load).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use milvus_exporter::server::{ServeOptions, WebConfig};
use support::binary::Binary;
use support::exporter::{eventually, Exporter, Metrics};
use support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, Fault};
use support::hardened::{peak_rss_kib, raw_request, rss_kib};
#[cfg(feature = "live")]
use support::lite::MilvusLite;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Main target at `url`, on-demand refreshes, host rules off (this machine's disk and memory
/// are not under test), and `extra` appended (targets only: it must not reopen a table).
fn fake_config(url: &str, timeout: &str, ttl: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"{timeout}\"\n\
         [cache]\nttl = \"{ttl}\"\nrefresh_interval = \"0s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n{extra}"
    )
}

fn options() -> ServeOptions {
    ServeOptions::default()
}

async fn get(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    match client.get(url).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn status_of(raw: &str) -> &str {
    raw.split_whitespace().nth(1).unwrap_or("")
}

// ------------------------------------------------------------------------------------------
// Hostile clients
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_are_the_documented_limits() {
    let o = ServeOptions::default();
    assert_eq!(o.header_read_timeout, Duration::from_secs(10));
    assert_eq!(o.max_connections, 1024);
    assert_eq!(o.write_timeout, Duration::from_secs(30));
    assert_eq!(o.max_requests, 40);
    assert_eq!(o.max_header_bytes, 16 * 1024);
    assert!(o.shutdown_grace < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_over_16_kib_get_431_and_smaller_ones_are_served() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", ""), options()).await;
    let head = |filler: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(filler)
        )
    };
    let ok = raw_request(s.addr, head(15 * 1024).as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&ok), "200", "a 15 KiB head is served: {ok:.200}");
    let big = raw_request(s.addr, head(17 * 1024).as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&big), "431", "a 17 KiB head: {big:.200}");
    // Many small headers adding up past the limit count too.
    let mut many = String::from("GET /metrics HTTP/1.1\r\nHost: x\r\n");
    for i in 0..90 {
        many.push_str(&format!("X-H{i}: {}\r\n", "b".repeat(200)));
    }
    many.push_str("\r\n");
    let r = raw_request(s.addr, many.as_bytes(), Duration::from_secs(5)).await;
    assert_eq!(status_of(&r), "431", "90 headers of 200 bytes: {r:.200}");
    // A head far past the read buffer is refused too, not buffered without end.
    let huge = raw_request(s.addr, head(1024 * 1024).as_bytes(), Duration::from_secs(5)).await;
    assert!(
        huge.is_empty() || status_of(&huge) == "431",
        "a 1 MiB head is refused or the connection closed: {huge:.200}"
    );
    // The server is still fine.
    assert_eq!(get(&s.url_of("/healthz")).await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_after_the_header_read_timeout() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..options()
    };
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", ""), opts).await;
    let mut conn = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let start = Instant::now();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("first bytes");
    let mut cut_after = None;
    let mut buf = [0u8; 1024];
    // One byte every 100 ms, for at most 5 s.
    for _ in 0..50 {
        if conn.write_all(b"a").await.is_err() {
            cut_after = Some(start.elapsed());
            break;
        }
        match tokio::time::timeout(Duration::from_millis(100), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_after = Some(start.elapsed());
                break;
            }
            Ok(Ok(n)) => panic!(
                "the server answered a request that never ended: {}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(_) => {}
        }
    }
    let cut = cut_after.expect("the slow client was never cut off");
    println!("slowloris client cut off after {cut:?} (header_read_timeout 1s)");
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_millis(2500),
        "cut off after {cut:?}"
    );
    // A connection that sends nothing at all is closed too.
    let mut idle = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let t = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("an idle connection is closed within the timeout");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(t.elapsed() < Duration::from_millis(2500));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_evict_the_longest_idle_one() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let opts = ServeOptions {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(3),
        ..options()
    };
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", ""), opts).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(
            tokio::net::TcpStream::connect(s.addr)
                .await
                .expect("connect"),
        );
        // Accepted in this order, so the first is the one idle longest.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t0 = Instant::now();
    let mut fifth = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buf))
        .await
        .expect("the fifth connection is served at once, not queued behind four idle ones")
        .expect("read");
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    assert_eq!(status_of(&reply), "200", "{reply}");
    println!(
        "fifth connection served {:?} after connecting, four idle ones open",
        t0.elapsed()
    );
    // The one idle longest made room; the others are still held.
    let oldest = tokio::time::timeout(Duration::from_millis(500), idle[0].read(&mut buf)).await;
    assert!(
        matches!(oldest, Ok(Ok(0)) | Ok(Err(_))),
        "the longest-idle connection was closed: {oldest:?}"
    );
    for (i, c) in idle.iter_mut().enumerate().skip(1) {
        let held = tokio::time::timeout(Duration::from_millis(100), c.read(&mut buf)).await;
        assert!(held.is_err(), "idle connection {i} is still open: {held:?}");
    }
    drop(idle);

    // A burst far over the cap: every request is answered.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            raw_request(
                addr,
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(10),
            )
            .await
        }));
    }
    for t in tasks {
        let r = t.await.expect("task");
        assert_eq!(status_of(&r), "200", "{r:.200}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods_get_404_and_405() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", ""), options()).await;
    let client = reqwest::Client::new();
    let cases: &[(reqwest::Method, &str, u16)] = &[
        (reqwest::Method::GET, "/nope", 404),
        (reqwest::Method::GET, "/metrics/", 404),
        (reqwest::Method::GET, "/%6detrics", 404),
        (reqwest::Method::POST, "/metrics", 405),
        (reqwest::Method::PUT, "/healthz", 405),
        (reqwest::Method::DELETE, "/readyz", 405),
        (reqwest::Method::GET, "/-/reload", 405),
        // The binary's answer without --web.enable-lifecycle: the in-process server is the
        // binary's app, reloader included.
        (reqwest::Method::POST, "/-/reload", 403),
    ];
    for (method, path, want) in cases {
        let r = client
            .request(method.clone(), s.url_of(path))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), *want, "{method} {path}");
    }
    let garbage = raw_request(s.addr, b"BLAH\r\n\r\n", Duration::from_secs(3)).await;
    assert_eq!(status_of(&garbage), "400", "{garbage:.200}");
    let bad_query = get(&s.url_of("/readyz?verbose=1&bogus=2")).await;
    assert_eq!(bad_query.0, 400);
    s.stop().await;
}

/// A TCP listener that counts the connections it accepts (and holds them, saying nothing).
struct CountingListener {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingListener {
    async fn start() -> CountingListener {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let accepts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepts);
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        CountingListener {
            addr,
            accepts,
            task,
        }
    }

    fn count(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_of_an_unconfigured_target_is_400_and_connects_nowhere() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let configured = CountingListener::start().await;
    let unconfigured = CountingListener::start().await;
    let extra = format!(
        "[[targets]]\nname = \"known\"\naddress = \"http://{}\"\ntimeout = \"1s\"\n",
        configured.addr
    );
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", &extra), options()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        configured.count(),
        0,
        "nothing connects to a target before a probe"
    );

    let other = unconfigured.addr.to_string();
    let hostile = [
        "unknown".to_string(),
        "Known".to_string(),
        "known%20".to_string(),
        "known%00".to_string(),
        format!("http://{other}"),
        format!("http%3A%2F%2F{other}"),
        other.clone(),
        format!("https://{other}"),
        "../known".to_string(),
        "x".repeat(10_000),
    ];
    for t in &hostile {
        let (status, body) = get(&s.url_of(&format!("/probe?target={t}"))).await;
        assert_eq!(status, 400, "target={t:.80}: {body}");
        assert!(
            body.len() < 1024,
            "a short answer, not an echo: {}",
            body.len()
        );
    }
    for q in [
        "",
        "?",
        "?target=",
        "?target=known&target=known",
        "?module=x",
    ] {
        let (status, _) = get(&s.url_of(&format!("/probe{q}"))).await;
        assert_eq!(status, 400, "/probe{q}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        configured.count(),
        0,
        "no unknown name reached the configured target's address"
    );
    assert_eq!(
        unconfigured.count(),
        0,
        "a URL given as target was never contacted"
    );

    // The control: probing the configured name does reach its listener.
    let (status, _) = get(&s.url_of("/probe?target=known")).await;
    assert_eq!(
        status, 200,
        "a failing target is a metric, not an HTTP error"
    );
    assert!(
        configured.count() >= 1,
        "the listener counts the probe's connection"
    );
    assert_eq!(unconfigured.count(), 0);
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Load during a slow refresh
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_requests_during_a_slow_refresh_share_one_refresh() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.delay = Duration::from_secs(5);
    }))
    .await;
    let rss_before = rss_kib();
    // About single flight, so without the web.max_requests cap (40 by default), which would
    // answer some of the 100 concurrent /metrics 503; the cap has its own adversarial test.
    let opts = ServeOptions {
        max_requests: 0,
        ..options()
    };
    let s = Exporter::start_with(&fake_config(&fake.url(), "20s", "60s", ""), opts).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(200)
        .build()
        .expect("client");
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(2000);
    for i in 0..2000 {
        let permit = Arc::clone(&gate).acquire_owned().await.expect("permit");
        let client = client.clone();
        let url = s.url_of(if i % 2 == 0 { "/readyz" } else { "/metrics" });
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            match client.get(&url).send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            }
        }));
    }
    let mut by_status = std::collections::BTreeMap::new();
    for t in tasks {
        *by_status.entry(t.await.expect("task")).or_insert(0u32) += 1;
    }
    let took = started.elapsed();
    let st = fake.state();
    let calls: Vec<(String, u64)> = support::fake_milvus::RPC_NAMES
        .iter()
        .map(|n| (n.to_string(), st.calls(n)))
        .filter(|(_, c)| *c > 0)
        .collect();
    println!(
        "2000 requests (200 at a time) during a 5 s-per-RPC refresh: {by_status:?} in {took:?}; \
         RPCs {calls:?}, max in flight {}; peak RSS (VmHWM) of the test process {} KiB, \
         RSS before {} KiB, after {} KiB",
        st.max_in_flight(),
        peak_rss_kib(),
        rss_before,
        rss_kib()
    );
    assert_eq!(by_status.get(&200).copied(), Some(2000), "{by_status:?}");
    assert_eq!(st.calls("CheckHealth"), 1, "exactly one refresh");
    for (name, c) in &calls {
        // ShowCollections is asked twice per refresh: every name, and the in-memory listing.
        let per_refresh = if name.as_str() == "ShowCollections" {
            2
        } else {
            1
        };
        assert_eq!(
            *c, per_refresh,
            "{name} called {per_refresh} time(s): one refresh in flight, never two"
        );
    }
    assert!(
        st.max_in_flight() as usize <= calls.len(),
        "no more RPCs at once than one refresh makes"
    );
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Real Milvus Lite: absent at start, frozen
// ------------------------------------------------------------------------------------------

#[cfg(feature = "live")]
fn lite_config(url: &str, timeout: &str, ttl: &str, refresh: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"{timeout}\"\n\
         [cache]\nttl = \"{ttl}\"\nrefresh_interval = \"{refresh}\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n\
         [[targets]]\nname = \"lite\"\naddress = \"{url}\"\ntimeout = \"{timeout}\"\n"
    )
}

// Needs Milvus Lite: runs with `--features live` (scripts/test.sh).
#[cfg(feature = "live")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milvus_absent_at_start_then_started_becomes_ready_within_one_ttl() {
    // Learn a port Milvus Lite can use, then stop it so nothing listens there.
    let mut lite = tokio::task::spawn_blocking(MilvusLite::start)
        .await
        .expect("lite");
    let mut lite = tokio::task::spawn_blocking(move || {
        lite.kill();
        lite
    })
    .await
    .expect("kill");
    let ttl = Duration::from_secs(2);
    let timeout = Duration::from_secs(2);
    let exporter = Exporter::start(&lite_config(&lite.url, "2s", "2s", "0s")).await;
    // Exporter::start returns as soon as its listener is bound.
    let up = Instant::now();
    let first = exporter.get("/healthz").await;
    let first_after = up.elapsed();
    assert_eq!(first.status, 200, "{}", first.body);
    println!("first /healthz 200 after {first_after:?} with Milvus absent");
    assert!(first_after < Duration::from_millis(100), "{first_after:?}");

    let ready = exporter.get("/readyz").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let addr = format!("127.0.0.1:{}", lite.port);
    assert!(
        ready.body.contains(&addr),
        "the reason names the address {addr}: {}",
        ready.body
    );
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 0.0);
    let h = exporter.get("/healthz").await;
    assert_eq!(
        h.status, 200,
        "Milvus being down is not the exporter's death"
    );

    lite = tokio::task::spawn_blocking(move || {
        lite.restart();
        lite
    })
    .await
    .expect("restart");
    let took = eventually(ttl + timeout + Duration::from_secs(1), "ready", || async {
        exporter.get("/readyz").await.status == 200
    })
    .await;
    println!("ready {took:?} after Milvus Lite answered (ttl {ttl:?}, timeout {timeout:?})");
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    exporter.stop().await;
    drop(lite);
}

// Needs Milvus Lite: runs with `--features live` (scripts/test.sh).
#[cfg(feature = "live")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_milvus_lite_never_freezes_the_exporter_and_recovery_is_automatic() {
    let lite = tokio::task::spawn_blocking(MilvusLite::start)
        .await
        .expect("lite");
    let timeout = Duration::from_secs(1);
    let exporter = Exporter::start(&lite_config(&lite.url, "1s", "1s", "1s")).await;
    eventually(
        Duration::from_secs(15),
        "ready before the freeze",
        || async { exporter.get("/readyz").await.status == 200 },
    )
    .await;

    lite.pause();
    let frozen_at = Instant::now();
    let limit = timeout + Duration::from_secs(1);
    let mut worst_healthz = Duration::ZERO;
    let mut worst_other = Duration::ZERO;
    let mut timeout_reason = None;
    // Six seconds frozen: several ttls, so every endpoint meets a stale cache and a hung refresh.
    while frozen_at.elapsed() < Duration::from_secs(6) {
        let t = Instant::now();
        let h = exporter.get("/healthz").await;
        let took = t.elapsed();
        assert_eq!(h.status, 200, "{}", h.body);
        // Far below the 1 s Milvus timeout a /healthz that waited on the frozen Milvus would
        // take, and far above a loaded 2-core machine's scheduling noise (64 ms was seen).
        assert!(took < Duration::from_millis(250), "/healthz took {took:?}");
        worst_healthz = worst_healthz.max(took);
        for path in [
            "/readyz",
            "/metrics",
            "/health",
            "/",
            "/probe?target=lite",
            "/readyz?verbose",
        ] {
            let t = Instant::now();
            let r = exporter.get(path).await;
            let took = t.elapsed();
            assert!(took < limit, "{path} took {took:?} (limit {limit:?})");
            worst_other = worst_other.max(took);
            if path == "/readyz" && r.status == 503 {
                let lower = r.body.to_lowercase();
                if lower.contains("timeout")
                    || lower.contains("timed out")
                    || lower.contains("deadline")
                {
                    timeout_reason = Some(r.body.clone());
                }
            }
        }
    }
    println!(
        "frozen Milvus Lite: worst /healthz {worst_healthz:?}, worst other endpoint {worst_other:?}"
    );
    let reason = timeout_reason.expect("/readyz gave 503 with a timeout reason while frozen");
    println!("frozen /readyz: {reason:.300}");

    lite.resume();
    let took = eventually(
        Duration::from_secs(20),
        "recovers after SIGCONT",
        || async { exporter.get("/readyz").await.status == 200 },
    )
    .await;
    println!("ready again {took:?} after SIGCONT");
    exporter.stop().await;
}

// ------------------------------------------------------------------------------------------
// The real binary: SIGTERM, reloads, secrets
// ------------------------------------------------------------------------------------------

fn start_binary(toml: &str, args: &[&str]) -> Binary {
    let toml = toml.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::block_in_place(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        Binary::start(&toml, &a, &[])
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish_and_exits_0_within_2s() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let mut bin = start_binary(&fake_config(&fake.url(), "5s", "1s", ""), &[]);
    let (s, _) = get(&bin.url("/readyz")).await;
    assert_eq!(s, 200);
    // From now on a refresh takes a second; the cached snapshot goes stale.
    fake.state().update(|b| {
        b.rpc_faults
            .insert("CheckHealth".into(), Fault::Delay(Duration::from_secs(1)));
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let url = bin.url("/readyz");
    let in_flight = tokio::spawn(async move {
        let t = Instant::now();
        let r = reqwest::Client::new().get(&url).send().await;
        let status = match r {
            Ok(r) => Some(r.status().as_u16()),
            Err(_) => None,
        };
        (status, t.elapsed())
    });
    eventually(
        Duration::from_secs(2),
        "the request reached Milvus",
        || async { fake.state().in_flight() > 0 },
    )
    .await;
    let term = Instant::now();
    bin.signal("TERM");
    let exit = tokio::task::block_in_place(|| bin.wait_exit(Duration::from_secs(3)));
    let exited_after = term.elapsed();
    let (status, took) = in_flight.await.expect("request task");
    println!(
        "SIGTERM: exited {exit:?} after {exited_after:?}; in-flight request got {status:?} after {took:?}"
    );
    let exit = exit.expect("exited");
    assert_eq!(exit.code(), Some(0), "{}", bin.stderr());
    assert!(exited_after < Duration::from_secs(2), "{exited_after:?}");
    assert_eq!(status, Some(200), "the in-flight request completed");
    assert!(bin.stderr().contains("shutting down"), "{}", bin.stderr());
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(&bin.addr).await.is_err());
}

/// The shutdown path of the app itself (what SIGTERM resolves in the binary): a request that
/// is waiting on Milvus when shutdown begins is answered, then `serve` returns `Ok` and the
/// port is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_request_in_flight_then_serve_returns_and_the_port_closes() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let exporter = Exporter::start(&fake_config(&fake.url(), "5s", "200ms", "")).await;
    let addr = exporter.addr;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    // From now on a refresh takes most of a second, and the cached snapshot goes stale.
    fake.state().update(|b| {
        b.rpc_faults.insert(
            "CheckHealth".into(),
            Fault::Delay(Duration::from_millis(800)),
        );
    });
    let cache = exporter.state.caches.load().main.clone();
    eventually(Duration::from_secs(3), "the snapshot is stale", || async {
        cache
            .peek()
            .is_some_and(|v| v.snapshot.age(Instant::now()) >= cache.ttl())
    })
    .await;
    // This /readyz starts a refresh and waits for it.
    let url = exporter.url_of("/readyz");
    let in_flight = tokio::spawn(async move {
        let r = reqwest::Client::new().get(&url).send().await;
        match r {
            Ok(r) => Some(r.status().as_u16()),
            Err(_) => None,
        }
    });
    eventually(
        Duration::from_secs(3),
        "the request reached Milvus",
        || async { fake.state().in_flight() > 0 },
    )
    .await;
    let began = Instant::now();
    let served = exporter.shutdown().await;
    let took = began.elapsed();
    let status = in_flight.await.expect("request task");
    println!("shutdown returned {served:?} after {took:?}; the request got {status:?}");
    assert!(served.is_ok(), "serve returned {served:?}");
    assert_eq!(status, Some(200), "the in-flight request was answered");
    assert!(
        took < Duration::from_secs(3),
        "shutdown waits for the grace period at most: {took:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

/// `Exporter::start` serves with the `[web]` limits of its TOML, as the binary does: the
/// in-process server is the binary's app, not a re-creation with defaults. (`max_requests`
/// bounds answers being written, which on loopback take no time, so the header timeout is the
/// limit that shows.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_app_serves_with_the_web_section_like_the_binary() {
    use tokio::io::AsyncReadExt;
    let fake = FakeMilvus::start(FakeState::new()).await;
    let toml =
        fake_config(&fake.url(), "5s", "60s", "") + "[web]\nheader_read_timeout = \"300ms\"\n";
    let exporter = Exporter::start(&toml).await;
    // A client that sends nothing is closed after web.header_read_timeout (default 10 s).
    let mut silent = tokio::net::TcpStream::connect(exporter.addr)
        .await
        .expect("connect");
    let began = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "web.header_read_timeout = 300ms holds in-process (still open after 5 s)"
    );
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(exporter.get("/metrics").await.status, 200);
    exporter.stop().await;
}

/// A reload through the app (what SIGHUP runs) swaps in the rewritten file's caches, keeps the
/// loopback listener the harness gave as a flag, and refuses a bad file, keeping the running
/// configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_reload_swaps_the_config_and_refuses_a_bad_one() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let target = |name: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\naddress = \"{}\"\n",
            fake.url()
        )
    };
    let exporter = Exporter::start(&fake_config(&fake.url(), "2s", "10s", &target("a"))).await;
    assert_eq!(exporter.get("/probe?target=a").await.status, 200);
    assert_eq!(exporter.get("/probe?target=b").await.status, 400);
    std::fs::write(
        exporter.config_path(),
        fake_config(&fake.url(), "2s", "10s", &target("b")),
    )
    .expect("rewrite");
    let summary = exporter.reload().await.expect("reload");
    assert!(
        !summary.contains("restart"),
        "nothing needs a restart: {summary}"
    );
    assert_eq!(exporter.get("/probe?target=b").await.status, 200);
    assert_eq!(exporter.get("/probe?target=a").await.status, 400);
    std::fs::write(exporter.config_path(), "[cache]\nttl = \"0s\"\n").expect("rewrite");
    let refused = exporter.reload().await.expect_err("a bad file is refused");
    assert!(refused.contains("cache.ttl"), "{refused}");
    assert_eq!(exporter.get("/probe?target=b").await.status, 200);
    exporter.stop().await;
}

/// A port someone else holds is the world's fault, not the configuration's: exit 1 (not 2)
/// with one line naming the address, before anything is served.
#[test]
fn a_listen_address_in_use_exits_1_with_one_line_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, _, stderr) = support::binary::run(
        &["--web.listen-address", &addr, "--log.level", "error"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with(&format!("milvus_exporter: cannot listen on {addr}: ")),
        "{stderr}"
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_and_post_reload_swap_the_config_and_refuse_a_bad_one() {
    let old = FakeMilvus::start(FakeState::new()).await;
    let new = FakeMilvus::start(FakeState::new()).await;
    // The old main target is refreshed every second, so its calls show the old refresher.
    let config_a = |main: &str, extra: &str| {
        format!(
            "[milvus]\naddress = \"{main}\"\ntimeout = \"2s\"\n\
             [cache]\nttl = \"1s\"\nrefresh_interval = \"1s\"\n\
             [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n{extra}"
        )
    };
    let target =
        |name: &str, url: &str| format!("[[targets]]\nname = \"{name}\"\naddress = \"{url}\"\n");
    let bin = start_binary(
        &config_a(&old.url(), &target("a", &new.url())),
        &["--web.enable-lifecycle"],
    );
    assert_eq!(get(&bin.url("/probe?target=a")).await.0, 200);
    assert_eq!(get(&bin.url("/probe?target=b")).await.0, 400);

    // SIGHUP with a new main target and a new probe target.
    std::fs::write(
        bin.config_path(),
        config_a(
            &new.url(),
            &(target("a", &new.url()) + &target("b", &new.url())),
        ),
    )
    .expect("rewrite");
    bin.signal("HUP");
    eventually(Duration::from_secs(5), "SIGHUP reload", || async {
        get(&bin.url("/probe?target=b")).await.0 == 200
    })
    .await;
    assert!(
        bin.stderr().contains("configuration reloaded"),
        "{}",
        bin.stderr()
    );
    // The old caches' refresher stopped: the old Milvus hears nothing more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = old.state().total_calls();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        old.state().total_calls(),
        before,
        "the old refresher still runs after the reload"
    );
    let (_, ready) = get(&bin.url("/readyz")).await;
    assert!(ready.contains(&new.addr().to_string()), "{ready}");

    // An invalid file is refused on SIGHUP: a log line, and everything as before.
    std::fs::write(bin.config_path(), "[cache]\nttl = \"0s\"\n").expect("rewrite");
    bin.signal("HUP");
    assert!(
        bin.wait_for_log("reload refused", Duration::from_secs(5)),
        "{}",
        bin.stderr()
    );
    let refusal = bin
        .stderr()
        .lines()
        .find(|l| l.contains("reload refused"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(refusal.contains("cache.ttl"), "{refusal}");
    assert_eq!(get(&bin.url("/probe?target=b")).await.0, 200);
    assert_eq!(get(&bin.url("/healthz")).await.0, 200);

    // POST /-/reload: refused with a one-line 500 while the file is bad ...
    let client = reqwest::Client::new();
    let r = client
        .post(bin.url("/-/reload"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().await.expect("body");
    assert_eq!(body.trim_end().lines().count(), 1, "{body}");
    assert!(body.contains("cache.ttl"), "{body}");
    assert_eq!(get(&bin.url("/probe?target=b")).await.0, 200);

    // ... and applied once it is good again.
    std::fs::write(
        bin.config_path(),
        config_a(&new.url(), &target("c", &new.url())),
    )
    .expect("rewrite");
    let r = client
        .post(bin.url("/-/reload"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get(&bin.url("/probe?target=c")).await.0, 200);
    assert_eq!(get(&bin.url("/probe?target=b")).await.0, 400);
    assert!(!bin.stderr().contains("panicked"), "{}", bin.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_bodies_logs_or_errors_even_at_trace_level() {
    const USER: &str = "exporter-user";
    const PASSWORD: &str = "pw-S3cr3t-Zq81xL";
    const TOKEN: &str = "tok-S3cr3t-Vb52mN";
    const WRONG: &str = "pw-Wr0ng-Hk44pR";
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user_pw = format!("{USER}:{PASSWORD}");
    let with_password = FakeMilvus::start(FakeState::new().with(|b| {
        b.required_metadata = Some(("authorization".into(), b64(&user_pw)));
        b.collections = vec![FakeCollection::loaded("default", "docs", 10)];
    }))
    .await;
    let with_token = FakeMilvus::start(FakeState::new().with(|b| {
        b.required_metadata = Some(("authorization".into(), b64(TOKEN)));
    }))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let toml = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"1s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n\
         [[targets]]\nname = \"tok\"\naddress = \"{}\"\ntoken_file = \"{}\"\n\
         [[targets]]\nname = \"wrong\"\naddress = \"{}\"\nusername = \"{USER}\"\npassword = \"{WRONG}\"\n",
        with_password.url(),
        with_token.url(),
        token_file.display(),
        with_password.url(),
    );
    let forbidden: Vec<String> = vec![
        PASSWORD.into(),
        TOKEN.into(),
        WRONG.into(),
        b64(&user_pw),
        b64(TOKEN),
        b64(&format!("{USER}:{WRONG}")),
    ];
    let check = |what: &str, text: &str| {
        for f in &forbidden {
            assert!(
                !text.contains(f.as_str()),
                "{what} contains a secret ({f:.6}…)"
            );
        }
    };

    let mut bin = start_binary(&toml, &["--log.level", "trace", "--web.enable-lifecycle"]);
    let mut bodies = Vec::new();
    let paths = [
        "/",
        "/healthz",
        "/readyz",
        "/readyz?verbose",
        "/health",
        "/metrics",
        "/probe?target=default",
        "/probe?target=tok",
        "/probe?target=wrong",
        "/probe?target=nope",
        "/nope",
    ];
    for _ in 0..2 {
        for p in paths {
            let (status, body) = get(&bin.url(p)).await;
            bodies.push((p, status, body));
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let r = reqwest::Client::new()
        .post(bin.url("/-/reload"))
        .send()
        .await
        .expect("reload");
    bodies.push((
        "POST /-/reload",
        r.status().as_u16(),
        r.text().await.unwrap_or_default(),
    ));
    bin.signal("TERM");
    let exit = tokio::task::block_in_place(|| bin.wait_exit(Duration::from_secs(3)));
    assert_eq!(exit.and_then(|e| e.code()), Some(0));

    // The credentials were really used: the right ones work, the wrong one fails by name.
    let find = |p: &str| {
        bodies
            .iter()
            .find(|(q, _, _)| *q == p)
            .map(|(_, s, b)| (*s, b.clone()))
            .expect("requested")
    };
    assert_eq!(find("/readyz").0, 200, "{}", find("/readyz").1);
    let tok = Metrics::parse(&find("/probe?target=tok").1);
    assert_eq!(tok.value("milvus_up", &[]), 1.0);
    let wrong = Metrics::parse(&find("/probe?target=wrong").1);
    assert_eq!(wrong.value("milvus_up", &[]), 0.0);

    for (p, s, b) in &bodies {
        check(&format!("{p} ({s}) body"), b);
    }
    let stderr = bin.stderr();
    assert!(stderr.lines().count() > 5, "trace logging produced output");
    check("stderr at trace level", &stderr);

    // `check` in both formats, with the failing target's errors included.
    let config = bin.config_path().display().to_string();
    for output in ["table", "json"] {
        let (code, out, err) = tokio::task::block_in_place(|| {
            support::binary::run(
                &[
                    "--config",
                    &config,
                    "--log.level",
                    "trace",
                    "check",
                    "--output",
                    output,
                ],
                &[],
                Duration::from_secs(30),
            )
        });
        assert!(code.is_some());
        check(&format!("check --output {output} stdout"), &out);
        check(&format!("check --output {output} stderr"), &err);
    }
    // A failing config load names the file, never its secrets.
    let (code, out, err) = tokio::task::block_in_place(|| {
        support::binary::run(
            &["--config", &config, "check"],
            &[("MILVUS_EXPORTER_CACHE__TTL", "0s")],
            Duration::from_secs(30),
        )
    });
    assert_eq!(code, Some(2));
    check("config error", &(out + &err));
}

// ------------------------------------------------------------------------------------------
// TLS and basic auth (--web.config.file)
// ------------------------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
    client_key_pem: String,
    stranger_pem: String,
    stranger_key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("ca key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).expect("ca cert");
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("milvus_exporter test CA");
    let (other_ca, other_key) = ca("someone else's CA");
    let leaf = |cn: &str, server: bool, issuer: &rcgen::Certificate, issuer_key: &KeyPair| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = p.signed_by(&key, issuer, issuer_key).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key_pem) = leaf("server", true, &ca_cert, &ca_key);
    let (client_pem, client_key_pem) = leaf("prometheus", false, &ca_cert, &ca_key);
    let (stranger_pem, stranger_key_pem) = leaf("stranger", false, &other_ca, &other_key);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).expect("write");
    std::fs::write(dir.path().join("server.pem"), &server_pem).expect("write");
    std::fs::write(dir.path().join("server.key"), &server_key_pem).expect("write");
    Pki {
        dir,
        ca_pem: ca_cert.pem(),
        client_pem,
        client_key_pem,
        stranger_pem,
        stranger_key_pem,
    }
}

fn web_options(pki: &Pki, yaml: &str) -> ServeOptions {
    let path = pki.dir.path().join("web.yml");
    std::fs::write(&path, yaml).expect("write web config");
    let web = WebConfig::load(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    ServeOptions {
        web: Arc::new(arc_swap::ArcSwap::from_pointee(web)),
        ..options()
    }
}

fn tls_client(pki: &Pki, identity: Option<(&str, &str)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(10));
    if let Some((cert, key)) = identity {
        b = b.identity(
            reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity"),
        );
    }
    b.build().expect("tls client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_basic_auth_protects_metrics_and_leaves_probes_open() {
    let pki = tokio::task::block_in_place(pki);
    let hash = bcrypt::hash("right-password", 4).expect("hash");
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS12\n\
         basic_auth_users:\n  prometheus: {hash}\n"
    );
    let fake = FakeMilvus::start(FakeState::new()).await;
    let s = Exporter::start_with(
        &fake_config(&fake.url(), "2s", "10s", ""),
        web_options(&pki, &yaml),
    )
    .await;
    let base = format!("https://127.0.0.1:{}", s.addr.port());
    let client = tls_client(&pki, None);

    // The handshake succeeds against the test CA; plain HTTP on the TLS port does not work.
    let r = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("TLS handshake with the test CA");
    assert_eq!(
        r.status().as_u16(),
        200,
        "/healthz is open without credentials"
    );
    let r = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_ne!(
        r.status().as_u16(),
        401,
        "/readyz is open without credentials"
    );
    let plain = reqwest::get(format!("http://127.0.0.1:{}/healthz", s.addr.port())).await;
    assert!(plain.map(|r| r.status().as_u16() != 200).unwrap_or(true));

    // /metrics needs the password.
    let r = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic")));
    let r = client
        .get(format!("{base}/metrics"))
        .basic_auth("prometheus", Some("wrong-password"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401, "wrong password");
    assert!(r.headers().contains_key("www-authenticate"));
    let r = client
        .get(format!("{base}/metrics"))
        .basic_auth("nobody", Some("right-password"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401, "unknown user");
    for _ in 0..3 {
        let r = client
            .get(format!("{base}/metrics"))
            .basic_auth("prometheus", Some("right-password"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200, "right password");
    }
    // The reload and landing page are protected too; only the listed paths are open.
    for p in [
        "/",
        "/health",
        "/probe?target=default",
        "/healthz/",
        "/metrics?x",
    ] {
        let r = client.get(format!("{base}{p}")).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 401, "{p}");
    }
    let r = client
        .post(format!("{base}/-/reload"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);

    // A TLS client that never finishes its handshake is dropped like a slowloris.
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_client_certificate_rejects_clients_without_one() {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let yaml = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
                client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n";
    let opts = ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..web_options(&pki, yaml)
    };
    let s = Exporter::start_with(&fake_config(&fake.url(), "2s", "10s", ""), opts).await;
    let url = format!("https://127.0.0.1:{}/healthz", s.addr.port());

    let without = tls_client(&pki, None).get(&url).send().await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let stranger = tls_client(&pki, Some((&pki.stranger_pem, &pki.stranger_key_pem)))
        .get(&url)
        .send()
        .await;
    assert!(
        stranger.is_err(),
        "a certificate from another CA: {stranger:?}"
    );
    let with = tls_client(&pki, Some((&pki.client_pem, &pki.client_key_pem)))
        .get(&url)
        .send()
        .await
        .expect("a certificate from the configured CA is accepted");
    assert_eq!(with.status().as_u16(), 200);

    // A raw TCP client that never starts the handshake is closed after the header timeout.
    let mut idle = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_logins_does_not_stall_healthz() {
    let pki = tokio::task::block_in_place(pki);
    let hash = bcrypt::hash("right-password", 10).expect("hash");
    let yaml = format!("basic_auth_users:\n  prometheus: {hash}\n");
    let fake = FakeMilvus::start(FakeState::new()).await;
    let s = Exporter::start_with(
        &fake_config(&fake.url(), "2s", "10s", ""),
        web_options(&pki, &yaml),
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    // Prime the cache with the right password: later right logins skip bcrypt.
    let ok = client
        .get(s.url_of("/metrics"))
        .basic_auth("prometheus", Some("right-password"))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status().as_u16(), 200);

    let mut flood = Vec::new();
    for i in 0..40 {
        let c = client.clone();
        let url = s.url_of("/metrics");
        flood.push(tokio::spawn(async move {
            c.get(&url)
                .basic_auth("prometheus", Some(format!("guess-{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut worst = Duration::ZERO;
    let mut worst_cached = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(get(&s.url_of("/healthz")).await.0, 200);
        worst = worst.max(t.elapsed());
        let t = Instant::now();
        let r = client
            .get(s.url_of("/metrics"))
            .basic_auth("prometheus", Some("right-password"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        worst_cached = worst_cached.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut statuses = Vec::new();
    for f in flood {
        statuses.push(f.await.expect("task"));
    }
    println!(
        "40 bad logins (bcrypt cost 10): worst /healthz {worst:?}, worst cached right login {worst_cached:?}"
    );
    // A guess is refused (401) or, when every password worker is busy, told to retry (503):
    // nothing queues behind bcrypt.
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503) && statuses.contains(&401),
        "{statuses:?}"
    );
    assert!(
        worst < Duration::from_millis(200),
        "/healthz took {worst:?}"
    );
    assert!(
        worst_cached < Duration::from_millis(500),
        "a cached right login took {worst_cached:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_tls_from_web_config_file_and_reload_rereads_it() {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let web = pki.dir.path().join("web.yml");
    let hash_a = bcrypt::hash("first", 4).expect("hash");
    let hash_b = bcrypt::hash("second", 4).expect("hash");
    let yaml = |hash: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n\
             basic_auth_users:\n  prometheus: {hash}\n"
        )
    };
    std::fs::write(&web, yaml(&hash_a)).expect("write");
    let web_arg = web.display().to_string();
    let bin = start_binary(
        &fake_config(&fake.url(), "2s", "10s", ""),
        &["--web.config.file", &web_arg, "--web.enable-lifecycle"],
    );
    let base = format!("https://{}", bin.addr);
    let client = tls_client(&pki, None);
    let metrics = |pw: &'static str| {
        let c = client.clone();
        let url = format!("{base}/metrics");
        async move {
            c.get(&url)
                .basic_auth("prometheus", Some(pw))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(metrics("first").await, 200);
    assert_eq!(metrics("second").await, 401);

    std::fs::write(&web, yaml(&hash_b)).expect("write");
    let r = client
        .post(format!("{base}/-/reload"))
        .basic_auth("prometheus", Some("first"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(metrics("second").await, 200, "the new password works");
    assert_eq!(
        metrics("first").await,
        401,
        "the old one (cached) no longer does"
    );

    // A broken web config is refused and the running one kept.
    std::fs::write(&web, "basic_auth_users:\n  prometheus: plain-text\n").expect("write");
    let r = client
        .post(format!("{base}/-/reload"))
        .basic_auth("prometheus", Some("second"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("basic_auth_users.prometheus"), "{body}");
    assert_eq!(metrics("second").await, 200);
}
