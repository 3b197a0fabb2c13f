//! The core exporter against real Milvus Lite, seeded by scripts/milvus_lite.py with
//! `docs` (loaded, 100 rows), `faq` (loaded, 20 rows) and `archive` (released, 5 rows).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::exporter::{eventually, skeleton, Exporter};
use support::lite::MilvusLite;

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn config(url: &str, extra: &str) -> String {
    config_with_refresh(url, "1s", extra)
}

fn config_with_refresh(url: &str, refresh: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"2s\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"{refresh}\"\n\
         [[targets]]\nname = \"lite\"\naddress = \"{url}\"\n{extra}"
    )
}

async fn start_lite() -> MilvusLite {
    tokio::task::spawn_blocking(MilvusLite::start_seeded)
        .await
        .expect("lite start task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_tells_the_truth_about_seeded_milvus() {
    let lite = start_lite().await;
    // Refreshes on demand only, so a read after the ttl is seen to wait for a fresh snapshot.
    let exporter = Exporter::start(&config_with_refresh(&lite.url, "0s", "")).await;

    // /readyz: JSON, ready, the seeded collections with their real states and rows.
    let ready = exporter.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.content_type, "application/json");
    let body = ready.json();
    assert_eq!(body["status"], "ready");
    assert!(body["reason"].is_null());
    assert_eq!(body["reasons"], serde_json::json!([]));
    let milvus = &body["dependencies"]["milvus"];
    assert_eq!(milvus["status"], "healthy");
    assert_eq!(milvus["version"], "milvus_lite-3.2.2");
    assert_eq!(milvus["collections_count"], 3);
    assert!(milvus.get("error").is_none(), "no error key when healthy");
    let cols = body["dependencies"]["collections"]["collections"]
        .as_array()
        .expect("collections array");
    let find = |n: &str| {
        cols.iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} listed in {cols:?}"))
            .clone()
    };
    let docs = find("docs");
    assert_eq!(docs["db_name"], "default");
    assert_eq!(docs["loaded"], true);
    assert_eq!(docs["load_state"], "Loaded");
    assert_eq!(docs["num_entities"], 100);
    assert_eq!(docs["loading_progress"], 100);
    let archive = find("archive");
    assert_eq!(archive["loaded"], false);
    assert_eq!(archive["load_state"], "NotLoad");
    assert_eq!(archive["num_entities"], 5);
    assert_eq!(find("faq")["num_entities"], 20);
    let res = &body["resources"];
    for k in [
        "memory_percent",
        "memory_available_gb",
        "disk_percent",
        "disk_free_gb",
    ] {
        assert!(res[k].is_number(), "resources.{k} in {res}");
    }
    assert_eq!(res["disks"][0]["path"], "/");
    assert!(body["age_seconds"].as_f64().is_some_and(|a| a >= 0.0));
    assert!(body["checked_at"].as_f64().is_some_and(|t| t > 1.7e9));

    // Fresh and cached answers have the same shape.
    let first = exporter.get("/readyz").await.json();
    let second = exporter.get("/readyz").await.json();
    assert_eq!(
        second["cached"], true,
        "a read right after another is served from the cache: {first} / {second}"
    );
    let fresh_wait = Instant::now();
    loop {
        let r = exporter.get("/readyz").await.json();
        if r["cached"] == false {
            assert_eq!(skeleton(&r), skeleton(&second), "fresh vs cached shape");
            break;
        }
        assert!(
            fresh_wait.elapsed() < Duration::from_secs(10),
            "never fresh"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // ?verbose: kube-apiserver style.
    let verbose = exporter.get("/readyz?verbose").await;
    assert_eq!(verbose.status, 200);
    assert!(verbose.content_type.starts_with("text/plain"));
    for line in [
        "[+]milvus ok",
        "[+]collections ok",
        "[+]memory ok",
        "[+]disk ok",
    ] {
        assert!(verbose.body.contains(line), "{line} in {}", verbose.body);
    }
    // The verdict, then since when it holds.
    let tail: Vec<&str> = verbose.body.lines().rev().take(2).collect();
    assert_eq!(
        tail.get(1),
        Some(&"readyz check passed"),
        "{}",
        verbose.body
    );
    assert!(tail[0].starts_with("ready since 20"), "{}", verbose.body);

    // /metrics as text 0.0.4 with every metric of the contract and the right values.
    let text = exporter.get("/metrics").await;
    assert_eq!(text.status, 200);
    assert_eq!(
        text.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!text.body.contains("# EOF"));
    assert!(text
        .body
        .contains("# TYPE milvus_exporter_refreshes_total counter"));
    let m = text.metrics();
    let d = |c: &'static str| [("db_name", "default"), ("collection_name", c)];
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(m.value("milvus_healthy", &[]), 1.0);
    assert_eq!(m.value("milvus_readiness", &[]), 1.0);
    for check in ["milvus", "collections", "memory", "disk"] {
        assert_eq!(m.value("milvus_readiness_check", &[("check", check)]), 1.0);
    }
    assert_eq!(
        m.value("milvus_server_info", &[("version", "milvus_lite-3.2.2")]),
        1.0
    );
    assert!(
        !m.has_family("milvus_quota_state"),
        "no active quota states"
    );
    assert_eq!(
        m.value("milvus_collections", &[("db_name", "default")]),
        3.0
    );
    assert_eq!(m.value("milvus_collection_loaded", &d("docs")), 1.0);
    assert_eq!(m.value("milvus_collection_loaded", &d("faq")), 1.0);
    assert_eq!(m.value("milvus_collection_loaded", &d("archive")), 0.0);
    assert_eq!(
        m.value("milvus_collection_loading_progress_percent", &d("docs")),
        100.0
    );
    assert_eq!(m.value("milvus_collection_rows", &d("docs")), 100.0);
    assert_eq!(m.value("milvus_collection_rows", &d("faq")), 20.0);
    assert_eq!(m.value("milvus_collection_rows", &d("archive")), 5.0);
    let mem = m.value("milvus_host_memory_percent", &[]);
    assert!(mem > 0.0 && mem <= 100.0);
    assert!(m.value("milvus_host_memory_available_bytes", &[]) > 0.0);
    assert!(m.value("milvus_host_disk_percent", &[("path", "/")]) > 0.0);
    assert!(m.value("milvus_host_disk_free_bytes", &[("path", "/")]) > 0.0);
    for check in ["milvus", "collections", "system"] {
        assert_eq!(
            m.value("milvus_exporter_check_success", &[("check", check)]),
            1.0
        );
        assert!(
            m.value(
                "milvus_exporter_check_duration_seconds",
                &[("check", check)]
            ) >= 0.0
        );
        assert_eq!(
            m.value("milvus_exporter_check_errors_total", &[("check", check)]),
            0.0
        );
    }
    assert!(m.value("milvus_exporter_refreshes_total", &[]) >= 1.0);
    assert!(m.value("milvus_exporter_cache_age_seconds", &[]) >= 0.0);
    assert!(m.has_family("milvus_exporter_build_info"));
    assert!(text.body.contains("# HELP milvus_up 1 when the last refresh reached Milvus and it answered. Cached: refreshed at most every 1s."));
    promtool_check_metrics(&text.body);

    // /metrics as OpenMetrics when Prometheus asks for it.
    let om = exporter
        .get_with("/metrics", &[("accept", PROMETHEUS_ACCEPT)])
        .await;
    assert_eq!(om.status, 200);
    assert!(om
        .content_type
        .starts_with("application/openmetrics-text; version=1.0.0"));
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om.body.contains("# TYPE milvus_exporter_refreshes counter"));

    // /health: everything, always 200.
    let health = exporter.get("/health").await;
    assert_eq!(health.status, 200);
    let h = health.json();
    assert_eq!(h["liveness"], true);
    assert_eq!(h["readiness"], true);
    for check in ["milvus", "collections", "system"] {
        assert_eq!(h["checks"][check]["success"], true, "{h}");
        assert!(h["checks"][check]["duration_seconds"].is_number());
    }
    assert!(h["timestamp"].is_number());

    // /healthz, /, 404, 405, /probe.
    let hz = exporter.get("/healthz").await;
    assert_eq!((hz.status, hz.body.as_str()), (200, "OK"));
    let landing = exporter.get("/").await;
    assert_eq!(landing.status, 200);
    assert!(landing.content_type.starts_with("text/html"));
    for link in [
        "/metrics",
        "/readyz",
        "/healthz",
        "/health",
        "/probe?target=lite",
    ] {
        assert!(landing.body.contains(&format!("href=\"{link}\"")), "{link}");
    }
    assert!(landing
        .body
        .contains("<strong id=\"status\">Ready</strong>"));
    assert_eq!(exporter.get("/nope").await.status, 404);
    let post = reqwest::Client::new()
        .post(format!("{}/readyz", exporter.url))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(exporter.get("/readyz?bogus=1").await.status, 400);

    let probe = exporter.get("/probe?target=lite").await;
    assert_eq!(probe.status, 200, "{}", probe.body);
    let pm = probe.metrics();
    assert_eq!(pm.value("milvus_up", &[]), 1.0);
    assert_eq!(pm.value("milvus_collection_rows", &d("docs")), 100.0);
    assert!(
        !pm.has_family("milvus_host_memory_percent"),
        "host is not the target's"
    );
    promtool_check_metrics(&probe.body);
    let unknown = exporter.get("/probe?target=elsewhere").await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.body.contains("unknown target \"elsewhere\""),
        "{}",
        unknown.body
    );
    assert_eq!(exporter.get("/probe").await.status, 400);

    exporter.stop().await;
    drop(lite);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_released_collection_is_not_ready_with_a_reason() {
    let lite = start_lite().await;
    let exporter = Exporter::start(&config(
        &lite.url,
        "[readiness]\nrequired_collections = [\"docs\", \"default.archive\"]\n",
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    let b = r.json();
    assert_eq!(b["status"], "not_ready");
    assert_eq!(
        b["reason"],
        "required collection default.archive is not loaded (state NotLoad)"
    );
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_readiness", &[]), 0.0);
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "collections")]),
        0.0
    );
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "milvus")]),
        1.0
    );
    let v = exporter.get("/readyz?verbose").await;
    assert_eq!(v.status, 503);
    assert!(v
        .body
        .contains("[-]collections failed: required collection default.archive is not loaded"));
    let tail: Vec<&str> = v.body.lines().rev().take(2).collect();
    assert_eq!(tail.get(1), Some(&"readyz check failed"), "{}", v.body);
    assert!(
        tail[0].starts_with("not ready since 20")
            && tail[0]
                .ends_with(": required collection default.archive is not loaded (state NotLoad)"),
        "{}",
        v.body
    );
    exporter.stop().await;

    // `check`: 0 ready, 1 not ready, 2 bad config; the table names what it saw.
    let ok = support::binary::command(None)
        .args(["check", "--milvus.address", &lite.url])
        .output()
        .expect("run check");
    let out = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{out}");
    assert!(out.contains("READY") && out.contains("docs") && out.contains("archive"));
    let not_ready = support::binary::command(None)
        .args(["check", "--milvus.address", &lite.url])
        .env("MILVUS_EXPORTER_READINESS__REQUIRED_COLLECTIONS", "archive")
        .output()
        .expect("run check");
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_ready.stdout).contains("NOT READY"));
    let json = support::binary::command(None)
        .args(["check", "--output", "json", "--milvus.address", &lite.url])
        .output()
        .expect("run check");
    let parsed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("check --output json is JSON");
    assert_eq!(parsed["readiness"], true);
    let bad = support::binary::command(None)
        .args(["check", "--milvus.address", "ftp://nowhere"])
        .output()
        .expect("run check");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("milvus.address") && err.lines().count() == 1,
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_milvus_is_not_ready_while_alive_and_recovers_without_restart() {
    let mut lite = start_lite().await;
    let exporter = Exporter::start(&config(&lite.url, "")).await;
    eventually(Duration::from_secs(10), "ready at first", || async {
        exporter.get("/readyz").await.status == 200
    })
    .await;

    let killed_at = Instant::now();
    tokio::task::block_in_place(|| lite.kill());
    // ttl 1s + timeout 2s: the verdict must turn within that (plus polling slack).
    let took = eventually(Duration::from_secs(6), "503 after kill", || async {
        exporter.get("/readyz").await.status == 503
    })
    .await;
    let r = exporter.get("/readyz").await.json();
    let reason = r["reason"].as_str().unwrap_or_default().to_string();
    assert!(
        reason.contains(&lite.url),
        "reason names the address: {reason}"
    );
    assert_eq!(r["dependencies"]["milvus"]["status"], "unhealthy");
    assert!(r["dependencies"]["milvus"]["error"].is_string());
    let hz = exporter.get("/healthz").await;
    assert_eq!(hz.status, 200, "liveness never follows Milvus");
    let m = exporter.get("/metrics").await;
    assert_eq!(
        m.status, 200,
        "a dead Milvus is a metric, not an HTTP error"
    );
    let mm = m.metrics();
    assert_eq!(mm.value("milvus_up", &[]), 0.0);
    assert_eq!(
        mm.value("milvus_exporter_check_success", &[("check", "milvus")]),
        0.0
    );
    assert!(mm.value("milvus_exporter_check_errors_total", &[("check", "milvus")]) >= 1.0);
    assert!(
        mm.has_family("milvus_host_memory_percent"),
        "host gauges stay"
    );
    eprintln!(
        "not ready {:?} after kill (poll saw it after {took:?})",
        killed_at.elapsed()
    );

    tokio::task::block_in_place(|| lite.restart());
    eventually(
        Duration::from_secs(15),
        "ready again after restart",
        || async { exporter.get("/readyz").await.status == 200 },
    )
    .await;
    let m = exporter.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_up", &[]), 1.0);
    assert_eq!(
        m.value(
            "milvus_collection_rows",
            &[("db_name", "default"), ("collection_name", "docs")]
        ),
        100.0
    );
    exporter.stop().await;
}

/// promtool is part of the test toolchain (scripts/test.sh installs it); its absence is a
/// failure, never a skip.
fn promtool_check_metrics(body: &str) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's prometheus package (scripts/test.sh does)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The two cadences and the nodes check on Milvus Lite: no GetMetrics (the nodes rule is excluded with the reason, memory
/// is judged on the host), the bulk in-memory listing (Lite lists a released collection at
/// 0%, which is asked on its own), and index progress from Lite's real DescribeIndex.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lite_has_no_nodes_report_but_real_indexes_and_bulk_load_states() {
    let lite = start_lite().await;
    let exporter = Exporter::start(&config_with_refresh(
        &lite.url,
        "0s",
        "[readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n",
    ))
    .await;
    let ready = exporter.get("/readyz?verbose").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("[+]nodes excluded"), "{}", ready.body);
    let h = exporter.get("/health").await.json();
    assert_eq!(h["nodes"]["status"], "unavailable", "{h}");
    assert!(
        h["nodes"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("GetMetrics: Unimplemented")),
        "{h}"
    );
    assert_eq!(h["resources"]["memory_source"], "host", "{h}");
    let m = exporter.get("/metrics").await.metrics();
    let l = |c| [("db_name", "default"), ("collection_name", c)];
    assert_eq!(m.value("milvus_collection_loaded", &l("docs")), 1.0);
    assert_eq!(m.value("milvus_collection_loaded", &l("archive")), 0.0);
    assert_eq!(m.value("milvus_collection_rows", &l("docs")), 100.0);
    let idx = |c| {
        [
            ("db_name", "default"),
            ("collection_name", c),
            ("index_name", "vector"),
        ]
    };
    assert_eq!(
        m.value("milvus_collection_indexed_rows", &idx("docs")),
        100.0
    );
    assert_eq!(
        m.value("milvus_collection_index_pending_rows", &idx("docs")),
        0.0
    );
    let state = [
        ("db_name", "default"),
        ("collection_name", "docs"),
        ("index_name", "vector"),
        ("state", "Finished"),
    ];
    assert_eq!(m.value("milvus_collection_index_state", &state), 1.0);
    assert!(m.get("milvus_node_info", &[]).is_none());
    assert!(
        !m.has_family("milvus_node_has_error"),
        "Lite reports no nodes"
    );
    assert_eq!(
        m.value("milvus_exporter_check_success", &[("check", "nodes")]),
        1.0
    );
    exporter.stop().await;
}
