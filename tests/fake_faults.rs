//! Faults a real Milvus will not produce on demand, from the in-process fake: slowness,
//! silence, odd replies, partial failures, and RPC counting for single-flight.

mod support;

use std::time::{Duration, Instant};

use support::exporter::Exporter;
use support::fake_milvus::{Behaviour, FakeCollection, FakeMilvus, FakeState, Fault};

/// The host rules are off (thresholds at 100%): these tests are about Milvus's faults, and a
/// nearly full disk on the machine running them must not turn their "ready" into "not ready".
fn config(url: &str, timeout: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"{timeout}\"\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n{extra}"
    )
}

fn three_collections(b: &mut Behaviour) {
    b.collections = vec![
        FakeCollection::loaded("default", "docs", 100),
        FakeCollection::released("default", "archive"),
        FakeCollection::loading("default", "warming", 40),
    ];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_during_a_slow_refresh_share_one_set_of_rpcs() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        b.delay = Duration::from_millis(800);
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "10s", "")).await;

    let mut tasks = Vec::new();
    for i in 0..64 {
        let url = exporter.url.clone();
        let path = if i % 2 == 0 { "/readyz" } else { "/metrics" };
        tasks.push(tokio::spawn(async move {
            reqwest::get(format!("{url}{path}"))
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }));
    }
    for t in tasks {
        let status = t.await.expect("task");
        assert!(status == 200, "every request answered, got {status}");
    }
    let s = fake.state();
    assert_eq!(s.calls("CheckHealth"), 1, "one refresh for 64 requests");
    assert_eq!(s.calls("GetVersion"), 1);
    assert_eq!(s.calls("ListDatabases"), 1);
    // Two cadences: every collection and its load percentage in two listings (All and
    // InMemory); only the released collection, which Lite-like servers list at 0%, is asked
    // on its own. The first refresh joins the first inventory pass: rows and indexes.
    assert_eq!(s.calls("ShowCollections"), 2);
    assert_eq!(
        s.calls("GetLoadState"),
        1,
        "only the ambiguous 0% collection"
    );
    assert_eq!(s.calls("GetLoadingProgress"), 0, "progress came in bulk");
    assert_eq!(s.calls("GetCollectionStatistics"), 3);
    assert_eq!(s.calls("DescribeIndex"), 3);
    assert_eq!(s.calls("GetMetrics"), 1);
    assert_eq!(s.calls("Connect"), 0, "no handshake per refresh");

    // Within the ttl nothing more is asked.
    let before = s.total_calls();
    for _ in 0..20 {
        assert_eq!(exporter.get("/readyz").await.status, 200);
    }
    assert_eq!(s.total_calls(), before);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milvus_that_never_answers_gives_503_within_the_timeout() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        for rpc in ["CheckHealth", "GetVersion", "ListDatabases"] {
            b.rpc_faults.insert(rpc.to_string(), Fault::Hang);
        }
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "1s", "")).await;
    let started = Instant::now();
    let r = exporter.get("/readyz").await;
    let took = started.elapsed();
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}, timeout is 1s"
    );
    let body = r.json();
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("timed out after 1s"), "{reason}");

    let started = Instant::now();
    let hz = exporter.get("/healthz").await;
    assert_eq!(hz.status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));

    let m = exporter.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.metrics().value("milvus_up", &[]), 0.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_only_and_mismatched_show_collections_replies_are_accepted() {
    // Milvus Lite sends names without ids, which the SDK's list_collections rejects.
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        b.names_only = true;
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "")).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_collections", &[("db_name", "default")]),
        3.0
    );
    let l = |c: &'static str| [("db_name", "default"), ("collection_name", c)];
    assert_eq!(m.value("milvus_collection_rows", &l("docs")), 100.0);
    assert_eq!(m.value("milvus_collection_loaded", &l("archive")), 0.0);
    assert_eq!(
        m.value("milvus_collection_loading_progress_percent", &l("warming")),
        40.0
    );
    exporter.stop().await;

    let odd = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        b.rpc_faults
            .insert("ShowCollections".into(), Fault::MismatchedArrays);
    }))
    .await;
    let exporter = Exporter::start(&config(&odd.url(), "3s", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["dependencies"]["collections"]["total"], 2);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_collection_degrades_only_its_own_facts() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        b.collection_faults.insert(
            "archive".into(),
            Fault::GrpcError(tonic::Code::Internal, "segment meta broken".into()),
        );
        b.quota_states = vec![4]; // DenyToRead
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "")).await;
    let m = exporter.get("/metrics").await.metrics();
    let l = |c: &'static str| [("db_name", "default"), ("collection_name", c)];
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(m.value("milvus_collection_rows", &l("docs")), 100.0);
    assert!(m.get("milvus_collection_rows", &l("archive")).is_none());
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "collections")]),
        0.0
    );
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "milvus")]),
        1.0
    );
    assert_eq!(
        m.value("milvus_quota_state", &[("state", "DenyToRead")]),
        1.0
    );
    let h = exporter.get("/health").await.json();
    let err = h["checks"]["collections"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        err.contains("default.archive") && err.contains("segment meta broken"),
        "{err}"
    );
    exporter.stop().await;
}

/// Wrong and partial answers: each degrades its own check with a clear error, never the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_partial_answers_degrade_only_their_own_check() {
    let l = |c: &'static str| [("db_name", "default"), ("collection_name", c)];

    // CheckHealth fails while listing works: reachable, unhealthy, collections still reported.
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        three_collections(b);
        b.rpc_faults.insert(
            "CheckHealth".into(),
            Fault::GrpcError(tonic::Code::Internal, "health broken".into()),
        );
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "3s", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("CheckHealth could not be asked") && reason.contains("health broken"),
        "{reason}"
    );
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(m.value("milvus_healthy", &[]), 0.0);
    assert_eq!(m.value("milvus_collection_rows", &l("docs")), 100.0);
    exporter.stop().await;

    // One table of single faults: (rpc or collection fault, what the collections check says).
    type Case = (
        &'static str,
        Box<dyn Fn(&mut support::fake_milvus::Behaviour)>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "dropped between list and stats",
            Box::new(|b| {
                b.collection_faults.insert("archive".into(), Fault::Dropped);
            }),
            "collection default.archive",
        ),
        (
            "a reply without row_count",
            Box::new(|b| {
                b.rpc_faults
                    .insert("GetCollectionStatistics".into(), Fault::MissingStatus);
            }),
            "no row_count in the reply",
        ),
        (
            "a non-success status",
            Box::new(|b| {
                b.rpc_faults.insert(
                    "ShowCollections".into(),
                    Fault::StatusError(1, 100, "boom".into()),
                );
            }),
            "ShowCollections: Milvus error 100: boom",
        ),
        (
            "an enormous name",
            Box::new(|b| {
                b.rpc_faults
                    .insert("ShowCollections".into(), Fault::EnormousNames);
            }),
            "skipped 1 collection name(s) longer than 255 bytes",
        ),
        (
            "non-UTF-8 bytes",
            Box::new(|b| {
                b.rpc_faults
                    .insert("ShowCollections".into(), Fault::NonUtf8);
            }),
            "UTF-8",
        ),
    ];
    for (what, fault, expect) in cases {
        let fake = FakeMilvus::start(FakeState::new().with(|b| {
            three_collections(b);
            fault(b);
        }))
        .await;
        let exporter = Exporter::start(&config(&fake.url(), "3s", "")).await;
        let h = exporter.get("/health").await;
        assert_eq!(h.status, 200, "{what}");
        let body = h.json();
        assert_eq!(
            body["checks"]["collections"]["success"], false,
            "{what}: {body}"
        );
        let err = body["checks"]["collections"]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(err.contains(expect), "{what}: {err}");
        assert_eq!(
            body["checks"]["milvus"]["success"], true,
            "{what}: milvus unaffected"
        );
        let m = exporter.get("/metrics").await;
        assert_eq!(m.status, 200, "{what}");
        assert_eq!(m.metrics().value("milvus_up", &[]), 1.0, "{what}");
        exporter.stop().await;
    }

    // 1,000 collections, one hung: the listing reports all of them, the hung one is cut at
    // the deadline with a timeout, and it does not hold back the others (it holds one of the
    // 16 slots). On a busy machine the deadline may also cut some queued collections: whatever
    // is missing must be a timeout, never another failure.
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = (0..1000)
            .map(|i| FakeCollection::loaded("default", &format!("c{i:04}"), i))
            .collect();
        b.collection_faults
            .insert("c0500".into(), Fault::Delay(Duration::from_secs(60)));
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "10s", "")).await;
    let started = Instant::now();
    let h = exporter.get("/health").await.json();
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "bounded by the 10s deadline"
    );
    let cols = h["dependencies"]["collections"]["collections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(cols.len(), 1000);
    let slow = cols.iter().find(|c| c["name"] == "c0500").expect("listed");
    assert!(
        slow["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{slow}"
    );
    let with_rows = cols
        .iter()
        .filter(|c| c["num_entities"].is_number())
        .count();
    let other_errors: Vec<&str> = cols
        .iter()
        .filter_map(|c| c["error"].as_str())
        .filter(|e| !e.contains("timed out"))
        .collect();
    assert!(other_errors.is_empty(), "{other_errors:?}");
    assert!(
        with_rows >= 500,
        "only {with_rows} of 999 reported within 10s"
    );
    eprintln!("1,000 collections, one hung: {with_rows} reported with rows within 10s");
    exporter.stop().await;
}
