//! The sharding example's files agree with each other, hermetically: README.md shows the scrape
//! job of prometheus/sharding.yml verbatim (the live test runs that file), and the compose
//! stack's exporter configuration defines exactly the targets its file_sd list names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use milvus_exporter::config::{Config, Overrides};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn readme_shows_the_sharding_job_that_the_live_test_runs() {
    let readme = read("README.md");
    let section = readme
        .split("## One exporter, many Milvus / sharding")
        .nth(1)
        .expect("README.md has the sharding section");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the sharding section has a yaml block");
    assert!(block.contains("action: hashmod"), "{block}");
    let file = read("prometheus/sharding.yml");
    assert!(
        file.contains(block),
        "README.md's sharding example is not in prometheus/sharding.yml verbatim:\n{block}"
    );
}

#[test]
fn the_compose_exporters_define_every_target_prometheus_lists() {
    let config = Config::load_from(
        Some(&repo("config/sharding.toml")),
        &[],
        &Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("config/sharding.toml does not load: {e}"));
    let defined: BTreeSet<String> = config.targets.iter().map(|t| t.name.clone()).collect();
    let listed: yaml_serde::Value =
        yaml_serde::from_str(&read("prometheus/targets/milvus.yml")).expect("targets YAML");
    let listed: BTreeSet<String> = listed
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["targets"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert!(!listed.is_empty());
    assert_eq!(defined, listed);
}
