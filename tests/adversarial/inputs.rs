//! Adversarial cases: inputs. Every byte the exporter reads from the network is bounded, each
//! disk path is measured on its own filesystem, the first answer has a CPU figure, and header
//! secrets go only to the configured URL's origin.
//!
//! The hostile HTTP servers here are tokio listeners on 127.0.0.1; each one's work is bounded
//! in bytes and time, and it stops when the test drops it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support;
use support::exporter::Exporter;
use support::fake_milvus::{FakeMilvus, FakeState};

/// What a hostile server does after reading a request.
#[derive(Clone)]
enum Answer {
    /// 200, no Content-Length, then bytes until `limit` bytes or the time limit.
    Endless { limit: usize },
    /// 200, then one byte every 100 ms.
    Drip,
    /// 200 with `Content-Length: declared`, then `body`, then (when `endless`) more bytes.
    Lying {
        declared: u64,
        body: Vec<u8>,
        endless: bool,
    },
    /// 200 with exactly this body.
    Fixed(Vec<u8>),
    /// 302 to this location (a path is a same-origin redirect).
    Redirect(String),
}

/// A local HTTP/1.1 server that answers every request with `answer` and records each
/// request's head. Stops (and closes its connections) when dropped.
struct Hostile {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// No hostile connection outlives this, whatever the client does.
const SERVER_TIME_LIMIT: Duration = Duration::from_secs(20);
const MAX_CONNECTIONS: usize = 200;

impl Hostile {
    async fn start(answer: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let answer = Arc::new(answer);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            for _ in 0..MAX_CONNECTIONS {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
                connections.spawn(async move {
                    let _ = tokio::time::timeout(
                        SERVER_TIME_LIMIT,
                        serve_one(sock, seen, answer.as_ref()),
                    )
                    .await;
                });
            }
        });
        Hostile {
            addr,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(
    mut sock: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    answer: &(dyn Fn(&str) -> Answer + Send + Sync),
) {
    // One request per connection: read its head (bounded), answer, close.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    if let Ok(mut s) = seen.lock() {
        s.push(head);
    }
    let chunk = vec![b'a'; 64 * 1024];
    match answer(&path) {
        Answer::Endless { limit } => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"detail\":\"")
                .await;
            let mut sent = 0;
            while sent < limit {
                if sock.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
        }
        Answer::Drip => {
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await;
            for _ in 0..200 {
                if sock.write_all(b"o").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Answer::Lying {
            declared,
            body,
            endless,
        } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
            if endless {
                for _ in 0..(256 * 1024 * 1024 / chunk.len()) {
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            }
        }
        Answer::Fixed(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
        }
        Answer::Redirect(to) => {
            let head = format!(
                "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = sock.write_all(head.as_bytes()).await;
        }
    }
    let _ = sock.shutdown().await;
}

/// This process's resident set, bytes (the exporter runs in-process).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The host rules are off so a full disk on the test machine cannot change a verdict.
fn config(milvus: &str, timeout: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{milvus}\"\ntimeout = \"{timeout}\"\n{extra}\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n"
    )
}

fn dependency(name: &str, url: &str, extra: &str) -> String {
    format!("\n[[dependencies]]\nname = \"{name}\"\nurl = \"{url}\"\ntimeout = \"3s\"\n{extra}\n")
}

/// The `/readyz` JSON's reasons, joined.
fn reasons(body: &serde_json::Value) -> String {
    body["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// A. Every byte read from the network is bounded.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_bodies_fail_with_a_size_error_and_memory_stays_bounded() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    // Each endless server would send 512 MiB if read to the end.
    let endless = Hostile::start(|_| Answer::Endless {
        limit: 512 * 1024 * 1024,
    })
    .await;
    let fine = Hostile::start(|_| Answer::Fixed(b"ok".to_vec())).await;
    let toml = format!(
        "{}{}{}",
        config(
            &fake.url(),
            "5s",
            &format!("metrics_address = \"{}\"", endless.url(""))
        ),
        dependency("flood", &endless.url("/health"), "expect_body = \"ok\""),
        dependency("fine", &fine.url("/health"), "expect_body = \"ok\""),
    );

    let before = rss_bytes();
    let exporter = Exporter::start(&toml).await;
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            for _ in 0..400 {
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    let took = started.elapsed();
    sampling.abort();
    let peak = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(rss_bytes());
    let grew = peak.saturating_sub(before);

    assert!(
        grew < 64 * 1024 * 1024,
        "RSS grew by {} MiB reading endless bodies (before {} MiB, peak {} MiB)",
        grew / (1024 * 1024),
        before / (1024 * 1024),
        peak / (1024 * 1024)
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    let body = r.json();
    let why = reasons(&body);
    assert!(
        why.contains("GET /healthz") && why.contains("body larger than 1048576 bytes"),
        "{why}"
    );
    let flood = body["dependencies"]["flood"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(flood.contains("body larger than 262144 bytes"), "{flood}");
    assert!(
        !flood.contains('\n') && flood.len() < 400,
        "one short line: {flood}"
    );
    assert!(
        body["dependencies"]["fine"]["error"].is_null(),
        "{}",
        body["dependencies"]["fine"]
    );
    // The rest of the exporter keeps answering.
    assert_eq!(exporter.get("/healthz").await.status, 200);
    let m = exporter.get("/metrics").await;
    assert_eq!(m.status, 200);
    let m = m.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(
        m.value("milvus_dependency_up", &[("dependency", "fine")]),
        1.0
    );
    assert_eq!(
        m.value("milvus_dependency_up", &[("dependency", "flood")]),
        0.0
    );
    exporter.stop().await;
}

/// The same floods against the real binary, whose peak resident set (VmHWM) is its own: tests
/// running beside this one cannot blur it as they can the in-process figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_peaks_under_64_mib_reading_endless_bodies() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let endless = Hostile::start(|_| Answer::Endless {
        limit: 512 * 1024 * 1024,
    })
    .await;
    let toml = format!(
        "{}{}",
        config(
            &fake.url(),
            "3s",
            &format!("metrics_address = \"{}\"", endless.url(""))
        ),
        dependency("flood", &endless.url("/health"), "expect_body = \"ok\""),
    )
    .replace("ttl = \"10s\"", "ttl = \"1s\"");
    let bin = tokio::task::spawn_blocking(move || support::binary::Binary::start(&toml, &[], &[]))
        .await
        .expect("binary starts");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // Three refreshes' worth of floods, a ttl apart.
    let mut answers = Vec::new();
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let r = client
            .get(bin.url("/readyz"))
            .send()
            .await
            .expect("readyz answers");
        answers.push((r.status().as_u16(), r.text().await.unwrap_or_default()));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", bin.pid())).unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    assert!(peak_kb > 0, "no VmHWM in /proc/{}/status", bin.pid());
    assert!(
        peak_kb < 64 * 1024,
        "the exporter's peak RSS is {} MiB",
        peak_kb / 1024
    );
    for (status, text) in answers {
        assert_eq!(status, 503, "{text}");
        assert!(text.contains("body larger than 1048576 bytes"), "{text}");
    }
    drop(bin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_body_is_cut_at_the_checks_timeout() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let drip = Hostile::start(|_| Answer::Drip).await;
    let toml = format!(
        "{}{}",
        config(
            &fake.url(),
            "1s",
            &format!("metrics_address = \"{}\"", drip.url(""))
        ),
        dependency("drip", &drip.url("/"), "expect_body = \"never\"")
    );
    let exporter = Exporter::start(&toml).await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}, timeout is 1s"
    );
    let body = r.json();
    let why = reasons(&body);
    assert!(
        why.contains("GET /healthz: timed out after 1s"),
        "components cut at the timeout: {why}"
    );
    let dep = body["dependencies"]["drip"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(dep.contains("timed out"), "{dep}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_content_length_is_not_trusted() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    // Says 2 bytes, then floods: only the 2 declared bytes are read ("OK": no detail).
    let short = Hostile::start(|_| Answer::Lying {
        declared: 2,
        body: b"OK".to_vec(),
        endless: true,
    })
    .await;
    // Says a terabyte, then floods: cut at the size bound, not believed and not pre-allocated.
    let huge = Hostile::start(|_| Answer::Lying {
        declared: 1 << 40,
        body: b"{".to_vec(),
        endless: true,
    })
    .await;
    // Says 1000 bytes, sends 2 and closes: a truncated body is an error, not a hang.
    let truncated = Hostile::start(|_| Answer::Lying {
        declared: 1000,
        body: b"ok".to_vec(),
        endless: false,
    })
    .await;
    let toml = format!(
        "{}{}{}",
        config(
            &fake.url(),
            "3s",
            &format!("metrics_address = \"{}\"", short.url(""))
        ),
        dependency("huge", &huge.url("/"), "expect_body = \"ok\""),
        dependency("truncated", &truncated.url("/"), "expect_body = \"ok\""),
    );
    let before = rss_bytes();
    let exporter = Exporter::start(&toml).await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    assert!(started.elapsed() < Duration::from_secs(4));
    let grew = rss_bytes().saturating_sub(before);
    assert!(grew < 64 * 1024 * 1024, "RSS grew by {} MiB", grew >> 20);
    let body = r.json();
    assert!(
        !reasons(&body).contains("component"),
        "the 2 declared bytes were read: {}",
        reasons(&body)
    );
    let huge = body["dependencies"]["huge"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(huge.contains("body larger than 262144 bytes"), "{huge}");
    let truncated = body["dependencies"]["truncated"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(!truncated.is_empty(), "a body shorter than declared fails");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_bodies_are_explained_not_crashed_on() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let garbage = Hostile::start(|path| {
        if path.starts_with("/healthz") {
            Answer::Fixed(b"{\"detail\":[{\"role\":\"\xff\xfe\"}]}".to_vec())
        } else {
            Answer::Fixed(b"\xff\xfeok\xc3".to_vec())
        }
    })
    .await;
    let toml = format!(
        "{}{}",
        config(
            &fake.url(),
            "3s",
            &format!("metrics_address = \"{}\"", garbage.url(""))
        ),
        dependency("bytes", &garbage.url("/dep"), "expect_body = \"ok\""),
    );
    let exporter = Exporter::start(&toml).await;
    let body = exporter.get("/readyz").await.json();
    let why = reasons(&body);
    assert!(
        why.contains("GET /healthz") && why.contains("not UTF-8"),
        "{why}"
    );
    // A dependency's body is matched as text with invalid bytes replaced.
    assert!(
        body["dependencies"]["bytes"]["error"].is_null(),
        "{}",
        body["dependencies"]["bytes"]
    );
    assert_eq!(exporter.get("/metrics").await.status, 200);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_values_and_lists_from_milvus_are_clipped() {
    let long = "r".repeat(10_000);
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.version = format!("v{}", "9".repeat(5_000));
        b.healthy = false;
        b.health_reasons = (0..5_000).map(|i| format!("reason {i}")).collect();
    }))
    .await;
    // 5,000 components (about 300 KB, under the body bound), one with a 10 KB role.
    let mut detail = vec![format!(
        "{{\"role\":\"{long}\",\"node_id\":1,\"code\":2,\"reason\":\"{long}\"}}"
    )];
    detail.extend(
        (0..5_000).map(|i| format!("{{\"role\":\"querynode\",\"node_id\":{i},\"code\":1}}")),
    );
    let healthz = format!("{{\"state\":\"OK\",\"detail\":[{}]}}", detail.join(","));
    let components = Hostile::start(move |_| Answer::Fixed(healthz.clone().into_bytes())).await;
    let toml = config(
        &fake.url(),
        "5s",
        &format!("metrics_address = \"{}\"", components.url("")),
    );
    let exporter = Exporter::start(&toml).await;
    let text = exporter.get("/metrics").await.body;
    let states: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("milvus_component_state{"))
        .collect();
    assert_eq!(states.len(), 1000, "the first 1,000 components are kept");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.len() < 1200, "a sample line of {} bytes", line.len());
    }
    // The abnormal one is kept (unhealthy components come first) with its role clipped.
    let clipped = format!("role=\"{}…\"", "r".repeat(256));
    assert!(
        states.iter().any(|l| l.contains(&clipped)),
        "{:?}",
        &states[..2]
    );
    let info = text
        .lines()
        .find(|l| l.starts_with("milvus_server_info{"))
        .unwrap_or_default();
    assert!(info.len() < 300 && info.contains('…'), "{info}");

    let body = exporter.get("/readyz").await.json();
    let why = reasons(&body);
    assert!(
        why.len() < 16 * 1024,
        "readiness reasons of {} bytes",
        why.len()
    );
    assert!(why.contains("(and 4900 more)"), "{why}");
    let components = &body["dependencies"]["milvus"]["components"];
    assert_eq!(components.as_array().map(Vec::len), Some(1000));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_reply_over_its_bound_fails_that_rpc_and_a_large_listing_fits() {
    use support::fake_milvus::FakeCollection;
    // GetVersion answering 5 MiB is past the 4 MiB bound of small replies; CheckHealth still
    // answers, so Milvus is up without a version. A ShowCollections reply of 5 MiB is a
    // listing, bounded at 64 MiB, and is read: its 1,000 names of 5,000 bytes are not real
    // Milvus names (at most 255 bytes) and are skipped, the one real name is kept.
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.version = "v".repeat(5 * 1024 * 1024);
        b.collections = (0..1_000)
            .map(|i| FakeCollection::released("default", &format!("{i:0>5000}")))
            .collect();
        b.collections
            .push(FakeCollection::loaded("default", "docs", 7));
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "10s", "")).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert!(
        !m.has_family("milvus_server_info"),
        "no version from a 5 MiB reply"
    );
    assert_eq!(
        m.value("milvus_collections", &[("db_name", "default")]),
        1.0
    );
    assert_eq!(
        m.value(
            "milvus_collection_rows",
            &[("db_name", "default"), ("collection_name", "docs")]
        ),
        7.0
    );
    exporter.stop().await;
}

// ---------------------------------------------------------------------------------------------
// B. Each disk path is measured on its own filesystem.
// ---------------------------------------------------------------------------------------------

#[test]
fn each_disk_path_is_measured_on_its_own_filesystem() {
    use milvus_exporter::checks::SystemSampler;
    let paths = ["/", "/dev/shm", "/nonexistent-adversarial-path"];
    let sampler = SystemSampler::new(paths.iter().map(Into::into).collect()).expect("sampler");
    let facts = sampler.facts();
    assert_eq!(facts.disks.len(), 3);
    for (disk, path) in facts.disks.iter().zip(paths).take(2) {
        assert!(disk.error.is_none(), "{path}: {:?}", disk.error);
        let Ok(st) = rustix::fs::statvfs(path) else {
            continue;
        };
        let total = st.f_blocks * st.f_frsize;
        assert_eq!(disk.total_bytes, total, "{path}: its own filesystem's size");
        let avail = st.f_bavail * st.f_frsize;
        let slack = 64 * 1024 * 1024;
        assert!(
            disk.free_bytes.abs_diff(avail) < slack,
            "{path}: free {} vs statvfs {avail}",
            disk.free_bytes
        );
    }
    if let (Ok(root), Ok(shm)) = (rustix::fs::statvfs("/"), rustix::fs::statvfs("/dev/shm")) {
        if root.f_blocks * root.f_frsize != shm.f_blocks * shm.f_frsize {
            assert_ne!(facts.disks[0].total_bytes, facts.disks[1].total_bytes);
        }
    }
    let missing = &facts.disks[2];
    let err = missing.error.as_deref().unwrap_or_default();
    assert!(
        err.contains("/nonexistent-adversarial-path") && err.contains("No such file"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// C. CPU percent is present from the first snapshot on.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_health_answer_has_a_cpu_figure() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "")).await;
    let body = exporter.get("/health").await.json();
    let cpu = &body["resources"]["cpu_percent"];
    assert!(
        cpu.as_f64().is_some_and(|c| (0.0..=100.0).contains(&c)),
        "cpu_percent in the first answer: {cpu}"
    );
    // The shape comparison the end-to-end tests use no longer takes a null for a figure.
    let null_cpu = serde_json::json!({"resources": {"cpu_percent": null}});
    assert_ne!(
        support::exporter::skeleton(&body["resources"]["cpu_percent"]),
        support::exporter::skeleton(&null_cpu["resources"]["cpu_percent"])
    );
    exporter.stop().await;
}

// ---------------------------------------------------------------------------------------------
// D. Header secrets go only to the configured URL's origin.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_never_carries_the_secret() {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let elsewhere = Hostile::start(|_| Answer::Fixed(b"ok".to_vec())).await;
    let to = elsewhere.url("/stolen");
    let first = Hostile::start(move |path| match path {
        "/same" => Answer::Redirect("/final".into()),
        "/final" => Answer::Fixed(b"ok".to_vec()),
        "/loop" => Answer::Redirect("/loop".into()),
        _ => Answer::Redirect(to.clone()),
    })
    .await;
    let secrets =
        "headers = { Authorization = \"Bearer s3cret-token\", X-Api-Key = \"k3y-s3cret\" }";
    let toml = format!(
        "{}{}{}{}",
        config(
            &fake.url(),
            "3s",
            &format!("metrics_address = \"{}\"", first.url(""))
        ),
        dependency("away", &first.url("/away"), secrets),
        dependency("same", &first.url("/same"), secrets),
        dependency("loop", &first.url("/loop"), secrets),
    );
    let exporter = Exporter::start(&toml).await;
    let body = exporter.get("/readyz").await.json();

    for head in elsewhere.requests() {
        assert!(
            !head.contains("s3cret"),
            "the other origin saw a secret:\n{head}"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "no request goes to another origin"
    );
    let away = body["dependencies"]["away"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        away.contains(&format!(
            "redirect to another origin refused: http://{}",
            elsewhere.addr
        )),
        "{away}"
    );
    assert!(
        body["dependencies"]["same"]["error"].is_null(),
        "a same-origin redirect is followed: {}",
        body["dependencies"]["same"]
    );
    let looped = body["dependencies"]["loop"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(looped.contains("more than 5 redirects"), "{looped}");
    // The secret did reach its own origin, once per hop it was meant for.
    let own = first.requests();
    assert!(own
        .iter()
        .any(|h| h.starts_with("GET /final") && h.contains("k3y-s3cret")));
    // The components client follows no redirect at all.
    assert!(
        reasons(&body).contains("GET /healthz"),
        "{}",
        reasons(&body)
    );
    exporter.stop().await;
}
