//! Every Milvus release line operators run (2.3, 2.4, 2.5, 2.6), as a standalone and as a
//! cluster, against the fake's recorded-reply profiles (tests/support/fake_profiles.rs):
//! a healthy server of each is ready with every check succeeding, each fault gives the right
//! verdict and reason on the lines where it occurs, no label churns, quota on 2.4+ goes red
//! and back, and a health refresh costs the same at 10 and 10,000 collections.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::exporter::{eventually, Exporter};
use support::fake_milvus::{
    FakeCollection, FakeMilvus, FakeState, Layout, Line, Profile, ProfileFaults,
};

/// Every line and layout.
fn profiles() -> Vec<Profile> {
    Line::ALL
        .iter()
        .flat_map(|l| Layout::ALL.iter().map(|lay| Profile::new(*l, *lay)))
        .collect()
}

fn name(p: &Profile) -> String {
    format!("{} {}", p.line.name(), p.layout.name())
}

fn collections(n: usize) -> impl FnOnce(&mut support::fake_milvus::Behaviour) {
    move |b| {
        b.collections = (0..n)
            .map(|i| FakeCollection::loaded("default", &format!("c_{i:05}"), i as u64))
            .collect();
    }
}

/// The exporter's configuration for `fake`: the keys an operator writes (address, metrics
/// port, and a cluster's coordinator metrics port), host rules out of the way, no background
/// refresher.
fn config(fake: &FakeMilvus, extra_milvus: &str, readiness: &str) -> String {
    format!(
        "[milvus]\n{}timeout = \"5s\"\n{extra_milvus}\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\ninventory_interval = \"1h\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n{readiness}",
        fake.milvus_toml()
    )
}

async fn start(profile: Profile, n: usize) -> FakeMilvus {
    FakeMilvus::start_profile(profile, FakeState::new().with(collections(n))).await
}

async fn refresh(exporter: &Exporter) {
    let caches = exporter.state.caches.load();
    caches.main.refresh().await.expect("a refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_server_of_every_line_and_layout_is_ready_with_every_check_succeeding() {
    for profile in profiles() {
        let what = name(&profile);
        let fake = start(profile.clone(), 3).await;
        let exporter = Exporter::start(&config(&fake, "", "")).await;
        let r = exporter.get("/readyz?verbose").await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        let h = exporter.get("/health").await.json();
        let checks = h["checks"].as_object().expect("checks");
        for (check, c) in checks {
            assert_eq!(c["success"], true, "{what}: {check}: {c}");
        }
        for check in ["milvus", "collections", "nodes", "components"] {
            assert!(
                checks.contains_key(check),
                "{what}: {check} ran: {checks:?}"
            );
        }
        let milvus = &h["dependencies"]["milvus"];
        assert_eq!(
            milvus["release_line"],
            profile.line.name(),
            "{what}: {milvus}"
        );
        assert_eq!(milvus["quota"]["status"], "ok", "{what}: {milvus}");
        assert_eq!(h["nodes"]["status"], "ok", "{what}: {}", h["nodes"]);
        let m = exporter.get("/metrics").await.metrics();
        assert_eq!(m.value("milvus_quota_known", &[]), 1.0, "{what}");
        assert_eq!(
            m.value("milvus_readiness_check", &[("check", "quota")]),
            1.0,
            "{what}"
        );
        // Disks are exported where the line measures them (2.5+), never the 2.3/2.4 constant.
        let disks =
            m.0.keys()
                .filter(|k| k.starts_with("milvus_node_disk_bytes{"))
                .count();
        match profile.line {
            Line::V23 | Line::V24 => assert_eq!(disks, 0, "{what}: placeholders"),
            Line::V25 | Line::V26 => assert!(disks > 0, "{what}: decimal GB read"),
        }
        if let Some(v) =
            m.0.iter()
                .find(|(k, _)| k.starts_with("milvus_node_disk_bytes{"))
        {
            assert_eq!(*v.1, 105_089_261_568.0, "{what}: {}", v.0);
        }
        exporter.stop().await;
        fake.stop().await;
    }
}

/// One fault on one line: its verdict after a healthy first refresh.
async fn with_fault(
    profile: &Profile,
    readiness: &str,
    fault: impl FnOnce(&mut ProfileFaults),
) -> (u16, String, serde_json::Value) {
    let fake = start(profile.clone(), 3).await;
    let exporter = Exporter::start(&config(&fake, "", readiness)).await;
    assert_eq!(
        exporter.get("/readyz").await.status,
        200,
        "{}",
        name(profile)
    );
    fake.state().faults(fault);
    refresh(&exporter).await;
    let r = exporter.get("/readyz?verbose").await;
    let h = exporter.get("/health").await.json();
    exporter.stop().await;
    fake.stop().await;
    (r.status, r.body, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_query_node_fails_the_nodes_rule_on_every_line_though_check_health_may_not_say() {
    for profile in profiles() {
        let what = name(&profile);
        let (status, body, h) = with_fault(&profile, "", |f| f.dead_querynode = true).await;
        assert_eq!(status, 503, "{what}: {body}");
        let id = match (profile.line, profile.layout) {
            (_, Layout::Standalone) => {
                if profile.line == Line::V26 {
                    "3"
                } else {
                    "7"
                }
            }
            (Line::V26, Layout::Cluster) => "6",
            (_, Layout::Cluster) => "8",
        };
        let want = format!("querynode {id} stopped reporting (last seen");
        assert!(body.contains(&want), "{what}: {want} in {body}");
        assert!(body.contains("[-]nodes failed"), "{what}: {body}");
        assert_eq!(h["nodes"]["missing"][0]["role"], "querynode", "{what}: {h}");
        // CheckHealth itself stays healthy except where 2.4.18+ asks the query nodes.
        let milvus_fails = body.contains("[-]milvus failed");
        assert_eq!(milvus_fails, profile.line == Line::V24, "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_26_query_or_streaming_node_fails_the_nodes_rule_while_milvus_says_healthy() {
    for dead in ["querynode 6", "streamingnode 7"] {
        let profile = Profile::new(Line::V26, Layout::Cluster);
        let (status, body, h) = with_fault(&profile, "", |f| {
            f.dead_querynode = dead.starts_with("query");
            f.dead_streamingnode = dead.starts_with("streaming");
        })
        .await;
        assert_eq!(status, 503, "{dead}: {body}");
        assert!(
            body.contains(&format!("{dead} stopped reporting")),
            "{body}"
        );
        assert!(
            body.contains("[+]milvus ok"),
            "2.6 CheckHealth asks rootcoord alone: {body}"
        );
        assert_eq!(h["dependencies"]["milvus"]["status"], "healthy", "{h}");
        assert_eq!(h["rules"]["nodes"], "fail", "{h}");
        assert_eq!(h["rules"]["milvus"], "pass", "{h}");
        let reason = h["reasons"][0].as_str().unwrap_or_default().to_string();
        assert!(
            reason.contains(dead),
            "the nodes rule is the reason: {reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_data_node_fails_the_nodes_rule_with_milvus_reason_on_every_line() {
    for profile in profiles() {
        let what = name(&profile);
        let (status, body, h) = with_fault(&profile, "", |f| f.failed_datanode = true).await;
        assert_eq!(status, 503, "{what}: {body}");
        assert!(
            body.contains("datanode unreachable-1 reports an error: rpc error: code = Unavailable"),
            "{what}: {body}"
        );
        let nodes = h["nodes"]["nodes"].as_array().expect("nodes").clone();
        let p = nodes
            .iter()
            .find(|n| n["placeholder"] == "unreachable-1")
            .unwrap_or_else(|| panic!("{what}: {nodes:?}"));
        assert_eq!(p["role"], "datanode", "{what}: {p}");
        // CheckHealth names it on 2.3-2.5 (a JSON document on 2.4.18+, made readable), never on
        // 2.6.
        let milvus_fails = body.contains("[-]milvus failed");
        assert_eq!(milvus_fails, profile.line != Line::V26, "{what}: {body}");
        assert!(!body.contains("unhealthy_cluster_msgs"), "{what}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_reasons_of_24_and_repeated_reasons_of_25_and_26_read_as_one_line_each() {
    let profile = Profile::new(Line::V24, Layout::Cluster);
    let (status, _, h) = with_fault(&profile, "", |f| f.json_reasons = true).await;
    assert_eq!(status, 503);
    let error = h["dependencies"]["milvus"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("querynode 8: CheckHealth fails for querynode:8, rpc error")
            && error.contains("(Fatal)")
            && error.contains("datanode 9: CheckHealth fails for datanode:9")
            && error.contains(
                "collection 455932870893158415 (database 0): collection not fully loaded"
            ),
        "{error}"
    );
    assert!(!error.contains('{'), "no JSON pasted: {error}");
    for line in [Line::V25, Line::V26] {
        for layout in Layout::ALL {
            let profile = Profile::new(line, layout);
            let (status, _, h) = with_fault(&profile, "", |f| f.repeated_reasons = true).await;
            assert_eq!(status, 503, "{}", name(&profile));
            let error = h["dependencies"]["milvus"]["error"]
                .as_str()
                .unwrap_or_default();
            assert_eq!(
                error.matches("max timetick lag execced threhold").count(),
                1,
                "{}: {error}",
                name(&profile)
            );
            assert!(error.ends_with("(reported 2 times)"), "{error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_component_fails_the_components_rule_naming_it_on_every_line() {
    for profile in profiles() {
        let what = name(&profile);
        let (status, body, _) = with_fault(&profile, "", |f| f.unhealthy_component = true).await;
        assert_eq!(status, 503, "{what}: {body}");
        let bad = match (profile.layout, profile.line) {
            (Layout::Cluster, _) => "proxy",
            (Layout::Standalone, Line::V26) => "streamingnode",
            (Layout::Standalone, _) => "querynode",
        };
        assert!(
            body.contains(&format!("component {bad} is Abnormal")),
            "{what}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_goes_red_and_back_to_green_on_every_line() {
    for profile in profiles() {
        let what = name(&profile);
        let fake = start(profile.clone(), 3).await;
        let toml = config(&fake, "", "quota_states_not_ready = [\"DenyToWrite\"]\n");
        let exporter = Exporter::start(&toml).await;
        assert_eq!(exporter.get("/readyz").await.status, 200, "{what}");
        fake.state().faults(|f| f.quota_denied = true);
        refresh(&exporter).await;
        let r = exporter.get("/readyz").await;
        assert_eq!(r.status, 503, "{what}: {}", r.body);
        assert!(
            r.body.contains("Milvus quota state DenyToWrite is active"),
            "{what}: {}",
            r.body
        );
        let m = exporter.get("/metrics").await.metrics();
        let deny = [("state", "DenyToWrite")];
        assert_eq!(m.value("milvus_quota_state", &deny), 1.0, "{what}");
        if profile.line != Line::V23 {
            assert!(
                r.body.contains("DiskQuotaExhausted on cluster"),
                "{what}: the cause and scope: {}",
                r.body
            );
            let cause = [
                ("cause", "MemoryQuotaExhausted"),
                ("scope", "collection_book"),
            ];
            assert_eq!(m.value("milvus_quota_cause", &cause), 1.0, "{what}");
        }
        // The quota center resets its family every tick: cleared, it is gone, and so is the
        // state.
        fake.state().faults(|f| f.quota_denied = false);
        refresh(&exporter).await;
        assert_eq!(exporter.get("/readyz").await.status, 200, "{what}");
        let m = exporter.get("/metrics").await.metrics();
        assert!(m.get("milvus_quota_state", &deny).is_none(), "{what}");
        assert!(!m.has_family("milvus_quota_cause"), "{what}");
        exporter.stop().await;
        fake.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_quota_centers_page_quota_is_unknown_on_24_and_later_never_fine() {
    for line in Line::ALL {
        let profile = Profile::new(line, Layout::Cluster);
        let fake = start(profile.clone(), 2).await;
        fake.state().faults(|f| f.quota_denied = true);
        // The operator gave the proxy pod's metrics port only.
        let toml = config(&fake, "", "quota_states_not_ready = [\"DenyToWrite\"]\n")
            .lines()
            .filter(|l| !l.starts_with("quota_metrics_address"))
            .collect::<Vec<_>>()
            .join("\n");
        let exporter = Exporter::start(&toml).await;
        let h = exporter.get("/health").await.json();
        let quota = &h["dependencies"]["milvus"]["quota"];
        let m = exporter.get("/metrics").await.metrics();
        if line == Line::V23 {
            // CheckHealth still says on 2.3.
            assert_eq!(quota["status"], "active", "{quota}");
            assert_eq!(m.value("milvus_quota_known", &[]), 1.0);
        } else {
            assert_eq!(quota["status"], "unknown", "{}: {quota}", line.name());
            assert!(
                quota["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("milvus.quota_metrics_address")),
                "{quota}"
            );
            assert_eq!(m.value("milvus_quota_known", &[]), 0.0);
            assert!(
                m.get("milvus_readiness_check", &[("check", "quota")])
                    .is_none(),
                "unknown is not a pass: {}",
                line.name()
            );
        }
        exporter.stop().await;
        fake.stop().await;
    }
}

/// Every series name and label set of one scrape.
async fn series(exporter: &Exporter) -> BTreeSet<String> {
    exporter
        .get("/metrics")
        .await
        .metrics()
        .0
        .into_keys()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_label_churns_over_ten_refreshes_even_with_a_failed_data_nodes_placeholder() {
    for failed in [false, true] {
        for profile in profiles() {
            let what = format!("{} failed_datanode={failed}", name(&profile));
            let fake = start(profile.clone(), 3).await;
            fake.state().faults(|f| f.failed_datanode = failed);
            let exporter = Exporter::start(&config(&fake, "", "")).await;
            let first = series(&exporter).await;
            for _ in 0..10 {
                refresh(&exporter).await;
                let now = series(&exporter).await;
                let appeared: Vec<_> = now.difference(&first).collect();
                let vanished: Vec<_> = first.difference(&now).collect();
                assert!(
                    appeared.is_empty() && vanished.is_empty(),
                    "{what}: appeared {appeared:?}, vanished {vanished:?}"
                );
            }
            exporter.stop().await;
            fake.stop().await;
        }
    }
}

/// The RPCs and HTTP GETs of five health refreshes after the first (which waits for the first
/// inventory pass), per kind: health-cadence RPCs, per-collection RPCs, HTTP GETs.
async fn cost(profile: &Profile, n: usize) -> (u64, u64, u64) {
    let fake = start(profile.clone(), n).await;
    // The first refresh waits for the first inventory pass only up to its deadline; on a
    // loaded machine 10,000 collections' pass once outlasted 5 s, was cut, and one of its
    // RPCs reached the fake after the counters were reset. With a deadline no pass here
    // nears, the pass is whole before anything is counted.
    let toml =
        config(&fake, "max_concurrency = 64", "").replace("timeout = \"5s\"", "timeout = \"60s\"");
    assert!(toml.contains("timeout = \"60s\""), "{toml}");
    let exporter = Exporter::start(&toml).await;
    refresh(&exporter).await;
    let s = fake.state();
    s.reset_calls();
    for _ in 0..5 {
        refresh(&exporter).await;
    }
    let per_collection: u64 = [
        "GetLoadState",
        "GetLoadingProgress",
        "GetCollectionStatistics",
        "DescribeIndex",
        "DescribeCollection",
        "GetReplicas",
    ]
    .iter()
    .map(|r| s.calls(r))
    .sum();
    let out = (
        s.total_calls() - per_collection,
        per_collection,
        s.total_http_gets(),
    );
    exporter.stop().await;
    fake.stop().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_refresh_costs_the_same_at_10_and_10000_collections_on_every_profile() {
    for profile in profiles() {
        let what = name(&profile);
        let small = cost(&profile, 10).await;
        let large = cost(&profile, 10_000).await;
        assert_eq!(
            small, large,
            "{what}: (health RPCs, per-collection RPCs, HTTP GETs)"
        );
        assert_eq!(
            small.1, 0,
            "{what}: no per-collection RPC on the health cadence"
        );
        // CheckHealth, GetVersion, GetMetrics, ListDatabases, ShowCollections twice.
        assert_eq!(small.0, 5 * 6, "{what}");
        // /healthz, and /metrics once for quota: one extra GET a refresh, at most.
        assert_eq!(small.2, 5 * 2, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_node_is_forgotten_after_the_grace_so_a_scale_down_heals() {
    let profile = Profile::new(Line::V25, Layout::Cluster);
    let fake = start(profile, 2).await;
    let exporter = Exporter::start(&config(&fake, "", "node_grace = \"2s\"\n")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    fake.state().faults(|f| f.dead_querynode = true);
    refresh(&exporter).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let m = exporter.get("/metrics").await.metrics();
    let gone = [("role", "querynode"), ("node_id", "8")];
    assert_eq!(m.value("milvus_node_missing", &gone), 1.0);
    eventually(Duration::from_secs(20), "the scale-down heals", || async {
        refresh(&exporter).await;
        exporter.get("/readyz").await.status == 200
    })
    .await;
    let m = exporter.get("/metrics").await.metrics();
    assert!(!m.has_family("milvus_node_missing"));
    exporter.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_below_its_minimum_fails_the_nodes_rule() {
    let profile = Profile::new(Line::V26, Layout::Cluster);
    let fake = start(profile, 2).await;
    let readiness =
        "node_grace = \"0s\"\n[readiness.min_nodes]\nquerynode = 1\nstreamingnode = 1\n";
    let exporter = Exporter::start(&config(&fake, "", readiness)).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    fake.state().faults(|f| f.dead_streamingnode = true);
    refresh(&exporter).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("0 streamingnode reporting without an error; readiness.min_nodes wants 1"),
        "{}",
        r.body
    );
    exporter.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_collection_no_replica_can_serve_fails_the_collections_rule() {
    let profile = Profile::new(Line::V24, Layout::Standalone);
    let fake = start(profile, 3).await;
    fake.state().update(|b| b.unserved = vec!["c_00001".into()]);
    let exporter = Exporter::start(&config(&fake, "", "")).await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("no replica can serve loaded collection(s) default.c_00001"),
        "{}",
        r.body
    );
    exporter.stop().await;
    // Only the collections that matter count when some are named.
    let exporter =
        Exporter::start(&config(&fake, "", "required_collections = [\"c_00000\"]\n")).await;
    assert_eq!(exporter.get("/readyz").await.status, 200);
    exporter.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fakes_healthz_answers_json_only_to_a_json_content_type_and_counts_gets() {
    let fake = start(Profile::new(Line::V26, Layout::Standalone), 1).await;
    fake.state().faults(|f| f.unhealthy_component = true);
    let url = format!("{}/healthz", fake.metrics_url().expect("metrics port"));
    let client = reqwest::Client::new();
    let text = client.get(&url).send().await.expect("get");
    assert_eq!(text.status().as_u16(), 500);
    assert_eq!(
        text.text().await.expect("body"),
        "Not all components are healthy, 4/5"
    );
    let json = client
        .get(&url)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("get");
    let v: serde_json::Value = json.json().await.expect("json");
    assert_eq!(v["detail"][4]["name"], "streamingnode");
    assert_eq!(v["detail"][4]["code"], 2);
    assert_eq!(fake.state().http_gets("/healthz"), 2);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_25_server_passes_the_nodes_check_with_its_disk_in_bytes() {
    let fake = start(Profile::new(Line::V25, Layout::Standalone), 2).await;
    let exporter = Exporter::start(&config(&fake, "", "")).await;
    let h = exporter.get("/health").await.json();
    assert_eq!(
        h["checks"]["nodes"]["success"], true,
        "{}",
        h["checks"]["nodes"]
    );
    let m = exporter.get("/metrics").await.metrics();
    let qn = [("role", "querynode"), ("node_id", "7")];
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "nodes")]),
        1.0
    );
    // 105.089261568 decimal GB, as 2.5 reports localStorage.path.
    assert_eq!(m.value("milvus_node_disk_bytes", &qn), 105_089_261_568.0);
    exporter.stop().await;
    fake.stop().await;
}

/// A quota address whose `/metrics` never ends: the read stops at its bound, the quota rule
/// fails naming it, and the refresh still ends within the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_quota_page_is_cut_at_its_bound_and_fails_the_quota_rule() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        // Bounded: at most a few connections, each at most 256 MiB.
        for _ in 0..4 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = "milvus_proxy_req_count{collection_name=\"c\"} 1\n".repeat(1024);
                for _ in 0..(256 * 1024 * 1024 / chunk.len()) {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let fake = start(Profile::new(Line::V24, Layout::Standalone), 2).await;
    let toml = config(
        &fake,
        &format!("quota_metrics_address = \"http://{addr}\""),
        "",
    )
    .replace("timeout = \"5s\"", "timeout = \"20s\"");
    let exporter = Exporter::start(&toml).await;
    let started = std::time::Instant::now();
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(
        r.body
            .contains("Milvus quota state unknown: GET /metrics: malformed reply")
            && r.body.contains("larger than 67108864 bytes"),
        "{}",
        r.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "bounded in time"
    );
    exporter.stop().await;
    fake.stop().await;
    server.abort();
}
