//! Sharding on Prometheus, live: a real Prometheus (Debian's `prometheus`, started here on
//! loopback) runs prometheus/sharding.yml — the file README.md shows — with two exporter
//! processes and six fake Milvus targets, and its own API must show every target probed by
//! exactly one exporter, both exporters used, and every probe answering data.
//!
//! The targets are named `[[targets]]` (`/probe?target=NAME`): the names go in the file_sd
//! file and in both exporters' configuration. Prometheus sends `Accept-Encoding: gzip`, so
//! this is also gzip read by a real scraper.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::binary::Binary;
use crate::support::fake_milvus::{FakeMilvus, FakeState};

/// Six names whose `hashmod` over two shards splits 3 / 3 (md5 of the name, last 8 bytes,
/// modulo 2: milvus-1, -3 and -4 go to shard 0).
const TARGETS: [&str; 6] = [
    "milvus-0", "milvus-1", "milvus-2", "milvus-3", "milvus-4", "milvus-5",
];

/// Prometheus, stopped when dropped.
struct Prometheus {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `text` with each `from` (which must occur exactly `times` times) replaced by `to`.
fn replace_exactly(text: &str, from: &str, times: usize, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        times,
        "prometheus/sharding.yml no longer has {from:?} {times} time(s): update this test"
    );
    text.replace(from, to)
}

/// prometheus/sharding.yml with the exporters' addresses, the targets' path and the
/// intervals of this test; nothing else changed.
pub fn sharding_config(exporter_a: &str, exporter_b: &str, targets_glob: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus/sharding.yml");
    let text = std::fs::read_to_string(&path).expect("prometheus/sharding.yml");
    let text = replace_exactly(&text, "exporter:9727", 2, exporter_a);
    let text = replace_exactly(&text, "exporter-b:9727", 2, exporter_b);
    let text = replace_exactly(&text, "/etc/prometheus/targets/*.yml", 1, targets_glob);
    let text = replace_exactly(&text, "scrape_interval: 15s", 1, "scrape_interval: 1s");
    replace_exactly(&text, "scrape_timeout: 10s", 1, "scrape_timeout: 1s")
}

fn start_prometheus(dir: &Path, config: &str) -> Prometheus {
    let which = Command::new("sh")
        .args(["-c", "command -v prometheus"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        which,
        "prometheus is not installed: the live sharding test needs Debian's `prometheus` \
         (apt-get install prometheus; scripts/test.sh installs it)"
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write prometheus.yml");
    let port = free_port();
    let log = dir.join("prometheus.log");
    let out = std::fs::File::create(&log).expect("prometheus log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let resp = client.get(url).send().await.ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// The `milvus_probe` job's active targets: instance → (scrape URL, health).
fn probe_targets(v: &serde_json::Value) -> Vec<(String, String, String)> {
    v["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["labels"]["job"] == "milvus_probe")
        .map(|t| {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
            (
                s(&t["labels"]["instance"]),
                s(&t["scrapeUrl"]),
                s(&t["health"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_hashmod_sends_each_target_to_exactly_one_of_two_exporters() {
    let main = FakeMilvus::start(FakeState::new()).await;
    let mut fakes = Vec::new();
    for _ in TARGETS {
        fakes.push(FakeMilvus::start(FakeState::new()).await);
    }
    let mut toml = format!(
        "[milvus]\naddress = \"{}\"\ntimeout = \"2s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n",
        main.url()
    );
    for (name, fake) in TARGETS.iter().zip(&fakes) {
        toml.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\naddress = \"{}\"\n",
            fake.url()
        ));
    }
    let a = Binary::start(&toml, &[], &[]);
    let b = Binary::start(&toml, &[], &[]);

    let dir = tempfile::tempdir().expect("tempdir");
    let targets_dir = dir.path().join("targets");
    std::fs::create_dir(&targets_dir).expect("targets dir");
    let listed: Vec<String> = TARGETS.iter().map(|t| format!("\"{t}\"")).collect();
    std::fs::write(
        targets_dir.join("fleet.yml"),
        format!("- targets: [{}]\n", listed.join(", ")),
    )
    .expect("write targets");
    let glob = format!("{}/*.yml", targets_dir.display());
    let prom = start_prometheus(dir.path(), &sharding_config(&a.addr, &b.addr, &glob));

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let targets_url = format!("{}/api/v1/targets?state=active", prom.url);
    let started = std::time::Instant::now();
    let seen = loop {
        let seen = match get_json(&client, &targets_url).await {
            Some(v) => probe_targets(&v),
            None => Vec::new(),
        };
        if seen.len() == TARGETS.len() && seen.iter().all(|(_, _, h)| h == "up") {
            break seen;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the six probe targets are not all up within 90 s: {seen:#?}\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let waited = started.elapsed();
    println!("six targets up after {waited:?}: {seen:#?}");

    // Every target once, on one exporter or the other, and both exporters used.
    let mut by_exporter: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut instances = BTreeSet::new();
    for (instance, url, _) in &seen {
        assert!(instances.insert(instance.clone()), "{instance} twice");
        let exporter = [&a.addr, &b.addr]
            .into_iter()
            .find(|addr| url.starts_with(&format!("http://{addr}/probe?")))
            .unwrap_or_else(|| panic!("{instance} scraped at {url}, on neither exporter"));
        assert!(
            url.ends_with(&format!("target={instance}")),
            "{instance} probed as {url}"
        );
        by_exporter
            .entry(exporter.clone())
            .or_default()
            .insert(instance.clone());
    }
    let expected: BTreeSet<String> = TARGETS.iter().map(|t| t.to_string()).collect();
    assert_eq!(instances, expected, "every target is probed");
    assert_eq!(
        by_exporter.len(),
        2,
        "both exporters hold a shard: {by_exporter:?}\n{}",
        prom.log()
    );
    let shard_of_b = by_exporter.get(&b.addr).cloned().unwrap_or_default();
    let expected_b: BTreeSet<String> = ["milvus-0", "milvus-2", "milvus-5"]
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        shard_of_b, expected_b,
        "hashmod of the name picks the shard"
    );

    // Each probe answered real data: milvus_up 1 once per target.
    let query = format!(
        "{}/api/v1/query?query=milvus_up%7Bjob%3D%22milvus_probe%22%7D",
        prom.url
    );
    let v = get_json(&client, &query).await.expect("query milvus_up");
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let up: BTreeMap<String, String> = result
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().unwrap_or("").to_string(),
                r["value"][1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(up.len(), TARGETS.len(), "milvus_up per target: {v}");
    assert!(up.values().all(|x| x == "1"), "{up:?}");
    // And each fake Milvus was asked (by the one exporter that holds it).
    for (name, fake) in TARGETS.iter().zip(&fakes) {
        assert!(fake.state().calls("CheckHealth") > 0, "{name} never probed");
    }
}
