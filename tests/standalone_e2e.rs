//! The slow end-to-end suite against real Milvus standalone 2.3.5 (scripts/standalone.sh).
//!
//! Milvus standalone uses fixed ports, so EVERY test that starts it lives in this one binary and
//! takes `standalone::lock()` before `Standalone::start` (see tests/support/standalone.rs).
//! Run: `cargo test --test standalone_e2e -- --nocapture` (prints the `check` tables).

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::standalone::{self, Standalone, ROOT_PASSWORD, ROOT_USER};

const BIN: &str = env!("CARGO_BIN_EXE_milvus_exporter");
/// `check` does one refresh with a 3 s deadline; this bounds a hung process.
const CHECK_LIMIT: Duration = Duration::from_secs(60);

struct CheckRun {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl CheckRun {
    fn all(&self) -> String {
        format!(
            "exit code: {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `milvus_exporter check --milvus.address URL` with `envs`; credentials from the caller's
/// environment are removed first so that only `envs` decides.
fn run_check(url: &str, envs: &[(&str, &str)]) -> CheckRun {
    // The host's disk and memory are not what these runs are about.
    let mut cmd = support::binary::command(None);
    cmd.args(["check", "--milvus.address", url])
        .env_remove("MILVUS_EXPORTER_MILVUS__USERNAME")
        .env_remove("MILVUS_EXPORTER_MILVUS__PASSWORD")
        .env_remove("MILVUS_EXPORTER_MILVUS__TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN} check: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = (String::new(), String::new());
        let _ = out.read_to_string(&mut o);
        let _ = err.read_to_string(&mut e);
        let _ = tx.send(());
        (o, e)
    });
    if rx.recv_timeout(CHECK_LIMIT).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`{BIN} check --milvus.address {url}` did not finish within {CHECK_LIMIT:?}");
    }
    let status = child.wait().expect("wait for check");
    let (stdout, stderr) = reader.join().expect("reader thread");
    CheckRun {
        code: status.code(),
        stdout,
        stderr,
    }
}

#[test]
fn check_reports_standalone_ready_with_its_version() {
    let _guard = standalone::lock();
    let milvus = Standalone::start(false);

    let run = run_check(milvus.url(), &[]);
    println!(
        "---- `milvus_exporter check` against Milvus standalone 2.3.5 ----\n{}",
        run.stdout
    );
    assert_eq!(
        run.code,
        Some(0),
        "check should exit 0 (ready)\n{}",
        run.all()
    );
    assert!(
        run.stdout.contains("READY") && !run.stdout.contains("NOT READY"),
        "{}",
        run.all()
    );
    let version_line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("version "))
        .unwrap_or_else(|| panic!("no version line\n{}", run.all()));
    assert!(
        version_line.contains("version v2.3.5") && version_line.contains("healthy true"),
        "version line {version_line:?}\n{}",
        run.all()
    );
}

#[test]
fn check_with_authentication_accepts_the_right_password_and_names_a_wrong_one() {
    let _guard = standalone::lock();
    let milvus = Standalone::start(true);

    let good = run_check(
        milvus.url(),
        &[
            ("MILVUS_EXPORTER_MILVUS__USERNAME", ROOT_USER),
            ("MILVUS_EXPORTER_MILVUS__PASSWORD", ROOT_PASSWORD),
        ],
    );
    println!("---- check with auth, right password ----\n{}", good.stdout);
    assert_eq!(
        good.code,
        Some(0),
        "right credentials: exit 0\n{}",
        good.all()
    );
    assert!(good.stdout.contains("version v2.3.5"), "{}", good.all());

    let bad = run_check(
        milvus.url(),
        &[
            ("MILVUS_EXPORTER_MILVUS__USERNAME", ROOT_USER),
            ("MILVUS_EXPORTER_MILVUS__PASSWORD", "wrong"),
        ],
    );
    println!("---- check with auth, wrong password ----\n{}", bad.stdout);
    assert_eq!(
        bad.code,
        Some(1),
        "wrong password: exit 1 (not ready)\n{}",
        bad.all()
    );
    let reason = bad
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("rule milvus"))
        .unwrap_or_else(|| panic!("no `rule milvus` line\n{}", bad.all()));
    assert!(
        reason.contains("FAIL") && reason.contains("authentication failed"),
        "the milvus rule should fail naming the authentication: {reason:?}\n{}",
        bad.all()
    );
}

/// Component health from the real metrics port, and query/search probes on a seeded collection.
#[test]
fn component_health_and_read_probes_against_standalone() {
    let _guard = standalone::lock();
    let milvus = Standalone::start(false);
    let seed = r#"
import sys
from pymilvus import MilvusClient
c = MilvusClient(uri=sys.argv[1])
for n in ["rag_docs", "rag_cold"]:
    if c.has_collection(n):
        c.drop_collection(n)
    c.create_collection(n, dimension=8)
c.insert("rag_docs", [{"id": i, "vector": [float((i + k) % 5) for k in range(8)]} for i in range(50)])
c.flush("rag_docs")
c.release_collection("rag_cold")
"#;
    let out = Command::new(support::lite::venv_python())
        .args(["-c", seed, milvus.url()])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "seeding standalone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            r#"[milvus]
address = "{}"
metrics_address = "{}"
replicas = true
[readiness]
required_collections = ["rag_docs"]
[[readiness.probes]]
collection = "rag_docs"
kind = "query"
[[readiness.probes]]
collection = "rag_docs"
kind = "search"
vector_from = "first_row"
[[readiness.probes]]
collection = "rag_cold"
kind = "search"
required = false
"#,
            milvus.url(),
            milvus.metrics_url()
        ),
    )
    .expect("write config");
    let out = support::binary::command(None)
        .args(["check", "--output", "json", "--config"])
        .arg(&config)
        .output()
        .expect("run check");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --output json: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{body:#}");
    assert_eq!(body["rules"]["components"], "pass", "{body:#}");
    assert_eq!(body["rules"]["probe"], "pass", "{body:#}");
    let components = body["dependencies"]["milvus"]["components"]
        .as_array()
        .expect("components listed");
    for role in ["rootcoord", "querynode", "proxy", "datanode"] {
        let c = components
            .iter()
            .find(|c| c["role"] == role)
            .unwrap_or_else(|| panic!("{role} in {components:?}"));
        assert_eq!(c["state"], "Healthy", "{role}");
    }
    let docs = body["dependencies"]["collections"]["collections"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "rag_docs").cloned())
        .expect("rag_docs listed");
    assert_eq!(docs["replicas"], 1, "one in-memory replica: {docs}");
    let probes = body["probes"].as_array().expect("probes");
    assert_eq!(probes[0]["success"], true, "query: {probes:?}");
    assert_eq!(probes[1]["success"], true, "search: {probes:?}");
    assert_eq!(probes[2]["success"], false, "released collection");
    assert!(probes[2]["error"]
        .as_str()
        .unwrap_or_default()
        .contains("not loaded"));
    println!("---- components and probes against standalone ----\n{body:#}");
}

/// `milvus_proxy_req_count` of the real server, summed by function name (status "total").
async fn proxy_req_counts(metrics_url: &str) -> std::collections::BTreeMap<String, f64> {
    let text = match reqwest::get(format!("{metrics_url}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => panic!("GET {metrics_url}/metrics: {e}"),
    };
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("milvus_proxy_req_count{") else {
            continue;
        };
        if !rest.contains("status=\"total\"") {
            continue;
        }
        let Some(f) = rest
            .split("function_name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let v: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry(f.to_string()).or_insert(0.0) += v;
    }
    out
}

/// The two cadences and the nodes check against the real thing: nodes from system_info, memory judged on them, binlog
/// sizes by collection, index progress, and Milvus's own request counter showing that ten
/// health refreshes of 60 collections cost no per-collection RPC beyond one inventory pass.
#[test]
fn cluster_truth_from_standalone_at_constant_cost() {
    let _guard = standalone::lock();
    let milvus = Standalone::start(false);
    let seed = r#"
import sys
from pymilvus import MilvusClient
c = MilvusClient(uri=sys.argv[1])
for i in range(60):
    n = f"inv_{i:02d}"
    if c.has_collection(n):
        c.drop_collection(n)
    c.create_collection(n, dimension=8)
c.insert("inv_00", [{"id": i, "vector": [float((i + k) % 5) for k in range(8)]} for i in range(50)])
c.flush("inv_00")
"#;
    let out = Command::new(support::lite::venv_python())
        .args(["-c", seed, milvus.url()])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "seeding standalone failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = milvus.url().to_string();
    let metrics_url = milvus.metrics_url().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (before, after_first, after) = runtime.block_on(async {
        let before = proxy_req_counts(&metrics_url).await;
        let toml = format!(
            "[milvus]\naddress = \"{url}\"\ntimeout = \"10s\"\n\
             [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\ninventory_interval = \"1h\"\n\
             [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n"
        );
        let exporter = support::exporter::Exporter::start(&toml).await;
        let h = exporter.get("/health").await.json();
        assert_eq!(h["nodes"]["status"], "ok", "{h:#}");
        assert!(h["nodes"]["count"].as_u64().unwrap_or(0) >= 7, "{h:#}");
        assert_eq!(h["resources"]["memory_source"], "milvus", "{h:#}");
        let m = exporter.get("/metrics").await.metrics();
        let qn = [("role", "querynode"), ("node_id", "1")];
        assert_eq!(m.value("milvus_node_has_error", &qn), 0.0);
        assert!(m.value("milvus_node_memory_bytes", &qn) > 0.0);
        let l = [("db_name", "default"), ("collection_name", "inv_00")];
        assert!(
            m.value("milvus_collection_binlog_bytes", &l) > 0.0,
            "flushed rows have binlogs"
        );
        let idx = [
            ("db_name", "default"),
            ("collection_name", "inv_00"),
            ("index_name", "vector"),
        ];
        assert_eq!(m.value("milvus_collection_indexed_rows", &idx), 50.0);
        let after_first = proxy_req_counts(&metrics_url).await;
        for _ in 0..10 {
            exporter
                .state
                .caches
                .load()
                .main
                .refresh()
                .await
                .expect("refresh");
        }
        exporter.stop().await;
        let after = proxy_req_counts(&metrics_url).await;
        (before, after_first, after)
    });
    let delta =
        |a: &std::collections::BTreeMap<String, f64>,
         b: &std::collections::BTreeMap<String, f64>,
         f: &str| b.get(f).copied().unwrap_or(0.0) - a.get(f).copied().unwrap_or(0.0);
    println!("---- proxy_req_count, first refresh: ----");
    for (f, _) in after.iter() {
        println!(
            "  {f:<28} first {:>5}  next ten {:>5}",
            delta(&before, &after_first, f),
            delta(&after_first, &after, f)
        );
    }
    for per_collection in ["GetCollectionStatistics", "DescribeIndex"] {
        assert!(
            delta(&before, &after_first, per_collection) >= 60.0,
            "{per_collection}: one inventory pass asks every collection"
        );
        assert_eq!(
            delta(&after_first, &after, per_collection),
            0.0,
            "{per_collection}: no per-collection RPC in ten health refreshes"
        );
    }
    assert_eq!(delta(&after_first, &after, "GetLoadState"), 0.0);
    assert_eq!(delta(&after_first, &after, "GetLoadingProgress"), 0.0);
    assert!(delta(&after_first, &after, "ShowCollections") <= 20.0);
}

/// The least-privilege role of docs/compatibility.md on a real 2.3.5 with authentication on:
/// the exporter, signed in as a user holding only those grants, gets every check to succeed
/// and the verdict right (ready, every rule passing, a read probe answered).
#[test]
fn the_documented_least_privilege_role_is_enough_for_every_check() {
    const USER: &str = "milvus_exporter";
    const PASSWORD: &str = "least-privilege-1";
    let _guard = standalone::lock();
    let milvus = Standalone::start(true);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/py/least_privilege.py");
    let out = Command::new(support::lite::venv_python())
        .arg(&script)
        .args([milvus.url(), USER, PASSWORD, "lp_docs"])
        .output()
        .expect("run the venv's python");
    assert!(
        out.status.success(),
        "creating the role failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("---- grants ----\n{}", String::from_utf8_lossy(&out.stdout));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[milvus]\naddress = \"{}\"\nmetrics_address = \"{}\"\nusername = \"{USER}\"\n\
             password = \"{PASSWORD}\"\ntimeout = \"10s\"\n\
             [readiness]\nrequired_collections = [\"lp_docs\"]\n\
             [[readiness.probes]]\ncollection = \"lp_docs\"\nkind = \"query\"\n\
             [[readiness.probes]]\ncollection = \"lp_docs\"\nkind = \"search\"\n",
            milvus.url(),
            milvus.metrics_url()
        ),
    )
    .expect("write config");
    let out = support::binary::command(None)
        .args(["check", "--output", "json", "--config"])
        .arg(&config)
        .env_remove("MILVUS_EXPORTER_MILVUS__USERNAME")
        .env_remove("MILVUS_EXPORTER_MILVUS__PASSWORD")
        .env_remove("MILVUS_EXPORTER_MILVUS__TOKEN")
        .output()
        .expect("run check");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --output json: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    println!("---- check as {USER} ----\n{body:#}");
    assert_eq!(out.status.code(), Some(0), "{body:#}");
    for (check, c) in body["checks"].as_object().expect("checks") {
        assert_eq!(c["success"], true, "{check} as {USER}: {c}");
    }
    for (rule, status) in body["rules"].as_object().expect("rules") {
        assert!(
            status == "pass" || status == "excluded",
            "{rule}: {status}: {body:#}"
        );
    }
    for rule in [
        "milvus",
        "collections",
        "nodes",
        "components",
        "quota",
        "probe",
    ] {
        assert_eq!(body["rules"][rule], "pass", "{rule}: {body:#}");
    }
    let docs = body["dependencies"]["collections"]["collections"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "lp_docs").cloned())
        .expect("lp_docs listed to the role");
    assert_eq!(docs["num_entities"], 20, "GetStatistics granted: {docs}");
    assert_eq!(
        body["dependencies"]["milvus"]["quota"]["source"], "metrics",
        "{body:#}"
    );
}
