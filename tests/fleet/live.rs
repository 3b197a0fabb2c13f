//! A real Prometheus (Debian's `prometheus`, started here on loopback) discovers three fake
//! Milvus instances through `file_sd_configs` and probes each through one exporter binary with
//! the relabelling of docs/fleet.md: `__address__` becomes `?target=`, the exporter becomes
//! `__address__`, the target stays the `instance` label. Each target must come out with
//! `up` 1 and `milvus_up` 1 under its own instance label, asked through Prometheus's API.
//!
//! The fakes are the in-process fake Milvus, the same code examples/fake_milvus_server runs
//! (it includes tests/support/fake_milvus.rs). Without `prometheus` on PATH the test fails,
//! saying so: the live suite never skips.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::binary::Binary;
use crate::support::fake_milvus::{FakeMilvus, FakeState};

/// The Prometheus process, killed when the test ends however it ends.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (Prometheus cannot tell which port 0 gave it).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn prometheus_binary() -> String {
    let found = Command::new("prometheus")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "prometheus is not on PATH: the live fleet test needs it (apt-get install prometheus)"
    );
    "prometheus".into()
}

/// The scrape job of docs/fleet.md's file_sd example, pointed at `exporter`.
fn config(exporter: &str, targets_file: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: milvus-fleet
    metrics_path: /probe
    params:
      module: [fleet]
    file_sd_configs:
      - files: ["{targets_file}"]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: "{exporter}"
"#
    )
}

async fn query(client: &reqwest::Client, prom: &str, q: &str) -> Vec<(String, f64)> {
    let Ok(resp) = client
        .get(format!("{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
    else {
        return Vec::new();
    };
    let Ok(v) = resp.json::<serde_json::Value>().await else {
        return Vec::new();
    };
    let mut out: Vec<(String, f64)> = v["data"]["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let instance = s["metric"]["instance"].as_str().unwrap_or("").to_string();
                    let value = s["value"][1]
                        .as_str()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(f64::NAN);
                    (instance, value)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn prometheus_file_sd_probes_each_discovered_milvus_through_one_exporter() {
    let prometheus = prometheus_binary();
    let mut fakes = Vec::new();
    for _ in 0..3 {
        fakes.push(FakeMilvus::start(FakeState::new()).await);
    }
    let exporter = Binary::start(
        "[milvus]\naddress = \"127.0.0.1:1\"\ntimeout = \"500ms\"\n\
         [cache]\nrefresh_interval = \"0s\"\n\
         [[modules]]\nname = \"fleet\"\nallowed_targets = [\"127.0.0.1/32\"]\n\
         [modules.milvus]\ntimeout = \"500ms\"\n",
        &[],
        &[],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = dir.path().join("targets.json");
    let addresses: Vec<String> = fakes.iter().map(|f| f.addr().to_string()).collect();
    std::fs::write(
        &targets,
        serde_json::json!([{ "targets": addresses, "labels": { "team": "search" } }]).to_string(),
    )
    .expect("write targets");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config(&exporter.addr, &targets.display().to_string()))
        .expect("write prometheus.yml");
    let port = free_port();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let prom = Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    let mut want: Vec<(String, f64)> = addresses.iter().map(|a| (a.clone(), 1.0)).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let started = Instant::now();
    let (mut up, mut milvus_up) = (Vec::new(), Vec::new());
    while started.elapsed() < Duration::from_secs(60) {
        up = query(&client, &prom.url, "up{job=\"milvus-fleet\"}").await;
        milvus_up = query(
            &client,
            &prom.url,
            "milvus_up{job=\"milvus-fleet\",team=\"search\"}",
        )
        .await;
        if up == want && milvus_up == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(up, want, "up per instance, from Prometheus");
    assert_eq!(milvus_up, want, "milvus_up per instance, from Prometheus");
    for f in &fakes {
        assert!(
            f.state().calls("CheckHealth") >= 1,
            "{} was probed",
            f.addr()
        );
    }
    drop(prom);
    drop(exporter);
}
