//! The two cadences and the nodes check, against the in-process fake Milvus: the health refresh costs Milvus the same RPCs
//! however many collections there are, the per-collection facts come from one inventory pass
//! per interval, nodes are judged from Milvus's own system_info, memory is judged where it
//! matters, index progress is exported and judged, and the cardinality controls hold.

mod support;

use std::time::Duration;

use support::exporter::Exporter;
use support::fake_milvus::{
    fake_index, fake_system_info, Behaviour, FakeCollection, FakeMilvus, FakeState, Fault,
};

/// Health rules off for the host (these tests are about Milvus), no background refresher:
/// each test drives its refreshes itself.
fn config(url: &str, extra_milvus: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"5s\"\n{extra_milvus}\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\ninventory_interval = \"1h\"\n\
         [readiness]\nmemory_percent_max = 90\ndisk_percent_max = 100\n{extra}"
    )
}

/// A Milvus 2.3-like fake (ids and the bulk in-memory reply) with `n` collections, every
/// tenth released.
fn many(n: usize) -> impl FnOnce(&mut Behaviour) {
    move |b| {
        b.names_only = false;
        b.collections = (0..n)
            .map(|i| {
                let name = format!("c_{i:05}");
                if i % 10 == 9 {
                    FakeCollection::released("default", &name)
                } else {
                    FakeCollection::loaded("default", &name, i as u64)
                }
            })
            .collect();
    }
}

async fn refresh(exporter: &Exporter) {
    let caches = exporter.state.caches.load();
    caches.main.refresh().await.expect("a refresh");
}

const PER_COLLECTION: [&str; 5] = [
    "GetLoadState",
    "GetLoadingProgress",
    "GetCollectionStatistics",
    "DescribeIndex",
    "GetReplicas",
];

/// The RPCs of `refreshes` health refreshes after the first (which waits for the first
/// inventory pass): every RPC, and the per-collection ones among them.
async fn health_rpcs(n: usize, refreshes: u64) -> (u64, u64) {
    let fake = FakeMilvus::start(FakeState::new().with(many(n))).await;
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    refresh(&exporter).await;
    let s = fake.state();
    assert_eq!(
        s.calls("GetCollectionStatistics"),
        n as u64,
        "the first refresh joined the first inventory pass"
    );
    s.reset_calls();
    for _ in 0..refreshes {
        refresh(&exporter).await;
    }
    let per_collection = PER_COLLECTION.iter().map(|r| s.calls(r)).sum();
    let total = s.total_calls();
    exporter.stop().await;
    fake.stop().await;
    (total, per_collection)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_refresh_rpcs_do_not_grow_with_the_number_of_collections() {
    let (at_10, per_10) = health_rpcs(10, 5).await;
    let (at_1000, per_1000) = health_rpcs(1000, 5).await;
    assert_eq!(per_10, 0, "no per-collection RPC on the health cadence");
    assert_eq!(per_1000, 0, "no per-collection RPC on the health cadence");
    assert_eq!(
        at_10, at_1000,
        "the same constant at 10 and 1,000 collections"
    );
    // CheckHealth, GetVersion, GetMetrics, ListDatabases, ShowCollections(All) and
    // ShowCollections(InMemory): six per refresh for one database.
    assert_eq!(at_10, 5 * 6, "six RPCs per health refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_come_from_the_inventory_which_is_asked_once_per_interval() {
    let fake = FakeMilvus::start(FakeState::new().with(many(3))).await;
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let m = exporter.get("/metrics").await.metrics();
    let labels = [("db_name", "default"), ("collection_name", "c_00001")];
    assert_eq!(m.value("milvus_collection_rows", &labels), 1.0);
    assert!(m.value("milvus_exporter_inventory_age_seconds", &[]) < 60.0);
    // The rows change; the health refresh does not ask again within the hour.
    fake.state().update(|b| b.collections[1].rows = 77);
    refresh(&exporter).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_collection_rows", &labels), 1.0);
    assert_eq!(fake.state().calls("GetCollectionStatistics"), 3);
    exporter.stop().await;

    // With inventory_interval = 0s every health refresh asks.
    let toml = config(&fake.url(), "", "")
        .replace("inventory_interval = \"1h\"", "inventory_interval = \"0s\"");
    let exporter = Exporter::start(&toml).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_collection_rows", &labels), 77.0);
    fake.state().update(|b| b.collections[1].rows = 78);
    refresh(&exporter).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_collection_rows", &labels), 78.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_states_come_from_the_bulk_reply_on_milvus_23_and_lite() {
    for lite in [false, true] {
        let fake = FakeMilvus::start(FakeState::new().with(|b| {
            b.names_only = lite;
            b.collections = vec![
                FakeCollection::loaded("default", "docs", 100),
                FakeCollection::released("default", "archive"),
                FakeCollection::loading("default", "warming", 40),
            ];
        }))
        .await;
        let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
        let m = exporter.get("/metrics").await.metrics();
        let l = |n| [("db_name", "default"), ("collection_name", n)];
        assert_eq!(m.value("milvus_collection_loaded", &l("docs")), 1.0);
        assert_eq!(m.value("milvus_collection_loaded", &l("archive")), 0.0);
        assert_eq!(
            m.value("milvus_collection_loading_progress_percent", &l("warming")),
            40.0
        );
        // Lite lists a released collection at 0%, which could also be a load just begun:
        // that one is asked on its own; Milvus 2.3 leaves it out of the list, so none is.
        let s = fake.state();
        assert_eq!(s.calls("GetLoadState"), u64::from(lite), "lite = {lite}");
        assert_eq!(s.calls("GetLoadingProgress"), 0);
        exporter.stop().await;
        fake.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_bulk_reply_falls_back_to_one_collection_at_a_time() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(4)(b);
        b.rpc_faults
            .insert("ShowCollections".into(), Fault::MismatchedArrays);
    }))
    .await;
    // The fake's mismatched reply has 2 names, 1 id and 3 percentages: the names are read,
    // the bulk load states are refused, and each collection is asked on its own.
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let h = exporter.get("/health").await.json();
    let cols = h["dependencies"]["collections"]["collections"]
        .as_array()
        .expect("collections")
        .clone();
    assert!(!cols.is_empty(), "{h}");
    assert!(
        fake.state().calls("GetLoadState") >= 1,
        "asked one at a time"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reporting_an_error_fails_readiness_naming_role_id_and_error() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        b.system_info = Some(fake_system_info(
            &[
                ("proxy", 1, false, 1000, 100),
                ("querynode", 5, true, 1000, 100),
            ],
            &[],
        ));
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let j = r.json();
    assert!(
        j["reason"]
            .as_str()
            .is_some_and(|s| s.contains("querynode 5 reports an error: querynode out of memory")),
        "{j}"
    );
    let m = exporter.get("/metrics").await.metrics();
    let node = |role, id| [("role", role), ("node_id", id)];
    assert_eq!(
        m.value("milvus_node_has_error", &node("querynode", "5")),
        1.0
    );
    assert_eq!(m.value("milvus_node_has_error", &node("proxy", "1")), 0.0);
    assert_eq!(
        m.value("milvus_node_memory_bytes", &node("proxy", "1")),
        1000.0
    );
    assert_eq!(
        m.value("milvus_node_memory_used_bytes", &node("proxy", "1")),
        100.0
    );
    assert_eq!(
        m.value("milvus_node_cpu_usage_percent", &node("proxy", "1")),
        12.5
    );
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "nodes")]),
        0.0
    );
    assert_eq!(
        m.value(
            "milvus_node_info",
            &[
                ("role", "proxy"),
                ("node_id", "1"),
                ("version", "v2.3.5-fake"),
                ("deploy_mode", "CLUSTER")
            ]
        ),
        1.0
    );
    // The node recovers: ready again. (Both nodes stay listed: a node that stops being listed
    // fails the rule on its own.)
    fake.state().update(|b| {
        b.system_info = Some(fake_system_info(
            &[
                ("proxy", 1, false, 1000, 100),
                ("querynode", 5, false, 1000, 100),
            ],
            &[],
        ));
    });
    refresh(&exporter).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_judged_on_the_nodes_milvus_reports_and_on_the_host_without_them() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        // 95% used on one query node: above the 90% threshold.
        b.system_info = Some(fake_system_info(
            &[
                ("proxy", 1, false, 1000, 100),
                ("querynode", 7, false, 1000, 950),
            ],
            &[],
        ));
    }))
    .await;
    // A host threshold of 100% could never fail: only the nodes can fail the rule here.
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let j = r.json();
    let reason = j["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains("querynode 7 memory use 95.0% is above 90%"),
        "{reason}"
    );
    let h = exporter.get("/health").await.json();
    assert_eq!(h["resources"]["memory_source"], "milvus", "{h}");
    assert_eq!(h["resources"]["nodes"][1]["role"], "querynode", "{h}");
    assert_eq!(h["resources"]["nodes"][1]["memory_percent"], 95.0, "{h}");
    exporter.stop().await;

    // Without GetMetrics (Milvus Lite) the host is judged, and the nodes rule is excluded
    // with the reason in the nodes section.
    fake.state().update(|b| b.system_info = None);
    let toml =
        config(&fake.url(), "", "").replace("memory_percent_max = 90", "memory_percent_max = 100");
    let exporter = Exporter::start(&toml).await;
    let r = exporter.get("/readyz?verbose").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("[+]nodes excluded"), "{}", r.body);
    let h = exporter.get("/health").await.json();
    assert_eq!(h["resources"]["memory_source"], "host", "{h}");
    assert_eq!(h["nodes"]["status"], "unavailable", "{h}");
    assert!(
        h["nodes"]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("GetMetrics: Unimplemented")),
        "{h}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_index_on_a_required_collection_fails_the_collections_rule_with_its_reason() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(3)(b);
        b.indexes.insert(
            "c_00000".into(),
            vec![fake_index("vec_idx", 0, 100, 100, 4)],
        );
        b.indexes.insert(
            "c_00001".into(),
            vec![fake_index("vec_idx", 60, 100, 40, 2)],
        );
    }))
    .await;
    let extra = "required_collections = [\"c_00000\"]\n";
    let exporter = Exporter::start(&config(&fake.url(), "", extra)).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("required collection default.c_00000: index vec_idx failed: index build failed: out of disk"),
        "{}",
        r.body
    );
    let m = exporter.get("/metrics").await.metrics();
    let l = |c| {
        [
            ("db_name", "default"),
            ("collection_name", c),
            ("index_name", "vec_idx"),
        ]
    };
    assert_eq!(
        m.value("milvus_collection_indexed_rows", &l("c_00001")),
        60.0
    );
    assert_eq!(
        m.value("milvus_collection_index_pending_rows", &l("c_00001")),
        40.0
    );
    let state = |c, s| {
        [
            ("db_name", "default"),
            ("collection_name", c),
            ("index_name", "vec_idx"),
            ("state", s),
        ]
    };
    assert_eq!(
        m.value("milvus_collection_index_state", &state("c_00000", "Failed")),
        1.0
    );
    assert_eq!(
        m.value(
            "milvus_collection_index_state",
            &state("c_00001", "InProgress")
        ),
        1.0
    );
    // A collection without an index has none, and that is no error.
    assert!(m
        .get("milvus_collection_indexed_rows", &l("c_00002"))
        .is_none());
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "collections")]),
        1.0
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binlog_bytes_are_mapped_from_collection_ids_to_names() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        // The fake's collection ids are 1000 + position.
        b.system_info = Some(fake_system_info(
            &[("datacoord", 3, false, 1000, 100)],
            &[(1000, 8318), (1001, 0), (99_999, 5)],
        ));
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let m = exporter.get("/metrics").await.metrics();
    let l = |c| [("db_name", "default"), ("collection_name", c)];
    assert_eq!(
        m.value("milvus_collection_binlog_bytes", &l("c_00000")),
        8318.0
    );
    assert_eq!(
        m.value("milvus_collection_binlog_bytes", &l("c_00001")),
        0.0
    );
    let binlog_series =
        m.0.keys()
            .filter(|k| k.starts_with("milvus_collection_binlog_bytes"))
            .count();
    assert_eq!(
        binlog_series, 2,
        "an id no listed collection has gets no series"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_the_limit_cap_the_series_but_never_required_or_probed_collections() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(50)(b);
        b.collections
            .push(FakeCollection::loaded("default", "tmp_scratch", 1));
    }))
    .await;
    let milvus = "max_collections = 10\n[milvus.collections]\nexclude = [\"default\\\\.tmp_.*\"]\n";
    let extra = "required_collections = [\"c_00040\"]\n\
                 [[readiness.probes]]\ncollection = \"c_00041\"\nkind = \"query\"\n";
    let exporter = Exporter::start(&config(&fake.url(), milvus, extra)).await;
    let m = exporter.get("/metrics").await.metrics();
    let loaded: Vec<&String> =
        m.0.keys()
            .filter(|k| k.starts_with("milvus_collection_loaded{"))
            .collect();
    assert_eq!(
        loaded.len(),
        12,
        "10 under the limit + the required + the probed: {loaded:?}"
    );
    let l = |c| [("db_name", "default"), ("collection_name", c)];
    assert!(m.get("milvus_collection_loaded", &l("c_00040")).is_some());
    assert!(m.get("milvus_collection_loaded", &l("c_00041")).is_some());
    assert!(m.get("milvus_collection_loaded", &l("c_00009")).is_some());
    assert!(m.get("milvus_collection_loaded", &l("c_00010")).is_none());
    assert!(m
        .get("milvus_collection_loaded", &l("tmp_scratch"))
        .is_none());
    assert_eq!(
        m.value(
            "milvus_exporter_collections_skipped",
            &[("reason", "filtered")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "milvus_exporter_collections_skipped",
            &[("reason", "limit")]
        ),
        38.0
    );
    // The database still counts every collection it has.
    assert_eq!(
        m.value("milvus_collections", &[("db_name", "default")]),
        51.0
    );
    // The inventory asks only about the kept collections.
    assert_eq!(fake.state().calls("GetCollectionStatistics"), 12);
    assert_eq!(exporter.get("/readyz").await.status, 200);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enormous_system_info_is_a_bounded_clear_error() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        // 10 MB of JSON: past the 4 MiB reply bound.
        let node = r#"{"infos":{"type":"querynode","id":1,"name":"PAD"}}"#
            .replace("PAD", &"x".repeat(10 * 1024 * 1024));
        b.system_info = Some(format!(r#"{{"nodes_info":[{node}]}}"#));
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.starts_with("Milvus node health unknown: GetMetrics"),
        "{reason}"
    );
    assert!(reason.len() < 600, "one bounded line: {reason}");
    // Everything else is still reported.
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "nodes")]),
        0.0
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_inventory_never_holds_up_the_health_refresh_after_the_first() {
    let fake = FakeMilvus::start(FakeState::new().with(many(3))).await;
    let toml = config(&fake.url(), "", "")
        .replace("inventory_interval = \"1h\"", "inventory_interval = \"1s\"");
    let exporter = Exporter::start(&toml).await;
    refresh(&exporter).await;
    // Let the first inventory age past its interval, so the next refresh starts a pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // From now on every per-collection RPC hangs; the health RPCs answer.
    fake.state().update(|b| {
        b.rpc_faults
            .insert("GetCollectionStatistics".into(), Fault::Hang);
        b.rpc_faults.insert("DescribeIndex".into(), Fault::Hang);
    });
    let started = std::time::Instant::now();
    for _ in 0..3 {
        refresh(&exporter).await;
    }
    // Each RPC of the hung pass waits out the 5 s timeout; a health refresh that waited on
    // it would take at least that long.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "health refreshes waited on the inventory: {:?}",
        started.elapsed()
    );
    assert!(
        fake.state().calls("GetCollectionStatistics") > 3,
        "a second pass was started"
    );
    let m = exporter.get("/metrics").await.metrics();
    let l = [("db_name", "default"), ("collection_name", "c_00001")];
    assert_eq!(
        m.value("milvus_collection_rows", &l),
        1.0,
        "the last inventory is kept"
    );
    exporter.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_stops_the_old_configurations_inventory_pass() {
    // 64 collections, 4 at a time, every row count hanging to the 10 s RPC timeout: a pass left
    // running after a reload would keep 4 RPCs in flight for many seconds.
    let fake = FakeMilvus::start(FakeState::new().with(many(64))).await;
    let toml = config(&fake.url(), "max_concurrency = 4\n", "")
        .replace("timeout = \"5s\"", "timeout = \"10s\"")
        .replace("inventory_interval = \"1h\"", "inventory_interval = \"1s\"");
    let exporter = Exporter::start(&toml).await;
    refresh(&exporter).await;
    fake.state().update(|b| {
        b.rpc_faults
            .insert("GetCollectionStatistics".into(), Fault::Hang);
    });
    tokio::time::sleep(Duration::from_millis(1100)).await;
    refresh(&exporter).await; // starts a background pass, which hangs
    support::exporter::eventually(Duration::from_secs(5), "the pass is under way", || async {
        fake.state().in_flight() >= 4
    })
    .await;
    // The new configuration asks one collection at a time with a 1 s timeout: its own first
    // pass holds at most one RPC, for at most a second. Four in flight can only be the old one.
    let new = toml
        .replace("max_concurrency = 4", "max_concurrency = 1")
        .replace("timeout = \"10s\"", "timeout = \"1s\"");
    std::fs::write(exporter.config_path(), new).expect("rewrite the config");
    exporter.reload().await.expect("reload");
    support::exporter::eventually(
        Duration::from_secs(4),
        "the old configuration's pass stopped (fewer than 2 RPCs in flight)",
        || async { fake.state().in_flight() < 2 },
    )
    .await;
    exporter.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_collection_that_keeps_failing_is_retried_alone_not_with_a_full_pass() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(200)(b);
        b.collection_faults.insert(
            "c_00007".into(),
            Fault::StatusError(1, 1, "permission denied".into()),
        );
    }))
    .await;
    // A 20 s interval: the failed collection is asked again after 2 s, the others after 20.
    let toml = config(&fake.url(), "", "").replace(
        "inventory_interval = \"1h\"",
        "inventory_interval = \"20s\"",
    );
    let exporter = Exporter::start(&toml).await;
    exporter.get("/metrics").await; // the first refresh, whenever it started
    let s = fake.state();
    assert_eq!(s.calls("GetCollectionStatistics"), 200, "the first pass");
    s.reset_calls();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refresh(&exporter).await;
    support::exporter::eventually(Duration::from_secs(5), "the retry ran", || async {
        s.calls("DescribeIndex") >= 1 && s.in_flight() == 0
    })
    .await;
    assert_eq!(
        s.calls("GetCollectionStatistics"),
        1,
        "only the failing collection"
    );
    assert_eq!(s.calls("DescribeIndex"), 1);
    let m = exporter.get("/metrics").await.metrics();
    let l = [("db_name", "default"), ("collection_name", "c_00008")];
    assert_eq!(
        m.value("milvus_collection_rows", &l),
        8.0,
        "the others are kept"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_in_memory_listing_leaves_load_states_unknown_without_asking_each_collection() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(300)(b);
        b.in_memory_error = Some("querycoord not ready".into());
    }))
    .await;
    let extra = "required_collections = [\"c_00001\"]\n";
    let exporter = Exporter::start(&config(&fake.url(), "", extra)).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body.contains("load state unknown") && r.body.contains("querycoord not ready"),
        "{}",
        r.body
    );
    let s = fake.state();
    assert_eq!(
        s.calls("GetLoadState"),
        0,
        "no per-collection fallback on an error"
    );
    assert_eq!(s.calls("GetLoadingProgress"), 0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_missing_from_one_listing_keeps_its_rows_through_the_next_pass() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        b.databases = vec!["default".into(), "kb".into()];
        b.collections
            .push(FakeCollection::loaded("kb", "articles", 42));
    }))
    .await;
    let toml = config(&fake.url(), "databases = [\"default\", \"kb\"]\n", "")
        .replace("inventory_interval = \"1h\"", "inventory_interval = \"1s\"");
    let exporter = Exporter::start(&toml).await;
    let l = [("db_name", "kb"), ("collection_name", "articles")];
    assert_eq!(
        exporter
            .get("/metrics")
            .await
            .metrics()
            .value("milvus_collection_rows", &l),
        42.0
    );
    // For one refresh kb cannot be listed; that refresh starts the next full pass.
    let s = fake.state();
    s.update(|b| b.databases = vec!["default".into()]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.reset_calls();
    refresh(&exporter).await;
    support::exporter::eventually(
        Duration::from_secs(5),
        "the pass without kb ran",
        || async { s.calls("DescribeIndex") >= 2 && s.in_flight() == 0 },
    )
    .await;
    assert_eq!(
        s.calls("GetCollectionStatistics"),
        2,
        "kb.articles was not asked"
    );
    s.update(|b| b.databases = vec!["default".into(), "kb".into()]);
    refresh(&exporter).await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(
        m.value("milvus_collection_rows", &l),
        42.0,
        "carried over, not vanished"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_naming_more_databases_than_are_read_fails_the_check_and_lists_none() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.names_only = false;
        b.databases = (0..1100).map(|i| format!("db_{i:04}")).collect();
    }))
    .await;
    let exporter = Exporter::start(&config(&fake.url(), "max_concurrency = 4\n", "")).await;
    let m = exporter.get("/metrics").await.metrics(); // the first refresh, whenever it started
    let s = fake.state();
    // Past 1,024 databases the listing is refused before any database is read: a partial
    // view of a cluster would be a quiet lie, so the check fails and says what to do.
    assert_eq!(s.calls("ShowCollections"), 0, "no database listed");
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "collections")]),
        0.0
    );
    let h = exporter.get("/health").await;
    assert!(
        h.body
            .contains("name the ones to watch in milvus.databases"),
        "{}",
        h.body
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_system_info_fails_memory_is_not_judged_on_another_machine_instead() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        many(2)(b);
        b.system_info = Some(fake_system_info(&[("querynode", 1, false, 1000, 100)], &[]));
        b.rpc_faults.insert(
            "GetMetrics".into(),
            Fault::GrpcError(tonic::Code::Internal, "metrics collector crashed".into()),
        );
    }))
    .await;
    // A host threshold of 0% would fail on any host: only "not judged" passes it.
    let toml =
        config(&fake.url(), "", "").replace("memory_percent_max = 90", "memory_percent_max = 0");
    let exporter = Exporter::start(&toml).await;
    let h = exporter.get("/health").await.json();
    assert_eq!(h["rules"]["nodes"], "fail", "{h}");
    assert_eq!(h["rules"]["memory"], "pass", "{h}");
    assert_eq!(h["resources"]["memory_source"], "unknown", "{h}");
    exporter.stop().await;
}
