//! bcrypt on free paths: `/healthz` never looks at an `Authorization` header, `/readyz` never
//! waits behind another check, every outcome (right or wrong) is remembered per credential,
//! and a flood of bad credentials costs the right user at most one hash time (or a 503 to
//! retry), never a place at the end of a queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine;
use milvus_exporter::server::{ServeOptions, WebConfig};

use super::bodies::{config, heavy};
use super::support::exporter::Exporter;
use super::support::fake_milvus::{FakeMilvus, FakeState};

/// The cost of the test's hash: slow enough in a debug build that a queue of them shows, not
/// so slow that the tests take long (the behaviour does not depend on the cost).
const COST: u32 = 11;

struct Guarded {
    exporter: Exporter,
    web: Arc<ArcSwap<WebConfig>>,
    /// How long one verification of the test's hash takes here.
    hash_time: Duration,
    _fake: FakeMilvus,
    _dir: tempfile::TempDir,
}

impl Guarded {
    /// An exporter with one user (`prometheus` / `right`) and `extra` in the web config.
    async fn start(extra: &str) -> Guarded {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = bcrypt::hash("right", COST).expect("hash");
        let t = Instant::now();
        assert!(bcrypt::verify("wrong", &hash).is_ok());
        let hash_time = t.elapsed();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            format!("basic_auth_users:\n  prometheus: {hash}\n{extra}"),
        )
        .expect("write");
        let web = Arc::new(ArcSwap::from_pointee(
            WebConfig::load(&path).unwrap_or_else(|e| panic!("{e}")),
        ));
        let fake = FakeMilvus::start(FakeState::new()).await;
        let exporter = Exporter::start_with(
            &config(&fake.url(), ""),
            ServeOptions {
                web: Arc::clone(&web),
                ..ServeOptions::default()
            },
        )
        .await;
        Guarded {
            exporter,
            web,
            hash_time,
            _fake: fake,
            _dir: dir,
        }
    }

    fn hashes(&self) -> u64 {
        self.web.load().auth.as_ref().map_or(0, |a| a.hashes())
    }

    async fn get(&self, path: &str, user: Option<(&str, &str)>) -> (u16, Duration, String) {
        let mut headers = Vec::new();
        let value;
        if let Some((u, p)) = user {
            value = basic(u, p);
            headers.push(("authorization", value.as_str()));
        }
        let t = Instant::now();
        let r = self.exporter.get_with(path, &headers).await;
        (r.status, t.elapsed(), r.body)
    }
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// `clients` tasks sending wrong passwords to `url` for `lasting`: each a new guess, or
/// with `same`, one wrong password over and over (a client with a stale secret).
fn flood(url: String, clients: usize, lasting: Duration) -> tokio::task::JoinHandle<u64> {
    flood_of(url, clients, lasting, false)
}

fn flood_of(
    url: String,
    clients: usize,
    lasting: Duration,
    same: bool,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let until = Instant::now() + lasting;
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let url = url.clone();
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .expect("client");
                    let mut sent = 0u64;
                    while Instant::now() < until {
                        let _ = client
                            .get(&url)
                            .header(
                                "authorization",
                                if same {
                                    basic("prometheus", "old-secret")
                                } else {
                                    basic("prometheus", &format!("guess-{c}-{sent}"))
                                },
                            )
                            .send()
                            .await;
                        sent += 1;
                        // A client's pace, not a spin: the load is the other clients'.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    sent
                })
            })
            .collect();
        let mut sent = 0;
        for t in tasks {
            sent += t.await.unwrap_or(0);
        }
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_header_on_healthz_and_readyz_waits_for_no_flood_of_bad_passwords() {
    let _heavy = heavy().await;
    let g = Guarded::start("").await;
    println!("one cost-{COST} hash here: {:?}", g.hash_time);
    let flooding = flood(g.exporter.url_of("/metrics"), 16, Duration::from_secs(5));
    // Let the flood fill the pool first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bound = Duration::from_secs(2);
    for _ in 0..4 {
        let (status, took, body) = g.get("/healthz", Some(("prometheus", "stale"))).await;
        println!("/healthz with a stale header under the flood: {status} in {took:?}");
        assert_eq!((status, body.as_str()), (200, "OK"));
        assert!(
            took < bound,
            "/healthz with a stale header took {took:?} under a flood of bad passwords (one hash: {:?})",
            g.hash_time
        );
        let (status, took, body) = g.get("/readyz", Some(("prometheus", "kubelet-old"))).await;
        println!("/readyz with a stale header under the flood: {status} in {took:?}");
        assert!(matches!(status, 200 | 503), "{status} {body}");
        assert!(
            body.starts_with("{\"status\""),
            "the status only: {body:.200}"
        );
        assert!(
            took < bound + g.hash_time,
            "/readyz with a stale header took {took:?} under a flood (one hash: {:?})",
            g.hash_time
        );
    }
    let sent = flooding.await.expect("flood");
    println!("flood: {sent} requests with wrong passwords");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_never_verifies_and_a_repeated_wrong_password_is_verified_once() {
    let _heavy = heavy().await;
    let g = Guarded::start("").await;
    for _ in 0..20 {
        let (status, _, _) = g.get("/healthz", Some(("prometheus", "stale"))).await;
        assert_eq!(status, 200);
    }
    assert_eq!(g.hashes(), 0, "/healthz verified a header");
    // Fifty at once with the same wrong password: one verification between them.
    let many: Vec<_> = (0..50)
        .map(|_| {
            let url = g.exporter.url_of("/metrics");
            tokio::spawn(async move {
                reqwest::Client::new()
                    .get(url)
                    .header("authorization", basic("prometheus", "wrong"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    for m in many {
        assert_eq!(m.await.expect("task"), 401);
    }
    assert_eq!(
        g.hashes(),
        1,
        "the wrong password was verified more than once"
    );
    // The kubelet's stale header on /readyz: verified at most once, then remembered.
    for _ in 0..10 {
        let (status, _, body) = g.get("/readyz", Some(("prometheus", "kubelet-old"))).await;
        assert!(matches!(status, 200 | 503));
        assert!(body.starts_with("{\"status\""), "{body:.200}");
    }
    assert!(g.hashes() <= 2, "{} hashes", g.hashes());
    // The right password: once, and it opens /readyz's details afterwards without another.
    let (status, _, _) = g.get("/metrics", Some(("prometheus", "right"))).await;
    assert_eq!(status, 200);
    let after = g.hashes();
    for _ in 0..5 {
        let (status, _, body) = g.get("/readyz", Some(("prometheus", "right"))).await;
        assert!(matches!(status, 200 | 503));
        assert!(body.contains("\"dependencies\""), "details: {body:.200}");
        assert_eq!(
            g.get("/metrics", Some(("prometheus", "right"))).await.0,
            200
        );
    }
    assert_eq!(
        g.hashes(),
        after,
        "a remembered password was verified again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_one_stale_secret_costs_the_right_user_at_most_one_hash_time() {
    let _heavy = heavy().await;
    let g = Guarded::start("rate_limit:\n  interval: 1ms\n  burst: 1000\n").await;
    // Fifty clients with the old secret, at /metrics and at /healthz (exempt from the limit).
    let metrics = flood_of(
        g.exporter.url_of("/metrics"),
        40,
        Duration::from_secs(4),
        true,
    );
    let healthz = flood_of(
        g.exporter.url_of("/healthz"),
        10,
        Duration::from_secs(4),
        true,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, took, body) = g.get("/metrics", Some(("prometheus", "right"))).await;
    println!(
        "the right user beside 50 clients with a stale secret: {status} in {took:?} (one hash {:?}, {} hashes in all)",
        g.hash_time,
        g.hashes()
    );
    assert_eq!(status, 200, "{body:.200}");
    assert!(
        took < g.hash_time * 3 + Duration::from_secs(2),
        "the right user's first scrape took {took:?} (one hash: {:?})",
        g.hash_time
    );
    let _ = metrics.await;
    let _ = healthz.await;
    assert_eq!(g.hashes(), 2, "the stale secret once, the right one once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_user_under_a_flood_of_guesses_waits_at_most_about_one_hash_or_is_told_to_retry()
{
    let _heavy = heavy().await;
    // With the rate limit on, as in the report: the flood goes to /healthz (exempt) too.
    let g = Guarded::start("rate_limit:\n  interval: 1ms\n  burst: 1000\n").await;
    let flooding = flood(g.exporter.url_of("/metrics"), 16, Duration::from_secs(5));
    let healthz_flood = flood(g.exporter.url_of("/healthz"), 8, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    let mut statuses = Vec::new();
    let mut worst = Duration::ZERO;
    loop {
        let (status, took, body) = g.get("/metrics", Some(("prometheus", "right"))).await;
        worst = worst.max(took);
        statuses.push(status);
        match status {
            200 => break,
            // Busy workers (503) or the rate limit the flood spent (429): told to retry.
            503 | 429 => assert!(body.contains("retry"), "{body}"),
            other => panic!("the right password got {other}: {body:.200}"),
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{statuses:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "the right user under the flood: {statuses:?}, worst answer {worst:?}, one hash {:?}",
        g.hash_time
    );
    assert!(
        worst < g.hash_time * 3 + Duration::from_secs(2),
        "the right user waited {worst:?} (one hash: {:?})",
        g.hash_time
    );
    // Remembered: the next answers wait for no hash, however the flood goes on. The rate
    // limit comes before any password check and the flood spends it too, so a 429 (told to
    // retry, at once) is the limiter's answer, not a wait on a hash.
    for _ in 0..5 {
        let (status, took, body) = g.get("/metrics", Some(("prometheus", "right"))).await;
        assert!(
            status == 200 || (status == 429 && body.contains("retry")),
            "{status}: {body:.200}"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let _ = flooding.await;
    let _ = healthz_flood.await;
}
