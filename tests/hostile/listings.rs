//! Listings bounded by count as well as bytes: a ShowCollections naming more collections
//! than `milvus.max_listed_collections` (or a ListDatabases naming more than 1,024
//! databases) fails the `collections` check with one line naming the bound and its key,
//! counted before a name is decoded; 4,000,000 names cost the exporter process at most
//! 128 MiB above idle. The memory tests run the real binary and read its /proc status.

use std::time::Duration;

use super::support::binary::Binary;
use super::support::exporter::Exporter;
use super::support::fake_milvus::{FakeCollection, FakeMilvus, FakeState, SyntheticListing};
use super::support::memory;

const MIB: u64 = 1024;

fn config(url: &str, extra: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"20s\"\n{extra}\n\
         [cache]\nttl = \"1s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\n"
    )
}

fn docs(databases: &[&str]) -> FakeState {
    FakeState::new().with(|b| {
        b.databases = databases.iter().map(|d| d.to_string()).collect();
        b.collections = vec![FakeCollection::loaded("default", "docs", 10)];
    })
}

/// The `collections` check's error in `/health`, once it has one that says `needle`.
async fn collections_error(url: &str, needle: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let start = std::time::Instant::now();
    loop {
        let body: serde_json::Value = match client.get(format!("{url}/health")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let error = body["checks"]["collections"]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if error.contains(needle) {
            return error;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no collections error saying {needle:?}; last: {error:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Starts the binary against `fake`, waits for a healthy collections check, and returns it
/// with its resident memory then (idle: one complete refresh behind it).
async fn idle_binary(toml: String) -> (Binary, u64) {
    let bin = tokio::task::spawn_blocking(move || Binary::start(&toml, &[], &[]))
        .await
        .expect("start");
    let url = format!("http://{}", bin.addr);
    let client = reqwest::Client::new();
    let start = std::time::Instant::now();
    loop {
        let ok = match client.get(format!("{url}/health")).send().await {
            Ok(r) => {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                v["checks"]["collections"]["success"] == true
            }
            Err(_) => false,
        };
        if ok {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = memory::rss_kib(bin.pid());
    (bin, idle)
}

/// What the peak cost above idle, asserted under 128 MiB and printed for the docs.
fn assert_peak_within_budget(what: &str, bin: &Binary, idle: u64) {
    let hwm = memory::hwm_kib(bin.pid());
    let rss = memory::rss_kib(bin.pid());
    eprintln!(
        "{what}: idle {} MiB, peak (VmHWM) {} MiB, after {} MiB",
        memory::mib(idle),
        memory::mib(hwm),
        memory::mib(rss)
    );
    assert!(idle > 0 && hwm > 0, "/proc status readable");
    assert!(
        hwm.saturating_sub(idle) < 128 * MIB,
        "{what}: peak {} MiB is more than 128 MiB above idle {} MiB",
        memory::mib(hwm),
        memory::mib(idle)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_million_names_fail_the_check_by_its_bound_within_128_mib() {
    let fake = FakeMilvus::start(docs(&["default"])).await;
    let (bin, idle) = idle_binary(config(&fake.url(), "")).await;
    // 4,000,000 names of 12 bytes: 56 MB on the wire, inside the 64 MiB reply bound.
    fake.state().update(|b| {
        b.synthetic_listing = Some(SyntheticListing {
            count: 4_000_000,
            name_len: 12,
        })
    });
    let error = collections_error(&format!("http://{}", bin.addr), "max_listed_collections").await;
    assert!(
        error.contains("database \"default\"")
            && error.contains("milvus.max_listed_collections (65536)"),
        "names the database, the key and the bound: {error}"
    );
    assert!(!error.contains('\n'), "one line: {error}");
    assert_peak_within_budget("4,000,000 names in one database", &bin, idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_short_names_are_counted_before_they_are_decoded() {
    let fake = FakeMilvus::start(docs(&["default"])).await;
    let (bin, idle) = idle_binary(config(&fake.url(), "")).await;
    // 2,000,000 names of 8 bytes: 20 MB, under the byte bound, so only the count stops it.
    fake.state().update(|b| {
        b.synthetic_listing = Some(SyntheticListing {
            count: 2_000_000,
            name_len: 8,
        })
    });
    let error = collections_error(&format!("http://{}", bin.addr), "lists 2000000").await;
    assert!(
        error
            .contains("lists 2000000 collections, more than milvus.max_listed_collections (65536)"),
        "counted exactly, bound named: {error}"
    );
    assert_peak_within_budget("2,000,000 short names", &bin, idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_databases_of_big_listings_stay_within_128_mib() {
    let fake = FakeMilvus::start(docs(&["default", "kb", "logs"])).await;
    let (bin, idle) = idle_binary(config(&fake.url(), "")).await;
    fake.state().update(|b| {
        b.synthetic_listing = Some(SyntheticListing {
            count: 4_000_000,
            name_len: 12,
        })
    });
    let error = collections_error(&format!("http://{}", bin.addr), "max_listed_collections").await;
    assert!(
        error.contains("milvus.max_listed_collections (65536)"),
        "every database failed by its bound: {error}"
    );
    assert!(
        fake.state().calls("ShowCollections") >= 6,
        "all three databases were listed (both listings each)"
    );
    assert_peak_within_budget("3 databases x 4,000,000 names", &bin, idle);
}

fn collections(n: usize) -> Vec<FakeCollection> {
    (0..n)
        .map(|i| FakeCollection::loaded("default", &format!("c{i:05}"), 1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_exactly_at_the_bound_passes_and_one_more_fails() {
    let fake =
        FakeMilvus::start(FakeState::new().with(|b| b.collections = collections(1000))).await;
    // max_collections keeps the inventory pass small; the listing is what is bounded.
    let extra = "max_listed_collections = 1000\nmax_collections = 5\n";
    let exporter = Exporter::start(&config(&fake.url(), extra)).await;
    let health = exporter.get("/health").await.json();
    assert_eq!(
        health["checks"]["collections"]["success"], true,
        "1000 names under a bound of 1000: {}",
        health["checks"]["collections"]
    );
    exporter.stop().await;

    fake.state().update(|b| b.collections = collections(1001));
    let exporter = Exporter::start(&config(&fake.url(), extra)).await;
    let health = exporter.get("/health").await.json();
    let error = health["checks"]["collections"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("lists 1001 collections, more than milvus.max_listed_collections (1000)"),
        "{error}"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_databases_than_are_read_fail_the_check_and_name_the_key() {
    let mut names: Vec<String> = (0..1025).map(|i| format!("db{i}")).collect();
    names.push("default".into());
    let fake = FakeMilvus::start(FakeState::new().with(|b| b.databases = names)).await;
    let exporter = Exporter::start(&config(&fake.url(), "")).await;
    let health = exporter.get("/health").await.json();
    let error = health["checks"]["collections"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("1026 databases, more than the 1024 read")
            && error.contains("milvus.databases"),
        "{error}"
    );
    assert_eq!(fake.state().calls("ShowCollections"), 0, "nothing listed");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_targets_bound_is_its_own_and_named_so() {
    let fake = FakeMilvus::start(FakeState::new().with(|b| b.collections = collections(20))).await;
    let toml = format!(
        "{}\n[[targets]]\nname = \"small\"\naddress = \"{}\"\nmax_listed_collections = 10\n",
        config(&fake.url(), ""),
        fake.url()
    );
    let exporter = Exporter::start(&toml).await;
    let main = exporter.get("/health").await.json();
    assert_eq!(main["checks"]["collections"]["success"], true);
    let cache = exporter.state.caches.load().targets["small"].clone();
    let read = cache.read().await;
    let row = read
        .view
        .snapshot
        .checks()
        .into_iter()
        .find(|r| r.name == "collections")
        .expect("a collections row");
    let error = row.error.unwrap_or_default();
    assert!(
        !row.success && error.contains("max_listed_collections of target \"small\" (10)"),
        "{error}"
    );
    exporter.stop().await;
}
