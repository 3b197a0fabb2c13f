//! Read probes and databases against real Milvus Lite: "ready" means a query answers.

mod support;

use std::process::Command;

use support::exporter::Exporter;
use support::lite::{venv_python, MilvusLite};

/// Adds an empty loaded collection and a second database with one collection, with pymilvus.
fn add_empty_collection_and_second_database(lite: &MilvusLite) {
    let code = r#"
import sys
from pymilvus import MilvusClient
uri = sys.argv[1]
c = MilvusClient(uri=uri)
c.create_collection("empty", dimension=8)
c.create_database("db2")
c2 = MilvusClient(uri=uri, db_name="db2")
c2.create_collection("items", dimension=4)
c2.insert("items", [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}, {"id": 2, "vector": [0.0, 1.0, 0.0, 0.0]}])
c2.flush("items")
c.create_database("db3")
c3 = MilvusClient(uri=uri, db_name="db3")
c3.create_collection("cold", dimension=4)
c3.release_collection("cold")
"#;
    let out = Command::new(venv_python())
        .args(["-c", code, &lite.url])
        .output()
        .expect("run venv python");
    assert!(
        out.status.success(),
        "seeding extra collections failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn start() -> MilvusLite {
    let lite = tokio::task::spawn_blocking(MilvusLite::start_seeded)
        .await
        .expect("lite");
    add_empty_collection_and_second_database(&lite);
    lite
}

fn config(url: &str, readiness: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"3s\"\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"0s\"\n{readiness}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_and_search_probes_pass_on_loaded_collections_including_empty_ones() {
    let lite = start().await;
    let exporter = Exporter::start(&config(
        &lite.url,
        r#"[readiness]
required_collections = ["docs", "db2.items"]
[[readiness.probes]]
collection = "docs"
kind = "query"
[[readiness.probes]]
collection = "docs"
kind = "search"
[[readiness.probes]]
collection = "default.empty"
kind = "search"
vector_from = "first_row"
[[readiness.probes]]
collection = "db2.items"
kind = "search"
vector_from = "first_row"
"#,
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    let probes = body["probes"].as_array().expect("probes listed");
    assert_eq!(probes.len(), 4);
    assert!(probes.iter().all(|p| p["success"] == true), "{probes:?}");
    assert!(probes.iter().all(|p| p["duration_seconds"].is_number()));

    let m = exporter.get("/metrics").await.metrics();
    let l = |db: &'static str, c: &'static str, k: &'static str| {
        [("db_name", db), ("collection_name", c), ("kind", k)]
    };
    assert_eq!(
        m.value("milvus_probe_success", &l("default", "docs", "query")),
        1.0
    );
    assert_eq!(
        m.value("milvus_probe_success", &l("default", "docs", "search")),
        1.0
    );
    assert_eq!(
        m.value("milvus_probe_success", &l("default", "empty", "search")),
        1.0,
        "an empty result is an answer"
    );
    assert_eq!(
        m.value("milvus_probe_success", &l("db2", "items", "search")),
        1.0
    );
    assert!(
        m.value(
            "milvus_probe_duration_seconds",
            &l("default", "docs", "search")
        ) > 0.0
    );
    assert_eq!(
        m.value("milvus_readiness_check", &[("check", "probe")]),
        1.0
    );

    // Databases: every database's collections, labelled with db_name.
    assert_eq!(m.value("milvus_collections", &[("db_name", "db2")]), 1.0);
    assert_eq!(m.value("milvus_collections", &[("db_name", "db3")]), 1.0);
    assert_eq!(
        m.value("milvus_collections", &[("db_name", "default")]),
        4.0
    );
    assert_eq!(
        m.value(
            "milvus_collection_rows",
            &[("db_name", "db2"), ("collection_name", "items")]
        ),
        2.0
    );
    assert_eq!(
        m.value(
            "milvus_collection_loaded",
            &[("db_name", "db3"), ("collection_name", "cold")]
        ),
        0.0
    );
    exporter.stop().await;

    // milvus.databases narrows the listing.
    let narrow = Exporter::start(&format!(
        "[milvus]\naddress = \"{}\"\ndatabases = [\"db2\"]\n[cache]\nrefresh_interval = \"0s\"\n",
        lite.url
    ))
    .await;
    let m = narrow.get("/metrics").await.metrics();
    assert_eq!(m.value("milvus_collections", &[("db_name", "db2")]), 1.0);
    assert!(m
        .get("milvus_collections", &[("db_name", "default")])
        .is_none());
    narrow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_released_or_missing_collections_fail_readiness_with_a_clear_reason() {
    let lite = start().await;
    for (probe, expect) in [
        (
            "collection = \"archive\"\nkind = \"search\"",
            "probe search default.archive failed",
        ),
        (
            "collection = \"archive\"\nkind = \"query\"",
            "probe query default.archive failed",
        ),
        (
            "collection = \"db3.cold\"\nkind = \"search\"",
            "probe search db3.cold failed",
        ),
        (
            "collection = \"nowhere\"\nkind = \"query\"",
            "probe query default.nowhere failed",
        ),
    ] {
        let exporter = Exporter::start(&config(
            &lite.url,
            &format!("[readiness]\n[[readiness.probes]]\n{probe}\n"),
        ))
        .await;
        let r = exporter.get("/readyz").await;
        assert_eq!(r.status, 503, "{probe}: {}", r.body);
        let reason = r.json()["reason"].as_str().unwrap_or_default().to_string();
        assert!(reason.starts_with(expect), "{probe}: {reason}");
        if probe.contains("nowhere") {
            assert!(reason.contains("(collection does not exist)"), "{reason}");
        } else {
            assert!(reason.contains("(collection is NotLoad)"), "{reason}");
        }
        let m = exporter.get("/metrics").await.metrics();
        assert_eq!(
            m.value("milvus_readiness_check", &[("check", "probe")]),
            0.0
        );
        exporter.stop().await;
    }

    // A probe that is not required is reported but does not decide readiness.
    let exporter = Exporter::start(&config(
        &lite.url,
        "[readiness]\n[[readiness.probes]]\ncollection = \"archive\"\nkind = \"search\"\nrequired = false\n",
    ))
    .await;
    let r = exporter.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["probes"][0]["success"], false);
    exporter.stop().await;
}
