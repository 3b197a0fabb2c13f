//! Views of a given size for the micro-benchmarks, made the way the exporter makes them: one
//! real refresh (`Caches::from_config` → `TargetCache::refresh`) of the tests' in-process fake
//! Milvus holding `n` collections in database `default` (one in ten released, the rest loaded
//! with rows). Going through the refresh rather than struct literals keeps the benches valid
//! while `Snapshot` grows fields, and gives the data a real refresh gives.
#![allow(dead_code)]

#[path = "../../tests/support/fake_milvus.rs"]
mod fake_milvus;

use std::sync::Arc;

use fake_milvus::{FakeCollection, FakeMilvus, FakeState};
use milvus_exporter::cache::{Caches, View};
use milvus_exporter::checks::collections::CollectionsFacts;
use milvus_exporter::config::{Config, Overrides};

pub fn collection_name(i: usize) -> String {
    format!("collection_{i:05}")
}

fn fake_collections(n: usize) -> Vec<FakeCollection> {
    (0..n)
        .map(|i| {
            if i % 10 == 9 {
                FakeCollection::released("default", &collection_name(i))
            } else {
                FakeCollection::loaded("default", &collection_name(i), (i as u64) * 7919)
            }
        })
        .collect()
}

/// `required` loaded collections spread over the range, as `readiness.required_collections`.
pub fn required(n: usize, required: usize) -> Vec<String> {
    (0..required)
        .map(|k| {
            let i = if required <= 1 {
                n / 2
            } else {
                k * (n - 1) / (required - 1)
            };
            let i = if i % 10 == 9 { i - 1 } else { i };
            format!("default.{}", collection_name(i))
        })
        .collect()
}

/// The configuration a bench exporter runs with, pointing at `address`.
pub fn config(address: &str, required_collections: &[String]) -> Config {
    let list: Vec<String> = required_collections
        .iter()
        .map(|c| format!("{c:?}"))
        .collect();
    let toml = format!(
        "[milvus]\naddress = \"{address}\"\ntimeout = \"60s\"\n\
         [readiness]\nmemory_percent_max = 100\ndisk_percent_max = 100\nrequired_collections = [{}]\n\
         [system]\ndisk_paths = [\"/\"]\ncpu_sample_interval = \"1s\"\n",
        list.join(", ")
    );
    let dir = std::env::temp_dir().join(format!("milvus-exporter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bench.toml");
    std::fs::write(&path, toml).expect("write bench config");
    let config = Config::load_from(Some(&path), &[], &Overrides::default()).expect("bench config");
    let _ = std::fs::remove_dir_all(&dir);
    config
}

/// One refreshed view of a fake Milvus with `n` collections, three of them required.
pub fn view(n: usize) -> (Arc<View>, Config) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let state = FakeState::new().with(|b| b.collections = fake_collections(n));
        let fake = FakeMilvus::start(state).await;
        let config = config(&fake.url(), &required(n, 3));
        let caches = Caches::from_config(&config).expect("caches");
        // Let the CPU sampler take its two samples so the host gauges are all there.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let view = caches.main.refresh().await.expect("a refresh");
        caches.stop();
        fake.stop().await;
        let rows = view
            .snapshot
            .facts::<CollectionsFacts>()
            .map_or(0, |c| c.collections.len());
        assert_eq!(rows, n, "the refresh saw every collection");
        assert!(
            view.verdict.ready,
            "bench view should be ready: {:?}",
            view.verdict.reasons()
        );
        (view, config)
    })
}
